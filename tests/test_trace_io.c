// SPDX-License-Identifier: MIT
/*
 * test_trace_io.c - trace I/O: round trips between the text, binary and zst
 * encodings, the exact error message of each kind of malformed input, the
 * writers' temporary files, and streaming a large trace.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "trace_assert.h"

#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "trace.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Helpers ---- */

struct buf {
	char *p;
	size_t len;
};

static struct mct_reader *open_or_fail(const void *p, size_t len,
				       const char *name)
{
	char err[512];
	struct mct_reader *r = mct_open_mem(p, len, name, err, sizeof(err));

	if (!r)
		fail_msg("%s", err);
	return r;
}

/* The trace in p (any encoding) written as enc. */
static struct buf recode(const void *p, size_t len, enum mct_encoding enc)
{
	struct mct_reader *r = open_or_fail(p, len, "in");
	struct mct_names names = mct_reader_names(r);
	struct buf out = { NULL, 0 };
	FILE *f = open_memstream(&out.p, &out.len);
	struct mct_writer *w = mct_writer_stream(f, enc);
	struct mct_event ev;
	int ret;

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

static void assert_buf_equal(struct buf a, struct buf b)
{
	assert_int_equal(a.len, b.len);
	assert_memory_equal(a.p, b.p, a.len);
}

static void assert_header_equal(const struct mct_header *a,
				const struct mct_header *b)
{
	const char *sa[] = { a->name, a->kernel, a->arch };
	const char *sb[] = { b->name, b->kernel, b->arch };
	int i;

	assert_int_equal(a->version, b->version);
	assert_int_equal(a->has, b->has);
	assert_int_equal(a->page_size, b->page_size);
	assert_int_equal(a->pmd_order, b->pmd_order);
	assert_int_equal(a->pud_order, b->pud_order);
	assert_int_equal(a->source, b->source);
	for (i = 0; i < 3; i++) {
		assert_int_equal(!sa[i], !sb[i]);
		if (sa[i])
			assert_string_equal(sa[i], sb[i]);
	}
}

/* Both traces read as the same header, events, ids and names. */
static void assert_same_trace(struct buf a, struct buf b)
{
	struct mct_reader *ra = open_or_fail(a.p, a.len, "a");
	struct mct_reader *rb = open_or_fail(b.p, b.len, "b");
	struct mct_event ea, eb;
	int ret, s;

	assert_header_equal(mct_header(ra), mct_header(rb));
	do {
		ret = mct_next(ra, &ea);
		assert_int_equal(mct_next(rb, &eb), ret);
		if (ret > 0)
			assert_event_equal(&ea, &eb);
	} while (ret > 0);
	assert_int_equal(ret, 0);
	for (s = 0; s < MCT_NR_SPACES; s++) {
		uint32_t id, n = mct_nr_names(ra, s);

		assert_int_equal(mct_nr_names(rb, s), n);
		for (id = 0; id < n; id++)
			assert_string_equal(mct_name(ra, s, id),
					    mct_name(rb, s, id));
	}
	mct_close(ra);
	mct_close(rb);
}

/*
 * text -> canonical text (== canonical when given), and from there
 * text -> binary -> text, binary -> text -> binary, the same via zst.
 */
static void check_round_trip(const char *text, size_t len,
			     const char *canonical)
{
	struct buf c = recode(text, len, MCT_ENC_TEXT);
	struct buf cc = recode(c.p, c.len, MCT_ENC_TEXT);
	struct buf b = recode(c.p, c.len, MCT_ENC_BINARY);
	struct buf bt = recode(b.p, b.len, MCT_ENC_TEXT);
	struct buf btb = recode(bt.p, bt.len, MCT_ENC_BINARY);
	struct buf z = recode(c.p, c.len, MCT_ENC_ZSTD);
	struct buf zt = recode(z.p, z.len, MCT_ENC_TEXT);
	struct buf ztz = recode(zt.p, zt.len, MCT_ENC_ZSTD);
	struct buf zb = recode(z.p, z.len, MCT_ENC_BINARY);
	struct buf *all[] = { &c, &cc, &b, &bt, &btb, &z, &zt, &ztz, &zb };
	size_t i;

	if (canonical)
		assert_string_equal(c.p, canonical);
	assert_string_equal(cc.p, c.p);
	assert_string_equal(bt.p, c.p);
	assert_buf_equal(btb, b);
	assert_string_equal(zt.p, c.p);
	assert_buf_equal(ztz, z);
	assert_buf_equal(zb, b);
	assert_same_trace(c, b);
	for (i = 0; i < ARRAY_SIZE(all); i++)
		free(all[i]->p);
}

/* "89 4d ..." -> bytes; returns the length. */
static size_t unhex(const char *hex, uint8_t *out)
{
	size_t n = 0;
	unsigned v;
	int used;

	while (sscanf(hex, " %2x%n", &v, &used) == 1) {
		out[n++] = v;
		hex += used;
	}
	return n;
}

/* The error reading p gives: from mct_open_mem, or else from mct_next. */
static void read_error(const void *p, size_t len, const char *name, char *err,
		       size_t size)
{
	struct mct_reader *r = mct_open_mem(p, len, name, err, size);
	struct mct_event ev;
	int ret;

	if (!r)
		return;
	while ((ret = mct_next(r, &ev)) > 0)
		;
	assert_int_equal(ret, -1);
	assert_int_equal(mct_next(r, &ev), -1); /* and stays so */
	assert_non_null(mct_error(r));
	snprintf(err, size, "%s", mct_error(r));
	mct_close(r);
}

static void check_error(const void *p, size_t len, const char *name,
			const char *want)
{
	char err[512] = "";

	read_error(p, len, name, err, sizeof(err));
	assert_string_equal(err, want);
}

/* ---- Round trips ---- */

struct rt_case {
	const char *name, *in, *canonical;
};

static const struct rt_case rt_cases[] = {
	{ "every statement and key",
	  "# every statement and every key\n"
	  "mct 1 arch=arm64 kernel=\"6.8.0-rc1 #1\" source=recorded "
	  "name=full pud_order=18 pmd_order=0x9 page_size=16384\r\n"
	  "mm init\n"
	  "mm sh parent=init comm=\"s\\\"h\\\\\"\n"
	  "mm sh2 comm=bash parent=sh\n"
	  "fork sh child\n"
	  "alloc f order=0\n"
	  "alloc g order=9 pfn=DEADbeef type=file\n"
	  "alloc h order=0x1E type=shmem pfn=0x0\n"
	  "alloc i order=1 type=hugetlb\n"
	  "alloc j order=2 type=driver\n"
	  "alloc k order=3 type=anon\n"
	  "map sh g 0-511 pmd vma=v excl\n"
	  "map sh g 3 pte\n"
	  "map sh g\n"
	  "map sh h 0x10+16 pud\n"
	  "map sh g excl\n"
	  "unmap sh g 0+512 vma=v pmd\n"
	  "unmap sh h\n"
	  "ref g +1\n"
	  "ref g -0x10\n"
	  "pin g\n"
	  "unpin g\n"
	  "cow child g 0x7 expect=reuse\n"
	  "cow child g 8 expect=copy\n"
	  "cow child g 9\n"
	  "query g\n"
	  "query g expect=exclusive\n"
	  "query g expect=shared\n"
	  "stat sh\n"
	  "stat sh uss=1 rss=3 pss=2\n"
	  "stat sh pss=7\n"
	  "observe g 511 mapcount=0x2\n"
	  "free f\n"
	  "exit child\n",
	  "mct 1 page_size=16384 pmd_order=9 pud_order=18 name=full "
	  "source=recorded kernel=\"6.8.0-rc1 #1\" arch=arm64\n"
	  "mm init\n"
	  "mm sh parent=init comm=\"s\\\"h\\\\\"\n"
	  "mm sh2 parent=sh comm=bash\n"
	  "fork sh child\n"
	  "alloc f order=0\n"
	  "alloc g order=9 type=file pfn=0xdeadbeef\n"
	  "alloc h order=30 type=shmem pfn=0x0\n"
	  "alloc i order=1 type=hugetlb\n"
	  "alloc j order=2 type=driver\n"
	  "alloc k order=3 type=anon\n"
	  "map sh g 0+512 pmd vma=v excl\n"
	  "map sh g 3\n"
	  "map sh g\n"
	  "map sh h 16+16 pud\n"
	  "map sh g excl\n"
	  "unmap sh g 0+512 pmd vma=v\n"
	  "unmap sh h\n"
	  "ref g +1\n"
	  "ref g -16\n"
	  "pin g\n"
	  "unpin g\n"
	  "cow child g 7 expect=reuse\n"
	  "cow child g 8 expect=copy\n"
	  "cow child g 9\n"
	  "query g\n"
	  "query g expect=exclusive\n"
	  "query g expect=shared\n"
	  "stat sh\n"
	  "stat sh rss=3 pss=2 uss=1\n"
	  "stat sh pss=7\n"
	  "observe g 511 mapcount=2\n"
	  "free f\n"
	  "exit child\n" },
	{ "mmid",
	  "mct 1\n"
	  "mm a\n"
	  "alloc f order=4\n"
	  "mmid f shared=1 slot1=b:c:3 mapcount=0x13 slot0=a:16\n"
	  "mmid f mapcount=16 shared=0 slot0=?:16\n"
	  "mmid f mapcount=0 shared=0\n"
	  "mmid f mapcount=48 shared=1 slot1=?:0x2 slot0=a:1\n"
	  "mmid f mapcount=2 shared=1 slot1=y:1\n"
	  "mmid f mapcount=18446744073709551615 shared=1 slot1=x:1 "
	  "slot0=w:18446744073709551615\n",
	  "mct 1\n"
	  "mm a\n"
	  "alloc f order=4\n"
	  "mmid f mapcount=19 shared=1 slot0=a:16 slot1=b:c:3\n"
	  "mmid f mapcount=16 shared=0 slot0=?:16\n"
	  "mmid f mapcount=0 shared=0\n"
	  "mmid f mapcount=48 shared=1 slot0=a:1 slot1=?:2\n"
	  "mmid f mapcount=2 shared=1 slot1=y:1\n"
	  "mmid f mapcount=18446744073709551615 shared=1 "
	  "slot0=w:18446744073709551615 slot1=x:1\n" },
	{ "header only", "mct 1", "mct 1\n" },
	{ "header source synthetic",
	  "mct 1 source=synthetic pud_order=0 name=\"\"",
	  "mct 1 pud_order=0 name=\"\" source=synthetic\n" },
	{ "layout: blanks, tabs, comments, CRLF",
	  "\n  # leading comment\r\n\t mct\t1   # header\n\n"
	  "mm\ta#no space before the comment\n"
	  "   exit   a   \r\n"
	  "#\n",
	  "mct 1\nmm a\nexit a\n" },
	{ "strings",
	  "mct 1 name=a=b kernel=\"x y\" arch=\"\\\\\"\n"
	  "mm a comm=\"\"\n"
	  "mm b comm=\"a#b\"\n"
	  "mm c comm=\"tab\there\"\n"
	  "mm d comm=\"caf\xc3\xa9\"\n"
	  "mm e comm=!$%&'()*+,-./:;<=>?@[]^_`{|}~\n"
	  "mm f comm=\"plain\"\n",
	  "mct 1 name=a=b kernel=\"x y\" arch=\"\\\\\"\n"
	  "mm a comm=\"\"\n"
	  "mm b comm=\"a#b\"\n"
	  "mm c comm=\"tab\there\"\n"
	  "mm d comm=\"caf\xc3\xa9\"\n"
	  "mm e comm=!$%&'()*+,-./:;<=>?@[]^_`{|}~\n"
	  "mm f comm=plain\n" },
	{ "extreme numbers",
	  "mct 1 page_size=4294967295 pmd_order=0xffffffff\n"
	  "alloc f order=0 pfn=0xFFFFFFFFFFFFFFFF\n"
	  "map m f 18446744073709551615\n"
	  "map m f 0-18446744073709551614\n"
	  "map m f 1+18446744073709551615\n"
	  "ref f -9223372036854775808\n"
	  "ref f +9223372036854775807\n"
	  "cow m f 0xffffffffffffffff\n"
	  "stat m rss=18446744073709551615 pss=0 uss=0x0\n"
	  "observe f 0 mapcount=18446744073709551615\n",
	  "mct 1 page_size=4294967295 pmd_order=4294967295\n"
	  "alloc f order=0 pfn=0xffffffffffffffff\n"
	  "map m f 18446744073709551615\n"
	  "map m f 0+18446744073709551615\n"
	  "map m f 1+18446744073709551615\n"
	  "ref f -9223372036854775808\n"
	  "ref f +9223372036854775807\n"
	  "cow m f 18446744073709551615\n"
	  "stat m rss=18446744073709551615 pss=0 uss=0\n"
	  "observe f 0 mapcount=18446744073709551615\n" },
	{ "identifiers",
	  "mct 1\n"
	  "mm "
	  "0123456789012345678901234567890123456789012345678901234567890123\n"
	  "mm A.b:c-d_9\n"
	  "map 1 2 3 vma=4\n"
	  "fork A.b:c-d_9 1\n",
	  "mct 1\n"
	  "mm "
	  "0123456789012345678901234567890123456789012345678901234567890123\n"
	  "mm A.b:c-d_9\n"
	  "map 1 2 3 vma=4\n"
	  "fork A.b:c-d_9 1\n" },
};

static void test_round_trip(void **state)
{
	const struct rt_case *c = *state;

	check_round_trip(c->in, strlen(c->in), c->canonical);
}

/* A line of exactly MCT_LINE_MAX bytes, then one with "\r\n". */
static void test_longest_line(void **state)
{
	static char text[2 * MCT_LINE_MAX + 64];
	size_t n;

	(void)state;
	n = sprintf(text, "mct 1\nmm a comm=");
	memset(text + n, 'x', MCT_STR_MAX);
	n += MCT_STR_MAX;
	n += sprintf(text + n, " ");
	memset(text + n, ' ', MCT_LINE_MAX - (n - 6) - 1);
	n += MCT_LINE_MAX - (n - 6) - 1;
	text[n++] = '#';
	n += sprintf(text + n, "\r\nexit a\n");
	check_round_trip(text, n, NULL);
}

static char **trace_files;
static size_t nr_trace_files;

static int collect(const char *path, const struct stat *st, int flag,
		   struct FTW *ftw)
{
	size_t n = strlen(path);

	(void)st;
	(void)ftw;
	if (flag != FTW_F || n <= 8 || strcmp(path + n - 8, ".mct.txt"))
		return 0;
	trace_files = realloc(trace_files,
			      (nr_trace_files + 1) * sizeof(*trace_files));
	if (!trace_files)
		return -1;
	trace_files[nr_trace_files++] = strdup(path);
	return 0;
}

static void test_trace_file(void **state)
{
	const char *path = *state;
	struct buf in = { NULL, 0 };
	FILE *f = fopen(path, "rb"), *m = open_memstream(&in.p, &in.len);
	int ch;

	assert_non_null(f);
	while ((ch = getc(f)) != EOF)
		putc(ch, m);
	fclose(f);
	fclose(m);
	check_round_trip(in.p, in.len, NULL);
	free(in.p);
}

/* ---- Interning and positions ---- */

static void test_interning(void **state)
{
	static const char text[] = "mct 1\n"
				   "mm a\n"
				   "mm b parent=c comm=x\n"
				   "  fork c d\n"
				   "alloc f order=0\n"
				   "map a f 0 vma=v\n"
				   "map d g vma=w excl\n";
	const struct mct_event want[] = {
		{ .kind = MCT_MM, .mm = 0, .mm2 = MCT_NO_ID },
		{ .kind = MCT_MM, .mm = 1, .mm2 = 2, .comm = "x" },
		{ .kind = MCT_FORK, .mm = 2, .mm2 = 3 },
		{ .kind = MCT_ALLOC, .folio = 0 },
		{ .kind = MCT_MAP, .mm = 0, .folio = 0, .vma = 0, .nr = 1 },
		{ .kind = MCT_MAP,
		  .mm = 3,
		  .folio = 1,
		  .vma = 1,
		  .flags = MCT_F_NO_RANGE | MCT_F_EXCL },
	};
	const uint64_t cols[] = { 1, 1, 3, 1, 1, 1 };
	struct buf b = recode(text, strlen(text), MCT_ENC_BINARY);
	struct mct_reader *r = open_or_fail(text, strlen(text), "t.mct.txt");
	struct mct_event ev;
	size_t i;

	(void)state;
	for (i = 0; i < ARRAY_SIZE(want); i++) {
		struct mct_event w = want[i];

		w.mm = w.kind == MCT_ALLOC ? MCT_NO_ID : w.mm;
		w.mm2 = w.kind == MCT_MM || w.kind == MCT_FORK ? w.mm2
							       : MCT_NO_ID;
		w.folio = w.kind >= MCT_ALLOC ? w.folio : MCT_NO_ID;
		w.vma = w.kind == MCT_MAP ? w.vma : MCT_NO_ID;
		assert_int_equal(mct_next(r, &ev), 1);
		assert_event_equal(&ev, &w);
		assert_int_equal(mct_event_index(r), i);
		assert_int_equal(mct_pos(r)->line, i + 2);
		assert_int_equal(mct_pos(r)->col, cols[i]);
	}
	assert_int_equal(mct_next(r, &ev), 0);
	assert_int_equal(mct_nr_names(r, MCT_SPACE_MM), 4);
	assert_int_equal(mct_nr_names(r, MCT_SPACE_FOLIO), 2);
	assert_int_equal(mct_nr_names(r, MCT_SPACE_VMA), 2);
	assert_string_equal(mct_name(r, MCT_SPACE_MM, 2), "c");
	assert_string_equal(mct_name(r, MCT_SPACE_VMA, 1), "w");
	assert_null(mct_name(r, MCT_SPACE_MM, 4));
	assert_int_equal(mct_encoding(r), MCT_ENC_TEXT);
	mct_close(r);

	/* the binary reader numbers the same and counts bytes */
	r = open_or_fail(b.p, b.len, "t.mct");
	assert_int_equal(mct_encoding(r), MCT_ENC_BINARY);
	assert_int_equal(mct_next(r, &ev), 1);
	assert_int_equal(mct_pos(r)->line, 0);
	assert_int_equal(mct_pos(r)->offset, 8 + 10); /* header, Name a */
	mct_close(r);
	assert_same_trace((struct buf){ (char *)text, strlen(text) }, b);
	free(b.p);
}

static void test_header(void **state)
{
	static const char text[] = "mct 1 pmd_order=4 kernel=k\n";
	struct mct_reader *r = open_or_fail(text, strlen(text), "t");
	const struct mct_header *h = mct_header(r);

	(void)state;
	assert_int_equal(h->version, 1);
	assert_int_equal(h->has, MCT_H_PMD_ORDER);
	assert_int_equal(h->page_size, MCT_DEFAULT_PAGE_SIZE);
	assert_int_equal(h->pmd_order, 4);
	assert_int_equal(h->pud_order, MCT_DEFAULT_PUD_ORDER);
	assert_int_equal(h->source, MCT_SOURCE_NONE);
	assert_null(h->name);
	assert_string_equal(h->kernel, "k");
	assert_null(h->arch);
	mct_close(r);
}

/* The binary writer numbers names itself, whatever the caller's ids. */
struct sparse {
	char names[MCT_NR_SPACES][8][8];
};

static const char *sparse_name(void *ctx, enum mct_space sp, uint32_t id)
{
	struct sparse *s = ctx;

	return id % 1000 == 7 && id / 1000 < 8 ? s->names[sp][id / 1000] : NULL;
}

static void test_writer_numbering(void **state)
{
	static const char want[] = "mct 1\n"
				   "map m3 f5 0 vma=v1\n"
				   "fork m1 m3\n"
				   "map m1 f2 1+2\n";
	struct sparse s;
	struct mct_names names = { sparse_name, &s };
	struct mct_event ev[3] = {
		{ .kind = MCT_MAP,
		  .mm = 3007,
		  .folio = 5007,
		  .vma = 1007,
		  .nr = 1 },
		{ .kind = MCT_FORK, .mm = 1007, .mm2 = 3007 },
		{ .kind = MCT_MAP,
		  .mm = 1007,
		  .folio = 2007,
		  .vma = MCT_NO_ID,
		  .first = 1,
		  .nr = 2 },
	};
	struct mct_header h = { .version = 1 };
	enum mct_encoding enc;
	struct buf out[2], canon = recode(want, strlen(want), MCT_ENC_BINARY);
	int sp, i;

	(void)state;
	for (sp = 0; sp < MCT_NR_SPACES; sp++)
		for (i = 0; i < 8; i++)
			snprintf(s.names[sp][i], 8, "%c%d", "mfv"[sp], i);
	for (enc = MCT_ENC_TEXT; enc <= MCT_ENC_BINARY; enc++) {
		FILE *f = open_memstream(&out[enc].p, &out[enc].len);
		struct mct_writer *w = mct_writer_stream(f, enc);

		assert_int_equal(mct_write_header(w, &h), 0);
		for (i = 0; i < 3; i++)
			assert_int_equal(mct_write_event(w, &ev[i], &names), 0);
		assert_int_equal(mct_writer_close(w), 0);
		fclose(f);
	}
	assert_string_equal(out[MCT_ENC_TEXT].p, want);
	assert_buf_equal(out[MCT_ENC_BINARY], canon);
	free(out[0].p);
	free(out[1].p);
	free(canon.p);
}

/* Events that no encoding can say are refused, and nothing is written. */
static void test_writer_refuses(void **state)
{
	struct sparse s;
	struct mct_names names = { sparse_name, &s };
	const uint32_t no = MCT_NO_ID;
	const struct mct_event bad[] = {
		{ .kind = 0 },
		{ .kind = MCT_NR_KINDS },
		{ .kind = MCT_EXIT, .mm = 1 }, /* no name */
		{ .kind = MCT_EXIT, .mm = no },
		{ .kind = MCT_MAP, .mm = 7, .folio = 7, .vma = no, .nr = 0 },
		{ .kind = MCT_MAP,
		  .mm = 7,
		  .folio = 7,
		  .vma = no,
		  .first = 2,
		  .nr = UINT64_MAX },
		{ .kind = MCT_MAP,
		  .mm = 7,
		  .folio = 7,
		  .vma = no,
		  .nr = 1,
		  .level = 3 },
		{ .kind = MCT_MAP, .mm = 7, .folio = 7, .vma = 3, .nr = 1 },
		{ .kind = MCT_ALLOC, .folio = 7, .order = MCT_MAX_ORDER + 1 },
		{ .kind = MCT_ALLOC, .folio = 7, .type = MCT_NR_FTYPES },
		{ .kind = MCT_REF, .folio = 7, .delta = 0 },
		{ .kind = MCT_COW,
		  .mm = 7,
		  .folio = 7,
		  .expect = MCT_EXPECT_SHARED },
		{ .kind = MCT_QUERY, .folio = 7, .expect = MCT_EXPECT_COPY },
		{ .kind = MCT_MM, .mm = 7, .mm2 = no, .comm = "a\nb" },
		{ .kind = MCT_MM, .mm = 7, .mm2 = 8 }, /* no parent name */
		/* mmid: a slot held by an MM names it, and only then */
		{ .kind = MCT_MMID,
		  .folio = 7,
		  .mm = no,
		  .mm2 = no,
		  .slot = { MCT_MMID_MM, MCT_MMID_FREE } },
		{ .kind = MCT_MMID, .folio = 7, .mm = 7, .mm2 = no },
		{ .kind = MCT_MMID,
		  .folio = 7,
		  .mm = no,
		  .mm2 = 7,
		  .slot = { MCT_MMID_FREE, MCT_MMID_OTHER } },
		{ .kind = MCT_MMID,
		  .folio = 7,
		  .mm = no,
		  .mm2 = no,
		  .slot = { MCT_NR_MMID_SLOTS, 0 } },
		{ .kind = MCT_MMID,
		  .folio = 7,
		  .mm = no,
		  .mm2 = no,
		  .shared = 2 },
		{ .kind = MCT_MMID, .folio = no, .mm = no, .mm2 = no },
	};
	struct mct_header h = { .version = 1 };
	struct mct_event ok = { .kind = MCT_EXIT, .mm = 7 };
	struct buf out = { NULL, 0 };
	FILE *f = open_memstream(&out.p, &out.len);
	struct mct_writer *w = mct_writer_stream(f, MCT_ENC_TEXT);
	size_t i;

	(void)state;
	memset(&s, 0, sizeof(s));
	strcpy(s.names[MCT_SPACE_MM][0], "m");
	strcpy(s.names[MCT_SPACE_FOLIO][0], "f");
	assert_int_equal(mct_write_event(w, &ok, &names), -1); /* no header */
	assert_int_equal(errno, EINVAL);
	assert_int_equal(mct_write_header(w, &h), 0);
	assert_int_equal(mct_write_header(w, &h), -1);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		errno = 0;
		assert_int_equal(mct_write_event(w, &bad[i], &names), -1);
		assert_int_equal(errno, EINVAL);
	}
	assert_int_equal(mct_write_event(w, &ok, &names), 0);
	assert_int_equal(mct_writer_close(w), 0);
	fclose(f);
	assert_string_equal(out.p, "mct 1\nexit m\n");
	free(out.p);
}

/* ---- Output files ---- */

#define OUT_DIR MAPCOUNT_BINARY_DIR "/test_trace_io.d"

static int nr_files(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

static struct mct_writer *open_out(const char *path)
{
	char err[512];
	struct mct_writer *w =
		mct_writer_open(path, MCT_ENC_BINARY, err, sizeof(err));

	if (!w)
		fail_msg("%s", err);
	return w;
}

static void test_writer_files(void **state)
{
	const char *path = OUT_DIR "/out.mct";
	struct mct_header h = { .version = 1 };
	struct mct_writer *w;
	struct mct_reader *r;
	char err[512];

	(void)state;
	if (mkdir(OUT_DIR, 0777) && errno != EEXIST)
		fail_msg("mkdir: %s", strerror(errno));
	unlink(path);
	assert_int_equal(nr_files(OUT_DIR), 0);

	/* abandoned: nothing is left behind */
	w = open_out(path);
	assert_int_equal(mct_write_header(w, &h), 0);
	assert_int_equal(nr_files(OUT_DIR), 1); /* the temporary file */
	mct_writer_abort(w);
	assert_int_equal(nr_files(OUT_DIR), 0);

	/* without a header the output is not a trace: refused */
	w = open_out(path);
	assert_int_equal(mct_writer_close(w), -1);
	assert_int_equal(nr_files(OUT_DIR), 0);

	/* complete: renamed into place, replacing what was there */
	for (h.page_size = 1; h.page_size <= 2; h.page_size++) {
		h.has = MCT_H_PAGE_SIZE;
		w = open_out(path);
		assert_int_equal(mct_write_header(w, &h), 0);
		assert_int_equal(mct_writer_close(w), 0);
		assert_int_equal(nr_files(OUT_DIR), 1);
		r = mct_open(path, err, sizeof(err));
		assert_non_null(r);
		assert_int_equal(mct_header(r)->page_size, h.page_size);
		mct_close(r);
	}
	unlink(path);

	w = mct_writer_open(OUT_DIR "/no/such/dir.mct", MCT_ENC_TEXT, err,
			    sizeof(err));
	assert_null(w);
	assert_string_equal(err,
			    OUT_DIR "/no/such/dir.mct: cannot create " OUT_DIR
				    "/no/such/dir.mct.tmpXXXXXX: "
				    "No such file or directory");
	assert_null(mct_open(OUT_DIR "/none.mct", err, sizeof(err)));
	assert_string_equal(err, OUT_DIR "/none.mct: cannot open: No such "
					 "file or directory");
	rmdir(OUT_DIR);
}

/* ---- Malformed input ---- */

struct bad_case {
	const char *name;
	const char *text; /* or */
	const char *hex;
	const char *err;
};

#define H "mct 1\n"
#define T "t.mct.txt:"
#define HDR_USAGE                                                      \
	"'mct 1 [page_size=N] [pmd_order=N] [pud_order=N] [name=STR] " \
	"[source=synthetic|recorded] [kernel=STR] [arch=STR]'"
#define MAP_USAGE "'map M F [RANGE] [pte|pmd|pud] [vma=V] [excl]'"
#define ALLOC_USAGE \
	"'alloc F order=K [type=anon|file|shmem|hugetlb|driver] [pfn=HEX]'"
#define MMID_USAGE \
	"'mmid F mapcount=N shared=0|1 [slot0=M:COUNT] [slot1=M:COUNT]'"
#define LONG_ID \
	"abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklm"

/* magic, format version 1, header { version: 1 } */
#define P "89 4d 43 54 01 02 08 01 "
/* Name events: mm 0 'a'; folio 0 'f' */
#define NAME_A "09 0a 07 08 00 10 00 1a 01 61 "
#define NAME_F "09 0a 07 08 01 10 00 1a 01 66 "
#define B      "t.mct: byte "

static const struct bad_case bad_cases[] = {
	/* text: the header */
	{ "missing header", "mm a\n", NULL,
	  T "1:1: header: missing header: 'mct 1' must come first, found "
	    "'mm'" },
	{ "empty input", "", NULL,
	  T "1:1: header: missing header: 'mct 1' must come first, found "
	    "the end" },
	{ "only comments", "# x\n\n", NULL,
	  T "3:1: header: missing header: 'mct 1' must come first, found "
	    "the end" },
	{ "duplicate header", H "mm a\n  mct 1\n", NULL,
	  T "3:3: header: duplicate header: the header is on line 1" },
	{ "unsupported version", "mct 2\n", NULL,
	  T "1:5: header: unsupported version '2': expected 1" },
	{ "bad version", "mct v1\n", NULL,
	  T "1:5: header: bad version 'v1': expected 1" },
	{ "missing version", "mct\n", NULL,
	  T "1:4: header: missing argument: expected " HDR_USAGE },
	{ "header unknown key", "mct 1 pagesize=4096\n", NULL,
	  T "1:7: header: unknown key 'pagesize': expected " HDR_USAGE },
	{ "header trailing garbage", "mct 1 x\n", NULL,
	  T "1:7: header: unexpected argument 'x': expected " HDR_USAGE },
	{ "header bad source", "mct 1 source=real\n", NULL,
	  T "1:14: header: bad source 'real': expected synthetic or "
	    "recorded" },
	{ "header number too big", "mct 1 page_size=4294967296\n", NULL,
	  T "1:17: header: page_size '4294967296' out of range: at most "
	    "4294967295" },
	{ "header duplicate key", "mct 1 name=a name=b\n", NULL,
	  T "1:14: header: duplicate key 'name'" },
	/* text: statements */
	{ "unknown statement", H "frob a\n", NULL,
	  T "2:1: unknown statement 'frob': expected mm, fork, exit, alloc, "
	    "free, map, unmap, ref, pin, unpin, cow, query, stat, observe "
	    "or mmid" },
	{ "mmid missing shared", H "mmid f mapcount=1\n", NULL,
	  T "2:18: mmid: missing shared=: expected " MMID_USAGE },
	{ "mmid missing mapcount", H "mmid f shared=1 slot0=a:1\n", NULL,
	  T "2:26: mmid: missing mapcount=: expected " MMID_USAGE },
	{ "mmid bad shared", H "mmid f mapcount=1 shared=2\n", NULL,
	  T "2:26: mmid: shared '2' out of range: at most 1" },
	{ "mmid slot without count", H "mmid f mapcount=1 shared=0 slot0=a\n",
	  NULL, T "2:34: mmid: bad slot 'a': expected M:COUNT or ?:COUNT" },
	{ "mmid slot without mm", H "mmid f mapcount=1 shared=0 slot1=:1\n",
	  NULL, T "2:34: mmid: bad slot ':1': expected M:COUNT or ?:COUNT" },
	{ "mmid slot empty count", H "mmid f mapcount=1 shared=0 slot1=a:\n",
	  NULL, T "2:34: mmid: bad slot 'a:': expected M:COUNT or ?:COUNT" },
	{ "mmid slot bad count", H "mmid f mapcount=1 shared=0 slot0=a:x1\n",
	  NULL,
	  T "2:36: mmid: bad slot count 'x1': expected a decimal or 0x-hex "
	    "number" },
	{ "mmid slot bad mm", H "mmid f mapcount=1 shared=0 slot0=a!:1\n", NULL,
	  T "2:34: mmid: bad identifier 'a!': expected A-Z a-z 0-9 _ . : -" },
	{ "mmid duplicate slot",
	  H "mmid f mapcount=1 shared=0 slot0=a:1 "
	    "slot0=b:1\n",
	  NULL, T "2:38: mmid: duplicate key 'slot0'" },
	{ "mmid positional mm", H "mmid f a mapcount=1 shared=0\n", NULL,
	  T "2:8: mmid: unexpected argument 'a': expected " MMID_USAGE },
	{ "bad range: LAST below FIRST", H "map m f 5-2\n", NULL,
	  T "2:9: map: bad range '5-2': LAST is below FIRST" },
	{ "bad range: NR = 0", H "map m f 5+0\n", NULL,
	  T "2:9: map: bad range '5+0': NR must be at least 1" },
	{ "bad range: syntax", H "unmap m f 5x\n", NULL,
	  T "2:11: unmap: bad range '5x': expected FIRST, FIRST+NR or "
	    "FIRST-LAST" },
	{ "bad range: too large", H "map m f 18446744073709551615+2\n", NULL,
	  T "2:9: map: bad range '18446744073709551615+2': too large for "
	    "64-bit page numbers" },
	{ "bad range: number overflow", H "map m f 1-18446744073709551616\n",
	  NULL,
	  T "2:9: map: bad range '1-18446744073709551616': a number does not "
	    "fit in 64 bits" },
	{ "unknown key", H "map m f 1 rss=1\n", NULL,
	  T "2:11: map: unknown key 'rss': expected " MAP_USAGE },
	{ "key not allowed here", H "exit m vma=v\n", NULL,
	  T "2:8: exit: unknown key 'vma': expected 'exit M'" },
	{ "flag not allowed here", H "unmap m f excl\n", NULL,
	  T "2:11: unmap: unexpected argument 'excl': expected "
	    "'unmap M F [RANGE] [pte|pmd|pud] [vma=V]'" },
	{ "duplicate key", H "map m f vma=a excl vma=b\n", NULL,
	  T "2:20: map: duplicate key 'vma'" },
	{ "duplicate level", H "map m f pmd pud\n", NULL,
	  T "2:13: map: duplicate level 'pud'" },
	{ "duplicate flag", H "map m f excl excl\n", NULL,
	  T "2:14: map: duplicate flag 'excl'" },
	{ "missing value", H "map m f vma=\n", NULL,
	  T "2:13: map: missing value after 'vma='" },
	{ "bad identifier", H "mm a/b\n", NULL,
	  T "2:4: mm: bad identifier 'a/b': expected A-Z a-z 0-9 _ . : -" },
	{ "bad identifier in a key", H "mm a parent=\"a\"\n", NULL,
	  T "2:13: mm: bad identifier '\"a\"': expected A-Z a-z 0-9 _ . : -" },
	{ "identifier too long", H "free " LONG_ID "\n", NULL,
	  T "2:6: free: identifier too long (65 bytes): at most 64" },
	{ "number overflow", H "cow m f 18446744073709551616\n", NULL,
	  T "2:9: cow: page '18446744073709551616' does not fit in 64 bits" },
	{ "hex overflow", H "stat m uss=0x10000000000000000\n", NULL,
	  T "2:12: stat: uss '0x10000000000000000' does not fit in 64 bits" },
	{ "bad number", H "stat m rss=12k\n", NULL,
	  T "2:12: stat: bad rss '12k': expected a decimal or 0x-hex "
	    "number" },
	{ "bad hex", H "alloc f order=0 pfn=0xfg\n", NULL,
	  T "2:21: alloc: bad pfn '0xfg': expected hex digits" },
	{ "order too large", H "alloc f order=31\n", NULL,
	  T "2:15: alloc: order '31' out of range: at most 30" },
	{ "missing argument", H "map m\n", NULL,
	  T "2:6: map: missing argument: expected " MAP_USAGE },
	{ "missing required key", H "alloc f type=anon\n", NULL,
	  T "2:18: alloc: missing order=: expected " ALLOC_USAGE },
	{ "trailing garbage", H "exit m x\n", NULL,
	  T "2:8: exit: unexpected argument 'x': expected 'exit M'" },
	{ "range after a flag", H "map m f pmd 0\n", NULL,
	  T "2:13: map: unexpected argument '0': expected " MAP_USAGE },
	{ "bad count", H "ref f 3\n", NULL,
	  T "2:7: ref: bad count '3': expected +N or -N" },
	{ "count of zero", H "ref f -0\n", NULL,
	  T "2:7: ref: bad count '-0': N must be at least 1" },
	{ "count overflow", H "ref f +9223372036854775808\n", NULL,
	  T "2:7: ref: count '+9223372036854775808' out of range: at most "
	    "+9223372036854775807" },
	{ "bad type", H "alloc f order=0 type=ksm\n", NULL,
	  T "2:22: alloc: bad type 'ksm': expected anon, file, shmem, hugetlb "
	    "or driver" },
	{ "bad expect", H "query f expect=reuse\n", NULL,
	  T "2:16: query: bad expect 'reuse': expected shared or exclusive" },
	{ "unterminated string", H "mm a comm=\"abc\n", NULL,
	  T "2:6: mm: unterminated string in 'comm=\"abc'" },
	{ "bad escape", H "mm a comm=\"a\\nb\"\n", NULL,
	  T "2:13: mm: bad escape '\\n': expected \\\" or \\\\" },
	{ "text after a string", H "mm a comm=\"a\"b\n", NULL,
	  T "2:14: mm: bad string '\"a\"b': text after the closing quote" },
	{ "quote in a bare string", H "mm a comm=a\"b c\"\n", NULL,
	  T "2:11: mm: bad string 'a\"b c\"': '\"' inside a bare string "
	    "(quote the whole string)" },
	{ "NUL byte", H "mm a\0b\n", NULL, T "2:5: NUL byte in the line" },
	/* binary */
	{ "wrong magic", NULL, "89 4d 43 58 01 02 08 01",
	  B "0: bad magic 89 4d 43 58: expected 89 4d 43 54" },
	{ "truncated magic", NULL, "89 4d",
	  B "0: bad magic 89 4d: expected 89 4d 43 54" },
	{ "missing format version", NULL, "89 4d 43 54",
	  B "4: missing format version" },
	{ "unsupported format version", NULL, "89 4d 43 54 02 02 08 01",
	  B "4: unsupported format version 2: expected 1" },
	{ "truncated varint", NULL, "89 4d 43 54 81",
	  B "4: truncated format version: the input ends inside the varint" },
	{ "missing header", NULL, "89 4d 43 54 01", B "5: missing header" },
	{ "truncated header", NULL, "89 4d 43 54 01 05 08 01",
	  B "5: truncated header: length 5 but only 2 bytes left" },
	{ "header without version", NULL, "89 4d 43 54 01 00",
	  B "5: malformed header: 0 bytes that do not decode as a "
	    "TraceHeader" },
	{ "header unknown field", NULL, "89 4d 43 54 01 04 08 01 48 05",
	  B "5: header: unknown field 9" },
	{ "header version", NULL, "89 4d 43 54 01 02 08 02",
	  B "5: header: unsupported version 2: expected 1" },
	{ "header bad source", NULL, "89 4d 43 54 01 04 08 01 30 03",
	  B "5: header: bad source 3: expected 1 (synthetic) or 2 "
	    "(recorded)" },
	{ "header string with a newline", NULL,
	  "89 4d 43 54 01 07 08 01 3a 03 61 0a 62",
	  B "5: header: bad kernel: contains a newline" },
	{ "truncated length varint", NULL, P "80",
	  B "8: truncated event length: the input ends inside the varint" },
	{ "varint over 64 bits", NULL, P "ff ff ff ff ff ff ff ff ff 7f",
	  B "8: bad event length: varint larger than 64 bits" },
	{ "oversized length", NULL, P "81 80 80 01",
	  B "8: oversized event: length 2097153, at most 1048576" },
	{ "truncated event", NULL, P "0c 0a 07 08",
	  B "8: truncated event: length 12 but only 3 bytes left" },
	{ "protobuf that does not unpack", NULL, P "02 0a 05",
	  B "8: malformed event: 2 bytes that do not decode as an Event" },
	{ "unknown event kind", NULL, P "03 8a 01 00",
	  B "8: unknown event kind: field 17" },
	{ "mmid without shared", NULL, P NAME_F "07 82 01 04 08 00 10 01",
	  B "18: malformed event: 7 bytes that do not decode as an Event" },
	{ "mmid slot unknown field", NULL,
	  P NAME_A NAME_F
	  "11 82 01 0e 08 00 10 01 18 00 22 06 08 00 10 01 18 05",
	  B "28: mmid: slot0: unknown field 3" },
	{ "mmid undefined slot mm", NULL,
	  P NAME_A NAME_F "0f 82 01 0c 08 00 10 01 18 00 2a 04 08 01 10 01",
	  B "28: mmid: undefined mm id 1 (1 defined)" },
	{ "mmid slot without count", NULL,
	  P NAME_A NAME_F "0d 82 01 0a 08 00 10 01 18 00 22 02 08 00",
	  B "28: malformed event: 13 bytes that do not decode as an Event" },
	{ "empty event", NULL, P "00",
	  B "8: unknown event kind: the event is empty" },
	{ "unknown field in an event", NULL, P NAME_A "06 22 04 08 00 28 01",
	  B "18: exit: unknown field 5" },
	{ "unknown field in a range", NULL,
	  P NAME_A NAME_F "0e 3a 0c 08 00 10 00 1a 06 08 00 10 01 20 01",
	  B "28: map: range: unknown field 4" },
	{ "Name id out of sequence", NULL, P "09 0a 07 08 00 10 01 1a 01 61",
	  B "8: name: mm id 1 out of sequence: expected 0" },
	{ "Name bad identifier", NULL, P "0b 0a 09 08 00 10 00 1a 03 61 20 62",
	  B "8: name: bad identifier 'a b': expected 1 to 64 of A-Z a-z 0-9 "
	    "_ . : -" },
	{ "Name defined twice", NULL, P NAME_A "09 0a 07 08 00 10 01 1a 01 61",
	  B "18: name: mm 'a' already defined as id 0" },
	{ "Name bad space", NULL, P "09 0a 07 08 03 10 00 1a 01 61",
	  B "8: name: bad space 3: expected 0 (mm), 1 (folio) or 2 (vma)" },
	{ "undefined id", NULL, P NAME_A "04 22 02 08 01",
	  B "18: exit: undefined mm id 1 (1 defined)" },
	{ "undefined optional id", NULL, P NAME_A "06 12 04 08 00 10 01",
	  B "18: mm: undefined mm id 1 (1 defined)" },
	{ "range NR = 0", NULL,
	  P NAME_A NAME_F "0c 3a 0a 08 00 10 00 1a 04 08 00 10 00",
	  B "28: map: bad range: nr is 0, expected at least 1" },
	{ "order too large (binary)", NULL, P NAME_F "06 2a 04 08 00 10 1f",
	  B "18: alloc: order 31 out of range: at most 30" },
	{ "folio type out of range", NULL,
	  P NAME_F "08 2a 06 08 00 10 00 18 09",
	  B "18: alloc: bad type 9: expected 0 to 4" },
	{ "level out of range", NULL,
	  P NAME_A NAME_F "08 3a 06 08 00 10 00 20 05",
	  B "28: map: bad level 5: expected 0 (pte), 1 (pmd) or 2 (pud)" },
	{ "cow expect out of range", NULL,
	  P NAME_A NAME_F "0a 62 08 08 00 10 00 18 00 20 03",
	  B "28: cow: bad expect 3: expected 1 (reuse) or 2 (copy)" },
	{ "excl on unmap", NULL, P NAME_A NAME_F "08 42 06 08 00 10 00 30 01",
	  B "28: unmap: excl is only allowed on map" },
	{ "ref of zero", NULL, P NAME_F "06 4a 04 08 00 10 00",
	  B "18: ref: delta is 0: expected a nonzero count" },
	{ "comm with a newline", NULL, P NAME_A "09 12 07 08 00 1a 03 61 0a 62",
	  B "18: mm: bad comm: contains a newline" },
};

static void test_bad(void **state)
{
	const struct bad_case *c = *state;
	static uint8_t bytes[256];
	size_t len;

	if (c->hex) {
		len = unhex(c->hex, bytes);
		check_error(bytes, len, "t.mct", c->err);
	} else {
		/* the NUL case: its text runs to the last "\n" */
		len = strlen(c->text);
		if (!strcmp(c->name, "NUL byte"))
			len = sizeof(H "mm a\0b\n") - 1;
		check_error(c->text, len, "t.mct.txt", c->err);
	}
}

static void test_bad_long_line(void **state)
{
	static char text[MCT_LINE_MAX + 64];
	size_t n = sprintf(text, H);

	(void)state;
	memset(text + n, 'x', MCT_LINE_MAX + 1);
	n += MCT_LINE_MAX + 1;
	text[n++] = '\n';
	check_error(text, n, "t.mct.txt",
		    T "2:4097: line too long: more than 4096 bytes");
	/* without the line end too */
	check_error(text, n - 1, "t.mct.txt",
		    T "2:4097: line too long: more than 4096 bytes");
}

static void test_bad_long_string(void **state)
{
	static char text[MCT_LINE_MAX];
	size_t n = sprintf(text, H "mm a comm=");

	(void)state;
	memset(text + n, 's', MCT_STR_MAX + 1);
	n += MCT_STR_MAX + 1;
	text[n++] = '\n';
	check_error(text, n, "t.mct.txt",
		    T "2:11: mm: string too long (513 bytes): at most 512");
}

static struct buf zstd(const void *p, size_t len)
{
	struct buf z;

	z.p = malloc(ZSTD_compressBound(len));
	z.len = ZSTD_compress(z.p, ZSTD_compressBound(len), p, len, 3);
	assert_false(ZSTD_isError(z.len));
	return z;
}

static void test_bad_zstd(void **state)
{
	static const char text[] = H "mm a\nmap a f 5-2\n";
	struct buf z = zstd(text, strlen(text)), zz = zstd(z.p, z.len);
	char want[128];
	size_t cut;

	(void)state;
	/* errors inside name the decompressed line */
	check_error(z.p, z.len, "t.mct.zst",
		    "t.mct.zst:3:9: map: bad range '5-2': LAST is below FIRST");
	/* truncated: the offset is where the compressed input ended */
	for (cut = 1; z.len - cut >= 4; cut += 3) {
		snprintf(want, sizeof(want),
			 "t.mct.zst: compressed byte %zu: truncated zstd "
			 "frame: the input ends inside a frame",
			 z.len - cut);
		check_error(z.p, z.len - cut, "t.mct.zst", want);
	}
	check_error(zz.p, zz.len, "t.mct.zst",
		    "t.mct.zst: zstd stream inside a zstd stream: expected a "
		    "text or binary trace");
	free(z.p);
	free(zz.p);
}

/* ---- Streaming ---- */

#define NR_EVENTS 1000000
#define NR_MMS	  64
#define NR_FOLIOS 4096

static char gen_names[MCT_NR_SPACES][NR_FOLIOS][8];

static const char *gen_name(void *ctx, enum mct_space sp, uint32_t id)
{
	(void)ctx;
	return gen_names[sp][id];
}

/* Event i of the generated trace. */
static void gen_event(uint64_t i, struct mct_event *ev)
{
	static const uint8_t kinds[] = { MCT_MAP,   MCT_UNMAP,	 MCT_REF,
					 MCT_QUERY, MCT_OBSERVE, MCT_STAT };

	memset(ev, 0, sizeof(*ev));
	ev->kind = kinds[i % ARRAY_SIZE(kinds)];
	ev->mm = ev->kind == MCT_MAP || ev->kind == MCT_UNMAP ||
				 ev->kind == MCT_STAT
			 ? i % NR_MMS
			 : MCT_NO_ID;
	ev->mm2 = ev->vma = MCT_NO_ID;
	ev->folio = ev->kind == MCT_STAT ? MCT_NO_ID : (i * 7) % NR_FOLIOS;
	ev->first = ev->kind == MCT_MAP || ev->kind == MCT_UNMAP ||
				    ev->kind == MCT_OBSERVE
			    ? i
			    : 0;
	ev->nr = ev->kind == MCT_MAP || ev->kind == MCT_UNMAP ? 1 + i % 5 : 0;
	ev->delta = ev->kind != MCT_REF ? 0 : i % 2 ? 1 : -(int64_t)(i % 7) - 1;
	ev->level = ev->kind == MCT_MAP ? i % MCT_NR_LEVELS : 0;
	ev->expect = ev->kind == MCT_QUERY && i % 2 ? MCT_EXPECT_SHARED : 0;
	ev->value = ev->kind == MCT_OBSERVE ? i % 1000 : 0;
	ev->rss_kb = ev->kind == MCT_STAT ? i : 0;
	ev->flags = ev->kind == MCT_STAT ? MCT_F_RSS : 0;
	ev->flags |= ev->kind == MCT_MAP && ev->level ? MCT_F_LEVEL : 0;
}

/* Writes the generated trace to path as enc, reads it back. */
static void stream(const char *path, enum mct_encoding enc)
{
	struct mct_names names = { gen_name, NULL };
	struct mct_header h = { .version = 1 };
	struct mct_event want, ev;
	struct mct_reader *r;
	struct mct_writer *w;
	char err[512];
	uint64_t i;
	int sp, id;

	for (sp = 0; sp < MCT_NR_SPACES; sp++)
		for (id = 0; id < NR_FOLIOS; id++)
			snprintf(gen_names[sp][id], 8, "%c%d", "mfv"[sp], id);
	w = mct_writer_open(path, enc, err, sizeof(err));
	if (!w)
		fail_msg("%s", err);
	assert_int_equal(mct_write_header(w, &h), 0);
	for (i = 0; i < NR_EVENTS; i++) {
		gen_event(i, &want);
		assert_int_equal(mct_write_event(w, &want, &names), 0);
	}
	assert_int_equal(mct_writer_close(w), 0);

	r = mct_open(path, err, sizeof(err));
	if (!r)
		fail_msg("%s", err);
	assert_int_equal(mct_encoding(r), enc);
	for (i = 0; i < NR_EVENTS; i++) {
		gen_event(i, &want);
		if (mct_next(r, &ev) != 1)
			fail_msg("event %llu: %s", (unsigned long long)i,
				 mct_error(r));
		if (want.folio != MCT_NO_ID)
			assert_string_equal(
				mct_name(r, MCT_SPACE_FOLIO, ev.folio),
				gen_names[MCT_SPACE_FOLIO][want.folio]);
		if (want.mm != MCT_NO_ID)
			assert_string_equal(mct_name(r, MCT_SPACE_MM, ev.mm),
					    gen_names[MCT_SPACE_MM][want.mm]);
		ev.mm = want.mm; /* ids are the reader's own numbering */
		ev.folio = want.folio;
		assert_event_equal(&ev, &want);
	}
	assert_int_equal(mct_next(r, &ev), 0);
	assert_int_equal(mct_event_index(r), NR_EVENTS - 1);
	assert_int_equal(mct_nr_names(r, MCT_SPACE_MM), NR_MMS);
	assert_int_equal(mct_nr_names(r, MCT_SPACE_FOLIO), NR_FOLIOS);
	mct_close(r);
	assert_int_equal(unlink(path), 0);
}

static void test_stream_zst(void **state)
{
	(void)state;
	stream(MAPCOUNT_BINARY_DIR "/test_trace_io.stream.mct.zst",
	       MCT_ENC_ZSTD);
}

static void test_stream_text(void **state)
{
	(void)state;
	stream(MAPCOUNT_BINARY_DIR "/test_trace_io.stream.mct.txt",
	       MCT_ENC_TEXT);
}

/* A FILE that is not seekable or mapped: mct_open_stream() over a pipe. */
static void test_open_stream(void **state)
{
	static const char text[] = H "mm a\nexit a\n";
	struct mct_reader *r;
	struct mct_event ev;
	char err[512];
	FILE *f;

	(void)state;
	f = fmemopen((void *)text, strlen(text), "r");
	r = mct_open_stream(f, "pipe", err, sizeof(err));
	assert_non_null(r);
	assert_int_equal(mct_next(r, &ev), 1);
	assert_int_equal(mct_next(r, &ev), 1);
	assert_int_equal(mct_next(r, &ev), 0);
	mct_close(r);
	fclose(f);
}

static void test_names(void **state)
{
	(void)state;
	assert_string_equal(mct_kind_name(MCT_OBSERVE), "observe");
	assert_string_equal(mct_kind_name(MCT_NR_KINDS), "?");
	assert_string_equal(mct_ftype_name(MCT_HUGETLB), "hugetlb");
	assert_string_equal(mct_level_name(MCT_PMD), "pmd");
}

/* ---- main ---- */

#define TEST(f) cmocka_unit_test(f)

int main(void)
{
	static const struct CMUnitTest fixed[] = {
		TEST(test_longest_line),   TEST(test_interning),
		TEST(test_header),	   TEST(test_writer_numbering),
		TEST(test_writer_refuses), TEST(test_writer_files),
		TEST(test_bad_long_line),  TEST(test_bad_long_string),
		TEST(test_bad_zstd),	   TEST(test_open_stream),
		TEST(test_names),	   TEST(test_stream_zst),
		TEST(test_stream_text),
	};
	size_t n = 0, i, max;
	struct CMUnitTest *tests;
	int ret;

	nftw(MAPCOUNT_SOURCE_DIR "/traces", collect, 16, FTW_PHYS);
	max = ARRAY_SIZE(rt_cases) + nr_trace_files + ARRAY_SIZE(bad_cases) +
	      ARRAY_SIZE(fixed);
	tests = calloc(max, sizeof(*tests));
	for (i = 0; i < ARRAY_SIZE(rt_cases); i++)
		tests[n++] =
			(struct CMUnitTest){ rt_cases[i].name, test_round_trip,
					     NULL, NULL, (void *)&rt_cases[i] };
	for (i = 0; i < nr_trace_files; i++)
		tests[n++] =
			(struct CMUnitTest){ trace_files[i], test_trace_file,
					     NULL, NULL, trace_files[i] };
	for (i = 0; i < ARRAY_SIZE(bad_cases); i++)
		tests[n++] =
			(struct CMUnitTest){ bad_cases[i].name, test_bad, NULL,
					     NULL, (void *)&bad_cases[i] };
	for (i = 0; i < ARRAY_SIZE(fixed); i++)
		tests[n++] = fixed[i];
	ret = _cmocka_run_group_tests("trace_io", tests, n, NULL, NULL);
	for (i = 0; i < nr_trace_files; i++)
		free(trace_files[i]);
	free(trace_files);
	free(tests);
	return ret;
}
