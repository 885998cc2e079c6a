// SPDX-License-Identifier: MIT
/*
 * model.c - the recorder's model of the traced MMs and their anonymous
 * folios, and the events that explain its changes.
 *
 * Each MM keeps the present page table entries it had at its last snapshot
 * (virtual page, PFN, folio, page of the folio, VMA, PTE or PMD).  A
 * snapshot reads /proc/PID/maps and /proc/PID/pagemap of the private VMAs
 * (anonymous folios live nowhere else), classifies the PFNs it has not
 * seen at that address with /proc/kpageflags (anonymous or not, head PFN,
 * order), PAGEMAP_SCAN's PAGE_IS_HUGE tells PMD mappings from PTE ones,
 * and the differences become events:
 *
 *  1. a PMD now mapped by PTEs: map the 512 PTEs, unmap the PMD
 *     (__split_huge_pmd_locked());
 *  2. in the order of their timestamps, the write faults the BPF ring
 *     buffer reported in the range (a write to a present, write-protected
 *     anon page: `cow ... expect=reuse` when the page stayed, `cow ...
 *     expect=copy`, then unmap, alloc and map, when a new order-0 folio
 *     replaced it) and the removals made by memory syscalls (timed by the
 *     syscall's return);
 *  3. the other removals (unmap), then the other additions (alloc of
 *     folios not seen before, map; `excl` for a new folio's first MM);
 *  4. free for the folios no MM maps any more.
 *
 * Every event is checked by a world (replay/world.c) before it is written,
 * so the trace always passes `mapcount check`; an event the world refuses
 * is a recorder bug, counted and reported, and left out.
 */
#include "rec_internal.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "proc.h"

#define SAMPLE_PAGES 16 /* pages observed of a folio larger than this */

/* ---- small containers ---- */

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("mapcount record: out of memory\n", stderr);
		abort();
	}
	return p;
}

#define GROW(p, cap, need)                                      \
	do {                                                    \
		if ((need) > (cap)) {                           \
			size_t c_ = (cap) ? (cap)*2 : 64;       \
			while (c_ < (need))                     \
				c_ *= 2;                        \
			(p) = xrealloc((p), c_ * sizeof(*(p))); \
			(cap) = c_;                             \
		}                                               \
	} while (0)

/* uint64 -> uint32, open addressing; a key is stored as key + 1. */
struct u64map {
	uint64_t *keys;
	uint32_t *vals;
	uint32_t cap, nr;
};

static uint32_t hash64(uint64_t k)
{
	k ^= k >> 33;
	k *= 0xff51afd7ed558ccdull;
	k ^= k >> 33;
	return (uint32_t)k;
}

static void map_put(struct u64map *m, uint64_t key, uint32_t val);

static void map_grow(struct u64map *m)
{
	struct u64map n = { 0 };

	n.cap = m->cap ? m->cap * 2 : 1024;
	n.keys = calloc(n.cap, sizeof(*n.keys));
	n.vals = calloc(n.cap, sizeof(*n.vals));
	if (!n.keys || !n.vals) {
		fputs("mapcount record: out of memory\n", stderr);
		abort();
	}
	for (uint32_t i = 0; i < m->cap; i++)
		if (m->keys[i])
			map_put(&n, m->keys[i] - 1, m->vals[i]);
	free(m->keys);
	free(m->vals);
	*m = n;
}

static void map_put(struct u64map *m, uint64_t key, uint32_t val)
{
	uint32_t i;

	if ((m->nr + 1) * 2 > m->cap)
		map_grow(m);
	for (i = hash64(key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key + 1) {
			m->vals[i] = val;
			return;
		}
	m->keys[i] = key + 1;
	m->vals[i] = val;
	m->nr++;
}

static bool map_get(const struct u64map *m, uint64_t key, uint32_t *val)
{
	if (!m->cap)
		return false;
	for (uint32_t i = hash64(key) & (m->cap - 1); m->keys[i];
	     i = (i + 1) & (m->cap - 1))
		if (m->keys[i] == key + 1) {
			*val = m->vals[i];
			return true;
		}
	return false;
}

static void map_free(struct u64map *m)
{
	free(m->keys);
	free(m->vals);
	memset(m, 0, sizeof(*m));
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s) {
		h ^= (uint8_t)*s++;
		h *= 1099511628211ull;
	}
	return h;
}

/* ---- the recorder ---- */

struct names {
	char **s;
	uint32_t nr, cap;
};

struct carried {
	uint64_t ts;
	struct rmm *m;
	pid_t tid; /* the thread whose write fault made the copy */
	struct rpage old, nw;
};

struct kidrec {
	pid_t pid;
	uint32_t kid;
	bool exec;
	bool handled; /* fork: its ptrace event was handled */
	uint64_t ts;
};

/* One MM's snapshot, prepared before the events are written. */
struct change {
	uint64_t vpn;
	struct rpage old, nw;
	bool has_old, has_nw, done;
};

struct snap {
	struct rmm *m;
	uint64_t lo, hi;
	struct rpage *nw;
	size_t nr_nw, cap_nw;
	struct change *ch;
	size_t nr_ch, cap_ch;
	struct pvma *vmas;
	size_t nr_vmas;
	bool *writable;	  /* per VMA */
	uint64_t *reused; /* pages a cow reused */
	size_t nr_reused, cap_reused;
	uint64_t taken; /* when the page tables were read */
};

struct rec {
	const struct rec_opts *o;
	struct mct_writer *w;
	struct world *world;
	struct rec_summary *sum;
	struct rec_bpf *bpf;
	struct names names[MCT_NR_SPACES];
	struct u64map vma_ids; /* hash of a VMA name -> id (chained by +1) */
	struct rmm **mms;
	uint32_t nr_mms, cap_mms;
	struct u64map kid2mm;
	struct rfolio *folios;
	uint32_t nr_folios, cap_folios;
	struct u64map head2folio, pfn_gen;
	struct u64map alloc_at; /* PFN -> index in alloc_ts */
	uint64_t *alloc_ts;	/* when the ring buffer saw it allocated */
	size_t nr_alloc_ts, cap_alloc_ts;
	uint32_t *touched; /* folios unmapped by the events being written */
	size_t nr_touched, cap_touched;
	struct rfault *faults;
	size_t nr_faults, cap_faults;
	struct carried *carry; /* copies to complete at the next snapshot */
	size_t nr_carry, cap_carry;
	uint64_t drained_at; /* when the ring buffer was last consumed */
	struct kidrec *kids;
	size_t nr_kids, cap_kids;
	uint64_t syncs, checkpoints;
	uint32_t *mark; /* per folio: 1 + checkpoint that listed it */
	size_t cap_mark;
	/* kpageflags windows */
	uint64_t win_key[4];
	uint64_t win[4][PMD_PAGES];
	int win_next;
	bool write_failed;
	int warned;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t add_name(struct rec *r, enum mct_space sp, const char *s)
{
	struct names *n = &r->names[sp];

	GROW(n->s, n->cap, (size_t)n->nr + 1);
	n->s[n->nr] = strdup(s);
	if (!n->s[n->nr])
		abort();
	return n->nr++;
}

static const char *name_cb(void *ctx, enum mct_space sp, uint32_t id)
{
	struct rec *r = ctx;

	return id < r->names[sp].nr ? r->names[sp].s[id] : NULL;
}

static void noop(void *ctx, const struct world_prim *p)
{
	(void)ctx;
	(void)p;
}

static struct mct_event ev_new(enum mct_kind kind)
{
	struct mct_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.kind = kind;
	ev.mm = ev.mm2 = ev.folio = ev.vma = MCT_NO_ID;
	return ev;
}

/* Check an event against the world, then write it. */
static void put(struct rec *r, const struct mct_event *ev)
{
	struct mct_names nm = { name_cb, r };
	char err[256];

	if (world_apply(r->world, ev, noop, NULL, err, sizeof(err))) {
		r->sum->rejected++;
		if (r->o->verbose || r->warned < 5) {
			r->warned++;
			fprintf(stderr,
				"mapcount record: internal: left out %s "
				"(mm %s, folio %s): %s\n",
				mct_kind_name(ev->kind),
				ev->mm != MCT_NO_ID ? r->names[0].s[ev->mm]
						    : "-",
				ev->folio != MCT_NO_ID
					? r->names[1].s[ev->folio]
					: "-",
				err);
		}
		return;
	}
	if (mct_write_event(r->w, ev, &nm))
		r->write_failed = true;
	r->sum->events[ev->kind]++;
}

struct rec *model_new(const struct rec_opts *o, struct mct_writer *w,
		      struct rec_summary *sum)
{
	struct rec *r = calloc(1, sizeof(*r));
	struct mct_header h = { .page_size = 4096,
				.pmd_order = PMD_ORDER,
				.pud_order = 18 };

	if (!r)
		return NULL;
	r->o = o;
	r->w = w;
	r->sum = sum;
	r->world = world_new(&h);
	for (int i = 0; i < 4; i++)
		r->win_key[i] = UINT64_MAX;
	return r;
}

void model_set_bpf(struct rec *r, struct rec_bpf *b)
{
	r->bpf = b;
}

void model_free(struct rec *r)
{
	if (!r)
		return;
	for (int s = 0; s < MCT_NR_SPACES; s++) {
		for (uint32_t i = 0; i < r->names[s].nr; i++)
			free(r->names[s].s[i]);
		free(r->names[s].s);
	}
	for (uint32_t i = 0; i < r->nr_mms; i++) {
		free(r->mms[i]->pages);
		free(r->mms[i]->ranges);
		free(r->mms[i]);
	}
	free(r->mms);
	free(r->folios);
	free(r->touched);
	free(r->faults);
	free(r->carry);
	free(r->kids);
	free(r->mark);
	map_free(&r->vma_ids);
	map_free(&r->kid2mm);
	map_free(&r->head2folio);
	map_free(&r->pfn_gen);
	map_free(&r->alloc_at);
	free(r->alloc_ts);
	world_free(r->world);
	free(r);
}

/* ---- MMs ---- */

static struct rmm *mm_of_kid(struct rec *r, uint32_t kid)
{
	uint32_t id;

	if (!kid || !map_get(&r->kid2mm, kid, &id))
		return NULL;
	return r->mms[id]->live && r->mms[id]->kid == kid ? r->mms[id] : NULL;
}

static bool mm_name_used(struct rec *r, const char *s)
{
	for (uint32_t i = 0; i < r->names[MCT_SPACE_MM].nr; i++)
		if (!strcmp(r->names[MCT_SPACE_MM].s[i], s))
			return true;
	return false;
}

static struct rmm *mm_create(struct rec *r, pid_t pid, int gen, uint32_t kid)
{
	char name[64];
	struct rmm *m = calloc(1, sizeof(*m));

	if (!m)
		abort();
	if (gen)
		snprintf(name, sizeof(name), "p%d-%d", (int)pid, gen);
	else
		snprintf(name, sizeof(name), "p%d", (int)pid);
	/* a recycled pid: p123.2, p123.3, ... */
	for (int k = 2; mm_name_used(r, name); k++)
		snprintf(name + strcspn(name, "."), 16, ".%d", k);
	m->id = add_name(r, MCT_SPACE_MM, name);
	m->live = true;
	m->users = 1;
	m->rep = pid;
	m->kid = kid;
	m->dirty = true;
	m->born = now_ns();
	GROW(r->mms, r->cap_mms, (size_t)r->nr_mms + 1);
	r->mms[r->nr_mms++] = m;
	if (kid)
		map_put(&r->kid2mm, kid, m->id);
	r->sum->mms++;
	return m;
}

uint64_t model_event_ts(struct rec *r, pid_t pid, bool exec)
{
	for (size_t i = r->nr_kids; i-- > 0;)
		if (r->kids[i].pid == pid && r->kids[i].exec == exec)
			return r->kids[i].ts;
	return 0;
}

void model_fork_handled(struct rec *r, pid_t child)
{
	for (size_t i = r->nr_kids; i-- > 0;)
		if (r->kids[i].pid == child && !r->kids[i].exec) {
			r->kids[i].handled = true;
			return;
		}
}

bool model_fork_pending(struct rec *r, uint64_t before)
{
	for (size_t i = r->nr_kids; i-- > 0;)
		if (!r->kids[i].exec && !r->kids[i].handled &&
		    r->kids[i].ts < before)
			return true;
	return false;
}

uint32_t model_kid_of(struct rec *r, pid_t pid, bool exec)
{
	for (size_t i = r->nr_kids; i-- > 0;)
		if (r->kids[i].pid == pid && r->kids[i].exec == exec)
			return r->kids[i].kid;
	return 0;
}

struct rmm *model_mm_new(struct rec *r, pid_t pid, int gen, struct rmm *parent,
			 const char *comm, uint32_t kid)
{
	struct rmm *m = mm_create(r, pid, gen, kid);
	struct mct_event ev = ev_new(MCT_MM);

	ev.mm = m->id;
	if (parent)
		ev.mm2 = parent->id;
	ev.comm = comm;
	put(r, &ev);
	model_sync_all(r, m);
	return m;
}

/* ---- folios ---- */

static const char *vma_tag(const struct pvma *v, char *buf, size_t len)
{
	const char *p = v->path, *base;
	size_t n = 0;

	if (!*p)
		return "anon";
	if (*p == '[')
		p++;
	else if ((base = strrchr(p, '/')))
		p = base + 1;
	n = strcspn(p, "]");
	n = n < len - 1 ? n : len - 1;
	memcpy(buf, p, n);
	buf[n] = 0;
	n = 0;
	for (char *c = buf; *c && n < 32; c++, n++)
		if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwx"
			    "yz"
			    "0123456789_.-",
			    *c))
			*c = '_';
	buf[n] = 0;
	return *buf ? buf : "anon";
}

static uint32_t vma_id(struct rec *r, const struct pvma *v)
{
	char tag[64], name[96];
	uint64_t h;
	uint32_t id;

	snprintf(name, sizeof(name), "%s:%" PRIx64,
		 vma_tag(v, tag, sizeof(tag)), v->start);
	for (h = hash_str(name);; h++) {
		if (!map_get(&r->vma_ids, h, &id))
			break;
		if (!strcmp(r->names[MCT_SPACE_VMA].s[id], name))
			return id;
	}
	id = add_name(r, MCT_SPACE_VMA, name);
	map_put(&r->vma_ids, h, id);
	return id;
}

/* The live, not stale folio that holds pfn, or NO_FOLIO. */
static uint32_t folio_of_pfn(struct rec *r, uint64_t pfn)
{
	for (uint32_t k = 0; k <= PMD_ORDER; k++) {
		uint64_t head = pfn & ~((1ull << k) - 1);
		uint32_t f;

		if (!map_get(&r->head2folio, head, &f))
			continue;
		if (r->folios[f].live && !r->folios[f].stale &&
		    r->folios[f].order >= k &&
		    pfn < head + (1ull << r->folios[f].order))
			return f;
	}
	return NO_FOLIO;
}

static uint32_t folio_new(struct rec *r, uint64_t head, uint32_t order,
			  uint32_t owner, uint64_t now)
{
	char name[48];
	uint32_t gen = 0, f;
	struct rfolio *fo;

	map_get(&r->pfn_gen, head, &gen);
	if (gen)
		snprintf(name, sizeof(name), "pfn%" PRIx64 ".%u", head, gen);
	else
		snprintf(name, sizeof(name), "pfn%" PRIx64, head);
	map_put(&r->pfn_gen, head, gen + 1);
	f = add_name(r, MCT_SPACE_FOLIO, name);
	GROW(r->folios, r->cap_folios, (size_t)f + 1);
	r->nr_folios = f + 1;
	fo = &r->folios[f];
	memset(fo, 0, sizeof(*fo));
	fo->pfn = head;
	fo->order = order;
	fo->seen = now;
	fo->live = true;
	fo->owner = owner;
	if (map_get(&r->alloc_at, head, &gen) && r->alloc_ts[gen] <= now)
		fo->alloc_ts = r->alloc_ts[gen];
	map_put(&r->head2folio, head, f);
	return f;
}

/* kpageflags of the aligned PMD-sized window around pfn (cached). */
static const uint64_t *flags_window(struct rec *r, uint64_t pfn)
{
	uint64_t key = pfn / PMD_PAGES;
	int i;

	for (i = 0; i < 4; i++)
		if (r->win_key[i] == key)
			return r->win[i];
	i = r->win_next;
	r->win_next = (r->win_next + 1) % 4;
	if (kpage_flags(key * PMD_PAGES, PMD_PAGES, r->win[i])) {
		r->win_key[i] = UINT64_MAX;
		return NULL;
	}
	r->win_key[i] = key;
	return r->win[i];
}

/* Resolve a PFN seen for the first time at an address. */
static void classify(struct rec *r, struct rmm *m, struct rpage *e,
		     uint64_t now, struct u64map *own)
{
	const uint64_t *w;
	uint64_t fl, idx, head, n = 1;
	uint32_t f = folio_of_pfn(r, e->pfn), order = 0, one;

	e->level = MCT_PTE;
	/* a live folio of another MM: its PFN was freed and reused */
	if (f != NO_FOLIO && !map_get(own, f, &one)) {
		if (r->o->verbose)
			fprintf(stderr,
				"record: %s maps %s's pfn %#" PRIx64
				" at %#" PRIx64 ": a new folio\n",
				r->names[0].s[m->id], r->names[1].s[f], e->pfn,
				e->vpn << 12);
		r->folios[f].stale = true;
		f = NO_FOLIO;
	}
	if (f != NO_FOLIO) {
		e->folio = f;
		e->page = (uint32_t)(e->pfn - r->folios[f].pfn);
		return;
	}
	e->folio = NO_FOLIO;
	e->page = 0;
	idx = e->pfn % PMD_PAGES;
	/* most pages are small: one entry, the window only for compound */
	if (kpage_flags(e->pfn, 1, &fl))
		return;
	if (fl & ((1ull << KPF_COMPOUND_HEAD) | (1ull << KPF_COMPOUND_TAIL))) {
		w = flags_window(r, e->pfn);
		if (!w)
			return;
		fl = w[idx];
	} else {
		w = NULL;
	}
	if (fl & (1ull << KPF_ZERO_PAGE)) {
		e->folio = ZERO_FOLIO;
		return;
	}
	if (!(fl & (1ull << KPF_ANON)) || (fl & (1ull << KPF_KSM)) ||
	    (fl & (1ull << KPF_HUGE)) || (fl & (1ull << KPF_NOPAGE)))
		return;
	head = idx;
	if (!w) {
		f = folio_new(r, e->pfn, 0, m->id, now);
		e->folio = f;
		return;
	}
	if (fl & (1ull << KPF_COMPOUND_TAIL)) {
		while (head > 0 && (w[head] & (1ull << KPF_COMPOUND_TAIL)))
			head--;
		if (!(w[head] & (1ull << KPF_COMPOUND_HEAD)))
			return; /* larger than a PMD, or changing */
	}
	if (w[head] & (1ull << KPF_COMPOUND_HEAD))
		while (head + n < PMD_PAGES &&
		       (w[head + n] & (1ull << KPF_COMPOUND_TAIL)))
			n++;
	while ((1ull << order) < n)
		order++;
	if ((1ull << order) != n || head % n)
		return; /* not a whole, aligned folio: racing with a split */
	head += e->pfn - idx;
	f = folio_new(r, head, order, m->id, now);
	e->folio = f;
	e->page = (uint32_t)(e->pfn - head);
}

/* ---- snapshots ---- */

static bool special_vma(const struct pvma *v)
{
	return !strcmp(v->path, "[vdso]") || !strcmp(v->path, "[vvar]") ||
	       !strcmp(v->path, "[vsyscall]") ||
	       !strcmp(v->path, "[vvar_vclock]");
}

static bool traced(uint32_t folio)
{
	return folio < ZERO_FOLIO;
}

static size_t lower_bound(const struct rpage *p, size_t n, uint64_t vpn)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p[mid].vpn < vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static void snap_free(struct snap *s)
{
	free(s->nw);
	free(s->ch);
	free(s->vmas);
	free(s->writable);
	free(s->reused);
	memset(s, 0, sizeof(*s));
}

static void add_change(struct snap *s, const struct rpage *o,
		       const struct rpage *n)
{
	struct change *c;

	GROW(s->ch, s->cap_ch, s->nr_ch + 1);
	c = &s->ch[s->nr_ch++];
	memset(c, 0, sizeof(*c));
	c->vpn = o ? o->vpn : n->vpn;
	if (o && traced(o->folio)) {
		c->old = *o;
		c->has_old = true;
	}
	if (n && traced(n->folio)) {
		c->nw = *n;
		c->has_nw = true;
	}
	if (!c->has_old && !c->has_nw)
		s->nr_ch--;
}

struct present {
	struct {
		uint64_t lo, hi; /* virtual pages */
		bool huge;
	} * r;
	size_t nr, cap;
};

static void add_present(void *ctx, uint64_t start, uint64_t end, uint64_t cat)
{
	struct present *p = ctx;

	GROW(p->r, p->cap, p->nr + 1);
	p->r[p->nr].lo = start >> PAGE_SHIFT_4K;
	p->r[p->nr].hi = end >> PAGE_SHIFT_4K;
	p->r[p->nr].huge = cat & SCAN_HUGE;
	p->nr++;
}

/* The present entries of virtual pages [a, b) of a VMA, into s->nw. */
static void read_range(struct rec *r, struct snap *s, int fd,
		       const struct pvma *pv, uint64_t a, uint64_t b, bool huge,
		       uint64_t *buf)
{
	uint32_t vid = UINT32_MAX;

	for (uint64_t at = a; at < b;) {
		uint64_t n = b - at < 4096 ? b - at : 4096;

		if (proc_pagemap_read(fd, at, n, buf))
			return;
		for (uint64_t k = 0; k < n; k++) {
			struct rpage *e;
			uint64_t pfn = buf[k] & PM_PFN_MASK;

			if (!(buf[k] & PM_PRESENT) || !pfn)
				continue;
			if (vid == UINT32_MAX)
				vid = vma_id(r, pv);
			GROW(s->nw, s->cap_nw, s->nr_nw + 1);
			e = &s->nw[s->nr_nw++];
			memset(e, 0, sizeof(*e));
			e->vpn = at + k;
			e->pfn = pfn;
			e->vma = vid;
			e->folio = NO_FOLIO; /* resolved below */
			e->huge = huge;
		}
		at += n;
	}
}

/*
 * Has m's /proc representative exec'ed since m was born, its exec not yet
 * handled?  /proc/PID then shows the new image, not m.
 */
static bool execed(struct rec *r, const struct rmm *m)
{
	uint64_t ts = model_event_ts(r, m->rep, true);

	if (ts && ts > m->born && r->o->verbose)
		fprintf(stderr,
			"record: skip %s (rep %d exec'ed at %" PRIu64
			", born %" PRIu64 ")\n",
			r->names[0].s[m->id], (int)m->rep, ts, m->born);
	return ts && ts > m->born;
}

/*
 * Read m's page table entries in [lo, hi) and work out what changed since
 * the model's.  Returns -1 when the process is gone, or is another MM now.
 */
static int prepare(struct rec *r, struct rmm *m, uint64_t lo, uint64_t hi,
		   struct snap *s)
{
	uint64_t now = now_ns(), buf[4096];
	struct u64map own = { 0 };
	size_t i, j, o_lo, o_hi;
	int fd;

	memset(s, 0, sizeof(*s));
	s->m = m;
	s->lo = lo;
	s->hi = hi;
	for (i = 0; i < 4; i++) /* page flags change: read them afresh */
		r->win_key[i] = UINT64_MAX;
	if (!m->live || !m->rep || proc_maps(m->rep, &s->vmas, &s->nr_vmas))
		return -1;
	fd = proc_pagemap_open(m->rep);
	if (fd < 0) {
		snap_free(s);
		return -1;
	}
	if (execed(r, m)) {
		close(fd);
		snap_free(s);
		return -1;
	}
	r->sum->syncs++;
	s->writable = xrealloc(NULL, (s->nr_vmas + 1) * sizeof(bool));
	for (size_t v = 0; v < s->nr_vmas; v++) {
		const struct pvma *pv = &s->vmas[v];
		uint64_t a = pv->start >> PAGE_SHIFT_4K,
			 b = pv->end >> PAGE_SHIFT_4K;
		struct present pr = { .nr = 0 };

		s->writable[v] = pv->perms[1] == 'w';
		if (special_vma(pv) || pv->perms[3] == 's')
			continue;
		a = a > lo ? a : lo;
		b = b < hi ? b : hi;
		if (a >= b)
			continue;
		/* only where pages are present: ASan reserves terabytes */
		if (proc_scan(fd, a << PAGE_SHIFT_4K, b << PAGE_SHIFT_4K,
			      SCAN_PRESENT, SCAN_PRESENT | SCAN_HUGE,
			      add_present, &pr)) {
			pr.nr = 0;
			add_present(&pr, a << PAGE_SHIFT_4K, b << PAGE_SHIFT_4K,
				    0);
		}
		for (size_t g = 0; g < pr.nr; g++)
			read_range(r, s, fd, pv, pr.r[g].lo, pr.r[g].hi,
				   pr.r[g].huge, buf);
		free(pr.r);
	}
	/* A page seen now was allocated before now: an allocation of its
	 * PFN after now is a new folio (see mark_stale()).  The allocations
	 * up to now, of any MM, must be known before classifying. */
	now = s->taken = now_ns();
	/* the folios m maps: only fork shares anonymous folios, and the
	 * model makes fork's copies itself */
	for (i = 0; i < m->nr_pages; i++)
		if (traced(m->pages[i].folio))
			map_put(&own, m->pages[i].folio, 1);
	/* Resolve: an unchanged PFN at an address keeps what it was. */
	o_lo = lower_bound(m->pages, m->nr_pages, lo);
	o_hi = lower_bound(m->pages, m->nr_pages, hi);
	for (i = 0, j = o_lo; i < s->nr_nw; i++) {
		struct rpage *e = &s->nw[i];

		while (j < o_hi && m->pages[j].vpn < e->vpn)
			j++;
		if (j < o_hi && m->pages[j].vpn == e->vpn &&
		    m->pages[j].pfn == e->pfn &&
		    (!traced(m->pages[j].folio) ||
		     (r->folios[m->pages[j].folio].live &&
		      !r->folios[m->pages[j].folio].stale))) {
			uint32_t vid = e->vma;
			uint8_t huge = e->huge;

			*e = m->pages[j];
			e->huge = huge;
			if (!traced(e->folio))
				e->vma = vid;
			continue;
		}
		classify(r, m, e, now, &own);
		if (traced(e->folio)) /* its other pages are m's too */
			map_put(&own, e->folio, 1);
	}
	map_free(&own);
	close(fd);
	/* A PMD mapping covers its whole aligned folio, or it is not one. */
	for (i = 0; i < s->nr_nw; i++) {
		struct rpage *e = &s->nw[i];

		e->level = e->huge ? MCT_PMD : MCT_PTE;
		if (e->level == MCT_PMD &&
		    (!traced(e->folio) ||
		     r->folios[e->folio].order != PMD_ORDER ||
		     e->page != e->vpn % PMD_PAGES))
			e->level = MCT_PTE;
	}
	/* The changes, in address order. */
	for (i = 0, j = o_lo; i < s->nr_nw || j < o_hi;) {
		const struct rpage *o = j < o_hi ? &m->pages[j] : NULL;
		const struct rpage *n = i < s->nr_nw ? &s->nw[i] : NULL;

		if (o && (!n || o->vpn < n->vpn)) {
			add_change(s, o, NULL);
			j++;
		} else if (n && (!o || n->vpn < o->vpn)) {
			add_change(s, NULL, n);
			i++;
		} else {
			if (o->folio != n->folio || o->page != n->page ||
			    o->level != n->level || o->pfn != n->pfn)
				add_change(s, o, n);
			i++;
			j++;
		}
	}
	return 0;
}

/* ---- writing the changes ---- */

static void touch(struct rec *r, uint32_t f)
{
	GROW(r->touched, r->cap_touched, r->nr_touched + 1);
	r->touched[r->nr_touched++] = f;
}

static void rmap_event(struct rec *r, enum mct_kind kind, struct rmm *m,
		       const struct rpage *p, uint64_t nr, bool excl)
{
	struct mct_event ev = ev_new(kind);
	struct rfolio *fo = &r->folios[p->folio];

	ev.mm = m->id;
	ev.folio = p->folio;
	ev.vma = p->vma;
	ev.level = p->level;
	if (p->level == MCT_PMD) {
		ev.first = 0;
		ev.nr = PMD_PAGES;
	} else {
		ev.first = p->page;
		ev.nr = nr;
	}
	if (excl)
		ev.flags |= MCT_F_EXCL;
	put(r, &ev);
	if (kind == MCT_MAP) {
		fo->mapped += ev.nr;
	} else {
		fo->mapped -= ev.nr < fo->mapped ? ev.nr : fo->mapped;
		touch(r, p->folio);
	}
}

static void announce(struct rec *r, uint32_t f)
{
	struct rfolio *fo = &r->folios[f];
	struct mct_event ev = ev_new(MCT_ALLOC);

	if (fo->announced)
		return;
	fo->announced = true;
	ev.folio = f;
	ev.order = fo->order;
	ev.type = MCT_ANON;
	ev.pfn = fo->pfn;
	ev.flags = MCT_F_TYPE | MCT_F_PFN;
	put(r, &ev);
}

static void frees(struct rec *r)
{
	for (size_t i = 0; i < r->nr_touched; i++) {
		uint32_t f = r->touched[i];
		struct rfolio *fo = &r->folios[f];
		struct mct_event ev = ev_new(MCT_FREE);

		if (!fo->live || fo->mapped)
			continue;
		fo->live = false;
		if (!fo->announced)
			continue;
		ev.folio = f;
		put(r, &ev);
	}
	r->nr_touched = 0;
}

static struct change *change_at(struct snap *s, uint64_t vpn)
{
	size_t lo = 0, hi = s->nr_ch;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (s->ch[mid].vpn < vpn)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < s->nr_ch && s->ch[lo].vpn == vpn ? &s->ch[lo] : NULL;
}

static const struct rpage *new_at(struct snap *s, uint64_t vpn)
{
	size_t i = lower_bound(s->nw, s->nr_nw, vpn);

	return i < s->nr_nw && s->nw[i].vpn == vpn ? &s->nw[i] : NULL;
}

static bool vpn_writable(const struct snap *s, uint64_t vpn)
{
	for (size_t v = 0; v < s->nr_vmas; v++)
		if (vpn >= s->vmas[v].start >> PAGE_SHIFT_4K &&
		    vpn < s->vmas[v].end >> PAGE_SHIFT_4K)
			return s->writable[v];
	return false;
}

/* 1. PMDs now mapped by PTEs of the same folio: split them. */
static void splits(struct rec *r, struct snap *s)
{
	for (size_t i = 0; i < s->nr_ch; i++) {
		struct change *c = &s->ch[i];
		uint64_t base;
		bool split = false;

		if (!c->has_old || c->old.level != MCT_PMD)
			continue;
		base = c->vpn - c->old.page;
		for (uint64_t v = base; v < base + PMD_PAGES && !split; v++) {
			const struct rpage *n = new_at(s, v);

			split = n && n->folio == c->old.folio &&
				n->level == MCT_PTE;
		}
		if (!split)
			continue;
		{
			struct rpage pte = c->old;

			pte.level = MCT_PTE;
			pte.page = 0;
			rmap_event(r, MCT_MAP, s->m, &pte, PMD_PAGES, false);
			rmap_event(r, MCT_UNMAP, s->m, &c->old, PMD_PAGES,
				   false);
		}
		for (size_t k = i;
		     k < s->nr_ch && s->ch[k].vpn < base + PMD_PAGES; k++) {
			struct change *d = &s->ch[k];

			if (!d->has_old || d->old.folio != c->old.folio ||
			    d->old.level != MCT_PMD)
				continue;
			d->old.level = MCT_PTE;
			if (d->has_nw && d->nw.folio == d->old.folio &&
			    d->nw.page == d->old.page && d->nw.level == MCT_PTE)
				d->done = true;
		}
	}
}

enum item_kind { IT_FAULT, IT_REMOVAL, IT_COPY_DONE, IT_EXIT, IT_NOP };

struct item {
	uint64_t ts;
	enum item_kind kind;
	struct snap *s;
	struct change *c; /* IT_REMOVAL */
	const struct rfault *f;
	struct rmm *m; /* IT_COPY_DONE: m's old page gives way to nw */
	pid_t tid;     /* IT_COPY_DONE: the faulting thread */
	struct rpage old, nw;
};

static int item_cmp(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->ts != y->ts)
		return x->ts < y->ts ? -1 : 1;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->kind == IT_REMOVAL && x->c && y->c && x->c->vpn != y->c->vpn)
		return x->c->vpn < y->c->vpn ? -1 : 1;
	return 0;
}

static void cow_event(struct rec *r, struct rmm *m, const struct rpage *p,
		      bool copy)
{
	struct mct_event ev = ev_new(MCT_COW);

	ev.mm = m->id;
	ev.folio = p->folio;
	ev.first = p->page;
	ev.expect = copy ? MCT_EXPECT_COPY : MCT_EXPECT_REUSE;
	put(r, &ev);
	if (copy)
		r->sum->cow_copy++;
	else
		r->sum->cow_reuse++;
}

/* wp_page_copy() done: the new page replaces the old one. */
static void copy_done(struct rec *r, struct rmm *m, const struct rpage *old,
		      const struct rpage *nw)
{
	rmap_event(r, MCT_UNMAP, m, old, 1, false);
	announce(r, nw->folio);
	rmap_event(r, MCT_MAP, m, nw, 1, true);
}

/* Complete the copies carried over from earlier snapshots. */
static void flush_carry(struct rec *r)
{
	for (size_t i = 0; i < r->nr_carry; i++)
		if (r->carry[i].m->live)
			copy_done(r, r->carry[i].m, &r->carry[i].old,
				  &r->carry[i].nw);
	r->nr_carry = 0;
	frees(r);
}

enum outcome { F_NONE, F_REUSE, F_COPY };

/*
 * What a write fault was: a copy when a new order-0 folio replaced the
 * present anon page it hit (*cp: the change), a reuse when the page stayed
 * (*np: the page), else nothing the trace models (first touch, zero page,
 * a private file page, a write to a read-only VMA).
 */
static enum outcome outcome(struct rec *r, struct snap *s,
			    const struct rfault *f, struct change **cp,
			    const struct rpage **np)
{
	struct change *c = change_at(s, f->vpn);
	const struct rpage *n;
	struct rfolio *nf;

	if (!(f->err & REC_PF_PROT) || !vpn_writable(s, f->vpn))
		return F_NONE;
	if (c) {
		/* a copy is a new page while the old one is mapped: never
		 * the same PFN (that is a freed page reused) */
		if (c->done || !c->has_old || !c->has_nw ||
		    c->old.folio == c->nw.folio || c->old.pfn == c->nw.pfn ||
		    c->old.level != MCT_PTE)
			return F_NONE;
		nf = &r->folios[c->nw.folio];
		if (nf->announced || nf->order != 0 || nf->owner != s->m->id)
			return F_NONE;
		*cp = c;
		return F_COPY;
	}
	n = new_at(s, f->vpn);
	if (!n || !traced(n->folio) || !r->folios[n->folio].announced)
		return F_NONE;
	/* at most one reuse per page and snapshot */
	for (size_t k = 0; k < s->nr_reused; k++)
		if (s->reused[k] == f->vpn)
			return F_NONE;
	*np = n;
	return F_REUSE;
}

static bool same_run(const struct rpage *a, const struct rpage *b)
{
	return a->folio == b->folio && a->vma == b->vma &&
	       a->level == MCT_PTE && b->level == MCT_PTE &&
	       b->vpn == a->vpn + 1 && b->page == a->page + 1;
}

/* Does a fault at vpn of s hit folio? */
static bool hits_folio(struct snap *s, uint64_t vpn, uint32_t folio)
{
	struct change *c = change_at(s, vpn);
	const struct rpage *n;

	if (c)
		return c->has_old && c->old.folio == folio;
	n = new_at(s, vpn);
	return n && n->folio == folio;
}

/* A min-heap of items by time (item_cmp). */
struct heap {
	struct item *a;
	size_t n, cap;
};

static void heap_push(struct heap *h, const struct item *x)
{
	size_t i;

	GROW(h->a, h->cap, h->n + 1);
	i = h->n++;
	h->a[i] = *x;
	while (i && item_cmp(&h->a[(i - 1) / 2], &h->a[i]) > 0) {
		struct item t = h->a[i];

		h->a[i] = h->a[(i - 1) / 2];
		h->a[(i - 1) / 2] = t;
		i = (i - 1) / 2;
	}
}

static void heap_pop(struct heap *h, struct item *out)
{
	size_t i = 0;

	*out = h->a[0];
	h->a[0] = h->a[--h->n];
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		struct item t;

		if (l < h->n && item_cmp(&h->a[l], &h->a[m]) < 0)
			m = l;
		if (r < h->n && item_cmp(&h->a[r], &h->a[m]) < 0)
			m = r;
		if (m == i)
			break;
		t = h->a[i];
		h->a[i] = h->a[m];
		h->a[m] = t;
		i = m;
	}
}

/*
 * How long after its allocation a copy may still leave the old page
 * mapped: the copy, the page table lock, the PTE switch.  Two MMs writing
 * a shared page within that window may both copy it, and do.
 */
#define COPY_WINDOW_NS 50000

/*
 * The timed removals and the faults of the snapshots, in time order.  A
 * copy completes (old page unmapped, new one mapped) COPY_WINDOW_NS after
 * its new page's allocation, or earlier: right before a reuse of the same
 * folio, which the kernel could only decide once the copy was done.  Among
 * the orders the timestamps allow, that is the one the kernel's own
 * outcomes require.
 */
struct gone {
	struct rmm *m;
	uint64_t ts; /* the kernel released it (exec) */
};

static void exit_events(struct rec *r, struct rmm *m);

/* Complete the copies still pending for thread tid: in the heap, and
 * those this snapshot would carry over. */
static void thread_copies_done(struct rec *r, struct heap *h, pid_t tid)
{
	size_t keep = 0;

	for (size_t j = 0; j < h->n; j++)
		if (h->a[j].kind == IT_COPY_DONE && h->a[j].tid == tid) {
			copy_done(r, h->a[j].m, &h->a[j].old, &h->a[j].nw);
			h->a[j].kind = IT_NOP;
		}
	for (size_t j = 0; j < r->nr_carry; j++) {
		if (r->carry[j].tid == tid)
			copy_done(r, r->carry[j].m, &r->carry[j].old,
				  &r->carry[j].nw);
		else
			r->carry[keep++] = r->carry[j];
	}
	r->nr_carry = keep;
}

static void timed(struct rec *r, struct snap *snaps, int nr,
		  const struct gone *gone, int nr_gone)
{
	struct item *it = NULL;
	struct heap h = { NULL, 0, 0 }; /* copies to complete, by time */
	size_t n = 0, cap = 0, kept = 0;

	for (size_t i = 0; i < r->nr_faults; i++) {
		const struct rfault *f = &r->faults[i];
		int k;

		for (k = 0; k < nr; k++)
			if (snaps[k].m->kid && f->kid == snaps[k].m->kid &&
			    f->vpn >= snaps[k].lo && f->vpn < snaps[k].hi)
				break;
		if (k == nr)
			continue;
		GROW(it, cap, n + 1);
		it[n++] = (struct item){
			.ts = f->ts, .kind = IT_FAULT, .s = &snaps[k], .f = f
		};
	}
	for (int k = 0; k < nr; k++) {
		struct rmm *m = snaps[k].m;

		for (size_t i = 0; i < snaps[k].nr_ch; i++) {
			struct change *c = &snaps[k].ch[i];

			if (!c->has_old || c->done)
				continue;
			for (size_t g = 0; g < m->nr_ranges; g++)
				if (m->ranges[g].ts &&
				    c->vpn >= m->ranges[g].lo &&
				    c->vpn < m->ranges[g].hi) {
					GROW(it, cap, n + 1);
					it[n++] = (struct item){
						.ts = m->ranges[g].ts,
						.kind = IT_REMOVAL,
						.s = &snaps[k],
						.c = c
					};
					break;
				}
		}
	}
	for (int g = 0; g < nr_gone; g++) {
		GROW(it, cap, n + 1);
		it[n++] = (struct item){ .ts = gone[g].ts,
					 .kind = IT_EXIT,
					 .m = gone[g].m };
	}
	if (n)
		qsort(it, n, sizeof(*it), item_cmp);
	/* copies carried over from the last snapshot complete in order */
	for (size_t k = 0; k < r->nr_carry; k++)
		heap_push(&h, &(struct item){ .ts = r->carry[k].ts,
					      .kind = IT_COPY_DONE,
					      .m = r->carry[k].m,
					      .tid = r->carry[k].tid,
					      .old = r->carry[k].old,
					      .nw = r->carry[k].nw });
	r->nr_carry = 0;
	for (size_t i = 0;;) {
		struct item cur, done;
		struct item *x = &cur;
		struct change *c = NULL;
		const struct rpage *np = NULL;
		size_t at;

		if (h.n && (i >= n || item_cmp(&h.a[0], &it[i]) <= 0))
			heap_pop(&h, &cur);
		else if (i < n)
			cur = it[i++];
		else
			break;
		switch (x->kind) {
		case IT_NOP:
			continue;
		case IT_COPY_DONE:
			copy_done(r, x->m, &x->old, &x->nw);
			continue;
		case IT_EXIT:
			/* exec_mmap() released it before we heard of the
			 * exec: its exit goes where the kernel did it */
			exit_events(r, x->m);
			continue;
		case IT_REMOVAL: {
			size_t j = i;

			if (x->c->done || !x->c->has_old)
				continue;
			if (x->c->old.level == MCT_PMD) {
				/* the whole PMD: every change of its block */
				uint64_t base = x->c->vpn - x->c->old.page;
				struct rpage pmd = x->c->old;

				for (uint64_t v = base; v < base + PMD_PAGES;
				     v++) {
					struct change *d = change_at(x->s, v);

					if (d && d->has_old &&
					    d->old.folio == pmd.folio &&
					    d->old.level == MCT_PMD) {
						d->has_old = false;
						d->done = !d->has_nw;
					}
				}
				rmap_event(r, MCT_UNMAP, x->s->m, &pmd,
					   PMD_PAGES, false);
				continue;
			}
			/* a run of pages the same syscall removed */
			while (j < n && it[j].kind == IT_REMOVAL &&
			       it[j].ts == x->ts && it[j].s == x->s &&
			       !it[j].c->done && it[j].c->has_old &&
			       same_run(j == i ? &x->c->old : &it[j - 1].c->old,
					&it[j].c->old))
				j++;
			rmap_event(r, MCT_UNMAP, x->s->m, &x->c->old,
				   1 + (j - i), false);
			x->c->has_old = false;
			x->c->done = !x->c->has_nw;
			for (size_t k = i; k < j; k++) {
				it[k].c->has_old = false;
				it[k].c->done = !it[k].c->has_nw;
			}
			i = j;
			continue;
		}
		case IT_FAULT:
			/* the thread's earlier fault returned before it
			 * could fault again: its copy is complete
			 * (wp_page_copy() maps the new page and removes
			 * the old one under one page table lock) */
			thread_copies_done(r, &h, x->f->tid);
			break;
		}
		switch (outcome(r, x->s, x->f, &c, &np)) {
		case F_NONE:
			continue;
		case F_REUSE:
			/* a reuse needs the other mappings gone: copies of
			 * the folio by others that were in flight with it
			 * happened first */
			for (size_t j = i; j < n; j++) {
				struct change *oc = NULL;
				const struct rpage *on = NULL;

				if (it[j].ts > x->ts + COPY_WINDOW_NS)
					break;
				if (it[j].kind != IT_FAULT || it[j].s == x->s ||
				    outcome(r, it[j].s, it[j].f, &oc, &on) !=
					    F_COPY ||
				    oc->old.folio != np->folio)
					continue;
				cow_event(r, it[j].s->m, &oc->old, true);
				oc->done = true;
				copy_done(r, it[j].s->m, &oc->old, &oc->nw);
				it[j].kind = IT_NOP;
			}
			for (size_t j = 0; j < h.n; j++)
				if (h.a[j].kind == IT_COPY_DONE &&
				    h.a[j].old.folio == np->folio) {
					copy_done(r, h.a[j].m, &h.a[j].old,
						  &h.a[j].nw);
					h.a[j].kind = IT_NOP;
				}
			GROW(x->s->reused, x->s->cap_reused,
			     x->s->nr_reused + 1);
			x->s->reused[x->s->nr_reused++] = x->f->vpn;
			cow_event(r, x->s->m, np, false);
			continue;
		case F_COPY:
			break;
		}
		cow_event(r, x->s->m, &c->old, true);
		c->done = true;
		done = (struct item){ .ts = r->folios[c->nw.folio].alloc_ts,
				      .kind = IT_COPY_DONE,
				      .m = x->s->m,
				      .tid = x->f->tid,
				      .old = c->old,
				      .nw = c->nw };
		if (done.ts < x->ts)
			done.ts = x->ts;
		done.ts += COPY_WINDOW_NS;
		if (r->o->verbose)
			fprintf(stderr,
				"record: %s copies %s page %u (address "
				"%#" PRIx64 ", error %#" PRIx64 ") at %" PRIu64
				", allocated at %" PRIu64 "\n",
				r->names[0].s[x->s->m->id],
				r->names[1].s[c->old.folio], c->old.page,
				x->f->vpn << PAGE_SHIFT_4K, x->f->err, x->f->ts,
				r->folios[c->nw.folio].alloc_ts);
		for (at = i; at < n && item_cmp(&it[at], &done) <= 0; at++)
			if (it[at].kind == IT_FAULT && it[at].s != x->s &&
			    hits_folio(it[at].s, it[at].f->vpn, c->old.folio))
				break;
		if (at < n && item_cmp(&it[at], &done) <= 0) {
			heap_push(&h, &done); /* another MM in flight */
			continue;
		}
		if (done.ts <= r->drained_at) {
			/* nobody else was in flight */
			copy_done(r, x->s->m, &c->old, &c->nw);
			continue;
		}
		/* a fault of another MM may still come in flight with this
		 * copy: complete it at the next snapshot */
		GROW(r->carry, r->cap_carry, r->nr_carry + 1);
		r->carry[r->nr_carry++] =
			(struct carried){ done.ts, done.m, done.tid, done.old,
					  done.nw };
	}
	free(h.a);
	free(it);
	/* drop the faults these snapshots explained */
	for (size_t i = 0; i < r->nr_faults; i++) {
		const struct rfault *f = &r->faults[i];
		int k;

		for (k = 0; k < nr; k++)
			if (snaps[k].m->kid && f->kid == snaps[k].m->kid &&
			    f->vpn >= snaps[k].lo && f->vpn < snaps[k].hi)
				break;
		if (k == nr)
			r->faults[kept++] = *f;
	}
	r->nr_faults = kept;
	/* and the syscall ranges they covered */
	for (int k = 0; k < nr; k++) {
		struct rmm *m = snaps[k].m;
		size_t keep = 0;

		for (size_t g = 0; g < m->nr_ranges; g++) {
			struct rrange *rg = &m->ranges[g];

			if (!(rg->ts && rg->lo >= snaps[k].lo &&
			      rg->hi <= snaps[k].hi))
				m->ranges[keep++] = *rg;
		}
		m->nr_ranges = keep;
	}
}

/* 3. The rest: removals, then additions, in runs. */
static void rest(struct rec *r, struct snap *s, uint64_t first_new)
{
	struct rmm *m = s->m;

	for (size_t i = 0; i < s->nr_ch;) {
		struct change *c = &s->ch[i];
		size_t j = i + 1;

		if (c->done || !c->has_old) {
			i++;
			continue;
		}
		if (c->old.level == MCT_PMD) {
			rmap_event(r, MCT_UNMAP, m, &c->old, PMD_PAGES, false);
			while (j < s->nr_ch && s->ch[j].has_old &&
			       !s->ch[j].done &&
			       s->ch[j].old.folio == c->old.folio &&
			       s->ch[j].old.level == MCT_PMD &&
			       s->ch[j].vpn < c->vpn - c->old.page + PMD_PAGES)
				j++;
		} else {
			while (j < s->nr_ch && s->ch[j].has_old &&
			       !s->ch[j].done &&
			       same_run(&s->ch[j - 1].old, &s->ch[j].old))
				j++;
			rmap_event(r, MCT_UNMAP, m, &c->old, j - i, false);
		}
		i = j;
	}
	for (size_t i = 0; i < s->nr_ch;) {
		struct change *c = &s->ch[i];
		struct rfolio *fo;
		size_t j = i + 1;
		bool excl;

		if (c->done || !c->has_nw) {
			i++;
			continue;
		}
		fo = &r->folios[c->nw.folio];
		excl = fo->owner == m->id && fo->seen >= first_new;
		announce(r, c->nw.folio);
		if (c->nw.level == MCT_PMD) {
			while (j < s->nr_ch && s->ch[j].has_nw &&
			       !s->ch[j].done &&
			       s->ch[j].nw.folio == c->nw.folio &&
			       s->ch[j].nw.level == MCT_PMD &&
			       s->ch[j].vpn < c->vpn - c->nw.page + PMD_PAGES)
				j++;
			rmap_event(r, MCT_MAP, m, &c->nw, PMD_PAGES, excl);
		} else {
			while (j < s->nr_ch && s->ch[j].has_nw &&
			       !s->ch[j].done &&
			       same_run(&s->ch[j - 1].nw, &s->ch[j].nw))
				j++;
			rmap_event(r, MCT_MAP, m, &c->nw, j - i, excl);
		}
		i = j;
	}
}

/* 4. The model takes the snapshot. */
static void commit(struct snap *s)
{
	struct rmm *m = s->m;
	size_t a = lower_bound(m->pages, m->nr_pages, s->lo);
	size_t b = lower_bound(m->pages, m->nr_pages, s->hi);
	size_t n = a + s->nr_nw + (m->nr_pages - b);
	struct rpage *p = xrealloc(NULL, n * sizeof(*p));

	if (a)
		memcpy(p, m->pages, a * sizeof(*p));
	if (s->nr_nw)
		memcpy(p + a, s->nw, s->nr_nw * sizeof(*p));
	if (m->nr_pages > b)
		memcpy(p + a + s->nr_nw, m->pages + b,
		       (m->nr_pages - b) * sizeof(*p));
	free(m->pages);
	m->pages = p;
	m->nr_pages = m->cap_pages = n;
}

static void write_snaps(struct rec *r, struct snap *snaps, int nr,
			uint64_t first_new, const struct gone *gone,
			int nr_gone)
{
	for (int k = 0; k < nr; k++)
		splits(r, &snaps[k]);
	timed(r, snaps, nr, gone, nr_gone);
	for (int k = 0; k < nr; k++)
		rest(r, &snaps[k], first_new);
	for (int k = 0; k < nr; k++) {
		commit(&snaps[k]);
		snap_free(&snaps[k]);
	}
	frees(r);
}

void model_sync_all(struct rec *r, struct rmm *m)
{
	struct snap *snaps = xrealloc(NULL, (r->nr_mms + 1) * sizeof(*snaps));
	struct gone *gone = calloc(r->nr_mms + 1, sizeof(*gone));
	uint64_t t0 = now_ns();
	int n = 0, ng = 0;

	if (!gone)
		abort();
	model_drain(r);
	for (uint32_t i = 0; i < r->nr_mms; i++) {
		struct rmm *x = r->mms[i];

		if (!x->live)
			continue;
		if (execed(r, x)) {
			uint64_t ts = model_event_ts(r, x->rep, true);

			/* its only task exec'ed: the MM is gone already, after
			 * the forks the kernel did before (handled first) */
			if (x->users == 1 && !model_fork_pending(r, ts))
				gone[ng++] = (struct gone){ x, ts };
			continue;
		}
		if (!(x->dirty || !x->kid || x == m))
			continue;
		x->dirty = false; /* faults after the snapshot dirty it again */
		if (prepare(r, x, 0, UINT64_MAX >> PAGE_SHIFT_4K, &snaps[n])) {
			x->dirty = true;
			continue;
		}
		n++;
	}
	write_snaps(r, snaps, n, t0, gone, ng);
	free(snaps);
	free(gone);
	/* faults of MMs that are gone */
	{
		size_t kept = 0;

		for (size_t i = 0; i < r->nr_faults; i++)
			if (mm_of_kid(r, r->faults[i].kid))
				r->faults[kept++] = r->faults[i];
		r->nr_faults = kept;
	}
}

/* The traced folio m maps at vpn, or NO_FOLIO. */
static uint32_t folio_at(const struct rmm *m, uint64_t vpn)
{
	size_t i = lower_bound(m->pages, m->nr_pages, vpn);

	return i < m->nr_pages && m->pages[i].vpn == vpn ? m->pages[i].folio
							 : NO_FOLIO;
}

/*
 * Does a pending fault of m in [lo, hi) hit a folio that a pending fault of
 * another MM hits too?  Then their order matters: the range cannot be
 * explained alone.
 */
static bool range_conflicts(struct rec *r, struct rmm *m, uint64_t lo,
			    uint64_t hi)
{
	for (size_t i = 0; i < r->nr_faults; i++) {
		const struct rfault *f = &r->faults[i];
		uint32_t folio;

		if (f->kid != m->kid || f->vpn < lo || f->vpn >= hi)
			continue;
		folio = folio_at(m, f->vpn);
		if (!traced(folio))
			continue;
		for (size_t j = 0; j < r->nr_faults; j++) {
			struct rmm *o;

			if (r->faults[j].kid == m->kid)
				continue;
			o = mm_of_kid(r, r->faults[j].kid);
			if (o && folio_at(o, r->faults[j].vpn) == folio)
				return true;
		}
	}
	return false;
}

void model_sync_range(struct rec *r, struct rmm *m, pid_t tid, long nr,
		      uint64_t lo, uint64_t hi)
{
	struct snap s;
	uint64_t t0 = now_ns();

	model_drain(r);
	if (range_conflicts(r, m, lo & ~(uint64_t)(PMD_PAGES - 1),
			    (hi + PMD_PAGES - 1) &
				    ~(uint64_t)(PMD_PAGES - 1))) {
		model_sync_all(r, m);
		lo = hi; /* done */
	}
	/* whole PMD-sized blocks: a folio is seen whole, never in part */
	if (lo < hi &&
	    !prepare(r, m, lo & ~(uint64_t)(PMD_PAGES - 1),
		     (hi + PMD_PAGES - 1) & ~(uint64_t)(PMD_PAGES - 1), &s))
		write_snaps(r, &s, 1, t0, NULL, 0);
	GROW(m->ranges, m->cap_ranges, m->nr_ranges + 1);
	m->ranges[m->nr_ranges++] =
		(struct rrange){ .tid = tid, .nr = nr, .lo = lo, .hi = hi };
	m->dirty = true;
}

struct rmm *model_fork(struct rec *r, struct rmm *p, pid_t child)
{
	struct rmm *c = mm_create(r, child, 0, model_kid_of(r, child, false));
	struct mct_event ev = ev_new(MCT_FORK);
	struct snap s;
	uint64_t t0 = now_ns();

	flush_carry(r);
	ev.mm = p->id;
	ev.mm2 = c->id;
	put(r, &ev);
	model_drain(r);
	c->pages = xrealloc(NULL, (p->nr_pages + 1) * sizeof(*c->pages));
	if (p->nr_pages)
		memcpy(c->pages, p->pages, p->nr_pages * sizeof(*c->pages));
	c->nr_pages = c->cap_pages = p->nr_pages;
	for (size_t i = 0; i < c->nr_pages; i++)
		if (traced(c->pages[i].folio) &&
		    r->folios[c->pages[i].folio].announced)
			r->folios[c->pages[i].folio].mapped++;
		else if (traced(c->pages[i].folio))
			c->pages[i].folio = NO_FOLIO; /* never written */
	/* what the kernel did not copy (VM_DONTCOPY, VM_WIPEONFORK, pinned
	 * pages), from the child's own page tables */
	c->dirty = false;
	if (!prepare(r, c, 0, UINT64_MAX >> PAGE_SHIFT_4K, &s))
		write_snaps(r, &s, 1, t0, NULL, 0);
	return c;
}

static void exit_events(struct rec *r, struct rmm *m)
{
	struct mct_event ev = ev_new(MCT_EXIT);

	if (!m->live)
		return;
	flush_carry(r);
	ev.mm = m->id;
	put(r, &ev);
	for (size_t i = 0; i < m->nr_pages; i++) {
		struct rpage *p = &m->pages[i];

		if (!traced(p->folio) || !r->folios[p->folio].announced)
			continue;
		if (r->folios[p->folio].mapped)
			r->folios[p->folio].mapped--;
		touch(r, p->folio);
	}
	frees(r);
	m->live = false;
	free(m->pages);
	m->pages = NULL;
	m->nr_pages = m->cap_pages = 0;
	m->nr_ranges = 0;
}

void model_exit(struct rec *r, struct rmm *m)
{
	exit_events(r, m);
	{
		size_t kept = 0;

		for (size_t i = 0; i < r->nr_faults; i++)
			if (r->faults[i].kid != m->kid)
				r->faults[kept++] = r->faults[i];
		r->nr_faults = kept;
	}
}

/* ---- the BPF records ---- */

static void mark_stale(struct rec *r, uint64_t pfn, uint32_t order, uint64_t ts)
{
	uint32_t f;

	for (uint32_t k = 0; k <= PMD_ORDER; k++) {
		uint64_t head = pfn & ~((1ull << k) - 1);

		if (map_get(&r->head2folio, head, &f) && r->folios[f].live &&
		    r->folios[f].order >= k && r->folios[f].seen < ts &&
		    pfn < head + (1ull << r->folios[f].order))
			r->folios[f].stale = true;
	}
	for (uint64_t h = pfn + 1; order && h < pfn + (1ull << order); h++)
		if (map_get(&r->head2folio, h, &f) && r->folios[f].live &&
		    r->folios[f].seen < ts)
			r->folios[f].stale = true;
}

void model_bpf_record(void *ctx, const struct rec_event *e)
{
	struct rec *r = ctx;
	struct rmm *m = mm_of_kid(r, e->mm_id);

	switch (e->kind) {
	case REC_EV_FAULT:
		if (!m)
			return; /* not (yet) traced: the recorder's own child */
		GROW(r->faults, r->cap_faults, r->nr_faults + 1);
		r->faults[r->nr_faults++] =
			(struct rfault){ .ts = e->ts,
					 .vpn = e->addr >> PAGE_SHIFT_4K,
					 .err = e->arg,
					 .kid = e->mm_id,
					 .tid = (pid_t)e->tid };
		m->dirty = true;
		break;
	case REC_EV_ALLOC: {
		uint64_t pfn = rec_bpf_page_pfn(r->bpf, e->addr);

		if (pfn == UINT64_MAX)
			break;
		mark_stale(r, pfn, (uint32_t)e->arg, e->ts);
		if (r->nr_alloc_ts >= (1u << 22)) { /* forget the oldest */
			map_free(&r->alloc_at);
			r->nr_alloc_ts = 0;
		}
		GROW(r->alloc_ts, r->cap_alloc_ts, r->nr_alloc_ts + 1);
		r->alloc_ts[r->nr_alloc_ts] = e->ts;
		map_put(&r->alloc_at, pfn, (uint32_t)r->nr_alloc_ts++);
		if (m)
			m->dirty = true;
		break;
	}
	case REC_EV_SYSEXIT:
		if (!m)
			return;
		for (size_t g = 0; g < m->nr_ranges; g++)
			if (!m->ranges[g].ts &&
			    m->ranges[g].tid == (pid_t)e->tid &&
			    m->ranges[g].nr == (long)e->arg) {
				m->ranges[g].ts = e->ts;
				break;
			}
		m->dirty = true;
		break;
	case REC_EV_FORK:
	case REC_EV_EXEC:
		GROW(r->kids, r->cap_kids, r->nr_kids + 1);
		r->kids[r->nr_kids++] = (struct kidrec){
			.pid = e->kind == REC_EV_FORK ? (pid_t)e->arg
						      : (pid_t)e->tgid,
			.kid = e->mm_id,
			.exec = e->kind == REC_EV_EXEC,
			.ts = e->ts,
		};
		break;
	default:
		break;
	}
}

void model_drain(struct rec *r)
{
	if (r->bpf)
		rec_bpf_consume(r->bpf);
	r->drained_at = now_ns();
}

/* ---- checkpoints ---- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void ck_mmid(struct rec *r, const uint32_t *fl, size_t n)
{
	uint64_t *pfns = xrealloc(NULL, (n + 1) * sizeof(*pfns));
	struct rec_folio_info *info = xrealloc(NULL, (n + 1) * sizeof(*info));
	uint32_t *large = xrealloc(NULL, (n + 1) * sizeof(*large));
	uint32_t *pick = xrealloc(NULL, (n + 1) * sizeof(*pick));
	size_t nl = 0, k = 0;

	for (size_t i = 0; i < n; i++)
		if (r->folios[fl[i]].order)
			large[nl++] = fl[i];
	for (size_t i = 0; i < nl && k < r->o->mmid_max; i++) {
		uint32_t f = large[(i + r->checkpoints * 7) % nl];

		pick[k] = f;
		pfns[k++] = r->folios[f].pfn;
	}
	if (!k || !r->bpf || rec_bpf_read_folios(r->bpf, pfns, k, info))
		goto out;
	for (size_t i = 0; i < k; i++) {
		const struct rec_folio_info *fi = &info[i];
		struct mct_event ev = ev_new(MCT_MMID);
		uint32_t f = pick[i];

		if (!fi->ok || fi->order != r->folios[f].order)
			continue; /* split or freed meanwhile */
		ev.folio = f;
		ev.value = (uint64_t)((int64_t)fi->large_mapcount + 1);
		ev.shared = (uint8_t)(fi->mm_ids >> 63);
		for (int s = 0; s < 2; s++) {
			uint32_t id =
				(uint32_t)(fi->mm_ids >> (32 * s)) & 0x7fffffff;
			struct rmm *m;

			if (!id)
				continue;
			m = mm_of_kid(r, id);
			ev.slot_count[s] =
				(uint64_t)((int64_t)fi->mm_id_mapcount[s] + 1);
			ev.slot[s] = m ? MCT_MMID_MM : MCT_MMID_OTHER;
			if (m && s)
				ev.mm2 = m->id;
			else if (m)
				ev.mm = m->id;
		}
		put(r, &ev);
	}
out:
	free(pfns);
	free(info);
	free(large);
	free(pick);
}

static void ck_observe(struct rec *r, const uint32_t *fl, size_t n)
{
	uint64_t budget = r->o->observe_max, counts[PMD_PAGES];

	for (size_t i = 0; i < n && budget; i++) {
		uint32_t f = fl[(i + r->checkpoints * 13) % n];
		const struct rfolio *fo = &r->folios[f];
		uint64_t nr = 1ull << fo->order, step = 1;

		if (nr > PMD_PAGES || kpage_count(fo->pfn, nr, counts))
			continue;
		if (nr > SAMPLE_PAGES)
			step = nr / SAMPLE_PAGES;
		for (uint64_t p = 0; p < nr && budget; p += step) {
			struct mct_event ev = ev_new(MCT_OBSERVE);
			uint64_t page = p;

			/* the last page too: sample both ends */
			if (step > 1 && p + step >= nr)
				page = nr - 1;
			ev.folio = f;
			ev.first = page;
			ev.value = counts[page];
			put(r, &ev);
			budget--;
		}
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void ck_stat(struct rec *r, struct rmm *m)
{
	struct mct_event ev = ev_new(MCT_STAT);
	struct psmaps *sm = NULL;
	uint64_t anon, pss, uss = 0;
	size_t nsm = 0;

	if (!m->live || proc_rollup(m->rep, &anon, &pss) ||
	    proc_smaps(m->rep, &sm, &nsm))
		return;
	for (size_t i = 0; i < nsm; i++) {
		uint64_t lo = sm[i].start >> PAGE_SHIFT_4K,
			 hi = sm[i].end >> PAGE_SHIFT_4K;
		uint64_t *pfns = NULL;
		size_t np = 0, cap = 0;

		if (!sm[i].anonymous)
			continue;
		uss += sm[i].private_kb;
		if (sm[i].anonymous == sm[i].rss)
			continue;
		/* a private file VMA: take out its file pages mapped once */
		for (size_t k = lower_bound(m->pages, m->nr_pages, lo);
		     k < m->nr_pages && m->pages[k].vpn < hi; k++)
			if (m->pages[k].folio == NO_FOLIO) {
				GROW(pfns, cap, np + 1);
				pfns[np++] = m->pages[k].pfn;
			}
		if (np)
			qsort(pfns, np, sizeof(*pfns), cmp_u64);
		for (size_t k = 0; k < np; k++) {
			uint64_t c;

			if (!kpage_count(pfns[k], 1, &c) && c == 1 && uss >= 4)
				uss -= 4;
		}
		free(pfns);
	}
	free(sm);
	ev.mm = m->id;
	ev.rss_kb = anon;
	ev.pss_kb = pss;
	ev.uss_kb = uss;
	ev.flags = MCT_F_RSS | MCT_F_PSS | MCT_F_USS;
	put(r, &ev);
}

void model_checkpoint(struct rec *r, struct rmm **mms, int n)
{
	uint32_t *fl = NULL;
	size_t nf = 0, cap = 0;

	flush_carry(r);
	r->checkpoints++;
	if (r->cap_mark < (size_t)r->nr_folios + 1) {
		size_t old = r->cap_mark;

		GROW(r->mark, r->cap_mark, (size_t)r->nr_folios + 1);
		memset(r->mark + old, 0,
		       (r->cap_mark - old) * sizeof(*r->mark));
	}
	for (int k = 0; k < n; k++) {
		struct rmm *m = mms[k];

		if (!m || !m->live)
			continue;
		for (size_t i = 0; i < m->nr_pages; i++) {
			uint32_t f = m->pages[i].folio;

			if (!traced(f) || !r->folios[f].announced ||
			    !r->folios[f].live ||
			    r->mark[f] == r->checkpoints + 1)
				continue;
			r->mark[f] = (uint32_t)r->checkpoints + 1;
			GROW(fl, cap, nf + 1);
			fl[nf++] = f;
		}
	}
	if (nf)
		qsort(fl, nf, sizeof(*fl), cmp_u32);
	if (nf) {
		ck_mmid(r, fl, nf);
		ck_observe(r, fl, nf);
	}
	for (int k = 0; k < n; k++)
		if (mms[k])
			ck_stat(r, mms[k]);
	free(fl);
}

bool model_write_failed(const struct rec *r)
{
	return r->write_failed;
}
