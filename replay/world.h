/* SPDX-License-Identifier: MIT */
/*
 * world.h - what the traced machine looks like: MMs, folios, and which page
 * table entries map which pages.  The world validates every statement of a
 * trace and expands fork and exit into the primitive rmap operations the
 * kernel performs (dup_mmap() -> copy_present_ptes()/copy_huge_pmd(),
 * exit_mmap() -> zap), so that policies see exactly those.
 */
#ifndef MAPCOUNT_WORLD_H
#define MAPCOUNT_WORLD_H

#include "policy.h"
#include "trace.h"

/* A primitive operation, reported to the world's consumer. */
enum world_op {
	W_ALLOC,  /* folio */
	W_FREE,	  /* folio */
	W_ADD,	  /* folio mm first nr level flags */
	W_REMOVE, /* folio mm first nr level */
	W_REF,	  /* folio delta */
	W_PIN,	  /* folio delta (+1/-1) */
};

struct world_prim {
	enum world_op op;
	uint32_t folio, mm;
	struct mc_rmap r;
	int64_t delta;
};

struct world;
typedef void (*world_fn)(void *ctx, const struct world_prim *p);

struct world_folio {
	uint64_t nr_pages;
	uint32_t order;
	uint8_t type; /* enum mc_ftype */
	bool live, ever_mapped;
	uint64_t mappings; /* page table entries mapping it (PTE=PMD=1) */
	int64_t refs;	   /* ref events: references beyond page tables */
	int64_t pins;
	/* PageAnonExclusive, one bit per page: in excl_word up to 64 pages
	 * (no allocation per folio), else in excl */
	uint64_t excl_word;
	uint64_t *excl;
	uint32_t state; /* engine: index of the per-policy state slot */
};

struct world_mm {
	bool live, ever;
	uint32_t mm_id;
	uint32_t first_map, last_map; /* list of this MM's mapping records */
	uint64_t nr_maps;
};

struct world *world_new(const struct mct_header *h);
void world_free(struct world *w);

/*
 * Apply one event.  Structural events call fn once per primitive; decision
 * events (cow, query, stat, observe) are validated only.  Returns 0, or -1
 * with a message in err (no state changed).
 */
int world_apply(struct world *w, const struct mct_event *ev, world_fn fn,
		void *ctx, char *err, size_t errlen);

const struct world_folio *world_folio(const struct world *w, uint32_t folio);
const struct world_mm *world_mm(const struct world *w, uint32_t mm);
uint32_t world_nr_folios(const struct world *w); /* handles in use */
uint32_t world_nr_mms(const struct world *w);

/* How mm maps page of folio: 0 not mapped, else 1 + enum mc_level (PTE
 * preferred when both, as after a PMD split in progress). */
int world_page_level(const struct world *w, uint32_t mm, uint32_t folio,
		     uint64_t page);
bool world_page_exclusive(const struct world *w, uint32_t folio, uint64_t page,
			  int level);
/* wp_page_reuse()/do_huge_pmd_wp_page() reuse: SetPageAnonExclusive() */
void world_set_exclusive(struct world *w, uint32_t folio, uint64_t page,
			 int level);
/* Does mm map page of folio through vma (MCT_NO_ID: none) at level? */
bool world_mapped(const struct world *w, uint32_t mm, uint32_t folio,
		  uint32_t vma, int level, uint64_t page);
/* Page table entries of folio that belong to MMs other than mm: 0 means
 * mm holds every mapping. */
uint64_t world_other_mappings(const struct world *w, uint32_t folio,
			      uint32_t mm);
/* Iterate an MM's mappings: fn(folio, first page, nr pages, level). */
typedef void (*world_map_fn)(void *ctx, uint32_t folio, uint64_t first,
			     uint64_t nr, int level);
void world_for_each_mapping(const struct world *w, uint32_t mm, world_map_fn fn,
			    void *ctx);

/* Counts for `mapcount check`. */
struct world_summary {
	uint64_t events[MCT_NR_KINDS];
	uint64_t mms, folios_by_order[MCT_MAX_ORDER + 1][MCT_NR_FTYPES];
	uint64_t forks_copied_pages; /* pinned exclusive pages fork copied */
};
const struct world_summary *world_summary(const struct world *w);

#endif /* MAPCOUNT_WORLD_H */
