/* SPDX-License-Identifier: MIT */
/*
 * gates.h - CI gates over a replay document (the JSON of `mapcount replay
 * --format json`, or several merged): which trace, policy and metric fail
 * which gate, with the value and the limit.
 */
#ifndef MAPCOUNT_GATES_H
#define MAPCOUNT_GATES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum gate {
	GATE_UNSAFE_REUSE = 1 << 0,    /* cow.unsafe_reuse > 0 */
	GATE_FALSE_EXCLUSIVE = 1 << 1, /* shared.false_exclusive > 0 */
	GATE_OVERFLOW = 1 << 2,	       /* overflow.events > 0 */
	GATE_FIDELITY = 1 << 3,	       /* disagrees with the recorded kernel */
	GATE_REGRESSION = 1 << 4,      /* worse than --baseline */
};

#define MAX_TOLERANCES 32

struct gate_opts {
	unsigned int mask;
	json_t *baseline; /* a replay document, or NULL */
	struct {
		char metric[64];
		double value;
		bool percent;
	} tol[MAX_TOLERANCES];
	unsigned int nr_tol;
};

struct gate_failure {
	const char *gate;
	char trace[256], policy[64], metric[64];
	double value, limit;
};

/* "unsafe-reuse,false-exclusive,..." -> mask; -1 with a message. */
int gates_parse(const char *list, unsigned int *mask, char *err, size_t len);
/* "metric=value" or "metric=value%"; -1 with a message. */
int gates_tolerance(struct gate_opts *o, const char *arg, char *err,
		    size_t len);
const char *gate_name(unsigned int gate);

/* Evaluate; returns the failures (malloc'ed, *nr of them). */
struct gate_failure *gates_eval(json_t *doc, const struct gate_opts *o,
				size_t *nr);

#endif /* MAPCOUNT_GATES_H */
