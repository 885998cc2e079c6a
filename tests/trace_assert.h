/* SPDX-License-Identifier: MIT */
/*
 * trace_assert.h - cmocka assertions on decoded events, shared by the
 * codec tests (test_trace_io, test_fastpb).  Include after <cmocka.h>.
 */
#ifndef MAPCOUNT_TRACE_ASSERT_H
#define MAPCOUNT_TRACE_ASSERT_H

#include "trace.h"

/* Every field of two events, the comm by content. */
static void assert_event_equal(const struct mct_event *a,
			       const struct mct_event *b)
{
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->level, b->level);
	assert_int_equal(a->type, b->type);
	assert_int_equal(a->expect, b->expect);
	assert_int_equal(a->flags, b->flags);
	assert_int_equal(a->order, b->order);
	assert_int_equal(a->mm, b->mm);
	assert_int_equal(a->mm2, b->mm2);
	assert_int_equal(a->folio, b->folio);
	assert_int_equal(a->vma, b->vma);
	assert_int_equal(a->first, b->first);
	assert_int_equal(a->nr, b->nr);
	assert_int_equal(a->delta, b->delta);
	assert_int_equal(a->pfn, b->pfn);
	assert_int_equal(a->rss_kb, b->rss_kb);
	assert_int_equal(a->pss_kb, b->pss_kb);
	assert_int_equal(a->uss_kb, b->uss_kb);
	assert_int_equal(a->value, b->value);
	assert_int_equal(a->slot[0], b->slot[0]);
	assert_int_equal(a->slot[1], b->slot[1]);
	assert_int_equal(a->slot_count[0], b->slot_count[0]);
	assert_int_equal(a->slot_count[1], b->slot_count[1]);
	assert_int_equal(a->shared, b->shared);
	assert_int_equal(!a->comm, !b->comm);
	if (a->comm)
		assert_string_equal(a->comm, b->comm);
}

#endif /* MAPCOUNT_TRACE_ASSERT_H */
