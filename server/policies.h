/* SPDX-License-Identifier: MIT */
/* policies.h - the policies mapcountd offers: built-ins and plug-ins. */
#ifndef MAPCOUNTD_POLICIES_H
#define MAPCOUNTD_POLICIES_H

#include <jansson.h>

#include "engine.h"

/*
 * Plug-in hook: load the policies of every *.so in dir (each exporting
 * MC_PLUGIN_SYMBOL, see replay/policy.h) through the registry, at start,
 * before any thread runs.  A world-writable dir or file is refused.
 * Returns 0, or -1 when dir is unusable.
 */
int policies_load_plugins(const char *dir);

const struct mc_policy *srv_policy_find(const char *name);
const struct mc_policy *const *srv_policies(uint32_t *nr);
json_t *policies_json(void);

/*
 * Parse a list of policy names, comma-separated (a query string) or a
 * JSON array; empty or NULL: every policy.  Returns the count, or -1 with
 * a message in err (unknown policy, too many).
 */
int policies_parse_list(const char *csv, json_t *array,
			const struct mc_policy **out, char *err, size_t errlen);
/* The canonical JSON array of the names (for replay parameters). */
json_t *policies_names(const struct mc_policy *const *p, uint32_t n);

#endif /* MAPCOUNTD_POLICIES_H */
