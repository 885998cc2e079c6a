/* SPDX-License-Identifier: MIT */
/*
 * registry.h - the policies a replay can use: the built-ins, and those of
 * plugins loaded with mc_plugin_load() (dlopen; see policy.h for the ABI).
 */
#ifndef MAPCOUNT_REGISTRY_H
#define MAPCOUNT_REGISTRY_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* The built-in policies, exact first. */
const struct mc_policy *const *mc_builtin_policies(uint32_t *nr);
/* Built-ins, then every loaded plugin's policies, in load order. */
const struct mc_policy *const *mc_all_policies(uint32_t *nr);
/* By name, among all; NULL if none. */
const struct mc_policy *mc_policy_find(const char *name);
/* Is p one of a plugin's? */
bool mc_policy_is_plugin(const struct mc_policy *p);

/*
 * Load a plugin: dlopen() it, check its ABI and its policies (ABI field,
 * name unique among all loaded, every required callback present) and add
 * them.  Returns the number of policies added, or -1 with a message in err
 * (nothing is added: the registry keeps working without it).
 */
int mc_plugin_load(const char *path, char *err, size_t errlen);

#endif /* MAPCOUNT_REGISTRY_H */
