/* SPDX-License-Identifier: MIT */
/* metrics.h - counters of mapcountd, exposed at /metrics (Prometheus). */
#ifndef MAPCOUNTD_METRICS_H
#define MAPCOUNTD_METRICS_H

#include <stdint.h>

void metrics_request(const char *route, const char *method, unsigned int status,
		     double seconds);
void metrics_ingest(const char *outcome, uint64_t upload_bytes,
		    uint64_t binary_bytes, uint64_t stored_bytes,
		    uint64_t events);
void metrics_replay(const char *kind, const char *outcome, double seconds,
		    uint64_t events);
/* A connection closed because its request's header was too slow. */
void metrics_header_timeout(void);
/* The exposition text (malloc'd). */
char *metrics_render(void);

#endif /* MAPCOUNTD_METRICS_H */
