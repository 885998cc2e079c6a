/* SPDX-License-Identifier: MIT */
/* http.h - the libmicrohttpd side of mapcountd: requests and replies. */
#ifndef MAPCOUNTD_HTTP_H
#define MAPCOUNTD_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

struct req;
struct upload;
typedef enum MHD_Result (*handler_fn)(struct MHD_Connection *c, struct req *rq);

struct req {
	const char *route; /* the route's pattern, for metrics */
	handler_fn fn;
	const char *method; /* static */
	int64_t id;	    /* {id} */
	char *folio;	    /* {folio} */
	unsigned int status;
	double t0;
	bool started;
	/* a JSON request body */
	bool wants_body, body_big;
	char *body;
	size_t body_len;
	/* POST /api/traces */
	struct upload *up;
	/* the response cache: the key of a cacheable answer (cache_hit()) */
	char *ckey;
	int64_t cscope;
	uint64_t cticket;
	bool revalidate; /* has an ETag: Cache-Control no-cache */
};

enum MHD_Result reply_json(struct MHD_Connection *c, struct req *rq,
			   unsigned int status, json_t *body);
/*
 * The response cache (rcache.h).  cache_hit() answers from the cache when
 * it holds the key made of fmt (true, with *ret); otherwise it remembers the
 * key and scope for reply_cacheable(), which answers 200 with body and keeps
 * it.  Both send an ETag and answer a matching If-None-Match with 304.
 */
bool cache_hit(struct MHD_Connection *c, struct req *rq, int64_t scope,
	       enum MHD_Result *ret, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
enum MHD_Result reply_cacheable(struct MHD_Connection *c, struct req *rq,
				json_t *body);
/* "a,b,c": the names of policies, for keys (malloc'd; NULL). */
char *policies_key(const struct mc_policy *const *p, uint32_t n);
enum MHD_Result reply_error(struct MHD_Connection *c, struct req *rq,
			    unsigned int status, const char *error,
			    const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
/* Queue resp (destroyed here) with the common headers; content_type may
 * be NULL when resp has its own. */
enum MHD_Result reply(struct MHD_Connection *c, struct req *rq,
		      unsigned int status, struct MHD_Response *resp,
		      const char *content_type);
const char *query_arg(struct MHD_Connection *c, const char *key);
/* A query argument as an unsigned number: def when absent, -1 if bad. */
int64_t query_uint(struct MHD_Connection *c, const char *key, int64_t def,
		   int64_t max);

int http_start(char *err, size_t errlen);
uint16_t http_port(void);
/* Stop accepting; wait up to ms for open connections to finish. */
void http_quiesce(unsigned int ms);
void http_stop(void);

/* h_traces.c */
enum MHD_Result h_traces_list(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_trace_get(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_trace_delete(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_trace_download(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_upload(struct MHD_Connection *c, struct req *rq,
			 const char *data, size_t *size);
void upload_free(struct upload *up);

/* h_replay.c */
enum MHD_Result h_policies(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_replay_post(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_replays_of_trace(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_replay_get(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_comparison(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_folios(struct MHD_Connection *c, struct req *rq);
enum MHD_Result h_history(struct MHD_Connection *c, struct req *rq);

#endif /* MAPCOUNTD_HTTP_H */
