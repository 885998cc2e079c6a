/* SPDX-License-Identifier: MIT */
/*
 * ingest.h - storing a trace: parse it (any encoding), validate it with
 * the world model (what `mapcount check` does), re-encode it as canonical
 * binary, cut that into zstd-compressed chunks and store them with the
 * summary rows in one transaction.  Nothing is stored for a bad trace.
 */
#ifndef MAPCOUNTD_INGEST_H
#define MAPCOUNTD_INGEST_H

#include <jansson.h>
#include <stdint.h>

struct ingest_in {
	int fd;		      /* the trace, as uploaded; read from 0 */
	uint64_t bytes;	      /* its size */
	const char *name;     /* ?name=, or NULL */
	const char *filename; /* multipart or --load file name, or NULL */
};

struct ingest_out {
	unsigned int status; /* 201 stored, 200 already there, 400, 500 */
	json_t *body;	     /* the reply */
	int64_t id;
};

void ingest_trace(const struct ingest_in *in, struct ingest_out *out);

/* An anonymous temporary file (O_TMPFILE) next to the database. */
int ingest_tmpfile(void);

#endif /* MAPCOUNTD_INGEST_H */
