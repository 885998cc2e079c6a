/* SPDX-License-Identifier: MIT */
/*
 * page_mapcount.h - the CONFIG_PAGE_MAPCOUNT half of mm/rmap.c's
 * __folio_add_rmap() and __folio_remove_rmap(): page->_mapcount of every
 * page, folio->_entire_mapcount, _nr_pages_mapped and the statistics and
 * deferred-split decisions derived from them.  Shared by the policies that
 * keep per-page mapcounts (per-page, two-slot+pages); the large mapcount
 * is theirs to update (with or without MM owner slots).
 */
#ifndef MAPCOUNT_POLICIES_PAGE_MAPCOUNT_H
#define MAPCOUNT_POLICIES_PAGE_MAPCOUNT_H

#include "common.h"

#define ENTIRELY_MAPPED	   0x800000
#define FOLIO_PAGES_MAPPED (ENTIRELY_MAPPED - 1)

/* Counters every CONFIG_PAGE_MAPCOUNT policy declares first, in order. */
enum {
	PM_CTR_REFCOUNT,
	PM_CTR_LARGE,
	PM_CTR_ENTIRE,
	PM_CTR_PAGE,
	PM_CTR_PIN,
	PM_NR_CTRS
};

#define PM_COUNTERS                                                 \
	{ "refcount", 32, 32, 0 }, { "large_mapcount", 32, 32, 1 }, \
		{ "entire_mapcount", 32, 32, 1 },                   \
		{ "page_mapcount", 32, 32, 1 },                     \
	{                                                           \
		"pincount", 32, 32, 0                               \
	}

struct pm_state {
	int64_t refcount;	 /* folio->_refcount */
	int64_t pincount;	 /* folio->_pincount (large folios) */
	int64_t large;		 /* folio->_large_mapcount, biased */
	int64_t entire;		 /* folio->_entire_mapcount, biased */
	int64_t nr_pages_mapped; /* folio->_nr_pages_mapped */
	int32_t mapcount[];	 /* page->_mapcount of each page, biased */
};

static inline size_t pm_size(uint32_t order)
{
	return sizeof(struct pm_state) + ((size_t)1 << order) * sizeof(int32_t);
}

static inline void pm_init(struct pm_state *pm, const struct mc_folio *f,
			   struct mc_ctx *c)
{
	pm->refcount = folio_base_refs(f);
	pm->pincount = 0;
	pm->large = -1;
	pm->entire = -1;
	pm->nr_pages_mapped = 0;
	for (uint64_t i = 0; i < f->nr_pages; i++)
		pm->mapcount[i] = -1;
	mc_counter(c, PM_CTR_REFCOUNT, pm->refcount);
}

/* folio_mapcount() */
static inline int64_t pm_folio_mapcount(const struct pm_state *pm,
					const struct mc_folio *f)
{
	return folio_large(f) ? pm->large + 1 : pm->mapcount[0] + 1;
}

/* folio_precise_page_mapcount() (fs/proc/internal.h) */
static inline int64_t pm_page_mapcount(const struct pm_state *pm,
				       const struct mc_folio *f, uint64_t page)
{
	int64_t m = pm->mapcount[page] + 1;

	if (folio_large(f))
		m += pm->entire + 1;
	return m;
}

/*
 * The page part of __folio_add_rmap().  Returns the number of mappings the
 * caller adds to the large mapcount (0 for small folios): nr for PTEs, 1
 * for a PMD/PUD.  Takes the page table references first, as the callers
 * of folio_add_*_rmap_*() do.
 */
static inline int64_t pm_add(struct pm_state *pm, const struct mc_folio *f,
			     const struct mc_rmap *r, struct mc_ctx *c)
{
	int64_t nr = 0, nr_pmdmapped = 0, first = 0, v;
	bool fresh = r->flags & MC_RMAP_NEW;

	pm->refcount += rmap_entries(f, r);
	mc_counter(c, PM_CTR_REFCOUNT, pm->refcount);
	cost(c, 1, 1);

	if (folio_hugetlb(f)) { /* hugetlb_add_file_rmap() and friends */
		pm->entire++;
		mc_counter(c, PM_CTR_ENTIRE, pm->entire + 1);
		cost(c, 1, 1);
		return 1;
	}
	if (r->level == MC_PTE && !folio_large(f)) {
		nr = ++pm->mapcount[0] == 0;
		mc_counter(c, PM_CTR_PAGE, pm->mapcount[0] + 1);
		cost(c, !fresh, 1);
		c->nr_mapped += nr;
		return 0;
	}
	if (r->level == MC_PTE) {
		for (uint64_t p = r->first; p < r->first + r->nr; p++) {
			first += ++pm->mapcount[p] == 0;
			mc_counter(c, PM_CTR_PAGE, pm->mapcount[p] + 1);
		}
		cost(c, fresh ? 0 : r->nr, r->nr);
		if (first) {
			pm->nr_pages_mapped += first;
			cost(c, !fresh, 1);
			if (pm->nr_pages_mapped < ENTIRELY_MAPPED)
				nr = first;
		}
		c->nr_mapped += nr;
		return (int64_t)r->nr;
	}
	/* PMD or PUD: one entire mapping */
	cost(c, !fresh, 1);
	if (++pm->entire == 0) {
		v = pm->nr_pages_mapped += ENTIRELY_MAPPED;
		cost(c, !fresh, 1);
		if (v < 2 * ENTIRELY_MAPPED) {
			if (r->level == MC_PMD)
				nr_pmdmapped = (int64_t)f->nr_pages;
			nr = (int64_t)f->nr_pages - (v & FOLIO_PAGES_MAPPED);
			if (nr < 0)
				nr = 0;
		}
	}
	mc_counter(c, PM_CTR_ENTIRE, pm->entire + 1);
	c->nr_mapped += nr;
	c->nr_pmdmapped += nr_pmdmapped;
	return 1;
}

/*
 * The page part of __folio_remove_rmap(): returns the mappings the caller
 * takes off the large mapcount; sets c->partially_mapped as the kernel
 * decides it.  Drops the page table references last.
 */
static inline int64_t pm_remove(struct pm_state *pm, const struct mc_folio *f,
				const struct mc_rmap *r, struct mc_ctx *c)
{
	int64_t nr = 0, nr_pmdmapped = 0, last = 0, v, ret = 1;

	if (folio_hugetlb(f)) { /* hugetlb_remove_rmap() */
		pm->entire--;
		cost(c, 1, 1);
	} else if (r->level == MC_PTE && !folio_large(f)) {
		nr = --pm->mapcount[0] < 0;
		cost(c, 1, 1);
		ret = 0;
	} else if (r->level == MC_PTE) {
		for (uint64_t p = r->first; p < r->first + r->nr; p++)
			last += --pm->mapcount[p] < 0;
		cost(c, r->nr, r->nr);
		if (last) {
			pm->nr_pages_mapped -= last;
			cost(c, 1, 1);
			if (pm->nr_pages_mapped < ENTIRELY_MAPPED)
				nr = last;
		}
		c->partially_mapped = nr && pm->nr_pages_mapped;
		ret = (int64_t)r->nr;
	} else {
		cost(c, 1, 1);
		if (--pm->entire < 0) {
			v = pm->nr_pages_mapped -= ENTIRELY_MAPPED;
			cost(c, 1, 1);
			if (v < ENTIRELY_MAPPED) {
				if (r->level == MC_PMD)
					nr_pmdmapped = (int64_t)f->nr_pages;
				nr = (int64_t)f->nr_pages - v;
				if (nr < 0)
					nr = 0;
			}
		}
		c->partially_mapped = nr && nr < nr_pmdmapped;
	}
	c->nr_mapped -= nr;
	c->nr_pmdmapped -= nr_pmdmapped;
	pm->refcount -= rmap_entries(f, r);
	cost(c, 1, 1);
	return ret;
}

static inline void pm_ref(struct pm_state *pm, int64_t delta, struct mc_ctx *c)
{
	pm->refcount += delta;
	mc_counter(c, PM_CTR_REFCOUNT, pm->refcount);
	cost(c, 1, 1);
}

static inline void pm_pin(struct pm_state *pm, const struct mc_folio *f,
			  int delta, struct mc_ctx *c)
{
	pm->refcount += delta * pin_refs(f);
	mc_counter(c, PM_CTR_REFCOUNT, pm->refcount);
	cost(c, 1, 1);
	if (folio_large(f)) {
		pm->pincount += delta;
		mc_counter(c, PM_CTR_PIN, pm->pincount);
		cost(c, 1, 1);
	}
}

/* smaps_account() with CONFIG_PAGE_MAPCOUNT */
static inline void pm_smaps(const struct pm_state *pm, const struct mc_folio *f,
			    uint64_t first, uint64_t nr, struct mc_smaps *acc)
{
	if (pm->refcount == 1) {
		smaps_private(acc, nr);
		return;
	}
	for (uint64_t p = first; p < first + nr; p++) {
		int64_t m = pm_page_mapcount(pm, f, p);

		smaps_page(acc, m, m < 2);
	}
}

#endif /* MAPCOUNT_POLICIES_PAGE_MAPCOUNT_H */
