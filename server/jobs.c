// SPDX-License-Identifier: MIT
/*
 * jobs.c - the replay queue, its workers, and the ingest threads.
 *
 * A job is a row of the replays table plus, while it is queued or
 * running, a struct job in memory (progress).  The queue is bounded
 * (--queue): a job that does not fit is refused (503), never dropped.
 * Workers never touch HTTP connections; the HTTP threads never replay.
 */
#include "jobs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "analysis.h"
#include "mapcountd.h"
#include "metrics.h"
#include "policies.h"
#include "store.h"

#define MAX_ATTEMPTS 3

struct job {
	int64_t id, trace_id;
	enum job_kind kind;
	uint32_t arch;
	const struct mc_policy *pols[MC_MAX_POLICIES];
	uint32_t npol;
	char *folio;
	_Atomic uint64_t done;
	uint64_t total;
	bool running;
	struct job *qnext;	 /* the FIFO of queued jobs */
	struct job *prev, *next; /* every active job */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static struct job *qhead, *qtail, *active;
static unsigned int nr_queued, nr_reserved, nr_running;
static atomic_bool stopping;
static pthread_t *workers;
static unsigned int nr_workers;

struct itask {
	void (*fn)(void *);
	void *arg;
	struct itask *next;
};
static pthread_mutex_t ilock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t icond = PTHREAD_COND_INITIALIZER;
static struct itask *ihead, *itail;
static unsigned int ipending;
static bool istop;
static pthread_t *ingesters;
static unsigned int nr_ingesters;

const char *job_kind_name(enum job_kind k)
{
	return k == JOB_HISTORY	 ? "history"
	       : k == JOB_FOLIOS ? "folios"
				 : "replay";
}

char *jobs_params(enum job_kind kind, const struct mc_policy *const *pols,
		  uint32_t n, const char *folio)
{
	json_t *o = json_object();
	char *s;

	if (kind == JOB_HISTORY)
		json_object_set_new(o, "folio", json_string(folio));
	json_object_set_new(o, "policies", policies_names(pols, n));
	s = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return s;
}

static void job_free(struct job *j)
{
	free(j->folio);
	free(j);
}

/* Called with lock held. */
static void enqueue(struct job *j)
{
	j->qnext = NULL;
	if (qtail)
		qtail->qnext = j;
	else
		qhead = j;
	qtail = j;
	nr_queued++;
	j->prev = NULL;
	j->next = active;
	if (active)
		active->prev = j;
	active = j;
	pthread_cond_signal(&cond);
}

static void unlink_active(struct job *j)
{
	if (j->prev)
		j->prev->next = j->next;
	else
		active = j->next;
	if (j->next)
		j->next->prev = j->prev;
}

int64_t jobs_submit(int64_t trace_id, enum job_kind kind, uint32_t arch,
		    uint64_t events_total, const struct mc_policy *const *pols,
		    uint32_t n, const char *folio, unsigned int *status)
{
	struct job *j;
	char *params;
	int64_t id;

	pthread_mutex_lock(&lock);
	if (stopping || nr_queued + nr_reserved >= cfg.queue) {
		pthread_mutex_unlock(&lock);
		*status = 503;
		return 0;
	}
	nr_reserved++;
	pthread_mutex_unlock(&lock);

	params = jobs_params(kind, pols, n, folio);
	j = calloc(1, sizeof(*j));
	id = params && j ? store_replay_new(trace_id, job_kind_name(kind),
					    params, arch, events_total)
			 : 0;
	free(params);
	if (id && folio && !(j->folio = strdup(folio)))
		id = 0;
	pthread_mutex_lock(&lock);
	nr_reserved--;
	if (!id) {
		pthread_mutex_unlock(&lock);
		if (j)
			job_free(j);
		*status = store_trace_get(trace_id,
					  &(struct store_trace){ 0 }) == 1
				  ? 404
				  : 500;
		return 0;
	}
	j->id = id;
	j->trace_id = trace_id;
	j->kind = kind;
	j->arch = arch;
	j->total = events_total;
	j->npol = n;
	memcpy(j->pols, pols, n * sizeof(*pols));
	enqueue(j);
	pthread_mutex_unlock(&lock);
	*status = 202;
	return id;
}

bool jobs_progress(int64_t id, uint64_t *done, uint64_t *total, bool *running)
{
	bool found = false;

	pthread_mutex_lock(&lock);
	for (struct job *j = active; j; j = j->next)
		if (j->id == id) {
			*done = atomic_load(&j->done);
			*total = j->total;
			*running = j->running;
			found = true;
			break;
		}
	pthread_mutex_unlock(&lock);
	return found;
}

void jobs_stats(struct jobs_stats *s)
{
	pthread_mutex_lock(&lock);
	s->queued = nr_queued;
	s->running = nr_running;
	pthread_mutex_unlock(&lock);
	pthread_mutex_lock(&ilock);
	s->ingest_pending = ipending;
	pthread_mutex_unlock(&ilock);
}

/* ---- running a job ---- */

/* A replay: the policies not cached yet are replayed and cached. */
static int run_replay(struct job *j, struct analysis *a)
{
	const struct mc_policy *miss[MC_MAX_POLICIES];
	json_t *objs[MC_MAX_POLICIES];
	uint32_t nmiss = 0;
	sqlite3 *db = store_get();
	json_t *res;
	int ret;

	if (!db) {
		snprintf(a->err, sizeof(a->err), "database unavailable");
		return -1;
	}
	for (uint32_t i = 0; i < j->npol; i++) {
		json_t *o;
		bool dup = false;

		for (uint32_t k = 0; k < nmiss; k++)
			dup |= miss[k] == j->pols[i];
		if (dup)
			continue;
		o = store_result_get(db, a->trace->sha256, j->pols[i], j->arch);
		if (o)
			json_decref(o);
		else
			miss[nmiss++] = j->pols[i];
	}
	store_put(db);
	if (!nmiss) {
		atomic_store(&j->done, j->total);
		return 0;
	}
	a->pols = miss;
	a->npol = nmiss;
	res = analysis_replay(a);
	if (!res)
		return -1;
	for (uint32_t i = 0; i < nmiss; i++)
		objs[i] = json_array_get(res, i);
	ret = store_results_put(a->trace->sha256, j->arch, a->trace->events,
				miss, objs, nmiss);
	json_decref(res);
	if (ret == 1) {
		snprintf(a->err, sizeof(a->err), "the trace was deleted");
		return -1;
	}
	if (ret) {
		snprintf(a->err, sizeof(a->err), "cannot store the results");
		return -1;
	}
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	while (ms && !atomic_load(&stopping)) {
		unsigned int step = ms < 50 ? ms : 50;

		usleep(step * 1000);
		ms -= step;
	}
}

static void run(struct job *j)
{
	struct store_trace t;
	struct analysis a = { .trace = &t,
			      .pols = j->pols,
			      .npol = j->npol,
			      .arch = j->arch,
			      .folio = j->folio,
			      .done = &j->done,
			      .stop = &stopping };
	double t0 = srv_mono();
	json_t *doc = NULL;
	char *text = NULL;
	int ret = -1, tr;

	if (cfg.test_delay_ms)
		sleep_ms(cfg.test_delay_ms);
	if (atomic_load(&stopping))
		goto interrupted;
	tr = store_trace_get(j->trace_id, &t);
	if (tr) {
		snprintf(a.err, sizeof(a.err), "%s",
			 tr == 1 ? "the trace was deleted" : "database error");
		goto failed;
	}
	store_replay_update(j->id, "running", 0, NULL, NULL, 0);
	switch (j->kind) {
	case JOB_REPLAY:
		ret = run_replay(j, &a);
		break;
	case JOB_HISTORY:
		doc = analysis_history(&a);
		ret = doc ? 0 : -1;
		break;
	case JOB_FOLIOS:
		doc = analysis_folios(&a, 1000);
		ret = doc ? 0 : -1;
		break;
	}
	if (ret && !a.status && atomic_load(&stopping))
		goto interrupted;
	if (ret)
		goto failed;
	if (doc) {
		text = json_dumps(doc, JSON_COMPACT);
		json_decref(doc);
	}
	store_replay_update(j->id, "done", j->total, NULL, text,
			    srv_mono() - t0);
	metrics_replay(job_kind_name(j->kind), "done", srv_mono() - t0,
		       j->total);
	free(text);
	return;
failed:
	srv_log("replay %lld failed: %s", (long long)j->id, a.err);
	store_replay_update(j->id, "failed", atomic_load(&j->done), a.err, NULL,
			    srv_mono() - t0);
	metrics_replay(job_kind_name(j->kind), "failed", srv_mono() - t0,
		       atomic_load(&j->done));
	return;
interrupted:
	/* left queued: the next start runs it again */
	store_replay_update(j->id, "queued", 0,
			    "interrupted by shutdown; re-queued", NULL, 0);
	metrics_replay(job_kind_name(j->kind), "interrupted", srv_mono() - t0,
		       atomic_load(&j->done));
}

static void *worker(void *arg)
{
	for (;;) {
		struct job *j;

		pthread_mutex_lock(&lock);
		while (!qhead && !atomic_load(&stopping))
			pthread_cond_wait(&cond, &lock);
		if (atomic_load(&stopping)) {
			pthread_mutex_unlock(&lock);
			return NULL;
		}
		j = qhead;
		qhead = j->qnext;
		if (!qhead)
			qtail = NULL;
		nr_queued--;
		nr_running++;
		j->running = true;
		pthread_mutex_unlock(&lock);

		run(j);

		pthread_mutex_lock(&lock);
		nr_running--;
		unlink_active(j);
		pthread_mutex_unlock(&lock);
		job_free(j);
	}
}

static void *ingester(void *arg)
{
	for (;;) {
		struct itask *t;

		pthread_mutex_lock(&ilock);
		while (!ihead && !istop)
			pthread_cond_wait(&icond, &ilock);
		if (!ihead) {
			pthread_mutex_unlock(&ilock);
			return NULL;
		}
		t = ihead;
		ihead = t->next;
		if (!ihead)
			itail = NULL;
		pthread_mutex_unlock(&ilock);
		t->fn(t->arg);
		free(t);
		pthread_mutex_lock(&ilock);
		ipending--;
		pthread_mutex_unlock(&ilock);
	}
}

void jobs_ingest(void (*fn)(void *), void *arg)
{
	struct itask *t = calloc(1, sizeof(*t));

	if (!t) {
		fn(arg); /* no memory: do it here rather than never */
		return;
	}
	t->fn = fn;
	t->arg = arg;
	pthread_mutex_lock(&ilock);
	if (itail)
		itail->next = t;
	else
		ihead = t;
	itail = t;
	ipending++;
	pthread_cond_signal(&icond);
	pthread_mutex_unlock(&ilock);
}

int jobs_start(void)
{
	workers = calloc(cfg.workers, sizeof(*workers));
	ingesters = calloc(cfg.ingest_threads, sizeof(*ingesters));
	if (!workers || !ingesters)
		return -1;
	for (; nr_workers < cfg.workers; nr_workers++)
		if (pthread_create(&workers[nr_workers], NULL, worker, NULL))
			return -1;
	for (; nr_ingesters < cfg.ingest_threads; nr_ingesters++)
		if (pthread_create(&ingesters[nr_ingesters], NULL, ingester,
				   NULL))
			return -1;
	return 0;
}

void jobs_stop(void)
{
	struct job *j;

	/* ingests first: their connections wait for an answer */
	pthread_mutex_lock(&ilock);
	istop = true;
	pthread_cond_broadcast(&icond);
	pthread_mutex_unlock(&ilock);
	for (unsigned int i = 0; i < nr_ingesters; i++)
		pthread_join(ingesters[i], NULL);

	pthread_mutex_lock(&lock);
	atomic_store(&stopping, true);
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (unsigned int i = 0; i < nr_workers; i++)
		pthread_join(workers[i], NULL);
	/* what is still queued stays queued in the database */
	while ((j = active)) {
		unlink_active(j);
		job_free(j);
	}
	qhead = qtail = NULL;
	free(workers);
	free(ingesters);
}

/* Rebuild a job from its row; false when it cannot run any more. */
static bool job_from_row(const struct store_replay *r, struct job *j, char *err,
			 size_t errlen)
{
	json_t *p = json_loads(r->params ? r->params : "", 0, NULL);
	const char *folio;
	int n;

	if (!p) {
		snprintf(err, errlen, "bad parameters");
		return false;
	}
	j->kind = !strcmp(r->kind, "history")  ? JOB_HISTORY
		  : !strcmp(r->kind, "folios") ? JOB_FOLIOS
					       : JOB_REPLAY;
	n = policies_parse_list(NULL, json_object_get(p, "policies"), j->pols,
				err, errlen);
	folio = json_string_value(json_object_get(p, "folio"));
	if (n > 0 && folio)
		j->folio = strdup(folio);
	json_decref(p);
	if (n < 0)
		return false;
	j->npol = (uint32_t)n;
	j->id = r->id;
	j->trace_id = r->trace_id;
	j->arch = r->arch;
	j->total = r->events_total;
	return true;
}

void jobs_requeue_pending(void)
{
	int64_t *ids;
	size_t n;

	if (store_replays_pending(&ids, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct store_replay r;
		struct job *j;
		char err[256];

		if (store_replay_get(ids[i], &r))
			continue;
		j = calloc(1, sizeof(*j));
		if (r.attempts >= MAX_ATTEMPTS) {
			snprintf(err, sizeof(err),
				 "gave up after %d interrupted attempts",
				 r.attempts);
			store_replay_update(r.id, "failed", 0, err, NULL, 0);
		} else if (!j || !job_from_row(&r, j, err, sizeof(err))) {
			store_replay_update(r.id, "failed", 0,
					    j ? err : "out of memory", NULL, 0);
		} else {
			store_replay_update(r.id, "queued", 0, r.error, NULL,
					    0);
			pthread_mutex_lock(&lock);
			enqueue(j); /* beyond --queue if need be */
			pthread_mutex_unlock(&lock);
			srv_log("replay %lld re-queued", (long long)r.id);
			j = NULL;
		}
		if (j)
			job_free(j);
		store_replay_free(&r);
	}
	free(ids);
}
