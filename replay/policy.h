/* SPDX-License-Identifier: MIT */
/*
 * policy.h - the mapcount policy interface, and the ABI of policy plugins.
 *
 * A policy is one way the kernel could count folio mappings.  The engine
 * owns the world (MMs, folios, page tables) and hands each policy the
 * primitive rmap operations the kernel would perform, in order:
 *
 *	init()         folio allocated: set up the per-folio state
 *	add_rmap()     __folio_add_rmap() and friends (new, dup, plain)
 *	remove_rmap()  __folio_remove_rmap()
 *	ref(), pin()   references not held by page tables (GUP, page cache)
 *	release()      folio freed
 *
 * and asks it the questions the kernel asks its mapcounts:
 *
 *	cow_reuse()    do_wp_page(): may this write fault reuse the page?
 *	maybe_shared() folio_maybe_mapped_shared() and its predecessors
 *	page_mapcount() what /proc/kpagecount would say for one page
 *	smaps()        smaps_account(): PSS and USS of one mapping
 *
 * Per-folio state lives in arrays the engine allocates, state_size(order)
 * bytes per folio, zeroed before init().  A policy never sees the trace,
 * never allocates per event, and reports what it did through mc_ctx.
 */
#ifndef MAPCOUNT_POLICY_H
#define MAPCOUNT_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define MC_POLICY_ABI 1

enum mc_ftype { MC_ANON, MC_FILE, MC_SHMEM, MC_HUGETLB, MC_DRIVER };
enum mc_level { MC_PTE, MC_PMD, MC_PUD };

/* A folio, as a policy may know it.  Fixed for the folio's lifetime. */
struct mc_folio {
	uint64_t nr_pages;  /* folio_nr_pages() */
	uint32_t order;	    /* folio_order() */
	uint32_t type;	    /* enum mc_ftype */
	uint32_t pmd_order; /* HPAGE_PMD_ORDER of the traced machine */
	uint32_t arch;	    /* 64 or 32: widths of the kernel's fields */
};

/*
 * add_rmap()/remove_rmap() flags.  NEW: folio_add_new_anon_rmap(), the first
 * map of a whole anon folio.  DUP: fork, folio_try_dup_anon_rmap_*() or
 * __folio_dup_file_rmap().  EXCL: RMAP_EXCLUSIVE.
 */
#define MC_RMAP_NEW  0x1
#define MC_RMAP_DUP  0x2
#define MC_RMAP_EXCL 0x4

/* One rmap operation: nr pages from first, mapped at level by one MM. */
struct mc_rmap {
	uint64_t first, nr; /* pages; a PMD/PUD covers one aligned part */
	uint32_t vma;	    /* the VMA within the MM (trace handle), or
			     * UINT32_MAX: (mm_id, vma) names a VMA */
	uint32_t mm_id;	    /* mm->mm_id, from an IDA over [1, MM_ID_MAX] */
	uint8_t level;	    /* enum mc_level */
	uint8_t flags;	    /* MC_RMAP_* */
};

/* A write fault on a present, write-protected, !PageAnonExclusive page. */
struct mc_fault {
	uint64_t page;	/* index in the folio */
	uint32_t mm_id; /* the faulting MM */
	uint8_t level;	/* how that MM maps the page */
};

/* smaps accumulator (fs/proc/task_mmu.c): PSS in bytes << MC_PSS_SHIFT */
#define MC_PSS_SHIFT 12
struct mc_smaps {
	uint64_t pss;	    /* fixed point, like mss->pss */
	uint64_t uss;	    /* bytes accounted private */
	uint64_t page_size; /* bytes per page */
};

/*
 * A counter the policy's design keeps in a fixed-width kernel field.  The
 * engine records each counter's peak and the first event at which it no
 * longer fits: value > 2^(bits-1) - 1 + bias (all are signed; biased
 * fields store the count minus one).  bits = 0: the field does not exist
 * on that arch.
 */
struct mc_counter_decl {
	const char *name;
	uint8_t bits64, bits32;
	uint8_t bias;
};

/*
 * The engine's side of a call.  Policies add to the cost and stats fields,
 * set partially_mapped, and report counter values with mc_counter().
 */
struct mc_ctx {
	/* modelled cost of the kernel code path */
	uint64_t words_written; /* metadata words stored */
	uint64_t atomics; /* atomic RMW operations and lock acquisitions */
	/* memory statistics deltas, in pages (__folio_mod_stat()) */
	int64_t nr_mapped;    /* NR_ANON_MAPPED or NR_FILE_MAPPED */
	int64_t nr_pmdmapped; /* NR_ANON_THPS, NR_{SHMEM,FILE}_PMDMAPPED */
	/* remove_rmap(): the kernel would queue a deferred split */
	bool partially_mapped;
	/* metadata the policy allocates beyond state_size (bytes, +/-) */
	int64_t dyn_bytes;
	/* engine internals */
	uint32_t arch;
	uint64_t event; /* index of the current event */
	int64_t *peak;	/* per declared counter */
	int64_t *limit;
	uint64_t *first_overflow; /* UINT64_MAX: never */
	uint64_t overflow_events; /* events with a counter beyond its limit */
	uint64_t last_overflow;	  /* 1 + index of the last such event */
};

static inline void mc_counter(struct mc_ctx *c, unsigned int idx, int64_t val)
{
	if (val > c->peak[idx])
		c->peak[idx] = val;
	if (val <= c->limit[idx])
		return;
	if (c->first_overflow[idx] == UINT64_MAX)
		c->first_overflow[idx] = c->event;
	if (c->last_overflow != c->event + 1) {
		c->last_overflow = c->event + 1;
		c->overflow_events++;
	}
}

/* A named value of a folio's state, for the folio inspector. */
struct mc_field {
	const char *name;
	int64_t value;
};

struct mc_policy {
	uint32_t abi;	     /* MC_POLICY_ABI */
	uint32_t version;    /* bump when results change (result caches) */
	const char *name;    /* e.g. "two-slot" */
	const char *summary; /* one line */
	const char *kernel;  /* the kernel code or mail it models */

	/* bytes of engine-allocated state per folio of this order */
	size_t (*state_size)(uint32_t order);
	/* bytes of kernel metadata the design spends on a folio */
	size_t (*meta_bytes)(uint32_t order, uint32_t type, uint32_t arch);
	const struct mc_counter_decl *counters;
	uint32_t nr_counters;

	void (*init)(void *st, const struct mc_folio *f, struct mc_ctx *c);
	void (*add_rmap)(void *st, const struct mc_folio *f,
			 const struct mc_rmap *r, struct mc_ctx *c);
	void (*remove_rmap)(void *st, const struct mc_folio *f,
			    const struct mc_rmap *r, struct mc_ctx *c);
	/* delta references not held by page tables; pins are FOLL_PIN */
	void (*ref)(void *st, const struct mc_folio *f, int64_t delta,
		    struct mc_ctx *c);
	void (*pin)(void *st, const struct mc_folio *f, int delta,
		    struct mc_ctx *c);
	/* optional: folio freed; give back dyn_bytes */
	void (*release)(void *st, const struct mc_folio *f, struct mc_ctx *c);

	bool (*cow_reuse)(void *st, const struct mc_folio *f,
			  const struct mc_fault *q, struct mc_ctx *c);
	bool (*maybe_shared)(const void *st, const struct mc_folio *f);
	uint64_t (*page_mapcount)(const void *st, const struct mc_folio *f,
				  uint64_t page);
	/* account nr pages from first, mapped by one MM (smaps_account()) */
	void (*smaps)(const void *st, const struct mc_folio *f, uint64_t first,
		      uint64_t nr, struct mc_smaps *acc);
	/* optional: up to max fields of the state; returns how many */
	uint32_t (*fields)(const void *st, const struct mc_folio *f,
			   struct mc_field *out, uint32_t max);
};

/* Most counters a policy may declare. */
#define MC_MAX_DECL_COUNTERS 16

/*
 * Plugins.  A shared object exports the ABI it was built for and its
 * policies; MC_PLUGIN(&policy_a, &policy_b) defines both:
 *
 *	const uint32_t mapcount_policy_abi = MC_POLICY_ABI;
 *	const struct mc_policy *const *mapcount_policies(uint32_t *nr);
 *
 * `mapcount replay --plugin FILE.so` and mapcountd --plugin-dir load them;
 * a plugin built for another ABI is refused before anything else is read.
 */
#define MC_PLUGIN_ABI_SYMBOL "mapcount_policy_abi"
#define MC_PLUGIN_SYMBOL     "mapcount_policies"

#define MC_PLUGIN(...)                                                         \
	extern const uint32_t mapcount_policy_abi;                             \
	const uint32_t mapcount_policy_abi = MC_POLICY_ABI;                    \
	const struct mc_policy *const *mapcount_policies(uint32_t *nr);        \
	const struct mc_policy *const *mapcount_policies(uint32_t *nr)         \
	{                                                                      \
		static const struct mc_policy *const list[] = { __VA_ARGS__ }; \
		*nr = sizeof(list) / sizeof(list[0]);                          \
		return list;                                                   \
	}

#endif /* MAPCOUNT_POLICY_H */
