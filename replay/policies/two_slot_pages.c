// SPDX-License-Identifier: MIT
/*
 * two-slot+pages: the Linux 6.15-6.18 default, CONFIG_MM_ID with
 * CONFIG_PAGE_MAPCOUNT (what this machine runs): per-page mapcounts as in
 * per-page, plus two MM owner slots per large folio.
 *
 *   slots           include/linux/rmap.h folio_add_return_large_mapcount(),
 *                   folio_sub_return_large_mapcount()
 *   maybe shared    include/linux/mm.h folio_maybe_mapped_shared()
 *   COW             mm/memory.c __wp_can_reuse_large_anon_folio()
 *   PSS/USS         folio_precise_page_mapcount(), as in per-page
 */
#include "page_mapcount.h"

enum { CTR_SLOT = PM_NR_CTRS };

static const struct mc_counter_decl counters[] = {
	PM_COUNTERS,
	{ "mm_slot_mapcount", 32, 16, 1 },
};

struct state {
	struct mm_id_slots slots;
	struct pm_state pm; /* last: ends in the per-page array */
};

static size_t state_size(uint32_t order)
{
	return offsetof(struct state, pm) + pm_size(order);
}

/* per-page's fields, plus _mm_id_mapcount[2] and _mm_ids: two unsigned
 * longs in large folios. */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	if (!order)
		return 4;
	return ((size_t)4 << order) + 12 + (arch == 32 ? 8 : 16);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	struct state *s = st;

	slots_init(&s->slots);
	pm_init(&s->pm, f, c);
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t n = pm_add(&s->pm, f, r, c);

	if (!n)
		return;
	if (folio_tracked(f)) {
		slots_add(&s->slots, &s->pm.large, n, r->mm_id, c, CTR_SLOT);
	} else {
		s->pm.large += n;
		cost(c, 1, 1);
	}
	mc_counter(c, PM_CTR_LARGE, s->pm.large + 1);
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	struct state *s = st;
	int64_t n = pm_remove(&s->pm, f, r, c);

	if (!n)
		return;
	if (folio_tracked(f)) {
		slots_sub(&s->slots, &s->pm.large, n, r->mm_id, c);
	} else {
		s->pm.large -= n;
		cost(c, 1, 1);
	}
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	pm_ref(&((struct state *)st)->pm, delta, c);
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	pm_pin(&((struct state *)st)->pm, f, delta, c);
}

/* __wp_can_reuse_large_anon_folio() */
static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct state *s = st;
	int64_t mapcount = pm_folio_mapcount(&s->pm, f);
	int ret = cow_common(f, q, mapcount, s->pm.refcount);

	if (ret >= 0)
		return ret;
	return cow_large(mapcount, s->slots.shared, s->pm.refcount, c);
}

/* folio_maybe_mapped_shared() */
static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct state *s = st;
	int64_t mapcount = pm_folio_mapcount(&s->pm, f);

	if (!folio_large(f) || folio_hugetlb(f))
		return mapcount > 1;
	/* A single mapping implies "mapped exclusively". */
	if (mapcount <= 1)
		return false;
	return s->slots.shared;
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return (uint64_t)pm_page_mapcount(&((const struct state *)st)->pm, f,
					  page);
}

static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	pm_smaps(&((const struct state *)st)->pm, f, first, nr, acc);
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct state *s = st;
	struct mc_field all[] = {
		{ "refcount", s->pm.refcount },
		{ "mapcount", pm_folio_mapcount(&s->pm, f) },
		{ "entire_mapcount", s->pm.entire + 1 },
		{ "nr_pages_mapped", s->pm.nr_pages_mapped },
		{ "pincount", s->pm.pincount },
		{ "slot0_mm_id", s->slots.id[0] },
		{ "slot0_mapcount", s->slots.count[0] + 1 },
		{ "slot1_mm_id", s->slots.id[1] },
		{ "slot1_mapcount", s->slots.count[1] + 1 },
		{ "maybe_shared_bit", s->slots.shared },
	};

	FIELDS_RETURN(out, max, all);
}

const struct mc_policy policy_two_slot_pages = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "two-slot+pages",
	.summary = "CONFIG_MM_ID owner slots plus per-page mapcounts "
		   "(6.15-6.18 default)",
	.kernel = "include/linux/rmap.h folio_add_return_large_mapcount(); "
		  "folio_maybe_mapped_shared(); "
		  "mm/memory.c __wp_can_reuse_large_anon_folio()",
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
