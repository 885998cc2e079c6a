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
 *
 * The first step is a pipeline of three threads, which keeps two cores
 * busy: the caller's reads and checks the events, an encoder re-encodes
 * them, and the chunker's thread hashes, compresses and spools the frames
 * (see "the pipeline" below for how failures are ordered).
 */
#include "ingest.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "mapcountd.h"
#include "metrics.h"
#include "rcache.h"
#include "store.h"
#include "world.h"

#define CHUNK	  (1u << 20) /* raw bytes of canonical binary per frame */
#define ZST_LEVEL 3
#define NR_RAW	  4    /* chunk buffers between encoder and compressor */
#define BATCH	  8192 /* events handed from the checker to the encoder */
#define NR_BATCH  6
/* uploads from which on the steps run on threads of their own */
#define PIPE_MIN_BYTES (256u << 10)
#define PIPE_MIN_ZST   (16u << 10)

/* A bounded FIFO of pointers between two threads. */
#define QCAP 8

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	void *item[QCAP];
	unsigned int head, n;
	bool closed;
};

static void q_init(struct queue *q)
{
	memset(q, 0, sizeof(*q));
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
}

static void q_destroy(struct queue *q)
{
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

static void q_push(struct queue *q, void *x)
{
	pthread_mutex_lock(&q->lock);
	while (q->n == QCAP)
		pthread_cond_wait(&q->cond, &q->lock);
	q->item[(q->head + q->n++) % QCAP] = x;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* The oldest item; NULL once the queue is closed and empty. */
static void *q_pop(struct queue *q)
{
	void *x = NULL;

	pthread_mutex_lock(&q->lock);
	while (!q->n && !q->closed)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->n) {
		x = q->item[q->head];
		q->head = (q->head + 1) % QCAP;
		q->n--;
		pthread_cond_broadcast(&q->cond);
	}
	pthread_mutex_unlock(&q->lock);
	return x;
}

static void q_close(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->closed = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

struct frame {
	uint64_t off, csize, rawsize;
};

struct rawbuf {
	uint8_t *p;
	size_t len;
};

/*
 * The canonical binary, cut into CHUNK-byte frames: the encoder fills raw
 * buffers (chunk_write), the compressor hashes, compresses and spools them
 * in order, and records the frames.
 */
struct chunker {
	/* encoder side */
	struct rawbuf *cur;
	uint64_t total_raw;
	bool discard; /* giving up: what is still written is dropped */
	/* compressor side */
	ZSTD_CCtx *cctx;
	EVP_MD_CTX *md;
	uint8_t *cbuf;
	size_t ccap;
	int fd; /* the compressed frames */
	uint64_t off;
	struct frame *frames;
	size_t nr, cap;
	int err; /* errno of a failed write to the spool */
	/* between them */
	atomic_bool failed; /* a frame could not be compressed or spooled */
	struct queue full, empty;
	struct rawbuf raw[NR_RAW];
	pthread_t thread;
	bool running;
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

/* Hash, compress and spool one frame (the compressor's thread). */
static int flush_frame(struct chunker *c, const struct rawbuf *b)
{
	size_t n;

	if (EVP_DigestUpdate(c->md, b->p, b->len) != 1)
		return -1;
	n = ZSTD_compress2(c->cctx, c->cbuf, c->ccap, b->p, b->len);
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
	c->frames[c->nr++] = (struct frame){ c->off, n, b->len };
	c->off += n;
	return 0;
}

static void *compressor(void *arg)
{
	struct chunker *c = arg;
	struct rawbuf *b;

	while ((b = q_pop(&c->full))) {
		if (!atomic_load(&c->failed) && flush_frame(c, b))
			atomic_store(&c->failed, true);
		b->len = 0;
		q_push(&c->empty, b);
	}
	return NULL;
}

/* Hand the current buffer to the compressor, if it holds anything (or,
 * without a compressor thread, compress it here). */
static int chunk_flush(struct chunker *c)
{
	if (!c->cur->len)
		return 0;
	if (!c->running) {
		if (atomic_load(&c->failed) || flush_frame(c, c->cur)) {
			atomic_store(&c->failed, true);
			return -1;
		}
		c->cur->len = 0;
		return 0;
	}
	q_push(&c->full, c->cur);
	c->cur = q_pop(&c->empty);
	return c->cur ? 0 : -1;
}

static ssize_t chunk_write(void *cookie, const char *p, size_t n)
{
	struct chunker *c = cookie;
	size_t done = 0;

	if (c->discard)
		return (ssize_t)n;
	if (atomic_load(&c->failed))
		return -1;
	c->total_raw += n;
	while (done < n) {
		size_t k = CHUNK - c->cur->len;

		if (k > n - done)
			k = n - done;
		memcpy(c->cur->p + c->cur->len, p + done, k);
		c->cur->len += k;
		done += k;
		if (c->cur->len == CHUNK && chunk_flush(c))
			return -1;
	}
	return (ssize_t)n;
}

static int chunker_init(struct chunker *c)
{
	memset(c, 0, sizeof(*c));
	q_init(&c->full);
	q_init(&c->empty);
	c->fd = ingest_tmpfile();
	c->err = c->fd < 0 ? errno : 0;
	c->cctx = ZSTD_createCCtx();
	c->md = EVP_MD_CTX_new();
	c->ccap = ZSTD_compressBound(CHUNK);
	c->cbuf = malloc(c->ccap);
	if (c->fd < 0 || !c->cctx || !c->md || !c->cbuf ||
	    EVP_DigestInit_ex(c->md, EVP_sha256(), NULL) != 1)
		return -1;
	c->raw[0].p = malloc(CHUNK);
	if (!c->raw[0].p)
		return -1;
	c->cur = &c->raw[0];
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_compressionLevel, ZST_LEVEL);
	ZSTD_CCtx_setParameter(c->cctx, ZSTD_c_checksumFlag, 1);
	return 0;
}

/* Compress on a thread of its own from now on: 0, or -1 (then inline). */
static int chunker_thread(struct chunker *c)
{
	for (int i = 1; i < NR_RAW; i++) {
		c->raw[i].p = malloc(CHUNK);
		if (!c->raw[i].p)
			return -1;
	}
	if (pthread_create(&c->thread, NULL, compressor, c))
		return -1;
	for (int i = 1; i < NR_RAW; i++)
		q_push(&c->empty, &c->raw[i]);
	c->running = true;
	return 0;
}

/* The last partial frame too when flush; wait for the compressor. */
static void chunker_finish(struct chunker *c, bool flush)
{
	if (flush && c->cur && chunk_flush(c))
		atomic_store(&c->failed, true);
	if (!c->running)
		return;
	q_close(&c->full);
	pthread_join(c->thread, NULL);
	c->running = false;
}

static void chunker_free(struct chunker *c)
{
	chunker_finish(c, false);
	if (c->fd >= 0)
		close(c->fd);
	ZSTD_freeCCtx(c->cctx);
	EVP_MD_CTX_free(c->md);
	for (int i = 0; i < NR_RAW; i++)
		free(c->raw[i].p);
	free(c->cbuf);
	free(c->frames);
	q_destroy(&c->full);
	q_destroy(&c->empty);
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
		if (id) {
			store_touch(RC_SCOPE_LIST);
			store_touch(id);
		}
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
static void event_error(char *buf, size_t len, const struct mct_pos *pos,
			const char *name, const struct mct_event *ev,
			const char *msg)
{
	if (pos->line)
		snprintf(buf, len, "%s:%" PRIu64 ":%" PRIu64 ": %s: %s", name,
			 pos->line, pos->col, mct_kind_name(ev->kind), msg);
	else
		snprintf(buf, len, "%s: byte %" PRIu64 ": %s: %s", name,
			 pos->offset, mct_kind_name(ev->kind), msg);
}

/* ---- the pipeline: checker -> encoder -> compressor ---- */

/*
 * The thread of the upload reads and checks the events; an encoder thread
 * re-encodes them as canonical binary, and the chunker's thread hashes,
 * compresses and spools that.  Events go to the encoder in batches, with
 * the names the reader learnt meanwhile (the reader's own table grows while
 * the encoder would read it) and the comm strings (valid until the next
 * event only).  The outcome is the one of doing it all in one loop: the
 * first failure in event order wins, and a spool failure is never later
 * than a failure in the events that follow it.
 */
struct name_def {
	uint32_t space, id, off; /* off: into the batch's text */
};

struct batch {
	struct mct_event ev[BATCH];
	struct mct_pos pos[BATCH];
	uint32_t comm[BATCH]; /* into text, or UINT32_MAX */
	uint32_t nev;
	struct name_def *names;
	uint32_t nr_names, cap_names;
	char *text;
	size_t text_len, text_cap;
};

/* A name space of the encoder: the names by id, in one growing buffer. */
struct names_tab {
	uint32_t *off;
	uint32_t nr, cap;
	char *text;
	size_t len, tcap;
};

enum enc_error { ENC_OK, ENC_OOM, ENC_HEADER, ENC_EVENT, ENC_SPOOL };

struct pipe {
	const char *display;
	const struct mct_header *header;
	struct chunker *c;
	struct queue full, empty;
	struct batch *batch[NR_BATCH];
	atomic_bool stop; /* the encoder failed: stop reading */
	bool checked;	  /* every event read and checked (set before the
			     full queue is closed) */
	enum enc_error err;
	char msg[1024];
	struct names_tab tab[MCT_NR_SPACES];
	struct mct_writer *w;
	FILE *cf;
};

/* len bytes of s into buf at *used: the offset, or UINT32_MAX. */
static uint32_t text_add(char **buf, size_t *used, size_t *cap, const char *s)
{
	size_t n = strlen(s) + 1;
	uint32_t off = (uint32_t)*used;

	if (*used + n > UINT32_MAX)
		return UINT32_MAX;
	if (*used + n > *cap) {
		size_t nc = *cap ? 2 * *cap : 4096;
		char *b;

		while (nc < *used + n)
			nc *= 2;
		b = realloc(*buf, nc);
		if (!b)
			return UINT32_MAX;
		*buf = b;
		*cap = nc;
	}
	memcpy(*buf + *used, s, n);
	*used += n;
	return off;
}

static int batch_name(struct batch *b, uint32_t space, uint32_t id,
		      const char *s)
{
	uint32_t off =
		text_add(&b->text, &b->text_len, &b->text_cap, s ? s : "");

	if (off == UINT32_MAX)
		return -1;
	if (b->nr_names == b->cap_names) {
		uint32_t n = b->cap_names ? 2 * b->cap_names : 1024;
		struct name_def *d = realloc(b->names, n * sizeof(*d));

		if (!d)
			return -1;
		b->names = d;
		b->cap_names = n;
	}
	b->names[b->nr_names++] = (struct name_def){ space, id, off };
	return 0;
}

static const char *tab_name(void *ctx, enum mct_space space, uint32_t id)
{
	const struct names_tab *t = &((struct pipe *)ctx)->tab[space];

	return space < MCT_NR_SPACES && id < t->nr ? t->text + t->off[id]
						   : NULL;
}

static int tab_add(struct names_tab *t, uint32_t id, const char *s)
{
	uint32_t off;

	if (id != t->nr)
		return -1; /* names come in the order of their ids */
	off = text_add(&t->text, &t->len, &t->tcap, s);
	if (off == UINT32_MAX)
		return -1;
	if (t->nr == t->cap) {
		uint32_t n = t->cap ? 2 * t->cap : 1024;
		uint32_t *o = realloc(t->off, n * sizeof(*o));

		if (!o)
			return -1;
		t->off = o;
		t->cap = n;
	}
	t->off[t->nr++] = off;
	return 0;
}

static void enc_fail(struct pipe *P, enum enc_error e)
{
	P->err = e;
	atomic_store(&P->stop, true);
}

/* The writer of the canonical binary, and its header. */
static void enc_start(struct pipe *P)
{
	P->cf = fopencookie(P->c, "w",
			    (cookie_io_functions_t){ .write = chunk_write });
	P->w = P->cf ? mct_writer_stream(P->cf, MCT_ENC_BINARY) : NULL;
	if (!P->w) {
		enc_fail(P, ENC_OOM);
		return;
	}
	setvbuf(P->cf, NULL, _IOFBF, 256 * 1024);
	if (mct_write_header(P->w, P->header))
		enc_fail(P,
			 atomic_load(&P->c->failed) ? ENC_SPOOL : ENC_HEADER);
}

/* Re-encode the events of b (nothing once something failed). */
static void enc_batch(struct pipe *P, struct batch *b)
{
	struct mct_names names = { tab_name, P };

	for (uint32_t i = 0; !P->err && i < b->nr_names; i++) {
		const struct name_def *d = &b->names[i];

		if (tab_add(&P->tab[d->space], d->id, b->text + d->off))
			enc_fail(P, ENC_OOM);
	}
	for (uint32_t i = 0; !P->err && i < b->nev; i++) {
		struct mct_event *ev = &b->ev[i];

		ev->comm =
			b->comm[i] == UINT32_MAX ? NULL : b->text + b->comm[i];
		if (!mct_write_event(P->w, ev, &names))
			continue;
		if (atomic_load(&P->c->failed)) {
			enc_fail(P, ENC_SPOOL);
		} else {
			event_error(P->msg, sizeof(P->msg), &b->pos[i],
				    P->display, ev, "cannot be re-encoded");
			enc_fail(P, ENC_EVENT);
		}
	}
}

/* The checker is done: finish the binary if every event was good, and
 * wait for the last frames. */
static void enc_finish(struct pipe *P)
{
	if (!P->err && P->checked) {
		int ret = mct_writer_close(P->w);

		P->w = NULL;
		if (ret || fclose(P->cf))
			P->err = ENC_SPOOL;
		P->cf = NULL;
	}
	if (P->w) {
		P->c->discard = true;
		mct_writer_abort(P->w);
		P->w = NULL;
	}
	if (P->cf) {
		P->c->discard = true;
		fclose(P->cf);
		P->cf = NULL;
	}
	chunker_finish(P->c, !P->err && P->checked);
}

static void *encoder(void *arg)
{
	struct pipe *P = arg;
	struct batch *b;

	enc_start(P);
	while ((b = q_pop(&P->full))) {
		enc_batch(P, b);
		q_push(&P->empty, b);
	}
	enc_finish(P);
	return NULL;
}

static void pipe_free(struct pipe *P)
{
	for (int i = 0; i < NR_BATCH; i++) {
		if (P->batch[i]) {
			free(P->batch[i]->names);
			free(P->batch[i]->text);
		}
		free(P->batch[i]);
	}
	for (int i = 0; i < MCT_NR_SPACES; i++) {
		free(P->tab[i].off);
		free(P->tab[i].text);
	}
	q_destroy(&P->full);
	q_destroy(&P->empty);
}

/*
 * Fill b with the next events, each checked by the world; with the names
 * they introduce and their comm strings.  1: b is full, 0: the trace is
 * over, -1: a failure, set in out (b holds the events before it).
 */
static int check_batch(struct mct_reader *r, struct world *wo, struct batch *b,
		       uint32_t *known, const char *display, uint64_t *events,
		       struct ingest_out *out)
{
	char msg[512], err[1024];
	int ret;

	b->nev = b->nr_names = 0;
	b->text_len = 0;
	while (b->nev < BATCH) {
		struct mct_event *ev = &b->ev[b->nev];
		bool oom = false;

		ret = mct_next(r, ev);
		if (ret < 0) {
			fail(out, 400, "bad trace", mct_error(r));
			return -1;
		}
		if (!ret)
			return 0;
		b->pos[b->nev] = *mct_pos(r);
		for (uint32_t s = 0; s < MCT_NR_SPACES; s++)
			for (uint32_t n = mct_nr_names(r, s); known[s] < n;
			     known[s]++)
				oom |= batch_name(b, s, known[s],
						  mct_name(r, s, known[s])) < 0;
		b->comm[b->nev] = UINT32_MAX;
		if (ev->comm) {
			b->comm[b->nev] = text_add(&b->text, &b->text_len,
						   &b->text_cap, ev->comm);
			oom |= b->comm[b->nev] == UINT32_MAX;
		}
		if (oom) {
			fail(out, 500, "internal error", "out of memory");
			return -1;
		}
		if (world_apply(wo, ev, noop, NULL, msg, sizeof(msg))) {
			event_error(err, sizeof(err), &b->pos[b->nev], display,
				    ev, msg);
			fail(out, 400, "bad trace", err);
			return -1;
		}
		b->nev++;
		(*events)++;
	}
	return 1;
}

void ingest_trace(const struct ingest_in *in, struct ingest_out *out)
{
	struct chunker c;
	struct pipe P;
	struct parsed *p = calloc(1, sizeof(*p));
	char err[1024], display[520];
	struct mct_reader *r = NULL;
	struct world *wo = NULL;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint32_t known[MCT_NR_SPACES] = { 0 };
	pthread_t enc;
	bool enc_on = false, threaded, bad = false;
	FILE *f = NULL;
	int fd = -1, ret = 0;

	memset(out, 0, sizeof(*out));
	memset(&P, 0, sizeof(P));
	q_init(&P.full);
	q_init(&P.empty);
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
	/* threads pay off for traces of more than some ten thousand events */
	threaded =
		in->bytes >= PIPE_MIN_BYTES ||
		(mct_encoding(r) == MCT_ENC_ZSTD && in->bytes >= PIPE_MIN_ZST);
	for (int i = 0; i < (threaded ? NR_BATCH : 1); i++) {
		P.batch[i] = calloc(1, sizeof(*P.batch[i]));
		if (!P.batch[i])
			break;
		q_push(&P.empty, P.batch[i]);
	}
	P.display = display;
	P.header = mct_header(r);
	P.c = &c;
	if (!wo || !P.batch[threaded ? NR_BATCH - 1 : 0]) {
		fail(out, 500, "internal error", "out of memory");
		goto done;
	}
	/* without threads (or when they cannot start), the same steps, one
	 * batch after the other */
	if (threaded && !chunker_thread(&c) &&
	    !pthread_create(&enc, NULL, encoder, &P))
		enc_on = true;
	else
		enc_start(&P);
	/* read and check, while the encoder works on the previous batch */
	while (!atomic_load(&P.stop)) {
		struct batch *b = enc_on ? q_pop(&P.empty) : P.batch[0];

		ret = check_batch(r, wo, b, known, display, &p->events, out);
		if (enc_on)
			q_push(&P.full, b);
		else
			enc_batch(&P, b);
		if (ret <= 0)
			break;
	}
	bad = ret < 0;
	P.checked = !ret && !atomic_load(&P.stop);
	if (enc_on) {
		q_close(&P.full);
		pthread_join(enc, NULL);
		enc_on = false;
	} else {
		enc_finish(&P);
	}
	/* what failed first, as one loop would have seen it: a frame
	 * spooled, an event re-encoded, an event checked */
	if (atomic_load(&c.failed) || P.err == ENC_SPOOL) {
		json_decref(out->body);
		goto spool_failed;
	}
	if (P.err) {
		json_decref(out->body);
		if (P.err == ENC_OOM)
			fail(out, 500, "internal error", "out of memory");
		else
			fail(out, 400, "bad trace",
			     P.err == ENC_HEADER
				     ? "the header cannot be re-encoded"
				     : P.msg);
		goto done;
	}
	if (bad)
		goto done;
	if (EVP_DigestFinal_ex(c.md, md, &mdlen) != 1)
		goto spool_failed;
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
	if (enc_on) {
		atomic_store(&P.stop, true);
		q_close(&P.full);
		pthread_join(enc, NULL);
	}
	world_free(wo);
	mct_close(r);
	if (f)
		fclose(f);
	chunker_free(&c);
done_nochunker:
	pipe_free(&P);
	if (out->status == 400)
		metrics_ingest("bad_trace", in->bytes, 0, 0, 0);
	free(p);
}
