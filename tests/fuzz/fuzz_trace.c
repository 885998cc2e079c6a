// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the trace readers.  Whatever the bytes, mct_next()
 * returns events or an error with a position, never crashes, leaks or
 * reads out of bounds; every event it returns can be written back in both
 * encodings.  One target covers the text parser, the binary reader and
 * zstd (the encoding is detected from the content); the seed corpora
 * (tests/fuzz/corpus/{text,binary,zst}) steer it to each.
 */
#include <stdint.h>
#include <stdio.h>

#include "trace.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512];
	struct mct_reader *r =
		mct_open_mem(data, size, "fuzz", err, sizeof(err));
	struct mct_writer *wt, *wb;
	struct mct_names names;
	struct mct_event ev;
	FILE *null;

	if (!r)
		return 0;
	null = fopen("/dev/null", "w");
	wt = mct_writer_stream(null, MCT_ENC_TEXT);
	wb = mct_writer_stream(null, MCT_ENC_BINARY);
	names = mct_reader_names(r);
	mct_write_header(wt, mct_header(r));
	mct_write_header(wb, mct_header(r));
	while (mct_next(r, &ev) > 0) {
		mct_write_event(wt, &ev, &names);
		mct_write_event(wb, &ev, &names);
	}
	mct_writer_close(wt);
	mct_writer_close(wb);
	fclose(null);
	mct_close(r);
	return 0;
}
