// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the trace readers.  Whatever the bytes, mct_next()
 * returns events or an error with a position, never crashes, leaks or
 * reads out of bounds; every event it returns can be written back in both
 * encodings.  One target covers the text parser, the binary reader and
 * zstd (the encoding is detected from the content); the seed corpora
 * (tests/fuzz/corpus/{text,binary,zst}) steer it to each.
 *
 * Each input is read twice, with the binary reader's fast path
 * (replay/trace_fastpb.c) and without it (MCT_NO_FASTPB=1: protobuf-c
 * alone); any difference in the header, an event, a position, the names or
 * an error aborts.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void differ(const char *what)
{
	fprintf(stderr, "fast path and protobuf-c differ: %s\n", what);
	abort();
}

static bool str_equal(const char *a, const char *b)
{
	return a == b || (a && b && !strcmp(a, b));
}

static bool event_equal(const struct mct_event *a, const struct mct_event *b)
{
	return a->kind == b->kind && a->level == b->level &&
	       a->type == b->type && a->expect == b->expect &&
	       a->flags == b->flags && a->order == b->order && a->mm == b->mm &&
	       a->mm2 == b->mm2 && a->folio == b->folio && a->vma == b->vma &&
	       a->first == b->first && a->nr == b->nr && a->delta == b->delta &&
	       a->pfn == b->pfn && a->rss_kb == b->rss_kb &&
	       a->pss_kb == b->pss_kb && a->uss_kb == b->uss_kb &&
	       a->value == b->value && a->slot[0] == b->slot[0] &&
	       a->slot[1] == b->slot[1] &&
	       a->slot_count[0] == b->slot_count[0] &&
	       a->slot_count[1] == b->slot_count[1] && a->shared == b->shared &&
	       str_equal(a->comm, b->comm);
}

static bool header_equal(const struct mct_header *a, const struct mct_header *b)
{
	return a->version == b->version && a->has == b->has &&
	       a->page_size == b->page_size && a->pmd_order == b->pmd_order &&
	       a->pud_order == b->pud_order && a->source == b->source &&
	       str_equal(a->name, b->name) && str_equal(a->kernel, b->kernel) &&
	       str_equal(a->arch, b->arch);
}

static bool pos_equal(const struct mct_reader *a, const struct mct_reader *b)
{
	return mct_pos(a)->line == mct_pos(b)->line &&
	       mct_pos(a)->col == mct_pos(b)->col &&
	       mct_pos(a)->offset == mct_pos(b)->offset &&
	       mct_event_index(a) == mct_event_index(b);
}

static bool names_equal(const struct mct_reader *a, const struct mct_reader *b)
{
	for (int s = 0; s < MCT_NR_SPACES; s++) {
		uint32_t n = mct_nr_names(a, s);

		if (mct_nr_names(b, s) != n)
			return false;
		for (uint32_t id = 0; id < n; id++)
			if (strcmp(mct_name(a, s, id), mct_name(b, s, id)))
				return false;
	}
	return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512], err_slow[512];
	struct mct_reader *r, *rs;
	struct mct_writer *wt, *wb;
	struct mct_names names;
	struct mct_event ev, evs;
	FILE *null;
	int ret;

	unsetenv("MCT_NO_FASTPB");
	r = mct_open_mem(data, size, "fuzz", err, sizeof(err));
	setenv("MCT_NO_FASTPB", "1", 1);
	rs = mct_open_mem(data, size, "fuzz", err_slow, sizeof(err_slow));
	unsetenv("MCT_NO_FASTPB");
	if (!r || !rs) {
		if (r || rs || strcmp(err, err_slow))
			differ("open");
		return 0;
	}
	if (!header_equal(mct_header(r), mct_header(rs)))
		differ("header");
	null = fopen("/dev/null", "w");
	wt = mct_writer_stream(null, MCT_ENC_TEXT);
	wb = mct_writer_stream(null, MCT_ENC_BINARY);
	names = mct_reader_names(r);
	mct_write_header(wt, mct_header(r));
	mct_write_header(wb, mct_header(r));
	do {
		ret = mct_next(r, &ev);
		if (mct_next(rs, &evs) != ret)
			differ("mct_next() result");
		if (!pos_equal(r, rs))
			differ("position");
		if (ret <= 0)
			break;
		if (!event_equal(&ev, &evs))
			differ("event");
		mct_write_event(wt, &ev, &names);
		mct_write_event(wb, &ev, &names);
	} while (ret > 0);
	if (!str_equal(mct_error(r), mct_error(rs)))
		differ("error");
	if (!names_equal(r, rs))
		differ("names");
	mct_writer_close(wt);
	mct_writer_close(wb);
	fclose(null);
	mct_close(r);
	mct_close(rs);
	return 0;
}
