// SPDX-License-Identifier: MIT
/*
 * rcache.c - the response cache (rcache.h): a hash table of refcounted
 * entries on an LRU list, behind one mutex held only for lookups, inserts
 * and invalidations (never while a body is built or sent).
 *
 * Scopes hash to a fixed set of stripes; a stripe remembers the clock of
 * the last write to any scope that maps to it, and whether a write is
 * committing.  Two scopes sharing a stripe only invalidate each other more
 * often than needed.
 */
#include "rcache.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RC_STRIPES  1024 /* a power of two */
#define RC_OVERHEAD 128	 /* bytes counted per entry beyond key and body */

struct rc_entry {
	struct rc_entry *hnext;		/* hash chain */
	struct rc_entry *lprev, *lnext; /* LRU list, most recent first */
	atomic_uint refs;
	bool linked; /* in the table (holds a reference) */
	uint64_t hash, ticket;
	int64_t scope;
	size_t len, cost;
	char *key, *body;
	char etag[24];
};

struct stripe {
	uint64_t last;	      /* clock of the last write ended */
	unsigned int pending; /* writes committing */
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t budget, bytes, nr_entries;
static struct rc_entry **buckets;
static size_t nr_buckets; /* a power of two, or 0 */
static struct rc_entry *lru_head, *lru_tail;
static struct stripe stripes[RC_STRIPES];
static uint64_t all_last;
static unsigned int all_pending;
static _Atomic uint64_t clock_;
static _Atomic uint64_t hits, misses, stored, evicted;

static uint64_t key_hash(const char *s)
{
	uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
	return h;
}

static uint64_t fmix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

/* A 64-bit hash of a body, 8 bytes a step. */
static uint64_t body_hash(const char *p, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ n, w;
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		memcpy(&w, p + i, 8);
		w *= 0x87c37b91114253d5ull;
		w = (w << 31) | (w >> 33);
		h ^= w * 0x4cf5ad432745937full;
		h = ((h << 27) | (h >> 37)) * 5 + 0x52dce729;
	}
	w = 0;
	memcpy(&w, p + i, n - i);
	h ^= fmix64(w ^ n);
	return fmix64(h);
}

static struct stripe *stripe_of(int64_t scope)
{
	uint64_t h = (uint64_t)scope * 0x9e3779b97f4a7c15ull;

	return &stripes[h >> 54 & (RC_STRIPES - 1)];
}

/* Could an answer of scope computed after ticket be served?  Locked. */
static bool fresh(int64_t scope, uint64_t ticket)
{
	const struct stripe *st;

	if (all_pending || ticket < all_last)
		return false;
	if (scope == RC_SCOPE_STATIC)
		return true;
	st = stripe_of(scope);
	return !st->pending && ticket >= st->last;
}

static void entry_free(struct rc_entry *e)
{
	free(e->body);
	free(e->key);
	free(e);
}

void rcache_unref(struct rc_entry *e)
{
	if (e && atomic_fetch_sub(&e->refs, 1) == 1)
		entry_free(e);
}

/* Take e out of the table.  Locked. */
static void unlink_entry(struct rc_entry *e)
{
	struct rc_entry **pp = &buckets[e->hash & (nr_buckets - 1)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		lru_tail = e->lprev;
	bytes -= e->cost;
	nr_entries--;
	e->linked = false;
	rcache_unref(e);
}

static void lru_push(struct rc_entry *e)
{
	e->lprev = NULL;
	e->lnext = lru_head;
	if (lru_head)
		lru_head->lprev = e;
	lru_head = e;
	if (!lru_tail)
		lru_tail = e;
}

static void lru_touch(struct rc_entry *e)
{
	if (lru_head == e)
		return;
	e->lprev->lnext = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		lru_tail = e->lprev;
	lru_push(e);
}

static struct rc_entry *lookup(const char *key, uint64_t h)
{
	struct rc_entry *e;

	if (!nr_buckets)
		return NULL;
	for (e = buckets[h & (nr_buckets - 1)]; e; e = e->hnext)
		if (e->hash == h && !strcmp(e->key, key))
			return e;
	return NULL;
}

/* Twice the buckets when there are more entries than buckets.  Locked. */
static void grow(void)
{
	size_t n = nr_buckets ? 2 * nr_buckets : 256;
	struct rc_entry **b;

	if (nr_entries < nr_buckets)
		return;
	b = calloc(n, sizeof(*b));
	if (!b)
		return; /* longer chains */
	for (size_t i = 0; i < nr_buckets; i++) {
		struct rc_entry *e = buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			e->hnext = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(buckets);
	buckets = b;
	nr_buckets = n;
}

void rcache_init(uint64_t b)
{
	budget = b;
}

void rcache_fini(void)
{
	pthread_mutex_lock(&lock);
	while (lru_head)
		unlink_entry(lru_head);
	free(buckets);
	buckets = NULL;
	nr_buckets = 0;
	budget = 0;
	pthread_mutex_unlock(&lock);
}

uint64_t rcache_ticket(void)
{
	return atomic_load(&clock_);
}

struct rc_entry *rcache_get(const char *key)
{
	uint64_t h;
	struct rc_entry *e;

	if (!budget)
		return NULL;
	h = key_hash(key);
	pthread_mutex_lock(&lock);
	e = lookup(key, h);
	if (e && !fresh(e->scope, e->ticket)) {
		unlink_entry(e);
		e = NULL;
	}
	if (e) {
		lru_touch(e);
		atomic_fetch_add(&e->refs, 1);
	}
	pthread_mutex_unlock(&lock);
	atomic_fetch_add(e ? &hits : &misses, 1);
	return e;
}

struct rc_entry *rcache_put(const char *key, int64_t scope, uint64_t ticket,
			    char *body, size_t len)
{
	struct rc_entry *e = calloc(1, sizeof(*e)), *old;

	if (!e || !(e->key = strdup(key))) {
		free(e);
		free(body);
		return NULL;
	}
	e->body = body;
	e->len = len;
	e->scope = scope;
	e->ticket = ticket;
	e->hash = key_hash(key);
	e->cost = len + strlen(key) + RC_OVERHEAD;
	snprintf(e->etag, sizeof(e->etag), "\"%016llx\"",
		 (unsigned long long)body_hash(body, len));
	atomic_init(&e->refs, 1);
	/* one answer may not push out more than an eighth of the rest */
	if (!budget || e->cost > budget / 8)
		return e;
	pthread_mutex_lock(&lock);
	if (fresh(scope, ticket)) {
		old = lookup(key, e->hash);
		if (old)
			unlink_entry(old);
		grow();
		if (nr_buckets) {
			size_t i = e->hash & (nr_buckets - 1);

			e->hnext = buckets[i];
			buckets[i] = e;
			lru_push(e);
			e->linked = true;
			atomic_fetch_add(&e->refs, 1);
			bytes += e->cost;
			nr_entries++;
			atomic_fetch_add(&stored, 1);
			while (bytes > budget && lru_tail != e) {
				unlink_entry(lru_tail);
				atomic_fetch_add(&evicted, 1);
			}
		}
	}
	pthread_mutex_unlock(&lock);
	return e;
}

const char *rcache_body(const struct rc_entry *e, size_t *len)
{
	*len = e->len;
	return e->body;
}

const char *rcache_etag(const struct rc_entry *e)
{
	return e->etag;
}

void rcache_begin(const int64_t *scopes, unsigned int n)
{
	pthread_mutex_lock(&lock);
	if (!n)
		all_pending++;
	for (unsigned int i = 0; i < n; i++)
		stripe_of(scopes[i])->pending++;
	pthread_mutex_unlock(&lock);
}

void rcache_end(const int64_t *scopes, unsigned int n)
{
	uint64_t now;

	pthread_mutex_lock(&lock);
	now = atomic_load(&clock_) + 1;
	atomic_store(&clock_, now);
	if (!n) {
		all_pending--;
		all_last = now;
	}
	for (unsigned int i = 0; i < n; i++) {
		struct stripe *st = stripe_of(scopes[i]);

		st->pending--;
		st->last = now;
	}
	pthread_mutex_unlock(&lock);
}

void rcache_stats(struct rcache_stats *s)
{
	pthread_mutex_lock(&lock);
	s->budget = budget;
	s->bytes = bytes;
	s->entries = nr_entries;
	pthread_mutex_unlock(&lock);
	s->hits = atomic_load(&hits);
	s->misses = atomic_load(&misses);
	s->stored = atomic_load(&stored);
	s->evicted = atomic_load(&evicted);
}
