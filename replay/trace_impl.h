/* SPDX-License-Identifier: MIT */
#ifndef MAPCOUNT_TRACE_IMPL_H
#define MAPCOUNT_TRACE_IMPL_H

#include "trace.h"

/*
 * trace_impl.h - internal to replay/trace_*.c: what the text and binary
 * codecs share with the front end in trace_io.c.  Not part of the API.
 */
#include <stdarg.h>

/* Name table of one namespace: identifier <-> dense id. */
struct mct_strtab {
	const char **names; /* by id */
	uint32_t nr;
	uint32_t room;	 /* of names: at most 3/4 of the slots */
	uint64_t *slots; /* open addressing: hash << 32 | id + 1; 0 = empty */
	uint32_t mask;
	struct mct_pool *pool; /* storage of the names */
};

uint32_t mct_strtab_find(const struct mct_strtab *t, const char *s, size_t len);
/* Adds a name not in t; returns its id, or MCT_NO_ID when out of memory. */
uint32_t mct_strtab_add(struct mct_strtab *t, const char *s, size_t len);
/*
 * Adds s unless t has it, hashing and probing once: its new id, or
 * MCT_NO_ID with *old its id in t (MCT_NO_ID when out of memory).
 */
uint32_t mct_strtab_add_new(struct mct_strtab *t, const char *s, size_t len,
			    uint32_t *old);
void mct_strtab_free(struct mct_strtab *t);

bool mct_valid_ident(const char *s, size_t len);

/* mct_valid_ident(), inline for the decoders: 1 to MCT_ID_MAX of
 * A-Z a-z 0-9 _ . : - */
static inline bool mct_ident_ok(const char *s, size_t len)
{
	if (len < 1 || len > MCT_ID_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		uint8_t c = (uint8_t)s[i];

		if (!((uint8_t)((c | 0x20) - 'a') < 26 ||
		      (uint8_t)(c - '0') < 10 || c == '_' || c == '.' ||
		      c == ':' || c == '-'))
			return false;
	}
	return true;
}
/* NULL when s may be a string of the trace, else what is wrong with it. */
const char *mct_str_problem(const char *s);
/* s[0..len) quoted for a message, escaped and shortened: buf, size >= 96. */
const char *mct_show(char *buf, size_t size, const char *s, size_t len);

/* The identifier slots of an event, in interning order. */
enum mct_slot { MCT_SLOT_MM, MCT_SLOT_MM2, MCT_SLOT_FOLIO, MCT_SLOT_VMA };
#define MCT_NR_SLOTS 4
extern const enum mct_space mct_slot_space[MCT_NR_SLOTS];
uint32_t mct_slot_id(const struct mct_event *ev, enum mct_slot s);

struct mct_reader {
	char *file; /* display name */
	enum mct_encoding enc;
	struct mct_header hdr;
	struct mct_pos pos; /* of the last event or error */
	struct mct_strtab names[MCT_NR_SPACES];
	struct mct_input *in;
	struct mct_text_reader *text; /* set when the content is text */
	struct mct_bin_reader *bin;   /* set when it is binary */
	uint64_t nr_events;
	uint64_t nr_fastpb; /* binary messages the fast path decoded */
	bool failed;
	char err[512];
};

/*
 * Input: at least n unread bytes, fewer only at the end of the input.
 * Returns NULL on a read error; the bytes stay valid until the next peek.
 */
const uint8_t *mct_in_peek(struct mct_reader *r, size_t n, size_t *avail);
void mct_in_skip(struct mct_reader *r, size_t n);
uint64_t mct_in_offset(const struct mct_reader *r);

/* Record an error at r->pos (kind may be NULL); returns -1. */
int mct_fail(struct mct_reader *r, const char *kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int mct_vfail(struct mct_reader *r, const char *kind, const char *fmt,
	      va_list ap) __attribute__((format(printf, 3, 0)));

int mct_text_open(struct mct_reader *r);
int mct_text_next(struct mct_reader *r, struct mct_event *ev);
void mct_text_close(struct mct_reader *r);
int mct_bin_open(struct mct_reader *r);
int mct_bin_next(struct mct_reader *r, struct mct_event *ev);
void mct_bin_close(struct mct_reader *r);

/*
 * trace_fastpb.c: the binary reader's fast path.  mct_fastpb_event()
 * decodes the Event message p[0..len) by hand: MCT_FASTPB_EVENT with ev
 * filled in (comm, of MCT_STR_MAX + 1 bytes, holds an mm's comm), or
 * MCT_FASTPB_NAME when it was a Name, now defined.  MCT_FASTPB_SLOW: it
 * changed nothing, and protobuf-c must decode the message - anything
 * irregular or wrong, so that results and errors are protobuf-c's.
 */
enum { MCT_FASTPB_SLOW = -1, MCT_FASTPB_NAME = 0, MCT_FASTPB_EVENT = 1 };
int mct_fastpb_event(struct mct_reader *r, const uint8_t *p, size_t len,
		     struct mct_event *ev, char *comm);
/* False when MCT_NO_FASTPB is set to anything but "" or "0". */
bool mct_fastpb_enabled(void);

struct mct_writer {
	FILE *f;
	char *path, *tmp; /* rename tmp to path on success; NULL: a stream */
	enum mct_encoding enc;
	bool header_done, failed;
	struct mct_bin_writer *bin; /* binary and zst */
	struct mct_zstd_writer *z;  /* zst */
};

/* Output through zstd when w->z; returns 0, or -1 with w->failed set. */
int mct_sink_write(struct mct_writer *w, const void *p, size_t n);

/* names[slot]: the identifiers the event uses, NULL for the others. */
int mct_text_write_header(struct mct_writer *w, const struct mct_header *h);
int mct_text_write_event(struct mct_writer *w, const struct mct_event *ev,
			 const char *const names[MCT_NR_SLOTS]);
struct mct_bin_writer *mct_bin_writer_new(void);
void mct_bin_writer_free(struct mct_bin_writer *b);
int mct_bin_write_header(struct mct_writer *w, const struct mct_header *h);
int mct_bin_write_event(struct mct_writer *w, const struct mct_event *ev,
			const char *const names[MCT_NR_SLOTS]);
struct mct_zstd_writer *mct_zstd_writer_new(void);
int mct_zstd_write(struct mct_zstd_writer *z, FILE *f, const void *p, size_t n);
int mct_zstd_end(struct mct_zstd_writer *z, FILE *f);
void mct_zstd_writer_free(struct mct_zstd_writer *z);
#endif /* MAPCOUNT_TRACE_IMPL_H */
