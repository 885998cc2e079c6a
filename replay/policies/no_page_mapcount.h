/* SPDX-License-Identifier: MIT */
/*
 * no_page_mapcount.h - the CONFIG_NO_PAGE_MAPCOUNT half of mm/rmap.c's
 * __folio_add_rmap() and __folio_remove_rmap(): large folios keep only
 * _large_mapcount and _entire_mapcount; statistics count a whole folio as
 * mapped while any page is; a partial mapping is noticed only when the
 * mapcount drops below the number of pages.  Shared by two-slot and
 * 012-stopped, which differ in who owns the large mapcount.
 */
#ifndef MAPCOUNT_POLICIES_NO_PAGE_MAPCOUNT_H
#define MAPCOUNT_POLICIES_NO_PAGE_MAPCOUNT_H

#include "common.h"

enum {
	NPM_CTR_REFCOUNT,
	NPM_CTR_MAPCOUNT,
	NPM_CTR_ENTIRE,
	NPM_CTR_PIN,
	NPM_NR_CTRS
};

#define NPM_COUNTERS                                                \
	{ "refcount", 32, 32, 0 }, { "large_mapcount", 32, 32, 1 }, \
		{ "entire_mapcount", 32, 32, 1 },                   \
	{                                                           \
		"pincount", 32, 32, 0                               \
	}

struct npm_state {
	int64_t refcount; /* folio->_refcount */
	int64_t pincount; /* folio->_pincount */
	int64_t mapcount; /* biased: _large_mapcount, or a small folio's
			   * page->_mapcount */
	int64_t entire;	  /* folio->_entire_mapcount, biased */
};

/*
 * The owner of the large mapcount: folio_add_return_large_mapcount() and
 * folio_sub_return_large_mapcount() of the policy.  Returns the new
 * (unbiased) mapcount.
 */
typedef int64_t (*npm_large_fn)(void *st, int64_t *large, int64_t diff,
				uint32_t mm_id, struct mc_ctx *c);

static inline void npm_init(struct npm_state *n, const struct mc_folio *f,
			    struct mc_ctx *c)
{
	n->refcount = folio_base_refs(f);
	n->pincount = 0;
	n->mapcount = -1;
	n->entire = -1;
	mc_counter(c, NPM_CTR_REFCOUNT, n->refcount);
}

static inline void npm_add(struct npm_state *n, void *st, npm_large_fn add,
			   const struct mc_folio *f, const struct mc_rmap *r,
			   struct mc_ctx *c)
{
	int64_t m;

	n->refcount += rmap_entries(f, r);
	mc_counter(c, NPM_CTR_REFCOUNT, n->refcount);
	cost(c, 1, 1);
	if (folio_hugetlb(f)) { /* hugetlb_add_file_rmap() */
		n->entire++;
		n->mapcount++;
		cost(c, 2, 2);
	} else if (!folio_large(f)) {
		c->nr_mapped += ++n->mapcount == 0;
		cost(c, 1, 1);
	} else if (r->level == MC_PTE) {
		m = add(st, &n->mapcount, (int64_t)r->nr, r->mm_id, c);
		if (m == (int64_t)r->nr) /* was completely unmapped */
			c->nr_mapped += (int64_t)f->nr_pages;
	} else {
		if (++n->entire == 0 && r->level == MC_PMD)
			c->nr_pmdmapped += (int64_t)f->nr_pages;
		cost(c, 1, 1);
		m = add(st, &n->mapcount, 1, r->mm_id, c);
		if (m == 1)
			c->nr_mapped += (int64_t)f->nr_pages;
	}
	mc_counter(c, NPM_CTR_MAPCOUNT, n->mapcount + 1);
	mc_counter(c, NPM_CTR_ENTIRE, n->entire + 1);
}

static inline void npm_remove(struct npm_state *n, void *st, npm_large_fn sub,
			      const struct mc_folio *f, const struct mc_rmap *r,
			      struct mc_ctx *c)
{
	int64_t m;
	bool last;

	if (folio_hugetlb(f)) { /* hugetlb_remove_rmap() */
		n->entire--;
		n->mapcount--;
		cost(c, 2, 2);
	} else if (!folio_large(f)) {
		c->nr_mapped -= --n->mapcount < 0;
		cost(c, 1, 1);
	} else if (r->level == MC_PTE) {
		m = sub(st, &n->mapcount, (int64_t)r->nr, r->mm_id, c);
		if (!m) /* now completely unmapped */
			c->nr_mapped -= (int64_t)f->nr_pages;
		else
			c->partially_mapped =
				m < (int64_t)f->nr_pages && n->entire + 1 == 0;
	} else {
		last = --n->entire < 0;
		if (last && r->level == MC_PMD)
			c->nr_pmdmapped -= (int64_t)f->nr_pages;
		cost(c, 1, 1);
		m = sub(st, &n->mapcount, 1, r->mm_id, c);
		if (!m)
			c->nr_mapped -= (int64_t)f->nr_pages;
		else
			c->partially_mapped = last && m < (int64_t)f->nr_pages;
	}
	n->refcount -= rmap_entries(f, r);
	cost(c, 1, 1);
}

static inline void npm_ref(struct npm_state *n, int64_t delta, struct mc_ctx *c)
{
	n->refcount += delta;
	mc_counter(c, NPM_CTR_REFCOUNT, n->refcount);
	cost(c, 1, 1);
}

static inline void npm_pin(struct npm_state *n, const struct mc_folio *f,
			   int delta, struct mc_ctx *c)
{
	n->refcount += delta * pin_refs(f);
	mc_counter(c, NPM_CTR_REFCOUNT, n->refcount);
	cost(c, 1, 1);
	if (folio_large(f)) {
		n->pincount += delta;
		mc_counter(c, NPM_CTR_PIN, n->pincount);
		cost(c, 1, 1);
	}
}

/* folio_average_page_mapcount(), what kpagecount reports */
static inline int64_t npm_page_mapcount(const struct npm_state *n,
					const struct mc_folio *f)
{
	return average_page_mapcount(f, n->mapcount + 1, n->entire + 1);
}

/* smaps_account() with CONFIG_NO_PAGE_MAPCOUNT */
static inline void npm_smaps(const struct npm_state *n,
			     const struct mc_folio *f, bool maybe_shared,
			     uint64_t nr, struct mc_smaps *acc)
{
	int64_t m = npm_page_mapcount(n, f);

	if (n->refcount == 1) {
		smaps_private(acc, nr);
		return;
	}
	for (uint64_t i = 0; i < nr; i++)
		smaps_page(acc, m, !maybe_shared);
}

#endif /* MAPCOUNT_POLICIES_NO_PAGE_MAPCOUNT_H */
