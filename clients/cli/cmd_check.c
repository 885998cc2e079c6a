// SPDX-License-Identifier: MIT
/*
 * mapcount check TRACE...: parse every trace, validate its semantics with
 * the world model (unknown MMs and folios, ranges, levels, unmapping what
 * is not mapped, freeing what is mapped or referenced, ...) and summarise.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "world.h"

static void noop(void *ctx, const struct world_prim *p)
{
}

static void summary(const char *path, const struct world *w)
{
	const struct world_summary *s = world_summary(w);
	uint64_t total = 0;

	for (int k = 1; k < MCT_NR_KINDS; k++)
		total += s->events[k];
	printf("%s: ok, %" PRIu64 " events, %" PRIu64 " mms\n", path, total,
	       s->mms);
	printf("  events:");
	for (int k = 1; k < MCT_NR_KINDS; k++)
		if (s->events[k])
			printf(" %s=%" PRIu64, mct_kind_name(k), s->events[k]);
	printf("\n  folios:");
	for (int o = 0; o <= MCT_MAX_ORDER; o++)
		for (int t = 0; t < MCT_NR_FTYPES; t++)
			if (s->folios_by_order[o][t])
				printf(" order-%d %s=%" PRIu64, o,
				       mct_ftype_name(t),
				       s->folios_by_order[o][t]);
	printf("\n");
}

/* Returns an exit status for one trace. */
static int check_one(const char *path)
{
	char err[512];
	struct mct_reader *r = mct_open(path, err, sizeof(err));
	struct world *w;
	struct mct_event ev;
	int ret, status = EXIT_OK;

	if (!r) {
		fprintf(stderr, "%s\n", err);
		return EXIT_BAD_INPUT;
	}
	w = world_new(mct_header(r));
	while ((ret = mct_next(r, &ev)) > 0) {
		if (world_apply(w, &ev, noop, NULL, err, sizeof(err))) {
			char where[1024];

			fprintf(stderr, "%s\n",
				cli_event_where(where, sizeof(where), r, path,
						&ev, err));
			status = EXIT_FAILED;
			break;
		}
	}
	if (ret < 0) {
		fprintf(stderr, "%s\n", mct_error(r));
		status = EXIT_BAD_INPUT;
	}
	if (status == EXIT_OK)
		summary(path, w);
	world_free(w);
	mct_close(r);
	return status;
}

int cmd_check(int argc, char **argv)
{
	int status = EXIT_OK;

	if (argc < 2) {
		fputs("usage: mapcount check TRACE...\n", stderr);
		return EXIT_BAD_INPUT;
	}
	for (int i = 1; i < argc; i++) {
		int s = check_one(argv[i]);

		if (s > status)
			status = s;
	}
	return status;
}
