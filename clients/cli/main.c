// SPDX-License-Identifier: MIT
/*
 * mapcount - replay kernel folio mapping traces through mapcount policies.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char *const usage_lines[] = {
	"usage: mapcount COMMAND [ARGS]",
	"",
	"commands:",
	"  replay [-p POLICY]... [--plugin FILE.so]... [--arch 64|32] [--jobs "
	"N]",
	"         [--format text|json|junit|markdown] [-o FILE] [--fail-on "
	"GATES]",
	"         [--baseline FILE] [--tolerance METRIC=VALUE[%]]... "
	"TRACE|DIR...",
	"                      replay traces through policies, compare with "
	"the oracle",
	"  merge [--format ...] [-o FILE] [--fail-on ...] RESULT.json...",
	"                      combine shard results into one report, same "
	"gates",
	"  check TRACE...      parse and validate traces, print a summary",
	"  convert [--to text|binary|zst] IN OUT",
	"                      convert between the text and binary encodings",
	"  synth WORKLOAD [--param K=V]... [--seed N] [--decide POLICY]",
	"        [--to text|binary|zst] -o FILE      (synth --list: the "
	"workloads)",
	"                      generate a synthetic trace from a kernel model",
	"  record [-o FILE] [--mthp SIZE=MODE]... [--checkpoint "
	"fork,exit,interval=MS]",
	"         -- CMD [ARGS]  record CMD's mappings from the live kernel "
	"(root)",
	"",
	"exit status: 0 ok, 1 a check or gate failed, 2 bad usage or bad input",
};

static int usage(FILE *out, int status)
{
	for (size_t i = 0; i < sizeof(usage_lines) / sizeof(usage_lines[0]);
	     i++)
		fprintf(out, "%s\n", usage_lines[i]);
	return status;
}

char *cli_event_where(char *buf, size_t len, const struct mct_reader *r,
		      const char *path, const struct mct_event *ev,
		      const char *msg)
{
	const struct mct_pos *p = mct_pos(r);
	const char *kind = mct_kind_name(ev->kind);

	if (p->line) /* text, plain or compressed */
		snprintf(buf, len, "%s:%llu:%llu: %s: %s", path,
			 (unsigned long long)p->line,
			 (unsigned long long)p->col, kind, msg);
	else
		snprintf(buf, len, "%s: byte %llu: %s: %s", path,
			 (unsigned long long)p->offset, kind, msg);
	return buf;
}

const char *cli_trace_name(const struct mct_reader *r, const char *path,
			   char *buf, size_t len)
{
	const struct mct_header *h = mct_header(r);
	const char *base = strrchr(path, '/');
	char *dot;

	if (h->name)
		return h->name;
	snprintf(buf, len, "%s", base ? base + 1 : path);
	dot = strstr(buf, ".mct");
	if (dot && dot != buf)
		*dot = 0;
	return buf;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(stderr, EXIT_BAD_INPUT);
	if (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help"))
		return usage(stdout, EXIT_OK);
	if (!strcmp(argv[1], "replay"))
		return cmd_replay(argc - 1, argv + 1);
	if (!strcmp(argv[1], "merge"))
		return cmd_merge(argc - 1, argv + 1);
	if (!strcmp(argv[1], "record"))
		return cmd_record(argc - 1, argv + 1);
	if (!strcmp(argv[1], "check"))
		return cmd_check(argc - 1, argv + 1);
	if (!strcmp(argv[1], "convert"))
		return cmd_convert(argc - 1, argv + 1);
	if (!strcmp(argv[1], "synth"))
		return cmd_synth(argc - 1, argv + 1);
	fprintf(stderr, "mapcount: unknown command '%s'\n", argv[1]);
	return usage(stderr, EXIT_BAD_INPUT);
}
