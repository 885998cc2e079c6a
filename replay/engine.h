/* SPDX-License-Identifier: MIT */
/*
 * engine.h - replays a trace through several policies side by side and
 * measures each against the exact oracle and against what the kernel
 * recorded.
 */
#ifndef MAPCOUNT_ENGINE_H
#define MAPCOUNT_ENGINE_H

#include "policy.h"
#include "trace.h"
#include "world.h"

#define MC_MAX_POLICIES 32
#define MC_MAX_COUNTERS MC_MAX_DECL_COUNTERS

struct mc_result {
	const struct mc_policy *policy;
	struct {
		uint64_t decisions, reuse, copy, missed_reuse, unsafe_reuse;
		uint64_t kernel_agree, kernel_disagree;
		uint64_t anon_exclusive; /* decided by PageAnonExclusive */
	} cow;
	struct {
		uint64_t queries, false_shared, false_exclusive;
		uint64_t kernel_agree, kernel_disagree;
	} shared;
	struct {
		uint64_t queries, pss_err_max_bytes, uss_err_max_bytes;
		uint64_t anon_mapped_err_max_bytes, file_mapped_err_max_bytes;
		uint64_t kernel_agree, kernel_disagree;
	} stats;
	struct {
		uint64_t actual, detected, missed, false_flags;
	} partial;
	struct {
		uint64_t observed, agree;
	} observe;
	struct { /* mmid: the kernel's MM_ID slots, for policies with slots */
		uint64_t observed, agree;
	} slots;
	struct {
		int64_t current, peak;
	} memory;
	struct {
		int64_t peak[MC_MAX_COUNTERS];
		int64_t limit[MC_MAX_COUNTERS];
		uint64_t first_overflow[MC_MAX_COUNTERS]; /* UINT64_MAX: none */
		uint64_t events; /* events with a counter beyond its limit */
	} overflow;
	struct {
		uint64_t words_written, atomics;
		uint64_t sampled_events;
		double sampled_ns;
	} cost;
	/* NR_ANON_MAPPED and NR_FILE_MAPPED as the policy accounts them */
	int64_t anon_mapped, file_mapped;
};

/*
 * The timeline: cumulative counts sampled at most MC_TIMELINE_MAX times,
 * evenly over the trace (every 2^k events, k growing as the trace does),
 * and once more at its end.
 */
#define MC_TIMELINE_MAX 128
struct mc_tpoint {
	uint64_t missed_reuse, unsafe_reuse;
	uint64_t false_shared, false_exclusive;
	uint64_t pss_err_max_bytes;
};

struct engine_opts {
	uint32_t arch; /* 64 or 32 */
	const struct mc_policy *const *policies;
	uint32_t nr_policies;
	uint32_t sample_shift; /* time one event in 2^shift; 0: every one */
	bool no_timing;	       /* deterministic runs (tests) */
	bool no_oracle;	       /* benchmarks: run only the policies asked
				* for; nothing is compared with exact */
};

struct engine;

/* Returns NULL when a policy is unusable (message in err). */
struct engine *engine_new(const struct mct_header *h,
			  const struct engine_opts *o, char *err,
			  size_t errlen);
/* Apply one event.  Returns 0, or -1 with a message (a semantic error). */
int engine_event(struct engine *e, const struct mct_event *ev, char *err,
		 size_t errlen);
/* Settle what is still open at the end of the trace. */
void engine_finish(struct engine *e);
void engine_free(struct engine *e);

uint64_t engine_events(const struct engine *e);
/* Results of the i-th requested policy. */
const struct mc_result *engine_result(const struct engine *e, uint32_t i);
const struct world *engine_world(const struct engine *e);
/* The i-th requested policy's timeline: returns the number of points;
 * *events[k] is the number of events replayed at point k, *pt the
 * policy's counts then (point k at (*pt)[k * stride], stride in *stride). */
uint32_t engine_timeline(const struct engine *e, uint32_t i,
			 const uint64_t **events, const struct mc_tpoint **pt,
			 uint32_t *stride);

/* Per-folio state of the i-th requested policy, for the folio inspector
 * and tests; NULL if the folio is not allocated. */
const void *engine_folio_state(const struct engine *e, uint32_t i,
			       uint32_t folio, struct mc_folio *f);

/*
 * What the i-th requested policy would decide for a write fault by mm on a
 * page of folio, without scoring it (closed-loop generators): 1 reuse, 0
 * copy, -1 when mm does not map that page.
 */
int engine_ask_cow(struct engine *e, uint32_t i, uint32_t mm, uint32_t folio,
		   uint64_t page);

#include "registry.h"

#endif /* MAPCOUNT_ENGINE_H */
