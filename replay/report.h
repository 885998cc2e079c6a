/* SPDX-License-Identifier: MIT */
/*
 * report.h - replay results as the JSON of `mapcount replay --format json`
 * (the contract other tools depend on); clients/cli/render.c renders it.
 */
#ifndef MAPCOUNT_REPORT_H
#define MAPCOUNT_REPORT_H

#include <jansson.h>
#include <stdio.h>

#include "engine.h"

/*
 * Bump when the meaning of a reported number changes (scoring, engine
 * semantics) without a policy's own version changing: result caches
 * (mapcountd) key on it.
 */
#define MC_REPORT_VERSION 1

/* {"name":, "file":, "events":, "policies": [...]} for one trace. */
json_t *report_trace_json(const struct engine *e, uint32_t nr_policies,
			  const char *name, const char *file, uint32_t arch);
/* {"mapcount_replay": 1, "arch":, "traces": traces} (steals traces) */
json_t *report_json(uint32_t arch, json_t *traces);

#endif /* MAPCOUNT_REPORT_H */
