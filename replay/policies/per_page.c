// SPDX-License-Identifier: MIT
/*
 * per-page: CONFIG_PAGE_MAPCOUNT without CONFIG_MM_ID, as in Linux 6.10 to
 * 6.14.  Every page of a large folio has its own _mapcount, next to
 * _entire_mapcount, _large_mapcount and _nr_pages_mapped.
 *
 *   add/remove rmap    mm/rmap.c __folio_add_rmap(), __folio_remove_rmap()
 *   maybe shared       include/linux/mm.h folio_likely_mapped_shared() (6.10)
 *   COW                mm/memory.c wp_can_reuse_anon_folio() (6.10-6.14):
 *                      a PTE-mapped large folio is never reused; small
 *                      folios and PMDs when the refcount is 1
 *   PSS/USS/kpagecount folio_precise_page_mapcount()
 */
#include "page_mapcount.h"

static const struct mc_counter_decl counters[] = { PM_COUNTERS };

static size_t state_size(uint32_t order)
{
	return pm_size(order);
}

/* page->_mapcount of each page; large folios add _large_mapcount,
 * _entire_mapcount and _nr_pages_mapped. */
static size_t meta_bytes(uint32_t order, uint32_t type, uint32_t arch)
{
	return ((size_t)4 << order) + (order ? 12 : 0);
}

static void init(void *st, const struct mc_folio *f, struct mc_ctx *c)
{
	pm_init(st, f, c);
}

static void add_rmap(void *st, const struct mc_folio *f,
		     const struct mc_rmap *r, struct mc_ctx *c)
{
	struct pm_state *pm = st;
	int64_t n = pm_add(pm, f, r, c);

	if (n) { /* folio_add_large_mapcount(): a plain atomic_add() */
		pm->large += n;
		mc_counter(c, PM_CTR_LARGE, pm->large + 1);
		cost(c, !(r->flags & MC_RMAP_NEW), 1);
	}
}

static void remove_rmap(void *st, const struct mc_folio *f,
			const struct mc_rmap *r, struct mc_ctx *c)
{
	struct pm_state *pm = st;
	int64_t n = pm_remove(pm, f, r, c);

	if (n) {
		pm->large -= n;
		cost(c, 1, 1);
	}
}

static void ref(void *st, const struct mc_folio *f, int64_t delta,
		struct mc_ctx *c)
{
	pm_ref(st, delta, c);
}

static void pin(void *st, const struct mc_folio *f, int delta, struct mc_ctx *c)
{
	pm_pin(st, f, delta, c);
}

static bool cow_reuse(void *st, const struct mc_folio *f,
		      const struct mc_fault *q, struct mc_ctx *c)
{
	const struct pm_state *pm = st;
	int ret = cow_common(f, q, pm_folio_mapcount(pm, f), pm->refcount);

	/* "We could currently only reuse a subpage of a large folio if no
	 * other subpages of the large folios are still mapped. However,
	 * let's just consistently not reuse subpages" */
	return ret > 0;
}

/* folio_likely_mapped_shared() as reworked for 6.10 */
static bool maybe_shared(const void *st, const struct mc_folio *f)
{
	const struct pm_state *pm = st;
	int64_t mapcount = pm_folio_mapcount(pm, f);

	if (!folio_large(f) || folio_hugetlb(f))
		return mapcount > 1;
	if (mapcount <= 1)
		return false;
	if (pm->entire + 1 || mapcount > (int64_t)f->nr_pages)
		return true;
	/* Let's guess based on the first subpage. */
	return pm->mapcount[0] > 0;
}

static uint64_t page_mapcount(const void *st, const struct mc_folio *f,
			      uint64_t page)
{
	return (uint64_t)pm_page_mapcount(st, f, page);
}

static void smaps(const void *st, const struct mc_folio *f, uint64_t first,
		  uint64_t nr, struct mc_smaps *acc)
{
	pm_smaps(st, f, first, nr, acc);
}

static uint32_t fields(const void *st, const struct mc_folio *f,
		       struct mc_field *out, uint32_t max)
{
	const struct pm_state *pm = st;
	struct mc_field all[] = {
		{ "refcount", pm->refcount },
		{ "mapcount", pm_folio_mapcount(pm, f) },
		{ "entire_mapcount", pm->entire + 1 },
		{ "nr_pages_mapped", pm->nr_pages_mapped },
		{ "pincount", pm->pincount },
	};

	FIELDS_RETURN(out, max, all);
}

const struct mc_policy policy_per_page = {
	.abi = MC_POLICY_ABI,
	.version = 1,
	.name = "per-page",
	.summary = "CONFIG_PAGE_MAPCOUNT without MM owner tracking (6.10-6.14)",
	.kernel = "mm/rmap.c __folio_add_rmap(); folio_likely_mapped_shared(); "
		  "wp_can_reuse_anon_folio() in 6.14",
	.state_size = state_size,
	.meta_bytes = meta_bytes,
	.counters = counters,
	.nr_counters = PM_NR_CTRS,
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
