// SPDX-License-Identifier: MIT
/*
 * registry.c - built-in policies and plugins.
 */
#include "registry.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct mc_policy policy_exact, policy_per_page,
	policy_two_slot_pages, policy_two_slot, policy_zero_one_two_stopped,
	policy_count64;

#define NR_BUILTINS  6
#define MAX_POLICIES 64

static const struct mc_policy *all[MAX_POLICIES] = {
	&policy_exact,
	&policy_per_page,
	&policy_two_slot_pages,
	&policy_two_slot,
	&policy_zero_one_two_stopped,
	&policy_count64,
};
static uint32_t nr_all = NR_BUILTINS;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

const struct mc_policy *const *mc_builtin_policies(uint32_t *nr)
{
	*nr = NR_BUILTINS;
	return all;
}

const struct mc_policy *const *mc_all_policies(uint32_t *nr)
{
	pthread_mutex_lock(&lock);
	*nr = nr_all;
	pthread_mutex_unlock(&lock);
	return all;
}

const struct mc_policy *mc_policy_find(const char *name)
{
	uint32_t n;
	const struct mc_policy *const *p = mc_all_policies(&n);

	for (uint32_t i = 0; i < n; i++)
		if (!strcmp(p[i]->name, name))
			return p[i];
	return NULL;
}

bool mc_policy_is_plugin(const struct mc_policy *p)
{
	for (uint32_t i = 0; i < NR_BUILTINS; i++)
		if (all[i] == p)
			return false;
	return true;
}

/* What a policy must provide; NULL when it does. */
static const char *policy_problem(const struct mc_policy *p)
{
	if (p->abi != MC_POLICY_ABI)
		return "its abi field is not MC_POLICY_ABI";
	if (!p->state_size || !p->meta_bytes || !p->init || !p->add_rmap ||
	    !p->remove_rmap || !p->ref || !p->pin || !p->cow_reuse ||
	    !p->maybe_shared || !p->page_mapcount || !p->smaps)
		return "a required callback is NULL";
	if (p->nr_counters && !p->counters)
		return "nr_counters without counters";
	if (p->nr_counters > MC_MAX_DECL_COUNTERS)
		return "more than MC_MAX_DECL_COUNTERS counters";
	return NULL;
}

static int fail(void *h, char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static int fail(void *h, char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
	if (h)
		dlclose(h);
	return -1;
}

int mc_plugin_load(const char *path, char *err, size_t errlen)
{
	const struct mc_policy *const *(*list)(uint32_t * nr);
	const struct mc_policy *const *pols;
	const uint32_t *abi;
	const char *why;
	uint32_t nr;
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);

	if (!h)
		return fail(NULL, err, errlen, "plugin %s: %s", path,
			    dlerror());
	abi = dlsym(h, MC_PLUGIN_ABI_SYMBOL);
	if (!abi)
		return fail(h, err, errlen,
			    "plugin %s: missing symbol %s (build it with "
			    "MC_PLUGIN())",
			    path, MC_PLUGIN_ABI_SYMBOL);
	if (*abi != MC_POLICY_ABI)
		return fail(h, err, errlen,
			    "plugin %s: built for policy ABI %u, this mapcount "
			    "speaks %u",
			    path, *abi, MC_POLICY_ABI);
	*(void **)&list = dlsym(h, MC_PLUGIN_SYMBOL);
	if (!list)
		return fail(h, err, errlen, "plugin %s: missing symbol %s",
			    path, MC_PLUGIN_SYMBOL);
	pols = list(&nr);
	if (!pols || !nr)
		return fail(h, err, errlen, "plugin %s: no policies", path);
	pthread_mutex_lock(&lock);
	if (nr_all + nr > MAX_POLICIES) {
		pthread_mutex_unlock(&lock);
		return fail(h, err, errlen,
			    "plugin %s: more than %d policies in all", path,
			    MAX_POLICIES);
	}
	for (uint32_t i = 0; i < nr; i++) {
		why = pols[i]->name && *pols[i]->name ? NULL : "it has no name";
		for (uint32_t j = 0; !why && j < nr_all + i; j++) {
			const char *other = j < nr_all ? all[j]->name
						       : pols[j - nr_all]->name;

			if (!strcmp(other, pols[i]->name))
				why = "its name is taken";
		}
		if (!why)
			why = policy_problem(pols[i]);
		if (why) {
			pthread_mutex_unlock(&lock);
			return fail(h, err, errlen,
				    "plugin %s: policy '%s': %s", path,
				    pols[i]->name ? pols[i]->name : "?", why);
		}
	}
	for (uint32_t i = 0; i < nr; i++)
		all[nr_all + i] = pols[i];
	nr_all += nr;
	pthread_mutex_unlock(&lock);
	return (int)nr; /* the handle stays open for the process's life */
}
