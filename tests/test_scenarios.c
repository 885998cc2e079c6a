// SPDX-License-Identifier: MIT
/*
 * The scenario library is a regression suite: every traces/scenarios/
 * *.mct.txt states, in comments, what each policy must answer:
 *
 *   # expect POLICY[,POLICY...] KEY=VALUE...      (64-bit)
 *   # expect@32 POLICY[,POLICY...] KEY=VALUE...   (--arch 32)
 *
 * POLICY is a built-in policy name or "*" (all); KEY is a path into that
 * policy's object of `mapcount replay --format json` (cow.missed_reuse,
 * shared.false_shared, partial.detected, ...).  Each scenario is replayed
 * through every built-in policy and each stated number compared.  A
 * scenario without expectations fails: the library documents outcomes.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"
#include "report.h"

#define DIR_SCENARIOS MAPCOUNT_SOURCE_DIR "/traces/scenarios"

/* Replay path with all built-ins; returns the trace object of the JSON. */
static json_t *replay(const char *path, uint32_t arch)
{
	uint32_t nr;
	const struct mc_policy *const *all = mc_builtin_policies(&nr);
	struct engine_opts o = { .arch = arch,
				 .policies = all,
				 .nr_policies = nr,
				 .no_timing = true };
	char err[512];
	struct mct_reader *r = mct_open(path, err, sizeof(err));
	struct mct_event ev;
	struct engine *e;
	json_t *j;
	int ret;

	if (!r)
		fail_msg("%s", err);
	e = engine_new(mct_header(r), &o, err, sizeof(err));
	assert_non_null(e);
	while ((ret = mct_next(r, &ev)) > 0)
		if (engine_event(e, &ev, err, sizeof(err)))
			fail_msg("%s: event %llu: %s", path,
				 (unsigned long long)mct_event_index(r), err);
	if (ret < 0)
		fail_msg("%s", mct_error(r));
	engine_finish(e);
	j = report_trace_json(e, nr, "scenario", path, arch);
	engine_free(e);
	mct_close(r);
	return j;
}

static json_t *policy_obj(json_t *trace, const char *name)
{
	size_t i;
	json_t *p;

	json_array_foreach(
		json_object_get(trace, "policies"), i,
		p) if (!strcmp(json_string_value(json_object_get(p, "policy")),
			       name)) return p;
	return NULL;
}

static json_t *lookup(json_t *obj, const char *path)
{
	char buf[128], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && obj;
	     tok = strtok_r(NULL, ".", &save))
		obj = json_object_get(obj, tok);
	return obj;
}

/* Check one "KEY=VALUE" of one policy. */
static int check_kv(const char *file, int line, json_t *trace,
		    const char *policy, const char *kv)
{
	char key[128];
	const char *eq = strchr(kv, '=');
	json_t *p = policy_obj(trace, policy), *v;
	long long want;
	char *end;

	if (!p || !eq || (size_t)(eq - kv) >= sizeof(key)) {
		print_error("%s:%d: bad expectation '%s' for '%s'\n", file,
			    line, kv, policy);
		return 1;
	}
	memcpy(key, kv, (size_t)(eq - kv));
	key[eq - kv] = 0;
	want = strtoll(eq + 1, &end, 10);
	v = lookup(p, key);
	if (*end || !json_is_integer(v)) {
		print_error("%s:%d: %s has no integer %s\n", file, line, policy,
			    key);
		return 1;
	}
	if (json_integer_value(v) != want) {
		print_error("%s:%d: %s %s = %lld, expected %lld\n", file, line,
			    policy, key, (long long)json_integer_value(v),
			    want);
		return 1;
	}
	return 0;
}

static int check_line(const char *file, int line, char *text, json_t *t64,
		      json_t **t32, const char *path)
{
	uint32_t nr;
	const struct mc_policy *const *all = mc_builtin_policies(&nr);
	char *save = NULL, *pols, *kv;
	json_t *trace = t64;
	int bad = 0;

	if (!strncmp(text, "@32", 3)) {
		if (!*t32)
			*t32 = replay(path, 32);
		trace = *t32;
		text += 3;
	}
	pols = strtok_r(text, " \t", &save);
	if (!pols) {
		print_error("%s:%d: expect without a policy\n", file, line);
		return 1;
	}
	while ((kv = strtok_r(NULL, " \t\n", &save))) {
		char list[256], *s2 = NULL, *pol;

		if (!strcmp(pols, "*")) {
			for (uint32_t i = 0; i < nr; i++)
				bad += check_kv(file, line, trace, all[i]->name,
						kv);
			continue;
		}
		snprintf(list, sizeof(list), "%s", pols);
		for (pol = strtok_r(list, ",", &s2); pol;
		     pol = strtok_r(NULL, ",", &s2))
			bad += check_kv(file, line, trace, pol, kv);
	}
	return bad;
}

/* Returns the number of failed expectations; *checked counts them. */
static int check_scenario(const char *file, int *checked)
{
	char path[1024], line[1024];
	json_t *t64, *t32 = NULL;
	int bad = 0, n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", DIR_SCENARIOS, file);
	t64 = replay(path, 64);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f)) {
		n++;
		if (strncmp(line, "# expect", 8))
			continue;
		(*checked)++;
		bad += check_line(file, n, line + 8 + (line[8] == ' '), t64,
				  &t32, path);
	}
	fclose(f);
	json_decref(t64);
	json_decref(t32);
	return bad;
}

static int is_scenario(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 8 && !strcmp(d->d_name + n - 8, ".mct.txt");
}

static void test_scenarios(void **state)
{
	struct dirent **list;
	int n = scandir(DIR_SCENARIOS, &list, is_scenario, alphasort);
	int bad = 0, scenarios = 0, total = 0;

	assert_true(n > 0);
	for (int i = 0; i < n; i++) {
		int checked = 0;

		bad += check_scenario(list[i]->d_name, &checked);
		if (!checked) {
			print_error("%s: no '# expect' lines\n",
				    list[i]->d_name);
			bad++;
		}
		total += checked;
		scenarios++;
		free(list[i]);
	}
	free(list);
	print_message("%d scenarios, %d expectation lines\n", scenarios, total);
	assert_int_equal(bad, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scenarios),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
