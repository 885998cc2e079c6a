// SPDX-License-Identifier: MIT
/*
 * chunks.c - read stored traces back, for replays and downloads.
 *
 * Every chunk is fetched by its own short query, so a long replay holds no
 * read transaction open (the WAL can be checkpointed meanwhile) and a
 * download never pins more than one chunk in memory.
 */
#include "chunks.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#include "mapcountd.h"

struct csrc {
	int64_t trace_id, seq;
	int64_t nchunks; /* the trace's, when it was opened */
	uint8_t *buf;
	size_t len, pos;
	bool eof, failed;
};

/* Next chunk into s->buf: 0, or -1 at the end or on error. */
static int csrc_next(struct csrc *s)
{
	void *data;
	size_t len;
	int ret;

	if (s->eof)
		return -1;
	ret = store_chunk(s->trace_id, s->seq, &data, &len);
	if (ret) {
		/* a chunk gone before the last one: the trace was deleted
		 * meanwhile; an error, not a shorter trace */
		s->eof = true;
		s->failed = ret < 0 || s->seq < s->nchunks;
		if (s->failed && ret > 0)
			srv_log("trace %lld: chunk %lld of %lld is gone",
				(long long)s->trace_id, (long long)s->seq,
				(long long)s->nchunks);
		return -1;
	}
	free(s->buf);
	s->buf = data;
	s->len = len;
	s->pos = 0;
	s->seq++;
	return 0;
}

static ssize_t cookie_read(void *cookie, char *out, size_t size)
{
	struct csrc *s = cookie;
	size_t n;

	while (s->pos == s->len)
		if (csrc_next(s))
			return s->failed ? -1 : 0;
	n = s->len - s->pos < size ? s->len - s->pos : size;
	memcpy(out, s->buf + s->pos, n);
	s->pos += n;
	return (ssize_t)n;
}

static int cookie_close(void *cookie)
{
	struct csrc *s = cookie;

	free(s->buf);
	free(s);
	return 0;
}

FILE *chunks_fopen(int64_t trace_id)
{
	struct csrc *s = calloc(1, sizeof(*s));
	struct store_trace t;
	FILE *f;

	if (!s)
		return NULL;
	s->trace_id = trace_id;
	if (store_trace_get(trace_id, &t) == 0)
		s->nchunks = t.chunks;
	f = fopencookie(s, "r",
			(cookie_io_functions_t){ .read = cookie_read,
						 .close = cookie_close });
	if (!f)
		free(s);
	return f;
}

struct mct_reader *chunks_reader(int64_t trace_id, const char *display,
				 FILE **f, char *err, size_t errlen)
{
	struct mct_reader *r;

	*f = chunks_fopen(trace_id);
	if (!*f) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r = mct_open_stream(*f, display, err, errlen);
	if (!r) {
		fclose(*f);
		*f = NULL;
	}
	return r;
}

/* ---- downloads ---- */

struct dl {
	struct csrc src;
	const char *format;
	/* binary */
	ZSTD_DCtx *zd;
	ZSTD_inBuffer zin;
	/* text */
	FILE *in, *out;
	struct mct_reader *r;
	struct mct_writer *w;
	struct mct_names names;
	char *tbuf;
	size_t tlen, tpos, tcap;
	bool done;
};

static ssize_t text_sink(void *cookie, const char *p, size_t n)
{
	struct dl *d = cookie;

	if (d->tlen + n > d->tcap) {
		size_t cap = (d->tlen + n) * 2;
		char *b = realloc(d->tbuf, cap);

		if (!b)
			return -1;
		d->tbuf = b;
		d->tcap = cap;
	}
	memcpy(d->tbuf + d->tlen, p, n);
	d->tlen += n;
	return (ssize_t)n;
}

static ssize_t dl_text(struct dl *d, char *buf, size_t max)
{
	struct mct_event ev;
	size_t n;

	while (d->tpos == d->tlen && !d->done) {
		d->tpos = d->tlen = 0;
		for (int i = 0; i < 4096; i++) {
			int ret = mct_next(d->r, &ev);

			if (ret < 0) {
				srv_log("download: %s", mct_error(d->r));
				return MHD_CONTENT_READER_END_WITH_ERROR;
			}
			if (!ret) {
				d->done = true;
				break;
			}
			if (mct_write_event(d->w, &ev, &d->names))
				return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (fflush(d->out))
			return MHD_CONTENT_READER_END_WITH_ERROR;
	}
	if (d->tpos == d->tlen)
		return MHD_CONTENT_READER_END_OF_STREAM;
	n = d->tlen - d->tpos < max ? d->tlen - d->tpos : max;
	memcpy(buf, d->tbuf + d->tpos, n);
	d->tpos += n;
	return (ssize_t)n;
}

static ssize_t dl_binary(struct dl *d, char *buf, size_t max)
{
	for (;;) {
		ZSTD_outBuffer out = { buf, max, 0 };
		size_t ret;

		if (d->zin.pos == d->zin.size) {
			if (csrc_next(&d->src))
				return d->src.failed
					       ? MHD_CONTENT_READER_END_WITH_ERROR
					       : MHD_CONTENT_READER_END_OF_STREAM;
			d->zin = (ZSTD_inBuffer){ d->src.buf, d->src.len, 0 };
		}
		ret = ZSTD_decompressStream(d->zd, &out, &d->zin);
		if (ZSTD_isError(ret)) {
			srv_log("download: zstd: %s", ZSTD_getErrorName(ret));
			return MHD_CONTENT_READER_END_WITH_ERROR;
		}
		if (out.pos)
			return (ssize_t)out.pos;
	}
}

static ssize_t dl_zst(struct dl *d, char *buf, size_t max)
{
	size_t n;

	while (d->src.pos == d->src.len)
		if (csrc_next(&d->src))
			return d->src.failed ? MHD_CONTENT_READER_END_WITH_ERROR
					     : MHD_CONTENT_READER_END_OF_STREAM;
	n = d->src.len - d->src.pos < max ? d->src.len - d->src.pos : max;
	memcpy(buf, d->src.buf + d->src.pos, n);
	d->src.pos += n;
	return (ssize_t)n;
}

static ssize_t dl_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct dl *d = cls;

	if (!strcmp(d->format, "text"))
		return dl_text(d, buf, max);
	if (!strcmp(d->format, "binary"))
		return dl_binary(d, buf, max);
	return dl_zst(d, buf, max);
}

static void dl_free(void *cls)
{
	struct dl *d = cls;

	if (d->w)
		mct_writer_abort(d->w);
	if (d->out)
		fclose(d->out);
	mct_close(d->r);
	if (d->in)
		fclose(d->in);
	ZSTD_freeDCtx(d->zd);
	free(d->tbuf);
	free(d->src.buf);
	free(d);
}

struct MHD_Response *chunks_download(const struct store_trace *t,
				     const char *format)
{
	struct dl *d = calloc(1, sizeof(*d));
	uint64_t size = MHD_SIZE_UNKNOWN;
	struct MHD_Response *resp;
	char err[512];

	if (!d)
		return NULL;
	d->src.trace_id = t->id;
	d->src.nchunks = t->chunks;
	if (!strcmp(format, "text")) {
		d->format = "text";
		d->r = chunks_reader(t->id, t->name, &d->in, err, sizeof(err));
		d->out = fopencookie(
			d, "w", (cookie_io_functions_t){ .write = text_sink });
		if (!d->r || !d->out)
			goto fail;
		d->w = mct_writer_stream(d->out, MCT_ENC_TEXT);
		if (!d->w || mct_write_header(d->w, mct_header(d->r)) ||
		    fflush(d->out))
			goto fail;
		d->names = mct_reader_names(d->r);
	} else if (!strcmp(format, "binary")) {
		d->format = "binary";
		d->zd = ZSTD_createDCtx();
		if (!d->zd)
			goto fail;
		size = t->binary_bytes;
	} else {
		d->format = "zst";
		size = t->stored_bytes;
	}
	resp = MHD_create_response_from_callback(size, 64 * 1024, dl_read, d,
						 dl_free);
	if (!resp)
		goto fail;
	return resp;
fail:
	if (!d->r && d->in)
		srv_log("download: %s", err);
	dl_free(d);
	return NULL;
}
