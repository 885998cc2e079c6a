/* SPDX-License-Identifier: MIT */
/*
 * analysis.h - what mapcountd computes by replaying a stored trace: the
 * report of `mapcount replay --format json`, a folio's history, and the
 * folios ranked by how much the policies disagree on them.
 */
#ifndef MAPCOUNTD_ANALYSIS_H
#define MAPCOUNTD_ANALYSIS_H

#include <jansson.h>
#include <stdatomic.h>

#include "engine.h"
#include "store.h"

struct analysis {
	const struct store_trace *trace;
	const struct mc_policy *const *pols;
	uint32_t npol;
	uint32_t arch;
	const char *folio;	 /* history */
	_Atomic uint64_t *done;	 /* progress: events replayed (may be NULL) */
	const atomic_bool *stop; /* interrupt when set (may be NULL) */
	/* on failure */
	unsigned int status; /* 404, 500, or 0: interrupted */
	char err[1024];
};

/* The per-policy objects of the report ("policies" of one trace), in the
 * order of a->pols.  NULL on failure. */
json_t *analysis_replay(struct analysis *a);
/* The folio's events and every policy's state after each. */
json_t *analysis_history(struct analysis *a);
/* Every folio with its event and disagreement counts, most disputed
 * first (at most limit). */
json_t *analysis_folios(struct analysis *a, uint32_t limit);

/* The complete report document from per-policy objects (steals pols). */
json_t *analysis_report_doc(const struct store_trace *t, uint32_t arch,
			    json_t *pols);

/* Policies of a folio view: exact first (the reference), then the others
 * requested; returns the count. */
uint32_t analysis_with_exact(const struct mc_policy *const *in, uint32_t n,
			     const struct mc_policy **out);

/* A fingerprint of the shape of the report (its keys and value types),
 * part of the result cache's key: results cached by an engine that printed
 * other fields are not served.  0, or -1. */
int analysis_report_fingerprint(char out[17]);

#endif /* MAPCOUNTD_ANALYSIS_H */
