// SPDX-License-Identifier: MIT
/*
 * exact: the oracle.  Per folio, the mapcount of every page and of every MM
 * that maps it: the "per-MM per-folio mapcount" the MM owner tracking
 * series calls too costly for the hot path.  Every other policy is
 * measured against its answers:
 *
 *   maybe shared  more than one MM maps some page of the folio
 *   COW           the 6.15+ rules (wp_can_reuse_anon_folio(),
 *                 __wp_can_reuse_large_anon_folio(), do_huge_pmd_wp_page())
 *                 decided on facts: a large folio is reused when at least
 *                 two pages are mapped, all by the faulting MM, and no
 *                 reference exists beyond the mappings; a small folio or a
 *                 PMD when its one mapping is the only reference.  hugetlb
 *                 too, where hugetlb_wp() looks at the mapcount only.
 *   PSS/USS       the precise page mapcount (folio_precise_page_mapcount())
 *   partial       pages became unmapped while others stay mapped
 *   stats         pages mapped by at least one entry (_nr_pages_mapped)
 */
#include <stdlib.h>
#include <string.h>

#include "common.h"

enum { CTR_REFCOUNT, CTR_MM, CTR_PAGE };

static const struct mc_counter_decl counters[] = {
	{ "refcount", 32, 32, 0 }, /* the kernel's reference model */
	{ "mm_mapcount", 64, 64, 0 },
	{ "page_mapcount", 64, 64, 0 },
};

#define NR_INLINE 2 /* MMs kept in the state itself */

struct mm_count {
	uint32_t mm_id;
	int64_t count; /* page table entries of this MM */
};

struct state {
	int64_t mappings; /* page table entries: the large mapcount */
	int64_t refs;	  /* ref events */
	int64_t pins;
	uint64_t mapped_pages; /* pages with at least one entry */
	/* MMs mapping the folio: in inl up to two (no allocation for the
	 * common case), else in the array mms */
	struct mm_count inl[NR_INLINE];
	struct mm_count *mms;
	uint32_t nr_mms, cap_mms;
	uint32_t count[]; /* entries mapping each page */
};

/* a (folio, MM) entry: an MM pointer and a count */
static int64_t mm_entry_bytes(uint32_t arch)
{
	return arch == 32 ? 8 : 16;
}

static size_t state_size(uint32_t order)
{
	return sizeof(struct state) + ((size_t)1 << order) * sizeof(uint32_t);
}

/* a count per page and the large mapcount; (folio, MM) entries come on
 * top (dyn_bytes) */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	return ((size_t)4 << order) + (order ? 8 : 0);
}

static int64_t refcount(const struct state *s, const struct mc_folio *f)
{
	return folio_base_refs(f) + s->mappings + s->refs +
	       s->pins * pin_refs(f);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	mc_counter(c, CTR_REFCOUNT, refcount(st, f));
}

static void release(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	c->dyn_bytes -= s->nr_mms * mm_entry_bytes(c->arch);
	free(s->mms);
	s->mms = NULL;
	s->nr_mms = s->cap_mms = 0;
}

static const struct mm_count *mms_of_const(const struct state *s)
{
	return s->mms ? s->mms : s->inl;
}

static struct mm_count *mms_of(struct state *s)
{
	return (struct mm_count *)mms_of_const(s);
}

static struct mm_count *mm_find(struct state *s, uint32_t mm_id)
{
	struct mm_count *mms = mms_of(s);

	for (uint32_t i = 0; i < s->nr_mms; i++)
		if (mms[i].mm_id == mm_id)
			return &mms[i];
	return NULL;
}

static void mm_add(struct state *s, uint32_t mm_id, int64_t n, struct mc_ctx *c)
{
	struct mm_count *m = mm_find(s, mm_id);

	if (!m) {
		if (s->nr_mms == NR_INLINE && !s->mms) {
			s->cap_mms = 2 * NR_INLINE;
			s->mms = malloc(s->cap_mms * sizeof(*s->mms));
			if (!s->mms)
				abort();
			memcpy(s->mms, s->inl, sizeof(s->inl));
			memset(s->inl, 0, sizeof(s->inl));
		} else if (s->mms && s->nr_mms == s->cap_mms) {
			s->cap_mms *= 2;
			s->mms = realloc(s->mms, s->cap_mms * sizeof(*s->mms));
			if (!s->mms)
				abort();
		}
		m = &mms_of(s)[s->nr_mms++];
		*m = (struct mm_count){ .mm_id = mm_id };
		c->dyn_bytes += mm_entry_bytes(c->arch);
	}
	m->count += n;
	mc_counter(c, CTR_MM, m->count);
	cost(c, 1, 1);
	if (m->count)
		return;
	*m = mms_of(s)[--s->nr_mms];
	mms_of(s)[s->nr_mms] = (struct mm_count){ 0 };
	c->dyn_bytes -= mm_entry_bytes(c->arch);
	if (s->mms && s->nr_mms <= NR_INLINE) {
		memcpy(s->inl, s->mms, sizeof(s->inl));
		free(s->mms);
		s->mms = NULL;
		s->cap_mms = 0;
	}
}

/* Pages covered by an rmap call: hugetlb maps the whole folio. */
static void span(const struct mc_folio *f, const struct mc_rmap *r,
		 uint64_t *first, uint64_t *end)
{
	*first = folio_hugetlb(f) ? 0 : r->first;
	*end = folio_hugetlb(f) ? f->nr_pages : r->first + r->nr;
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t entries = rmap_entries(f, r), newly = 0;
	uint64_t p, end;

	s->mappings += entries;
	mc_counter(c, CTR_REFCOUNT, refcount(s, f));
	span(f, r, &p, &end);
	cost(c, end - p, end - p);
	for (; p < end; p++) {
		newly += ++s->count[p] == 1;
		mc_counter(c, CTR_PAGE, s->count[p]);
	}
	s->mapped_pages += (uint64_t)newly;
	if (!folio_hugetlb(f))
		c->nr_mapped += newly;
	mm_add(s, r->mm_id, entries, c);
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t entries = rmap_entries(f, r), gone = 0;
	uint64_t p, end;

	span(f, r, &p, &end);
	cost(c, end - p, end - p);
	for (; p < end; p++)
		gone += --s->count[p] == 0;
	s->mapped_pages -= (uint64_t)gone;
	if (!folio_hugetlb(f)) {
		c->nr_mapped -= gone;
		c->partially_mapped = folio_large(f) && gone && s->mapped_pages;
	}
	mm_add(s, r->mm_id, -entries, c);
	s->mappings -= entries;
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	struct state *s = st;

	s->refs += delta;
	mc_counter(c, CTR_REFCOUNT, refcount(s, f));
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	struct state *s = st;

	s->pins += delta;
	mc_counter(c, CTR_REFCOUNT, refcount(s, f));
}

static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	return ((const struct state *)st)->nr_mms > 1;
}

static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;
	bool only_refs = !s->refs && !s->pins; /* nothing beyond mappings */

	if (!folio_anon(f))
		return false;
	if (folio_hugetlb(f) || !folio_large(f) || q->level != MC_PTE)
		return s->mappings == 1 && only_refs;
	/* a large folio with a single page mapped is copied, to free it */
	return s->mappings >= 2 && s->nr_mms == 1 &&
	       mms_of_const(s)[0].mm_id == q->mm_id && only_refs;
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return ((const struct state *)st)->count[page];
}

static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	const struct state *s = st;

	for (uint64_t p = first; p < first + nr; p++)
		smaps_page(acc, s->count[p], s->count[p] < 2);
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct state *s = st;
	const struct mm_count *mms = mms_of_const(s);
	struct mc_field all[] = {
		{ "mapcount", s->mappings },
		{ "mapped_pages", (int64_t)s->mapped_pages },
		{ "refs", s->refs },
		{ "pins", s->pins },
		{ "nr_mms", s->nr_mms },
		{ "mm0_id", s->nr_mms > 0 ? mms[0].mm_id : 0 },
		{ "mm0_mapcount", s->nr_mms > 0 ? mms[0].count : 0 },
		{ "mm1_id", s->nr_mms > 1 ? mms[1].mm_id : 0 },
		{ "mm1_mapcount", s->nr_mms > 1 ? mms[1].count : 0 },
		{ "mm2_id", s->nr_mms > 2 ? mms[2].mm_id : 0 },
		{ "mm2_mapcount", s->nr_mms > 2 ? mms[2].count : 0 },
	};

	FIELDS_RETURN(out, max, all);
}

/* For the engine's invariant checks. */
int64_t exact_mm_mapcount(const void *st, uint32_t mm_id);
int64_t exact_mm_mapcount(const void *st, uint32_t mm_id)
{
	struct mm_count *m = mm_find((struct state *)st, mm_id);

	return m ? m->count : 0;
}

const struct mc_policy policy_exact = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "exact",
	.summary = "the oracle: per-page and per-(folio, MM) mapcounts",
	.kernel = "the per-MM per-folio mapcount of the MM owner tracking "
		  "series' alternatives; decisions as in 6.15+ mm/memory.c",
	.state_size = state_size,
	.meta_bytes = meta_bytes,
	.counters = counters,
	.nr_counters = sizeof(counters) / sizeof(counters[0]),
	.init = init,
	.add_rmap = add_rmap,
	.remove_rmap = remove_rmap,
	.ref = ref,
	.pin = pin,
	.release = release,
	.cow_reuse = cow_reuse,
	.maybe_shared = maybe_shared,
	.page_mapcount = page_mapcount,
	.smaps = smaps,
	.fields = fields,
};
