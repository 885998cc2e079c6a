// SPDX-License-Identifier: MIT
/*
 * test_fastpb.c - the binary reader's fast path (replay/trace_fastpb.c)
 * against protobuf-c: every trace under traces/ and tests/fuzz/, the
 * output of every synth workload, hand-made irregular encodings and
 * mutations of real traces are read twice, with the fast path and with
 * MCT_NO_FASTPB=1, and must give the same header, events, positions,
 * names and errors.  Traces as mapcount writes them must be decoded by the
 * fast path alone.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "trace_assert.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "synth.h"
#include "trace.h"
#include "trace_impl.h" /* struct mct_reader: nr_fastpb */

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct buf {
	char *p;
	size_t len;
};

/* ---- Decoding both ways ---- */

static struct mct_reader *open_mode(const void *p, size_t len, FILE *f,
				    bool fast, char *err, size_t errlen)
{
	struct mct_reader *r;

	if (fast)
		unsetenv("MCT_NO_FASTPB");
	else
		setenv("MCT_NO_FASTPB", "1", 1);
	r = f ? mct_open_stream(f, "t.mct", err, errlen)
	      : mct_open_mem(p, len, "t.mct", err, errlen);
	unsetenv("MCT_NO_FASTPB");
	return r;
}

static void assert_str_equal(const char *a, const char *b)
{
	assert_int_equal(!a, !b);
	if (a)
		assert_string_equal(a, b);
}

/* What reading a trace gave. */
struct outcome {
	int ret;	 /* of the last mct_next(), or -1 when open failed */
	uint64_t events; /* returned */
	uint64_t names;	 /* defined, all namespaces */
	uint64_t fast;	 /* messages the fast path decoded */
	char err[512];
};

/*
 * Reads p[0..len) (or f and g, the same bytes twice) with the fast path
 * and without, in lockstep: both must agree on everything.  The outcome is
 * the fast path's.
 */
static void check_both(const void *p, size_t len, FILE *f, FILE *g,
		       struct outcome *o)
{
	char ef[512] = "", es[512] = "";
	struct mct_reader *rf = open_mode(p, len, f, true, ef, sizeof(ef));
	struct mct_reader *rs = open_mode(p, len, g, false, es, sizeof(es));
	struct mct_event a, b;
	int ret, s;

	memset(o, 0, sizeof(*o));
	assert_int_equal(!rf, !rs);
	if (!rf) {
		assert_string_equal(ef, es);
		o->ret = -1;
		snprintf(o->err, sizeof(o->err), "%s", ef);
		return;
	}
	assert_int_equal(mct_encoding(rf), mct_encoding(rs));
	assert_int_equal(mct_header(rf)->version, mct_header(rs)->version);
	assert_int_equal(mct_header(rf)->has, mct_header(rs)->has);
	assert_int_equal(mct_header(rf)->page_size, mct_header(rs)->page_size);
	assert_int_equal(mct_header(rf)->pmd_order, mct_header(rs)->pmd_order);
	assert_int_equal(mct_header(rf)->pud_order, mct_header(rs)->pud_order);
	assert_int_equal(mct_header(rf)->source, mct_header(rs)->source);
	assert_str_equal(mct_header(rf)->name, mct_header(rs)->name);
	assert_str_equal(mct_header(rf)->kernel, mct_header(rs)->kernel);
	assert_str_equal(mct_header(rf)->arch, mct_header(rs)->arch);
	do {
		ret = mct_next(rf, &a);
		assert_int_equal(mct_next(rs, &b), ret);
		if (ret > 0) {
			assert_event_equal(&a, &b);
			o->events++;
		}
		assert_int_equal(mct_pos(rf)->offset, mct_pos(rs)->offset);
		assert_int_equal(mct_pos(rf)->line, mct_pos(rs)->line);
		assert_int_equal(mct_event_index(rf), mct_event_index(rs));
		for (s = 0; s < MCT_NR_SPACES; s++)
			assert_int_equal(mct_nr_names(rf, s),
					 mct_nr_names(rs, s));
	} while (ret > 0);
	assert_str_equal(mct_error(rf), mct_error(rs));
	if (ret < 0)
		snprintf(o->err, sizeof(o->err), "%s", mct_error(rf));
	/* reading on after the end or an error */
	assert_int_equal(mct_next(rf, &a), ret);
	assert_int_equal(mct_next(rs, &b), ret);
	for (s = 0; s < MCT_NR_SPACES; s++) {
		uint32_t id, n = mct_nr_names(rf, s);

		for (id = 0; id < n; id++)
			assert_string_equal(mct_name(rf, s, id),
					    mct_name(rs, s, id));
		o->names += n;
	}
	o->ret = ret;
	o->fast = rf->nr_fastpb;
	assert_int_equal(rs->nr_fastpb, 0); /* MCT_NO_FASTPB=1 worked */
	mct_close(rf);
	mct_close(rs);
}

static void check_mem(const void *p, size_t len, struct outcome *o)
{
	check_both(p, len, NULL, NULL, o);
}

/* The trace in p (any encoding) written as enc, by mapcount's writer. */
static struct buf recode(const void *p, size_t len, enum mct_encoding enc)
{
	char err[512];
	struct mct_reader *r = mct_open_mem(p, len, "in", err, sizeof(err));
	struct buf out = { NULL, 0 };
	struct mct_names names;
	struct mct_writer *w;
	struct mct_event ev;
	FILE *f;
	int ret;

	if (!r)
		fail_msg("%s", err);
	names = mct_reader_names(r);
	f = open_memstream(&out.p, &out.len);
	w = mct_writer_stream(f, enc);
	assert_non_null(w);
	assert_int_equal(mct_write_header(w, mct_header(r)), 0);
	while ((ret = mct_next(r, &ev)) > 0)
		assert_int_equal(mct_write_event(w, &ev, &names), 0);
	if (ret < 0)
		fail_msg("%s", mct_error(r));
	assert_int_equal(mct_writer_close(w), 0);
	assert_int_equal(fclose(f), 0);
	mct_close(r);
	return out;
}

/*
 * A binary trace as mapcount writes it: read the same both ways, and the
 * fast path decodes every message; as a stream too (messages straddle the
 * reader's buffer).
 */
static void check_canonical(struct buf b, struct outcome *o)
{
	FILE *f, *g;

	check_mem(b.p, b.len, o);
	assert_int_equal(o->ret, 0);
	assert_int_equal(o->fast, o->events + o->names);
	f = fmemopen(b.p, b.len, "rb");
	g = fmemopen(b.p, b.len, "rb");
	check_both(NULL, 0, f, g, o);
	assert_int_equal(o->ret, 0);
	assert_int_equal(o->fast, o->events + o->names);
	fclose(f);
	fclose(g);
}

/* ---- Every trace of the tree ---- */

static char **trace_files;
static size_t nr_trace_files;

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && !strcmp(s + n - m, suffix);
}

static int collect(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (flag != FTW_F ||
	    !(ends_with(path, ".mct") || ends_with(path, ".mct.txt") ||
	      ends_with(path, ".mct.zst") || strstr(path, "/regressions/")))
		return 0;
	trace_files = realloc(trace_files,
			      (nr_trace_files + 1) * sizeof(*trace_files));
	if (!trace_files)
		return -1;
	trace_files[nr_trace_files++] = strdup(path);
	return 0;
}

static struct buf slurp(const char *path)
{
	struct buf in = { NULL, 0 };
	FILE *f = fopen(path, "rb"), *m = open_memstream(&in.p, &in.len);
	int ch;

	assert_non_null(f);
	while ((ch = getc(f)) != EOF)
		putc(ch, m);
	fclose(f);
	fclose(m);
	return in;
}

/*
 * The file as it is (good or bad, any encoding), then, when it reads,
 * converted to binary.
 */
static void test_trace_file(void **state)
{
	struct buf in = slurp(*state), b;
	struct outcome o;

	check_mem(in.p, in.len, &o);
	if (!o.ret) {
		b = recode(in.p, in.len, MCT_ENC_BINARY);
		check_canonical(b, &o);
		free(b.p);
	}
	free(in.p);
}

/* ---- Synth ---- */

static void test_synth(void **state)
{
	const struct synth_workload *wl = *state;
	struct buf b = { NULL, 0 };
	struct synth_stats st;
	struct synth_config c;
	struct mct_writer *w;
	struct outcome o;
	char err[512];
	FILE *f;

	if (synth_config_init(&c, wl->name, err, sizeof(err)))
		fail_msg("%s", err);
	c.seed = 7;
	f = open_memstream(&b.p, &b.len);
	w = mct_writer_stream(f, MCT_ENC_BINARY);
	assert_non_null(w);
	if (synth_generate(&c, w, &st, err, sizeof(err)))
		fail_msg("%s: %s", wl->name, err);
	assert_int_equal(mct_writer_close(w), 0);
	fclose(f);
	check_canonical(b, &o);
	assert_int_equal(o.events, st.events);
	free(b.p);
}

/* ---- Hand-made encodings ---- */

/*
 * Bytes from a spec: hex bytes, and "{ ... }" for a length-delimited part
 * (its varint length, then its bytes), which may nest.  Returns the length.
 */
static size_t build(const char **spec, uint8_t *out)
{
	static uint8_t part[4096];
	size_t n = 0, m, i;
	unsigned v;
	int used;

	for (;;) {
		while (**spec == ' ')
			(*spec)++;
		if (!**spec || **spec == '}')
			return n;
		if (**spec == '{') {
			(*spec)++;
			m = build(spec, out + n + 8); /* room for the varint */
			assert_int_equal(**spec, '}');
			(*spec)++;
			memcpy(part, out + n + 8, m);
			for (v = m; v >= 0x80; v >>= 7)
				out[n++] = (uint8_t)v | 0x80;
			out[n++] = v;
			for (i = 0; i < m; i++)
				out[n++] = part[i];
			continue;
		}
		assert_int_equal(sscanf(*spec, "%2x%n", &v, &used), 1);
		*spec += used;
		out[n++] = v;
	}
}

/* magic, format version 1, header { version 1 } */
#define P "89 4d 43 54 01 { 08 01 } "
/* Name events: mm 0 'a', mm 1 'b'; folio 0 'f', 1 'g'; vma 0 'v' */
#define NA     "{ 0a { 08 00 10 00 1a { 61 } } } "
#define NB     "{ 0a { 08 00 10 01 1a { 62 } } } "
#define NF     "{ 0a { 08 01 10 00 1a { 66 } } } "
#define NG     "{ 0a { 08 01 10 01 1a { 67 } } } "
#define NV     "{ 0a { 08 02 10 00 1a { 76 } } } "
#define NAFV   NA NF NV
#define B      "t.mct: byte "
#define BAD(n) "malformed event: " #n " bytes that do not decode as an Event"
#define SLOW   0 /* the fast path leaves it to protobuf-c */
#define FAST   1 /* the fast path decodes it all */

struct enc_case {
	const char *name;
	const char *spec;
	int fast; /* FAST: every message by the fast path */
	/* the trace as canonical text, or its error (B ...), or NULL */
	const char *want;
};

#define H "mct 1\n"

static const struct enc_case enc_cases[] = {
	/* regular: the fast path's own */
	{ "map, every field",
	  P NAFV "{ 3a { 08 00 10 00 1a { 08 00 10 10 } "
		 "20 01 28 00 30 01 } }",
	  FAST, H "map a f 0+16 pmd vma=v excl\n" },
	{ "map, whole folio", P NA NF "{ 3a { 08 00 10 00 } }", FAST,
	  H "map a f\n" },
	{ "level and type written as their defaults",
	  P NA NF "{ 2a { 08 00 10 00 18 00 } } { 3a { 08 00 10 00 20 00 } }",
	  FAST, H "alloc f order=0 type=anon\nmap a f\n" },
	{ "excl 0 on unmap", P NA NF "{ 42 { 08 00 10 00 30 00 } }", FAST,
	  H "unmap a f\n" },
	{ "every kind",
	  P NA "{ 12 { 08 00 1a { 73 68 20 2d 6c } } }" NB
	       "{ 1a { 08 00 10 01 } }" NF
	       "{ 2a { 08 00 10 09 18 02 20 80 80 80 80 80 80 80 80 80 01 } }"
	       "{ 4a { 08 00 10 03 } } { 4a { 08 00 10 ff ff ff ff ff ff "
	       "ff ff ff 01 } } { 52 { 08 00 } } { 5a { 08 00 } }"
	       "{ 62 { 08 01 10 00 18 ff 03 20 02 } } { 6a { 08 00 10 01 } }"
	       "{ 72 { 08 01 10 01 18 02 20 03 } } "
	       "{ 7a { 08 00 10 05 18 02 } }"
	       "{ 82 01 { 08 00 10 02 18 01 22 { 08 00 10 01 } "
	       "2a { 10 01 } } } { 32 { 08 00 } } { 22 { 08 01 } }",
	  FAST,
	  H "mm a comm=\"sh -l\"\nfork a b\n"
	    "alloc f order=9 type=shmem pfn=0x8000000000000000\n"
	    "ref f -2\nref f -9223372036854775808\npin f\nunpin f\n"
	    "cow b f 511 expect=copy\nquery f expect=shared\n"
	    "stat b rss=1 pss=2 uss=3\nobserve f 5 mapcount=2\n"
	    "mmid f mapcount=2 shared=1 slot0=a:1 slot1=?:1\nfree f\n"
	    "exit b\n" },
	{ "fields out of order",
	  P NAFV "{ 3a { 30 01 28 00 20 01 1a { 10 10 08 00 } 10 00 08 "
		 "00 } }",
	  FAST, H "map a f 0+16 pmd vma=v excl\n" },
	{ "the longest comm", NULL, FAST, NULL }, /* made by test_long */
	{ "mm without comm", P NA "{ 12 { 08 00 } }", FAST, H "mm a\n" },
	{ "comm not UTF-8", P NA "{ 12 { 08 00 1a { ff fe 80 } } }", FAST,
	  H "mm a comm=\"\xff\xfe\x80\"\n" },
	{ "empty comm", P NA "{ 12 { 08 00 1a 00 } }", FAST,
	  H "mm a comm=\"\"\n" },
	/* irregular, and read as protobuf-c reads it */
	{ "duplicate field: the last wins", P NF "{ 2a { 08 00 10 02 10 04 } }",
	  SLOW, H "alloc f order=4\n" },
	{ "duplicate id", P NF NG "{ 32 { 08 00 08 01 } }", SLOW,
	  H "free g\n" },
	{ "duplicate range, the second incomplete",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 05 10 01 } 1a { 10 02 } } }",
	  SLOW, B "28: " BAD(16) },
	{ "duplicate range, complete",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 05 10 01 } 1a { 08 06 10 02 } "
		  "} }",
	  SLOW, H "map a f 6+2\n" },
	{ "duplicate mmid slot: merged",
	  P NA NF "{ 82 01 { 08 00 10 01 18 00 22 { 08 00 10 01 } "
		  "22 { 10 05 } } }",
	  SLOW, H "mmid f mapcount=1 shared=0 slot0=a:5\n" },
	{ "two members of the oneof: the last wins",
	  P NA NF "{ 22 { 08 00 } 32 { 08 00 } }", SLOW, H "free f\n" },
	{ "the same member twice: the last wins",
	  P NA NF "{ 2a { 08 00 10 01 18 01 } 2a { 08 00 10 02 } }", SLOW,
	  H "alloc f order=2\n" },
	{ "unknown field, varint", P NA "{ 22 { 08 00 28 01 } }", SLOW,
	  B "18: exit: unknown field 5" },
	{ "unknown field, 64-bit",
	  P NA "{ 22 { 08 00 29 00 00 00 00 00 00 00 "
	       "00 } }",
	  SLOW, B "18: exit: unknown field 5" },
	{ "unknown field, 32-bit", P NA "{ 22 { 08 00 2d 00 00 00 00 } }", SLOW,
	  B "18: exit: unknown field 5" },
	{ "unknown field, length-delimited", P NA "{ 22 { 08 00 2a { 01 } } }",
	  SLOW, B "18: exit: unknown field 5" },
	{ "unknown field, large number",
	  P NA "{ 22 { 08 00 f8 ff ff ff 0f 01 } }", SLOW,
	  B "18: exit: unknown field 536870911" },
	{ "unknown field before the known", P NA "{ 22 { 78 07 08 00 } }", SLOW,
	  B "18: exit: unknown field 15" },
	{ "unknown field in a range",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 00 10 01 20 01 } } }", SLOW,
	  B "28: map: range: unknown field 4" },
	{ "unknown field in a Name", P "{ 0a { 08 00 10 00 1a { 61 } 20 00 } }",
	  SLOW, B "8: name: unknown field 4" },
	{ "unknown field in an mmid slot",
	  P NA NF "{ 82 01 { 08 00 10 01 18 00 2a { 10 01 18 00 } } }", SLOW,
	  B "28: mmid: slot1: unknown field 3" },
	{ "unknown event kind", P "{ 8a 01 { } }", SLOW,
	  B "8: unknown event kind: field 17" },
	{ "unknown field next to a kind", P NA "{ 22 { 08 00 } 98 01 00 }",
	  SLOW, B "18: unknown event kind: field 19" },
	{ "field 0", P NA "{ 22 { 08 00 00 } }", SLOW, B "18: " BAD(5) },
	{ "group wire type", P NA "{ 22 { 08 00 2b 2c } }", SLOW,
	  B "18: " BAD(6) },
	{ "wrong wire type: id as bytes", P NA "{ 22 { 0a { 00 } } }", SLOW,
	  B "18: " BAD(5) },
	{ "wrong wire type: range as a varint",
	  P NA NF "{ 3a { 08 00 10 00 18 01 } }", SLOW, B "28: " BAD(8) },
	{ "wrong wire type: name as a varint", P "{ 0a { 08 00 10 00 18 61 } }",
	  SLOW, B "8: " BAD(8) },
	{ "wrong wire type: member as a varint", P NA "{ 20 00 }", SLOW,
	  B "18: " BAD(2) },
	{ "wrong wire type: 64-bit id",
	  P NA "{ 22 { 09 00 00 00 00 00 00 00 00 } }", SLOW,
	  B "18: " BAD(11) },
	{ "packed encoding of a scalar", P NF "{ 2a { 08 00 12 { 04 } } }",
	  SLOW, B "18: " BAD(7) },
	{ "truncated varint in a member", P NA "{ 22 { 08 80 } }", SLOW,
	  B "18: " BAD(4) },
	{ "truncated key in a member", P NA "{ 22 { 08 00 80 } }", SLOW,
	  B "18: " BAD(5) },
	{ "member longer than the event", P NA "{ 22 05 08 00 }", SLOW,
	  B "18: " BAD(4) },
	{ "range longer than the member",
	  P NA NF "{ 3a { 08 00 10 00 1a 09 08 00 10 01 } }", SLOW,
	  B "28: " BAD(12) },
	{ "11-byte varint",
	  P NA "{ 22 { 08 80 80 80 80 80 80 80 80 80 80 01 } }", SLOW,
	  B "18: " BAD(14) },
	{ "overlong varint", P NA "{ 22 { 08 80 80 00 } }", SLOW,
	  H "exit a\n" },
	{ "overlong key", P NA "{ 22 { 88 80 00 00 } }", SLOW, H "exit a\n" },
	{ "overlong member key", P NA "{ a2 00 { 08 00 } }", SLOW,
	  H "exit a\n" },
	{ "overlong member length", P NA "{ 22 82 00 08 00 }", SLOW,
	  H "exit a\n" },
	{ "overlong range length",
	  P NA NF "{ 3a { 08 00 10 00 1a 84 00 08 00 10 01 } }", SLOW,
	  H "map a f 0\n" },
	{ "overlong event length", P NA "84 00 22 { 08 00 }", FAST,
	  H "exit a\n" },
	{ "overlong Name length",
	  P "89 80 80 80 00 0a { 08 00 10 00 1a { 61 } } "
	    "{ 22 { 08 00 } }",
	  FAST, H "exit a\n" },
	{ "10-byte uint32: the low 32 bits",
	  P NA "{ 22 { 08 80 80 80 80 80 80 80 80 80 01 } }", SLOW,
	  H "exit a\n" },
	{ "uint32 over 2^32: truncated",
	  P NF "{ 2a { 08 00 10 80 80 80 80 10 } }", SLOW,
	  H "alloc f order=0\n" },
	{ "uint32 over 2^32: id", P NA "{ 22 { 08 80 80 80 80 10 } }", SLOW,
	  H "exit a\n" },
	{ "enum as a negative int32",
	  P NA NF "{ 3a { 08 00 10 00 20 ff ff ff ff ff ff ff ff ff 01 } }",
	  SLOW,
	  B "28: map: bad level -1: expected 0 (pte), 1 (pmd) or 2 (pud)" },
	{ "enum of 2^31", P "{ 0a { 08 80 80 80 80 08 10 00 1a { 61 } } }",
	  SLOW,
	  B "8: name: bad space -2147483648: expected 0 (mm), 1 (folio) "
	    "or 2 (vma)" },
	{ "bool of 2", P NA NF "{ 3a { 08 00 10 00 30 02 } }", SLOW,
	  H "map a f excl\n" },
	{ "bool of 256", P NA NF "{ 3a { 08 00 10 00 30 80 02 } }", SLOW,
	  H "map a f excl\n" },
	{ "bool, overlong 0", P NA NF "{ 3a { 08 00 10 00 30 80 00 } }", SLOW,
	  H "map a f\n" },
	{ "excl on unmap", P NA NF "{ 42 { 08 00 10 00 30 01 } }", SLOW,
	  B "28: unmap: excl is only allowed on map" },
	{ "bool of 2 on unmap", P NA NF "{ 42 { 08 00 10 00 30 02 } }", SLOW,
	  B "28: unmap: excl is only allowed on map" },
	{ "missing required field", P NF "{ 2a { 08 00 } }", SLOW,
	  B "18: " BAD(4) },
	{ "missing required field in a range",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 00 } } }", SLOW,
	  B "28: " BAD(10) },
	{ "missing required field in a Name", P "{ 0a { 08 00 1a { 61 } } }",
	  SLOW, B "8: " BAD(7) },
	{ "missing required field in an mmid slot",
	  P NA NF "{ 82 01 { 08 00 10 01 18 00 22 { 08 00 } } }", SLOW,
	  B "28: " BAD(13) },
	{ "empty member", P NA "{ 22 { } }", SLOW, B "18: " BAD(2) },
	{ "empty event", P "{ }", SLOW,
	  B "8: unknown event kind: the event is empty" },
	{ "Name with a NUL: cut there",
	  P "{ 0a { 08 00 10 00 1a { 61 00 62 } } }"
	    "{ 22 { 08 00 } }",
	  SLOW, H "exit a\n" },
	{ "comm with a NUL: cut there", P NA "{ 12 { 08 00 1a { 61 00 0a } } }",
	  SLOW, H "mm a comm=a\n" },
	{ "comm with a newline", P NA "{ 12 { 08 00 1a { 61 0a 62 } } }", SLOW,
	  B "18: mm: bad comm: contains a newline" },
	{ "comm too long", NULL, SLOW,
	  B "18: mm: bad comm: longer than 512 bytes" }, /* made by test_long */
	{ "Name not an identifier", P "{ 0a { 08 00 10 00 1a { 61 20 62 } } }",
	  SLOW,
	  B "8: name: bad identifier 'a b': expected 1 to 64 of A-Z a-z 0-9 "
	    "_ . : -" },
	{ "Name empty", P "{ 0a { 08 00 10 00 1a { } } }", SLOW,
	  B "8: name: bad identifier '': expected 1 to 64 of A-Z a-z 0-9 _ . "
	    ": -" },
	{ "Name out of sequence", P "{ 0a { 08 00 10 01 1a { 61 } } }", SLOW,
	  B "8: name: mm id 1 out of sequence: expected 0" },
	{ "Name defined twice", P NA "{ 0a { 08 00 10 01 1a { 61 } } }", SLOW,
	  B "18: name: mm 'a' already defined as id 0" },
	{ "Name, bad space", P "{ 0a { 08 03 10 00 1a { 61 } } }", SLOW,
	  B "8: name: bad space 3: expected 0 (mm), 1 (folio) or 2 (vma)" },
	{ "the same name in two spaces",
	  P NA "{ 0a { 08 01 10 00 1a { 61 } } }"
	       "{ 32 { 08 00 } }",
	  FAST, H "free a\n" },
	{ "undefined id", P NA "{ 22 { 08 01 } }", SLOW,
	  B "18: exit: undefined mm id 1 (1 defined)" },
	{ "undefined vma", P NA NF "{ 3a { 08 00 10 00 28 00 } }", SLOW,
	  B "28: map: undefined vma id 0 (0 defined)" },
	{ "undefined parent", P NA "{ 12 { 08 00 10 01 } }", SLOW,
	  B "18: mm: undefined mm id 1 (1 defined)" },
	{ "undefined slot mm",
	  P NA NF "{ 82 01 { 08 00 10 01 18 00 2a { 08 01 "
		  "10 01 } } }",
	  SLOW, B "28: mmid: undefined mm id 1 (1 defined)" },
	{ "range nr 0", P NA NF "{ 3a { 08 00 10 00 1a { 08 00 10 00 } } }",
	  SLOW, B "28: map: bad range: nr is 0, expected at least 1" },
	{ "range past 2^64",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 ff ff ff ff ff ff ff ff ff 01 "
		  "10 02 } } }",
	  SLOW,
	  B "28: map: bad range 18446744073709551615+2: too large for 64-bit "
	    "page numbers" },
	{ "range to page 2^64-1",
	  P NA NF "{ 3a { 08 00 10 00 1a { 08 ff ff ff ff ff ff ff ff ff 01 "
		  "10 01 } } }",
	  FAST, H "map a f 18446744073709551615\n" },
	{ "order 31", P NF "{ 2a { 08 00 10 1f } }", SLOW,
	  B "18: alloc: order 31 out of range: at most 30" },
	{ "order 30", P NF "{ 2a { 08 00 10 1e } }", FAST,
	  H "alloc f order=30\n" },
	{ "type 5", P NF "{ 2a { 08 00 10 00 18 05 } }", SLOW,
	  B "18: alloc: bad type 5: expected 0 to 4" },
	{ "level 3", P NA NF "{ 3a { 08 00 10 00 20 03 } }", SLOW,
	  B "28: map: bad level 3: expected 0 (pte), 1 (pmd) or 2 (pud)" },
	{ "cow expect 0", P NA NF "{ 62 { 08 00 10 00 18 00 20 00 } }", SLOW,
	  B "28: cow: bad expect 0: expected 1 (reuse) or 2 (copy)" },
	{ "query expect 3", P NF "{ 6a { 08 00 10 03 } }", SLOW,
	  B "18: query: bad expect 3: expected 1 (shared) or 2 (exclusive)" },
	{ "ref of 0", P NF "{ 4a { 08 00 10 00 } }", SLOW,
	  B "18: ref: delta is 0: expected a nonzero count" },
	{ "ref of 0, overlong", P NF "{ 4a { 08 00 10 80 00 } }", SLOW,
	  B "18: ref: delta is 0: expected a nonzero count" },
	{ "mmid shared of 2", P NF "{ 82 01 { 08 00 10 01 18 02 } }", SLOW,
	  H "mmid f mapcount=1 shared=1\n" },
	{ "truncated event", P NA "05 22 { 08 00 }", SLOW,
	  B "18: truncated event: length 5 but only 4 bytes left" },
	{ "truncated event length", P NA "80", SLOW,
	  B "18: truncated event length: the input ends inside the varint" },
	{ "oversized event", P NA "81 80 40", SLOW,
	  B "18: oversized event: length 1048577, at most 1048576" },
};

/* cases made here: a comm of MCT_STR_MAX bytes, then of one more */
static void long_comm(const struct enc_case *c, char *spec)
{
	size_t n = MCT_STR_MAX + !strcmp(c->name, "comm too long"), i;
	char *p = spec + sprintf(spec, P NA "{ 12 { 08 00 1a { ");

	for (i = 0; i < n; i++)
		p += sprintf(p, "78 ");
	sprintf(p, "} } }");
}

static void test_enc(void **state)
{
	const struct enc_case *c = *state;
	static char spec[8192];
	static uint8_t bytes[8192];
	const char *s = c->spec;
	struct outcome o;
	struct buf t;
	size_t len;

	if (!s) {
		long_comm(c, spec);
		s = spec;
	}
	len = build(&s, bytes);
	assert_int_equal(*s, '\0');
	check_mem(bytes, len, &o);
	if (c->want && !strncmp(c->want, B, strlen(B))) {
		assert_int_equal(o.ret, -1);
		assert_string_equal(o.err, c->want);
	} else {
		if (o.ret)
			fail_msg("%s", o.err);
		if (c->want) {
			t = recode(bytes, len, MCT_ENC_TEXT);
			assert_string_equal(t.p, c->want);
			free(t.p);
		}
	}
	if (c->fast == FAST)
		assert_int_equal(o.fast, o.events + o.names);
	else
		assert_true(o.fast < o.events + o.names + (o.ret < 0));
}

/* ---- Mutations ---- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/*
 * Real traces with a few bytes changed, inserted, removed or cut: most
 * are errors somewhere, some read on with different values; both ways
 * agree on all.
 */
static void test_mutations(void **state)
{
	static const char *const seeds[] = {
		"/traces/samples/synth-pin-fork.mct.zst",
		"/traces/samples/synth-partial-zap.mct.zst",
		"/traces/samples/fork-cow-64k.mct.txt",
		"/traces/recorded/sqlite.mct.zst",
	};
	size_t i, j, k, len, pos, nr = 0;
	struct outcome o;
	char path[4096];

	(void)state;
	for (i = 0; i < ARRAY_SIZE(seeds); i++) {
		struct buf in, b;
		uint8_t *m;

		snprintf(path, sizeof(path), "%s%s", MAPCOUNT_SOURCE_DIR,
			 seeds[i]);
		in = slurp(path);
		b = recode(in.p, in.len, MCT_ENC_BINARY);
		/* the first 64 KiB are plenty */
		b.len = b.len > 65536 ? 65536 : b.len;
		m = malloc(b.len + 16);
		for (j = 0; j < 1500; j++) {
			memcpy(m, b.p, b.len);
			len = b.len;
			for (k = 0; k < 1 + next_rand() % 3; k++) {
				/* past the header, mostly */
				pos = len > 16 ? 8 + next_rand() % (len - 8)
					       : next_rand() % (len + 1);
				switch (next_rand() % 6) {
				case 0: /* a random byte */
				case 1:
					if (pos < len)
						m[pos] = next_rand();
					break;
				case 2: /* a bit */
					if (pos < len)
						m[pos] ^= 1u << next_rand() % 8;
					break;
				case 3: /* an interesting byte */
					if (pos < len)
						m[pos] = (const uint8_t[]){
							0x00, 0x01, 0x7f,
							0x80, 0xff, 0x02
						}[next_rand() % 6];
					break;
				case 4: /* insert */
					memmove(m + pos + 1, m + pos,
						len - pos);
					m[pos] = next_rand();
					len++;
					break;
				case 5: /* remove */
					if (pos < len) {
						memmove(m + pos, m + pos + 1,
							len - pos - 1);
						len--;
					}
					break;
				}
				if (len > b.len + 8)
					break;
			}
			if (next_rand() % 8 == 0)
				len = next_rand() % (len + 1);
			check_mem(m, len, &o);
			nr += o.ret < 0;
		}
		free(m);
		free(b.p);
		free(in.p);
	}
	assert_true(nr > 0);
}

/* MCT_NO_FASTPB: set and not "0" turns the fast path off. */
static void test_env(void **state)
{
	static const struct {
		const char *value; /* NULL: unset */
		bool fast;
	} cases[] = {
		{ NULL, true }, { "", true },	  { "0", true },
		{ "1", false }, { "yes", false }, { "00", false },
	};
	static uint8_t bytes[256];
	const char *s = P NA "{ 22 { 08 00 } }";
	size_t len = build(&s, bytes), i;
	struct mct_event ev;
	struct mct_reader *r;
	char err[512];

	(void)state;
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		if (cases[i].value)
			setenv("MCT_NO_FASTPB", cases[i].value, 1);
		else
			unsetenv("MCT_NO_FASTPB");
		r = mct_open_mem(bytes, len, "t.mct", err, sizeof(err));
		unsetenv("MCT_NO_FASTPB");
		assert_non_null(r);
		assert_int_equal(mct_next(r, &ev), 1);
		assert_int_equal(mct_next(r, &ev), 0);
		assert_int_equal(r->nr_fastpb, cases[i].fast ? 2 : 0);
		mct_close(r);
	}
}

/* ---- main ---- */

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		cmocka_unit_test(test_mutations),
		cmocka_unit_test(test_env),
	};
	const struct synth_workload *wl;
	uint32_t nr_wl;
	size_t n = 0, i, max;
	struct CMUnitTest *tests;
	int ret;

	nftw(MAPCOUNT_SOURCE_DIR "/traces", collect, 16, FTW_PHYS);
	nftw(MAPCOUNT_SOURCE_DIR "/tests/fuzz", collect, 16, FTW_PHYS);
	wl = synth_workloads(&nr_wl);
	max = nr_trace_files + nr_wl + ARRAY_SIZE(enc_cases) +
	      ARRAY_SIZE(fixed);
	tests = calloc(max, sizeof(*tests));
	for (i = 0; i < nr_trace_files; i++)
		tests[n++] =
			(struct CMUnitTest){ trace_files[i], test_trace_file,
					     NULL, NULL, trace_files[i] };
	for (i = 0; i < nr_wl; i++)
		tests[n++] = (struct CMUnitTest){ wl[i].name, test_synth, NULL,
						  NULL, (void *)&wl[i] };
	for (i = 0; i < ARRAY_SIZE(enc_cases); i++)
		tests[n++] =
			(struct CMUnitTest){ enc_cases[i].name, test_enc, NULL,
					     NULL, (void *)&enc_cases[i] };
	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	ret = _cmocka_run_group_tests("fastpb", tests, n, NULL, NULL);
	for (i = 0; i < nr_trace_files; i++)
		free(trace_files[i]);
	free(trace_files);
	free(tests);
	return ret;
}
