/* SPDX-License-Identifier: MIT */
/*
 * rcache.h - the response cache of mapcountd: the serialized JSON bodies of
 * the read-mostly GET endpoints (policies, trace lists, traces, their
 * replays, comparisons, folio views, finished replays), keyed by the
 * normalised request, bounded in bytes (--response-cache), least recently
 * used out first.
 *
 * Invalidation is by scope: an entry belongs to the trace it describes (its
 * id), to the trace list (RC_SCOPE_LIST) or to nothing that ever changes
 * (RC_SCOPE_STATIC).  Every write transaction of the store names the scopes
 * it changes, and brackets its COMMIT with rcache_begin() and rcache_end():
 * in between, entries of those scopes are neither served nor stored, and
 * after it, only answers computed from a read that started after the COMMIT
 * (a ticket taken after rcache_end()) are.  A write that names no scope
 * invalidates everything.  So no answer older than the last write it
 * depends on is served once that write's request is answered.
 *
 * Entries are refcounted: a response being sent keeps its body alive after
 * the entry was evicted or invalidated.
 */
#ifndef MAPCOUNTD_RCACHE_H
#define MAPCOUNTD_RCACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RC_SCOPE_STATIC 0
#define RC_SCOPE_LIST	(-1)

struct rc_entry;

/* bytes: the budget (0: no cache; bodies still get an ETag). */
void rcache_init(uint64_t bytes);
void rcache_fini(void);

/* Take before reading what an answer is made of. */
uint64_t rcache_ticket(void);

/* The valid entry of key, with a reference; NULL on a miss. */
struct rc_entry *rcache_get(const char *key);
/*
 * An entry for body (malloc'd, taken over), with a reference for the
 * caller.  It is kept in the cache when it fits and scope did not change
 * since ticket; otherwise it lives only as long as its references.  NULL
 * when out of memory (body freed).
 */
struct rc_entry *rcache_put(const char *key, int64_t scope, uint64_t ticket,
			    char *body, size_t len);
void rcache_unref(struct rc_entry *e);
const char *rcache_body(const struct rc_entry *e, size_t *len);
/* The strong ETag of the body, quoted. */
const char *rcache_etag(const struct rc_entry *e);

/* Around the COMMIT of a write changing scopes[0..n) (n 0: everything). */
void rcache_begin(const int64_t *scopes, unsigned int n);
void rcache_end(const int64_t *scopes, unsigned int n);

struct rcache_stats {
	uint64_t budget, bytes, entries;
	uint64_t hits, misses, stored, evicted;
};
void rcache_stats(struct rcache_stats *s);

#endif /* MAPCOUNTD_RCACHE_H */
