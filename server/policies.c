// SPDX-License-Identifier: MIT
/*
 * policies.c - the policy registry of mapcountd.
 *
 * Built-in policies come from the engine's registry; plug-in policies are
 * loaded from --plugin-dir at start by policies_load_plugins() (the
 * registry's mc_plugin_load()) and offered next to them.
 */
#include "policies.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mapcountd.h"

static const char *plugin_dir;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int policies_load_plugins(const char *dir)
{
	struct dirent *de;
	struct stat sb;
	char **names = NULL;
	size_t n = 0, cap = 0;
	DIR *d;

	plugin_dir = dir;
	if (!dir)
		return 0;
	/* code anyone could drop in must not be loaded */
	if (stat(dir, &sb) || !S_ISDIR(sb.st_mode)) {
		srv_log("--plugin-dir %s: not a directory", dir);
		return -1;
	}
	if (sb.st_mode & S_IWOTH) {
		srv_log("--plugin-dir %s: world-writable: refusing to load "
			"plug-ins from it",
			dir);
		return -1;
	}
	d = opendir(dir);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);

		if (de->d_name[0] == '.' || len < 4 ||
		    strcmp(de->d_name + len - 3, ".so"))
			continue;
		if (n == cap) {
			char **p;

			cap = cap ? 2 * cap : 8;
			p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[4096], err[512];
		int k;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		free(names[i]);
		if (stat(path, &sb) || (sb.st_mode & S_IWOTH)) {
			srv_log("plugin %s: world-writable: not loaded", path);
			continue;
		}
		k = mc_plugin_load(path, err, sizeof(err));
		if (k < 0)
			srv_log("plugin %s: not loaded: %s", path, err);
		else
			srv_log("plugin %s: %d policies", path, k);
	}
	free(names);
	return 0;
}

const struct mc_policy *const *srv_policies(uint32_t *nr)
{
	return mc_all_policies(nr);
}

const struct mc_policy *srv_policy_find(const char *name)
{
	const struct mc_policy *p = mc_policy_find(name);
	char alt[128];

	if (p)
		return p;
	/* '+' arrives as ' ' from an unescaped query string */
	if (strchr(name, ' ') && strlen(name) < sizeof(alt)) {
		strcpy(alt, name);
		for (char *c = alt; *c; c++)
			if (*c == ' ')
				*c = '+';
		return mc_policy_find(alt);
	}
	return NULL;
}

static json_t *meta_json(const struct mc_policy *p, uint32_t arch)
{
	json_t *a = json_array();

	for (uint32_t order = 0; order <= 9; order++)
		json_array_append_new(a, json_integer((json_int_t)p->meta_bytes(
						 order, MC_ANON, arch)));
	return a;
}

json_t *policies_json(void)
{
	uint32_t n;
	const struct mc_policy *const *all = srv_policies(&n);
	json_t *list = json_array();

	for (uint32_t i = 0; i < n; i++) {
		const struct mc_policy *p = all[i];
		json_t *ctrs = json_array();

		for (uint32_t c = 0; c < p->nr_counters; c++)
			json_array_append_new(
				ctrs, json_pack("{s:s,s:i,s:i,s:i}", "name",
						p->counters[c].name, "bits64",
						p->counters[c].bits64, "bits32",
						p->counters[c].bits32, "bias",
						p->counters[c].bias));
		json_array_append_new(
			list,
			json_pack("{s:s,s:i,s:s,s:s,s:s,s:b,s:{s:o,s:o},s:o}",
				  "name", p->name, "version", (int)p->version,
				  "summary", p->summary, "kernel", p->kernel,
				  "origin",
				  mc_policy_is_plugin(p) ? "plugin" : "builtin",
				  "reference", !strcmp(p->name, "exact"),
				  "meta_bytes_by_order", "64", meta_json(p, 64),
				  "32", meta_json(p, 32), "counters", ctrs));
	}
	return json_pack("{s:o,s:o}", "policies", list, "plugin_dir",
			 plugin_dir ? json_string(plugin_dir) : json_null());
}

static int add(const char *name, const struct mc_policy **out, int n, char *err,
	       size_t errlen)
{
	const struct mc_policy *p = srv_policy_find(name);

	if (!p) {
		snprintf(err, errlen,
			 "unknown policy '%s' (GET /api/policies lists them)",
			 name);
		return -1;
	}
	if (n >= MC_MAX_POLICIES) {
		snprintf(err, errlen, "at most %d policies", MC_MAX_POLICIES);
		return -1;
	}
	out[n] = p;
	return n + 1;
}

int policies_parse_list(const char *csv, json_t *array,
			const struct mc_policy **out, char *err, size_t errlen)
{
	int n = 0;

	if (array && json_array_size(array)) {
		size_t i;
		json_t *v;

		json_array_foreach(array, i, v)
		{
			if (!json_is_string(v)) {
				snprintf(err, errlen,
					 "policies: expected an array of "
					 "policy names");
				return -1;
			}
			n = add(json_string_value(v), out, n, err, errlen);
			if (n < 0)
				return -1;
		}
		return n;
	}
	if (csv && *csv) {
		char *copy = strdup(csv), *save = NULL;

		for (char *t = strtok_r(copy, ",", &save); t;
		     t = strtok_r(NULL, ",", &save)) {
			n = add(t, out, n, err, errlen);
			if (n < 0)
				break;
		}
		free(copy);
		if (n > 0 || n < 0)
			return n;
	}
	{
		uint32_t nr;
		const struct mc_policy *const *all = srv_policies(&nr);

		for (uint32_t i = 0; i < nr && i < MC_MAX_POLICIES; i++)
			out[n++] = all[i];
	}
	return n;
}

json_t *policies_names(const struct mc_policy *const *p, uint32_t n)
{
	json_t *a = json_array();

	for (uint32_t i = 0; i < n; i++)
		json_array_append_new(a, json_string(p[i]->name));
	return a;
}
