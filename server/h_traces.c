// SPDX-License-Identifier: MIT
/*
 * h_traces.c - /api/traces: upload, list, show, download, delete.
 *
 * An upload is spooled to an anonymous temporary file as it arrives (raw
 * body, or the file field of a multipart form through libmicrohttpd's
 * post processor), never held whole in memory; --max-upload is enforced
 * on the Content-Length before reading and on the bytes as they come.
 * When the body is complete the connection is suspended and an ingest
 * thread parses, validates and stores the trace; the answer goes out when
 * it resumes the connection.
 */
#include <ctype.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "chunks.h"
#include "http.h"
#include "ingest.h"
#include "jobs.h"
#include "mapcountd.h"
#include "rcache.h"
#include "store.h"

#define NAME_MAX_LEN 512

struct upload {
	struct MHD_Connection *conn;
	int fd;
	uint64_t bytes;	     /* body bytes received */
	uint64_t file_bytes; /* trace bytes spooled */
	struct MHD_PostProcessor *pp;
	bool multipart, too_big, bad_form, write_err, have_file, two_files;
	int write_errno; /* of the failed spool write */
	char *file_key, *filename;
	char *name; /* ?name= or the form's name field */
	size_t name_len;
	bool ingesting;
	atomic_bool done;
	struct ingest_out out;
};

void upload_free(struct upload *up)
{
	if (!up)
		return;
	if (up->pp)
		MHD_destroy_post_processor(up->pp);
	if (up->fd >= 0)
		close(up->fd);
	json_decref(up->out.body);
	free(up->file_key);
	free(up->filename);
	free(up->name);
	free(up);
}

static int spool(struct upload *up, const char *data, size_t n)
{
	while (n) {
		ssize_t w = write(up->fd, data, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			up->write_errno = w < 0 ? errno : ENOSPC;
			return -1;
		}
		data += w;
		n -= (size_t)w;
		up->file_bytes += (uint64_t)w;
	}
	return 0;
}

static enum MHD_Result form_field(void *cls, enum MHD_ValueKind kind,
				  const char *key, const char *filename,
				  const char *content_type,
				  const char *transfer_encoding,
				  const char *data, uint64_t off, size_t size)
{
	struct upload *up = cls;

	if (filename || (key && !strcmp(key, "file"))) {
		if (!up->have_file) {
			up->have_file = true;
			up->file_key = strdup(key ? key : "");
			up->filename = filename ? strdup(filename) : NULL;
		} else if (strcmp(up->file_key, key ? key : "") ||
			   (off == 0 && up->file_bytes && size)) {
			up->two_files = true;
			return MHD_YES;
		}
		if (size && spool(up, data, size))
			up->write_err = true;
		return MHD_YES;
	}
	if (key && !strcmp(key, "name") && size) {
		char *n;

		if (up->name_len + size > NAME_MAX_LEN) {
			up->bad_form = true;
			return MHD_YES;
		}
		n = realloc(up->name, up->name_len + size + 1);
		if (!n)
			return MHD_NO;
		memcpy(n + up->name_len, data, size);
		up->name_len += size;
		n[up->name_len] = 0;
		up->name = n;
	}
	return MHD_YES;
}

/* The media type, lowercased, without parameters. */
static void media_type(const char *ct, char *buf, size_t len)
{
	size_t i = 0;

	while (ct && *ct == ' ')
		ct++;
	for (; ct && *ct && *ct != ';' && *ct != ' ' && i + 1 < len; ct++)
		buf[i++] = (char)tolower((unsigned char)*ct);
	buf[i] = 0;
}

static void ingest_job(void *arg)
{
	struct upload *up = arg;
	struct ingest_in in = { .fd = up->fd,
				.bytes = up->file_bytes,
				.name = up->name,
				.filename = up->filename };

	ingest_trace(&in, &up->out);
	atomic_store(&up->done, true);
	MHD_resume_connection(up->conn);
}

static enum MHD_Result too_big(struct MHD_Connection *c, struct req *rq)
{
	return reply_error(c, rq, 413, "upload too large",
			   "the trace exceeds --max-upload (%llu bytes)",
			   (unsigned long long)cfg.max_upload);
}

static enum MHD_Result upload_begin(struct MHD_Connection *c, struct req *rq)
{
	const char *ct = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	const char *cl = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	const char *name = query_arg(c, "name");
	struct upload *up;
	char mt[128];

	media_type(ct, mt, sizeof(mt));
	if (cl && strtoull(cl, NULL, 10) > cfg.max_upload)
		return too_big(c, rq);
	if (mt[0] && strcmp(mt, "application/x-protobuf") &&
	    strcmp(mt, "application/zstd") && strcmp(mt, "text/plain") &&
	    strcmp(mt, "application/octet-stream") &&
	    strcmp(mt, "multipart/form-data"))
		return reply_error(
			c, rq, 415, "unsupported media type",
			"Content-Type '%s': expected application/x-protobuf, "
			"application/zstd, text/plain, "
			"application/octet-stream or multipart/form-data "
			"(the trace's encoding is detected from its content)",
			mt);
	if (name && strlen(name) > NAME_MAX_LEN)
		return reply_error(c, rq, 400, "bad request",
				   "name: at most %d bytes", NAME_MAX_LEN);
	up = calloc(1, sizeof(*up));
	if (!up)
		return MHD_NO;
	rq->up = up;
	up->conn = c;
	up->fd = ingest_tmpfile();
	if (up->fd < 0) {
		int e = errno;

		return reply_error(
			c, rq, errno_status(e), status_error(errno_status(e)),
			"cannot create a spool file: %s", strerror(e));
	}
	if (name && *name) {
		up->name = strdup(name);
		up->name_len = strlen(name);
	}
	if (!strcmp(mt, "multipart/form-data")) {
		up->multipart = true;
		up->pp =
			MHD_create_post_processor(c, 64 * 1024, form_field, up);
		if (!up->pp)
			return reply_error(c, rq, 400, "bad request",
					   "cannot parse the multipart body "
					   "(boundary missing?)");
	}
	return MHD_YES;
}

enum MHD_Result h_upload(struct MHD_Connection *c, struct req *rq,
			 const char *data, size_t *size)
{
	struct upload *up = rq->up;

	if (rq->status) { /* answered already: drop the rest */
		*size = 0;
		return MHD_YES;
	}
	if (!up)
		return upload_begin(c, rq);
	if (*size) {
		up->bytes += *size;
		if (up->bytes > cfg.max_upload || up->too_big) {
			up->too_big = true;
			*size = 0;
			/* answer at once if libmicrohttpd lets us, else
			 * when the body is over (discarded meanwhile) */
			too_big(c, rq);
			return MHD_YES;
		}
		if (up->multipart) {
			if (MHD_post_process(up->pp, data, *size) != MHD_YES)
				up->bad_form = true;
		} else if (spool(up, data, *size)) {
			up->write_err = true;
		}
		*size = 0;
		return MHD_YES;
	}
	/* the body is complete */
	if (up->ingesting) {
		enum MHD_Result ret;

		if (!atomic_load(&up->done)) /* spurious: still working */
			return MHD_YES;
		ret = reply_json(c, rq, up->out.status, up->out.body);
		up->out.body = NULL;
		return ret;
	}
	if (up->too_big)
		return too_big(c, rq);
	if (up->write_err) {
		unsigned int st = errno_status(up->write_errno);

		/* 507 whatever the cause: it was storage that failed */
		return reply_error(c, rq, st == 500 ? 507 : st,
				   status_error(st == 500 ? 507 : st),
				   "cannot spool the upload: %s",
				   strerror(up->write_errno));
	}
	if (up->multipart && (up->bad_form || up->two_files))
		return reply_error(c, rq, 400, "bad request",
				   up->two_files
					   ? "one trace file per upload"
					   : "bad multipart form (the name "
					     "field is at most 512 bytes)");
	if (up->multipart && !up->have_file)
		return reply_error(c, rq, 400, "bad request",
				   "the multipart form has no file field "
				   "(curl -F file=@TRACE)");
	up->ingesting = true;
	MHD_suspend_connection(c);
	jobs_ingest(ingest_job, up);
	return MHD_YES;
}

enum MHD_Result h_traces_list(struct MHD_Connection *c, struct req *rq)
{
	int64_t limit = query_uint(c, "limit", 50, 1000);
	int64_t offset = query_uint(c, "offset", 0, INT64_MAX / 2);
	json_t *list;

	enum MHD_Result ret;

	if (limit < 0 || offset < 0)
		return reply_error(c, rq, 400, "bad request",
				   "limit (at most 1000) and offset must be "
				   "unsigned numbers");
	if (cache_hit(c, rq, RC_SCOPE_LIST, &ret,
		      "traces?limit=%lld&offset=%lld", (long long)limit,
		      (long long)offset))
		return ret;
	list = store_trace_list(limit, offset);
	if (!list)
		return reply_error(c, rq, 500, "database error",
				   "cannot list traces");
	return reply_cacheable(c, rq, list);
}

enum MHD_Result h_trace_get(struct MHD_Connection *c, struct req *rq)
{
	enum MHD_Result ret;
	sqlite3 *db;
	json_t *t;

	if (cache_hit(c, rq, rq->id, &ret, "trace/%lld", (long long)rq->id))
		return ret;
	db = store_get();
	t = db ? store_trace_json(db, rq->id) : NULL;
	store_put(db);
	if (!t)
		return reply_error(c, rq, 404, "not found", "no trace %lld",
				   (long long)rq->id);
	json_object_set_new(t, "replays", store_replays_of_trace(rq->id));
	return reply_cacheable(c, rq, t);
}

enum MHD_Result h_trace_delete(struct MHD_Connection *c, struct req *rq)
{
	int64_t replay = 0;
	int ret = store_trace_delete(rq->id, &replay);

	if (ret == 1)
		return reply_error(c, rq, 404, "not found", "no trace %lld",
				   (long long)rq->id);
	if (ret == 2)
		return reply_error(c, rq, 409, "conflict",
				   "replay %lld of trace %lld is queued or "
				   "running; delete the trace when it is over",
				   (long long)replay, (long long)rq->id);
	if (ret) {
		const char *why;
		unsigned int st = store_error_status(&why);

		return reply_error(
			c, rq, st,
			st == 500 ? "database error" : status_error(st),
			"cannot delete trace %lld: %s", (long long)rq->id, why);
	}
	return reply_json(
		c, rq, 200,
		json_pack("{s:I,s:b}", "id", (json_int_t)rq->id, "deleted", 1));
}

enum MHD_Result h_trace_download(struct MHD_Connection *c, struct req *rq)
{
	const char *format = query_arg(c, "format");
	struct store_trace t;
	struct MHD_Response *resp;
	char disp[700], safe[520];
	const char *ext, *type;
	int ret;
	size_t i;

	if (!format)
		format = "text";
	if (strcmp(format, "text") && strcmp(format, "binary") &&
	    strcmp(format, "zst"))
		return reply_error(c, rq, 400, "bad request",
				   "format '%s': expected text, binary or zst",
				   format);
	ret = store_trace_get(rq->id, &t);
	if (ret == 1)
		return reply_error(c, rq, 404, "not found", "no trace %lld",
				   (long long)rq->id);
	if (ret)
		return reply_error(c, rq, 500, "database error",
				   "cannot read trace %lld", (long long)rq->id);
	resp = chunks_download(&t, format);
	if (!resp)
		return reply_error(c, rq, 500, "internal error",
				   "cannot read trace %lld back",
				   (long long)rq->id);
	for (i = 0; t.name[i] && i + 1 < sizeof(safe); i++)
		safe[i] = isalnum((unsigned char)t.name[i]) ||
					  strchr("._-", t.name[i])
				  ? t.name[i]
				  : '_';
	safe[i] = 0;
	ext = !strcmp(format, "text")	  ? ".mct.txt"
	      : !strcmp(format, "binary") ? ".mct"
					  : ".mct.zst";
	type = !strcmp(format, "text")	   ? "text/plain; charset=utf-8"
	       : !strcmp(format, "binary") ? "application/x-protobuf"
					   : "application/zstd";
	snprintf(disp, sizeof(disp), "attachment; filename=\"%s%s\"", safe,
		 ext);
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
				disp);
	return reply(c, rq, 200, resp, type);
}
