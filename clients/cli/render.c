// SPDX-License-Identifier: MIT
/*
 * render.c - a replay document as a table, Markdown or JUnit XML.  All
 * three read the same JSON the --format json output is, so a merged set of
 * shard results renders exactly like a single run.
 */
#include "render.h"

#include <math.h>
#include <string.h>

static double num(json_t *obj, const char *a, const char *b)
{
	json_t *v = json_object_get(json_object_get(obj, a), b);

	return json_is_number(v) ? json_number_value(v) : 0;
}

static unsigned long long u(json_t *obj, const char *a, const char *b)
{
	return (unsigned long long)num(obj, a, b);
}

static const char *str(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : "";
}

/* The counter with the least headroom: "name +Nb", or "name OVERFLOW". */
static void tightest(json_t *pol, char *buf, size_t len)
{
	json_t *c, *ctrs = json_object_get(json_object_get(pol, "overflow"),
					   "counters");
	double best = INFINITY;
	const char *who = NULL;
	size_t i;

	json_array_foreach(ctrs, i, c)
	{
		double peak = json_number_value(json_object_get(c, "peak"));
		double limit = json_number_value(json_object_get(c, "limit"));
		double room;

		if (peak <= 0)
			continue;
		room = peak > limit ? -1 : floor(log2(limit / peak));
		if (room < best) {
			best = room;
			who = str(c, "name");
		}
	}
	if (!who)
		snprintf(buf, len, "-");
	else if (best < 0)
		snprintf(buf, len, "%s OVERFLOW", who);
	else
		snprintf(buf, len, "%s +%.0fb", who, best);
}

static void print_failure(FILE *out, const char *prefix,
			  const struct gate_failure *f)
{
	fprintf(out,
		"%sFAIL %s: trace %s, policy %s: %s = %.10g, limit %.10g\n",
		prefix, f->gate, f->trace, f->policy, f->metric, f->value,
		f->limit);
}

void render_text(FILE *out, json_t *doc, const struct gate_failure *f,
		 size_t nr)
{
	size_t i, j;
	json_t *t, *p;

	json_array_foreach(json_object_get(doc, "traces"), i, t)
	{
		fprintf(out, "%s (%s): %llu events, arch %llu\n",
			str(t, "name"), str(t, "file"),
			(unsigned long long)json_integer_value(
				json_object_get(t, "events")),
			(unsigned long long)json_integer_value(
				json_object_get(doc, "arch")));
		fprintf(out,
			"%-15s %7s %6s %6s %6s %6s %6s %6s %6s %9s %9s %7s %7s "
			"%10s %-24s %7s\n",
			"policy", "cow", "reuse", "copy", "missed", "UNSAFE",
			"k-agr", "f-shr", "F-EXCL", "pss-err", "uss-err",
			"partial", "observe", "meta-peak", "tightest counter",
			"ns/ev");
		json_array_foreach(json_object_get(t, "policies"), j, p)
		{
			char room[64], part[32], obs[32];

			tightest(p, room, sizeof(room));
			snprintf(part, sizeof(part), "%llu/%llu",
				 u(p, "partial", "detected"),
				 u(p, "partial", "actual"));
			snprintf(obs, sizeof(obs), "%llu/%llu",
				 u(p, "observe", "agree"),
				 u(p, "observe", "observed"));
			fprintf(out,
				"%-15s %7llu %6llu %6llu %6llu %6llu %6llu "
				"%6llu %6llu %9llu %9llu %7s %7s %10llu %-24s "
				"%7.1f\n",
				str(p, "policy"), u(p, "cow", "decisions"),
				u(p, "cow", "reuse"), u(p, "cow", "copy"),
				u(p, "cow", "missed_reuse"),
				u(p, "cow", "unsafe_reuse"),
				u(p, "cow", "kernel_agree"),
				u(p, "shared", "false_shared"),
				u(p, "shared", "false_exclusive"),
				u(p, "stats", "pss_err_max_bytes"),
				u(p, "stats", "uss_err_max_bytes"), part, obs,
				u(p, "memory", "metadata_bytes_peak"), room,
				num(p, "cost", "ns_per_event"));
		}
		fputc('\n', out);
	}
	for (i = 0; i < nr; i++)
		print_failure(out, "", &f[i]);
}

/* Markdown table cells must not contain '|'. */
static void md(FILE *out, const char *s)
{
	for (; *s; s++)
		fputs(*s == '|' ? "\\|" : (char[]){ *s, 0 }, out);
}

void render_markdown(FILE *out, json_t *doc, const struct gate_failure *f,
		     size_t nr)
{
	size_t i, j, traces = json_array_size(json_object_get(doc, "traces"));
	json_t *t, *p;

	fprintf(out, "## mapcount replay: %zu trace%s, arch %lld\n\n", traces,
		traces == 1 ? "" : "s",
		(long long)json_integer_value(json_object_get(doc, "arch")));
	if (nr)
		fprintf(out, "**%zu gate failure%s**\n\n", nr,
			nr == 1 ? "" : "s");
	else
		fputs("All gates passed.\n\n", out);
	json_array_foreach(json_object_get(doc, "traces"), i, t)
	{
		fputs("### ", out);
		md(out, str(t, "name"));
		fprintf(out, " (%llu events)\n\n",
			(unsigned long long)json_integer_value(
				json_object_get(t, "events")));
		fputs("| policy | COW reuse/copy | missed reuse | unsafe reuse "
		      "| false shared | false exclusive | PSS err (B) | USS "
		      "err (B) | partial detected | kernel agree (COW) | "
		      "metadata peak (B) | tightest counter | ns/event |\n",
		      out);
		fputs("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|-"
		      "--|---:|\n",
		      out);
		json_array_foreach(json_object_get(t, "policies"), j, p)
		{
			char room[64];

			tightest(p, room, sizeof(room));
			fputs("| ", out);
			md(out, str(p, "policy"));
			fprintf(out,
				" | %llu/%llu | %llu | %s%llu%s | %llu | "
				"%s%llu%s | %llu | %llu | %llu/%llu | "
				"%llu/%llu | %llu | %s | %.1f |\n",
				u(p, "cow", "reuse"), u(p, "cow", "copy"),
				u(p, "cow", "missed_reuse"),
				u(p, "cow", "unsafe_reuse") ? "**" : "",
				u(p, "cow", "unsafe_reuse"),
				u(p, "cow", "unsafe_reuse") ? "**" : "",
				u(p, "shared", "false_shared"),
				u(p, "shared", "false_exclusive") ? "**" : "",
				u(p, "shared", "false_exclusive"),
				u(p, "shared", "false_exclusive") ? "**" : "",
				u(p, "stats", "pss_err_max_bytes"),
				u(p, "stats", "uss_err_max_bytes"),
				u(p, "partial", "detected"),
				u(p, "partial", "actual"),
				u(p, "cow", "kernel_agree"),
				u(p, "cow", "kernel_agree") +
					u(p, "cow", "kernel_disagree"),
				u(p, "memory", "metadata_bytes_peak"), room,
				num(p, "cost", "ns_per_event"));
		}
		fputc('\n', out);
	}
	if (!nr)
		return;
	fputs("### Gate failures\n\n| gate | trace | policy | metric | value | "
	      "limit |\n|---|---|---|---|---:|---:|\n",
	      out);
	for (i = 0; i < nr; i++) {
		fprintf(out, "| %s | ", f[i].gate);
		md(out, f[i].trace);
		fputs(" | ", out);
		md(out, f[i].policy);
		fprintf(out, " | %s | %.10g | %.10g |\n", f[i].metric,
			f[i].value, f[i].limit);
	}
}

static void xml(FILE *out, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<':
			fputs("&lt;", out);
			break;
		case '>':
			fputs("&gt;", out);
			break;
		case '&':
			fputs("&amp;", out);
			break;
		case '"':
			fputs("&quot;", out);
			break;
		default:
			fputc(*s, out);
		}
	}
}

static bool failed(const char *trace, const char *policy, const char *gate,
		   const struct gate_failure *f, size_t nr)
{
	for (size_t i = 0; i < nr; i++)
		if (!strcmp(f[i].trace, trace) &&
		    !strcmp(f[i].policy, policy) && !strcmp(f[i].gate, gate))
			return true;
	return false;
}

static void testcase(FILE *out, const char *trace, const char *policy,
		     const char *gate, const struct gate_failure *f, size_t nr)
{
	fputs("    <testcase classname=\"", out);
	xml(out, trace);
	fputs("\" name=\"", out);
	xml(out, policy);
	fprintf(out, ": %s\"", gate);
	if (!failed(trace, policy, gate, f, nr)) {
		fputs("/>\n", out);
		return;
	}
	fprintf(out, ">\n      <failure type=\"%s\" message=\"", gate);
	xml(out, policy);
	fprintf(out, " fails %s\">", gate);
	for (size_t i = 0; i < nr; i++) {
		char line[512];

		if (strcmp(f[i].trace, trace) || strcmp(f[i].policy, policy) ||
		    strcmp(f[i].gate, gate))
			continue;
		snprintf(line, sizeof(line), "%s = %.10g, limit %.10g\n",
			 f[i].metric, f[i].value, f[i].limit);
		xml(out, line);
	}
	fputs("</failure>\n    </testcase>\n", out);
}

/* Testcases of a trace (all traces when trace is NULL), and failed ones. */
static void count(json_t *doc, const char *trace, unsigned int gates,
		  const struct gate_failure *f, size_t nr, size_t *tests,
		  size_t *fails)
{
	size_t i, j;
	json_t *t, *p;

	*tests = *fails = 0;
	json_array_foreach(json_object_get(doc, "traces"), i, t)
	{
		if (trace && strcmp(trace, str(t, "name")))
			continue;
		json_array_foreach(json_object_get(t, "policies"), j, p)
		{
			if (!gates)
				(*tests)++;
			for (unsigned int g = 1; g <= GATE_REGRESSION;
			     g <<= 1) {
				if (!(gates & g))
					continue;
				(*tests)++;
				*fails +=
					failed(str(t, "name"), str(p, "policy"),
					       gate_name(g), f, nr);
			}
		}
	}
}

void render_junit(FILE *out, json_t *doc, unsigned int gates,
		  const struct gate_failure *f, size_t nr)
{
	size_t i, j, tests, fails;
	json_t *t, *p;

	count(doc, NULL, gates, f, nr, &tests, &fails);
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<testsuites name=\"mapcount replay\" tests=\"%zu\" "
		"failures=\"%zu\">\n",
		tests, fails);
	json_array_foreach(json_object_get(doc, "traces"), i, t)
	{
		count(doc, str(t, "name"), gates, f, nr, &tests, &fails);
		fputs("  <testsuite name=\"", out);
		xml(out, str(t, "name"));
		fprintf(out, "\" tests=\"%zu\" failures=\"%zu\">\n", tests,
			fails);
		json_array_foreach(json_object_get(t, "policies"), j, p)
		{
			if (!gates)
				testcase(out, str(t, "name"), str(p, "policy"),
					 "replay", f, nr);
			for (unsigned int g = 1; g <= GATE_REGRESSION; g <<= 1)
				if (gates & g)
					testcase(out, str(t, "name"),
						 str(p, "policy"), gate_name(g),
						 f, nr);
		}
		fputs("  </testsuite>\n", out);
	}
	fputs("</testsuites>\n", out);
}
