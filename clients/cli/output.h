/* SPDX-License-Identifier: MIT */
/*
 * output.h - what replay and merge share: the output format and file, the
 * CI gates, and the exit status they decide.
 */
#ifndef MAPCOUNT_OUTPUT_H
#define MAPCOUNT_OUTPUT_H

#include <jansson.h>

#include "gates.h"

enum out_format { OUT_TEXT, OUT_JSON, OUT_JUNIT, OUT_MARKDOWN };

struct out_opts {
	enum out_format format;
	const char *output; /* NULL or "-": stdout */
	struct gate_opts gates;
};

/* Long options both commands take; their getopt codes start at 0x100. */
#define OUT_LONG_OPTIONS                                                  \
	{ "format", required_argument, NULL, 0x100 },                     \
		{ "output", required_argument, NULL, 'o' },               \
		{ "fail-on", required_argument, NULL, 0x101 },            \
		{ "baseline", required_argument, NULL, 0x102 },           \
		{ "tolerance", required_argument, NULL, 0x103 }

/* Handle one of those options (or -o); 1 if it was one, 0 if not, -1 on
 * an error (printed). */
int out_option(struct out_opts *o, int c, const char *arg);

/*
 * Evaluate the gates, write doc in the chosen format (a temporary file
 * renamed into place), print the failures on stderr.  Returns the exit
 * status: 0, 1 when a gate failed, 2 when the output cannot be written.
 * Frees the baseline.
 */
int out_finish(json_t *doc, struct out_opts *o);

/* Load a replay document (a file of `--format json`); NULL + message. */
json_t *out_load(const char *path);

#endif /* MAPCOUNT_OUTPUT_H */
