// SPDX-License-Identifier: MIT
/*
 * mapcount replay [-p POLICY]... [--arch 64|32] [--format text|json]
 *                 [-o FILE] TRACE...
 *
 * Streams each trace through the policies side by side (default: all
 * built-ins) and reports per policy: COW decisions, maybe-shared answers,
 * PSS/USS and AnonPages errors, partial-mapping detection, agreement with
 * the kernel's recorded answers, metadata memory, counter overflow and
 * cost.  Exit 0, or 2 on bad usage or bad input (nothing is written then).
 */
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "report.h"

struct opts {
	const struct mc_policy *policies[MC_MAX_POLICIES];
	uint32_t nr_policies;
	uint32_t arch;
	bool json;
	const char *output;
};

static int usage(void)
{
	fputs("usage: mapcount replay [-p POLICY]... [--arch 64|32] "
	      "[--format text|json] [-o FILE] TRACE...\n",
	      stderr);
	return EXIT_BAD_INPUT;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "arch", required_argument, NULL, 'a' },
		{ "format", required_argument, NULL, 'f' },
		{ "output", required_argument, NULL, 'o' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	o->arch = 64;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:", longs, NULL)) != -1) {
		switch (c) {
		case 'p': {
			const struct mc_policy *p = mc_policy_find(optarg);

			if (!p) {
				fprintf(stderr,
					"mapcount replay: unknown policy "
					"'%s'\n",
					optarg);
				return -1;
			}
			if (o->nr_policies == MC_MAX_POLICIES)
				return usage(), -1;
			o->policies[o->nr_policies++] = p;
			break;
		}
		case 'a':
			if (strcmp(optarg, "64") && strcmp(optarg, "32")) {
				fprintf(stderr,
					"mapcount replay: --arch must be 64 or "
					"32, not '%s'\n",
					optarg);
				return -1;
			}
			o->arch = (uint32_t)atoi(optarg);
			break;
		case 'f':
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				fprintf(stderr,
					"mapcount replay: --format must be "
					"text or json, not '%s'\n",
					optarg);
				return -1;
			}
			o->json = !strcmp(optarg, "json");
			break;
		case 'o':
			o->output = optarg;
			break;
		default:
			return usage(), -1;
		}
	}
	if (optind >= argc)
		return usage(), -1;
	if (!o->nr_policies) {
		uint32_t n;
		const struct mc_policy *const *all = mc_builtin_policies(&n);

		for (uint32_t i = 0; i < n; i++)
			o->policies[o->nr_policies++] = all[i];
	}
	return 0;
}

/* Replay one trace; on success appends its JSON or writes its table. */
static int replay_one(const char *path, const struct opts *o, json_t *traces,
		      FILE *out)
{
	struct engine_opts eo = { .arch = o->arch,
				  .policies = o->policies,
				  .nr_policies = o->nr_policies,
				  .sample_shift = 4 };
	char err[512], namebuf[256];
	struct mct_reader *r = mct_open(path, err, sizeof(err));
	struct mct_event ev;
	struct engine *e;
	const char *name;
	int ret;

	if (!r) {
		fprintf(stderr, "%s\n", err);
		return EXIT_BAD_INPUT;
	}
	e = engine_new(mct_header(r), &eo, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "mapcount replay: %s\n", err);
		mct_close(r);
		return EXIT_BAD_INPUT;
	}
	while ((ret = mct_next(r, &ev)) > 0) {
		if (engine_event(e, &ev, err, sizeof(err))) {
			cli_event_error(r, path, &ev, err);
			ret = -2;
			break;
		}
	}
	if (ret == -1)
		fprintf(stderr, "%s\n", mct_error(r));
	if (ret == 0) {
		engine_finish(e);
		name = cli_trace_name(r, path, namebuf, sizeof(namebuf));
		if (o->json)
			json_array_append_new(
				traces, report_trace_json(e, o->nr_policies,
							  name, path, o->arch));
		else
			report_text(out, e, o->nr_policies, name, path,
				    o->arch);
	}
	engine_free(e);
	mct_close(r);
	return ret == 0 ? EXIT_OK : EXIT_BAD_INPUT;
}

/* Output goes to a temporary file renamed into place on success. */
static FILE *open_output(const char *path, char *tmp, size_t len)
{
	int fd;

	if (!path || !strcmp(path, "-"))
		return stdout;
	snprintf(tmp, len, "%s.tmpXXXXXX", path);
	fd = mkstemp(tmp);
	if (fd < 0) {
		perror(path);
		return NULL;
	}
	return fdopen(fd, "w");
}

int cmd_replay(int argc, char **argv)
{
	struct opts o = { 0 };
	char tmp[4096] = "";
	json_t *traces;
	FILE *out;
	int status = EXIT_OK;

	if (parse(argc, argv, &o))
		return EXIT_BAD_INPUT;
	out = open_output(o.output, tmp, sizeof(tmp));
	if (!out)
		return EXIT_BAD_INPUT;
	traces = json_array();
	for (int i = optind; i < argc && status == EXIT_OK; i++)
		status = replay_one(argv[i], &o, traces, out);
	if (status == EXIT_OK && o.json) {
		json_t *doc = report_json(o.arch, json_incref(traces));

		if (json_dumpf(doc, out,
			       JSON_INDENT(1) | JSON_REAL_PRECISION(6)) ||
		    fputc('\n', out) == EOF)
			status = EXIT_BAD_INPUT;
		json_decref(doc);
	}
	json_decref(traces);
	if (out != stdout) {
		if (fclose(out) || status != EXIT_OK) {
			unlink(tmp);
			return status == EXIT_OK ? EXIT_BAD_INPUT : status;
		}
		if (rename(tmp, o.output)) {
			perror(o.output);
			unlink(tmp);
			return EXIT_BAD_INPUT;
		}
	} else if (fflush(stdout)) {
		return EXIT_BAD_INPUT;
	}
	return status;
}
