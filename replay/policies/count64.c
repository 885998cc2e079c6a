// SPDX-License-Identifier: MIT
/*
 * count64: the 2026 RFC "mm/rmap: support arbitrary folio mappings" carried
 * to its end.  No per-page mapcounts and no entire mapcount; a 64-bit large
 * mapcount (mappings: a PTE, PMD or PUD counts one), a 64-bit "total mapped
 * pages" T, the MM owner slots for ownership, and a single folio reference
 * held while the folio is mapped at all: no mapping pattern can overflow
 * the refcount (the "THP cabal" design in 6.1 of the MM owner tracking v3
 * cover letter).
 *
 *   add/remove rmap  RFC 13/13: the helpers take (nr_mappings, nr_pages)
 *   partially mapped 0 < T < folio_nr_pages()
 *   kpagecount, PSS  average page mapcount (T + 2^(order-1)) >> order, >= 1
 *   USS              !folio_maybe_mapped_shared()
 *   COW              __wp_can_reuse_large_anon_folio(), where "no
 *                    reference beyond the mappings" becomes refcount == 1
 */
#include "common.h"

enum { CTR_REFCOUNT, CTR_LARGE, CTR_PAGE, CTR_TOTAL, CTR_SLOT, CTR_PIN };

static const struct mc_counter_decl counters[] = {
	{ "refcount", 32, 32, 0 },	     { "large_mapcount", 64, 64, 1 },
	{ "page_mapcount", 32, 32, 1 }, /* small folios: page->_mapcount */
	{ "total_mapped_pages", 64, 64, 0 }, { "mm_slot_mapcount", 32, 16, 1 },
	{ "pincount", 32, 32, 0 },
};

struct state {
	int64_t refcount;
	int64_t pincount;
	int64_t mapcount; /* biased: large mapcount, or small page->_mapcount */
	int64_t total;	  /* _total_mapped_pages */
	struct mm_id_slots slots;
};

static size_t state_size(uint32_t order)
{
	return sizeof(struct state);
}

/* small: page->_mapcount; large: two 64-bit counters and the slots */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	if (!order)
		return 4;
	return 16 + (arch == 32 ? 8 : 16);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	s->refcount = folio_base_refs(f);
	s->pincount = 0;
	s->mapcount = -1;
	s->total = 0;
	slots_init(&s->slots);
	mc_counter(c, CTR_REFCOUNT, s->refcount);
}

/* The one reference of all mappings: taken by the first, dropped by the
 * last. */
static void mapped_ref(struct state *s, int64_t delta, struct mc_ctx *c)
{
	s->refcount += delta;
	mc_counter(c, CTR_REFCOUNT, s->refcount);
	cost(c, 1, 1);
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t mappings = rmap_entries(f, r), m;

	if (!folio_large(f)) {
		if (++s->mapcount == 0) {
			mapped_ref(s, 1, c);
			c->nr_mapped += 1;
		}
		mc_counter(c, CTR_PAGE, s->mapcount + 1);
		cost(c, 1, 1);
		return;
	}
	s->total += (int64_t)r->nr;
	if (folio_hugetlb(f)) {
		m = (s->mapcount += mappings) + 1;
		cost(c, 1, 2);
	} else {
		m = slots_add(&s->slots, &s->mapcount, mappings, r->mm_id, c,
			      CTR_SLOT);
		cost(c, 0, 1);
		if (r->level == MC_PMD &&
		    s->total - m == (int64_t)r->nr - mappings)
			c->nr_pmdmapped += (int64_t)f->nr_pages;
		if (m == mappings) /* was completely unmapped */
			c->nr_mapped += (int64_t)f->nr_pages;
	}
	if (m == mappings)
		mapped_ref(s, 1, c);
	mc_counter(c, CTR_LARGE, m);
	mc_counter(c, CTR_TOTAL, s->total);
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t mappings = rmap_entries(f, r), m;

	if (!folio_large(f)) {
		if (--s->mapcount < 0) {
			c->nr_mapped -= 1;
			mapped_ref(s, -1, c);
		}
		cost(c, 1, 1);
		return;
	}
	s->total -= (int64_t)r->nr;
	if (folio_hugetlb(f)) {
		m = (s->mapcount -= mappings) + 1;
		cost(c, 1, 2);
	} else {
		m = slots_sub(&s->slots, &s->mapcount, mappings, r->mm_id, c);
		cost(c, 0, 1);
		if (r->level == MC_PMD && s->total == m)
			c->nr_pmdmapped -= (int64_t)f->nr_pages;
		if (!m)
			c->nr_mapped -= (int64_t)f->nr_pages;
		else
			c->partially_mapped =
				s->total && s->total < (int64_t)f->nr_pages;
	}
	if (!m)
		mapped_ref(s, -1, c);
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	mapped_ref(st, delta, c);
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	struct state *s = st;

	mapped_ref(s, delta * pin_refs(f), c);
	if (folio_large(f)) {
		s->pincount += delta;
		mc_counter(c, CTR_PIN, s->pincount);
		cost(c, 1, 1);
	}
}

static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct state *s = st;
	int64_t mapcount = s->mapcount + 1;

	if (!folio_large(f) || folio_hugetlb(f))
		return mapcount > 1;
	if (mapcount <= 1)
		return false;
	return s->slots.shared;
}

static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;
	int64_t mapcount = s->mapcount + 1;

	if (!folio_anon(f))
		return false;
	if (folio_hugetlb(f))
		return mapcount == 1; /* hugetlb_wp() */
	/* The single reference of the mappings is the only one ... */
	if (s->refcount != 1)
		return false;
	/* ... and all mappings are the faulting MM's. */
	if (!folio_large(f))
		return mapcount == 1;
	if (q->level != MC_PTE) /* do_huge_pmd_wp_page() */
		return !maybe_shared(st, f);
	if (mapcount <= 1) /* free up a large folio with one page mapped */
		return false;
	cost(c, 1, 0);
	return !s->slots.shared;
}

/* The RFC's average page mapcount. */
static int64_t average(const struct state *s, const struct mc_folio *f)
{
	int64_t avg;

	if (!folio_large(f))
		return s->mapcount + 1;
	if (!s->total)
		return 0;
	avg = (s->total + (int64_t)(f->nr_pages / 2)) >> f->order;
	return avg > 1 ? avg : 1;
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return (uint64_t)average(st, f);
}

/* smaps_account(): "refcount == 1" no longer proves a single mapping. */
static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	const struct state *s = st;
	int64_t m = average(s, f);
	bool shared = maybe_shared(st, f);

	if (s->refcount == 1 && s->mapcount + 1 == 1) {
		smaps_private(acc, nr);
		return;
	}
	for (uint64_t i = 0; i < nr; i++)
		smaps_page(acc, m, !shared);
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct state *s = st;
	struct mc_field all[] = {
		{ "refcount", s->refcount },
		{ "mapcount", s->mapcount + 1 },
		{ "total_mapped_pages", s->total },
		{ "pincount", s->pincount },
		{ "slot0_mm_id", s->slots.id[0] },
		{ "slot0_mapcount", s->slots.count[0] + 1 },
		{ "slot1_mm_id", s->slots.id[1] },
		{ "slot1_mapcount", s->slots.count[1] + 1 },
		{ "maybe_shared_bit", s->slots.shared },
	};

	FIELDS_RETURN(out, max, all);
}

const struct mc_policy policy_count64 = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "count64",
	.summary = "64-bit mapcount and total mapped pages, MM owner slots, "
		   "one reference while mapped",
	.kernel = "RFC \"mm/rmap: support arbitrary folio mappings\" (2026), "
		  "patch 13/13; MM owner tracking v3 cover letter 6.1",
	.state_size = state_size,
	.meta_bytes = meta_bytes,
	.counters = counters,
	.nr_counters = sizeof(counters) / sizeof(counters[0]),
	.init = init,
	.add_rmap = add_rmap,
	.remove_rmap = remove_rmap,
	.ref = ref,
	.pin = pin,
	.cow_reuse = cow_reuse,
	.maybe_shared = maybe_shared,
	.page_mapcount = page_mapcount,
	.smaps = smaps,
	.fields = fields,
};
