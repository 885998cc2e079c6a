/* SPDX-License-Identifier: MIT */
/*
 * trace.h - the mapcount-lab trace model, shared by the text (.mct.txt) and
 * binary (.mct, .mct.zst) encodings.  See docs/trace-format.md.
 *
 * Identifiers are interned per namespace (MMs, folios, VMAs): an event
 * carries small dense numbers, numbered 0, 1, 2, ... in order of first
 * appearance in the trace.  Both readers number identically, so the engine
 * can index arrays with them directly and never hashes a name.
 */
#ifndef MAPCOUNT_TRACE_H
#define MAPCOUNT_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define MCT_VERSION   1
#define MCT_ID_MAX    64 /* longest identifier */
#define MCT_NO_ID     UINT32_MAX
#define MCT_MAX_ORDER 30 /* largest folio order a trace may allocate */

/* Limits of both encodings: what one can say, the other can too. */
#define MCT_STR_MAX  512       /* longest comm, name, kernel, arch */
#define MCT_LINE_MAX 4096      /* longest text line, without its end */
#define MCT_MSG_MAX  (1 << 20) /* largest binary message */

enum mct_kind {
	MCT_MM = 1,
	MCT_FORK,
	MCT_EXIT,
	MCT_ALLOC,
	MCT_FREE,
	MCT_MAP,
	MCT_UNMAP,
	MCT_REF,
	MCT_PIN,
	MCT_UNPIN,
	MCT_COW,
	MCT_QUERY,
	MCT_STAT,
	MCT_OBSERVE,
	MCT_MMID,
	MCT_NR_KINDS
};

enum mct_space { MCT_SPACE_MM, MCT_SPACE_FOLIO, MCT_SPACE_VMA, MCT_NR_SPACES };

enum mct_ftype {
	MCT_ANON,
	MCT_FILE,
	MCT_SHMEM,
	MCT_HUGETLB,
	MCT_DRIVER, /* vm_insert_page(): not rmappable */
	MCT_NR_FTYPES
};

enum mct_level { MCT_PTE, MCT_PMD, MCT_PUD, MCT_NR_LEVELS };

enum mct_expect {
	MCT_EXPECT_NONE = 0,
	MCT_EXPECT_REUSE,     /* cow */
	MCT_EXPECT_COPY,      /* cow */
	MCT_EXPECT_SHARED,    /* query */
	MCT_EXPECT_EXCLUSIVE, /* query */
};

/* mct_event.slot[]: a CONFIG_MM_ID slot of an mmid statement */
enum mct_mmid_slot {
	MCT_MMID_FREE = 0, /* omitted */
	MCT_MMID_MM,	   /* held by the trace's MM mm (slot 0) or mm2 */
	MCT_MMID_OTHER,	   /* held by an MM outside the trace: "?" */
	MCT_NR_MMID_SLOTS
};

/* mct_event.flags */
#define MCT_F_EXCL     0x01 /* map: excl (RMAP_EXCLUSIVE) */
#define MCT_F_NO_RANGE 0x02 /* map/unmap: range omitted (whole folio) */
#define MCT_F_LEVEL    0x04 /* map/unmap: level written explicitly */
#define MCT_F_PFN      0x08 /* alloc: pfn= present */
#define MCT_F_TYPE     0x10 /* alloc: type= present */
#define MCT_F_RSS      0x20 /* stat: rss= present */
#define MCT_F_PSS      0x40 /* stat: pss= present */
#define MCT_F_USS      0x80 /* stat: uss= present */

/*
 * One statement.  Which fields mean something depends on kind:
 *   mm      mm [mm2 = parent or MCT_NO_ID] [comm]
 *   fork    mm = parent, mm2 = child
 *   exit    mm
 *   alloc   folio order [type] [pfn]
 *   free    folio
 *   map     mm folio first nr level [vma or MCT_NO_ID] [MCT_F_EXCL]
 *   unmap   mm folio first nr level [vma]
 *   ref     folio delta
 *   pin     folio            unpin   folio
 *   cow     mm folio first(page) [expect]
 *   query   folio [expect]
 *   stat    mm [rss_kb pss_kb uss_kb]
 *   observe folio first(page) value(mapcount)
 *   mmid    folio value(large mapcount) shared, slot[2] and slot_count[2];
 *           mm and mm2 are the MMs of slots 0 and 1 when MCT_MMID_MM, else
 *           MCT_NO_ID
 * For map/unmap with MCT_F_NO_RANGE, first and nr are 0: the consumer
 * resolves them against the folio's size.
 */
struct mct_event {
	uint8_t kind;
	uint8_t level;
	uint8_t type;
	uint8_t expect;
	uint8_t flags;
	uint32_t order;
	uint32_t mm, mm2, folio, vma;
	uint64_t first, nr;
	int64_t delta;
	uint64_t pfn;
	uint64_t rss_kb, pss_kb, uss_kb;
	uint64_t value;
	const char *comm; /* mm: valid until the next event, or NULL */
	/* mmid: the kernel's MM_ID state of a large folio */
	uint8_t slot[2];	/* enum mct_mmid_slot */
	uint8_t shared;		/* the maybe-shared bit, 0 or 1 */
	uint64_t slot_count[2]; /* mappings the slot's MM holds */
};

enum mct_source { MCT_SOURCE_NONE, MCT_SOURCE_SYNTHETIC, MCT_SOURCE_RECORDED };

/* mct_header.has */
#define MCT_H_PAGE_SIZE 0x01
#define MCT_H_PMD_ORDER 0x02
#define MCT_H_PUD_ORDER 0x04

struct mct_header {
	uint32_t version;
	uint32_t has; /* which of page_size/pmd_order/pud_order were given */
	uint32_t page_size, pmd_order, pud_order; /* defaults filled in */
	enum mct_source source;
	char *name, *kernel, *arch; /* NULL when absent */
};

#define MCT_DEFAULT_PAGE_SIZE 4096
#define MCT_DEFAULT_PMD_ORDER 9
#define MCT_DEFAULT_PUD_ORDER 18

enum mct_encoding { MCT_ENC_TEXT, MCT_ENC_BINARY, MCT_ENC_ZSTD };

/* Where the last event came from, for error messages. */
struct mct_pos {
	uint64_t line, col; /* text: 1-based; 0 for binary */
	uint64_t offset;    /* binary: byte offset of the event's length */
};

struct mct_reader;

/*
 * Open a trace; the encoding is detected from the content.  path "-" reads
 * standard input.  On failure returns NULL and writes a message to err.
 */
struct mct_reader *mct_open(const char *path, char *err, size_t errlen);
/* Same over an already opened stream (not closed by mct_close). */
struct mct_reader *mct_open_stream(FILE *f, const char *display_name, char *err,
				   size_t errlen);
/* Same over a memory buffer (not copied: must outlive the reader). */
struct mct_reader *mct_open_mem(const void *buf, size_t len,
				const char *display_name, char *err,
				size_t errlen);

const struct mct_header *mct_header(const struct mct_reader *r);
enum mct_encoding mct_encoding(const struct mct_reader *r);

/*
 * Read the next event.  Returns 1 with *ev filled, 0 at the end of the
 * trace, -1 on bad input (mct_error() says what and where).
 */
int mct_next(struct mct_reader *r, struct mct_event *ev);
const char *mct_error(const struct mct_reader *r);
const struct mct_pos *mct_pos(const struct mct_reader *r);
/* Index of the last event returned, from 0. */
uint64_t mct_event_index(const struct mct_reader *r);

/* Interned names: a reader's table grows as the trace is read. */
const char *mct_name(const struct mct_reader *r, enum mct_space space,
		     uint32_t id);
uint32_t mct_nr_names(const struct mct_reader *r, enum mct_space space);

void mct_close(struct mct_reader *r);

/*
 * Writers.  Events carry identifier numbers; the writer asks names for their
 * text (mct_reader_names() fits) and numbers them canonically itself, so any
 * numbering the caller uses is fine.
 */
struct mct_writer;

struct mct_names {
	const char *(*name)(void *ctx, enum mct_space space, uint32_t id);
	void *ctx;
};

struct mct_names mct_reader_names(const struct mct_reader *r);

struct mct_writer *mct_writer_open(const char *path, enum mct_encoding enc,
				   char *err, size_t errlen);
/* Over an open stream (not closed by mct_writer_close). */
struct mct_writer *mct_writer_stream(FILE *f, enum mct_encoding enc);
int mct_write_header(struct mct_writer *w, const struct mct_header *h);
/*
 * Write one event.  Returns 0, or -1 on an I/O error, or -1 with errno
 * EINVAL (and nothing written) for an event no encoding can say.  The names
 * returned by names->name() must stay valid until the call returns.
 */
int mct_write_event(struct mct_writer *w, const struct mct_event *ev,
		    const struct mct_names *names);
/*
 * Flush and close; returns 0 or -1 (I/O error, or no header written: the
 * file is then not created).  Frees w in any case.
 */
int mct_writer_close(struct mct_writer *w);
/* Give up: remove the temporary file (a stream is left as is); frees w. */
void mct_writer_abort(struct mct_writer *w);

/* Names for printing. */
const char *mct_kind_name(enum mct_kind k);
const char *mct_ftype_name(enum mct_ftype t);
const char *mct_level_name(enum mct_level l);

#endif /* MAPCOUNT_TRACE_H */
