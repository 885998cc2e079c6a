// SPDX-License-Identifier: MIT
/*
 * h_replay.c - policies, replays, comparisons and the folio views.
 *
 * Replays run on the workers (jobs.c).  Their results are cached per
 * policy in the results table, keyed by (trace sha256, policy, policy
 * version, arch), so a comparison of any subset of cached policies is
 * assembled without replaying.  Folio views of small traces (at most
 * --sync-limit events) are computed on the request thread; larger ones go
 * to the workers, and their documents are kept with the replay row.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "analysis.h"
#include "http.h"
#include "jobs.h"
#include "mapcountd.h"
#include "policies.h"
#include "rcache.h"
#include "store.h"

#define FOLIOS_MAX 1000

enum MHD_Result h_policies(struct MHD_Connection *c, struct req *rq)
{
	enum MHD_Result ret;

	if (cache_hit(c, rq, RC_SCOPE_STATIC, &ret, "policies"))
		return ret;
	return reply_cacheable(c, rq, policies_json());
}

/* The trace of rq->id, or an answer already queued (404, 500). */
static int load_trace(struct MHD_Connection *c, struct req *rq,
		      struct store_trace *t, enum MHD_Result *ret)
{
	int r = store_trace_get(rq->id, t);

	if (r == 1)
		*ret = reply_error(c, rq, 404, "not found", "no trace %lld",
				   (long long)rq->id);
	else if (r)
		*ret = reply_error(c, rq, 500, "database error",
				   "cannot read trace %lld", (long long)rq->id);
	return r;
}

/* policies= and arch= of the query string; 0, or -1 after a 400. */
static int parse_query(struct MHD_Connection *c, struct req *rq,
		       const struct mc_policy **pols, uint32_t *n,
		       uint32_t *arch, enum MHD_Result *ret)
{
	const char *a = query_arg(c, "arch");
	char err[512];
	int k = policies_parse_list(query_arg(c, "policies"), NULL, pols, err,
				    sizeof(err));

	if (k < 0) {
		*ret = reply_error(c, rq, 400, "bad request", "%s", err);
		return -1;
	}
	*n = (uint32_t)k;
	*arch = 64;
	if (a && strcmp(a, "64") && strcmp(a, "32")) {
		*ret = reply_error(c, rq, 400, "bad request",
				   "arch '%s': expected 64 or 32", a);
		return -1;
	}
	if (a)
		*arch = (uint32_t)atoi(a);
	return 0;
}

/* The report from the cache, or NULL when a policy is not cached. */
static json_t *cached_report(const struct store_trace *t,
			     const struct mc_policy *const *pols, uint32_t n,
			     uint32_t arch)
{
	sqlite3 *db = store_get();
	json_t *list = json_array();

	if (!db) {
		json_decref(list);
		return NULL;
	}
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (uint32_t i = 0; i < n; i++) {
		json_t *o = store_result_get(db, t->sha256, pols[i], arch);

		if (!o) {
			json_decref(list);
			list = NULL;
			break;
		}
		json_array_append_new(list, o);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	store_put(db);
	return list ? analysis_report_doc(t, arch, list) : NULL;
}

static json_t *queued_body(const char *key, int64_t id)
{
	char url[64];
	uint64_t done = 0, total = 0;
	bool running = false;

	jobs_progress(id, &done, &total, &running);
	snprintf(url, sizeof(url), "/api/replays/%lld", (long long)id);
	return json_pack("{s:I,s:s,s:s}", key, (json_int_t)id, "status",
			 running ? "running" : "queued", "url", url);
}

/* Queue a job and answer 202, or 503/404/500. */
static enum MHD_Result submit(struct MHD_Connection *c, struct req *rq,
			      const struct store_trace *t, enum job_kind kind,
			      uint32_t arch,
			      const struct mc_policy *const *pols, uint32_t n,
			      const char *folio, const char *key)
{
	unsigned int status;
	int64_t id = jobs_submit(t->id, kind, arch, t->events, pols, n, folio,
				 &status);

	if (id)
		return reply_json(c, rq, 202, queued_body(key, id));
	if (status == 503)
		return reply_error(c, rq, 503, "queue full",
				   "%u replays are waiting (--queue); retry "
				   "later",
				   cfg.queue);
	if (status == 404)
		return reply_error(c, rq, 404, "not found", "no trace %lld",
				   (long long)t->id);
	{
		/* the replays row could not be written: why (507, 503) */
		const char *why;

		status = store_error_status(&why);
		return reply_error(c, rq, status,
				   status == 500 ? "internal error"
						 : status_error(status),
				   "cannot queue the replay: %s", why);
	}
}

enum MHD_Result h_replay_post(struct MHD_Connection *c, struct req *rq)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	struct store_trace t;
	json_t *body = NULL, *a;
	json_error_t jerr;
	enum MHD_Result ret;
	uint32_t arch = 64;
	char err[512];
	int n;

	if (rq->body_len) {
		body = json_loadb(rq->body, rq->body_len, 0, &jerr);
		if (!json_is_object(body)) {
			json_decref(body);
			return reply_error(
				c, rq, 400, "bad request",
				"body: expected a JSON object like "
				"{\"policies\": [\"two-slot\"], \"arch\": 64}: "
				"%s",
				jerr.text[0] ? jerr.text : "not an object");
		}
	}
	a = json_object_get(body, "arch");
	if (a && !(json_is_integer(a) && (json_integer_value(a) == 64 ||
					  json_integer_value(a) == 32))) {
		json_decref(body);
		return reply_error(c, rq, 400, "bad request",
				   "arch: expected 64 or 32");
	}
	if (a)
		arch = (uint32_t)json_integer_value(a);
	a = json_object_get(body, "policies");
	if (a && !json_is_array(a)) {
		json_decref(body);
		return reply_error(c, rq, 400, "bad request",
				   "policies: expected an array of names");
	}
	n = policies_parse_list(NULL, a, pols, err, sizeof(err));
	json_decref(body);
	if (n < 0)
		return reply_error(c, rq, 400, "bad request", "%s", err);
	if (load_trace(c, rq, &t, &ret))
		return ret;
	return submit(c, rq, &t, JOB_REPLAY, arch, pols, (uint32_t)n, NULL,
		      "id");
}

enum MHD_Result h_replays_of_trace(struct MHD_Connection *c, struct req *rq)
{
	struct store_trace t;
	enum MHD_Result ret;

	if (cache_hit(c, rq, rq->id, &ret, "trace/%lld/replays",
		      (long long)rq->id) ||
	    load_trace(c, rq, &t, &ret))
		return ret;
	return reply_cacheable(c, rq,
			       json_pack("{s:I,s:o}", "trace", (json_int_t)t.id,
					 "replays",
					 store_replays_of_trace(t.id)));
}

enum MHD_Result h_replay_get(struct MHD_Connection *c, struct req *rq)
{
	struct store_replay r;
	uint64_t done, total;
	bool running = false, live, cacheable;
	const char *status;
	json_t *o, *params, *result = json_null();
	enum MHD_Result hit;
	int ret;

	/* the scope, its trace, is known once the row is read */
	if (cache_hit(c, rq, RC_SCOPE_STATIC, &hit, "replay/%lld",
		      (long long)rq->id))
		return hit;
	ret = store_replay_get(rq->id, &r);
	if (ret == 1)
		return reply_error(c, rq, 404, "not found", "no replay %lld",
				   (long long)rq->id);
	if (ret)
		return reply_error(c, rq, 500, "database error",
				   "cannot read replay %lld",
				   (long long)rq->id);
	done = r.events_done;
	total = r.events_total;
	live = jobs_progress(r.id, &done, &total, &running);
	status = r.status;
	if (live && running && !strcmp(status, "queued"))
		status = "running";
	if (!strcmp(status, "done")) {
		if (!strcmp(r.kind, "replay")) {
			const struct mc_policy *pols[MC_MAX_POLICIES];
			json_t *p = json_loads(r.params, 0, NULL);
			struct store_trace t;
			char err[256];
			int n = policies_parse_list(
				NULL, json_object_get(p, "policies"), pols, err,
				sizeof(err));

			json_decref(p);
			if (n > 0 && !store_trace_get(r.trace_id, &t))
				result = cached_report(&t, pols, (uint32_t)n,
						       r.arch);
			if (!result)
				result = json_null();
		} else if (r.result) {
			result = json_loads(r.result, 0, NULL);
			if (!result)
				result = json_null();
		}
	}
	params =
		json_loads(r.params ? r.params : "null", JSON_DECODE_ANY, NULL);
	o = json_pack(
		"{s:I,s:I,s:s,s:o,s:i,s:s,s:{s:I,s:I},s:s,s:s?,s:s?,"
		"s:o,s:i,s:s?,s:o}",
		"id", (json_int_t)r.id, "trace", (json_int_t)r.trace_id, "kind",
		r.kind, "params", params ? params : json_null(), "arch",
		(int)r.arch, "status", status, "progress", "events_done",
		(json_int_t)done, "events_total", (json_int_t)total, "created",
		r.created, "started", r.started[0] ? r.started : NULL,
		"finished", r.finished[0] ? r.finished : NULL, "seconds",
		r.finished[0] ? json_real(r.seconds) : json_null(), "attempts",
		r.attempts, "error", r.error, "result", result);
	/* finished, and no more in the workers' hands: it changes only by a
	 * write to its trace (a result cached again, a delete) */
	cacheable = !live &&
		    (!strcmp(r.status, "done") || !strcmp(r.status, "failed"));
	rq->cscope = r.trace_id;
	store_replay_free(&r);
	return cacheable ? reply_cacheable(c, rq, o)
			 : reply_json(c, rq, 200, o);
}

enum MHD_Result h_comparison(struct MHD_Connection *c, struct req *rq)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	struct store_trace t;
	enum MHD_Result ret;
	uint32_t n, arch;
	json_t *doc;
	char *params, *key;
	int64_t id;
	bool hit;

	if (parse_query(c, rq, pols, &n, &arch, &ret))
		return ret;
	key = policies_key(pols, n);
	hit = key && cache_hit(c, rq, rq->id, &ret,
			       "trace/%lld/comparison?arch=%u&policies=%s",
			       (long long)rq->id, arch, key);
	free(key);
	if (hit || load_trace(c, rq, &t, &ret))
		return ret;
	doc = cached_report(&t, pols, n, arch);
	if (doc)
		return reply_cacheable(c, rq, doc);
	params = jobs_params(JOB_REPLAY, pols, n, NULL);
	id = params ? store_replay_find(t.id, "replay", params, arch, true) : 0;
	free(params);
	if (id)
		return reply_json(c, rq, 202, queued_body("replay", id));
	return submit(c, rq, &t, JOB_REPLAY, arch, pols, n, NULL, "replay");
}

/* Could s name a folio (docs/trace-format.md, "Identifiers")? */
static bool folio_ident(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (!n || n > 64)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("_.:-", *s))
			return false;
	return true;
}

/* A folio view: inline for a small trace, else from a finished job, else
 * queued. */
static enum MHD_Result folio_view(struct MHD_Connection *c, struct req *rq,
				  enum job_kind kind)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	struct store_trace t;
	enum MHD_Result ret;
	uint32_t n, arch;
	int64_t limit = 50, id;
	json_t *doc = NULL;
	char *params, *key;
	bool hit;

	if (kind == JOB_HISTORY && !folio_ident(rq->folio))
		return reply_error(
			c, rq, 404, "not found",
			"no folio named '%s' in trace %lld: folios "
			"are named by 1 to 64 of A-Z a-z 0-9 _ . : -",
			rq->folio ? rq->folio : "", (long long)rq->id);
	if (parse_query(c, rq, pols, &n, &arch, &ret))
		return ret;
	if (kind == JOB_FOLIOS) {
		const char *sort = query_arg(c, "sort");

		limit = query_uint(c, "limit", 50, FOLIOS_MAX);
		if (limit < 0)
			return reply_error(c, rq, 400, "bad request",
					   "limit: at most %d", FOLIOS_MAX);
		if (sort && strcmp(sort, "disagreement"))
			return reply_error(c, rq, 400, "bad request",
					   "sort '%s': expected disagreement",
					   sort);
	}
	key = policies_key(pols, n);
	hit = key &&
	      (kind == JOB_FOLIOS
		       ? cache_hit(c, rq, rq->id, &ret,
				   "trace/%lld/folios?arch=%u&limit=%lld&"
				   "policies=%s",
				   (long long)rq->id, arch, (long long)limit,
				   key)
		       : cache_hit(c, rq, rq->id, &ret,
				   "trace/%lld/folios/%s/history?arch=%u&"
				   "policies=%s",
				   (long long)rq->id, rq->folio, arch, key));
	free(key);
	if (hit || load_trace(c, rq, &t, &ret))
		return ret;
	if (t.events <= cfg.sync_limit) {
		struct analysis a = { .trace = &t,
				      .pols = pols,
				      .npol = n,
				      .arch = arch,
				      .folio = rq->folio };

		doc = kind == JOB_FOLIOS ? analysis_folios(&a, (uint32_t)limit)
					 : analysis_history(&a);
		if (!doc)
			return reply_error(c, rq, a.status ? a.status : 500,
					   a.status == 404 ? "not found"
							   : "replay failed",
					   "%s", a.err);
		return reply_cacheable(c, rq, doc);
	}
	params = jobs_params(kind, pols, n, rq->folio);
	if (!params)
		return MHD_NO;
	id = store_replay_find(t.id, job_kind_name(kind), params, arch, false);
	if (id) {
		struct store_replay r;

		if (!store_replay_get(id, &r) && r.result)
			doc = json_loads(r.result, 0, NULL);
		store_replay_free(&r);
	}
	if (doc) {
		json_t *list = json_object_get(doc, "folios");

		free(params);
		while (list && json_array_size(list) > (size_t)limit)
			json_array_remove(list, json_array_size(list) - 1);
		return reply_cacheable(c, rq, doc);
	}
	id = store_replay_find(t.id, job_kind_name(kind), params, arch, true);
	free(params);
	if (id)
		return reply_json(c, rq, 202, queued_body("replay", id));
	return submit(c, rq, &t, kind, arch, pols, n, rq->folio, "replay");
}

enum MHD_Result h_folios(struct MHD_Connection *c, struct req *rq)
{
	return folio_view(c, rq, JOB_FOLIOS);
}

enum MHD_Result h_history(struct MHD_Connection *c, struct req *rq)
{
	return folio_view(c, rq, JOB_HISTORY);
}
