// SPDX-License-Identifier: MIT
/*
 * trace_io.c - the front end of trace I/O: opening a trace and detecting its
 * encoding, buffered (and zstd) input in constant memory, name tables,
 * errors, and writers that never leave a half-written file behind.
 */
#include "trace_impl.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>
#include <zstd.h>

#define STR(x)	  #x
#define XSTR(x)	  STR(x)
#define CHUNK	  65536 /* read size */
#define POOL_SIZE 65536 /* name storage block */

static const uint8_t zstd_magic[4] = { 0x28, 0xb5, 0x2f, 0xfd };
static const uint8_t mct_magic0 = 0x89;

/* ---- Names ---- */

static const char *const kind_names[MCT_NR_KINDS] = {
	[MCT_MM] = "mm",       [MCT_FORK] = "fork",	  [MCT_EXIT] = "exit",
	[MCT_ALLOC] = "alloc", [MCT_FREE] = "free",	  [MCT_MAP] = "map",
	[MCT_UNMAP] = "unmap", [MCT_REF] = "ref",	  [MCT_PIN] = "pin",
	[MCT_UNPIN] = "unpin", [MCT_COW] = "cow",	  [MCT_QUERY] = "query",
	[MCT_STAT] = "stat",   [MCT_OBSERVE] = "observe", [MCT_MMID] = "mmid",
};

static const char *const ftype_names[MCT_NR_FTYPES] = {
	"anon", "file", "shmem", "hugetlb", "driver",
};

static const char *const level_names[MCT_NR_LEVELS] = { "pte", "pmd", "pud" };

const char *mct_kind_name(enum mct_kind k)
{
	return k > 0 && k < MCT_NR_KINDS ? kind_names[k] : "?";
}

const char *mct_ftype_name(enum mct_ftype t)
{
	return t < MCT_NR_FTYPES ? ftype_names[t] : "?";
}

const char *mct_level_name(enum mct_level l)
{
	return l < MCT_NR_LEVELS ? level_names[l] : "?";
}

/* ---- Identifier slots of an event ---- */

const enum mct_space mct_slot_space[MCT_NR_SLOTS] = {
	MCT_SPACE_MM, MCT_SPACE_MM, MCT_SPACE_FOLIO, MCT_SPACE_VMA
};

#define S(x) (1u << MCT_SLOT_##x)
static const uint8_t slots_required[MCT_NR_KINDS] = {
	[MCT_MM] = S(MM),
	[MCT_FORK] = S(MM) | S(MM2),
	[MCT_EXIT] = S(MM),
	[MCT_ALLOC] = S(FOLIO),
	[MCT_FREE] = S(FOLIO),
	[MCT_MAP] = S(MM) | S(FOLIO),
	[MCT_UNMAP] = S(MM) | S(FOLIO),
	[MCT_REF] = S(FOLIO),
	[MCT_PIN] = S(FOLIO),
	[MCT_UNPIN] = S(FOLIO),
	[MCT_COW] = S(MM) | S(FOLIO),
	[MCT_QUERY] = S(FOLIO),
	[MCT_STAT] = S(MM),
	[MCT_OBSERVE] = S(FOLIO),
	[MCT_MMID] = S(FOLIO),
};
static const uint8_t slots_optional[MCT_NR_KINDS] = {
	[MCT_MM] = S(MM2),
	[MCT_MMID] = S(MM) | S(MM2),
	[MCT_MAP] = S(VMA),
	[MCT_UNMAP] = S(VMA),
};
#undef S

uint32_t mct_slot_id(const struct mct_event *ev, enum mct_slot s)
{
	const uint32_t ids[MCT_NR_SLOTS] = { ev->mm, ev->mm2, ev->folio,
					     ev->vma };

	return ids[s];
}

/* ---- Name tables ---- */

struct mct_pool {
	struct mct_pool *next;
	size_t used;
	char data[POOL_SIZE];
};

static uint64_t load32(const char *s)
{
	uint32_t w;

	memcpy(&w, s, 4);
	return w;
}

/*
 * A 32-bit hash of s[0..len), 8 bytes at a time.  A slot keeps the whole
 * hash of its name: a lookup compares strings only when the hashes are
 * equal, and growing the table never looks at the names.
 */
static uint32_t hash(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
	}
	if (len) {
		/* 1 to 7 bytes: two loads that may overlap */
		if (len >= 4)
			w = load32(s) | load32(s + len - 4) << 32;
		else
			w = (uint8_t)s[0] | (uint64_t)(uint8_t)s[len / 2] << 8 |
			    (uint64_t)(uint8_t)s[len - 1] << 16;
		h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
		h ^= h >> 29;
	}
	h *= 0x94d049bb133111ebull;
	return h ^ h >> 32;
}

static bool name_is(const char *name, const char *s, size_t len)
{
	return !strncmp(name, s, len) && !name[len];
}

/* The id of s, whose hash is h, or MCT_NO_ID with *slot where it would go. */
static uint32_t strtab_probe(const struct mct_strtab *t, const char *s,
			     size_t len, uint32_t h, uint32_t *slot)
{
	uint32_t i;
	uint64_t e;

	for (i = h & t->mask; (e = t->slots[i]); i = (i + 1) & t->mask)
		if ((uint32_t)(e >> 32) == h &&
		    name_is(t->names[(uint32_t)e - 1], s, len))
			return (uint32_t)e - 1;
	*slot = i;
	return MCT_NO_ID;
}

uint32_t mct_strtab_find(const struct mct_strtab *t, const char *s, size_t len)
{
	uint32_t slot;

	if (!t->slots)
		return MCT_NO_ID;
	return strtab_probe(t, s, len, hash(s, len), &slot);
}

/* The first free slot on the way of hash h. */
static uint32_t strtab_free_slot(const struct mct_strtab *t, uint32_t h)
{
	uint32_t i = h & t->mask;

	while (t->slots[i])
		i = (i + 1) & t->mask;
	return i;
}

/* Doubles the table, which is at most 3/4 full; names has room for that. */
static int strtab_grow(struct mct_strtab *t)
{
	uint64_t n = t->slots ? ((uint64_t)t->mask + 1) * 2 : 64, i;
	uint64_t *slots, *old = t->slots;
	uint64_t old_n = old ? (uint64_t)t->mask + 1 : 0;
	const char **names;

	if (n > 1u << 31)
		return -1;
	names = realloc(t->names, n / 4 * 3 * sizeof(*names));
	if (!names)
		return -1;
	t->names = names;
	slots = calloc(n, sizeof(*slots));
	if (!slots)
		return -1;
	t->slots = slots;
	t->mask = n - 1;
	t->room = n / 4 * 3;
	for (i = 0; i < old_n; i++)
		if (old[i])
			slots[strtab_free_slot(t, old[i] >> 32)] = old[i];
	free(old);
	return 0;
}

static char *pool_dup(struct mct_strtab *t, const char *s, size_t len)
{
	struct mct_pool *p = t->pool;
	char *copy;

	if (!p || POOL_SIZE - p->used < len + 1) {
		p = malloc(sizeof(*p));
		if (!p)
			return NULL;
		p->next = t->pool;
		p->used = 0;
		t->pool = p;
	}
	copy = p->data + p->used;
	memcpy(copy, s, len);
	copy[len] = '\0';
	p->used += len + 1;
	return copy;
}

/* Adds s, whose hash is h, at the free slot (a new one after a grow). */
static uint32_t strtab_put(struct mct_strtab *t, const char *s, size_t len,
			   uint32_t h, uint32_t slot)
{
	char *copy;

	if (len >= POOL_SIZE)
		return MCT_NO_ID;
	if (t->nr >= t->room) {
		if (strtab_grow(t))
			return MCT_NO_ID;
		slot = strtab_free_slot(t, h);
	}
	copy = pool_dup(t, s, len);
	if (!copy)
		return MCT_NO_ID;
	t->names[t->nr] = copy;
	t->slots[slot] = (uint64_t)h << 32 | (t->nr + 1);
	return t->nr++;
}

uint32_t mct_strtab_add(struct mct_strtab *t, const char *s, size_t len)
{
	uint32_t h = hash(s, len);

	return strtab_put(t, s, len, h, t->slots ? strtab_free_slot(t, h) : 0);
}

uint32_t mct_strtab_add_new(struct mct_strtab *t, const char *s, size_t len,
			    uint32_t *old)
{
	uint32_t h = hash(s, len), slot = 0;

	*old = t->slots ? strtab_probe(t, s, len, h, &slot) : MCT_NO_ID;
	return *old == MCT_NO_ID ? strtab_put(t, s, len, h, slot) : MCT_NO_ID;
}

void mct_strtab_free(struct mct_strtab *t)
{
	while (t->pool) {
		struct mct_pool *next = t->pool->next;

		free(t->pool);
		t->pool = next;
	}
	free(t->names);
	free(t->slots);
	memset(t, 0, sizeof(*t));
}

/* ---- Validation shared by the codecs ---- */

bool mct_valid_ident(const char *s, size_t len)
{
	return mct_ident_ok(s, len);
}

const char *mct_str_problem(const char *s)
{
	if (strlen(s) > MCT_STR_MAX)
		return "longer than " XSTR(MCT_STR_MAX) " bytes";
	if (strchr(s, '\n'))
		return "contains a newline";
	return NULL;
}

const char *mct_show(char *buf, size_t size, const char *s, size_t len)
{
	size_t i, n = 0, max = size - 8; /* room for "...'" and NUL */

	buf[n++] = '\'';
	for (i = 0; i < len && n < max; i++) {
		uint8_t c = s[i];

		if (c >= 0x20 && c < 0x7f)
			buf[n++] = c;
		else
			n += snprintf(buf + n, size - n, "\\x%02x", c);
	}
	if (i < len)
		n += snprintf(buf + n, size - n, "...");
	snprintf(buf + n, size - n, "'");
	return buf;
}

/* ---- Errors ---- */

int mct_vfail(struct mct_reader *r, const char *kind, const char *fmt,
	      va_list ap)
{
	size_t n, size = sizeof(r->err);

	if (r->text)
		n = snprintf(r->err, size, "%s:%" PRIu64 ":%" PRIu64 ": ",
			     r->file, r->pos.line, r->pos.col);
	else
		n = snprintf(r->err, size, "%s: byte %" PRIu64 ": ", r->file,
			     r->pos.offset);
	if (kind && n < size)
		n += snprintf(r->err + n, size - n, "%s: ", kind);
	if (n < size)
		vsnprintf(r->err + n, size - n, fmt, ap);
	r->failed = true;
	return -1;
}

int mct_fail(struct mct_reader *r, const char *kind, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	mct_vfail(r, kind, fmt, ap);
	va_end(ap);
	return -1;
}

/* An error of the input itself: no position in the trace. */
static int in_fail(struct mct_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static int in_fail(struct mct_reader *r, const char *fmt, ...)
{
	size_t n = snprintf(r->err, sizeof(r->err), "%s: ", r->file);
	va_list ap;

	va_start(ap, fmt);
	if (n < sizeof(r->err))
		vsnprintf(r->err + n, sizeof(r->err) - n, fmt, ap);
	va_end(ap);
	r->failed = true;
	return -1;
}

/* ---- Input ---- */

/*
 * The unread bytes are p[pos..len).  Memory is read in place (buf is NULL);
 * a FILE or a zstd stream is read into buf, at most one chunk or one
 * message more than asked for, so memory stays constant.
 */
struct mct_input {
	FILE *f; /* raw source, or NULL for memory */
	bool close_f;
	const uint8_t *p;
	uint8_t *buf;
	size_t cap, pos, len;
	uint64_t off; /* stream offset of p[pos] */
	bool eof;
	/* zstd: the raw source is compressed */
	ZSTD_DCtx *zd;
	ZSTD_inBuffer zin;
	uint8_t *zbuf; /* zin storage when reading a FILE */
	size_t zcap, zret;
	uint64_t zoff; /* compressed offset of zin.src */
	bool raw_eof;
};

/* Move the unread bytes to the start of buf, which holds at least n. */
static int in_make_room(struct mct_input *in, size_t n)
{
	size_t unread = in->len - in->pos;

	if (in->cap < n) {
		size_t cap = (n + CHUNK - 1) / CHUNK * CHUNK;
		uint8_t *buf = malloc(cap);

		if (!buf)
			return -1;
		if (unread)
			memcpy(buf, in->p + in->pos, unread);
		free(in->buf);
		in->buf = buf;
		in->cap = cap;
	} else if (in->pos && unread) {
		memmove(in->buf, in->buf + in->pos, unread);
	}
	in->p = in->buf;
	in->pos = 0;
	in->len = unread;
	return 0;
}

static int in_read(struct mct_reader *r)
{
	struct mct_input *in = r->in;
	size_t got = fread(in->buf + in->len, 1, in->cap - in->len, in->f);

	in->len += got;
	if (got)
		return 0;
	if (ferror(in->f))
		return in_fail(r, "read error: %s", strerror(errno));
	in->eof = true;
	return 0;
}

static int in_zrefill(struct mct_reader *r)
{
	struct mct_input *in = r->in;
	size_t got = fread(in->zbuf, 1, in->zcap, in->f);

	in->zoff += in->zin.size;
	in->zin = (ZSTD_inBuffer){ in->zbuf, got, 0 };
	if (got)
		return 0;
	if (ferror(in->f))
		return in_fail(r, "read error: %s", strerror(errno));
	in->raw_eof = true;
	return 0;
}

static int in_unzstd(struct mct_reader *r)
{
	struct mct_input *in = r->in;
	ZSTD_outBuffer out = { in->buf, in->cap, in->len };
	size_t ret, consumed;

	if (in->zin.pos == in->zin.size && !in->raw_eof && in_zrefill(r))
		return -1;
	consumed = in->zin.pos;
	ret = ZSTD_decompressStream(in->zd, &out, &in->zin);
	if (ZSTD_isError(ret))
		return in_fail(r, "compressed byte %" PRIu64 ": zstd: %s",
			       in->zoff + in->zin.pos, ZSTD_getErrorName(ret));
	if (out.pos > in->len || in->zin.pos > consumed) {
		in->zret = ret; /* 0: the frame is complete */
		in->len = out.pos;
		return 0;
	}
	/* no progress: all input is consumed */
	in->eof = true;
	if (in->zret)
		return in_fail(r,
			       "compressed byte %" PRIu64
			       ": truncated zstd frame: the input ends inside "
			       "a frame",
			       in->zoff + in->zin.pos);
	return 0;
}

const uint8_t *mct_in_peek(struct mct_reader *r, size_t n, size_t *avail)
{
	struct mct_input *in = r->in;

	if (in->len - in->pos < n && !in->eof) {
		if (in_make_room(in, n)) {
			in_fail(r, "out of memory");
			return NULL;
		}
		while (in->len < n && !in->eof)
			if (in->zd ? in_unzstd(r) : in_read(r))
				return NULL;
	}
	*avail = in->len - in->pos;
	return in->p + in->pos;
}

void mct_in_skip(struct mct_reader *r, size_t n)
{
	r->in->pos += n;
	r->in->off += n;
}

uint64_t mct_in_offset(const struct mct_reader *r)
{
	return r->in->off;
}

/* The bytes read so far are compressed: decompress from here on. */
static int in_start_zstd(struct mct_reader *r)
{
	struct mct_input *in = r->in;

	in->zd = ZSTD_createDCtx();
	if (!in->zd)
		return in_fail(r, "out of memory");
	if (in->f) {
		in->zbuf = in->buf;
		in->zcap = in->cap;
		in->zin = (ZSTD_inBuffer){ in->zbuf, in->len, 0 };
		in->buf = NULL;
		in->cap = 0;
	} else {
		in->zin = (ZSTD_inBuffer){ in->p, in->len, 0 };
	}
	in->raw_eof = in->eof;
	in->pos = in->len = 0;
	in->eof = false;
	return 0;
}

static void in_free(struct mct_input *in)
{
	if (!in)
		return;
	if (in->close_f)
		fclose(in->f);
	ZSTD_freeDCtx(in->zd);
	free(in->zbuf);
	free(in->buf);
	free(in);
}

/* ---- Readers ---- */

static int detect(struct mct_reader *r)
{
	size_t avail;
	const uint8_t *p = mct_in_peek(r, 4, &avail);

	if (!p)
		return -1;
	if (avail >= 4 && !memcmp(p, zstd_magic, 4)) {
		r->enc = MCT_ENC_ZSTD;
		if (in_start_zstd(r))
			return -1;
		p = mct_in_peek(r, 4, &avail);
		if (!p)
			return -1;
		if (avail >= 4 && !memcmp(p, zstd_magic, 4))
			return in_fail(r, "zstd stream inside a zstd stream: "
					  "expected a text or binary trace");
	}
	if (avail && p[0] == mct_magic0) {
		if (r->enc != MCT_ENC_ZSTD)
			r->enc = MCT_ENC_BINARY;
		return mct_bin_open(r);
	}
	return mct_text_open(r);
}

/* Takes in (NULL: out of memory); reads up to the first event. */
static struct mct_reader *reader_open(struct mct_input *in,
				      const char *display_name, char *err,
				      size_t errlen)
{
	const char *file = display_name ? display_name : "-";
	struct mct_reader *r = in ? calloc(1, sizeof(*r)) : NULL;

	if (r)
		r->file = strdup(file);
	if (!r || !r->file) {
		snprintf(err, errlen, "%s: out of memory", file);
		free(r);
		in_free(in);
		return NULL;
	}
	r->in = in;
	r->enc = MCT_ENC_TEXT;
	if (detect(r)) {
		snprintf(err, errlen, "%s", r->err);
		mct_close(r);
		return NULL;
	}
	return r;
}

struct mct_reader *mct_open_stream(FILE *f, const char *display_name, char *err,
				   size_t errlen)
{
	struct mct_input *in = calloc(1, sizeof(*in));

	if (in)
		in->f = f;
	return reader_open(in, display_name, err, errlen);
}

struct mct_reader *mct_open(const char *path, char *err, size_t errlen)
{
	struct mct_reader *r;
	FILE *f;

	if (!strcmp(path, "-"))
		return mct_open_stream(stdin, "<stdin>", err, errlen);
	f = fopen(path, "rb");
	if (!f) {
		snprintf(err, errlen, "%s: cannot open: %s", path,
			 strerror(errno));
		return NULL;
	}
	r = mct_open_stream(f, path, err, errlen);
	if (r)
		r->in->close_f = true;
	else
		fclose(f);
	return r;
}

struct mct_reader *mct_open_mem(const void *buf, size_t len,
				const char *display_name, char *err,
				size_t errlen)
{
	static const uint8_t empty[1];
	struct mct_input *in = calloc(1, sizeof(*in));

	if (in) {
		in->p = len ? buf : empty;
		in->len = len;
		in->eof = true;
	}
	return reader_open(in, display_name, err, errlen);
}

const struct mct_header *mct_header(const struct mct_reader *r)
{
	return &r->hdr;
}

enum mct_encoding mct_encoding(const struct mct_reader *r)
{
	return r->enc;
}

int mct_next(struct mct_reader *r, struct mct_event *ev)
{
	int ret;

	if (r->failed)
		return -1;
	memset(ev, 0, sizeof(*ev));
	ev->mm = ev->mm2 = ev->folio = ev->vma = MCT_NO_ID;
	ret = r->text ? mct_text_next(r, ev) : mct_bin_next(r, ev);
	if (ret > 0)
		r->nr_events++;
	else if (ret < 0)
		r->failed = true;
	return ret;
}

const char *mct_error(const struct mct_reader *r)
{
	return r->failed ? r->err : NULL;
}

const struct mct_pos *mct_pos(const struct mct_reader *r)
{
	return &r->pos;
}

uint64_t mct_event_index(const struct mct_reader *r)
{
	return r->nr_events ? r->nr_events - 1 : 0;
}

const char *mct_name(const struct mct_reader *r, enum mct_space space,
		     uint32_t id)
{
	if (space >= MCT_NR_SPACES || id >= r->names[space].nr)
		return NULL;
	return r->names[space].names[id];
}

uint32_t mct_nr_names(const struct mct_reader *r, enum mct_space space)
{
	return space < MCT_NR_SPACES ? r->names[space].nr : 0;
}

static const char *reader_name(void *ctx, enum mct_space space, uint32_t id)
{
	return mct_name(ctx, space, id);
}

struct mct_names mct_reader_names(const struct mct_reader *r)
{
	return (struct mct_names){ reader_name, (void *)r };
}

void mct_close(struct mct_reader *r)
{
	int i;

	if (!r)
		return;
	mct_text_close(r);
	mct_bin_close(r);
	in_free(r->in);
	for (i = 0; i < MCT_NR_SPACES; i++)
		mct_strtab_free(&r->names[i]);
	free(r->hdr.name);
	free(r->hdr.kernel);
	free(r->hdr.arch);
	free(r->file);
	free(r);
}

/* ---- Writers ---- */

/* Creates PATH.tmpXXXXXX next to path, with the permissions of a new file. */
static FILE *create_tmp(const char *path, char **tmp)
{
	static const char digits[] = "0123456789abcdefghijklmnopqrstuvwxyz";
	size_t n = strlen(path);
	int tries, fd = -1, i, saved;
	FILE *f;

	*tmp = malloc(n + sizeof(".tmpXXXXXX"));
	if (!*tmp)
		return NULL;
	memcpy(*tmp, path, n);
	memcpy(*tmp + n, ".tmp", 4);
	(*tmp)[n + 10] = '\0';
	for (tries = 0; tries < 100 && fd < 0; tries++) {
		uint8_t rnd[6];

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			break;
		for (i = 0; i < 6; i++)
			(*tmp)[n + 4 + i] = digits[rnd[i] % 36];
		fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
		if (fd < 0 && errno != EEXIST)
			break;
	}
	f = fd >= 0 ? fdopen(fd, "wb") : NULL;
	if (f)
		return f;
	saved = errno;
	if (fd >= 0) {
		close(fd);
		unlink(*tmp);
	}
	free(*tmp);
	*tmp = NULL;
	errno = saved;
	return NULL;
}

static void writer_free(struct mct_writer *w)
{
	mct_zstd_writer_free(w->z);
	mct_bin_writer_free(w->bin);
	free(w->path);
	free(w->tmp);
	free(w);
}

static struct mct_writer *writer_new(FILE *f, enum mct_encoding enc)
{
	struct mct_writer *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->f = f;
	w->enc = enc;
	if (enc != MCT_ENC_TEXT) {
		w->bin = mct_bin_writer_new();
		if (!w->bin)
			goto fail;
	}
	if (enc == MCT_ENC_ZSTD) {
		w->z = mct_zstd_writer_new();
		if (!w->z)
			goto fail;
	}
	return w;
fail:
	writer_free(w);
	return NULL;
}

struct mct_writer *mct_writer_stream(FILE *f, enum mct_encoding enc)
{
	return enc <= MCT_ENC_ZSTD ? writer_new(f, enc) : NULL;
}

struct mct_writer *mct_writer_open(const char *path, enum mct_encoding enc,
				   char *err, size_t errlen)
{
	struct mct_writer *w;
	char *tmp, *copy;
	FILE *f;

	if (!strcmp(path, "-"))
		return mct_writer_stream(stdout, enc);
	f = create_tmp(path, &tmp);
	if (!f) {
		snprintf(err, errlen, "%s: cannot create %s.tmpXXXXXX: %s",
			 path, path, strerror(errno));
		return NULL;
	}
	w = mct_writer_stream(f, enc);
	copy = strdup(path);
	if (!w || !copy) {
		snprintf(err, errlen, "%s: out of memory", path);
		free(copy);
		if (w)
			writer_free(w);
		fclose(f);
		unlink(tmp);
		free(tmp);
		return NULL;
	}
	w->tmp = tmp;
	w->path = copy;
	return w;
}

int mct_sink_write(struct mct_writer *w, const void *p, size_t n)
{
	if (w->failed)
		return -1;
	if (w->z ? mct_zstd_write(w->z, w->f, p, n)
		 : fwrite(p, 1, n, w->f) != n)
		w->failed = true;
	return w->failed ? -1 : 0;
}

static bool header_ok(const struct mct_header *h)
{
	const char *s[] = { h->name, h->kernel, h->arch };
	size_t i;

	for (i = 0; i < 3; i++)
		if (s[i] && mct_str_problem(s[i]))
			return false;
	return h->source <= MCT_SOURCE_RECORDED;
}

int mct_write_header(struct mct_writer *w, const struct mct_header *h)
{
	if (w->header_done || !header_ok(h)) {
		errno = EINVAL;
		return -1;
	}
	w->header_done = true;
	return w->enc == MCT_ENC_TEXT ? mct_text_write_header(w, h)
				      : mct_bin_write_header(w, h);
}

static bool expect_ok(const struct mct_event *ev)
{
	switch (ev->kind) {
	case MCT_COW:
		return ev->expect <= MCT_EXPECT_COPY;
	case MCT_QUERY:
		return ev->expect == MCT_EXPECT_NONE ||
		       ev->expect == MCT_EXPECT_SHARED ||
		       ev->expect == MCT_EXPECT_EXCLUSIVE;
	default:
		return true;
	}
}

/* mmid: each slot names an MM exactly when it is held by one. */
static bool mmid_ok(const struct mct_event *ev)
{
	const uint32_t mm[2] = { ev->mm, ev->mm2 };

	for (int i = 0; i < 2; i++)
		if (ev->slot[i] >= MCT_NR_MMID_SLOTS ||
		    (ev->slot[i] == MCT_MMID_MM) != (mm[i] != MCT_NO_ID))
			return false;
	return ev->shared <= 1;
}

/* Can both encodings say this event? */
static bool event_ok(const struct mct_event *ev)
{
	bool rmap = ev->kind == MCT_MAP || ev->kind == MCT_UNMAP;

	if (ev->kind < MCT_MM || ev->kind >= MCT_NR_KINDS)
		return false;
	if (ev->kind == MCT_MMID && !mmid_ok(ev))
		return false;
	if (rmap && !(ev->flags & MCT_F_NO_RANGE) &&
	    (!ev->nr || ev->first + (ev->nr - 1) < ev->first))
		return false;
	if (ev->kind == MCT_MM && ev->comm && mct_str_problem(ev->comm))
		return false;
	return ev->level < MCT_NR_LEVELS && ev->type < MCT_NR_FTYPES &&
	       ev->order <= MCT_MAX_ORDER && expect_ok(ev) &&
	       (ev->kind != MCT_REF || ev->delta);
}

/* The names of the identifiers ev uses; -1 when one is missing or bad. */
static int event_names(const struct mct_event *ev, const struct mct_names *nm,
		       const char *names[MCT_NR_SLOTS])
{
	int s;

	for (s = 0; s < MCT_NR_SLOTS; s++) {
		uint32_t id = mct_slot_id(ev, s);
		bool want = (slots_required[ev->kind] & 1u << s) ||
			    ((slots_optional[ev->kind] & 1u << s) &&
			     id != MCT_NO_ID);

		names[s] =
			want ? nm->name(nm->ctx, mct_slot_space[s], id) : NULL;
		if (want &&
		    (!names[s] || !mct_valid_ident(names[s], strlen(names[s]))))
			return -1;
	}
	return 0;
}

int mct_write_event(struct mct_writer *w, const struct mct_event *ev,
		    const struct mct_names *names)
{
	const char *nm[MCT_NR_SLOTS];

	if (!w->header_done || !event_ok(ev) || event_names(ev, names, nm)) {
		errno = EINVAL;
		return -1;
	}
	return w->enc == MCT_ENC_TEXT ? mct_text_write_event(w, ev, nm)
				      : mct_bin_write_event(w, ev, nm);
}

int mct_writer_close(struct mct_writer *w)
{
	bool ok = w->header_done && !w->failed;

	if (!w->header_done)
		errno = EINVAL;
	if (ok && w->z)
		ok = !mct_zstd_end(w->z, w->f);
	ok = !fflush(w->f) && !ferror(w->f) && ok;
	if (w->tmp) {
		ok = !fsync(fileno(w->f)) && ok;
		ok = !fclose(w->f) && ok;
		ok = ok && !rename(w->tmp, w->path);
		if (!ok)
			unlink(w->tmp);
	}
	writer_free(w);
	return ok ? 0 : -1;
}

void mct_writer_abort(struct mct_writer *w)
{
	if (!w)
		return;
	if (w->tmp) {
		fclose(w->f);
		unlink(w->tmp);
	}
	writer_free(w);
}
