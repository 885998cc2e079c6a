// SPDX-License-Identifier: MIT
/*
 * Golden outcomes of every built-in policy on the scenarios the seeds and
 * tools/testing/selftests/mm/cow.c argue about.  Every expected number is
 * derived by hand from the kernel code the policy models; the derivation
 * is in the comment above each test.  Policies, in order:
 *
 *   exact, per-page, two-slot+pages, two-slot, 012-stopped, count64
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "engine.h"

#define NP 6
static const char *const names[NP] = { "exact",		 "per-page",
				       "two-slot+pages", "two-slot",
				       "012-stopped",	 "count64" };

static struct mc_result res[NP];
static uint64_t nr_events;

/* Replay a text trace through the six policies; results land in res[]. */
static void run_arch(const char *text, uint32_t arch)
{
	const struct mc_policy *pols[NP];
	struct engine_opts o = { .arch = arch,
				 .policies = pols,
				 .nr_policies = NP,
				 .no_timing = true };
	char err[512];
	struct mct_reader *r;
	struct mct_event ev;
	struct engine *e;
	int ret;

	for (int i = 0; i < NP; i++) {
		pols[i] = mc_policy_find(names[i]);
		assert_non_null(pols[i]);
	}
	r = mct_open_mem(text, strlen(text), "golden", err, sizeof(err));
	if (!r)
		fail_msg("%s", err);
	e = engine_new(mct_header(r), &o, err, sizeof(err));
	assert_non_null(e);
	while ((ret = mct_next(r, &ev)) > 0)
		if (engine_event(e, &ev, err, sizeof(err)))
			fail_msg("event %llu: %s",
				 (unsigned long long)mct_event_index(r), err);
	if (ret < 0)
		fail_msg("%s", mct_error(r));
	engine_finish(e);
	for (int i = 0; i < NP; i++)
		res[i] = *engine_result(e, (uint32_t)i);
	nr_events = engine_events(e);
	engine_free(e);
	mct_close(r);
}

static void run(const char *text)
{
	run_arch(text, 64);
}

static void expect6(const char *what, size_t off, const uint64_t want[NP])
{
	for (int i = 0; i < NP; i++) {
		uint64_t got = *(const uint64_t *)((const char *)&res[i] + off);

		if (got != want[i])
			fail_msg("%s: %s = %llu, want %llu", names[i], what,
				 (unsigned long long)got,
				 (unsigned long long)want[i]);
	}
}

/* EXPECT(field, exact, per-page, two-slot+pages, two-slot, 012, count64) */
#define EXPECT(field, ...)                                 \
	expect6(#field, offsetof(struct mc_result, field), \
		(const uint64_t[NP]){ __VA_ARGS__ })

static int64_t counter_peak(int i, const char *name)
{
	for (uint32_t c = 0; c < res[i].policy->nr_counters; c++)
		if (!strcmp(res[i].policy->counters[c].name, name))
			return res[i].overflow.peak[c];
	fail_msg("%s has no counter %s", names[i], name);
	return -1;
}

static uint64_t counter_first(int i, const char *name)
{
	for (uint32_t c = 0; c < res[i].policy->nr_counters; c++)
		if (!strcmp(res[i].policy->counters[c].name, name))
			return res[i].overflow.first_overflow[c];
	fail_msg("%s has no counter %s", names[i], name);
	return 0;
}

#define NONE UINT64_MAX

/*
 * cow.c "Basic COW after fork()" on a PTE-mapped order-4 folio, the child
 * exits before the parent writes.  After the child's 16 PTEs go,
 * folio_sub_return_large_mapcount() frees slot 1 and sees slot 0 (the
 * parent, 15 biased) equal to the large mapcount (15): SHARED clears, and
 * __wp_can_reuse_large_anon_folio() reuses (mapcount 16 == refcount 16).
 * 6.10-6.14 never reused a PTE-mapped large folio: per-page copies, a
 * missed reuse.  kernel-observations.md: "reused (PFN unchanged) for an
 * untouched 64 KiB folio".
 */
static void test_fork_child_exit_parent_write(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "exit c\n"
	    "cow p f 0 expect=reuse\n"
	    "query f expect=exclusive\n");
	EXPECT(cow.decisions, 1, 1, 1, 1, 1, 1);
	EXPECT(cow.reuse, 1, 0, 1, 1, 1, 1);
	EXPECT(cow.missed_reuse, 0, 1, 0, 0, 0, 0);
	EXPECT(cow.unsafe_reuse, 0, 0, 0, 0, 0, 0);
	EXPECT(cow.kernel_agree, 1, 0, 1, 1, 1, 1);
	EXPECT(cow.anon_exclusive, 0, 0, 0, 0, 0, 0);
	EXPECT(shared.false_shared, 0, 0, 0, 0, 0, 0);
	EXPECT(shared.kernel_agree, 1, 1, 1, 1, 1, 1);
}

/*
 * The child writes while the parent lives: every policy copies (two MMs
 * map the folio; per-page's refcount is 32).  After the copy the child
 * unmaps page 0 (the trace's "copy" events).  The parent then writes page 1:
 * the child still maps pages 1-15, so everybody copies again.
 */
static void test_child_writes_while_parent_lives(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "cow c f 0 expect=copy\n"
	    "unmap c f 0\n"
	    "alloc g order=0\n"
	    "map c g 0 excl\n"
	    "cow p f 1 expect=copy\n"
	    "query f expect=shared\n");
	EXPECT(cow.decisions, 2, 2, 2, 2, 2, 2);
	EXPECT(cow.copy, 2, 2, 2, 2, 2, 2);
	EXPECT(cow.kernel_agree, 2, 2, 2, 2, 2, 2);
	EXPECT(shared.false_exclusive, 0, 0, 0, 0, 0, 0);
	/* 6.10: mapcount 31 > 16 pages: "any page is mapped more than once" */
	EXPECT(shared.kernel_agree, 1, 1, 1, 1, 1, 1);
}

/*
 * The 6.10 false negative: parent and child keep disjoint halves.  Two MMs
 * map the folio, but its mapcount (16) does not exceed its pages and page
 * 0 is mapped once: folio_likely_mapped_shared() says "exclusive".  The
 * slots never re-evaluate SHARED while both MMs keep mappings.
 */
static void test_disjoint_halves(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "unmap p f 8+8\n"
	    "unmap c f 0+8\n"
	    "query f expect=shared\n");
	EXPECT(shared.false_exclusive, 0, 1, 0, 0, 0, 0);
	EXPECT(shared.kernel_agree, 1, 0, 1, 1, 1, 1);
	EXPECT(partial.actual, 0, 0, 0, 0, 0, 0);
}

/*
 * Three MMs: parent, c1 (slot 1), c2 (untracked, large mapcount 48).
 * c1 exits first: slot 1 freed, 15 != 31, SHARED stays; c2 exits: an
 * untracked MM, re-evaluation finds slot 0 == 15 == large: SHARED clears.
 * kernel-observations.md: "whichever child exits first, after both exit
 * the parent's write reuses the folio".  012-stopped stopped tracking at
 * c2 and treats the folio as shared until it is freed.
 */
static const char three_mms_c1_first[] = "mct 1\n"
					 "mm p\n"
					 "alloc f order=4\n"
					 "map p f 0+16 excl\n"
					 "fork p c1\n"
					 "fork p c2\n"
					 "query f\n"
					 "exit c1\n"
					 "exit c2\n"
					 "cow p f 0 expect=reuse\n"
					 "query f\n";

static void test_three_mms_c1_exits_first(void **state)
{
	run(three_mms_c1_first);
	EXPECT(cow.reuse, 1, 0, 1, 1, 0, 1);
	EXPECT(cow.missed_reuse, 0, 1, 0, 0, 1, 0);
	EXPECT(cow.kernel_agree, 1, 0, 1, 1, 0, 1);
	EXPECT(shared.queries, 2, 2, 2, 2, 2, 2);
	EXPECT(shared.false_shared, 0, 0, 0, 0, 1, 0);
	EXPECT(shared.false_exclusive, 0, 0, 0, 0, 0, 0);
}

/* c2 (untracked) exits first: 31 matches no slot; then c1 frees slot 1
 * and slot 0 (15) equals the large mapcount (15).  Same outcome. */
static void test_three_mms_c2_exits_first(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c1\n"
	    "fork p c2\n"
	    "exit c2\n"
	    "exit c1\n"
	    "cow p f 0 expect=reuse\n");
	EXPECT(cow.reuse, 1, 0, 1, 1, 0, 1);
	EXPECT(cow.missed_reuse, 0, 1, 0, 0, 1, 0);
}

/*
 * The untracked MM is the last one: p holds slot 0, c1 slot 1, c2 none.
 * p and c1 exit; each frees its slot and compares the other slot (-1)
 * with the large mapcount (15): SHARED stays although c2 alone maps the
 * folio.  The slot policies copy (a missed reuse) and answer "maybe
 * shared" (a false positive, never a false negative).  folio_likely_
 * mapped_shared() looks at page 0's mapcount (1) and is right.
 */
static void test_untracked_last_mm(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c1\n"
	    "fork p c2\n"
	    "exit p\n"
	    "exit c1\n"
	    "query f\n"
	    "cow c2 f 3\n");
	EXPECT(cow.reuse, 1, 0, 0, 0, 0, 0);
	EXPECT(cow.missed_reuse, 0, 1, 1, 1, 1, 1);
	EXPECT(shared.false_shared, 0, 0, 1, 1, 1, 1);
	EXPECT(shared.false_exclusive, 0, 0, 0, 0, 0, 0);
}

/*
 * cow.c "single remaining PTE": the parent zaps pages 1-15 (MADV_DONTNEED),
 * the child exits, the parent writes page 0.  Large mapcount 1: the 6.15
 * code copies "so that the large folio can be freed", and so does the
 * oracle; kernel-observations.md saw the copy.  When the child exits,
 * pages 1-15 lose their last mapping while page 0 stays: partially mapped.
 * Every policy notices, two-slot because its mapcount (1) drops below 16.
 */
static void test_single_remaining_pte(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "unmap p f 1+15\n"
	    "exit c\n"
	    "cow p f 0 expect=copy\n");
	EXPECT(cow.copy, 1, 1, 1, 1, 1, 1);
	EXPECT(cow.missed_reuse, 0, 0, 0, 0, 0, 0);
	EXPECT(cow.kernel_agree, 1, 1, 1, 1, 1, 1);
	EXPECT(partial.actual, 1, 1, 1, 1, 1, 1);
	EXPECT(partial.detected, 1, 1, 1, 1, 1, 1);
	EXPECT(partial.missed, 0, 0, 0, 0, 0, 0);
}

/*
 * A GUP pin (FOLL_PIN) on the previously shared folio: the pin holds a
 * reference beyond the mappings (refcount 17 != mapcount 16), so nobody
 * may reuse; count64's single mapping reference plus the pin make 2.
 */
static void test_gup_pin_blocks_reuse(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "exit c\n"
	    "pin f\n"
	    "cow p f 0 expect=copy\n"
	    "unpin f\n"
	    "cow p f 1 expect=reuse\n");
	EXPECT(cow.decisions, 2, 2, 2, 2, 2, 2);
	EXPECT(cow.reuse, 1, 0, 1, 1, 1, 1);
	EXPECT(cow.copy, 1, 2, 1, 1, 1, 1);
	EXPECT(cow.unsafe_reuse, 0, 0, 0, 0, 0, 0);
}

/*
 * A pinned exclusive page at fork (cow.c's io_uring "R/W pin, then fork"):
 * folio_try_dup_anon_rmap_pte() fails with -EBUSY, the child gets a copy
 * of its own, and the parent's page stays PageAnonExclusive: its write is
 * reused on that bit alone, by every policy.
 */
static void test_pinned_page_copied_at_fork(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=0\n"
	    "map p f 0 excl\n"
	    "pin f\n"
	    "fork p c\n"
	    "query f expect=exclusive\n"
	    "cow p f 0 expect=reuse\n");
	EXPECT(cow.reuse, 1, 1, 1, 1, 1, 1);
	EXPECT(cow.anon_exclusive, 1, 1, 1, 1, 1, 1);
	EXPECT(cow.unsafe_reuse, 0, 0, 0, 0, 0, 0);
	EXPECT(shared.kernel_agree, 1, 1, 1, 1, 1, 1);
}

/*
 * hugetlb_wp() reuses when folio_mapcount() == 1, whatever the refcount:
 * with a R/O pin taken while the child still mapped the page, the parent's
 * write after the child's exit is reused although the pin must keep the
 * old content (cow.c marks hugetlb's vmsplice tests expected failures).
 * Every kernel-derived policy reuses unsafely; the oracle copies.
 */
static void test_hugetlb_pin_unsafe_reuse(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc h order=9 type=hugetlb\n"
	    "map p h pmd excl\n"
	    "fork p c\n"
	    "pin h\n"
	    "exit c\n"
	    "cow p h 0\n");
	EXPECT(cow.reuse, 0, 1, 1, 1, 1, 1);
	EXPECT(cow.unsafe_reuse, 0, 1, 1, 1, 1, 1);
}

/*
 * PMD-mapped THP; the child's write: do_huge_pmd_wp_page() sees refcount
 * 2, splits the child's PMD and copies one page (kernel-observations.md).
 * The parent's PMD maps everything throughout: not partially mapped.
 * After the child exits, the parent's write finds refcount 1 (its PMD)
 * and reuses the whole THP.
 */
static void test_pmd_thp_child_splits(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=9\n"
	    "map p f pmd excl\n"
	    "fork p c\n"
	    "cow c f 0 expect=copy\n"
	    "map c f 0+512\n"
	    "unmap c f pmd\n"
	    "unmap c f 0\n"
	    "alloc g order=0\n"
	    "map c g 0 excl\n"
	    "query f expect=shared\n"
	    "exit c\n"
	    "cow p f 7 expect=reuse\n"
	    "stat p\n");
	EXPECT(cow.decisions, 2, 2, 2, 2, 2, 2);
	EXPECT(cow.reuse, 1, 1, 1, 1, 1, 1);
	EXPECT(cow.kernel_agree, 2, 2, 2, 2, 2, 2);
	EXPECT(shared.kernel_agree, 1, 1, 1, 1, 1, 1);
	EXPECT(partial.actual, 0, 0, 0, 0, 0, 0);
	EXPECT(partial.false_flags, 0, 0, 0, 0, 0, 0);
	EXPECT(stats.anon_mapped_err_max_bytes, 0, 0, 0, 0, 0, 0);
}

/*
 * Parent and long-lived child both zap pages 8-15.  Per-page mapcounts see
 * pages 8-15 drop to -1 while 0-7 stay mapped: deferred split.  Without
 * them, the large mapcount after both zaps is 16 = folio_nr_pages(), not
 * below it: NO_PAGE_MAPCOUNT misses the partial mapping ("can miss parent
 * + long-lived-child partial zaps"), and so does count64 (T = 16).
 */
static void test_partial_parent_and_child(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "unmap p f 8+8\n"
	    "unmap c f 8+8\n");
	EXPECT(partial.actual, 1, 1, 1, 1, 1, 1);
	EXPECT(partial.detected, 1, 1, 1, 0, 0, 0);
	EXPECT(partial.missed, 0, 0, 0, 1, 1, 1);
	EXPECT(partial.false_flags, 0, 0, 0, 0, 0, 0);
}

/*
 * PSS/USS after the child unmaps half the folio.  Precise: pages 0-7 have
 * mapcount 2, pages 8-15 mapcount 1; the parent's PSS is 8*2048 + 8*4096
 * = 49152, its USS 32768; the child's PSS 16384, USS 0.  Average page
 * mapcount: (24 + 8) >> 4 = 2 for every page, and the folio is "maybe
 * shared": the parent's PSS reads 32768 (16384 short) and its USS 0 (32768
 * short).  AnonPages: precise 16 pages; without per-page mapcounts the
 * whole folio, also 16.  The kernel's numbers (48 KiB, 32 KiB) agree with
 * the per-page designs only.
 */
static void test_pss_uss_half_unmapped(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "fork p c\n"
	    "unmap c f 8+8\n"
	    "stat p rss=64 pss=48 uss=32\n"
	    "stat c rss=32 pss=16 uss=0\n");
	EXPECT(stats.queries, 2, 2, 2, 2, 2, 2);
	EXPECT(stats.pss_err_max_bytes, 0, 0, 0, 16384, 16384, 16384);
	EXPECT(stats.uss_err_max_bytes, 0, 0, 0, 32768, 32768, 32768);
	EXPECT(stats.anon_mapped_err_max_bytes, 0, 0, 0, 0, 0, 0);
	EXPECT(stats.kernel_agree, 2, 2, 2, 1, 1, 1);
	EXPECT(stats.kernel_disagree, 0, 0, 0, 1, 1, 1);
}

/*
 * AnonPages of a partially mapped folio: after the parent alone zaps pages
 * 4-15, NR_ANON_MAPPED is 4 pages precisely, the whole 16 without per-page
 * mapcounts (a 12-page, 49152-byte overstatement).
 */
static void test_anon_pages_partial(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=4\n"
	    "map p f 0+16 excl\n"
	    "unmap p f 4+12\n"
	    "stat p\n");
	EXPECT(stats.anon_mapped_err_max_bytes, 0, 0, 0, 49152, 49152, 49152);
	EXPECT(partial.detected, 1, 1, 1, 1, 1, 1);
}

/*
 * A file folio mapped twice into one MM (two VMAs): folio_likely_mapped_
 * shared() and folio_maybe_mapped_shared() of a small folio both say
 * "shared" (mapcount 2); for a large folio the slots know it is one MM.
 * 6.10's rule for large folios: mapcount 32 > 16 pages: shared.
 */
static void test_file_folio_twice_in_one_mm(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc s order=0 type=file\n"
	    "map p s 0 vma=a\n"
	    "map p s 0 vma=b\n"
	    "query s\n"
	    "alloc l order=4 type=file\n"
	    "map p l 0+16 vma=a\n"
	    "map p l 0+16 vma=b\n"
	    "query l\n");
	EXPECT(shared.queries, 2, 2, 2, 2, 2, 2);
	EXPECT(shared.false_shared, 0, 2, 1, 1, 1, 1);
	EXPECT(shared.false_exclusive, 0, 0, 0, 0, 0, 0);
}

/*
 * 32-bit per-slot overflow: one MM maps an order-9 file folio through
 * VMAs, 512 PTEs each.  mm_id_mapcount_t is a short holding the count
 * minus one: 64 VMAs make 32768 mappings, stored as 32767 = SHRT_MAX,
 * which still fits (the kernel's own sanity check allows exactly
 * nr_pages - 1 <= MM_ID_MAPCOUNT_MAX per mapping).  The 65th VMA
 * overflows: folio_add_return_large_mapcount() frees the slot and marks
 * the folio shared, so the query afterwards is a false "shared".  The
 * issue text said 64 VMAs; the kernel's arithmetic says 65.
 */
static void build_vmas(char *buf, size_t len, int vmas)
{
	size_t n = (size_t)snprintf(buf, len,
				    "mct 1\nmm p\nalloc f order=9 type=file\n");

	for (int v = 0; v < vmas; v++)
		n += (size_t)snprintf(buf + n, len - n,
				      "map p f 0+512 vma=v%d\n", v);
	snprintf(buf + n, len - n, "query f\n");
}

static void test_slot_overflow_32bit(void **state)
{
	static char buf[8192];
	/* events: mm (0), alloc (1), maps 2..66 */
	const uint64_t v65 = 66;

	build_vmas(buf, sizeof(buf), 64);
	run_arch(buf, 32);
	for (int i = 2; i < NP; i++)
		if (i != 4)
			assert_int_equal(counter_peak(i, "mm_slot_mapcount"),
					 32768);
	assert_int_equal(counter_first(2, "mm_slot_mapcount"), NONE);
	/* per-page: mapcount 32768 > 512 pages: "shared" */
	EXPECT(shared.false_shared, 0, 1, 0, 0, 0, 0);

	build_vmas(buf, sizeof(buf), 65);
	run_arch(buf, 32);
	assert_int_equal(counter_first(2, "mm_slot_mapcount"), v65);
	assert_int_equal(counter_first(3, "mm_slot_mapcount"), v65);
	assert_int_equal(counter_first(5, "mm_slot_mapcount"), v65);
	assert_int_equal(counter_first(4, "mm_pair_mapcount"), v65);
	/* per-page: mapcount 33280 > 512 pages: "shared" on both arches */
	EXPECT(shared.false_shared, 0, 1, 1, 1, 1, 1);
	EXPECT(overflow.events, 0, 0, 1, 1, 1, 1);

	run_arch(buf, 64); /* an int: no overflow on 64-bit */
	EXPECT(shared.false_shared, 0, 1, 0, 0, 0, 0);
	EXPECT(overflow.events, 0, 0, 0, 0, 0, 0);
}

/*
 * The refcount at 2^31: with one reference per page table entry, 512 PTEs
 * on top of 2^31 - 512 other references reach 2^31 (what 2^22 VMAs of a
 * PMD-sized folio do); count64 holds one reference for all mappings.
 */
static void test_refcount_overflow(void **state)
{
	run("mct 1\n"
	    "mm p\n"
	    "alloc f order=9\n"
	    "ref f +2147483136\n"
	    "map p f 0+512\n"
	    "unmap p f 0+512\n"
	    "ref f -2147483136\n"
	    "free f\n");
	for (int i = 0; i < NP; i++) {
		uint64_t first = counter_first(i, "refcount");

		assert_int_equal(counter_peak(i, "refcount"),
				 i == 5 ? 2147483137 : 2147483648);
		assert_int_equal(first, i == 5 ? NONE : 3);
	}
}

/*
 * A 2 MiB THP mapped by a PMD in one MM and by PTEs in another: per-page
 * precise mapcount 2 everywhere; folio_average_page_mapcount() gives
 * entire (1) + round(512 / 512) = 2 as well; count64: (1024 + 256) >> 9 = 2.
 */
static void test_pmd_and_ptes(void **state)
{
	run("mct 1\n"
	    "mm a\n"
	    "mm b\n"
	    "alloc f order=9 type=file\n"
	    "map a f pmd\n"
	    "map b f 0+512\n"
	    "observe f 0 mapcount=2\n"
	    "observe f 511 mapcount=2\n"
	    "unmap b f 256+256\n"
	    "observe f 0 mapcount=2\n"
	    "observe f 300 mapcount=1\n");
	EXPECT(observe.observed, 4, 4, 4, 4, 4, 4);
	/* after b's half unmap: average (256 + 256) >> 9 + 1 = 2 ... */
	EXPECT(observe.agree, 4, 4, 4, 3, 3, 3);
}

/*
 * Memory: bytes of metadata per folio for orders 0, 4 and 9 on 64-bit,
 * and the peak of one order-4 folio plus, for exact, one (folio, MM)
 * entry of 16 bytes.
 */
static void test_memory(void **state)
{
	static const uint64_t want[NP][3] = {
		{ 4, 72, 2056 }, { 4, 76, 2060 }, { 4, 92, 2076 },
		{ 4, 24, 24 },	 { 4, 24, 24 },	  { 4, 32, 32 },
	};

	run("mct 1\nmm p\nalloc f order=4\nmap p f 0+16 excl\n");
	for (int i = 0; i < NP; i++) {
		assert_int_equal(res[i].policy->meta_bytes(0, MC_ANON, 64),
				 want[i][0]);
		assert_int_equal(res[i].policy->meta_bytes(4, MC_ANON, 64),
				 want[i][1]);
		assert_int_equal(res[i].policy->meta_bytes(9, MC_ANON, 64),
				 want[i][2]);
		assert_int_equal(res[i].memory.peak,
				 want[i][1] + (i == 0 ? 16 : 0));
	}
}

/*
 * traces/scenarios/kernel-observations-6.18.mct.txt: every COW outcome and
 * kpagecount value this machine's kernel was seen to produce.  two-slot+
 * pages models this kernel and agrees with all ten COWs and all twelve
 * kpagecounts.  per-page copies the five reused PTE-mapped large folios;
 * 012-stopped the two that three MMs shared.  The average page mapcount
 * misses three kpagecounts: a copied page reads 2 instead of 1.
 */
static void test_kernel_observations(void **state)
{
	static char text[16384];
	FILE *f = fopen(MAPCOUNT_SOURCE_DIR
			"/traces/scenarios/kernel-observations-6.18.mct.txt",
			"r");
	size_t n;

	assert_non_null(f);
	n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = 0;
	run(text);
	EXPECT(cow.decisions, 10, 10, 10, 10, 10, 10);
	EXPECT(cow.reuse, 6, 1, 6, 6, 4, 6);
	EXPECT(cow.kernel_agree, 10, 5, 10, 10, 8, 10);
	EXPECT(cow.missed_reuse, 0, 5, 0, 0, 2, 0);
	EXPECT(observe.observed, 12, 12, 12, 12, 12, 12);
	EXPECT(observe.agree, 12, 12, 12, 9, 9, 9);
	EXPECT(partial.actual, 2, 2, 2, 2, 2, 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fork_child_exit_parent_write),
		cmocka_unit_test(test_child_writes_while_parent_lives),
		cmocka_unit_test(test_disjoint_halves),
		cmocka_unit_test(test_three_mms_c1_exits_first),
		cmocka_unit_test(test_three_mms_c2_exits_first),
		cmocka_unit_test(test_untracked_last_mm),
		cmocka_unit_test(test_single_remaining_pte),
		cmocka_unit_test(test_gup_pin_blocks_reuse),
		cmocka_unit_test(test_pinned_page_copied_at_fork),
		cmocka_unit_test(test_hugetlb_pin_unsafe_reuse),
		cmocka_unit_test(test_pmd_thp_child_splits),
		cmocka_unit_test(test_partial_parent_and_child),
		cmocka_unit_test(test_pss_uss_half_unmapped),
		cmocka_unit_test(test_anon_pages_partial),
		cmocka_unit_test(test_file_folio_twice_in_one_mm),
		cmocka_unit_test(test_slot_overflow_32bit),
		cmocka_unit_test(test_refcount_overflow),
		cmocka_unit_test(test_pmd_and_ptes),
		cmocka_unit_test(test_memory),
		cmocka_unit_test(test_kernel_observations),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
