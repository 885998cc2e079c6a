// SPDX-License-Identifier: MIT
/*
 * world.c - MMs, folios and page table mappings of a traced machine.
 *
 * A mapping record holds what one MM maps of one folio through one VMA at
 * one level: a set of units (pages for PTEs, PMD- or PUD-sized parts for
 * PMDs and PUDs), kept as one contiguous run, or as a bitmap once a hole
 * appears.  Records are found by (folio, mm, vma, level) in an open
 * addressing hash table and chained per MM (fork, exit, stat) and per
 * folio (who else maps it).
 */
#include "world.h"

#include "mem.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define NIL UINT32_MAX

struct wrec {
	uint32_t folio, mm, vma;
	uint8_t level;
	uint32_t first, nr; /* units: a run [first, first + nr), or count */
	uint64_t *bits;	    /* non-NULL: the units are this bitmap */
	uint32_t mm_prev, mm_next;     /* the MM's records, in creation order */
	uint32_t same_prev, same_next; /* the (folio, mm)'s other records */
};

struct world {
	uint32_t page_shift_pmd, page_shift_pud; /* pmd_order, pud_order */
	struct world_folio *folios;
	uint32_t nr_folios, cap_folios;
	struct world_mm *mms;
	uint32_t nr_mms, cap_mms;

	struct wrec *recs;
	uint32_t nr_recs, cap_recs, free_rec;

	/* record indexes by (folio, mm, vma, level), and the first record of
	 * each (folio, mm); open addressing, linear probing */
	struct rhash {
		struct rh_ent {
			uint32_t idx; /* NIL = empty */
			uint32_t tag; /* the key's hash: probes skip records */
		} * slot;
		uint32_t mask, used;
		bool by_mm;
	} full, by_mm;

	/* IDA over [1, MM_ID_MAX]: lowest free id first (mm_init()) */
	uint32_t *free_ids; /* min-heap */
	uint32_t nr_free_ids, cap_free_ids, next_id;

	struct world_summary sum;
};

#define GROW(arr, cap, need)                                            \
	do {                                                            \
		if ((need) > (cap)) {                                   \
			size_t c_ = (cap) ? (size_t)(cap)*2 : 64;       \
			while (c_ < (need))                             \
				c_ *= 2;                                \
			(arr) = mc_realloc((arr), c_ * sizeof(*(arr))); \
			memset((arr) + (cap), 0,                        \
			       (c_ - (cap)) * sizeof(*(arr)));          \
			(cap) = c_;                                     \
		}                                                       \
	} while (0)

static void rh_init(struct rhash *h, bool by_mm);

struct world *world_new(const struct mct_header *h)
{
	struct world *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->page_shift_pmd = h ? h->pmd_order : MCT_DEFAULT_PMD_ORDER;
	w->page_shift_pud = h ? h->pud_order : MCT_DEFAULT_PUD_ORDER;
	rh_init(&w->full, false);
	rh_init(&w->by_mm, true);
	w->free_rec = NIL;
	w->next_id = 1;
	return w;
}

void world_free(struct world *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < w->nr_folios; i++)
		free(w->folios[i].excl);
	for (uint32_t i = 0; i < w->nr_recs; i++)
		free(w->recs[i].bits);
	free(w->folios);
	free(w->mms);
	free(w->recs);
	free(w->full.slot);
	free(w->by_mm.slot);
	free(w->free_ids);
	free(w);
}

const struct world_folio *world_folio(const struct world *w, uint32_t folio)
{
	return folio < w->nr_folios ? &w->folios[folio] : NULL;
}

const struct world_mm *world_mm(const struct world *w, uint32_t mm)
{
	return mm < w->nr_mms ? &w->mms[mm] : NULL;
}

uint32_t world_nr_folios(const struct world *w)
{
	return w->nr_folios;
}

uint32_t world_nr_mms(const struct world *w)
{
	return w->nr_mms;
}

const struct world_summary *world_summary(const struct world *w)
{
	return &w->sum;
}

/* ---- MM IDs: the lowest free one, as ida_alloc_range() hands out ---- */

static uint32_t mm_id_alloc(struct world *w)
{
	uint32_t id, i = 0;

	if (!w->nr_free_ids)
		return w->next_id++;
	id = w->free_ids[0];
	w->free_ids[0] = w->free_ids[--w->nr_free_ids];
	for (;;) {
		uint32_t l = 2 * i + 1, r = l + 1, m = i, t;

		if (l < w->nr_free_ids && w->free_ids[l] < w->free_ids[m])
			m = l;
		if (r < w->nr_free_ids && w->free_ids[r] < w->free_ids[m])
			m = r;
		if (m == i)
			break;
		t = w->free_ids[i];
		w->free_ids[i] = w->free_ids[m];
		w->free_ids[m] = t;
		i = m;
	}
	return id;
}

static void mm_id_free(struct world *w, uint32_t id)
{
	uint32_t i;

	GROW(w->free_ids, w->cap_free_ids, w->nr_free_ids + 1);
	i = w->nr_free_ids++;
	w->free_ids[i] = id;
	while (i && w->free_ids[(i - 1) / 2] > w->free_ids[i]) {
		uint32_t p = (i - 1) / 2, t = w->free_ids[p];

		w->free_ids[p] = w->free_ids[i];
		w->free_ids[i] = t;
		i = p;
	}
}

/*
 * ---- the record hashes ----
 *
 * full finds a record by (folio, mm, vma, level); by_mm finds the first of
 * an MM's records of a folio, the rest chained through same_prev/next.
 */

static void rh_init(struct rhash *h, bool by_mm)
{
	h->mask = 1023;
	h->slot = mc_realloc(NULL, (h->mask + 1) * sizeof(*h->slot));
	memset(h->slot, 0xff, (h->mask + 1) * sizeof(*h->slot));
	h->by_mm = by_mm;
}

static uint32_t rh_hash(const struct rhash *h, uint32_t folio, uint32_t mm,
			uint32_t vma, uint8_t level)
{
	uint64_t k = ((uint64_t)folio << 32 | mm) * 0x9E3779B97F4A7C15ull;

	if (!h->by_mm)
		k ^= ((uint64_t)vma << 2 | level) * 0xC2B2AE3D27D4EB4Full;
	k ^= k >> 29;
	return (uint32_t)(k * 0xBF58476D1CE4E5B9ull >> 32);
}

static bool rh_match(const struct rhash *h, const struct wrec *r,
		     uint32_t folio, uint32_t mm, uint32_t vma, uint8_t level)
{
	return r->folio == folio && r->mm == mm &&
	       (h->by_mm || (r->vma == vma && r->level == level));
}

/* The entry of a key: its record, or the empty entry to put it in (with
 * rh_put()). */
static struct rh_ent *rh_slot(const struct world *w, const struct rhash *h,
			      uint32_t folio, uint32_t mm, uint32_t vma,
			      uint8_t level)
{
	uint32_t tag = rh_hash(h, folio, mm, vma, level), i = tag & h->mask;

	while (h->slot[i].idx != NIL &&
	       (h->slot[i].tag != tag ||
		!rh_match(h, &w->recs[h->slot[i].idx], folio, mm, vma, level)))
		i = (i + 1) & h->mask;
	return &h->slot[i];
}

static void rh_put(struct rhash *h, struct rh_ent *e, uint32_t idx,
		   const struct wrec *r)
{
	e->idx = idx;
	e->tag = rh_hash(h, r->folio, r->mm, r->vma, r->level);
	h->used++;
}

static struct rh_ent *rh_slot_of(const struct world *w, const struct rhash *h,
				 const struct wrec *r)
{
	return rh_slot(w, h, r->folio, r->mm, r->vma, r->level);
}

/* Make room for one more; entries move, so look up again afterwards. */
static void rh_reserve(struct rhash *h)
{
	uint32_t old_mask = h->mask;
	struct rh_ent *old = h->slot;

	if ((h->used + 1) * 4 <= (h->mask + 1) * 3)
		return;
	h->mask = old_mask * 2 + 1;
	h->slot = mc_realloc(NULL, ((size_t)h->mask + 1) * sizeof(*h->slot));
	memset(h->slot, 0xff, ((size_t)h->mask + 1) * sizeof(*h->slot));
	for (uint32_t i = 0; i <= old_mask; i++) {
		uint32_t j = old[i].tag & h->mask;

		if (old[i].idx == NIL)
			continue;
		while (h->slot[j].idx != NIL)
			j = (j + 1) & h->mask;
		h->slot[j] = old[i];
	}
	free(old);
}

/* Backward-shift deletion keeps linear probing chains intact. */
static void rh_del(struct rhash *h, struct rh_ent *e)
{
	uint32_t i = (uint32_t)(e - h->slot), j = i;

	for (;;) {
		uint32_t k;

		j = (j + 1) & h->mask;
		if (h->slot[j].idx == NIL)
			break;
		k = h->slot[j].tag & h->mask;
		if ((j > i && (k <= i || k > j)) ||
		    (j < i && k <= i && k > j)) {
			h->slot[i] = h->slot[j];
			i = j;
		}
	}
	h->slot[i].idx = NIL;
	h->used--;
}

/* The first of mm's records of folio, or NIL. */
static uint32_t rec_first(const struct world *w, uint32_t folio, uint32_t mm)
{
	return rh_slot(w, &w->by_mm, folio, mm, 0, 0)->idx;
}

static struct wrec *rec_find(const struct world *w, uint32_t folio, uint32_t mm,
			     uint32_t vma, uint8_t level)
{
	uint32_t idx = rh_slot(w, &w->full, folio, mm, vma, level)->idx;

	return idx == NIL ? NULL : &w->recs[idx];
}

static uint32_t rec_new(struct world *w, uint32_t folio, uint32_t mm,
			uint32_t vma, uint8_t level)
{
	struct world_mm *m = &w->mms[mm];
	struct rh_ent *head;
	uint32_t idx;

	rh_reserve(&w->full);
	rh_reserve(&w->by_mm);
	if (w->free_rec != NIL) {
		idx = w->free_rec;
		w->free_rec = w->recs[idx].mm_next;
	} else {
		GROW(w->recs, w->cap_recs, (size_t)w->nr_recs + 1);
		idx = w->nr_recs++;
	}
	w->recs[idx] = (struct wrec){ .folio = folio,
				      .mm = mm,
				      .vma = vma,
				      .level = level,
				      .mm_prev = m->last_map,
				      .mm_next = NIL,
				      .same_prev = NIL };
	rh_put(&w->full, rh_slot(w, &w->full, folio, mm, vma, level), idx,
	       &w->recs[idx]);
	head = rh_slot(w, &w->by_mm, folio, mm, 0, 0);
	w->recs[idx].same_next = head->idx;
	if (head->idx != NIL) {
		w->recs[head->idx].same_prev = idx;
		head->idx = idx;
	} else {
		rh_put(&w->by_mm, head, idx, &w->recs[idx]);
	}
	if (m->last_map != NIL)
		w->recs[m->last_map].mm_next = idx;
	else
		m->first_map = idx;
	m->last_map = idx;
	m->nr_maps++;
	return idx;
}

static void rec_del(struct world *w, uint32_t idx)
{
	struct wrec *r = &w->recs[idx];
	struct world_mm *m = &w->mms[r->mm];

	rh_del(&w->full, rh_slot_of(w, &w->full, r));
	if (r->same_next != NIL)
		w->recs[r->same_next].same_prev = r->same_prev;
	if (r->same_prev != NIL) {
		w->recs[r->same_prev].same_next = r->same_next;
	} else {
		struct rh_ent *head = rh_slot_of(w, &w->by_mm, r);

		if (r->same_next != NIL)
			head->idx = r->same_next;
		else
			rh_del(&w->by_mm, head);
	}
	if (r->mm_prev != NIL)
		w->recs[r->mm_prev].mm_next = r->mm_next;
	else
		m->first_map = r->mm_next;
	if (r->mm_next != NIL)
		w->recs[r->mm_next].mm_prev = r->mm_prev;
	else
		m->last_map = r->mm_prev;
	m->nr_maps--;
	free(r->bits);
	r->bits = NULL;
	r->mm_next = w->free_rec;
	w->free_rec = idx;
}

/* ---- unit sets of a record ---- */

static uint32_t level_shift(const struct world *w, uint8_t level)
{
	return level == MC_PMD	 ? w->page_shift_pmd
	       : level == MC_PUD ? w->page_shift_pud
				 : 0;
}

/* Pages per unit of a record: hugetlb records count pages, whatever the
 * level, since a hugetlb folio is always mapped whole. */
static uint32_t unit_shift(const struct world *w, uint32_t folio, uint8_t level)
{
	return w->folios[folio].type == MC_HUGETLB ? 0 : level_shift(w, level);
}

static uint64_t folio_units(const struct world *w, const struct wrec *r)
{
	return w->folios[r->folio].nr_pages >>
	       unit_shift(w, r->folio, r->level);
}

/* The folio's PageAnonExclusive bits. */
static const uint64_t *excl_of_const(const struct world_folio *f)
{
	return f->nr_pages <= 64 ? &f->excl_word : f->excl;
}

static uint64_t *excl_of(struct world_folio *f)
{
	return (uint64_t *)excl_of_const(f);
}

static bool bit_test(const uint64_t *b, uint64_t i)
{
	return b[i / 64] >> (i % 64) & 1;
}

static void bits_assign(uint64_t *b, uint64_t a, uint64_t n, bool v)
{
	for (uint64_t i = a; i < a + n; i++) {
		if (v)
			b[i / 64] |= 1ull << (i % 64);
		else
			b[i / 64] &= ~(1ull << (i % 64));
	}
}

/* How many of units [a, a + n) the record maps. */
static uint64_t rec_count(const struct wrec *r, uint64_t a, uint64_t n)
{
	uint64_t c = 0, lo, hi;

	if (r->bits) {
		for (uint64_t i = a; i < a + n; i++)
			c += bit_test(r->bits, i);
		return c;
	}
	lo = a > r->first ? a : r->first;
	hi = a + n < (uint64_t)r->first + r->nr ? a + n
						: (uint64_t)r->first + r->nr;
	return hi > lo ? hi - lo : 0;
}

static void rec_to_bits(struct world *w, struct wrec *r)
{
	uint64_t words = (folio_units(w, r) + 63) / 64;

	r->bits = mc_realloc(NULL, words * sizeof(uint64_t));
	memset(r->bits, 0, words * sizeof(uint64_t));
	bits_assign(r->bits, r->first, r->nr, true);
	r->first = 0;
}

static void rec_set(struct world *w, struct wrec *r, uint64_t a, uint64_t n)
{
	if (!r->bits && r->nr == 0) {
		r->first = (uint32_t)a;
		r->nr = (uint32_t)n;
		return;
	}
	if (!r->bits && a == (uint64_t)r->first + r->nr) {
		r->nr += (uint32_t)n;
		return;
	}
	if (!r->bits && a + n == r->first) {
		r->first = (uint32_t)a;
		r->nr += (uint32_t)n;
		return;
	}
	if (!r->bits)
		rec_to_bits(w, r);
	bits_assign(r->bits, a, n, true);
	r->nr += (uint32_t)n;
}

static void rec_clear(struct world *w, struct wrec *r, uint64_t a, uint64_t n)
{
	if (!r->bits && a == r->first) {
		r->first += (uint32_t)n;
		r->nr -= (uint32_t)n;
		return;
	}
	if (!r->bits && a + n == (uint64_t)r->first + r->nr) {
		r->nr -= (uint32_t)n;
		return;
	}
	if (!r->bits)
		rec_to_bits(w, r);
	bits_assign(r->bits, a, n, false);
	r->nr -= (uint32_t)n;
}

/* Runs of mapped units: calls fn for each maximal run, in order. */
typedef void (*run_fn)(struct world *w, const struct wrec *r, uint64_t a,
		       uint64_t n, void *arg);

static void rec_runs(struct world *w, const struct wrec *r, run_fn fn,
		     void *arg)
{
	uint64_t units, i = 0;

	if (!r->bits) {
		if (r->nr)
			fn(w, r, r->first, r->nr, arg);
		return;
	}
	units = folio_units(w, r);
	while (i < units) {
		uint64_t s;

		if (!bit_test(r->bits, i)) {
			i++;
			continue;
		}
		s = i;
		while (i < units && bit_test(r->bits, i))
			i++;
		fn(w, r, s, i - s, arg);
	}
}

/* ---- errors ---- */

static int fail(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	return -1;
}

/* ---- primitives ---- */

struct emit {
	world_fn fn;
	void *ctx;
};

static void emit_rmap(struct world *w, struct emit *e, enum world_op op,
		      uint32_t folio, uint32_t mm, uint32_t vma, uint64_t first,
		      uint64_t nr, uint8_t level, uint8_t flags)
{
	struct world_prim p = { .op = op, .folio = folio, .mm = mm };
	struct world_folio *f = &w->folios[folio];

	p.r = (struct mc_rmap){ .first = first,
				.nr = nr,
				.vma = vma,
				.mm_id = w->mms[mm].mm_id,
				.level = level,
				.flags = flags };
	if (f->type == MC_HUGETLB || level != MC_PTE) {
		if (op == W_ADD)
			f->mappings++;
		else
			f->mappings--;
	} else if (op == W_ADD) {
		f->mappings += nr;
	} else {
		f->mappings -= nr;
	}
	e->fn(e->ctx, &p);
}

/* Emit the rmap calls for units [a, a + n) of a record. */
static void emit_units(struct world *w, struct emit *e, enum world_op op,
		       const struct wrec *r, uint32_t mm, uint64_t a,
		       uint64_t n, uint8_t flags)
{
	uint32_t shift = unit_shift(w, r->folio, r->level);

	if (r->level == MC_PTE || w->folios[r->folio].type == MC_HUGETLB) {
		emit_rmap(w, e, op, r->folio, mm, r->vma, a << shift,
			  n << shift, r->level, flags);
		return;
	}
	for (uint64_t u = a; u < a + n; u++)
		emit_rmap(w, e, op, r->folio, mm, r->vma, u << shift,
			  1ull << shift, r->level, flags);
}

static uint64_t head_of(const struct world *w, const struct world_folio *f,
			uint64_t page, int level)
{
	uint32_t shift;

	if (f->type == MC_HUGETLB)
		return 0;
	shift = level_shift(w, (uint8_t)level);
	return page >> shift << shift;
}

bool world_page_exclusive(const struct world *w, uint32_t folio, uint64_t page,
			  int level)
{
	const struct world_folio *f = &w->folios[folio];

	return bit_test(excl_of_const(f), head_of(w, f, page, level));
}

void world_set_exclusive(struct world *w, uint32_t folio, uint64_t page,
			 int level)
{
	struct world_folio *f = &w->folios[folio];

	bits_assign(excl_of(f), head_of(w, f, page, level), 1, true);
}

/* ---- statements ---- */

static int need_mm(struct world *w, uint32_t mm, const char *what, char *err,
		   size_t len)
{
	if (mm >= w->nr_mms || !w->mms[mm].live)
		return fail(err, len, "%s is not a live mm", what);
	return 0;
}

static int need_folio(struct world *w, uint32_t folio, char *err, size_t len)
{
	if (folio >= w->nr_folios || !w->folios[folio].live)
		return fail(err, len, "folio is not allocated");
	return 0;
}

static void mm_create(struct world *w, uint32_t mm)
{
	struct world_mm *m;

	GROW(w->mms, w->cap_mms, (size_t)mm + 1);
	if (mm >= w->nr_mms)
		w->nr_mms = mm + 1;
	m = &w->mms[mm];
	*m = (struct world_mm){ .live = true,
				.ever = true,
				.mm_id = mm_id_alloc(w),
				.first_map = NIL,
				.last_map = NIL };
	w->sum.mms++;
}

static int do_mm(struct world *w, const struct mct_event *ev, char *err,
		 size_t len)
{
	if (ev->mm < w->nr_mms && w->mms[ev->mm].live)
		return fail(err, len, "mm is already live");
	if (ev->mm2 != MCT_NO_ID &&
	    (ev->mm2 >= w->nr_mms || !w->mms[ev->mm2].ever))
		return fail(err, len, "parent is not a known mm");
	mm_create(w, ev->mm);
	return 0;
}

/* Is the folio maybe DMA-pinned?  folio_maybe_dma_pinned(): exact for large
 * folios (_pincount), refcount >= GUP_PIN_COUNTING_BIAS for small ones. */
static bool maybe_pinned(const struct world_folio *f)
{
	if (f->order)
		return f->pins > 0;
	return (int64_t)f->mappings + f->refs + 1024 * f->pins >= 1024;
}

struct dup_arg {
	struct emit *e;
	uint32_t child;
	bool pinned;
};

/* __split_huge_pmd_locked() of a parent's PMD: PTEs inherit its
 * PageAnonExclusive, then the PMD goes. */
static void split_pmd(struct world *w, struct emit *e, uint32_t recidx,
		      uint64_t unit)
{
	struct wrec r = w->recs[recidx];
	uint32_t shift = w->page_shift_pmd;
	uint64_t first = unit << shift, nr = 1ull << shift;
	struct world_folio *f = &w->folios[r.folio];
	bool excl = bit_test(excl_of(f), first);
	struct wrec *pte;
	uint32_t idx;

	pte = rec_find(w, r.folio, r.mm, r.vma, MC_PTE);
	idx = pte ? (uint32_t)(pte - w->recs)
		  : rec_new(w, r.folio, r.mm, r.vma, MC_PTE);
	rec_set(w, &w->recs[idx], first, nr);
	if (excl)
		bits_assign(excl_of(f), first, nr, true);
	emit_rmap(w, e, W_ADD, r.folio, r.mm, r.vma, first, nr, MC_PTE,
		  excl ? MC_RMAP_EXCL : 0);
	rec_clear(w, &w->recs[recidx], unit, 1);
	emit_rmap(w, e, W_REMOVE, r.folio, r.mm, r.vma, first, nr, MC_PMD, 0);
	if (!w->recs[recidx].nr)
		rec_del(w, recidx);
}

static void child_map(struct world *w, struct dup_arg *d, const struct wrec *r,
		      uint64_t a, uint64_t n)
{
	struct wrec *c = rec_find(w, r->folio, d->child, r->vma, r->level);
	uint32_t idx;

	idx = c ? (uint32_t)(c - w->recs)
		: rec_new(w, r->folio, d->child, r->vma, r->level);
	rec_set(w, &w->recs[idx], a, n);
	emit_units(w, d->e, W_ADD, &w->recs[idx], d->child, a, n, MC_RMAP_DUP);
}

/*
 * copy_present_ptes()/copy_huge_pmd() for one run of a parent's record:
 * folio_try_dup_anon_rmap_*() fails for an exclusive page of a maybe pinned
 * anon folio, and the child gets a copy of its own instead (a folio this
 * trace does not name).
 */
static void dup_run(struct world *w, const struct wrec *r, uint64_t a,
		    uint64_t n, void *arg)
{
	struct dup_arg *d = arg;
	struct world_folio *f = &w->folios[r->folio];
	uint32_t shift = unit_shift(w, r->folio, r->level);
	bool anon = f->type == MC_ANON || f->type == MC_HUGETLB;

	if (!anon) {
		child_map(w, d, r, a, n);
		return;
	}
	if (f->type == MC_HUGETLB) { /* hugetlb_try_dup_anon_rmap() */
		if (d->pinned && bit_test(excl_of(f), 0)) {
			w->sum.forks_copied_pages += n;
			return;
		}
		bits_assign(excl_of(f), 0, 1, false);
		child_map(w, d, r, a, n);
		return;
	}
	if (r->level == MC_PTE) {
		for (uint64_t u = a; u < a + n;) {
			uint64_t s = u;

			if (d->pinned && bit_test(excl_of(f), u)) {
				w->sum.forks_copied_pages++;
				u++;
				continue;
			}
			while (u < a + n &&
			       !(d->pinned && bit_test(excl_of(f), u)))
				u++;
			bits_assign(excl_of(f), s, u - s, false);
			child_map(w, d, r, s, u - s);
		}
		return;
	}
	for (uint64_t u = a; u < a + n; u++) { /* PMD/PUD: the head page */
		uint64_t head = u << shift;

		if (d->pinned && bit_test(excl_of(f), head)) {
			w->sum.forks_copied_pages += 1ull << shift;
			continue;
		}
		bits_assign(excl_of(f), head, 1, false);
		child_map(w, d, r, u, 1);
	}
}

static int do_fork(struct world *w, const struct mct_event *ev, struct emit *e,
		   char *err, size_t len)
{
	struct dup_arg d = { .e = e, .child = ev->mm2 };
	uint32_t idx;

	if (need_mm(w, ev->mm, "parent", err, len))
		return -1;
	if (ev->mm2 < w->nr_mms && w->mms[ev->mm2].live)
		return fail(err, len, "fork into an existing mm");
	mm_create(w, ev->mm2);

	/* A maybe-pinned exclusive PMD is split in the parent first, then
	 * copied page by page (copy_huge_pmd() returns -EAGAIN). */
	for (idx = w->mms[ev->mm].first_map; idx != NIL;) {
		struct wrec *r = &w->recs[idx];
		uint32_t next = r->mm_next;
		struct world_folio *f = &w->folios[r->folio];

		if (r->level == MC_PMD && f->type == MC_ANON &&
		    maybe_pinned(f)) {
			uint64_t units = folio_units(w, r);

			for (uint64_t u = 0; u < units && idx != NIL; u++) {
				if (rec_count(r, u, 1) &&
				    bit_test(excl_of(f),
					     u << w->page_shift_pmd)) {
					bool last = r->nr == 1;

					split_pmd(w, e, idx, u);
					if (last)
						break;
					r = &w->recs[idx];
				}
			}
		}
		idx = next;
	}

	/* The child's records may move w->recs: walk a copy of each. */
	for (idx = w->mms[ev->mm].first_map; idx != NIL;
	     idx = w->recs[idx].mm_next) {
		struct wrec r = w->recs[idx];

		d.pinned = maybe_pinned(&w->folios[r.folio]);
		rec_runs(w, &r, dup_run, &d);
	}
	return 0;
}

static void zap_run(struct world *w, const struct wrec *r, uint64_t a,
		    uint64_t n, void *arg)
{
	emit_units(w, arg, W_REMOVE, r, r->mm, a, n, 0);
}

static int do_exit(struct world *w, const struct mct_event *ev, struct emit *e,
		   char *err, size_t len)
{
	struct world_mm *m;

	if (need_mm(w, ev->mm, "mm", err, len))
		return -1;
	m = &w->mms[ev->mm];
	while (m->first_map != NIL) {
		uint32_t idx = m->first_map;

		rec_runs(w, &w->recs[idx], zap_run, e);
		rec_del(w, idx);
		m = &w->mms[ev->mm];
	}
	m->live = false;
	mm_id_free(w, m->mm_id);
	return 0;
}

static int do_alloc(struct world *w, const struct mct_event *ev, struct emit *e,
		    char *err, size_t len)
{
	struct world_folio *f;
	struct world_prim p = { .op = W_ALLOC, .folio = ev->folio };
	uint64_t nr, *big;

	if (ev->folio < w->nr_folios && w->folios[ev->folio].live)
		return fail(err, len, "folio is already allocated");
	if (ev->order > MCT_MAX_ORDER)
		return fail(err, len, "order %u is above %u", ev->order,
			    MCT_MAX_ORDER);
	GROW(w->folios, w->cap_folios, (size_t)ev->folio + 1);
	if (ev->folio >= w->nr_folios)
		w->nr_folios = ev->folio + 1;
	f = &w->folios[ev->folio];
	nr = 1ull << ev->order;
	big = f->excl; /* kept from an earlier folio of this handle */
	if (nr > 64 && (!big || f->nr_pages < nr)) {
		free(big);
		big = mc_realloc(NULL, nr / 64 * sizeof(uint64_t));
	}
	if (nr > 64)
		memset(big, 0, nr / 64 * sizeof(uint64_t));
	*f = (struct world_folio){
		.nr_pages = nr,
		.order = ev->order,
		.type = ev->type,
		.live = true,
		.excl = big,
	};
	w->sum.folios_by_order[ev->order][ev->type]++;
	e->fn(e->ctx, &p);
	return 0;
}

static int do_free(struct world *w, const struct mct_event *ev, struct emit *e,
		   char *err, size_t len)
{
	struct world_folio *f;
	struct world_prim p = { .op = W_FREE, .folio = ev->folio };

	if (need_folio(w, ev->folio, err, len))
		return -1;
	f = &w->folios[ev->folio];
	if (f->mappings)
		return fail(err, len, "free while mapped (%llu mappings)",
			    (unsigned long long)f->mappings);
	if (f->refs || f->pins)
		return fail(err, len,
			    "free while referenced (refs %lld, pins %lld)",
			    (long long)f->refs, (long long)f->pins);
	e->fn(e->ctx, &p);
	f->live = false;
	return 0;
}

/* Resolve and check the page range and level of a map/unmap. */
static int rmap_range(struct world *w, const struct mct_event *ev,
		      uint64_t *first, uint64_t *nr, char *err, size_t len)
{
	const struct world_folio *f = &w->folios[ev->folio];
	uint32_t shift = level_shift(w, ev->level);

	if (ev->flags & MCT_F_NO_RANGE) {
		*first = 0;
		*nr = f->nr_pages;
		if (ev->level != MC_PTE && f->order != shift)
			return fail(err, len,
				    "%s without a range needs a folio of order "
				    "%u, not %u",
				    mct_level_name(ev->level), shift, f->order);
		return 0;
	}
	*first = ev->first;
	*nr = ev->nr;
	if (*nr == 0 || *first >= f->nr_pages || *nr > f->nr_pages - *first)
		return fail(err, len,
			    "range %llu+%llu is outside the folio (%llu pages)",
			    (unsigned long long)*first, (unsigned long long)*nr,
			    (unsigned long long)f->nr_pages);
	if (f->type == MC_HUGETLB && (*first || *nr != f->nr_pages))
		return fail(
			err, len,
			"a hugetlb folio is mapped whole: range must be 0+%llu",
			(unsigned long long)f->nr_pages);
	if (ev->level != MC_PTE && f->type != MC_HUGETLB &&
	    (*nr != 1ull << shift || *first % *nr))
		return fail(err, len,
			    "a %s mapping covers one aligned %llu-page part of "
			    "the folio, not %llu+%llu",
			    mct_level_name(ev->level),
			    (unsigned long long)(1ull << shift),
			    (unsigned long long)*first,
			    (unsigned long long)*nr);
	return 0;
}

static int rmap_common(struct world *w, const struct mct_event *ev,
		       uint64_t *first, uint64_t *nr, char *err, size_t len)
{
	if (need_mm(w, ev->mm, "mm", err, len) ||
	    need_folio(w, ev->folio, err, len))
		return -1;
	if (ev->level > MC_PUD)
		return fail(err, len, "bad level");
	return rmap_range(w, ev, first, nr, err, len);
}

static int do_map(struct world *w, const struct mct_event *ev, struct emit *e,
		  char *err, size_t len)
{
	struct world_folio *f;
	uint64_t first, nr, a, n;
	uint32_t shift, idx;
	struct wrec *r;
	uint8_t flags = 0;

	if (rmap_common(w, ev, &first, &nr, err, len))
		return -1;
	f = &w->folios[ev->folio];
	if ((ev->flags & MCT_F_EXCL) && f->type != MC_ANON &&
	    f->type != MC_HUGETLB)
		return fail(err, len,
			    "excl on a %s folio: only anonymous pages are "
			    "PageAnonExclusive",
			    mct_ftype_name(f->type));
	shift = unit_shift(w, ev->folio, ev->level);
	a = first >> shift;
	n = nr >> shift;
	r = rec_find(w, ev->folio, ev->mm, ev->vma, ev->level);
	if (r && rec_count(r, a, n))
		return fail(
			err, len,
			"pages %llu+%llu are already mapped there at %s level",
			(unsigned long long)first, (unsigned long long)nr,
			mct_level_name(ev->level));

	if (f->type == MC_ANON && !f->ever_mapped && first == 0 &&
	    nr == f->nr_pages &&
	    (f->order == w->page_shift_pmd ? ev->level == MC_PMD
					   : ev->level == MC_PTE))
		flags |= MC_RMAP_NEW;
	if (ev->flags & MCT_F_EXCL) {
		flags |= MC_RMAP_EXCL;
		if (ev->level == MC_PTE && f->type != MC_HUGETLB)
			bits_assign(excl_of(f), first, nr, true);
		else
			bits_assign(excl_of(f), head_of(w, f, first, ev->level),
				    1, true);
	} else if (ev->level == MC_PTE && f->type == MC_ANON) {
		/* Splitting a PMD: the PTEs inherit PageAnonExclusive. */
		struct wrec *pmd =
			rec_find(w, ev->folio, ev->mm, ev->vma, MC_PMD);

		for (uint64_t p = first; pmd && p < first + nr; p++) {
			uint64_t head = p >> w->page_shift_pmd
						     << w->page_shift_pmd;

			if (rec_count(pmd, head >> w->page_shift_pmd, 1) &&
			    bit_test(excl_of(f), head))
				bits_assign(excl_of(f), p, 1, true);
		}
	}

	idx = r ? (uint32_t)(r - w->recs)
		: rec_new(w, ev->folio, ev->mm, ev->vma, ev->level);
	r = &w->recs[idx];
	rec_set(w, r, a, n);
	f = &w->folios[ev->folio];
	f->ever_mapped = true;
	emit_units(w, e, W_ADD, r, ev->mm, a, n, flags);
	return 0;
}

static int do_unmap(struct world *w, const struct mct_event *ev, struct emit *e,
		    char *err, size_t len)
{
	uint64_t first, nr, a, n;
	uint32_t shift, idx;
	struct wrec *r;

	if (rmap_common(w, ev, &first, &nr, err, len))
		return -1;
	shift = unit_shift(w, ev->folio, ev->level);
	a = first >> shift;
	n = nr >> shift;
	r = rec_find(w, ev->folio, ev->mm, ev->vma, ev->level);
	if (!r || rec_count(r, a, n) != n)
		return fail(
			err, len,
			"pages %llu+%llu are not all mapped there at %s level",
			(unsigned long long)first, (unsigned long long)nr,
			mct_level_name(ev->level));
	idx = (uint32_t)(r - w->recs);
	rec_clear(w, r, a, n);
	emit_units(w, e, W_REMOVE, &w->recs[idx], ev->mm, a, n, 0);
	if (!w->recs[idx].nr)
		rec_del(w, idx);
	return 0;
}

static int do_ref(struct world *w, const struct mct_event *ev, struct emit *e,
		  char *err, size_t len)
{
	struct world_folio *f;
	struct world_prim p = { .folio = ev->folio };

	if (need_folio(w, ev->folio, err, len))
		return -1;
	f = &w->folios[ev->folio];
	switch (ev->kind) {
	case MCT_REF:
		if (ev->delta == 0)
			return fail(err, len, "a reference change of 0");
		if (f->refs + ev->delta < 0)
			return fail(
				err, len,
				"drops %lld references but only %lld are held",
				(long long)-ev->delta, (long long)f->refs);
		f->refs += ev->delta;
		p.op = W_REF;
		p.delta = ev->delta;
		break;
	case MCT_PIN:
		f->pins++;
		p.op = W_PIN;
		p.delta = 1;
		break;
	default:
		if (!f->pins)
			return fail(err, len,
				    "unpin of a folio that is not pinned");
		f->pins--;
		p.op = W_PIN;
		p.delta = -1;
		break;
	}
	e->fn(e->ctx, &p);
	return 0;
}

int world_page_level(const struct world *w, uint32_t mm, uint32_t folio,
		     uint64_t page)
{
	const struct world_folio *f = &w->folios[folio];
	int best = 0;

	for (uint32_t i = rec_first(w, folio, mm); i != NIL;
	     i = w->recs[i].same_next) {
		const struct wrec *r = &w->recs[i];

		if (f->type == MC_HUGETLB ||
		    rec_count(r, page >> unit_shift(w, folio, r->level), 1)) {
			if (r->level == MC_PTE)
				return 1;
			if (!best || r->level + 1 < best)
				best = r->level + 1;
		}
	}
	return best;
}

bool world_mapped(const struct world *w, uint32_t mm, uint32_t folio,
		  uint32_t vma, int level, uint64_t page)
{
	const struct wrec *r;

	if (folio >= w->nr_folios || mm >= w->nr_mms)
		return false;
	r = rec_find(w, folio, mm, vma, (uint8_t)level);
	return r &&
	       rec_count(r, page >> unit_shift(w, folio, (uint8_t)level), 1);
}

uint64_t world_other_mappings(const struct world *w, uint32_t folio,
			      uint32_t mm)
{
	const struct world_folio *f = &w->folios[folio];
	uint64_t own = 0;

	for (uint32_t i = rec_first(w, folio, mm); i != NIL;
	     i = w->recs[i].same_next)
		own += f->type == MC_HUGETLB ? !!w->recs[i].nr : w->recs[i].nr;
	return f->mappings - own;
}

struct each_arg {
	world_map_fn fn;
	void *ctx;
};

static void each_run(struct world *w, const struct wrec *r, uint64_t a,
		     uint64_t n, void *arg)
{
	struct each_arg *ea = arg;
	uint32_t shift = unit_shift(w, r->folio, r->level);

	ea->fn(ea->ctx, r->folio, a << shift, n << shift, r->level);
}

void world_for_each_mapping(const struct world *w, uint32_t mm, world_map_fn fn,
			    void *ctx)
{
	struct each_arg ea = { fn, ctx };

	for (uint32_t i = w->mms[mm].first_map; i != NIL;
	     i = w->recs[i].mm_next)
		rec_runs((struct world *)w, &w->recs[i], each_run, &ea);
}

static int check_page(struct world *w, uint32_t folio, uint64_t page, char *err,
		      size_t len)
{
	if (need_folio(w, folio, err, len))
		return -1;
	if (page >= w->folios[folio].nr_pages)
		return fail(err, len,
			    "page %llu is outside the folio (%llu pages)",
			    (unsigned long long)page,
			    (unsigned long long)w->folios[folio].nr_pages);
	return 0;
}

/*
 * A write fault: validated; a recorded reuse makes the page
 * PageAnonExclusive (wp_page_reuse()), so that what fork does next is the
 * same with or without an engine deciding.
 */
static int do_cow(struct world *w, const struct mct_event *ev, char *err,
		  size_t len)
{
	const struct world_folio *f;
	int level;

	if (need_mm(w, ev->mm, "mm", err, len) ||
	    check_page(w, ev->folio, ev->first, err, len))
		return -1;
	level = world_page_level(w, ev->mm, ev->folio, ev->first);
	if (!level)
		return fail(err, len, "the mm does not map page %llu",
			    (unsigned long long)ev->first);
	f = &w->folios[ev->folio];
	if (ev->expect == MCT_EXPECT_REUSE &&
	    (f->type == MC_ANON || f->type == MC_HUGETLB))
		world_set_exclusive(w, ev->folio, ev->first, level - 1);
	return 0;
}

int world_apply(struct world *w, const struct mct_event *ev, world_fn fn,
		void *ctx, char *err, size_t errlen)
{
	struct emit e = { fn, ctx };
	int ret = 0;

	switch (ev->kind) {
	case MCT_MM:
		ret = do_mm(w, ev, err, errlen);
		break;
	case MCT_FORK:
		ret = do_fork(w, ev, &e, err, errlen);
		break;
	case MCT_EXIT:
		ret = do_exit(w, ev, &e, err, errlen);
		break;
	case MCT_ALLOC:
		ret = do_alloc(w, ev, &e, err, errlen);
		break;
	case MCT_FREE:
		ret = do_free(w, ev, &e, err, errlen);
		break;
	case MCT_MAP:
		ret = do_map(w, ev, &e, err, errlen);
		break;
	case MCT_UNMAP:
		ret = do_unmap(w, ev, &e, err, errlen);
		break;
	case MCT_REF:
	case MCT_PIN:
	case MCT_UNPIN:
		ret = do_ref(w, ev, &e, err, errlen);
		break;
	case MCT_COW:
		ret = do_cow(w, ev, err, errlen);
		break;
	case MCT_QUERY:
		ret = need_folio(w, ev->folio, err, errlen);
		break;
	case MCT_STAT:
		ret = need_mm(w, ev->mm, "mm", err, errlen);
		break;
	case MCT_OBSERVE:
		ret = check_page(w, ev->folio, ev->first, err, errlen);
		break;
	case MCT_MMID: /* the slots' MMs must be live */
		ret = need_folio(w, ev->folio, err, errlen);
		if (!ret && ev->slot[0] == MCT_MMID_MM)
			ret = need_mm(w, ev->mm, "slot0's mm", err, errlen);
		if (!ret && ev->slot[1] == MCT_MMID_MM)
			ret = need_mm(w, ev->mm2, "slot1's mm", err, errlen);
		break;
	default:
		ret = fail(err, errlen, "unknown event kind %u", ev->kind);
	}
	if (!ret && ev->kind < MCT_NR_KINDS)
		w->sum.events[ev->kind]++;
	return ret;
}
