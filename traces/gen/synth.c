// SPDX-License-Identifier: MIT
/*
 * synth.c - a small model of the kernel's memory manager that emits
 * mapcount-lab trace events (docs/traces.md, "The generator").
 *
 * The model keeps, per MM, its VMAs and for each VMA a page table: one
 * entry per virtual page, (folio, page in folio, level).  A PMD mapping is
 * 512 entries of level PMD.  Per file it keeps a page cache: the folio
 * layout (naturally aligned folios) and the folio cached at each.  What
 * the model does not keep, it asks the world of its self-check engine:
 * PageAnonExclusive, the references and pins of a folio, who still maps
 * it, and how fork() treated a maybe-pinned page.  The COW outcome is what
 * the --decide policy answers (engine_ask_cow()), so the trace follows the
 * decisions of the kernel that policy models.
 */
#include "synth.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PMD_ORDER    MCT_DEFAULT_PMD_ORDER
#define PMD_PAGES    (1u << PMD_ORDER)
#define VA_ALIGN     PMD_PAGES	      /* VMAs start PMD-aligned, with a gap */
#define PT_NONE	     UINT32_MAX	      /* not mapped */
#define PT_HOLE	     (UINT32_MAX - 1) /* not part of the VMA (munmap) */
#define QUERY_ONE_IN 16		      /* query a touched folio 1 in 16 */

struct spte {
	uint32_t folio;
	uint16_t idx;  /* page in the folio */
	uint8_t level; /* MCT_PTE or MCT_PMD */
	uint8_t pad;
};

struct svma {
	bool live, file, shared;
	uint8_t order; /* anon: mTHP order of faults */
	uint32_t fileno;
	uint64_t pgoff; /* file: page offset of the first page */
	uint64_t start; /* virtual page number */
	uint64_t npages;
	struct spte *pt;
};

struct smm {
	bool live;
	char name[16];
	struct svma *vmas; /* by handle */
	uint32_t nr_vmas, cap_vmas;
	uint64_t next_va;
};

struct sfolio {
	bool live;
	uint8_t type, order;
	char prefix[4];
	uint32_t mark;
};

struct sfile {
	bool live;
	uint8_t type;
	uint64_t npages;
	uint32_t *head;	 /* per page: first page of its folio */
	uint8_t *order;	 /* per first page */
	uint32_t *folio; /* per first page: the cached folio or PT_NONE */
};

struct synth {
	const struct synth_config *cfg;
	struct mct_writer *w;
	struct engine *e;
	struct world *wo; /* workloads with a bare world self-check */
	const struct world *world;
	struct mct_names names;
	struct synth_stats *st;
	uint64_t rng[4];  /* the workload's choices */
	uint64_t mrng[4]; /* the model's own (query sampling) */

	struct smm *mms;
	uint32_t nr_mms, cap_mms;
	struct sfolio *folios;
	uint32_t nr_folios, cap_folios;
	uint32_t *free_ids; /* folio handles to reuse (LIFO) */
	uint32_t nr_free_ids, cap_free_ids;
	struct sfile *files;
	uint32_t nr_files, cap_files;
	uint32_t *list; /* folios that may have become unused */
	uint32_t nr_list, cap_list;
	uint32_t epoch;
	void **scratch;
	uint32_t nr_scratch, cap_scratch;
	bool raw; /* mappings exist that the page tables do not hold */

	char fname[32], vname[16];
	char err[512];
	jmp_buf fail;
};

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("mapcount synth: out of memory\n", stderr);
		abort();
	}
	return p;
}

#define GROW(arr, cap, need)                                           \
	do {                                                           \
		if ((size_t)(need) > (size_t)(cap)) {                  \
			size_t c_ = (cap) ? (size_t)(cap)*2 : 16;      \
			while (c_ < (size_t)(need))                    \
				c_ *= 2;                               \
			(arr) = xrealloc((arr), c_ * sizeof(*(arr)));  \
			memset((arr) + (cap), 0,                       \
			       (c_ - (size_t)(cap)) * sizeof(*(arr))); \
			(cap) = (uint32_t)c_;                          \
		}                                                      \
	} while (0)

_Noreturn void synth_fail(struct synth *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(s->err, sizeof(s->err), fmt, ap);
	va_end(ap);
	longjmp(s->fail, 1);
}

/* ---- random numbers: splitmix64 seeds xoshiro256** ---- */

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static void rng_seed(uint64_t st[4], uint64_t seed)
{
	for (int i = 0; i < 4; i++)
		st[i] = splitmix64(&seed);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t st[4])
{
	uint64_t r = rotl(st[1] * 5, 7) * 9, t = st[1] << 17;

	st[2] ^= st[0];
	st[3] ^= st[1];
	st[1] ^= st[2];
	st[0] ^= st[3];
	st[2] ^= t;
	st[3] = rotl(st[3], 45);
	return r;
}

uint64_t synth_rand(struct synth *s)
{
	return rng_next(s->rng);
}

uint64_t synth_below(struct synth *s, uint64_t n)
{
	return n ? rng_next(s->rng) % n : 0;
}

bool synth_chance(struct synth *s, double p)
{
	return (double)(rng_next(s->rng) >> 11) * 0x1p-53 < p;
}

void *synth_scratch(struct synth *s, size_t size)
{
	void *p = xrealloc(NULL, size);

	memset(p, 0, size ? size : 1);
	GROW(s->scratch, s->cap_scratch, s->nr_scratch + 1);
	s->scratch[s->nr_scratch++] = p;
	return p;
}

void synth_sample(struct synth *s, uint64_t n, uint64_t k, uint32_t *out)
{
	uint32_t *a;

	if (k > n || n > UINT32_MAX)
		synth_fail(s, "workload bug: sample of %llu out of %llu",
			   (unsigned long long)k, (unsigned long long)n);
	if (!k)
		return;
	a = xrealloc(NULL, n * sizeof(*a));
	for (uint64_t i = 0; i < n; i++)
		a[i] = (uint32_t)i;
	for (uint64_t i = 0; i < k; i++) {
		uint64_t j = i + synth_below(s, n - i);
		uint32_t t = a[i];

		a[i] = a[j];
		a[j] = t;
		out[i] = a[i];
	}
	free(a);
}

void synth_shuffle(struct synth *s, uint32_t *a, uint32_t n)
{
	for (uint32_t i = n; i > 1; i--) {
		uint32_t j = (uint32_t)synth_below(s, i), t = a[i - 1];

		a[i - 1] = a[j];
		a[j] = t;
	}
}

/* ---- names ---- */

static const char *name_of(void *ctx, enum mct_space sp, uint32_t id)
{
	struct synth *s = ctx;

	switch (sp) {
	case MCT_SPACE_MM:
		return id < s->nr_mms ? s->mms[id].name : NULL;
	case MCT_SPACE_FOLIO:
		if (id >= s->nr_folios)
			return NULL;
		snprintf(s->fname, sizeof(s->fname), "%s%u",
			 s->folios[id].prefix, id);
		return s->fname;
	case MCT_SPACE_VMA:
		snprintf(s->vname, sizeof(s->vname), "v%u", id);
		return s->vname;
	default:
		return NULL;
	}
}

/* ---- emitting ---- */

static void noop(void *ctx, const struct world_prim *p)
{
}

static struct mct_event ev_new(enum mct_kind kind)
{
	return (struct mct_event){ .kind = (uint8_t)kind,
				   .mm = MCT_NO_ID,
				   .mm2 = MCT_NO_ID,
				   .folio = MCT_NO_ID,
				   .vma = MCT_NO_ID };
}

static void describe(struct synth *s, const struct mct_event *ev, char *buf,
		     size_t len)
{
	int n = snprintf(buf, len, "%s", mct_kind_name(ev->kind));

	if (ev->mm != MCT_NO_ID && ev->mm < s->nr_mms && n >= 0 &&
	    (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " %s",
			      s->mms[ev->mm].name);
	if (ev->folio != MCT_NO_ID && ev->folio < s->nr_folios && n >= 0 &&
	    (size_t)n < len)
		n += snprintf(buf + n, len - (size_t)n, " %s%u",
			      s->folios[ev->folio].prefix, ev->folio);
	if ((ev->kind == MCT_MAP || ev->kind == MCT_UNMAP) && n >= 0 &&
	    (size_t)n < len)
		snprintf(buf + n, len - (size_t)n, " %llu+%llu %s vma=v%u",
			 (unsigned long long)ev->first,
			 (unsigned long long)ev->nr, mct_level_name(ev->level),
			 ev->vma);
}

/* Apply the event to the self-check engine, then write it. */
static void emit(struct synth *s, const struct mct_event *ev)
{
	char err[256], what[160];
	int ret;

	if (s->e)
		ret = engine_event(s->e, ev, err, sizeof(err));
	else
		ret = world_apply(s->wo, ev, noop, NULL, err, sizeof(err));
	if (ret) {
		describe(s, ev, what, sizeof(what));
		synth_fail(s, "bug in the model: event %llu (%s): %s",
			   (unsigned long long)s->st->events, what, err);
	}
	if (mct_write_event(s->w, ev, &s->names))
		synth_fail(s, "write error: %s", strerror(errno));
	s->st->events++;
	s->st->kinds[ev->kind]++;
}

static void emit_rmap(struct synth *s, enum mct_kind kind, uint32_t mm,
		      uint32_t vma, uint32_t folio, uint64_t first, uint64_t nr,
		      uint8_t level, bool excl)
{
	struct mct_event ev = ev_new(kind);

	ev.mm = mm;
	ev.vma = vma;
	ev.folio = folio;
	ev.level = level;
	if (level == MCT_PMD) {
		ev.flags |= MCT_F_NO_RANGE;
	} else {
		ev.first = first;
		ev.nr = nr;
	}
	if (excl)
		ev.flags |= MCT_F_EXCL;
	emit(s, &ev);
}

/* ---- folios ---- */

static struct sfolio *folio_get(struct synth *s, uint32_t f)
{
	if (f >= s->nr_folios || !s->folios[f].live)
		synth_fail(s, "workload bug: folio %u is not allocated", f);
	return &s->folios[f];
}

static uint32_t folio_new(struct synth *s, uint8_t type, uint32_t order,
			  const char *prefix)
{
	struct mct_event ev = ev_new(MCT_ALLOC);
	uint32_t f;

	if (s->nr_free_ids) {
		f = s->free_ids[--s->nr_free_ids];
	} else {
		GROW(s->folios, s->cap_folios, s->nr_folios + 1);
		f = s->nr_folios++;
	}
	s->folios[f] = (struct sfolio){ .live = true,
					.type = type,
					.order = (uint8_t)order,
					.mark = s->folios[f].mark };
	snprintf(s->folios[f].prefix, sizeof(s->folios[f].prefix), "%s",
		 prefix);
	ev.folio = f;
	ev.order = order;
	ev.type = type;
	ev.flags = MCT_F_TYPE;
	emit(s, &ev);
	s->st->folios[order][type]++;
	return f;
}

static void folio_free(struct synth *s, uint32_t f)
{
	struct mct_event ev = ev_new(MCT_FREE);

	ev.folio = f;
	emit(s, &ev);
	s->folios[f].live = false;
	GROW(s->free_ids, s->cap_free_ids, s->nr_free_ids + 1);
	s->free_ids[s->nr_free_ids++] = f;
}

/* Free an anon folio once nothing maps or references it. */
static void maybe_free(struct synth *s, uint32_t f)
{
	const struct world_folio *wf;

	if (f >= s->nr_folios || !s->folios[f].live ||
	    s->folios[f].type != MCT_ANON)
		return;
	wf = world_folio(s->world, f);
	if (!wf->mappings && !wf->refs && !wf->pins)
		folio_free(s, f);
}

/* Remember f (once per epoch) for maybe_free_list(). */
static void list_add(struct synth *s, uint32_t f)
{
	if (s->folios[f].mark == s->epoch)
		return;
	s->folios[f].mark = s->epoch;
	GROW(s->list, s->cap_list, s->nr_list + 1);
	s->list[s->nr_list++] = f;
}

static void list_begin(struct synth *s)
{
	s->epoch++;
	s->nr_list = 0;
}

static void maybe_free_list(struct synth *s)
{
	for (uint32_t i = 0; i < s->nr_list; i++)
		maybe_free(s, s->list[i]);
	s->nr_list = 0;
}

static void maybe_query(struct synth *s, uint32_t f)
{
	if (rng_next(s->mrng) % QUERY_ONE_IN == 0)
		synth_query(s, f);
}

void synth_query(struct synth *s, uint32_t folio)
{
	struct mct_event ev = ev_new(MCT_QUERY);

	folio_get(s, folio);
	ev.folio = folio;
	emit(s, &ev);
}

/* ---- MMs and VMAs ---- */

static struct smm *mm_get(struct synth *s, uint32_t mm)
{
	if (mm >= s->nr_mms || !s->mms[mm].live)
		synth_fail(s, "workload bug: mm %u is not live", mm);
	return &s->mms[mm];
}

static struct svma *vma_get(struct synth *s, uint32_t mm, uint32_t vma)
{
	struct smm *m = mm_get(s, mm);

	if (vma >= m->nr_vmas || !m->vmas[vma].live)
		synth_fail(s, "workload bug: %s has no vma v%u", m->name, vma);
	return &m->vmas[vma];
}

bool synth_mm_live(const struct synth *s, uint32_t mm)
{
	return mm < s->nr_mms && s->mms[mm].live;
}

static uint32_t mm_alloc(struct synth *s, char prefix)
{
	uint32_t mm;

	GROW(s->mms, s->cap_mms, s->nr_mms + 1);
	mm = s->nr_mms++;
	s->mms[mm] = (struct smm){ .live = true, .next_va = VA_ALIGN };
	snprintf(s->mms[mm].name, sizeof(s->mms[mm].name), "%c%u", prefix, mm);
	s->st->mms++;
	return mm;
}

uint32_t synth_mm_new(struct synth *s, char prefix, const char *comm)
{
	uint32_t mm = mm_alloc(s, prefix);
	struct mct_event ev = ev_new(MCT_MM);

	ev.mm = mm;
	ev.comm = comm;
	emit(s, &ev);
	return mm;
}

static uint32_t vma_add(struct synth *s, uint32_t mm, uint64_t npages,
			uint64_t align_off)
{
	struct smm *m = mm_get(s, mm);
	struct svma *v;
	uint32_t h;

	if (!npages)
		synth_fail(s, "workload bug: empty vma");
	GROW(m->vmas, m->cap_vmas, m->nr_vmas + 1);
	h = m->nr_vmas++;
	v = &m->vmas[h];
	memset(v, 0, sizeof(*v));
	v->live = true;
	v->start = (m->next_va + VA_ALIGN - 1) / VA_ALIGN * VA_ALIGN +
		   align_off % VA_ALIGN;
	v->npages = npages;
	m->next_va = v->start + npages + VA_ALIGN; /* a gap: no merging */
	v->pt = xrealloc(NULL, npages * sizeof(*v->pt));
	memset(v->pt, 0xff, npages * sizeof(*v->pt)); /* PT_NONE */
	return h;
}

uint32_t synth_vma_anon(struct synth *s, uint32_t mm, uint64_t npages,
			uint32_t order)
{
	uint32_t h;

	if (order > PMD_ORDER || order == 1)
		synth_fail(s, "workload bug: anon order %u", order);
	h = vma_add(s, mm, npages, 0);
	s->mms[mm].vmas[h].order = (uint8_t)order;
	return h;
}

uint32_t synth_vma_file(struct synth *s, uint32_t mm, uint32_t file,
			uint64_t pgoff, uint64_t npages, bool shared)
{
	struct svma *v;
	uint32_t h;

	if (file >= s->nr_files || !s->files[file].live ||
	    pgoff + npages > s->files[file].npages)
		synth_fail(s, "workload bug: bad file mapping");
	h = vma_add(s, mm, npages, 0);
	v = &s->mms[mm].vmas[h];
	v->file = true;
	v->shared = shared;
	v->fileno = file;
	v->pgoff = pgoff;
	return h;
}

uint64_t synth_vma_pages(const struct synth *s, uint32_t mm, uint32_t vma)
{
	return vma_get((struct synth *)s, mm, vma)->npages;
}

bool synth_vma_has(const struct synth *s, uint32_t mm, uint32_t vma,
		   uint64_t off)
{
	const struct svma *v = vma_get((struct synth *)s, mm, vma);

	return off < v->npages && v->pt[off].folio != PT_HOLE;
}

uint32_t synth_folio_at(const struct synth *s, uint32_t mm, uint32_t vma,
			uint64_t off)
{
	const struct svma *v = vma_get((struct synth *)s, mm, vma);
	uint32_t f = off < v->npages ? v->pt[off].folio : PT_NONE;

	return f == PT_HOLE || f == PT_NONE ? SYNTH_NONE : f;
}

static struct spte *pte_get(struct synth *s, struct svma *v, uint64_t off)
{
	if (off >= v->npages || v->pt[off].folio == PT_HOLE)
		synth_fail(s, "workload bug: page %llu is outside the vma",
			   (unsigned long long)off);
	return &v->pt[off];
}

/* ---- files ---- */

uint32_t synth_file_new(struct synth *s, enum mct_ftype type, uint64_t npages,
			uint32_t max_order, bool mixed)
{
	struct sfile *fl;
	uint32_t h;

	if (type != MCT_FILE && type != MCT_SHMEM)
		synth_fail(s, "workload bug: file type");
	GROW(s->files, s->cap_files, s->nr_files + 1);
	h = s->nr_files++;
	fl = &s->files[h];
	fl->live = true;
	fl->type = (uint8_t)type;
	fl->npages = npages;
	fl->head = xrealloc(NULL, npages * sizeof(*fl->head));
	fl->order = xrealloc(NULL, npages);
	fl->folio = xrealloc(NULL, npages * sizeof(*fl->folio));
	for (uint64_t p = 0; p < npages;) {
		uint32_t o = mixed ? (uint32_t)synth_below(s, max_order + 1)
				   : max_order;

		/* naturally aligned, inside the file */
		while (o && (p % (1ull << o) || p + (1ull << o) > npages))
			o--;
		fl->order[p] = (uint8_t)o;
		fl->folio[p] = PT_NONE;
		for (uint64_t i = 0; i < 1ull << o; i++)
			fl->head[p + i] = (uint32_t)p;
		p += 1ull << o;
	}
	return h;
}

static struct sfile *file_get(struct synth *s, uint32_t file)
{
	if (file >= s->nr_files || !s->files[file].live)
		synth_fail(s, "workload bug: file %u", file);
	return &s->files[file];
}

void synth_query_file(struct synth *s, uint32_t file)
{
	struct sfile *fl = file_get(s, file);

	for (uint64_t p = 0; p < fl->npages; p += 1ull << fl->order[p])
		if (fl->folio[p] != PT_NONE)
			synth_query(s, fl->folio[p]);
}

void synth_file_drop(struct synth *s, uint32_t file)
{
	struct sfile *fl = file_get(s, file);

	for (uint64_t p = 0; p < fl->npages; p += 1ull << fl->order[p]) {
		uint32_t f = fl->folio[p];

		if (f == PT_NONE)
			continue;
		if (world_folio(s->world, f)->mappings)
			synth_fail(s,
				   "workload bug: file dropped while %s%u "
				   "is mapped",
				   s->folios[f].prefix, f);
		folio_free(s, f);
		fl->folio[p] = PT_NONE;
	}
	fl->live = false;
	free(fl->head);
	free(fl->order);
	free(fl->folio);
	fl->head = fl->folio = NULL;
	fl->order = NULL;
}

/* ---- faults ---- */

static void set_ptes(struct svma *v, uint64_t off, uint32_t folio, uint64_t idx,
		     uint64_t n, uint8_t level)
{
	for (uint64_t k = 0; k < n; k++)
		v->pt[off + k] = (struct spte){ .folio = folio,
						.idx = (uint16_t)(idx + k),
						.level = level };
}

/*
 * do_anonymous_page(): a folio of the VMA's mTHP order when its naturally
 * aligned block lies inside the VMA and is wholly unmapped, else order 0;
 * mapped whole, PageAnonExclusive.  An order-9 folio is PMD-mapped.
 */
static void anon_fault(struct synth *s, uint32_t mm, uint32_t vh, uint64_t off)
{
	struct svma *v = &s->mms[mm].vmas[vh];
	uint32_t order = v->order, f;
	uint64_t n = 1ull << order, va = v->start + off, first = off;
	uint8_t level;

	if (order) {
		uint64_t b = va & ~(n - 1);

		if (b < v->start || b + n > v->start + v->npages) {
			order = 0;
		} else {
			first = b - v->start;
			for (uint64_t k = 0; k < n; k++)
				if (v->pt[first + k].folio != PT_NONE) {
					order = 0;
					break;
				}
		}
	}
	if (!order) {
		n = 1;
		first = off;
	}
	level = order == PMD_ORDER ? MCT_PMD : MCT_PTE;
	f = folio_new(s, MCT_ANON, order, "f");
	v = &s->mms[mm].vmas[vh];
	emit_rmap(s, MCT_MAP, mm, vh, f, 0, n, level, true);
	set_ptes(v, first, f, 0, n, level);
	maybe_query(s, f);
}

/* A private anon copy of a page replaces whatever maps page off. */
static uint32_t map_copy(struct synth *s, uint32_t mm, uint32_t vh,
			 uint64_t off)
{
	uint32_t x = folio_new(s, MCT_ANON, 0, "x");

	emit_rmap(s, MCT_MAP, mm, vh, x, 0, 1, MCT_PTE, true);
	set_ptes(&s->mms[mm].vmas[vh], off, x, 0, 1, MCT_PTE);
	return x;
}

/*
 * File and shmem faults: the page cache folio (allocated on first use) is
 * mapped over all its pages that lie inside the VMA, in one map, when
 * they are all unmapped there; else only the faulting page.  A write to a
 * private mapping (do_cow_fault()) maps a private copy instead.
 */
static void file_fault(struct synth *s, uint32_t mm, uint32_t vh, uint64_t off,
		       bool write)
{
	struct svma *v = &s->mms[mm].vmas[vh];
	struct sfile *fl = file_get(s, v->fileno);
	uint64_t p = v->pgoff + off, h = fl->head[p], n, lo, hi;
	uint32_t f = fl->folio[h];
	bool all = true;

	n = 1ull << fl->order[h];
	if (f == PT_NONE) {
		f = folio_new(s, fl->type, fl->order[h], "pc");
		fl = &s->files[v->fileno];
		fl->folio[h] = f;
	}
	if (write && !v->shared) {
		map_copy(s, mm, vh, off);
		return;
	}
	lo = h > v->pgoff ? h : v->pgoff;
	hi = h + n < v->pgoff + v->npages ? h + n : v->pgoff + v->npages;
	for (uint64_t q = lo; q < hi; q++)
		if (v->pt[q - v->pgoff].folio != PT_NONE)
			all = false;
	if (!all) {
		lo = p;
		hi = p + 1;
	}
	emit_rmap(s, MCT_MAP, mm, vh, f, lo - h, hi - lo, MCT_PTE, false);
	set_ptes(v, lo - v->pgoff, f, lo - h, hi - lo, MCT_PTE);
	maybe_query(s, f);
}

/* __split_huge_pmd() of the PMD mapping pages [head, head + 512). */
static void split_pmd(struct synth *s, uint32_t mm, uint32_t vh, uint64_t head)
{
	struct svma *v = &s->mms[mm].vmas[vh];
	uint32_t f = v->pt[head].folio;

	emit_rmap(s, MCT_MAP, mm, vh, f, 0, PMD_PAGES, MCT_PTE, false);
	emit_rmap(s, MCT_UNMAP, mm, vh, f, 0, PMD_PAGES, MCT_PMD, false);
	for (uint64_t k = 0; k < PMD_PAGES; k++)
		v->pt[head + k].level = MCT_PTE;
}

/*
 * A write (or, unshare, a R/O longterm pin) hits a present page.  A
 * PageAnonExclusive page is writable already; a page of a shared file
 * mapping too; otherwise do_wp_page() asks the policy, and a copy
 * replaces the page.
 */
static void write_present(struct synth *s, uint32_t mm, uint32_t vh,
			  uint64_t off, bool unshare)
{
	struct svma *v = &s->mms[mm].vmas[vh];
	struct spte e = v->pt[off];
	struct mct_event ev = ev_new(MCT_COW);
	uint8_t type = s->folios[e.folio].type;
	int reuse;

	if (type == MCT_ANON) {
		if (world_page_exclusive(s->world, e.folio, e.idx, e.level))
			return;
	} else if (v->shared || unshare) {
		return;
	}
	if (!s->e)
		synth_fail(s, "workload bug: a COW without a deciding engine");
	reuse = engine_ask_cow(s->e, 0, mm, e.folio, e.idx);
	if (reuse < 0)
		synth_fail(s,
			   "bug in the model: %s does not map page %u of "
			   "%s%u",
			   s->mms[mm].name, e.idx, s->folios[e.folio].prefix,
			   e.folio);
	ev.mm = mm;
	ev.folio = e.folio;
	ev.first = e.idx;
	ev.expect = reuse ? MCT_EXPECT_REUSE : MCT_EXPECT_COPY;
	emit(s, &ev);
	if (reuse) {
		s->st->cow_reuse++;
		maybe_query(s, e.folio);
		return;
	}
	s->st->cow_copy++;
	if (e.level == MCT_PMD)
		split_pmd(s, mm, vh, off - e.idx);
	emit_rmap(s, MCT_UNMAP, mm, vh, e.folio, e.idx, 1, MCT_PTE, false);
	map_copy(s, mm, vh, off);
	maybe_query(s, e.folio);
	maybe_free(s, e.folio);
}

void synth_touch(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		 bool write)
{
	struct svma *v = vma_get(s, mm, vma);
	struct spte *e = pte_get(s, v, off);

	if (e->folio == PT_NONE) {
		if (v->file)
			file_fault(s, mm, vma, off, write);
		else
			anon_fault(s, mm, vma, off);
	} else if (write) {
		write_present(s, mm, vma, off, false);
	}
}

/* ---- zap and mremap ---- */

/* Length of the run of PTEs from off mapping consecutive pages of one
 * folio, within [off, end). */
static uint64_t pte_run(const struct svma *v, uint64_t off, uint64_t end)
{
	const struct spte *e = &v->pt[off];
	uint64_t j = off + 1;

	while (j < end && v->pt[j].folio == e->folio &&
	       v->pt[j].level == MCT_PTE && v->pt[j].idx == e->idx + (j - off))
		j++;
	return j - off;
}

void synth_zap(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
	       uint64_t n, bool munmap)
{
	struct svma *v = vma_get(s, mm, vma);
	uint64_t end = off + n, i = off;

	if (end > v->npages || end < off)
		synth_fail(s, "workload bug: zap beyond the vma");
	list_begin(s);
	while (i < end) {
		struct spte e = v->pt[i];
		uint64_t r;

		if (e.folio == PT_NONE || e.folio == PT_HOLE) {
			i++;
			continue;
		}
		list_add(s, e.folio);
		if (e.level == MCT_PMD) {
			uint64_t head = i - e.idx;

			if (head >= off && head + PMD_PAGES <= end) {
				emit_rmap(s, MCT_UNMAP, mm, vma, e.folio, 0,
					  PMD_PAGES, MCT_PMD, false);
				memset(v->pt + head, 0xff,
				       PMD_PAGES * sizeof(*v->pt));
				i = head + PMD_PAGES;
				continue;
			}
			split_pmd(s, mm, vma, head);
		}
		r = pte_run(v, i, end);
		emit_rmap(s, MCT_UNMAP, mm, vma, e.folio, e.idx, r, MCT_PTE,
			  false);
		memset(v->pt + i, 0xff, r * sizeof(*v->pt));
		i += r;
	}
	if (munmap)
		for (i = off; i < end; i++)
			v->pt[i].folio = PT_HOLE;
	maybe_free_list(s);
}

uint32_t synth_mremap(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		      uint64_t n)
{
	struct svma *src = vma_get(s, mm, vma), *dst;
	uint64_t end = off + n, i = off;
	uint32_t nv;

	if (!n || end > src->npages || end < off)
		synth_fail(s, "workload bug: mremap beyond the vma");
	for (i = off; i < end; i++)
		if (src->pt[i].folio == PT_HOLE)
			synth_fail(s, "workload bug: mremap across a hole");
	/* Same offset in a PMD: whole PMDs move as PMDs (move_huge_pmd()). */
	nv = vma_add(s, mm, n, src->start + off);
	src = &s->mms[mm].vmas[vma];
	dst = &s->mms[mm].vmas[nv];
	dst->file = src->file;
	dst->shared = src->shared;
	dst->order = src->order;
	dst->fileno = src->fileno;
	dst->pgoff = src->pgoff + off;
	/* Map at the new place first, then unmap the old: the folio stays
	 * mapped throughout, as move_ptes() never touches the rmap. */
	for (i = off; i < end;) {
		struct spte e = src->pt[i];
		uint64_t r;

		if (e.folio == PT_NONE) {
			i++;
			continue;
		}
		if (e.level == MCT_PMD) {
			uint64_t head = i - e.idx;

			if (head >= off && head + PMD_PAGES <= end) {
				emit_rmap(s, MCT_MAP, mm, nv, e.folio, 0,
					  PMD_PAGES, MCT_PMD, false);
				emit_rmap(s, MCT_UNMAP, mm, vma, e.folio, 0,
					  PMD_PAGES, MCT_PMD, false);
				memcpy(dst->pt + (head - off), src->pt + head,
				       PMD_PAGES * sizeof(*src->pt));
				i = head + PMD_PAGES;
				continue;
			}
			split_pmd(s, mm, vma, head);
			e = src->pt[i];
		}
		r = pte_run(src, i, end);
		emit_rmap(s, MCT_MAP, mm, nv, e.folio, e.idx, r, MCT_PTE,
			  false);
		emit_rmap(s, MCT_UNMAP, mm, vma, e.folio, e.idx, r, MCT_PTE,
			  false);
		memcpy(dst->pt + (i - off), src->pt + i, r * sizeof(*src->pt));
		i += r;
	}
	for (i = off; i < end; i++)
		src->pt[i].folio = PT_HOLE;
	return nv;
}

/* ---- fork and exit ---- */

/* Could fork() have refused to share a page of this folio?  A superset of
 * folio_maybe_dma_pinned(); the world has the final word. */
static bool maybe_pinned(const struct world_folio *wf)
{
	return wf->pins || wf->refs || wf->mappings >= 512;
}

uint32_t synth_fork(struct synth *s, uint32_t parent)
{
	struct mct_event ev = ev_new(MCT_FORK);
	uint64_t copied = world_summary(s->world)->forks_copied_pages;
	uint64_t copies = 0;
	struct smm *p, *c;
	uint32_t child;

	mm_get(s, parent);
	child = mm_alloc(s, 'c');
	ev.mm = parent;
	ev.mm2 = child;
	emit(s, &ev);
	copied = world_summary(s->world)->forks_copied_pages - copied;
	p = &s->mms[parent];
	c = &s->mms[child];

	/* copy_huge_pmd() -EAGAIN: the world split a maybe-pinned exclusive
	 * PMD in the parent. */
	for (uint32_t h = 0; h < p->nr_vmas; h++) {
		struct svma *v = &p->vmas[h];

		for (uint64_t i = 0; v->live && i < v->npages; i++) {
			struct spte *e = &v->pt[i];

			if (e->folio >= PT_HOLE || e->level != MCT_PMD ||
			    e->idx || !world_folio(s->world, e->folio)->pins)
				continue;
			if (world_page_level(s->world, parent, e->folio, 0) ==
			    1 + MCT_PTE)
				for (uint64_t k = 0; k < PMD_PAGES; k++)
					v->pt[i + k].level = MCT_PTE;
		}
	}

	/* dup_mmap(): the child's VMAs and page tables are the parent's. */
	c->nr_vmas = c->cap_vmas = p->nr_vmas;
	c->vmas = xrealloc(NULL, p->nr_vmas * sizeof(*c->vmas));
	c->next_va = p->next_va;
	for (uint32_t h = 0; h < p->nr_vmas; h++) {
		c->vmas[h] = p->vmas[h];
		c->vmas[h].pt = NULL;
		if (!p->vmas[h].live)
			continue;
		c->vmas[h].pt = xrealloc(NULL, p->vmas[h].npages *
						       sizeof(*c->vmas->pt));
		memcpy(c->vmas[h].pt, p->vmas[h].pt,
		       p->vmas[h].npages * sizeof(*c->vmas->pt));
	}

	/* Pages fork() did not share (folio_try_dup_anon_rmap_*() -EBUSY)
	 * are private copies in the child. */
	for (uint32_t h = 0; h < s->mms[child].nr_vmas; h++) {
		for (uint64_t i = 0; i < s->mms[child].vmas[h].npages; i++) {
			struct svma *v = &s->mms[child].vmas[h];
			struct spte e;

			if (!v->live)
				break;
			e = v->pt[i];
			if (e.folio >= PT_HOLE ||
			    s->folios[e.folio].type != MCT_ANON ||
			    !maybe_pinned(world_folio(s->world, e.folio)))
				continue;
			if (!world_page_level(s->world, child, e.folio,
					      e.idx)) {
				map_copy(s, child, h, i);
				copies++;
			}
		}
	}
	if (copies != copied)
		synth_fail(s,
			   "bug in the model: fork into %s copied %llu "
			   "pages, the world %llu",
			   s->mms[child].name, (unsigned long long)copies,
			   (unsigned long long)copied);
	return child;
}

void synth_exit(struct synth *s, uint32_t mm)
{
	struct mct_event ev = ev_new(MCT_EXIT);
	struct smm *m = mm_get(s, mm);

	list_begin(s);
	for (uint32_t h = 0; h < m->nr_vmas; h++) {
		struct svma *v = &m->vmas[h];

		for (uint64_t i = 0; v->live && i < v->npages; i++)
			if (v->pt[i].folio < PT_HOLE)
				list_add(s, v->pt[i].folio);
	}
	ev.mm = mm;
	emit(s, &ev);
	m = &s->mms[mm];
	for (uint32_t h = 0; h < m->nr_vmas; h++)
		free(m->vmas[h].pt);
	free(m->vmas);
	m->vmas = NULL;
	m->nr_vmas = m->cap_vmas = 0;
	m->live = false;
	maybe_free_list(s);
}

/* ---- GUP ---- */

static struct spte *present(struct synth *s, uint32_t mm, uint32_t vma,
			    uint64_t off, bool write)
{
	struct svma *v = vma_get(s, mm, vma);

	if (pte_get(s, v, off)->folio == PT_NONE)
		synth_touch(s, mm, vma, off, write);
	return &s->mms[mm].vmas[vma].pt[off];
}

static void emit_folio_ev(struct synth *s, enum mct_kind kind, uint32_t f,
			  int64_t delta)
{
	struct mct_event ev = ev_new(kind);

	ev.folio = f;
	ev.delta = delta;
	emit(s, &ev);
}

uint32_t synth_pin(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		   bool write)
{
	uint32_t f;

	present(s, mm, vma, off, write);
	/* FOLL_WRITE: a write fault; R/O FOLL_LONGTERM: an anonymous page
	 * that is not exclusive is unshared first */
	if (!s->mms[mm].vmas[vma].file || write)
		write_present(s, mm, vma, off, !write);
	f = s->mms[mm].vmas[vma].pt[off].folio;
	emit_folio_ev(s, MCT_PIN, f, 0);
	return f;
}

void synth_unpin(struct synth *s, uint32_t folio)
{
	folio_get(s, folio);
	emit_folio_ev(s, MCT_UNPIN, folio, 0);
	maybe_free(s, folio);
}

uint32_t synth_get(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off)
{
	struct spte *e = present(s, mm, vma, off, false);
	uint32_t f = e->folio;

	emit_folio_ev(s, MCT_REF, f, 1);
	return f;
}

void synth_put(struct synth *s, uint32_t folio)
{
	folio_get(s, folio);
	emit_folio_ev(s, MCT_REF, folio, -1);
	maybe_free(s, folio);
}

/* ---- raw events ---- */

uint32_t synth_raw_alloc(struct synth *s, enum mct_ftype type, uint32_t order,
			 const char *prefix)
{
	s->raw = true;
	return folio_new(s, (uint8_t)type, order, prefix);
}

void synth_raw_map(struct synth *s, uint32_t mm, uint32_t folio, uint64_t first,
		   uint64_t nr, uint32_t vma)
{
	s->raw = true;
	emit_rmap(s, MCT_MAP, mm, vma, folio, first, nr, MCT_PTE, false);
}

void synth_raw_free(struct synth *s, uint32_t folio)
{
	folio_get(s, folio);
	folio_free(s, folio);
}

/* ---- phases and the paranoid check ---- */

static void count_pages(void *ctx, uint32_t folio, uint64_t first, uint64_t nr,
			int level)
{
	*(uint64_t *)ctx += nr;
}

/* The page tables and the folios are exactly the world's. */
static void check_world(struct synth *s)
{
	const struct world *w = s->world;

	for (uint32_t f = 0; f < s->nr_folios; f++) {
		const struct world_folio *wf = world_folio(w, f);

		if (!wf || wf->live != s->folios[f].live ||
		    (wf->live && (wf->order != s->folios[f].order ||
				  wf->type != s->folios[f].type)))
			synth_fail(s,
				   "bug in the model: folio %s%u differs "
				   "from the world's",
				   s->folios[f].prefix, f);
	}
	for (uint32_t mm = 0; mm < s->nr_mms; mm++) {
		const struct smm *m = &s->mms[mm];
		uint64_t mine = 0, theirs = 0;

		if (world_mm(w, mm)->live != m->live)
			synth_fail(s,
				   "bug in the model: %s is%s live in the "
				   "world",
				   m->name, m->live ? " not" : "");
		if (!m->live)
			continue;
		for (uint32_t h = 0; h < m->nr_vmas; h++) {
			const struct svma *v = &m->vmas[h];

			for (uint64_t i = 0; v->live && i < v->npages; i++) {
				struct spte e = v->pt[i];

				if (e.folio >= PT_HOLE)
					continue;
				mine++;
				if (!world_mapped(w, mm, e.folio, h, e.level,
						  e.idx))
					synth_fail(s,
						   "bug in the model: %s v%u "
						   "page %llu: the world does "
						   "not map page %u of %s%u "
						   "(%s) there",
						   m->name, h,
						   (unsigned long long)i, e.idx,
						   s->folios[e.folio].prefix,
						   e.folio,
						   mct_level_name(e.level));
			}
		}
		world_for_each_mapping(w, mm, count_pages, &theirs);
		if (mine != theirs)
			synth_fail(s,
				   "bug in the model: %s maps %llu pages, "
				   "the world %llu",
				   m->name, (unsigned long long)mine,
				   (unsigned long long)theirs);
	}
}

void synth_phase(struct synth *s)
{
	for (uint32_t mm = 0; mm < s->nr_mms; mm++) {
		struct mct_event ev = ev_new(MCT_STAT);

		if (!s->mms[mm].live)
			continue;
		ev.mm = mm;
		emit(s, &ev);
	}
	if (s->cfg->paranoid && !s->raw)
		check_world(s);
}

/* Everything exits, every file is dropped, nothing may remain. */
static void finish(struct synth *s)
{
	for (uint32_t mm = 0; mm < s->nr_mms; mm++)
		if (s->mms[mm].live)
			synth_exit(s, mm);
	for (uint32_t f = 0; f < s->nr_files; f++)
		if (s->files[f].live)
			synth_file_drop(s, f);
	if (s->cfg->paranoid && !s->raw)
		check_world(s);
	for (uint32_t f = 0; f < s->nr_folios; f++)
		if (s->folios[f].live)
			synth_fail(s,
				   "workload bug: %s%u is still allocated "
				   "at the end",
				   s->folios[f].prefix, f);
}

static void synth_free(struct synth *s)
{
	for (uint32_t mm = 0; mm < s->nr_mms; mm++) {
		for (uint32_t h = 0; h < s->mms[mm].nr_vmas; h++)
			free(s->mms[mm].vmas[h].pt);
		free(s->mms[mm].vmas);
	}
	for (uint32_t f = 0; f < s->nr_files; f++) {
		free(s->files[f].head);
		free(s->files[f].order);
		free(s->files[f].folio);
	}
	for (uint32_t i = 0; i < s->nr_scratch; i++)
		free(s->scratch[i]);
	free(s->scratch);
	free(s->mms);
	free(s->folios);
	free(s->free_ids);
	free(s->files);
	free(s->list);
	engine_free(s->e);
	world_free(s->wo);
	free(s);
}

int synth_generate(const struct synth_config *c, struct mct_writer *w,
		   struct synth_stats *st, char *err, size_t errlen)
{
	const struct mc_policy *decide =
		c->decide ? c->decide : mc_policy_find(SYNTH_DEFAULT_DECIDE);
	struct mct_header h = { .version = MCT_VERSION,
				.has = MCT_H_PAGE_SIZE | MCT_H_PMD_ORDER |
				       MCT_H_PUD_ORDER,
				.page_size = MCT_DEFAULT_PAGE_SIZE,
				.pmd_order = MCT_DEFAULT_PMD_ORDER,
				.pud_order = MCT_DEFAULT_PUD_ORDER,
				.source = MCT_SOURCE_SYNTHETIC,
				.name = (char *)c->wl->name,
				.arch = (char *)"x86_64" };
	struct engine_opts eo = { .arch = 64,
				  .policies = &decide,
				  .nr_policies = 1,
				  .no_timing = true };
	struct synth *s = calloc(1, sizeof(*s));
	volatile int ret = -1;

	memset(st, 0, sizeof(*st));
	if (!s || !decide) {
		snprintf(err, errlen, "%s",
			 s ? "no decide policy" : "no memory");
		free(s);
		return -1;
	}
	s->cfg = c;
	s->w = w;
	s->st = st;
	s->names = (struct mct_names){ name_of, s };
	rng_seed(s->rng, c->seed);
	rng_seed(s->mrng, c->seed ^ 0x6D6170636F756E74ull);
	if (c->wl->world_check) {
		s->wo = world_new(&h);
		s->world = s->wo;
	} else {
		s->e = engine_new(&h, &eo, err, errlen);
		if (!s->e) {
			free(s);
			return -1;
		}
		s->world = engine_world(s->e);
	}
	if (!s->world) {
		snprintf(err, errlen, "no memory");
	} else if (setjmp(s->fail)) {
		snprintf(err, errlen, "%s", s->err);
	} else {
		if (mct_write_header(w, &h))
			synth_fail(s, "write error: %s", strerror(errno));
		c->wl->run(s, c->v);
		finish(s);
		ret = 0;
	}
	synth_free(s);
	return ret;
}
