// SPDX-License-Identifier: MIT
/*
 * metrics.c - request, ingest and replay counters in the Prometheus text
 * exposition format (version 0.0.4).
 */
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jobs.h"
#include "mapcountd.h"
#include "rcache.h"

#define MAX_SERIES 256

static const double buckets[] = {
	0.001, 0.01, 0.1, 0.5, 1, 5, 10, 30, 60, 300
};
#define NR_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct req_series {
	const char *route, *method; /* static strings */
	unsigned int status;
	uint64_t count;
	double seconds;
};

struct replay_series {
	const char *kind, *outcome;
	uint64_t count, events;
	double sum;
	uint64_t bucket[NR_BUCKETS];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct req_series reqs[MAX_SERIES];
static unsigned int nr_reqs;
static struct replay_series reps[32];
static unsigned int nr_reps;
static uint64_t up_bytes, bin_bytes, st_bytes, ingest_events;
static struct {
	const char *outcome;
	uint64_t count;
} ingests[8];
static unsigned int nr_ingests;
static uint64_t header_timeouts;

void metrics_request(const char *route, const char *method, unsigned int status,
		     double seconds)
{
	unsigned int i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nr_reqs; i++)
		if (reqs[i].route == route && !strcmp(reqs[i].method, method) &&
		    reqs[i].status == status)
			break;
	if (i == nr_reqs && nr_reqs < MAX_SERIES)
		reqs[nr_reqs++] = (struct req_series){ .route = route,
						       .method = method,
						       .status = status };
	if (i < MAX_SERIES) {
		reqs[i].count++;
		reqs[i].seconds += seconds;
	}
	pthread_mutex_unlock(&lock);
}

void metrics_ingest(const char *outcome, uint64_t upload_bytes,
		    uint64_t binary_bytes, uint64_t stored_bytes,
		    uint64_t events)
{
	unsigned int i;

	pthread_mutex_lock(&lock);
	up_bytes += upload_bytes;
	bin_bytes += binary_bytes;
	st_bytes += stored_bytes;
	ingest_events += events;
	for (i = 0; i < nr_ingests; i++)
		if (!strcmp(ingests[i].outcome, outcome))
			break;
	if (i == nr_ingests && nr_ingests < 8)
		ingests[nr_ingests++].outcome = outcome;
	if (i < 8)
		ingests[i].count++;
	pthread_mutex_unlock(&lock);
}

void metrics_header_timeout(void)
{
	pthread_mutex_lock(&lock);
	header_timeouts++;
	pthread_mutex_unlock(&lock);
}

void metrics_replay(const char *kind, const char *outcome, double seconds,
		    uint64_t events)
{
	unsigned int i;

	pthread_mutex_lock(&lock);
	for (i = 0; i < nr_reps; i++)
		if (!strcmp(reps[i].kind, kind) &&
		    !strcmp(reps[i].outcome, outcome))
			break;
	if (i == nr_reps && nr_reps < 32)
		reps[nr_reps++] = (struct replay_series){ .kind = kind,
							  .outcome = outcome };
	if (i < 32) {
		reps[i].count++;
		reps[i].events += events;
		reps[i].sum += seconds;
		for (unsigned int b = 0; b < NR_BUCKETS; b++)
			if (seconds <= buckets[b])
				reps[i].bucket[b]++;
	}
	pthread_mutex_unlock(&lock);
}

char *metrics_render(void)
{
	struct rcache_stats rs;
	struct jobs_stats js;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	jobs_stats(&js);
	pthread_mutex_lock(&lock);
	fputs("# HELP mapcountd_http_requests_total HTTP requests answered, by "
	      "route, method and status.\n"
	      "# TYPE mapcountd_http_requests_total counter\n",
	      f);
	for (unsigned int i = 0; i < nr_reqs; i++)
		fprintf(f,
			"mapcountd_http_requests_total{route=\"%s\",method=\"%"
			"s\","
			"status=\"%u\"} %llu\n",
			reqs[i].route, reqs[i].method, reqs[i].status,
			(unsigned long long)reqs[i].count);
	fputs("# HELP mapcountd_http_request_seconds_total Time spent "
	      "answering, by route, method and status.\n"
	      "# TYPE mapcountd_http_request_seconds_total counter\n",
	      f);
	for (unsigned int i = 0; i < nr_reqs; i++)
		fprintf(f,
			"mapcountd_http_request_seconds_total{route=\"%s\","
			"method=\"%s\",status=\"%u\"} %.6f\n",
			reqs[i].route, reqs[i].method, reqs[i].status,
			reqs[i].seconds);
	fprintf(f,
		"# HELP mapcountd_ingest_bytes_total Bytes ingested: as "
		"uploaded, as canonical binary, as stored (compressed).\n"
		"# TYPE mapcountd_ingest_bytes_total counter\n"
		"mapcountd_ingest_bytes_total{form=\"upload\"} %llu\n"
		"mapcountd_ingest_bytes_total{form=\"binary\"} %llu\n"
		"mapcountd_ingest_bytes_total{form=\"stored\"} %llu\n"
		"# HELP mapcountd_ingest_events_total Events of the traces "
		"stored.\n"
		"# TYPE mapcountd_ingest_events_total counter\n"
		"mapcountd_ingest_events_total %llu\n"
		"# HELP mapcountd_ingests_total Uploads processed, by "
		"outcome.\n"
		"# TYPE mapcountd_ingests_total counter\n",
		(unsigned long long)up_bytes, (unsigned long long)bin_bytes,
		(unsigned long long)st_bytes,
		(unsigned long long)ingest_events);
	for (unsigned int i = 0; i < nr_ingests; i++)
		fprintf(f, "mapcountd_ingests_total{outcome=\"%s\"} %llu\n",
			ingests[i].outcome,
			(unsigned long long)ingests[i].count);
	fputs("# HELP mapcountd_replays_total Replays run, by kind and "
	      "outcome.\n"
	      "# TYPE mapcountd_replays_total counter\n",
	      f);
	for (unsigned int i = 0; i < nr_reps; i++)
		fprintf(f,
			"mapcountd_replays_total{kind=\"%s\",outcome=\"%s\"} "
			"%llu\n",
			reps[i].kind, reps[i].outcome,
			(unsigned long long)reps[i].count);
	fputs("# HELP mapcountd_replay_events_total Events replayed.\n"
	      "# TYPE mapcountd_replay_events_total counter\n",
	      f);
	for (unsigned int i = 0; i < nr_reps; i++)
		fprintf(f,
			"mapcountd_replay_events_total{kind=\"%s\",outcome=\"%"
			"s\"} "
			"%llu\n",
			reps[i].kind, reps[i].outcome,
			(unsigned long long)reps[i].events);
	fputs("# HELP mapcountd_replay_duration_seconds Replay durations.\n"
	      "# TYPE mapcountd_replay_duration_seconds histogram\n",
	      f);
	for (unsigned int i = 0; i < nr_reps; i++) {
		for (unsigned int b = 0; b < NR_BUCKETS; b++)
			fprintf(f,
				"mapcountd_replay_duration_seconds_bucket{kind="
				"\"%s\",outcome=\"%s\",le=\"%g\"} %llu\n",
				reps[i].kind, reps[i].outcome, buckets[b],
				(unsigned long long)reps[i].bucket[b]);
		fprintf(f,
			"mapcountd_replay_duration_seconds_bucket{kind=\"%s\","
			"outcome=\"%s\",le=\"+Inf\"} %llu\n"
			"mapcountd_replay_duration_seconds_sum{kind=\"%s\","
			"outcome=\"%s\"} %.6f\n"
			"mapcountd_replay_duration_seconds_count{kind=\"%s\","
			"outcome=\"%s\"} %llu\n",
			reps[i].kind, reps[i].outcome,
			(unsigned long long)reps[i].count, reps[i].kind,
			reps[i].outcome, reps[i].sum, reps[i].kind,
			reps[i].outcome, (unsigned long long)reps[i].count);
	}
	pthread_mutex_unlock(&lock);
	fprintf(f,
		"# HELP mapcountd_replay_queue_length Replays waiting for a "
		"worker.\n"
		"# TYPE mapcountd_replay_queue_length gauge\n"
		"mapcountd_replay_queue_length %u\n"
		"# HELP mapcountd_replay_queue_capacity Bound of the replay "
		"queue.\n"
		"# TYPE mapcountd_replay_queue_capacity gauge\n"
		"mapcountd_replay_queue_capacity %u\n"
		"# HELP mapcountd_replays_running Replays running now.\n"
		"# TYPE mapcountd_replays_running gauge\n"
		"mapcountd_replays_running %u\n"
		"# HELP mapcountd_replay_workers Replay worker threads.\n"
		"# TYPE mapcountd_replay_workers gauge\n"
		"mapcountd_replay_workers %u\n"
		"# HELP mapcountd_ingests_pending Uploads received and "
		"waiting to be stored or being stored.\n"
		"# TYPE mapcountd_ingests_pending gauge\n"
		"mapcountd_ingests_pending %u\n",
		js.queued, cfg.queue, js.running, cfg.workers,
		js.ingest_pending);
	rcache_stats(&rs);
	fprintf(f,
		"# HELP mapcountd_response_cache_requests_total Lookups of the "
		"response cache, by result.\n"
		"# TYPE mapcountd_response_cache_requests_total counter\n"
		"mapcountd_response_cache_requests_total{result=\"hit\"} "
		"%llu\n"
		"mapcountd_response_cache_requests_total{result=\"miss\"} "
		"%llu\n"
		"# HELP mapcountd_response_cache_evictions_total Answers "
		"dropped from the response cache to make room.\n"
		"# TYPE mapcountd_response_cache_evictions_total counter\n"
		"mapcountd_response_cache_evictions_total %llu\n"
		"# HELP mapcountd_response_cache_bytes Bytes the response "
		"cache holds.\n"
		"# TYPE mapcountd_response_cache_bytes gauge\n"
		"mapcountd_response_cache_bytes %llu\n"
		"# HELP mapcountd_response_cache_bytes_limit Bytes the "
		"response cache may hold (--response-cache).\n"
		"# TYPE mapcountd_response_cache_bytes_limit gauge\n"
		"mapcountd_response_cache_bytes_limit %llu\n"
		"# HELP mapcountd_response_cache_entries Answers in the "
		"response cache.\n"
		"# TYPE mapcountd_response_cache_entries gauge\n"
		"mapcountd_response_cache_entries %llu\n",
		(unsigned long long)rs.hits, (unsigned long long)rs.misses,
		(unsigned long long)rs.evicted, (unsigned long long)rs.bytes,
		(unsigned long long)rs.budget, (unsigned long long)rs.entries);
	pthread_mutex_lock(&lock);
	fprintf(f,
		"# HELP mapcountd_header_timeouts_total Connections closed "
		"because a request's header took longer than "
		"--header-timeout.\n"
		"# TYPE mapcountd_header_timeouts_total counter\n"
		"mapcountd_header_timeouts_total %llu\n",
		(unsigned long long)header_timeouts);
	pthread_mutex_unlock(&lock);
	fclose(f);
	return buf;
}
