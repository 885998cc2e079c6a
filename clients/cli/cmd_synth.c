// SPDX-License-Identifier: MIT
/*
 * cmd_synth.c - `mapcount synth`: generate a synthetic trace.
 *
 *   mapcount synth WORKLOAD [--param k=v]... [--seed N] [--decide POLICY]
 *                  [--to text|binary|zst] -o FILE
 *   mapcount synth --list
 *
 * The same workload, parameters, seed and decide policy give the same
 * bytes.  The output appears only when the whole trace was generated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "synth.h"

static const char usage[] =
	"usage: mapcount synth WORKLOAD [--param NAME=VALUE]... [--seed N] "
	"[--decide POLICY]\n"
	"                      [--to text|binary|zst] -o FILE\n"
	"       mapcount synth --list\n";

static int bad_usage(const char *fmt, const char *arg)
{
	fputs("mapcount synth: ", stderr);
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n%s", usage);
	return EXIT_BAD_INPUT;
}

static int bad_input(const char *msg)
{
	fprintf(stderr, "mapcount synth: %s\n", msg);
	return EXIT_BAD_INPUT;
}

static void list(FILE *out)
{
	uint32_t n;
	const struct synth_workload *wl = synth_workloads(&n);

	for (uint32_t i = 0; i < n; i++) {
		fprintf(out, "%s\n    %s\n", wl[i].name, wl[i].summary);
		for (uint32_t j = 0; j < wl[i].nr_params; j++) {
			const struct synth_param *p = &wl[i].params[j];
			char def[64];

			if (p->type == SYNTH_FRAC) {
				snprintf(def, sizeof(def), "%s=%g", p->name,
					 p->def);
				fprintf(out, "    %-20s %s (%g..%g)\n", def,
					p->help, p->min, p->max);
				continue;
			}
			snprintf(def, sizeof(def), "%s=%.0f", p->name, p->def);
			fprintf(out, "    %-20s %s (%.0f..%.0f%s)\n", def,
				p->help, p->min, p->max,
				p->type == SYNTH_ORDER ? ", not 1" : "");
		}
	}
}

static int parse_to(const char *s, enum mct_encoding *enc)
{
	static const char *const names[] = { "text", "binary", "zst" };

	for (int i = 0; i < 3; i++)
		if (!strcmp(s, names[i])) {
			*enc = (enum mct_encoding)i;
			return 0;
		}
	return -1;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

/* .mct.txt, .txt: text; .mct.zst, .zst: zst; .mct: binary. */
static int enc_of_path(const char *path, enum mct_encoding *enc)
{
	if (ends_with(path, ".txt"))
		*enc = MCT_ENC_TEXT;
	else if (ends_with(path, ".zst"))
		*enc = MCT_ENC_ZSTD;
	else if (ends_with(path, ".mct"))
		*enc = MCT_ENC_BINARY;
	else
		return -1;
	return 0;
}

static int parse_seed(const char *s, uint64_t *seed)
{
	char *end;

	errno = 0;
	if (*s < '0' || *s > '9')
		return -1;
	*seed = strtoull(s, &end, 10);
	return *end || errno ? -1 : 0;
}

/* "--opt VALUE" or "--opt=VALUE"; NULL if a is not opt. */
static const char *opt_value(int argc, char **argv, int *i, const char *opt,
			     bool *missing)
{
	size_t n = strlen(opt);
	const char *a = argv[*i];

	*missing = false;
	if (!strcmp(a, opt)) {
		if (*i + 1 == argc) {
			*missing = true;
			return NULL;
		}
		return argv[++*i];
	}
	if (!strncmp(a, opt, n) && a[n] == '=' && opt[1] == '-')
		return a + n + 1;
	return NULL;
}

static void summary(const char *wl, const char *out,
		    const struct synth_stats *st)
{
	fprintf(stderr, "mapcount synth: %s: %llu events, %u mms, folios:", wl,
		(unsigned long long)st->events, st->mms);
	for (int o = 0; o <= MCT_MAX_ORDER; o++)
		for (int t = 0; t < MCT_NR_FTYPES; t++)
			if (st->folios[o][t])
				fprintf(stderr, " order-%d %s=%llu", o,
					mct_ftype_name(t),
					(unsigned long long)st->folios[o][t]);
	fprintf(stderr, ", cow: reuse=%llu copy=%llu -> %s\n",
		(unsigned long long)st->cow_reuse,
		(unsigned long long)st->cow_copy, out);
}

int cmd_synth(int argc, char **argv)
{
	static const char *const valued[] = { "--param", "--seed", "--decide",
					      "--to",	 "-o",	   "--output" };
	const char *workload = NULL, *out = NULL, *to = NULL, *decide = NULL;
	const char *params[256], *seed = NULL;
	int nr_params = 0;
	struct synth_config cfg;
	struct synth_stats st;
	enum mct_encoding enc;
	struct mct_writer *w;
	char err[512];

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		bool missing = false;
		size_t k;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			fputs(usage, stdout);
			return EXIT_OK;
		}
		if (!strcmp(a, "--list")) {
			list(stdout);
			return fflush(stdout) ? EXIT_FAILED : EXIT_OK;
		}
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			v = opt_value(argc, argv, &i, valued[k], &missing);
			if (v || missing)
				break;
		}
		if (missing)
			return bad_usage("%s needs a value", a);
		if (!v) {
			if (a[0] == '-' && a[1])
				return bad_usage("unknown option '%s'", a);
			if (workload)
				return bad_usage("unexpected argument '%s'", a);
			workload = a;
			continue;
		}
		switch (k) {
		case 0:
			if (nr_params == 256)
				return bad_usage("%s", "too many --param");
			params[nr_params++] = v;
			break;
		case 1:
			seed = v;
			break;
		case 2:
			decide = v;
			break;
		case 3:
			to = v;
			break;
		default:
			out = v;
			break;
		}
	}
	if (!workload)
		return bad_usage("%s", "which workload? (--list shows them)");
	if (synth_config_init(&cfg, workload, err, sizeof(err)))
		return bad_input(err);
	for (int i = 0; i < nr_params; i++)
		if (synth_config_param(&cfg, params[i], err, sizeof(err)))
			return bad_input(err);
	if (seed && parse_seed(seed, &cfg.seed)) {
		snprintf(err, sizeof(err),
			 "--seed needs a whole number, not '%s'", seed);
		return bad_input(err);
	}
	if (decide) {
		cfg.decide = mc_policy_find(decide);
		if (!cfg.decide) {
			snprintf(err, sizeof(err), "unknown policy '%s'",
				 decide);
			return bad_input(err);
		}
	}
	if (!out)
		return bad_usage("%s", "-o FILE is required");
	if (to && parse_to(to, &enc))
		return bad_usage("--to must be text, binary or zst, not '%s'",
				 to);
	if (!to && enc_of_path(out, &enc))
		return bad_usage("cannot tell the encoding of '%s' from its "
				 "name (.mct.txt, .mct, .mct.zst): use --to",
				 out);

	w = mct_writer_open(out, enc, err, sizeof(err));
	if (!w) {
		fprintf(stderr, "mapcount synth: %s\n", err);
		return EXIT_FAILED;
	}
	if (synth_generate(&cfg, w, &st, err, sizeof(err))) {
		mct_writer_abort(w);
		fprintf(stderr, "mapcount synth: %s: %s\n", workload, err);
		return EXIT_FAILED;
	}
	if (mct_writer_close(w)) {
		fprintf(stderr, "mapcount synth: %s: write error: %s\n", out,
			strerror(errno));
		return EXIT_FAILED;
	}
	summary(workload, out, &st);
	return EXIT_OK;
}
