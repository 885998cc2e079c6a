/* SPDX-License-Identifier: MIT */
/*
 * store.h - the SQLite store of mapcountd (schema/store.sql).
 *
 * WAL mode.  One writer connection behind a mutex (one write transaction
 * at a time, by design); readers take connections from a pool and are
 * never blocked by a writer.
 */
#ifndef MAPCOUNTD_STORE_H
#define MAPCOUNTD_STORE_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "policy.h"

/* The schema, embedded from schema/store.sql (schema.c). */
extern const char store_sql[];

int store_open(const char *path, char *err, size_t errlen);
void store_close(void);

/* True when the database file could only be opened read-only (a
 * read-only file system): reads are served, every write fails. */
bool store_readonly(void);

/* After a failed write (store_write_begin() NULL, a statement or COMMIT
 * that failed, a function below that returned -1 or 0): the HTTP status
 * that says why, 507 (disk full), 503 (read-only, busy) or 500, and a
 * message.  Per thread. */
unsigned int store_error_status(const char **msg);
/* Record the error of db's last failed call for store_error_status(). */
void store_note(sqlite3 *db);

/* A reader connection (query_only) from the pool, and back. */
sqlite3 *store_get(void);
void store_put(sqlite3 *db);

/* The writer: takes the write lock and BEGIN IMMEDIATE; NULL on error. */
sqlite3 *store_write_begin(void);
/* In a write transaction: it changes what the response cache holds for
 * scope (a trace id, or RC_SCOPE_LIST; rcache.h).  A transaction that
 * names none invalidates every cached answer. */
void store_touch(int64_t scope);
/* COMMIT and unlock: 0, or -1 (rolled back). */
int store_write_commit(sqlite3 *db);
void store_write_rollback(sqlite3 *db);

/* What a replay needs to know of a trace. */
struct store_trace {
	int64_t id;
	char sha256[65];
	char name[520];
	uint64_t events;
	int64_t chunks;
	uint64_t binary_bytes, stored_bytes;
};

/* 0 found, 1 no such trace, -1 error. */
int store_trace_get(int64_t id, struct store_trace *t);
/* The trace's JSON description; NULL when there is none. */
json_t *store_trace_json(sqlite3 *db, int64_t id);
json_t *store_trace_list(int64_t limit, int64_t offset);
/* 0 deleted, 1 not found, 2 busy (*replay: a queued or running one), -1. */
int store_trace_delete(int64_t id, int64_t *replay);
/* One stored chunk (malloc'd copy): 0, 1 no such chunk, -1 error. */
int store_chunk(int64_t trace_id, int64_t seq, void **data, size_t *len);

/* The cached result object of one policy, or NULL. */
json_t *store_result_get(sqlite3 *db, const char *sha,
			 const struct mc_policy *p, uint32_t arch);
/* Cache n per-policy result objects; 0, 1 when the trace is gone, -1. */
int store_results_put(const char *sha, uint32_t arch, uint64_t events,
		      const struct mc_policy *const *pols, json_t *const *objs,
		      uint32_t n);

struct store_replay {
	int64_t id, trace_id;
	char kind[16];
	char status[16];
	char *params;
	uint32_t arch;
	uint64_t events_total, events_done;
	char *error;
	char *result;
	char created[32], started[32], finished[32];
	double seconds;
	int attempts;
};

int64_t store_replay_new(int64_t trace_id, const char *kind, const char *params,
			 uint32_t arch, uint64_t events_total);
/* 0 found, 1 not found, -1 error; free with store_replay_free(). */
int store_replay_get(int64_t id, struct store_replay *r);
void store_replay_free(struct store_replay *r);
/* Newest replay of these parameters: active (queued or running) when
 * active, else done.  0 when none. */
int64_t store_replay_find(int64_t trace_id, const char *kind,
			  const char *params, uint32_t arch, bool active);
/* status NULL keeps it; result and error may be NULL. */
int store_replay_update(int64_t id, const char *status, uint64_t done,
			const char *error, const char *result, double seconds);
/* Replays left queued or running: ids in id order (malloc'd). */
int store_replays_pending(int64_t **ids, size_t *n);
json_t *store_replays_of_trace(int64_t trace_id);
/* Row counts for /healthz. */
json_t *store_counts(void);

#endif /* MAPCOUNTD_STORE_H */
