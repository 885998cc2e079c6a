// SPDX-License-Identifier: MIT
/*
 * ingest.c - parse, validate, re-encode, compress and store a trace.
 *
 * The work happens in two steps so that the write lock is held only for
 * the inserts: first the uploaded bytes are parsed and checked, and the
 * canonical binary is hashed and compressed (CHUNK bytes a zstd frame)
 * into an anonymous temporary file; then one write transaction checks the
 * hash for a duplicate and inserts the trace, its chunks and its summary.
 * A failure anywhere before COMMIT leaves the database as it was.
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "mapcountd.h"
#include "metrics.h"
#include "store.h"
#include "world.h"

#define CHUNK	  (1u << 20) /* raw bytes of canonical binary per frame */
#define ZST_LEVEL 6

struct frame {
	uint64_t off, csize, rawsize;
};

struct chunker {
	ZSTD_CCtx *cctx;
	EVP_MD_CTX *md;
	uint8_t *raw;
	size_t rawlen;
	uint8_t *cbuf;
	size_t ccap;
	int fd; /* the compressed frames */
	uint64_t off, total_raw;
	struct frame *frames;
	size_t nr, cap;
	bool failed;
	int err; /* errno of a failed write to the spool */
};

int ingest_tmpfile(void)
{
	char *copy = strdup(cfg.db_path ? cfg.db_path : "./x");
	const char *dir = copy ? dirname(copy) : ".";
	int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0) { /* a file system without O_TMPFILE */
		char tmpl[4096];

		snprintf(tmpl, sizeof(tmpl), "%s/.mapcountd-XXXXXX", dir);
		fd = mkostemp(tmpl, O_CLOEXEC);
		if (fd >= 0)
			unlink(tmpl);
	}
	free(copy);
	return fd;
}

static int write_all(int fd, const void *p, size_t n)
{
	const char *c = p;

	while (n) {
		ssize_t w = write(fd, c, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		c += w;
		n -= (size_t)w;
	}
	return 0;
}

static int flush_frame(struct chunker *c)
{
	size_t n;

	if (!c->rawlen)
		return 0;
	n = ZSTD_compress2(c->cctx, c->cbuf, c->ccap, c->raw, c->rawlen);
	if (ZSTD_isError(n))
		return -1;
	if (write_all(c->fd, c->cbuf, n)) {
		c->err = errno;
		return -1;
	}
	if (c->nr == c->cap) {
		struct frame *f;

		c->cap = c->cap ? 2 * c->cap : 16;
		f = realloc(c->frames, c->cap * sizeof(*f));
		if (!f)
			return -1;
		c->frames = f;
	}
	c->frames[c->nr++] = (struct frame){ c->off, n, c->rawlen };
	c->off += n;
	c->rawlen = 0;
	return 0;
}

static ssize_t chunk_write(void *cookie, const char *p, size_t n)
{
	struct chunker *c = cookie;
	size_t done = 0;

	if (c->failed)
		return -1;
	if (EVP_DigestUpdate(c->md, p, n) != 1) {
		c->failed = true;
		return -1;
	}
	c->total_raw += n;
	while (done < n) {
		size_t k = CHUNK - c->rawlen;

		if (k > n - done)
			k = n - done;
		memcpy(c->raw + c->rawlen, p + done, k);
		c->rawlen += k;
		done += k;
		if (c->rawlen == CHUNK && flush_frame(c)) {
			c->failed = true;
			return -1;
		}
	}
	return (ssize_t)n;
}

static int chunker_init(struct chunker *c)
{
	memset(c, 0, sizeof(*c));
	c->fd = ingest_tmpfile();
	c->err = c->fd < 0 ? errno : 0;
	c->cctx = ZSTD_createCCtx();
	c->md = EVP_MD_CTX_new();
	c->raw = malloc(CHUNK);
	c->ccap = ZSTD_compressBound(CHUNK);
	c->cbuf = malloc(c->ccap);
	if (c->fd < 0 || !c->cctx || !c->md || !c->raw || !c->cbuf ||
	    EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		return -1;
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, ZST_LEVEL);
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
	return 0;
}

static void chunker_free(struct chunker *c)
{
	if (c->fd >= 0)
		close(c->fd);
	ZSTD_freeCCtx(c->cctx);
	EVP_MD_CTX_free(c->md);
	free(c->raw);
	free(c->cbuf);
	free(c->frames);
}

static void noop(void *ctx, const struct world_prim *p)
{
}

static void fail(struct ingest_out *out, unsigned int status, const char *error,
		 const char *detail)
{
	out->status = status;
	out->body = json_error_body(error, detail);
}

static const char *encoding_name(enum mct_encoding e)
{
	return e == MCT_ENC_ZSTD     ? "zst"
	       : e == MCT_ENC_BINARY ? "binary"
				     : "text";
}

static const char *source_name(enum mct_source s)
{
	return s == MCT_SOURCE_SYNTHETIC  ? "synthetic"
	       : s == MCT_SOURCE_RECORDED ? "recorded"
					  : NULL;
}

/* A file name without directories and without its .mct* extension. */
static void base_name(const char *path, char *buf, size_t len)
{
	const char *b = strrchr(path, '/');
	char *dot;

	snprintf(buf, len, "%s", b ? b + 1 : path);
	dot = strstr(buf, ".mct");
	if (dot && dot != buf)
		*dot = 0;
}

static int bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	return s ? sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT)
		 : sqlite3_bind_null(st, i);
}

struct parsed {
	char sha[65];
	char name[520];
	const char *encoding;
	struct mct_header h;
	struct world_summary sum;
	uint64_t events;
};

static int64_t existing(sqlite3 *db, const char *sha)
{
	sqlite3_stmt *st;
	int64_t id = 0;

	if (sqlite3_prepare_v2(db, "SELECT id FROM traces WHERE sha256 = ?", -1,
			       &st, NULL))
		return -1;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		id = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return id;
}

/* The inserts, in the caller's transaction: the new id, or 0 on error. */
static int64_t insert(sqlite3 *db, const struct parsed *p,
		      const struct chunker *c, uint64_t upload_bytes)
{
	sqlite3_stmt *st = NULL;
	char now[32];
	int64_t id = 0;
	uint8_t *buf = NULL;
	uint64_t mms = p->sum.mms, folios = 0;
	int rc;

	for (int o = 0; o <= MCT_MAX_ORDER; o++)
		for (int t = 0; t < MCT_NR_FTYPES; t++)
			folios += p->sum.folios_by_order[o][t];
	rc = sqlite3_prepare_v2(
		db,
		"INSERT INTO traces (sha256, name, uploaded, encoding, "
		"upload_bytes, binary_bytes, stored_bytes, events, mms, "
		"folios, format_version, header_name, source, kernel, arch, "
		"page_size, pmd_order, pud_order) VALUES (?, ?, ?, ?, ?, ?, "
		"?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		-1, &st, NULL);
	if (rc)
		goto fail;
	sqlite3_bind_text(st, 1, p->sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, srv_now_iso(now, sizeof(now)), -1,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 4, p->encoding, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, (sqlite3_int64)upload_bytes);
	sqlite3_bind_int64(st, 6, (sqlite3_int64)c->total_raw);
	sqlite3_bind_int64(st, 7, (sqlite3_int64)c->off);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)p->events);
	sqlite3_bind_int64(st, 9, (sqlite3_int64)mms);
	sqlite3_bind_int64(st, 10, (sqlite3_int64)folios);
	sqlite3_bind_int64(st, 11, p->h.version);
	bind_text_or_null(st, 12, p->h.name);
	bind_text_or_null(st, 13, source_name(p->h.source));
	bind_text_or_null(st, 14, p->h.kernel);
	bind_text_or_null(st, 15, p->h.arch);
	sqlite3_bind_int64(st, 16, p->h.page_size);
	sqlite3_bind_int64(st, 17, p->h.pmd_order);
	sqlite3_bind_int64(st, 18, p->h.pud_order);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto fail;
	id = sqlite3_last_insert_rowid(db);
	sqlite3_finalize(st);

	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO trace_chunks (trace_id, seq, "
			       "raw_bytes, data) VALUES (?, ?, ?, ?)",
			       -1, &st, NULL))
		goto fail;
	for (size_t i = 0; i < c->nr; i++) {
		const struct frame *f = &c->frames[i];
		uint8_t *b = realloc(buf, f->csize ? f->csize : 1);

		if (!b)
			goto fail;
		buf = b;
		if (pread(c->fd, buf, f->csize, (off_t)f->off) !=
		    (ssize_t)f->csize)
			goto fail;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)i);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)f->rawsize);
		sqlite3_bind_blob64(st, 4, buf, f->csize, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);

	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO trace_events (trace_id, kind, "
			       "count) VALUES (?, ?, ?)",
			       -1, &st, NULL))
		goto fail;
	for (int k = 1; k < MCT_NR_KINDS; k++) {
		if (!p->sum.events[k])
			continue;
		sqlite3_reset(st);
		sqlite3_bind_int64(st, 1, id);
		sqlite3_bind_text(st, 2, mct_kind_name(k), -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, (sqlite3_int64)p->sum.events[k]);
		if (sqlite3_step(st) != SQLITE_DONE)
			goto fail;
	}
	sqlite3_finalize(st);

	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO trace_folios (trace_id, "
			       "folio_order, type, count) VALUES (?, ?, ?, ?)",
			       -1, &st, NULL))
		goto fail;
	for (int o = 0; o <= MCT_MAX_ORDER; o++)
		for (int t = 0; t < MCT_NR_FTYPES; t++) {
			if (!p->sum.folios_by_order[o][t])
				continue;
			sqlite3_reset(st);
			sqlite3_bind_int64(st, 1, id);
			sqlite3_bind_int64(st, 2, o);
			sqlite3_bind_text(st, 3, mct_ftype_name(t), -1,
					  SQLITE_STATIC);
			sqlite3_bind_int64(
				st, 4,
				(sqlite3_int64)p->sum.folios_by_order[o][t]);
			if (sqlite3_step(st) != SQLITE_DONE)
				goto fail;
		}
	goto out;
fail:
	store_note(db);
	srv_log("ingest: insert: %s", sqlite3_errmsg(db));
	id = 0;
out:
	sqlite3_finalize(st);
	free(buf);
	return id;
}

/* Store the parsed trace: sets out (201, 200, or 500). */
static void store(const struct parsed *p, const struct chunker *c,
		  uint64_t upload_bytes, struct ingest_out *out)
{
	sqlite3 *db = store_write_begin();
	const char *why;
	unsigned int st;
	char msg[256];
	int64_t id;
	bool created = false;

	if (!db) {
		st = store_error_status(&why);
		snprintf(msg, sizeof(msg), "cannot store the trace: %s", why);
		fail(out, st, st == 500 ? "database error" : status_error(st),
		     msg);
		metrics_ingest("error", upload_bytes, 0, 0, 0);
		return;
	}
	id = existing(db, p->sha);
	if (id > 0) {
		store_write_rollback(db);
	} else {
		id = id ? 0 : insert(db, p, c, upload_bytes);
		if (!id) {
			store_write_rollback(db);
		} else if (store_write_commit(db)) {
			id = 0;
		}
		created = id > 0;
	}
	if (!id) {
		st = store_error_status(&why);
		snprintf(msg, sizeof(msg), "cannot store the trace: %s", why);
		fail(out, st, st == 500 ? "database error" : status_error(st),
		     msg);
		metrics_ingest("error", upload_bytes, 0, 0, 0);
		return;
	}
	db = store_get();
	out->body = db ? store_trace_json(db, id) : NULL;
	store_put(db);
	if (!out->body) {
		fail(out, 500, "database error", "cannot read the trace back");
		return;
	}
	out->id = id;
	out->status = created ? 201 : 200;
	json_object_set_new(out->body, "created", json_boolean(created));
	metrics_ingest(created ? "created" : "duplicate", upload_bytes,
		       created ? c->total_raw : 0, created ? c->off : 0,
		       created ? p->events : 0);
}

/* "NAME:LINE:COL: kind: msg" or "NAME: byte N: kind: msg" */
static void event_error(char *buf, size_t len, const struct mct_reader *r,
			const char *name, const struct mct_event *ev,
			const char *msg)
{
	const struct mct_pos *pos = mct_pos(r);

	if (pos->line)
		snprintf(buf, len, "%s:%" PRIu64 ":%" PRIu64 ": %s: %s", name,
			 pos->line, pos->col, mct_kind_name(ev->kind), msg);
	else
		snprintf(buf, len, "%s: byte %" PRIu64 ": %s: %s", name,
			 pos->offset, mct_kind_name(ev->kind), msg);
}

void ingest_trace(const struct ingest_in *in, struct ingest_out *out)
{
	struct chunker c;
	struct parsed *p = calloc(1, sizeof(*p));
	char err[1024], display[520];
	struct mct_reader *r = NULL;
	struct mct_writer *w = NULL;
	struct world *wo = NULL;
	struct mct_event ev;
	struct mct_names names;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	FILE *f = NULL, *cf = NULL;
	int fd = -1, ret;

	memset(out, 0, sizeof(*out));
	if (in->name && *in->name)
		snprintf(display, sizeof(display), "%s", in->name);
	else if (in->filename && *in->filename)
		base_name(in->filename, display, sizeof(display));
	else
		snprintf(display, sizeof(display), "upload");
	if (!p) {
		fail(out, 500, "internal error", "out of memory");
		goto done_nochunker;
	}
	if (chunker_init(&c)) {
		unsigned int st = c.err ? errno_status(c.err) : 500;

		snprintf(err, sizeof(err), "cannot create a spool file: %s",
			 c.err ? strerror(c.err) : "out of memory");
		fail(out, st, status_error(st), err);
		goto done;
	}
	fd = dup(in->fd);
	if (fd < 0 || lseek(fd, 0, SEEK_SET) < 0 || !(f = fdopen(fd, "rb"))) {
		if (fd >= 0)
			close(fd);
		fail(out, 500, "internal error", "cannot read the upload");
		goto done;
	}
	r = mct_open_stream(f, display, err, sizeof(err));
	if (!r) {
		fail(out, 400, "bad trace", err);
		goto done;
	}
	wo = world_new(mct_header(r));
	cf = fopencookie(&c, "w",
			 (cookie_io_functions_t){ .write = chunk_write });
	w = cf ? mct_writer_stream(cf, MCT_ENC_BINARY) : NULL;
	if (!wo || !w) {
		fail(out, 500, "internal error", "out of memory");
		goto done;
	}
	setvbuf(cf, NULL, _IOFBF, 256 * 1024);
	if (mct_write_header(w, mct_header(r))) {
		if (c.failed)
			goto spool_failed;
		fail(out, 400, "bad trace", "the header cannot be re-encoded");
		goto done;
	}
	names = mct_reader_names(r);
	while ((ret = mct_next(r, &ev)) > 0) {
		char msg[512];

		if (world_apply(wo, &ev, noop, NULL, msg, sizeof(msg))) {
			event_error(err, sizeof(err), r, display, &ev, msg);
			fail(out, 400, "bad trace", err);
			goto done;
		}
		if (mct_write_event(w, &ev, &names)) {
			if (c.failed)
				goto spool_failed;
			event_error(err, sizeof(err), r, display, &ev,
				    "cannot be re-encoded");
			fail(out, 400, "bad trace", err);
			goto done;
		}
		p->events++;
	}
	if (ret < 0) {
		fail(out, 400, "bad trace", mct_error(r));
		goto done;
	}
	ret = mct_writer_close(w);
	w = NULL;
	if (ret || fclose(cf) || c.failed || flush_frame(&c) ||
	    EVP_DigestFinal_ex(c.md, md, &mdlen) != 1) {
		cf = NULL;
		goto spool_failed;
	}
	cf = NULL;
	for (unsigned int i = 0; i < mdlen && i < 32; i++)
		snprintf(p->sha + 2 * i, 3, "%02x", md[i]);
	p->h = *mct_header(r);
	p->sum = *world_summary(wo);
	p->encoding = encoding_name(mct_encoding(r));
	if (in->name && *in->name)
		snprintf(p->name, sizeof(p->name), "%s", in->name);
	else if (p->h.name)
		snprintf(p->name, sizeof(p->name), "%s", p->h.name);
	else if (in->filename && *in->filename)
		base_name(in->filename, p->name, sizeof(p->name));
	else
		snprintf(p->name, sizeof(p->name), "trace-%.12s", p->sha);
	/* names are shown in JSON: valid UTF-8 */
	utf8_repair(display, sizeof(display), p->name);
	snprintf(p->name, sizeof(p->name), "%s", display);
	store(p, &c, in->bytes, out);
	goto done;
spool_failed : {
	/* the canonical binary could not be written: the disk, mostly */
	unsigned int st = c.err ? errno_status(c.err) : 500;

	snprintf(err, sizeof(err), "cannot spool the trace: %s",
		 c.err ? strerror(c.err) : "internal error");
	fail(out, st, status_error(st), err);
}
done:
	if (w)
		mct_writer_abort(w);
	if (cf)
		fclose(cf);
	world_free(wo);
	mct_close(r);
	if (f)
		fclose(f);
	chunker_free(&c);
done_nochunker:
	if (out->status == 400)
		metrics_ingest("bad_trace", in->bytes, 0, 0, 0);
	free(p);
}
