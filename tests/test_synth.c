// SPDX-License-Identifier: MIT
/*
 * mapcount synth: every workload generates a trace that reads back and
 * replays through every built-in policy, with the model's page tables
 * compared to the world's at every phase; generation is deterministic; the
 * closed loop follows the --decide policy; vma-overflow's shape; exact
 * parameter error messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../clients/cli/cli.h"
#include "synth.h"

static char dir[64];

static int setup(void **state)
{
	snprintf(dir, sizeof(dir), "/tmp/test_synth.XXXXXX");
	return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	return system(cmd) == 0 ? 0 : -1;
}

static const char *path_of(const char *name, char *buf, size_t len)
{
	snprintf(buf, len, "%s/%s", dir, name);
	return buf;
}

/* ---- running things ---- */

/* cmd_synth() with stdout and stderr captured into err. */
static int run_cli(char *err, size_t len, int argc, const char **argv)
{
	FILE *tmp = tmpfile();
	int saved1, saved2, ret;
	size_t n;

	assert_non_null(tmp);
	fflush(stdout);
	fflush(stderr);
	saved1 = dup(1);
	saved2 = dup(2);
	assert_true(saved1 >= 0 && saved2 >= 0);
	assert_true(dup2(fileno(tmp), 1) >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	ret = cmd_synth(argc, (char **)argv);
	fflush(stdout);
	fflush(stderr);
	dup2(saved1, 1);
	dup2(saved2, 2);
	close(saved1);
	close(saved2);
	rewind(tmp);
	n = fread(err, 1, len - 1, tmp);
	err[n] = 0;
	fclose(tmp);
	return ret;
}

#define CLI(err, ...)                                                    \
	run_cli(err, sizeof(err),                                        \
		(int)(sizeof((const char *[]){ "synth", __VA_ARGS__ }) / \
		      sizeof(const char *)),                             \
		(const char *[]){ "synth", __VA_ARGS__ })

/* Generate through the library, paranoid: the page tables are compared
 * with the world at each phase and at the end. */
static void generate(const char *workload, const char *const *params,
		     const char *path, struct synth_stats *st)
{
	struct synth_config c;
	struct mct_writer *w;
	char err[512];

	if (synth_config_init(&c, workload, err, sizeof(err)))
		fail_msg("%s", err);
	for (; params && *params; params++)
		if (synth_config_param(&c, *params, err, sizeof(err)))
			fail_msg("%s", err);
	c.paranoid = true;
	c.seed = 42;
	w = mct_writer_open(path, MCT_ENC_BINARY, err, sizeof(err));
	if (!w)
		fail_msg("%s", err);
	if (synth_generate(&c, w, st, err, sizeof(err))) {
		mct_writer_abort(w);
		fail_msg("%s: %s", workload, err);
	}
	assert_int_equal(mct_writer_close(w), 0);
}

struct counts {
	uint64_t events, kinds[MCT_NR_KINDS];
	uint64_t cow_copy, cow_reuse, order0_allocs;
};

/* Read a trace back, replay it through every built-in policy; the policy
 * that decided agrees with every recorded COW outcome. */
static void replay_all(const char *path, const char *decide, struct counts *n)
{
	uint32_t nr;
	const struct mc_policy *const *pols = mc_builtin_policies(&nr);
	struct engine_opts o = { .arch = 64,
				 .policies = pols,
				 .nr_policies = nr,
				 .no_timing = true };
	char err[512];
	struct mct_reader *r = mct_open(path, err, sizeof(err));
	struct mct_event ev;
	struct engine *e;
	int ret;

	if (!r)
		fail_msg("%s", err);
	e = engine_new(mct_header(r), &o, err, sizeof(err));
	assert_non_null(e);
	memset(n, 0, sizeof(*n));
	while ((ret = mct_next(r, &ev)) > 0) {
		if (engine_event(e, &ev, err, sizeof(err)))
			fail_msg("%s: event %llu: %s", path,
				 (unsigned long long)mct_event_index(r), err);
		n->events++;
		n->kinds[ev.kind]++;
		n->cow_copy +=
			ev.kind == MCT_COW && ev.expect == MCT_EXPECT_COPY;
		n->cow_reuse +=
			ev.kind == MCT_COW && ev.expect == MCT_EXPECT_REUSE;
		n->order0_allocs += ev.kind == MCT_ALLOC && ev.order == 0;
	}
	if (ret < 0)
		fail_msg("%s", mct_error(r));
	engine_finish(e);
	for (uint32_t i = 0; i < nr; i++)
		if (!strcmp(pols[i]->name, decide))
			assert_int_equal(
				engine_result(e, i)->cow.kernel_disagree, 0);
	assert_non_null(mct_header(r)->name);
	assert_int_equal(mct_header(r)->source, MCT_SOURCE_SYNTHETIC);
	engine_free(e);
	mct_close(r);
}

static void noop(void *ctx, const struct world_prim *p)
{
}

/* What `mapcount check` does: the world alone validates the trace. */
static void check_world_only(const char *path)
{
	char err[512];
	struct mct_reader *r = mct_open(path, err, sizeof(err));
	struct mct_event ev;
	struct world *w;
	int ret;

	if (!r)
		fail_msg("%s", err);
	w = world_new(mct_header(r));
	while ((ret = mct_next(r, &ev)) > 0)
		if (world_apply(w, &ev, noop, NULL, err, sizeof(err)))
			fail_msg("%s: event %llu: %s", path,
				 (unsigned long long)mct_event_index(r), err);
	assert_int_equal(ret, 0);
	world_free(w);
	mct_close(r);
}

static uint64_t file_size(const char *path)
{
	FILE *f = fopen(path, "rb");
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fclose(f);
	return (uint64_t)n;
}

static bool same_file(const char *a, const char *b)
{
	FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
	bool same = true;
	int ca, cb;

	assert_non_null(fa);
	assert_non_null(fb);
	do {
		ca = fgetc(fa);
		cb = fgetc(fb);
		if (ca != cb)
			same = false;
	} while (same && ca != EOF);
	fclose(fa);
	fclose(fb);
	return same;
}

/* ---- every workload ---- */

struct small {
	const char *workload;
	const char *params[6];
};

static const struct small smalls[] = {
	{ "fork-storm", { "size_mib=1", "children=3", NULL } },
	{ "fork-storm", { "size_mib=2", "order=9", "children=2", NULL } },
	{ "fork-storm", { "size_mib=1", "order=0", "write_frac=0.5", NULL } },
	{ "zygote", { "file_mib=1", "anon_mib=1", "apps=3", NULL } },
	{ "zygote", { "file_mib=0", "anon_mib=2", "order=9", "apps=2", NULL } },
	{ "bgsave", { "dataset_mib=1", "writes=200", "rounds=2", NULL } },
	{ "bgsave", { "dataset_mib=4", "order=9", "writes=300", NULL } },
	{ "shared-libs", { "procs=4", "libs=3", "lib_kib=128", NULL } },
	{ "partial-zap", { "size_mib=1", "ops=200", NULL } },
	{ "partial-zap",
	  { "size_mib=4", "order=9", "ops=60", "mremap_frac=0.3", NULL } },
	{ "vma-overflow", { "vmas=300", "max_map_count=128", NULL } },
	{ "pin-fork", { "rounds=2", NULL } },
	{ "pin-fork", { "order=9", "pins=2", "rounds=2", NULL } },
};

static void every_workload(void **state)
{
	uint32_t nr;
	const struct synth_workload *wl = synth_workloads(&nr);
	bool seen[16] = { false };

	for (size_t i = 0; i < sizeof(smalls) / sizeof(smalls[0]); i++) {
		struct synth_stats st;
		struct counts n;
		char path[128], name[64];

		snprintf(name, sizeof(name), "w%zu.mct", i);
		path_of(name, path, sizeof(path));
		generate(smalls[i].workload, smalls[i].params, path, &st);
		replay_all(path, SYNTH_DEFAULT_DECIDE, &n);
		assert_int_equal(n.events, st.events);
		assert_int_equal(n.cow_copy, st.cow_copy);
		assert_int_equal(n.cow_reuse, st.cow_reuse);
		/* everything allocated was freed */
		assert_int_equal(n.kinds[MCT_ALLOC], n.kinds[MCT_FREE]);
		/*
		 * The world alone (mapcount check) accepts it too, when no
		 * folio is pinned: with pins, what fork() copies depends on
		 * PageAnonExclusive, which a `cow expect=reuse` sets only in
		 * the engine (do_cow()), not in world_apply().
		 */
		if (!n.kinds[MCT_PIN])
			check_world_only(path);
		/* (a stat of 65530 VMAs would cost the replay too much) */
		if (strcmp(smalls[i].workload, "vma-overflow"))
			assert_true(n.kinds[MCT_STAT] > 0);
		assert_true(n.kinds[MCT_QUERY] > 0);
		for (uint32_t w = 0; w < nr; w++)
			if (!strcmp(wl[w].name, smalls[i].workload))
				seen[w] = true;
	}
	for (uint32_t w = 0; w < nr; w++)
		if (!seen[w])
			fail_msg("workload %s is not tested", wl[w].name);
}

/* ---- determinism ---- */

static void deterministic(void **state)
{
	char a[128], b[128], c[128], z1[128], z2[128], err[1024];

	path_of("a.mct", a, sizeof(a));
	path_of("b.mct", b, sizeof(b));
	path_of("c.mct", c, sizeof(c));
	path_of("z1.mct.zst", z1, sizeof(z1));
	path_of("z2.mct.zst", z2, sizeof(z2));
	assert_int_equal(CLI(err, "partial-zap", "--param", "ops=100", "--seed",
			     "5", "-o", a),
			 EXIT_OK);
	assert_int_equal(CLI(err, "partial-zap", "--param", "ops=100", "--seed",
			     "5", "-o", b),
			 EXIT_OK);
	assert_true(file_size(a) > 1000);
	assert_true(same_file(a, b));
	assert_int_equal(CLI(err, "partial-zap", "--param", "ops=100", "--seed",
			     "6", "-o", c),
			 EXIT_OK);
	assert_false(same_file(a, c));
	assert_int_equal(
		CLI(err, "pin-fork", "--seed=9", "--to", "zst", "-o", z1),
		EXIT_OK);
	assert_int_equal(CLI(err, "pin-fork", "--seed=9", "--to=zst", "-o", z2),
			 EXIT_OK);
	assert_true(same_file(z1, z2));
	/* the summary line */
	assert_non_null(strstr(err, "mapcount synth: pin-fork: "));
	assert_non_null(strstr(err, " events, "));
	assert_non_null(strstr(err, "cow: reuse="));
}

/* ---- closed loop ---- */

/*
 * fork-storm, 1 MiB of order-4 folios (16 folios, 256 pages), 3 children
 * each writing 64 random pages, then the parent writing 64 random pages.
 * While the children live, every write hits a folio the parent maps too:
 * every policy copies (192 copies in both runs).  Once the children have
 * exited, the parent is the only mapper of its PTE-mapped large folios:
 * 6.15+ (two-slot+pages) reuses each written page, 6.10-6.14 (per-page)
 * never reuses a page of a PTE-mapped large folio and copies each one,
 * allocating an order-0 folio per copy.  So per-page has exactly 64 more
 * copies and 64 more order-0 folios, and two-slot+pages 64 reuses.
 */
static void closed_loop(void **state)
{
	char pp[128], ts[128], err[1024];
	struct counts a, b;

	path_of("pp.mct", pp, sizeof(pp));
	path_of("ts.mct", ts, sizeof(ts));
	assert_int_equal(CLI(err, "fork-storm", "--param", "size_mib=1",
			     "--param", "children=3", "--seed", "7", "--decide",
			     "per-page", "-o", pp),
			 EXIT_OK);
	assert_int_equal(CLI(err, "fork-storm", "--param", "size_mib=1",
			     "--param", "children=3", "--seed", "7", "--decide",
			     "two-slot+pages", "-o", ts),
			 EXIT_OK);
	replay_all(pp, "per-page", &a);
	replay_all(ts, "two-slot+pages", &b);
	assert_int_equal(a.cow_copy, 256);
	assert_int_equal(a.cow_reuse, 0);
	assert_int_equal(a.order0_allocs, 256);
	assert_int_equal(b.cow_copy, 192);
	assert_int_equal(b.cow_reuse, 64);
	assert_int_equal(b.order0_allocs, 192);
}

/* ---- vma-overflow ---- */

static void vma_overflow_shape(void **state)
{
	char p[128], err[1024];
	struct counts n;

	path_of("vo.mct", p, sizeof(p));
	assert_int_equal(
		CLI(err, "vma-overflow", "--param", "vmas=8192", "-o", p),
		EXIT_OK);
	replay_all(p, SYNTH_DEFAULT_DECIDE, &n);
	assert_int_equal(n.kinds[MCT_MAP], 8192);
	assert_int_equal(n.kinds[MCT_MM], 1);
	assert_int_equal(n.kinds[MCT_ALLOC], 1);
	assert_int_equal(n.kinds[MCT_FREE], 1);

	assert_int_equal(
		CLI(err, "vma-overflow", "--param", "vmas=65531", "-o", p),
		EXIT_OK);
	replay_all(p, SYNTH_DEFAULT_DECIDE, &n);
	assert_int_equal(n.kinds[MCT_MAP], 65531);
	assert_int_equal(n.kinds[MCT_MM], 2);
	assert_int_equal(n.kinds[MCT_EXIT], 2);
}

/* ---- errors ---- */

static void expect_error(int ret, const char *err, const char *msg)
{
	assert_int_equal(ret, EXIT_BAD_INPUT);
	assert_string_equal(err, msg);
}

static void param_errors(void **state)
{
	char p[128], err[1024];

	path_of("never.mct", p, sizeof(p));
	expect_error(CLI(err, "fork-bomb", "-o", p), err,
		     "mapcount synth: unknown workload 'fork-bomb' (mapcount "
		     "synth --list shows them)\n");
	expect_error(CLI(err, "fork-storm", "--param", "kids=3", "-o", p), err,
		     "mapcount synth: fork-storm has no parameter 'kids'\n");
	expect_error(CLI(err, "fork-storm", "--param", "children=3", "--param",
			 "children=4", "-o", p),
		     err,
		     "mapcount synth: parameter 'children' is given twice\n");
	expect_error(CLI(err, "fork-storm", "--param", "children", "-o", p),
		     err,
		     "mapcount synth: --param needs NAME=VALUE, not "
		     "'children'\n");
	expect_error(CLI(err, "fork-storm", "--param", "=3", "-o", p), err,
		     "mapcount synth: --param needs NAME=VALUE, not '=3'\n");
	expect_error(CLI(err, "fork-storm", "--param", "children=3x", "-o", p),
		     err,
		     "mapcount synth: parameter 'children': '3x' is not a "
		     "whole number\n");
	expect_error(CLI(err, "fork-storm", "--param", "children=-1", "-o", p),
		     err,
		     "mapcount synth: parameter 'children': '-1' is not a "
		     "whole number\n");
	expect_error(CLI(err, "fork-storm", "--param", "children=0", "-o", p),
		     err,
		     "mapcount synth: parameter 'children': 0 is out of range "
		     "1..256\n");
	expect_error(CLI(err, "fork-storm", "--param", "order=10", "-o", p),
		     err,
		     "mapcount synth: parameter 'order': 10 is out of range "
		     "0..9\n");
	expect_error(CLI(err, "fork-storm", "--param", "order=1", "-o", p), err,
		     "mapcount synth: parameter 'order': there are no order-1 "
		     "anonymous mTHPs (use 0 or 2..9)\n");
	expect_error(
		CLI(err, "fork-storm", "--param", "write_frac=1.5", "-o", p),
		err,
		"mapcount synth: parameter 'write_frac': 1.5 is out of "
		"range 0..1\n");
	expect_error(
		CLI(err, "fork-storm", "--param", "write_frac=half", "-o", p),
		err,
		"mapcount synth: parameter 'write_frac': 'half' is not a "
		"number\n");
	expect_error(CLI(err, "fork-storm", "--decide", "fifo", "-o", p), err,
		     "mapcount synth: unknown policy 'fifo'\n");
	expect_error(CLI(err, "fork-storm", "--seed", "x", "-o", p), err,
		     "mapcount synth: --seed needs a whole number, not 'x'\n");
	assert_int_equal(access(p, F_OK), -1);

	/* usage errors print the usage too */
	assert_int_equal(CLI(err, "fork-storm"), EXIT_BAD_INPUT);
	assert_non_null(strstr(err, "mapcount synth: -o FILE is required\n"));
	assert_int_equal(CLI(err, "fork-storm", "-o", "x.bin"), EXIT_BAD_INPUT);
	assert_non_null(strstr(err, "cannot tell the encoding of 'x.bin'"));
	assert_int_equal(CLI(err, "fork-storm", "--frobnicate", "-o", p),
			 EXIT_BAD_INPUT);
	assert_non_null(strstr(err, "unknown option '--frobnicate'"));
	assert_int_equal(CLI(err, "fork-storm", "--to", "xml", "-o", p),
			 EXIT_BAD_INPUT);
	assert_non_null(strstr(err, "--to must be text, binary or zst"));
	assert_int_equal(CLI(err, "fork-storm", "--seed"), EXIT_BAD_INPUT);
	assert_non_null(strstr(err, "--seed needs a value"));
	assert_int_equal(access(p, F_OK), -1);

	/* cannot write: no output, exit 1 */
	assert_int_equal(CLI(err, "fork-storm", "--param", "size_mib=1", "-o",
			     "/nonexistent/dir/t.mct"),
			 EXIT_FAILED);
	assert_non_null(strstr(err, "/nonexistent/dir/t.mct"));
}

static void list_and_text(void **state)
{
	char p[128], err[8192], line[256];
	uint32_t nr;
	const struct synth_workload *wl = synth_workloads(&nr);
	FILE *f;

	assert_int_equal(nr, 7);
	for (uint32_t i = 0; i < nr; i++) {
		assert_non_null(wl[i].summary);
		assert_true(wl[i].nr_params <= SYNTH_MAX_PARAMS);
	}
	assert_int_equal(CLI(err, "--list"), EXIT_OK);
	for (uint32_t i = 0; i < nr; i++)
		assert_non_null(strstr(err, wl[i].name));
	assert_non_null(strstr(err, "    order=4 "));
	/* the text encoding, from the file name; the header */
	path_of("t.mct.txt", p, sizeof(p));
	assert_int_equal(CLI(err, "shared-libs", "--param", "procs=3",
			     "--param", "libs=1", "--param", "lib_kib=64", "-o",
			     p),
			 EXIT_OK);
	f = fopen(p, "r");
	assert_non_null(f);
	assert_non_null(fgets(line, sizeof(line), f));
	fclose(f);
	assert_string_equal(line, "mct 1 page_size=4096 pmd_order=9 "
				  "pud_order=18 name=shared-libs "
				  "source=synthetic arch=x86_64\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_workload),
		cmocka_unit_test(deterministic),
		cmocka_unit_test(closed_loop),
		cmocka_unit_test(vma_overflow_shape),
		cmocka_unit_test(param_errors),
		cmocka_unit_test(list_and_text),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
