/* SPDX-License-Identifier: MIT */
/*
 * synth.h - `mapcount synth`: synthetic workloads over a small model of the
 * kernel's memory manager (MMs, VMAs, page tables, page cache, fork, COW,
 * zap, mremap, GUP), emitting mapcount-lab trace events.
 *
 * Two halves:
 *  - the generator API (configure a workload, generate a trace), used by
 *    clients/cli/cmd_synth.c and the tests;
 *  - the model API, used by the workloads (traces/gen/workloads.c).
 *
 * Every emitted event is first applied to an engine (or, for workloads
 * that ask for it, a bare world) before it is written: an event the engine
 * refuses is a bug in the model and stops generation.  See docs/traces.md.
 */
#ifndef MAPCOUNT_SYNTH_H
#define MAPCOUNT_SYNTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "trace.h"

/* ---- Generator API ---- */

#define SYNTH_MAX_PARAMS     8
#define SYNTH_DEFAULT_DECIDE "two-slot+pages"

enum synth_ptype {
	SYNTH_INT,   /* unsigned decimal integer */
	SYNTH_FRAC,  /* real number */
	SYNTH_ORDER, /* anonymous mTHP order: 0 or 2..9 (no order-1 mTHP) */
};

struct synth_param {
	const char *name;
	enum synth_ptype type;
	double def, min, max;
	const char *help;
};

struct synth;
union synth_value {
	uint64_t i;
	double f;
};

struct synth_workload {
	const char *name;
	const char *summary;
	const struct synth_param *params;
	uint32_t nr_params;
	void (*run)(struct synth *s, const union synth_value *v);
	bool world_check; /* self-check with a bare world, not an engine */
};

const struct synth_workload *synth_workloads(uint32_t *nr);
const struct synth_workload *synth_workload_find(const char *name);

struct synth_config {
	const struct synth_workload *wl;
	union synth_value v[SYNTH_MAX_PARAMS];
	bool given[SYNTH_MAX_PARAMS];
	uint64_t seed;
	const struct mc_policy *decide; /* NULL: SYNTH_DEFAULT_DECIDE */
	bool paranoid; /* compare the page tables with the world each phase */
};

/* Select a workload with its defaults; -1 and a message if unknown. */
int synth_config_init(struct synth_config *c, const char *workload, char *err,
		      size_t errlen);
/* Apply one "name=value"; -1 and a message if bad. */
int synth_config_param(struct synth_config *c, const char *kv, char *err,
		       size_t errlen);

struct synth_stats {
	uint64_t events;
	uint64_t kinds[MCT_NR_KINDS];
	uint64_t folios[MCT_MAX_ORDER + 1][MCT_NR_FTYPES]; /* allocated */
	uint64_t cow_reuse, cow_copy;
	uint32_t mms;
};

/*
 * Generate the trace into w (header included; w is not closed).  Returns
 * 0, or -1 with a message: a write error, or a bug in the model.
 */
int synth_generate(const struct synth_config *c, struct mct_writer *w,
		   struct synth_stats *st, char *err, size_t errlen);

/* ---- Model API (for workloads) ---- */

#define SYNTH_NONE UINT32_MAX

/* Deterministic random numbers of the workload (xoshiro256**). */
uint64_t synth_rand(struct synth *s);
uint64_t synth_below(struct synth *s, uint64_t n); /* [0, n), n > 0 */
bool synth_chance(struct synth *s, double p);
/* Memory freed with the generator (also on failure). */
void *synth_scratch(struct synth *s, size_t size);
/* k distinct values of [0, n) in random order, into out[k] (k <= n). */
void synth_sample(struct synth *s, uint64_t n, uint64_t k, uint32_t *out);
void synth_shuffle(struct synth *s, uint32_t *a, uint32_t n);

/* Processes.  Names: prefix and handle ("p0", "c3", "m1"). */
uint32_t synth_mm_new(struct synth *s, char prefix, const char *comm);
uint32_t synth_fork(struct synth *s, uint32_t parent);
void synth_exit(struct synth *s, uint32_t mm);
bool synth_mm_live(const struct synth *s, uint32_t mm);

/* Files: npages of page cache, folios naturally aligned in file offset,
 * of order max_order, or of random orders 0..max_order when mixed. */
uint32_t synth_file_new(struct synth *s, enum mct_ftype type, uint64_t npages,
			uint32_t max_order, bool mixed);
/* query every folio of the file's page cache. */
void synth_query_file(struct synth *s, uint32_t file);
/* Free the file's page cache (it must be unmapped everywhere). */
void synth_file_drop(struct synth *s, uint32_t file);

/* VMAs (handles numbered per MM, inherited by fork). */
uint32_t synth_vma_anon(struct synth *s, uint32_t mm, uint64_t npages,
			uint32_t order);
uint32_t synth_vma_file(struct synth *s, uint32_t mm, uint32_t file,
			uint64_t pgoff, uint64_t npages, bool shared);
uint64_t synth_vma_pages(const struct synth *s, uint32_t mm, uint32_t vma);
/* Is page off of the VMA part of it (not munmap()ed)? */
bool synth_vma_has(const struct synth *s, uint32_t mm, uint32_t vma,
		   uint64_t off);
/* The folio mapping page off, or SYNTH_NONE. */
uint32_t synth_folio_at(const struct synth *s, uint32_t mm, uint32_t vma,
			uint64_t off);

/* A read or write access to page off of a VMA: fault, COW, or nothing. */
void synth_touch(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		 bool write);
/* MADV_DONTNEED (munmap false) or munmap of [off, off + n). */
void synth_zap(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
	       uint64_t n, bool munmap);
/* mremap() [off, off + n) of a VMA to a new VMA of the same MM. */
uint32_t synth_mremap(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		      uint64_t n);

/* GUP.  pin: FOLL_PIN, R/W (write) or R/O longterm (unshare first);
 * returns the folio pinned.  get: FOLL_GET without unshare (vmsplice). */
uint32_t synth_pin(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off,
		   bool write);
void synth_unpin(struct synth *s, uint32_t folio);
uint32_t synth_get(struct synth *s, uint32_t mm, uint32_t vma, uint64_t off);
void synth_put(struct synth *s, uint32_t folio);

/* Decision points. */
void synth_query(struct synth *s, uint32_t folio);
/* End of a phase: stat of every live MM (and the paranoid check). */
void synth_phase(struct synth *s);

/*
 * Raw events for streaming workloads that keep no page tables (their
 * mappings are not in the model: exit frees nothing it does not know).
 */
uint32_t synth_raw_alloc(struct synth *s, enum mct_ftype type, uint32_t order,
			 const char *prefix);
void synth_raw_map(struct synth *s, uint32_t mm, uint32_t folio, uint64_t first,
		   uint64_t nr, uint32_t vma);
void synth_raw_free(struct synth *s, uint32_t folio);

/* Stop generation: a bug in a workload. */
_Noreturn void synth_fail(struct synth *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* MAPCOUNT_SYNTH_H */
