// SPDX-License-Identifier: MIT
/*
 * gates.c - what fails a CI run.
 *
 * Every gate applies to every policy in the document: a team gates the
 * policies it passes with -p.  A regression compares each metric with the
 * same trace's and policy's value in the baseline, in the metric's bad
 * direction, allowing the tolerance given for it (absolute, or a percent
 * of the baseline).  cost.ns_per_event is measured, hence noisy: it is
 * compared only when a tolerance names it.
 */
#include "gates.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
	const char *name;
	unsigned int gate;
} gates[] = {
	{ "unsafe-reuse", GATE_UNSAFE_REUSE },
	{ "false-exclusive", GATE_FALSE_EXCLUSIVE },
	{ "overflow", GATE_OVERFLOW },
	{ "fidelity", GATE_FIDELITY },
	{ "regression", GATE_REGRESSION },
};

#define NR_GATES (sizeof(gates) / sizeof(gates[0]))

/* Metrics a regression looks at; higher = 1: a larger value is worse. */
static const struct {
	const char *path;
	bool higher;
	bool noisy;
} metrics[] = {
	{ "cow.missed_reuse", true, false },
	{ "cow.unsafe_reuse", true, false },
	{ "cow.kernel_agree", false, false },
	{ "cow.kernel_disagree", true, false },
	{ "shared.false_shared", true, false },
	{ "shared.false_exclusive", true, false },
	{ "shared.kernel_agree", false, false },
	{ "shared.kernel_disagree", true, false },
	{ "stats.pss_err_max_bytes", true, false },
	{ "stats.uss_err_max_bytes", true, false },
	{ "stats.anon_mapped_err_max_bytes", true, false },
	{ "stats.file_mapped_err_max_bytes", true, false },
	{ "stats.kernel_agree", false, false },
	{ "stats.kernel_disagree", true, false },
	{ "partial.detected", false, false },
	{ "partial.missed", true, false },
	{ "partial.false", true, false },
	{ "observe.agree", false, false },
	{ "memory.metadata_bytes_peak", true, false },
	{ "overflow.events", true, false },
	{ "cost.words_written", true, false },
	{ "cost.atomics", true, false },
	{ "cost.ns_per_event", true, true },
};

#define NR_METRICS (sizeof(metrics) / sizeof(metrics[0]))

const char *gate_name(unsigned int gate)
{
	for (size_t i = 0; i < NR_GATES; i++)
		if (gates[i].gate == gate)
			return gates[i].name;
	return "?";
}

int gates_parse(const char *list, unsigned int *mask, char *err, size_t len)
{
	char buf[256], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", list);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		size_t i;

		for (i = 0; i < NR_GATES; i++)
			if (!strcmp(tok, gates[i].name))
				break;
		if (i == NR_GATES) {
			snprintf(err, len,
				 "--fail-on: unknown gate '%s' (unsafe-reuse, "
				 "false-exclusive, overflow, fidelity, "
				 "regression)",
				 tok);
			return -1;
		}
		*mask |= gates[i].gate;
	}
	return 0;
}

int gates_tolerance(struct gate_opts *o, const char *arg, char *err, size_t len)
{
	const char *eq = strchr(arg, '=');
	char *end;
	size_t i;

	for (i = 0; eq && i < NR_METRICS; i++)
		if (strlen(metrics[i].path) == (size_t)(eq - arg) &&
		    !strncmp(metrics[i].path, arg, (size_t)(eq - arg)))
			break;
	if (!eq || i == NR_METRICS) {
		snprintf(err, len,
			 "--tolerance '%s': expected METRIC=VALUE[%%] with a "
			 "metric such as stats.pss_err_max_bytes or "
			 "cost.ns_per_event",
			 arg);
		return -1;
	}
	if (o->nr_tol == MAX_TOLERANCES) {
		snprintf(err, len, "--tolerance: at most %d", MAX_TOLERANCES);
		return -1;
	}
	o->tol[o->nr_tol].value = strtod(eq + 1, &end);
	o->tol[o->nr_tol].percent = *end == '%';
	if (end == eq + 1 || (*end && strcmp(end, "%")) ||
	    o->tol[o->nr_tol].value < 0) {
		snprintf(err, len, "--tolerance '%s': bad value", arg);
		return -1;
	}
	snprintf(o->tol[o->nr_tol].metric, sizeof(o->tol[0].metric), "%s",
		 metrics[i].path);
	o->nr_tol++;
	return 0;
}

static json_t *lookup(json_t *obj, const char *path)
{
	char buf[96], *save = NULL, *tok;

	snprintf(buf, sizeof(buf), "%s", path);
	for (tok = strtok_r(buf, ".", &save); tok && obj;
	     tok = strtok_r(NULL, ".", &save))
		obj = json_object_get(obj, tok);
	return obj;
}

static double num(json_t *obj, const char *path)
{
	json_t *v = lookup(obj, path);

	return json_is_number(v) ? json_number_value(v) : 0;
}

struct acc {
	struct gate_failure *f;
	size_t nr, cap;
};

static void add(struct acc *a, const char *gate, json_t *trace, json_t *pol,
		const char *metric, double value, double limit)
{
	struct gate_failure *g;

	if (a->nr == a->cap) {
		a->cap = a->cap ? 2 * a->cap : 16;
		a->f = realloc(a->f, a->cap * sizeof(*a->f));
		if (!a->f)
			abort();
	}
	g = &a->f[a->nr++];
	memset(g, 0, sizeof(*g));
	g->gate = gate;
	snprintf(g->trace, sizeof(g->trace), "%s",
		 json_string_value(json_object_get(trace, "name")));
	snprintf(g->policy, sizeof(g->policy), "%s",
		 json_string_value(json_object_get(pol, "policy")));
	snprintf(g->metric, sizeof(g->metric), "%s", metric);
	g->value = value;
	g->limit = limit;
}

static void check_max(struct acc *a, const char *gate, json_t *trace,
		      json_t *pol, const char *metric, double limit)
{
	double v = num(pol, metric);

	if (v > limit)
		add(a, gate, trace, pol, metric, v, limit);
}

static void fidelity(struct acc *a, json_t *trace, json_t *pol)
{
	double obs = num(pol, "observe.observed");

	check_max(a, "fidelity", trace, pol, "cow.kernel_disagree", 0);
	check_max(a, "fidelity", trace, pol, "shared.kernel_disagree", 0);
	check_max(a, "fidelity", trace, pol, "stats.kernel_disagree", 0);
	if (num(pol, "observe.agree") < obs)
		add(a, "fidelity", trace, pol, "observe.agree",
		    num(pol, "observe.agree"), obs);
}

static json_t *find_by(json_t *array, const char *key, const char *value)
{
	size_t i;
	json_t *x;

	json_array_foreach(
		array, i,
		x) if (json_is_string(json_object_get(x, key)) &&
		       !strcmp(json_string_value(json_object_get(x, key)),
			       value)) return x;
	return NULL;
}

static void regression(struct acc *a, const struct gate_opts *o, json_t *trace,
		       json_t *pol)
{
	json_t *bt = find_by(json_object_get(o->baseline, "traces"), "name",
			     json_string_value(json_object_get(trace, "name")));
	json_t *bp =
		bt ? find_by(json_object_get(bt, "policies"), "policy",
			     json_string_value(json_object_get(pol, "policy")))
		   : NULL;

	if (!bp) /* new trace or policy: nothing to regress from */
		return;
	for (size_t m = 0; m < NR_METRICS; m++) {
		double base = num(bp, metrics[m].path);
		double v = num(pol, metrics[m].path), slack = 0, limit;
		bool tolerated = false;

		for (unsigned int t = 0; t < o->nr_tol; t++) {
			if (strcmp(o->tol[t].metric, metrics[m].path))
				continue;
			tolerated = true;
			slack = o->tol[t].percent
					? fabs(base) * o->tol[t].value / 100
					: o->tol[t].value;
		}
		if (metrics[m].noisy && !tolerated)
			continue;
		limit = metrics[m].higher ? base + slack : base - slack;
		if (metrics[m].higher ? v > limit : v < limit)
			add(a, "regression", trace, pol, metrics[m].path, v,
			    limit);
	}
}

struct gate_failure *gates_eval(json_t *doc, const struct gate_opts *o,
				size_t *nr)
{
	struct acc a = { 0 };
	size_t i, j;
	json_t *trace, *pol;

	json_array_foreach(json_object_get(doc, "traces"), i, trace){
		json_array_foreach(json_object_get(trace, "policies"), j, pol){
			if (o->mask & GATE_UNSAFE_REUSE)
				check_max(&a, "unsafe-reuse", trace, pol,
					  "cow.unsafe_reuse", 0);
	if (o->mask & GATE_FALSE_EXCLUSIVE)
		check_max(&a, "false-exclusive", trace, pol,
			  "shared.false_exclusive", 0);
	if (o->mask & GATE_OVERFLOW)
		check_max(&a, "overflow", trace, pol, "overflow.events", 0);
	if (o->mask & GATE_FIDELITY)
		fidelity(&a, trace, pol);
	if ((o->mask & GATE_REGRESSION) && o->baseline)
		regression(&a, o, trace, pol);
}
}
*nr = a.nr;
return a.f;
}
