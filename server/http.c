// SPDX-License-Identifier: MIT
/*
 * http.c - the libmicrohttpd daemon: routing, authentication, replies,
 * static files, /healthz and /metrics.
 *
 * An internal thread pool polls with epoll; handlers answer from the
 * response cache (rcache.c) or the database, or queue work for the replay
 * workers, and uploads are stored by the ingest threads while their
 * connection is suspended, so no HTTP thread ever replays or parses a
 * trace.
 *
 * Hostile clients (docs/reliability.md): libmicrohttpd bounds a request's
 * header (431 beyond 32 KiB) and closes idle connections (--timeout); a
 * request's header must arrive within --header-timeout of the
 * connection's start or of the previous request's end (+ --timeout), else
 * the reaper thread shuts the socket down: one byte a second keeps no
 * connection open for long.  CORS headers go only to the origins of
 * --cors-origin.
 */
#include "http.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mapcountd.h"
#include "metrics.h"
#include "rcache.h"
#include "store.h"

#define BODY_MAX (64 * 1024)
/*
 * The memory pool of a connection: its request's header must fit (431
 * beyond).  libmicrohttpd zeroes the whole pool after every request of a
 * kept-alive connection, so its size is paid on every request: at 128 KiB
 * that memset was the largest cost of a cached answer.
 */
#define CONN_MEMORY (32 * 1024)

static struct MHD_Daemon *daemon_;

/* ---- CORS ---- */

/* The request's Origin when --cors-origin allows it, else NULL. */
static const char *cors_origin(struct MHD_Connection *c)
{
	const char *o;

	if (!cfg.nr_cors)
		return NULL;
	o = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	for (unsigned int i = 0; o && i < cfg.nr_cors; i++)
		if (!strcmp(o, cfg.cors[i]))
			return cfg.cors[i];
	return NULL;
}

/* ---- replies ---- */

enum MHD_Result reply(struct MHD_Connection *c, struct req *rq,
		      unsigned int status, struct MHD_Response *resp,
		      const char *content_type)
{
	enum MHD_Result ret;

	if (!resp)
		return MHD_NO;
	if (content_type)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
					content_type);
	MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
	if (cfg.nr_cors) {
		const char *origin = cors_origin(c);

		MHD_add_response_header(resp, "Vary", "Origin");
		if (origin)
			MHD_add_response_header(
				resp, "Access-Control-Allow-Origin", origin);
	}
	/* with an ETag: stored, but revalidated (If-None-Match) every time */
	if (rq && rq->route && !strncmp(rq->route, "/api", 4))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
					rq->revalidate ? "no-cache"
						       : "no-store");
	if (status == 401)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer");
	ret = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	if (rq && ret == MHD_YES)
		rq->status = status;
	return ret;
}

/* body as text with a final newline, like the CLI (consumes body). */
static char *dump(json_t *body, size_t *len)
{
	char *text =
		body ? json_dumps(body, JSON_INDENT(1) | JSON_REAL_PRECISION(6))
		     : NULL;
	char *t;

	json_decref(body);
	if (!text)
		return NULL;
	*len = strlen(text);
	t = realloc(text, *len + 2);
	if (!t) {
		free(text);
		return NULL;
	}
	t[(*len)++] = '\n';
	t[*len] = 0;
	return t;
}

enum MHD_Result reply_json(struct MHD_Connection *c, struct req *rq,
			   unsigned int status, json_t *body)
{
	struct MHD_Response *resp;
	size_t len;
	char *text = dump(body, &len);

	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(len, text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	return reply(c, rq, status, resp, "application/json");
}

/* ---- the response cache ---- */

/* Does an If-None-Match list name etag (weak comparison, RFC 9110)? */
static bool etag_match(const char *list, const char *etag)
{
	size_t n = strlen(etag);

	while (*list) {
		const char *end;

		while (*list == ' ' || *list == '\t' || *list == ',')
			list++;
		if (*list == '*')
			return true;
		if (!strncmp(list, "W/", 2))
			list += 2;
		if (*list != '"')
			return false;
		end = strchr(list + 1, '"');
		if (!end)
			return false;
		if ((size_t)(end + 1 - list) == n && !strncmp(list, etag, n))
			return true;
		list = end + 1;
	}
	return false;
}

static void entry_done(void *cls)
{
	rcache_unref(cls);
}

/* 200 with the body of e (its reference is the response's), or 304. */
static enum MHD_Result reply_entry(struct MHD_Connection *c, struct req *rq,
				   struct rc_entry *e)
{
	const char *inm = MHD_lookup_connection_value(
		c, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
	struct MHD_Response *resp;
	const char *body;
	char etag[32];
	size_t len;

	if (!e)
		return MHD_NO;
	rq->revalidate = true;
	if (inm && etag_match(inm, rcache_etag(e))) {
		resp = MHD_create_response_from_buffer(0, (void *)"",
						       MHD_RESPMEM_PERSISTENT);
		if (resp)
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG,
						rcache_etag(e));
		rcache_unref(e);
		return reply(c, rq, 304, resp, NULL);
	}
	snprintf(etag, sizeof(etag), "%s", rcache_etag(e));
	body = rcache_body(e, &len);
#if MHD_VERSION >= 0x00097302
	/* the body stays in the entry: the response holds a reference */
	resp = MHD_create_response_from_buffer_with_free_callback_cls(
		len, (void *)body, entry_done, e);
	if (!resp) {
		rcache_unref(e);
		return MHD_NO;
	}
#else
	resp = MHD_create_response_from_buffer(len, (void *)body,
					       MHD_RESPMEM_MUST_COPY);
	rcache_unref(e);
	if (!resp)
		return MHD_NO;
#endif
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ETAG, etag);
	return reply(c, rq, 200, resp, "application/json");
}

bool cache_hit(struct MHD_Connection *c, struct req *rq, int64_t scope,
	       enum MHD_Result *ret, const char *fmt, ...)
{
	struct rc_entry *e;
	va_list ap;
	int n;

	free(rq->ckey);
	va_start(ap, fmt);
	n = vasprintf(&rq->ckey, fmt, ap);
	va_end(ap);
	if (n < 0) {
		rq->ckey = NULL;
		return false;
	}
	rq->cscope = scope;
	e = rcache_get(rq->ckey);
	if (e) {
		*ret = reply_entry(c, rq, e);
		return true;
	}
	rq->cticket = rcache_ticket();
	return false;
}

enum MHD_Result reply_cacheable(struct MHD_Connection *c, struct req *rq,
				json_t *body)
{
	struct MHD_Response *resp;
	size_t len;
	char *text = dump(body, &len);

	if (!text)
		return MHD_NO;
	if (rq->ckey)
		return reply_entry(c, rq,
				   rcache_put(rq->ckey, rq->cscope, rq->cticket,
					      text, len));
	/* no key (out of memory): no cache, no ETag */
	resp = MHD_create_response_from_buffer(len, text,
					       MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(text);
		return MHD_NO;
	}
	return reply(c, rq, 200, resp, "application/json");
}

char *policies_key(const struct mc_policy *const *p, uint32_t n)
{
	size_t len = 1, o = 0;
	char *k;

	for (uint32_t i = 0; i < n; i++)
		len += strlen(p[i]->name) + 1;
	k = malloc(len);
	if (!k)
		return NULL;
	k[0] = 0;
	for (uint32_t i = 0; i < n; i++)
		o += (size_t)sprintf(k + o, "%s%s", i ? "," : "", p[i]->name);
	return k;
}

enum MHD_Result reply_error(struct MHD_Connection *c, struct req *rq,
			    unsigned int status, const char *error,
			    const char *fmt, ...)
{
	char detail[2048], utf8[3 * sizeof(detail)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	/* details quote URLs, names, parser messages: any bytes */
	return reply_json(c, rq, status,
			  json_error_body(error, utf8_repair(utf8, sizeof(utf8),
							     detail)));
}

const char *query_arg(struct MHD_Connection *c, const char *key)
{
	return MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, key);
}

int64_t query_uint(struct MHD_Connection *c, const char *key, int64_t def,
		   int64_t max)
{
	const char *s = query_arg(c, key);
	char *end;
	long long v;

	if (!s)
		return def;
	if (!isdigit((unsigned char)*s))
		return -1;
	v = strtoll(s, &end, 10);
	if (*end || v > max)
		return -1;
	return v;
}

/* ---- small handlers ---- */

static enum MHD_Result h_healthz(struct MHD_Connection *c, struct req *rq)
{
	json_t *counts = store_counts();

	if (!counts)
		return reply_error(c, rq, 503, "unavailable",
				   "the database cannot be read");
	return reply_json(
		c, rq, 200,
		json_pack("{s:s,s:o}", "status", "ok", "rows", counts));
}

static enum MHD_Result h_metrics(struct MHD_Connection *c, struct req *rq)
{
	char *text = metrics_render();
	struct MHD_Response *resp;

	if (!text)
		return MHD_NO;
	resp = MHD_create_response_from_buffer(strlen(text), text,
					       MHD_RESPMEM_MUST_FREE);
	return reply(c, rq, 200, resp, "text/plain; version=0.0.4");
}

static enum MHD_Result h_api(struct MHD_Connection *c, struct req *rq)
{
	return reply_json(
		c, rq, 200,
		json_pack(
			"{s:s,s:s,s:[s,s,s,s,s,s,s,s,s,s,s,s,s,s,s]}",
			"service", SRV_NAME, "docs", "docs/api.md", "endpoints",
			"GET /healthz", "GET /metrics", "GET /api/policies",
			"GET /api/traces", "POST /api/traces?name=N",
			"GET /api/traces/{id}", "DELETE /api/traces/{id}",
			"GET /api/traces/{id}/download?format=text|binary|zst",
			"POST /api/traces/{id}/replays",
			"GET /api/traces/{id}/replays",
			"GET /api/traces/{id}/comparison?policies=&arch=",
			"GET /api/traces/{id}/folios?sort=disagreement&limit=",
			"GET /api/traces/{id}/folios/{folio}/history"
			"?policies=&arch=",
			"GET /api/replays/{id}", "GET /"));
}

/* ---- static files, confined to the web root ---- */

static const char *mime_type(const char *path)
{
	static const struct {
		const char *ext, *type;
	} types[] = {
		{ ".html", "text/html; charset=utf-8" },
		{ ".js", "text/javascript; charset=utf-8" },
		{ ".mjs", "text/javascript; charset=utf-8" },
		{ ".css", "text/css; charset=utf-8" },
		{ ".json", "application/json" },
		{ ".map", "application/json" },
		{ ".svg", "image/svg+xml" },
		{ ".png", "image/png" },
		{ ".ico", "image/x-icon" },
		{ ".txt", "text/plain; charset=utf-8" },
		{ ".woff2", "font/woff2" },
	};
	size_t n = strlen(path);

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t e = strlen(types[i].ext);

		if (n > e && !strcmp(path + n - e, types[i].ext))
			return types[i].type;
	}
	return "application/octet-stream";
}

static bool path_ok(const char *url)
{
	if (url[0] != '/' || strstr(url, "//") || strchr(url, '\\'))
		return false;
	for (const char *p = url; (p = strstr(p, "/.")); p++)
		return false; /* no dot files, no "..", no "." segments */
	return true;
}

static enum MHD_Result serve_file(struct MHD_Connection *c, struct req *rq,
				  const char *url)
{
	char root[PATH_MAX], path[PATH_MAX], real[PATH_MAX];
	struct MHD_Response *resp;
	struct stat sb;
	size_t rl;
	int fd;

	if (!cfg.web_root || !realpath(cfg.web_root, root) || !path_ok(url))
		return reply_error(c, rq, 404, "not found", "no file '%s'",
				   url);
	if (strlen(root) + strlen(url) + 16 > sizeof(path))
		return reply_error(c, rq, 404, "not found", "path too long");
	strcpy(path, root);
	strcat(path, url);
	if (url[strlen(url) - 1] == '/')
		strcat(path, "index.html");
	if (!realpath(path, real))
		return reply_error(c, rq, 404, "not found", "no file '%s'",
				   url);
	rl = strlen(root);
	if (strncmp(real, root, rl) || real[rl] != '/')
		return reply_error(c, rq, 404, "not found", "no file '%s'",
				   url);
	fd = open(real, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
		if (fd >= 0)
			close(fd);
		return reply_error(c, rq, 404, "not found", "no file '%s'",
				   url);
	}
	resp = MHD_create_response_from_fd((uint64_t)sb.st_size, fd);
	if (!resp) {
		close(fd);
		return MHD_NO;
	}
	if (!strncmp(mime_type(real), "text/html", 9))
		MHD_add_response_header(
			resp, "Content-Security-Policy",
			"default-src 'self'; img-src 'self' data:; "
			"object-src 'none'; base-uri 'none'; "
			"frame-ancestors 'none'");
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL,
				"no-cache");
	return reply(c, rq, 200, resp, mime_type(real));
}

/* A marker: static files are served by serve_file(), which needs the URL. */
static enum MHD_Result h_static(struct MHD_Connection *c, struct req *rq)
{
	return MHD_NO;
}

/* GET /: the UI when there is one, else where the API is. */
static enum MHD_Result h_root(struct MHD_Connection *c, struct req *rq)
{
	char path[PATH_MAX];
	struct stat sb;

	if (cfg.web_root &&
	    snprintf(path, sizeof(path), "%s/index.html", cfg.web_root) > 0 &&
	    !stat(path, &sb) && S_ISREG(sb.st_mode))
		return serve_file(c, rq, "/");
	return reply_json(c, rq, 200,
			  json_pack("{s:s,s:s,s:s,s:s}", "service", SRV_NAME,
				    "api", "/api", "health", "/healthz", "ui",
				    "no web UI installed (--web-root)"));
}

/* ---- routing ---- */

struct route {
	const char *pattern;
	const char *method;
	handler_fn fn;
	bool body; /* a JSON body */
};

static const struct route routes[] = {
	{ "/", "GET", h_root, false },
	{ "/healthz", "GET", h_healthz, false },
	{ "/metrics", "GET", h_metrics, false },
	{ "/api", "GET", h_api, false },
	{ "/api/policies", "GET", h_policies, false },
	{ "/api/traces", "GET", h_traces_list, false },
	{ "/api/traces", "POST", NULL, false }, /* upload */
	{ "/api/traces/{id}", "GET", h_trace_get, false },
	{ "/api/traces/{id}", "DELETE", h_trace_delete, false },
	{ "/api/traces/{id}/download", "GET", h_trace_download, false },
	{ "/api/traces/{id}/replays", "POST", h_replay_post, true },
	{ "/api/traces/{id}/replays", "GET", h_replays_of_trace, false },
	{ "/api/traces/{id}/comparison", "GET", h_comparison, false },
	{ "/api/traces/{id}/folios", "GET", h_folios, false },
	{ "/api/traces/{id}/folios/{folio}/history", "GET", h_history, false },
	{ "/api/replays/{id}", "GET", h_replay_get, false },
};

/* Does url match pattern?  Fills id and folio. */
static bool match(const char *pattern, const char *url, int64_t *id,
		  char **folio)
{
	const char *p = pattern, *u = url;

	while (*p && *u) {
		if (*p != '{') {
			if (*p++ != *u++)
				return false;
		} else if (!strncmp(p, "{id}", 4)) {
			char *end;
			long long v;

			if (!isdigit((unsigned char)*u))
				return false;
			errno = 0;
			v = strtoll(u, &end, 10);
			if (v <= 0 || errno || (*end && *end != '/'))
				return false;
			*id = v;
			u = end;
			p += 4;
		} else if (!strncmp(p, "{folio}", 7)) {
			const char *end = strchr(u, '/');
			size_t n = end ? (size_t)(end - u) : strlen(u);

			if (!n || n > 64)
				return false;
			free(*folio);
			*folio = strndup(u, n);
			u += n;
			p += 7;
		} else {
			return false;
		}
	}
	return !*p && !*u;
}

static const char *static_method(const char *m)
{
	static const char *const known[] = { "GET",	"HEAD",	  "POST",
					     "PUT",	"DELETE", "PATCH",
					     "OPTIONS", "TRACE",  "CONNECT" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (!strcmp(m, known[i]))
			return known[i];
	return "OTHER";
}

/* Route a request: 0, or the status to answer with (404, 405). */
static unsigned int route(struct req *rq, const char *url, char *allow,
			  size_t allowlen)
{
	const char *m = !strcmp(rq->method, "HEAD") ? "GET" : rq->method;
	bool path_known = false;

	allow[0] = 0;
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (!match(routes[i].pattern, url, &rq->id, &rq->folio))
			continue;
		path_known = true;
		rq->route = routes[i].pattern;
		if (!strcmp(routes[i].method, m)) {
			rq->fn = routes[i].fn;
			rq->wants_body = routes[i].body;
			return 0;
		}
		snprintf(allow + strlen(allow), allowlen - strlen(allow),
			 "%s%s", allow[0] ? ", " : "", routes[i].method);
	}
	if (path_known)
		return 405;
	if (!strncmp(url, "/api/", 5) || !strcmp(url, "/api")) {
		rq->route = "/api/*";
		return 404;
	}
	rq->route = "/*";
	if (strcmp(m, "GET")) {
		snprintf(allow, allowlen, "GET, HEAD");
		return 405;
	}
	rq->fn = h_static;
	return 0;
}

static bool mutating(const char *m)
{
	return strcmp(m, "GET") && strcmp(m, "HEAD") && strcmp(m, "OPTIONS");
}

static bool authorized(struct MHD_Connection *c)
{
	const char *h;
	char hex[65];
	unsigned char got[32];

	if (!cfg.have_token)
		return true;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
					MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7))
		return false;
	/* compare digests in constant time: no length or prefix leaks */
	if (sha256_hex(h + 7, strlen(h + 7), hex))
		return false;
	for (int i = 0; i < 32; i++) {
		unsigned int b;

		sscanf(hex + 2 * i, "%2x", &b);
		got[i] = (unsigned char)b;
	}
	return !CRYPTO_memcmp(got, cfg.token_sha, 32);
}

/* OPTIONS: the methods of the path; a CORS preflight is answered for an
 * allowed origin and refused (403) for any other. */
static enum MHD_Result preflight(struct MHD_Connection *c, struct req *rq,
				 const char *allow)
{
	const char *origin =
		MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Origin");
	struct MHD_Response *resp;
	char methods[160];

	if (origin && !cors_origin(c))
		return reply_error(c, rq, 403, "forbidden",
				   "origin '%s' is not allowed "
				   "(mapcountd --cors-origin)",
				   origin);
	snprintf(methods, sizeof(methods), "%s, OPTIONS", allow);
	resp = MHD_create_response_from_buffer(0, (void *)"",
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, methods);
	if (origin) {
		MHD_add_response_header(resp, "Access-Control-Allow-Methods",
					methods);
		MHD_add_response_header(resp, "Access-Control-Allow-Headers",
					"Authorization, Content-Type");
		MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
	}
	return reply(c, rq, 204, resp, NULL);
}

/* ---- header timeouts (slowloris) ---- */

struct ctrack {
	int fd;
	/* the header of a request is due by then; 0: none (set without
	 * ct_lock, on every request) */
	_Atomic double deadline;
	bool cut;
	struct ctrack *prev, *next;
};

static pthread_mutex_t ct_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ct_cond = PTHREAD_COND_INITIALIZER;
static struct ctrack *ct_head;
static pthread_t reaper;
static bool reaper_on, reaper_stop;

/* NOTIFY_CLOSED comes before libmicrohttpd closes the socket: under
 * ct_lock, every fd of the list is still the connection's. */
static void notify_conn(void *cls, struct MHD_Connection *c,
			void **socket_context,
			enum MHD_ConnectionNotificationCode code)
{
	struct ctrack *t;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *i = MHD_get_connection_info(
			c, MHD_CONNECTION_INFO_CONNECTION_FD);

		t = i ? calloc(1, sizeof(*t)) : NULL;
		if (!t)
			return;
		t->fd = i->connect_fd;
		t->deadline = srv_mono() + cfg.header_timeout;
		pthread_mutex_lock(&ct_lock);
		t->next = ct_head;
		if (ct_head)
			ct_head->prev = t;
		ct_head = t;
		pthread_mutex_unlock(&ct_lock);
		*socket_context = t;
		return;
	}
	t = *socket_context;
	if (!t)
		return;
	pthread_mutex_lock(&ct_lock);
	if (t->prev)
		t->prev->next = t->next;
	else
		ct_head = t->next;
	if (t->next)
		t->next->prev = t->prev;
	pthread_mutex_unlock(&ct_lock);
	free(t);
	*socket_context = NULL;
}

/* The next header of c is due by deadline (0: none is due). */
static void header_due(struct MHD_Connection *c, double deadline)
{
	const union MHD_ConnectionInfo *i =
		MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct ctrack *t = i ? i->socket_context : NULL;

	if (t)
		atomic_store_explicit(&t->deadline, deadline,
				      memory_order_relaxed);
}

static void *reaper_main(void *arg)
{
	pthread_mutex_lock(&ct_lock);
	while (!reaper_stop) {
		struct timespec ts;
		double now;

		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 250 * 1000 * 1000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&ct_cond, &ct_lock, &ts);
		now = srv_mono();
		for (struct ctrack *t = ct_head; t; t = t->next) {
			double due = atomic_load_explicit(&t->deadline,
							  memory_order_relaxed);

			if (t->cut || !due || now < due)
				continue;
			/* libmicrohttpd sees the end of the stream and
			 * closes the connection itself */
			shutdown(t->fd, SHUT_RDWR);
			t->cut = true;
			metrics_header_timeout();
		}
	}
	pthread_mutex_unlock(&ct_lock);
	return NULL;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c,
			      const char *url, const char *method,
			      const char *version, const char *data,
			      size_t *size, void **con_cls)
{
	struct req *rq = *con_cls;

	if (!rq) {
		char allow[128];
		unsigned int st;

		header_due(c, 0); /* the header is in */
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		rq->t0 = srv_mono();
		rq->method = static_method(method);
		st = route(rq, url, allow, sizeof(allow));
		if (st == 405 && !strcmp(rq->method, "OPTIONS"))
			return preflight(c, rq, allow);
		if (st == 405) {
			struct MHD_Response *resp;
			char *text, detail[1024], utf8[3 * sizeof(detail)];
			json_t *b;

			snprintf(detail, sizeof(detail), "%s %s: allowed: %s",
				 method, url, allow);
			b = json_error_body(
				"method not allowed",
				utf8_repair(utf8, sizeof(utf8), detail));
			text = json_dumps(b, JSON_INDENT(1));
			json_decref(b);
			if (!text)
				return MHD_NO;
			{
				size_t len = strlen(text);
				char *t = realloc(text, len + 2);

				if (!t) {
					free(text);
					return MHD_NO;
				}
				text = t;
				memcpy(text + len, "\n", 2);
			}
			resp = MHD_create_response_from_buffer(
				strlen(text), text, MHD_RESPMEM_MUST_FREE);
			if (!resp) {
				free(text);
				return MHD_NO;
			}
			MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW,
						allow);
			return reply(c, rq, 405, resp, "application/json");
		}
		if (st == 404)
			return reply_error(c, rq, 404, "not found",
					   "no endpoint %s %s (GET /api "
					   "lists them)",
					   method, url);
		/* both: a request smuggling attempt, maybe (RFC 9112 6.1):
		 * refused, and the connection closed */
		if (MHD_lookup_connection_value(
			    c, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_CONTENT_LENGTH) &&
		    MHD_lookup_connection_value(
			    c, MHD_HEADER_KIND,
			    MHD_HTTP_HEADER_TRANSFER_ENCODING))
			return reply_error(c, rq, 400, "bad request",
					   "both Content-Length and "
					   "Transfer-Encoding");
		if (mutating(rq->method) && !authorized(c))
			return reply_error(c, rq, 401, "unauthorized",
					   "%s needs 'Authorization: Bearer "
					   "<token>' (--token-file)",
					   method);
		if (mutating(rq->method) && store_readonly())
			return reply_error(c, rq, 503, "unavailable",
					   "the database is read-only: %s "
					   "refuses %s",
					   SRV_NAME, method);
	}
	if (!rq->fn) /* the upload */
		return h_upload(c, rq, data, size);
	if (rq->status) { /* answered already: drop the rest */
		*size = 0;
		return MHD_YES;
	}
	/* Answer once the request is whole: a response queued on the first
	 * call (headers only) makes libmicrohttpd close the connection. */
	if (!rq->started) {
		rq->started = true;
		return MHD_YES;
	}
	if (*size && !rq->wants_body) { /* a body nobody asked for */
		*size = 0;
		return MHD_YES;
	}
	if (*size) {
		if (rq->body_len + *size > BODY_MAX) {
			rq->body_big = true;
		} else {
			char *b = realloc(rq->body, rq->body_len + *size + 1);

			if (!b)
				return MHD_NO;
			rq->body = b;
			memcpy(b + rq->body_len, data, *size);
			rq->body_len += *size;
			b[rq->body_len] = 0;
		}
		*size = 0;
		return MHD_YES;
	}
	if (rq->body_big)
		return reply_error(c, rq, 413, "request too large",
				   "a request body is at most %d bytes",
				   BODY_MAX);
	if (rq->fn == h_static)
		return serve_file(c, rq, url);
	return rq->fn(c, rq);
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;

	/* keep-alive: the next header is due after an idle --timeout and
	 * --header-timeout */
	header_due(c, srv_mono() + cfg.conn_timeout + cfg.header_timeout);
	if (!rq)
		return;
	if (rq->route)
		metrics_request(rq->route, rq->method, rq->status,
				srv_mono() - rq->t0);
	upload_free(rq->up);
	free(rq->ckey);
	free(rq->folio);
	free(rq->body);
	free(rq);
	*con_cls = NULL;
}

static int hexval(char c)
{
	return isdigit((unsigned char)c) ? c - '0'
					 : tolower((unsigned char)c) - 'a' + 10;
}

/* %HH decoding of URLs and their arguments, but %00 stays as it is: a
 * NUL would cut what the handlers see ("/1%00x" taken for "/1"). */
static size_t unescape(void *cls, struct MHD_Connection *c, char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (r[0] == '%' && isxdigit((unsigned char)r[1]) &&
		    isxdigit((unsigned char)r[2]) &&
		    (r[1] != '0' || r[2] != '0')) {
			*w++ = (char)(hexval(r[1]) * 16 + hexval(r[2]));
			r += 3;
		} else {
			*w++ = *r++;
		}
	}
	*w = 0;
	return (size_t)(w - s);
}

int http_start(char *err, size_t errlen)
{
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
			     MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;

	if (cfg.sa.ss_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	daemon_ = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, NULL, MHD_OPTION_SOCK_ADDR,
		(struct sockaddr *)&cfg.sa, MHD_OPTION_THREAD_POOL_SIZE,
		cfg.http_threads, MHD_OPTION_CONNECTION_TIMEOUT,
		cfg.conn_timeout, MHD_OPTION_CONNECTION_LIMIT, 1000u,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)CONN_MEMORY,
		MHD_OPTION_LISTEN_BACKLOG_SIZE, 512u,
		MHD_OPTION_NOTIFY_COMPLETED, completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, notify_conn, NULL,
		MHD_OPTION_UNESCAPE_CALLBACK, unescape, NULL, MHD_OPTION_END);
	if (!daemon_) {
		snprintf(err, errlen, "cannot listen on %s", cfg.listen);
		return -1;
	}
	reaper_stop = false;
	if (cfg.header_timeout) {
		if (pthread_create(&reaper, NULL, reaper_main, NULL)) {
			snprintf(err, errlen, "cannot start a thread");
			http_stop();
			return -1;
		}
		reaper_on = true;
	}
	return 0;
}

uint16_t http_port(void)
{
	const union MHD_DaemonInfo *i =
		MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);

	return i ? i->port : 0;
}

void http_quiesce(unsigned int ms)
{
	MHD_socket s;

	if (!daemon_)
		return;
	s = MHD_quiesce_daemon(daemon_);
	if (s != MHD_INVALID_SOCKET)
		close(s);
	for (unsigned int t = 0; t < ms; t += 20) {
		const union MHD_DaemonInfo *i = MHD_get_daemon_info(
			daemon_, MHD_DAEMON_INFO_CURRENT_CONNECTIONS);

		if (!i || !i->num_connections)
			break;
		usleep(20 * 1000);
	}
}

void http_stop(void)
{
	if (reaper_on) {
		pthread_mutex_lock(&ct_lock);
		reaper_stop = true;
		pthread_cond_signal(&ct_cond);
		pthread_mutex_unlock(&ct_lock);
		pthread_join(reaper, NULL);
		reaper_on = false;
	}
	if (daemon_)
		MHD_stop_daemon(daemon_);
	daemon_ = NULL;
}
