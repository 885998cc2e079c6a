// SPDX-License-Identifier: MIT
/*
 * The timeline of a replay (engine_timeline(), "series" in the JSON): a
 * point every 2^k events, at most MC_TIMELINE_MAX of them, and the counts
 * at each.  Numbers derived by hand below.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

/*
 * Events 1-5: mm, alloc of an order-4 folio, its map (excl), fork, exit
 * of the child: the parent maps all 16 pages, none PageAnonExclusive any
 * more (fork cleared them), nobody else maps the folio.  Events 6-21: a
 * write to each page.  exact reuses (6.15's __wp_can_reuse_large_anon_folio():
 * 16 mappings, all the parent's, no other reference) and the page becomes
 * exclusive; per-page models 6.10-6.14, which never reuse a PTE-mapped
 * large folio: a missed reuse at each of the 16.  Then queries up to
 * nr_events.
 */
static char *trace(unsigned nr_events)
{
	size_t cap = 64 * (size_t)nr_events + 256, n = 0;
	char *t = malloc(cap);

	assert_non_null(t);
	n += (size_t)snprintf(t + n, cap - n,
			      "mct 1 page_size=4096 pmd_order=9 name=timeline\n"
			      "mm p\nalloc f order=4\nmap p f 0+16 excl\n"
			      "fork p x\nexit x\n");
	for (unsigned k = 0; k < 16; k++)
		n += (size_t)snprintf(t + n, cap - n, "cow p f %u\n", k);
	for (unsigned k = 21; k < nr_events; k++)
		n += (size_t)snprintf(t + n, cap - n, "query f\n");
	return t;
}

struct run {
	struct engine *e;
	uint32_t n, stride;
	const uint64_t *ev;
	const struct mc_tpoint *pt;
};

/* policies: [0] exact, [1] per-page */
static void replay(struct run *x, unsigned nr_events, uint32_t policy)
{
	const struct mc_policy *pols[2] = { mc_policy_find("exact"),
					    mc_policy_find("per-page") };
	struct engine_opts o = { .arch = 64,
				 .policies = pols,
				 .nr_policies = 2,
				 .no_timing = true };
	char err[256], *t = trace(nr_events);
	struct mct_reader *r =
		mct_open_mem(t, strlen(t), "timeline", err, sizeof(err));
	struct mct_event ev;
	int ret;

	assert_non_null(r);
	x->e = engine_new(mct_header(r), &o, err, sizeof(err));
	assert_non_null(x->e);
	while ((ret = mct_next(r, &ev)) > 0)
		if (engine_event(x->e, &ev, err, sizeof(err)))
			fail_msg("%s", err);
	assert_int_equal(ret, 0);
	engine_finish(x->e);
	assert_int_equal(engine_events(x->e), nr_events);
	x->n = engine_timeline(x->e, policy, &x->ev, &x->pt, &x->stride);
	mct_close(r);
	free(t);
}

/* per-page's missed reuses after the first `events` events */
static uint64_t missed_by(uint64_t events)
{
	if (events <= 5)
		return 0;
	return events - 5 > 16 ? 16 : events - 5;
}

/* 100 events: under MC_TIMELINE_MAX, a point after every event. */
static void test_every_event(void **unused)
{
	struct run x;

	(void)unused;
	replay(&x, 100, 1);
	assert_int_equal(x.n, 100);
	for (uint32_t k = 0; k < x.n; k++) {
		assert_int_equal(x.ev[k], k + 1);
		assert_int_equal(x.pt[k * x.stride].missed_reuse,
				 missed_by(k + 1));
		assert_int_equal(x.pt[k * x.stride].unsafe_reuse, 0);
	}
	engine_free(x.e);
}

/*
 * 300 events: points at 1..128; the 129th halves them to 2, 4, ..., 128
 * and samples every 2 (130, ..., 256: 128 points again); the 258th halves
 * them to 4, 8, ..., 256 and samples every 4: 260, ..., 300.  75 points,
 * 4 apart, the last one the end of the trace.
 */
static void test_halving(void **unused)
{
	struct run x;

	(void)unused;
	replay(&x, 300, 1);
	assert_int_equal(x.n, 75);
	for (uint32_t k = 0; k < x.n; k++) {
		assert_int_equal(x.ev[k], 4 * (k + 1));
		assert_int_equal(x.pt[k * x.stride].missed_reuse,
				 missed_by(4 * (k + 1)));
	}
	/* 4: 0, 8: 3, 12: 7, 16: 11, 20: 15, 24 on: 16 */
	assert_int_equal(x.pt[1 * x.stride].missed_reuse, 3);
	assert_int_equal(x.pt[5 * x.stride].missed_reuse, 16);
	engine_free(x.e);

	/* the oracle misses nothing */
	replay(&x, 300, 0);
	assert_int_equal(x.n, 75);
	for (uint32_t k = 0; k < x.n; k++)
		assert_int_equal(x.pt[k * x.stride].missed_reuse, 0);
	engine_free(x.e);
}

/* 301 events: the end of the trace is a point of its own (300, 301). */
static void test_last_point(void **unused)
{
	struct run x;

	(void)unused;
	replay(&x, 301, 1);
	assert_int_equal(x.n, 76);
	assert_int_equal(x.ev[74], 300);
	assert_int_equal(x.ev[75], 301);
	assert_int_equal(x.pt[75 * x.stride].missed_reuse, 16);
	engine_free(x.e);
}

/* Long enough to halve many times: never more than MC_TIMELINE_MAX
 * points, increasing, evenly spaced but for the last. */
static void test_bounded(void **unused)
{
	struct run x;

	(void)unused;
	replay(&x, 20000, 1);
	/* every 256 after the 8th halving: 256, ..., 19968 (78), and 20000 */
	assert_int_equal(x.n, 79);
	assert_true(x.n <= MC_TIMELINE_MAX);
	for (uint32_t k = 0; k + 1 < x.n; k++)
		assert_int_equal(x.ev[k], 256 * (k + 1));
	assert_int_equal(x.ev[x.n - 1], 20000);
	engine_free(x.e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_event),
		cmocka_unit_test(test_halving),
		cmocka_unit_test(test_last_point),
		cmocka_unit_test(test_bounded),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
