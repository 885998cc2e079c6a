// SPDX-License-Identifier: MIT
/*
 * mapcount record [-o FILE] [--mthp SIZE=always|madvise|never|inherit]...
 *                 [--checkpoint fork,exit,interval=MS|none] [--name STR]
 *                 [--observe-max N] [--mmid-max N] [-v] -- CMD [ARGS]
 *
 * Runs CMD and its whole process tree and records their anonymous folios'
 * mappings from the live kernel, with the kernel's own answers (observe,
 * stat, mmid) at the checkpoints.  Needs root and a kernel with BTF.  The
 * encoding follows FILE's name (.mct.txt text, .mct binary, .mct.zst
 * compressed; default record.mct.zst).  See docs/fidelity.md.
 *
 * Exit status: 0 trace written and CMD succeeded, 1 trace written but CMD
 * failed or the recording was interrupted, 2 bad usage, not root, no BTF,
 * or no trace written.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "cli.h"

#ifdef MAPCOUNT_NO_RECORDER

int cmd_record(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	fputs("mapcount record: this mapcount was built without the recorder "
	      "(the build machine had no /sys/kernel/btf/vmlinux)\n",
	      stderr);
	return EXIT_BAD_INPUT;
}

#else

#include "recorder.h"

static int usage(void)
{
	fputs("usage: mapcount record [-o FILE] [--mthp "
	      "SIZE=always|madvise|never|inherit]...\n"
	      "                       [--checkpoint "
	      "fork,exit,interval=MS|none] [--name STR]\n"
	      "                       [--observe-max N] [--mmid-max N] [-v] -- "
	      "CMD [ARGS]\n",
	      stderr);
	return EXIT_BAD_INPUT;
}

static enum mct_encoding encoding_of(const char *path)
{
	size_t n = strlen(path);

	if (!strcmp(path, "-") || (n >= 4 && !strcmp(path + n - 4, ".txt")))
		return MCT_ENC_TEXT;
	if (n >= 4 && !strcmp(path + n - 4, ".zst"))
		return MCT_ENC_ZSTD;
	return MCT_ENC_BINARY;
}

static int parse_mthp(struct rec_opts *o, const char *arg)
{
	const char *eq = strchr(arg, '=');
	struct rec_mthp *m;

	if (o->nr_mthp == REC_MAX_MTHP) {
		fprintf(stderr, "mapcount record: at most %d --mthp\n",
			REC_MAX_MTHP);
		return -1;
	}
	if (!eq || eq == arg || (size_t)(eq - arg) >= sizeof(m->size) ||
	    (strcmp(eq + 1, "always") && strcmp(eq + 1, "madvise") &&
	     strcmp(eq + 1, "never") && strcmp(eq + 1, "inherit")) ||
	    strspn(arg, "0123456789") == 0 ||
	    strncmp(arg + strspn(arg, "0123456789"), "kB=", 3)) {
		fprintf(stderr,
			"mapcount record: bad --mthp '%s': expected SIZE=MODE, "
			"SIZE like 64kB or 2048kB, MODE always, madvise, never "
			"or inherit\n",
			arg);
		return -1;
	}
	m = &o->mthp[o->nr_mthp++];
	snprintf(m->size, sizeof(m->size), "%.*s", (int)(eq - arg), arg);
	snprintf(m->mode, sizeof(m->mode), "%s", eq + 1);
	return 0;
}

static int parse_checkpoints(struct rec_opts *o, const char *arg)
{
	char buf[256], *save = NULL, *tok;

	o->ck_fork = o->ck_exit = false;
	o->interval_ms = 0;
	snprintf(buf, sizeof(buf), "%s", arg);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		char *end;

		if (!strcmp(tok, "fork")) {
			o->ck_fork = true;
		} else if (!strcmp(tok, "exit")) {
			o->ck_exit = true;
		} else if (!strcmp(tok, "none")) {
		} else if (!strncmp(tok, "interval=", 9)) {
			unsigned long v = strtoul(tok + 9, &end, 10);

			if (*end || !v || v > 3600000) {
				fprintf(stderr,
					"mapcount record: bad interval '%s': "
					"expected 1 to 3600000 ms\n",
					tok + 9);
				return -1;
			}
			o->interval_ms = (unsigned int)v;
		} else {
			fprintf(stderr,
				"mapcount record: bad checkpoint '%s': "
				"expected "
				"fork, exit, interval=MS or none\n",
				tok);
			return -1;
		}
	}
	return 0;
}

static int parse_count(const char *opt, const char *arg, unsigned int *v)
{
	char *end;
	unsigned long x = strtoul(arg, &end, 10);

	if (*end || !*arg || x > 1000000) {
		fprintf(stderr,
			"mapcount record: bad %s '%s': expected 0 to 1000000\n",
			opt, arg);
		return -1;
	}
	*v = (unsigned int)x;
	return 0;
}

static int parse(int argc, char **argv, struct rec_opts *o)
{
	static const struct option longs[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "mthp", required_argument, NULL, 'm' },
		{ "checkpoint", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "observe-max", required_argument, NULL, 'O' },
		{ "mmid-max", required_argument, NULL, 'M' },
		{ "verbose", no_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->output = "record.mct.zst";
	o->ck_fork = o->ck_exit = true;
	o->observe_max = 256;
	o->mmid_max = 64;
	optind = 1;
	while ((c = getopt_long(argc, argv, "+o:v", longs, NULL)) != -1) {
		switch (c) {
		case 'o':
			o->output = optarg;
			break;
		case 'm':
			if (parse_mthp(o, optarg))
				return -1;
			break;
		case 'c':
			if (parse_checkpoints(o, optarg))
				return -1;
			break;
		case 'n':
			o->name = optarg;
			break;
		case 'O':
			if (parse_count("--observe-max", optarg,
					&o->observe_max))
				return -1;
			break;
		case 'M':
			if (parse_count("--mmid-max", optarg, &o->mmid_max))
				return -1;
			break;
		case 'v':
			o->verbose = true;
			break;
		default:
			return usage(), -1;
		}
	}
	if (optind >= argc)
		return usage(), -1;
	o->argv = argv + optind;
	o->enc = encoding_of(o->output);
	return 0;
}

static void report(const struct rec_opts *o, const struct rec_summary *s)
{
	uint64_t total = 0;

	for (int k = 1; k < MCT_NR_KINDS; k++)
		total += s->events[k];
	fprintf(stderr,
		"mapcount record: %s: %" PRIu64 " events, %" PRIu64
		" MMs, %" PRIu64 " processes, %.3f s\n",
		o->output, total, s->mms, s->processes, s->seconds);
	fprintf(stderr, "  events:");
	for (int k = 1; k < MCT_NR_KINDS; k++)
		if (s->events[k])
			fprintf(stderr, " %s=%" PRIu64, mct_kind_name(k),
				s->events[k]);
	fprintf(stderr,
		"\n  cow: copy=%" PRIu64 " reuse=%" PRIu64 "; %" PRIu64
		" ptrace stops, %" PRIu64 " snapshots, %" PRIu64
		" checkpoints skipped (a fork in flight)\n",
		s->cow_copy, s->cow_reuse, s->stops, s->syncs,
		s->skipped_checkpoints);
	if (s->dropped_bpf)
		fprintf(stderr,
			"  warning: the BPF ring buffer dropped %" PRIu64
			" records: some write faults are missing\n",
			s->dropped_bpf);
	if (s->rejected)
		fprintf(stderr,
			"  warning: %" PRIu64
			" events left out (inconsistent with the trace)\n",
			s->rejected);
}

int cmd_record(int argc, char **argv)
{
	struct rec_opts o;
	struct rec_summary s;
	char err[512];

	memset(&o, 0, sizeof(o));
	if (parse(argc, argv, &o))
		return EXIT_BAD_INPUT;
	if (rec_check_env(err, sizeof(err))) {
		fprintf(stderr, "mapcount record: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	if (rec_record(&o, &s, err, sizeof(err))) {
		fprintf(stderr, "mapcount record: %s\n", err);
		return EXIT_BAD_INPUT;
	}
	report(&o, &s);
	if (s.signal) {
		fprintf(stderr,
			"mapcount record: interrupted by signal %d: the "
			"command "
			"was killed, the trace is complete up to there\n",
			s.signal);
		return EXIT_FAILED;
	}
	if (WIFSIGNALED(s.status)) {
		fprintf(stderr, "mapcount record: %s was killed by signal %d\n",
			o.argv[0], WTERMSIG(s.status));
		return EXIT_FAILED;
	}
	if (WEXITSTATUS(s.status)) {
		fprintf(stderr, "mapcount record: %s exited with status %d\n",
			o.argv[0], WEXITSTATUS(s.status));
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

#endif /* MAPCOUNT_NO_RECORDER */
