// SPDX-License-Identifier: MIT
/*
 * output.c - formats, output files, gates and exit statuses of replay and
 * merge.
 */
#include "output.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "render.h"

int out_option(struct out_opts *o, int c, const char *arg)
{
	static const char *const formats[] = { "text", "json", "junit",
					       "markdown" };
	char err[512];

	switch (c) {
	case 0x100:
		for (int i = 0; i < 4; i++) {
			if (!strcmp(arg, formats[i])) {
				o->format = (enum out_format)i;
				return 1;
			}
		}
		fprintf(stderr,
			"mapcount: --format must be text, json, junit or "
			"markdown, not '%s'\n",
			arg);
		return -1;
	case 'o':
		o->output = arg;
		return 1;
	case 0x101:
		if (gates_parse(arg, &o->gates.mask, err, sizeof(err)))
			break;
		return 1;
	case 0x102:
		json_decref(o->gates.baseline);
		o->gates.baseline = out_load(arg);
		return o->gates.baseline ? 1 : -1;
	case 0x103:
		if (gates_tolerance(&o->gates, arg, err, sizeof(err)))
			break;
		return 1;
	default:
		return 0;
	}
	fprintf(stderr, "mapcount: %s\n", err);
	return -1;
}

json_t *out_load(const char *path)
{
	json_error_t e;
	json_t *doc = json_load_file(path, 0, &e);

	if (!doc) {
		fprintf(stderr, "%s:%d:%d: %s\n", path, e.line, e.column,
			e.text);
		return NULL;
	}
	if (json_integer_value(json_object_get(doc, "mapcount_replay")) != 1 ||
	    !json_is_array(json_object_get(doc, "traces"))) {
		fprintf(stderr,
			"%s: not a replay result (expected "
			"{\"mapcount_replay\": 1, \"traces\": [...]})\n",
			path);
		json_decref(doc);
		return NULL;
	}
	return doc;
}

static int write_doc(FILE *out, json_t *doc, const struct out_opts *o,
		     const struct gate_failure *f, size_t nr)
{
	switch (o->format) {
	case OUT_JSON:
		if (json_dumpf(doc, out,
			       JSON_INDENT(1) | JSON_REAL_PRECISION(6)))
			return -1;
		fputc('\n', out);
		break;
	case OUT_JUNIT:
		render_junit(out, doc, o->gates.mask, f, nr);
		break;
	case OUT_MARKDOWN:
		render_markdown(out, doc, f, nr);
		break;
	default:
		render_text(out, doc, f, nr);
	}
	return ferror(out) ? -1 : 0;
}

int out_finish(json_t *doc, struct out_opts *o)
{
	size_t nr;
	struct gate_failure *f = gates_eval(doc, &o->gates, &nr);
	char tmp[4096];
	int status = nr ? EXIT_FAILED : EXIT_OK, fd;
	FILE *out = stdout;

	if ((o->gates.mask & GATE_REGRESSION) && !o->gates.baseline)
		fputs("mapcount: --fail-on regression without --baseline: "
		      "nothing to compare with\n",
		      stderr);
	if (o->output && strcmp(o->output, "-")) {
		snprintf(tmp, sizeof(tmp), "%s.tmpXXXXXX", o->output);
		fd = mkstemp(tmp);
		out = fd < 0 ? NULL : fdopen(fd, "w");
		if (!out) {
			perror(o->output);
			status = EXIT_BAD_INPUT;
			goto done;
		}
	}
	if (write_doc(out, doc, o, f, nr) || fflush(out)) {
		perror(o->output ? o->output : "stdout");
		status = EXIT_BAD_INPUT;
	}
	if (out != stdout) {
		if (fclose(out) || status == EXIT_BAD_INPUT ||
		    rename(tmp, o->output)) {
			unlink(tmp);
			status = EXIT_BAD_INPUT;
		}
	}
	/* the failures also go to stderr when stdout carries a document */
	if (o->format != OUT_TEXT || (o->output && strcmp(o->output, "-")))
		for (size_t i = 0; i < nr; i++)
			fprintf(stderr,
				"FAIL %s: trace %s, policy %s: %s = %.10g, "
				"limit %.10g\n",
				f[i].gate, f[i].trace, f[i].policy, f[i].metric,
				f[i].value, f[i].limit);
done:
	free(f);
	json_decref(o->gates.baseline);
	o->gates.baseline = NULL;
	return status;
}
