/* SPDX-License-Identifier: MIT */
/*
 * mapcountd.h - the HTTP service of mapcount-lab: what its parts share.
 *
 *   main.c      options, signals, start and stop
 *   util.c      the configuration, log, clocks, hashes, UTF-8 repair
 *   http.c      libmicrohttpd daemon, routing, auth, static files, replies
 *   h_traces.c  upload, list, show, download, delete
 *   h_replay.c  policies, replays, comparisons, folio views
 *   ingest.c    parse + validate + canonical binary + zstd chunks + store
 *   chunks.c    reading stored chunks back (FILE streams, downloads)
 *   store.c     SQLite: connections, migrations, queries
 *   rcache.c    the response cache of the read-mostly GET endpoints
 *   jobs.c      the replay queue and worker threads, the ingest threads
 *   analysis.c  replays, folio histories and folio rankings
 *   policies.c  the policy registry (built-ins; plugin hook)
 *   metrics.c   Prometheus counters
 */
#ifndef MAPCOUNTD_H
#define MAPCOUNTD_H

#include <jansson.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include "engine.h"

#define SRV_NAME "mapcountd"

struct srv_config {
	char listen[256]; /* ADDR:PORT as given */
	char host[128];	  /* ADDR part, for messages */
	struct sockaddr_storage sa;
	socklen_t salen;
	bool loopback;
	const char *db_path;
	const char *load_dir;
	const char *token_file;
	const char *web_root;
	const char *plugin_dir;
	uint64_t max_upload;
	unsigned int workers, queue, http_threads, ingest_threads;
	unsigned int conn_timeout;
	unsigned int header_timeout; /* a request's header must be in by */
	const char *cors[16];	     /* --cors-origin: allowed origins */
	unsigned int nr_cors;
	uint64_t sync_limit;	 /* folio views of traces up to this many events
				    run on the request thread */
	uint64_t response_cache; /* bytes of cached answers; 0: none */
	unsigned char token_sha[32];
	bool have_token;
	unsigned int test_delay_ms; /* MAPCOUNTD_TEST_REPLAY_DELAY_MS */
	char report_fp[17];	    /* fingerprint of the report's shape */
};

extern struct srv_config cfg;

/* util */
void srv_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *srv_now_iso(char *buf, size_t len);
double srv_mono(void);
json_t *json_error_body(const char *error, const char *detail);
int sha256_hex(const void *p, size_t n, char out[65]);
/* src with every byte that is not part of well-formed UTF-8 replaced by
 * U+FFFD, cut to fit len (whole characters): trace strings may be any
 * bytes (docs/trace-format.md), JSON strings may not. */
char *utf8_repair(char *dst, size_t len, const char *src);
/* The status of a failed write to storage: 507 when it is full (ENOSPC,
 * EDQUOT), 503 when it is read-only (EROFS), else 500; and the "error"
 * of such a status's body. */
unsigned int errno_status(int e);
const char *status_error(unsigned int status);

#endif /* MAPCOUNTD_H */
