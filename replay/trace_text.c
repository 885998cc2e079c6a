// SPDX-License-Identifier: MIT
/*
 * trace_text.c - the text encoding (.mct.txt): a line parser that interns
 * identifiers as it meets them, and the writer of the canonical form.
 */
#include "trace_impl.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

struct mct_text_reader {
	uint64_t line; /* lines read so far */
	uint64_t header_line;
	char str[MCT_LINE_MAX + 1]; /* a decoded string: the event's comm */
};

struct tok {
	const char *s;
	size_t len, col; /* col: 1-based */
};

/* The statement being parsed. */
struct stmt_ctx {
	struct mct_reader *r;
	const char *line;
	size_t len, pos;
	size_t end_col; /* column just after the last token */
	const char *kind;
	const struct stmt *st;
	struct mct_event *ev;
	struct mct_header *h;
	struct tok slot_mm[2]; /* mmid: the slots' MMs, interned last */
	char shown[100];
};

/* ---- Grammar ---- */

enum arg { A_END, A_VERSION, A_MM, A_CHILD, A_FOLIO, A_RANGE, A_PAGE, A_COUNT };

enum opt {
	O_PAGE_SIZE,
	O_PMD_ORDER,
	O_PUD_ORDER,
	O_NAME,
	O_SOURCE,
	O_KERNEL,
	O_ARCH,
	O_PARENT,
	O_COMM,
	O_ORDER,
	O_TYPE,
	O_PFN,
	O_LEVEL, /* pte, pmd, pud */
	O_VMA,
	O_EXCL,
	O_EXPECT,
	O_RSS,
	O_PSS,
	O_USS,
	O_MAPCOUNT,
	O_SHARED,
	O_SLOT0,
	O_SLOT1,
	NR_OPTS
};

/* The keys of key=value options; NULL for the flags. */
static const char *const opt_keys[NR_OPTS] = {
	[O_PAGE_SIZE] = "page_size",
	[O_PMD_ORDER] = "pmd_order",
	[O_PUD_ORDER] = "pud_order",
	[O_NAME] = "name",
	[O_SOURCE] = "source",
	[O_KERNEL] = "kernel",
	[O_ARCH] = "arch",
	[O_PARENT] = "parent",
	[O_COMM] = "comm",
	[O_ORDER] = "order",
	[O_TYPE] = "type",
	[O_PFN] = "pfn",
	[O_VMA] = "vma",
	[O_EXPECT] = "expect",
	[O_RSS] = "rss",
	[O_PSS] = "pss",
	[O_USS] = "uss",
	[O_MAPCOUNT] = "mapcount",
	[O_SHARED] = "shared",
	[O_SLOT0] = "slot0",
	[O_SLOT1] = "slot1",
};

#define O(x) (1u << O_##x)

struct stmt {
	const char *usage;
	uint8_t args[4];
	uint32_t opts, required;
};

/* By kind; [0] is the header. */
static const struct stmt stmts[MCT_NR_KINDS] = {
	[0] = { .usage = "mct 1 [page_size=N] [pmd_order=N] [pud_order=N] "
			 "[name=STR] [source=synthetic|recorded] "
			 "[kernel=STR] [arch=STR]",
		.args = { A_VERSION },
		.opts = O(PAGE_SIZE) | O(PMD_ORDER) | O(PUD_ORDER) | O(NAME) |
			O(SOURCE) | O(KERNEL) | O(ARCH) },
	[MCT_MM] = { .usage = "mm M [parent=M] [comm=STR]",
		     .args = { A_MM },
		     .opts = O(PARENT) | O(COMM) },
	[MCT_FORK] = { .usage = "fork P C", .args = { A_MM, A_CHILD } },
	[MCT_EXIT] = { .usage = "exit M", .args = { A_MM } },
	[MCT_ALLOC] = { .usage = "alloc F order=K "
				 "[type=anon|file|shmem|hugetlb|driver] "
				 "[pfn=HEX]",
			.args = { A_FOLIO },
			.opts = O(ORDER) | O(TYPE) | O(PFN),
			.required = O(ORDER) },
	[MCT_FREE] = { .usage = "free F", .args = { A_FOLIO } },
	[MCT_MAP] = { .usage = "map M F [RANGE] [pte|pmd|pud] [vma=V] [excl]",
		      .args = { A_MM, A_FOLIO, A_RANGE },
		      .opts = O(LEVEL) | O(VMA) | O(EXCL) },
	[MCT_UNMAP] = { .usage = "unmap M F [RANGE] [pte|pmd|pud] [vma=V]",
			.args = { A_MM, A_FOLIO, A_RANGE },
			.opts = O(LEVEL) | O(VMA) },
	[MCT_REF] = { .usage = "ref F +N|-N", .args = { A_FOLIO, A_COUNT } },
	[MCT_PIN] = { .usage = "pin F", .args = { A_FOLIO } },
	[MCT_UNPIN] = { .usage = "unpin F", .args = { A_FOLIO } },
	[MCT_COW] = { .usage = "cow M F PAGE [expect=reuse|copy]",
		      .args = { A_MM, A_FOLIO, A_PAGE },
		      .opts = O(EXPECT) },
	[MCT_QUERY] = { .usage = "query F [expect=shared|exclusive]",
			.args = { A_FOLIO },
			.opts = O(EXPECT) },
	[MCT_STAT] = { .usage = "stat M [rss=KB] [pss=KB] [uss=KB]",
		       .args = { A_MM },
		       .opts = O(RSS) | O(PSS) | O(USS) },
	[MCT_OBSERVE] = { .usage = "observe F PAGE mapcount=N",
			  .args = { A_FOLIO, A_PAGE },
			  .opts = O(MAPCOUNT),
			  .required = O(MAPCOUNT) },
	[MCT_MMID] = { .usage = "mmid F mapcount=N shared=0|1 "
				"[slot0=M:COUNT] [slot1=M:COUNT]",
		       .args = { A_FOLIO },
		       .opts = O(MAPCOUNT) | O(SHARED) | O(SLOT0) | O(SLOT1),
		       .required = O(MAPCOUNT) | O(SHARED) },
};

/* The words a value may be, and how a message lists them. */
struct words {
	const char *w[MCT_NR_FTYPES];
	const char *expected;
};

static const struct words type_words = {
	{ "anon", "file", "shmem", "hugetlb", "driver" },
	"anon, file, shmem, hugetlb or driver"
};
static const struct words source_words = { { "synthetic", "recorded" },
					   "synthetic or recorded" };
static const struct words cow_words = { { "reuse", "copy" }, "reuse or copy" };
static const struct words query_words = { { "shared", "exclusive" },
					  "shared or exclusive" };

/* Names of the values, for the writer. */
static const char *const source_names[] = { NULL, "synthetic", "recorded" };
static const char *const expect_names[] = { NULL, "reuse", "copy", "shared",
					    "exclusive" };

/* ---- Errors ---- */

static int fail_at(struct stmt_ctx *c, size_t col, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int fail_at(struct stmt_ctx *c, size_t col, const char *fmt, ...)
{
	va_list ap;

	c->r->pos.col = col;
	va_start(ap, fmt);
	mct_vfail(c->r, c->kind, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *show(struct stmt_ctx *c, const struct tok *t)
{
	return mct_show(c->shown, sizeof(c->shown), t->s, t->len);
}

/* ---- Lexer ---- */

static bool is_blank(char ch)
{
	return ch == ' ' || ch == '\t';
}

static bool is_digit(char ch)
{
	return ch >= '0' && ch <= '9';
}

/*
 * The next token: a run of characters up to a blank or a '#' outside a
 * quoted string.  Returns 1, 0 at the end of the statement, or -1.
 */
static int next_tok(struct stmt_ctx *c, struct tok *t)
{
	const char *s = c->line;
	size_t i = c->pos;
	bool quoted = false;

	while (i < c->len && is_blank(s[i]))
		i++;
	c->pos = i;
	if (i == c->len || s[i] == '#')
		return 0;
	t->s = s + i;
	t->col = i + 1;
	for (; i < c->len; i++) {
		if (quoted && s[i] == '\\' && i + 1 < c->len)
			i++;
		else if (s[i] == '"')
			quoted = !quoted;
		else if (!quoted && (is_blank(s[i]) || s[i] == '#'))
			break;
	}
	t->len = i - (t->col - 1);
	c->pos = i;
	c->end_col = i + 1;
	if (quoted)
		return fail_at(c, t->col, "unterminated string in %s",
			       show(c, t));
	return 1;
}

/* ---- Values ---- */

static bool tok_is(const struct tok *t, const char *s)
{
	return strlen(s) == t->len && !memcmp(s, t->s, t->len);
}

enum { NUM_OK, NUM_BAD, NUM_BIG };

/* The value of a hex digit, or 16. */
static unsigned digit(char ch)
{
	char lower = ch | 0x20;

	if (is_digit(ch))
		return ch - '0';
	return lower >= 'a' && lower <= 'f' ? lower - 'a' + 10 : 16;
}

static int scan_digits(const char *s, size_t len, unsigned base, uint64_t *v)
{
	bool big = false;
	size_t i;

	*v = 0;
	for (i = 0; i < len; i++) {
		unsigned d = digit(s[i]);

		if (d >= base)
			return NUM_BAD;
		if (*v > (UINT64_MAX - d) / base)
			big = true;
		else
			*v = *v * base + d;
	}
	return !len ? NUM_BAD : big ? NUM_BIG : NUM_OK;
}

static bool has_0x(const char *s, size_t len)
{
	return len > 2 && s[0] == '0' && (s[1] | 0x20) == 'x';
}

/* Decimal or 0x-hex. */
static int scan_num(const char *s, size_t len, uint64_t *v)
{
	if (has_0x(s, len))
		return scan_digits(s + 2, len - 2, 16, v);
	return scan_digits(s, len, 10, v);
}

static int parse_num(struct stmt_ctx *c, const struct tok *t, const char *what,
		     uint64_t max, uint64_t *v)
{
	switch (scan_num(t->s, t->len, v)) {
	case NUM_BAD:
		return fail_at(c, t->col,
			       "bad %s %s: expected a decimal or 0x-hex number",
			       what, show(c, t));
	case NUM_BIG:
		return fail_at(c, t->col, "%s %s does not fit in 64 bits", what,
			       show(c, t));
	}
	if (*v > max)
		return fail_at(c, t->col,
			       "%s %s out of range: at most %" PRIu64, what,
			       show(c, t), max);
	return 0;
}

static int parse_u32(struct stmt_ctx *c, const struct tok *t, const char *what,
		     uint32_t max, uint32_t *v)
{
	uint64_t n;

	if (parse_num(c, t, what, max, &n))
		return -1;
	*v = n;
	return 0;
}

static int parse_pfn(struct stmt_ctx *c, const struct tok *t, uint64_t *v)
{
	size_t skip = has_0x(t->s, t->len) ? 2 : 0;

	switch (scan_digits(t->s + skip, t->len - skip, 16, v)) {
	case NUM_BAD:
		return fail_at(c, t->col, "bad pfn %s: expected hex digits",
			       show(c, t));
	case NUM_BIG:
		return fail_at(c, t->col, "pfn %s does not fit in 64 bits",
			       show(c, t));
	}
	return 0;
}

/* FIRST, FIRST+NR or FIRST-LAST. */
static int parse_range(struct stmt_ctx *c, const struct tok *t)
{
	size_t n = 0;
	uint64_t first, nr = 1;
	char sep;
	int r1, r2 = NUM_OK;

	while (n < t->len && t->s[n] != '+' && t->s[n] != '-')
		n++;
	sep = n < t->len ? t->s[n] : 0;
	r1 = scan_num(t->s, n, &first);
	if (sep)
		r2 = scan_num(t->s + n + 1, t->len - n - 1, &nr);
	if (r1 == NUM_BAD || r2 == NUM_BAD)
		return fail_at(c, t->col,
			       "bad range %s: expected FIRST, FIRST+NR or "
			       "FIRST-LAST",
			       show(c, t));
	if (r1 == NUM_BIG || r2 == NUM_BIG)
		return fail_at(c, t->col,
			       "bad range %s: a number does not fit in 64 bits",
			       show(c, t));
	if (sep == '-' && nr < first)
		return fail_at(c, t->col, "bad range %s: LAST is below FIRST",
			       show(c, t));
	if (sep == '-')
		nr = nr - first + 1; /* 0 when it is 2^64 */
	else if (!nr)
		return fail_at(c, t->col, "bad range %s: NR must be at least 1",
			       show(c, t));
	if (!nr || first + (nr - 1) < first)
		return fail_at(
			c, t->col,
			"bad range %s: too large for 64-bit page numbers",
			show(c, t));
	c->ev->first = first;
	c->ev->nr = nr;
	return 0;
}

/* +N or -N, N >= 1. */
static int parse_count(struct stmt_ctx *c, const struct tok *t)
{
	bool neg = t->s[0] == '-';
	uint64_t n, max = neg ? (uint64_t)INT64_MAX + 1 : INT64_MAX;
	int ret = NUM_BAD;

	if (neg || t->s[0] == '+')
		ret = scan_num(t->s + 1, t->len - 1, &n);
	if (ret == NUM_BAD)
		return fail_at(c, t->col, "bad count %s: expected +N or -N",
			       show(c, t));
	if (ret == NUM_BIG || n > max)
		return fail_at(c, t->col,
			       "count %s out of range: at most %c%" PRIu64,
			       show(c, t), t->s[0], max);
	if (!n)
		return fail_at(c, t->col, "bad count %s: N must be at least 1",
			       show(c, t));
	c->ev->delta = neg ? -(int64_t)(n - 1) - 1 : (int64_t)n;
	return 0;
}

static int parse_word(struct stmt_ctx *c, const struct tok *t, const char *what,
		      const struct words *words, int *idx)
{
	for (*idx = 0; *idx < MCT_NR_FTYPES && words->w[*idx]; (*idx)++)
		if (tok_is(t, words->w[*idx]))
			return 0;
	return fail_at(c, t->col, "bad %s %s: expected %s", what, show(c, t),
		       words->expected);
}

/* A STR into c->r->text->str. */
static int parse_str(struct stmt_ctx *c, const struct tok *t)
{
	char *buf = c->r->text->str;
	size_t i, n = 0;

	if (t->s[0] != '"') {
		if (memchr(t->s, '"', t->len))
			return fail_at(c, t->col,
				       "bad string %s: '\"' inside a bare "
				       "string (quote the whole string)",
				       show(c, t));
		memcpy(buf, t->s, t->len);
		n = t->len;
	} else {
		/* next_tok() saw the closing quote */
		for (i = 1; t->s[i] != '"'; i++) {
			if (t->s[i] == '\\' && t->s[i + 1] != '"' &&
			    t->s[i + 1] != '\\') {
				struct tok esc = { t->s + i, 2, t->col + i };

				return fail_at(c, esc.col,
					       "bad escape %s: expected \\\" "
					       "or \\\\",
					       show(c, &esc));
			}
			i += t->s[i] == '\\';
			buf[n++] = t->s[i];
		}
		if (i + 1 != t->len)
			return fail_at(c, t->col + i + 1,
				       "bad string %s: text after the closing "
				       "quote",
				       show(c, t));
	}
	buf[n] = '\0';
	if (n > MCT_STR_MAX)
		return fail_at(c, t->col,
			       "string too long (%zu bytes): at most %d", n,
			       MCT_STR_MAX);
	return 0;
}

static int parse_hstr(struct stmt_ctx *c, const struct tok *t, char **s)
{
	if (parse_str(c, t))
		return -1;
	*s = strdup(c->r->text->str);
	return *s ? 0 : fail_at(c, t->col, "out of memory");
}

static int intern(struct stmt_ctx *c, const struct tok *t, enum mct_space sp,
		  uint32_t *id)
{
	struct mct_strtab *tab = &c->r->names[sp];

	if (t->len > MCT_ID_MAX)
		return fail_at(c, t->col,
			       "identifier too long (%zu bytes): at most %d",
			       t->len, MCT_ID_MAX);
	if (!mct_valid_ident(t->s, t->len))
		return fail_at(
			c, t->col,
			"bad identifier %s: expected A-Z a-z 0-9 _ . : -",
			show(c, t));
	*id = mct_strtab_find(tab, t->s, t->len);
	if (*id == MCT_NO_ID)
		*id = mct_strtab_add(tab, t->s, t->len);
	return *id == MCT_NO_ID ? fail_at(c, t->col, "out of memory") : 0;
}

/* ---- Statements ---- */

static int parse_version(struct stmt_ctx *c, const struct tok *t)
{
	uint64_t v;
	int ret = scan_num(t->s, t->len, &v);

	if (ret == NUM_BAD)
		return fail_at(c, t->col, "bad version %s: expected %d",
			       show(c, t), MCT_VERSION);
	if (ret == NUM_BIG || v != MCT_VERSION)
		return fail_at(c, t->col, "unsupported version %s: expected %d",
			       show(c, t), MCT_VERSION);
	c->h->version = v;
	return 0;
}

static int parse_arg(struct stmt_ctx *c, enum arg a)
{
	size_t pos = c->pos, end_col = c->end_col;
	struct mct_event *ev = c->ev;
	struct tok t;
	int ret = next_tok(c, &t);

	if (ret < 0)
		return -1;
	if (a == A_RANGE && (!ret || !is_digit(t.s[0]))) {
		c->pos = pos;
		c->end_col = end_col;
		ev->flags |= MCT_F_NO_RANGE;
		return 0;
	}
	if (!ret)
		return fail_at(c, c->end_col, "missing argument: expected '%s'",
			       c->st->usage);
	switch (a) {
	case A_VERSION:
		return parse_version(c, &t);
	case A_MM:
		return intern(c, &t, MCT_SPACE_MM, &ev->mm);
	case A_CHILD:
		return intern(c, &t, MCT_SPACE_MM, &ev->mm2);
	case A_FOLIO:
		return intern(c, &t, MCT_SPACE_FOLIO, &ev->folio);
	case A_RANGE:
		return parse_range(c, &t);
	case A_PAGE:
		return parse_num(c, &t, "page", UINT64_MAX, &ev->first);
	case A_COUNT:
		return parse_count(c, &t);
	default:
		return -1;
	}
}

static int parse_expect(struct stmt_ctx *c, const struct tok *v)
{
	bool cow = c->ev->kind == MCT_COW;
	int i;

	if (parse_word(c, v, "expect", cow ? &cow_words : &query_words, &i))
		return -1;
	c->ev->expect = (cow ? MCT_EXPECT_REUSE : MCT_EXPECT_SHARED) + i;
	return 0;
}

/*
 * slotN=M:COUNT or slotN=?:COUNT.  M may itself hold ':', COUNT may not:
 * the last ':' separates them.  M is interned after the other options, so
 * that slot 0's MM is numbered before slot 1's in any order of the text.
 */
static int parse_slot(struct stmt_ctx *c, int i, const struct tok *v)
{
	struct tok mm = *v, count;
	size_t n = v->len;

	while (n && v->s[n - 1] != ':')
		n--;
	if (n < 2 || n == v->len)
		return fail_at(c, v->col,
			       "bad slot %s: expected M:COUNT or ?:COUNT",
			       show(c, v));
	mm.len = n - 1;
	count = (struct tok){ v->s + n, v->len - n, v->col + n };
	if (parse_num(c, &count, "slot count", UINT64_MAX,
		      &c->ev->slot_count[i]))
		return -1;
	if (tok_is(&mm, "?")) {
		c->ev->slot[i] = MCT_MMID_OTHER;
		return 0;
	}
	c->ev->slot[i] = MCT_MMID_MM;
	c->slot_mm[i] = mm;
	return 0;
}

static int parse_opt(struct stmt_ctx *c, enum opt o, const struct tok *t,
		     const struct tok *v)
{
	struct mct_event *ev = c->ev;
	struct mct_header *h = c->h;
	int i;

	switch (o) {
	case O_PAGE_SIZE:
		h->has |= MCT_H_PAGE_SIZE;
		return parse_u32(c, v, "page_size", UINT32_MAX, &h->page_size);
	case O_PMD_ORDER:
		h->has |= MCT_H_PMD_ORDER;
		return parse_u32(c, v, "pmd_order", UINT32_MAX, &h->pmd_order);
	case O_PUD_ORDER:
		h->has |= MCT_H_PUD_ORDER;
		return parse_u32(c, v, "pud_order", UINT32_MAX, &h->pud_order);
	case O_NAME:
		return parse_hstr(c, v, &h->name);
	case O_SOURCE:
		if (parse_word(c, v, "source", &source_words, &i))
			return -1;
		h->source = MCT_SOURCE_SYNTHETIC + i;
		return 0;
	case O_KERNEL:
		return parse_hstr(c, v, &h->kernel);
	case O_ARCH:
		return parse_hstr(c, v, &h->arch);
	case O_PARENT:
		return intern(c, v, MCT_SPACE_MM, &ev->mm2);
	case O_COMM:
		ev->comm = c->r->text->str;
		return parse_str(c, v);
	case O_ORDER:
		return parse_u32(c, v, "order", MCT_MAX_ORDER, &ev->order);
	case O_TYPE:
		ev->flags |= MCT_F_TYPE;
		if (parse_word(c, v, "type", &type_words, &i))
			return -1;
		ev->type = i;
		return 0;
	case O_PFN:
		ev->flags |= MCT_F_PFN;
		return parse_pfn(c, v, &ev->pfn);
	case O_LEVEL:
		ev->flags |= MCT_F_LEVEL;
		for (ev->level = MCT_PTE;
		     !tok_is(t, mct_level_name(ev->level));)
			ev->level++;
		return 0;
	case O_VMA:
		return intern(c, v, MCT_SPACE_VMA, &ev->vma);
	case O_EXCL:
		ev->flags |= MCT_F_EXCL;
		return 0;
	case O_EXPECT:
		return parse_expect(c, v);
	case O_RSS:
		ev->flags |= MCT_F_RSS;
		return parse_num(c, v, "rss", UINT64_MAX, &ev->rss_kb);
	case O_PSS:
		ev->flags |= MCT_F_PSS;
		return parse_num(c, v, "pss", UINT64_MAX, &ev->pss_kb);
	case O_USS:
		ev->flags |= MCT_F_USS;
		return parse_num(c, v, "uss", UINT64_MAX, &ev->uss_kb);
	case O_MAPCOUNT:
		return parse_num(c, v, "mapcount", UINT64_MAX, &ev->value);
	case O_SHARED: {
		uint64_t b;

		if (parse_num(c, v, "shared", 1, &b))
			return -1;
		ev->shared = (uint8_t)b;
		return 0;
	}
	case O_SLOT0:
	case O_SLOT1:
		return parse_slot(c, o - O_SLOT0, v);
	default:
		return -1;
	}
}

static const char *opt_what(enum opt o)
{
	if (o == O_LEVEL)
		return "level";
	return opt_keys[o] ? "key" : "flag";
}

/* Which option t is (-1: none); v is its value, v->s NULL for a flag. */
static int find_opt(const struct tok *t, struct tok *v)
{
	const char *eq = memchr(t->s, '=', t->len);
	struct tok key = { t->s, eq ? (size_t)(eq - t->s) : t->len, t->col };
	int o;

	*v = (struct tok){ NULL, 0, 0 };
	if (tok_is(t, "excl"))
		return O_EXCL;
	if (!eq)
		return tok_is(t, "pte") || tok_is(t, "pmd") || tok_is(t, "pud")
			       ? O_LEVEL
			       : -1;
	*v = (struct tok){ eq + 1, t->len - key.len - 1, t->col + key.len + 1 };
	for (o = 0; o < NR_OPTS; o++)
		if (opt_keys[o] && tok_is(&key, opt_keys[o]))
			return o;
	return -1;
}

static int parse_opts(struct stmt_ctx *c, const struct stmt *st)
{
	uint32_t seen = 0, missing;
	struct tok t, v;
	int ret, o;

	while ((ret = next_tok(c, &t)) > 0) {
		o = find_opt(&t, &v);
		if (v.s)
			t.len = v.s - 1 - t.s; /* messages show the key */
		if ((o < 0 || !(st->opts & 1u << o)) && v.s)
			return fail_at(c, t.col,
				       "unknown key %s: expected '%s'",
				       show(c, &t), st->usage);
		if (o < 0 || !(st->opts & 1u << o))
			return fail_at(c, t.col,
				       "unexpected argument %s: expected '%s'",
				       show(c, &t), st->usage);
		if (seen & 1u << o)
			return fail_at(c, t.col, "duplicate %s %s", opt_what(o),
				       show(c, &t));
		seen |= 1u << o;
		if (v.s && !v.len)
			return fail_at(c, v.col, "missing value after '%s='",
				       opt_keys[o]);
		if (parse_opt(c, o, &t, &v))
			return -1;
	}
	missing = st->required & ~seen;
	if (ret == 0 && missing)
		return fail_at(c, c->end_col, "missing %s=: expected '%s'",
			       opt_keys[__builtin_ctz(missing)], st->usage);
	return ret;
}

static int parse_stmt(struct stmt_ctx *c, const struct stmt *st,
		      const struct tok *kw)
{
	const uint8_t *a;

	c->st = st;
	for (a = st->args; *a; a++)
		if (parse_arg(c, *a))
			return -1;
	if (parse_opts(c, st))
		return -1;
	if (c->ev && c->ev->kind == MCT_MMID) {
		if (c->ev->slot[0] == MCT_MMID_MM &&
		    intern(c, &c->slot_mm[0], MCT_SPACE_MM, &c->ev->mm))
			return -1;
		if (c->ev->slot[1] == MCT_MMID_MM &&
		    intern(c, &c->slot_mm[1], MCT_SPACE_MM, &c->ev->mm2))
			return -1;
	}
	c->r->pos.col = kw->col;
	return 0;
}

/* The next line into c; 1, 0 at the end of the input, or -1. */
static int read_line(struct mct_reader *r, struct stmt_ctx *c)
{
	size_t avail, n, skip;
	const uint8_t *p = mct_in_peek(r, MCT_LINE_MAX + 2, &avail), *nl, *nul;

	if (!p)
		return -1;
	if (!avail)
		return 0;
	r->pos.line = ++r->text->line;
	r->pos.col = 1;
	nl = memchr(p, '\n', avail);
	n = nl ? (size_t)(nl - p) : avail;
	skip = nl ? n + 1 : n;
	if (n && p[n - 1] == '\r')
		n--;
	if (n > MCT_LINE_MAX) {
		r->pos.col = MCT_LINE_MAX + 1;
		return mct_fail(r, NULL, "line too long: more than %d bytes",
				MCT_LINE_MAX);
	}
	nul = memchr(p, '\0', n);
	if (nul) {
		r->pos.col = nul - p + 1;
		return mct_fail(r, NULL, "NUL byte in the line");
	}
	mct_in_skip(r, skip);
	*c = (struct stmt_ctx){ .r = r, .line = (const char *)p, .len = n };
	return 1;
}

/* The next statement: its first token in kw.  1, 0 at the end, or -1. */
static int next_stmt(struct mct_reader *r, struct stmt_ctx *c, struct tok *kw)
{
	int ret;

	while ((ret = read_line(r, c)) > 0) {
		ret = next_tok(c, kw);
		if (ret)
			return ret;
	}
	return ret;
}

static int find_kind(const struct tok *kw)
{
	int k;

	if (tok_is(kw, "mct"))
		return 0;
	for (k = MCT_MM; k < MCT_NR_KINDS; k++)
		if (tok_is(kw, mct_kind_name(k)))
			return k;
	return -1;
}

int mct_text_open(struct mct_reader *r)
{
	struct mct_header *h = &r->hdr;
	struct stmt_ctx c = { .r = r };
	struct tok kw;
	int ret;

	r->text = calloc(1, sizeof(*r->text));
	if (!r->text)
		return mct_fail(r, NULL, "out of memory");
	ret = next_stmt(r, &c, &kw);
	if (ret < 0)
		return -1;
	if (!ret || find_kind(&kw)) {
		c.kind = "header";
		if (!ret)
			r->pos.line = r->text->line + 1;
		return fail_at(&c, ret ? kw.col : 1,
			       "missing header: 'mct %d' must come first, "
			       "found %s",
			       MCT_VERSION, ret ? show(&c, &kw) : "the end");
	}
	*h = (struct mct_header){ .page_size = MCT_DEFAULT_PAGE_SIZE,
				  .pmd_order = MCT_DEFAULT_PMD_ORDER,
				  .pud_order = MCT_DEFAULT_PUD_ORDER };
	r->text->header_line = r->text->line;
	c.kind = "header";
	c.h = h;
	return parse_stmt(&c, &stmts[0], &kw);
}

int mct_text_next(struct mct_reader *r, struct mct_event *ev)
{
	struct stmt_ctx c;
	struct tok kw;
	int ret = next_stmt(r, &c, &kw), k;

	if (ret <= 0)
		return ret;
	k = find_kind(&kw);
	r->pos.col = kw.col;
	if (k < 0)
		return mct_fail(
			r, NULL,
			"unknown statement %s: expected mm, fork, exit, "
			"alloc, free, map, unmap, ref, pin, unpin, cow, "
			"query, stat, observe or mmid",
			show(&c, &kw));
	if (k == 0)
		return mct_fail(r, "header",
				"duplicate header: the header is on line "
				"%" PRIu64,
				r->text->header_line);
	ev->kind = k;
	c.kind = mct_kind_name(k);
	c.ev = ev;
	return parse_stmt(&c, &stmts[k], &kw) ? -1 : 1;
}

void mct_text_close(struct mct_reader *r)
{
	free(r->text);
	r->text = NULL;
}

/* ---- Writer ---- */

struct out {
	char buf[2 * MCT_LINE_MAX];
	size_t len;
};

static void putf(struct out *o, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void putf(struct out *o, const char *fmt, ...)
{
	size_t room = sizeof(o->buf) - o->len;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(o->buf + o->len, room, fmt, ap);
	va_end(ap);
	o->len += (size_t)n < room ? (size_t)n : room - 1;
}

static bool is_bare(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if ((uint8_t)*s <= ' ' || (uint8_t)*s >= 0x7f ||
		    strchr("\"#\\", *s))
			return false;
	return true;
}

static void put_str(struct out *o, const char *key, const char *s)
{
	if (is_bare(s)) {
		putf(o, " %s=%s", key, s);
		return;
	}
	putf(o, " %s=\"", key);
	for (; *s; s++)
		putf(o, *s == '"' || *s == '\\' ? "\\%c" : "%c", *s);
	putf(o, "\"");
}

static int put_line(struct mct_writer *w, struct out *o)
{
	o->buf[o->len++] = '\n';
	return mct_sink_write(w, o->buf, o->len);
}

int mct_text_write_header(struct mct_writer *w, const struct mct_header *h)
{
	struct out o;

	o.len = 0;
	putf(&o, "mct %d", MCT_VERSION);
	if (h->has & MCT_H_PAGE_SIZE)
		putf(&o, " page_size=%" PRIu32, h->page_size);
	if (h->has & MCT_H_PMD_ORDER)
		putf(&o, " pmd_order=%" PRIu32, h->pmd_order);
	if (h->has & MCT_H_PUD_ORDER)
		putf(&o, " pud_order=%" PRIu32, h->pud_order);
	if (h->name)
		put_str(&o, "name", h->name);
	if (h->source)
		putf(&o, " source=%s", source_names[h->source]);
	if (h->kernel)
		put_str(&o, "kernel", h->kernel);
	if (h->arch)
		put_str(&o, "arch", h->arch);
	return put_line(w, &o);
}

static void put_rmap(struct out *o, const struct mct_event *ev,
		     const char *const nm[MCT_NR_SLOTS])
{
	if (!(ev->flags & MCT_F_NO_RANGE))
		putf(o, ev->nr == 1 ? " %" PRIu64 : " %" PRIu64 "+%" PRIu64,
		     ev->first, ev->nr);
	if (ev->level != MCT_PTE)
		putf(o, " %s", mct_level_name(ev->level));
	if (nm[MCT_SLOT_VMA])
		putf(o, " vma=%s", nm[MCT_SLOT_VMA]);
	if (ev->kind == MCT_MAP && ev->flags & MCT_F_EXCL)
		putf(o, " excl");
}

static void put_args(struct out *o, const struct mct_event *ev,
		     const char *const nm[MCT_NR_SLOTS])
{
	switch (ev->kind) {
	case MCT_MM:
		if (nm[MCT_SLOT_MM2])
			putf(o, " parent=%s", nm[MCT_SLOT_MM2]);
		if (ev->comm)
			put_str(o, "comm", ev->comm);
		break;
	case MCT_ALLOC:
		putf(o, " order=%" PRIu32, ev->order);
		if (ev->flags & MCT_F_TYPE)
			putf(o, " type=%s", mct_ftype_name(ev->type));
		if (ev->flags & MCT_F_PFN)
			putf(o, " pfn=0x%" PRIx64, ev->pfn);
		break;
	case MCT_MAP:
	case MCT_UNMAP:
		put_rmap(o, ev, nm);
		break;
	case MCT_REF:
		putf(o, ev->delta > 0 ? " +%" PRIu64 : " -%" PRIu64,
		     ev->delta > 0 ? (uint64_t)ev->delta
				   : 0 - (uint64_t)ev->delta);
		break;
	case MCT_COW:
		putf(o, " %" PRIu64, ev->first);
		/* fall through */
	case MCT_QUERY:
		if (ev->expect)
			putf(o, " expect=%s", expect_names[ev->expect]);
		break;
	case MCT_OBSERVE:
		putf(o, " %" PRIu64 " mapcount=%" PRIu64, ev->first, ev->value);
		break;
	case MCT_MMID:
		putf(o, " mapcount=%" PRIu64 " shared=%u", ev->value,
		     (unsigned int)ev->shared);
		for (int i = 0; i < 2; i++)
			if (ev->slot[i] != MCT_MMID_FREE)
				putf(o, " slot%d=%s:%" PRIu64, i,
				     ev->slot[i] == MCT_MMID_MM
					     ? nm[i ? MCT_SLOT_MM2
						    : MCT_SLOT_MM]
					     : "?",
				     ev->slot_count[i]);
		break;
	case MCT_STAT:
		if (ev->flags & MCT_F_RSS)
			putf(o, " rss=%" PRIu64, ev->rss_kb);
		if (ev->flags & MCT_F_PSS)
			putf(o, " pss=%" PRIu64, ev->pss_kb);
		if (ev->flags & MCT_F_USS)
			putf(o, " uss=%" PRIu64, ev->uss_kb);
		break;
	default:
		break;
	}
}

int mct_text_write_event(struct mct_writer *w, const struct mct_event *ev,
			 const char *const nm[MCT_NR_SLOTS])
{
	struct out o;

	o.len = 0;
	putf(&o, "%s", mct_kind_name(ev->kind));
	if (nm[MCT_SLOT_MM] && ev->kind != MCT_MMID)
		putf(&o, " %s", nm[MCT_SLOT_MM]);
	if (ev->kind == MCT_FORK)
		putf(&o, " %s", nm[MCT_SLOT_MM2]);
	if (nm[MCT_SLOT_FOLIO])
		putf(&o, " %s", nm[MCT_SLOT_FOLIO]);
	put_args(&o, ev, nm);
	return put_line(w, &o);
}
