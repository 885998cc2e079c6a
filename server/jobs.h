/* SPDX-License-Identifier: MIT */
/*
 * jobs.h - replays off the HTTP threads: a bounded queue of replay jobs
 * served by worker threads, and a few ingest threads that store uploads
 * while their connections are suspended.
 */
#ifndef MAPCOUNTD_JOBS_H
#define MAPCOUNTD_JOBS_H

#include <stdbool.h>
#include <stdint.h>

#include "engine.h"

enum job_kind { JOB_REPLAY, JOB_HISTORY, JOB_FOLIOS };

const char *job_kind_name(enum job_kind k);

/* The canonical parameters of a job, as stored in replays.params. */
char *jobs_params(enum job_kind kind, const struct mc_policy *const *pols,
		  uint32_t n, const char *folio);

int jobs_start(void);
/* Stop: running replays are interrupted and left queued for the next
 * start; the threads are joined. */
void jobs_stop(void);
/* Re-queue the replays a previous run left queued or running. */
void jobs_requeue_pending(void);

/*
 * Queue a job (and its replays row).  Returns its id; 0 with *status 503
 * when the queue is full, 404 when the trace is gone, 500 on error (then
 * store_error_status() tells why).
 */
int64_t jobs_submit(int64_t trace_id, enum job_kind kind, uint32_t arch,
		    uint64_t events_total, const struct mc_policy *const *pols,
		    uint32_t n, const char *folio, unsigned int *status);

/* Live progress of a queued or running job; false when not active. */
bool jobs_progress(int64_t id, uint64_t *done, uint64_t *total, bool *running);

struct jobs_stats {
	unsigned int queued, running, ingest_pending;
};
void jobs_stats(struct jobs_stats *s);

/* Run fn(arg) on an ingest thread. */
void jobs_ingest(void (*fn)(void *), void *arg);

#endif /* MAPCOUNTD_JOBS_H */
