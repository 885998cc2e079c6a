// SPDX-License-Identifier: MIT
/*
 * mapcount merge [--format text|json|junit|markdown] [-o FILE]
 *                [--fail-on GATES] [--baseline FILE] [--tolerance M=V]...
 *                RESULT.json...
 *
 * Combines the JSON results of shards (each a `mapcount replay --format
 * json` over part of a corpus) into one report with the same formats and
 * gates as a single run.  Traces are ordered by file, as one replay of the
 * whole directory orders them, so sharded-then-merged equals a single run.
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "output.h"
#include "report.h"

static int usage(void)
{
	fputs("usage: mapcount merge [--format text|json|junit|markdown] [-o "
	      "FILE]\n"
	      "                      [--fail-on GATES] [--baseline FILE] "
	      "[--tolerance METRIC=VALUE[%]]...\n"
	      "                      RESULT.json...\n",
	      stderr);
	return EXIT_BAD_INPUT;
}

static const char *file_of(json_t *t)
{
	const char *s = json_string_value(json_object_get(t, "file"));

	return s ? s : "";
}

static int by_file(const void *a, const void *b)
{
	return strcmp(file_of(*(json_t *const *)a),
		      file_of(*(json_t *const *)b));
}

/* All traces of all shards, sorted; NULL on a conflict (printed). */
static json_t *gather(int argc, char **argv, json_int_t *arch)
{
	json_t **all = NULL, *out = NULL;
	size_t nr = 0, cap = 0;

	*arch = -1;
	for (int i = optind; i < argc; i++) {
		json_t *doc = out_load(argv[i]), *t;
		json_int_t a;
		size_t k;

		if (!doc)
			goto fail;
		a = json_integer_value(json_object_get(doc, "arch"));
		if (*arch >= 0 && a != *arch) {
			fprintf(stderr,
				"%s: arch %lld, but the shards before it are "
				"arch %lld\n",
				argv[i], (long long)a, (long long)*arch);
			json_decref(doc);
			goto fail;
		}
		*arch = a;
		json_array_foreach(json_object_get(doc, "traces"), k, t)
		{
			if (nr == cap) {
				cap = cap ? 2 * cap : 64;
				all = realloc(all, cap * sizeof(*all));
				if (!all)
					abort();
			}
			all[nr++] = json_incref(t);
		}
		json_decref(doc);
	}
	qsort(all, nr, sizeof(*all), by_file);
	for (size_t i = 1; i < nr; i++) {
		if (!strcmp(file_of(all[i - 1]), file_of(all[i]))) {
			fprintf(stderr,
				"mapcount merge: trace %s is in more than one "
				"shard\n",
				file_of(all[i]));
			goto fail;
		}
	}
	out = json_array();
	for (size_t i = 0; i < nr; i++)
		json_array_append(out, all[i]);
fail:
	for (size_t i = 0; i < nr; i++)
		json_decref(all[i]);
	free(all);
	return out;
}

int cmd_merge(int argc, char **argv)
{
	static const struct option longs[] = { OUT_LONG_OPTIONS,
					       { NULL, 0, NULL, 0 } };
	struct out_opts o = { 0 };
	json_t *traces, *doc;
	json_int_t arch;
	int c, r, status;

	optind = 1;
	while ((c = getopt_long(argc, argv, "o:", longs, NULL)) != -1) {
		r = out_option(&o, c, optarg);
		if (r <= 0) {
			json_decref(o.gates.baseline);
			return r < 0 ? EXIT_BAD_INPUT : usage();
		}
	}
	if (optind >= argc) {
		json_decref(o.gates.baseline);
		return usage();
	}
	traces = gather(argc, argv, &arch);
	if (!traces) {
		json_decref(o.gates.baseline);
		return EXIT_BAD_INPUT;
	}
	doc = report_json((uint32_t)arch, traces);
	status = out_finish(doc, &o);
	json_decref(doc);
	return status;
}
