/* SPDX-License-Identifier: MIT */
/*
 * chunks.h - a stored trace read back: its zstd chunks, in order, are one
 * .mct.zst stream.
 */
#ifndef MAPCOUNTD_CHUNKS_H
#define MAPCOUNTD_CHUNKS_H

#include <stdint.h>
#include <stdio.h>

#include "store.h"
#include "trace.h"

/* A stream of the compressed chunks (fopencookie), fetched one at a time
 * from a pooled reader connection. */
FILE *chunks_fopen(int64_t trace_id);

/* A trace reader over the stored trace; *f must be fclose()d after
 * mct_close().  NULL with a message in err. */
struct mct_reader *chunks_reader(int64_t trace_id, const char *display,
				 FILE **f, char *err, size_t errlen);

struct MHD_Response;
/* The body of GET /api/traces/{id}/download: format text, binary or zst. */
struct MHD_Response *chunks_download(const struct store_trace *t,
				     const char *format);

#endif /* MAPCOUNTD_CHUNKS_H */
