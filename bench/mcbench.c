// SPDX-License-Identifier: MIT
/*
 * mcbench - throughput of the trace readers and the replay engine.
 *
 *   mcbench decode TRACE              read and decode every event
 *   mcbench replay TRACE [POLICY...]  replay through the policies named
 *                                     (none: all built-ins with the oracle,
 *                                     as `mapcount replay` does; names:
 *                                     those alone, no oracle)
 *   mcbench rss -- CMD [ARGS]         run CMD: wall time and peak RSS
 *
 * Each prints one line of key=value pairs (events, seconds, events_per_s,
 * peak live folios, RSS growth, modelled per-page atomics) for
 * bench/run.sh to tabulate.  Wall time covers the loop only: opening the
 * file and building the engine are not timed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long maxrss_kib(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return ru.ru_maxrss;
}

static struct mct_reader *open_or_die(const char *path)
{
	char err[512];
	struct mct_reader *r = mct_open(path, err, sizeof(err));

	if (!r) {
		fprintf(stderr, "%s\n", err);
		exit(2);
	}
	return r;
}

static int decode(const char *path)
{
	struct mct_reader *r = open_or_die(path);
	struct mct_event ev;
	uint64_t n = 0, sum = 0;
	double t0 = now(), dt;
	int ret;

	while ((ret = mct_next(r, &ev)) > 0) {
		sum += ev.kind + ev.first; /* keep the decode honest */
		n++;
	}
	dt = now() - t0;
	if (ret < 0) {
		fprintf(stderr, "%s\n", mct_error(r));
		return 2;
	}
	printf("mode=decode events=%llu seconds=%.4f events_per_s=%.0f "
	       "check=%llu\n",
	       (unsigned long long)n, dt, (double)n / dt,
	       (unsigned long long)(sum & 0xff));
	mct_close(r);
	return 0;
}

static int replay(const char *path, int nr, char **names)
{
	const struct mc_policy *pols[MC_MAX_POLICIES];
	struct engine_opts o = { .arch = 64, .sample_shift = 4 };
	struct mct_reader *r = open_or_die(path);
	long rss0 = maxrss_kib(RUSAGE_SELF);
	uint64_t live = 0, peak = 0, atomics = 0;
	struct mct_event ev;
	char err[512];
	struct engine *e;
	double t0, dt;
	int ret;

	if (nr > MC_MAX_POLICIES)
		nr = MC_MAX_POLICIES;
	for (int i = 0; i < nr; i++) {
		pols[i] = mc_policy_find(names[i]);
		if (!pols[i]) {
			fprintf(stderr, "unknown policy %s\n", names[i]);
			return 2;
		}
	}
	if (nr) {
		o.policies = pols;
		o.nr_policies = (uint32_t)nr;
		o.no_oracle = true;
	} else {
		o.policies = mc_builtin_policies(&o.nr_policies);
	}
	e = engine_new(mct_header(r), &o, err, sizeof(err));
	if (!e) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	t0 = now();
	while ((ret = mct_next(r, &ev)) > 0) {
		if (engine_event(e, &ev, err, sizeof(err))) {
			fprintf(stderr, "%s: event %llu: %s\n", path,
				(unsigned long long)mct_event_index(r), err);
			return 2;
		}
		live += ev.kind == MCT_ALLOC;
		live -= ev.kind == MCT_FREE;
		if (live > peak)
			peak = live;
	}
	engine_finish(e);
	dt = now() - t0;
	if (ret < 0) {
		fprintf(stderr, "%s\n", mct_error(r));
		return 2;
	}
	for (uint32_t i = 0; i < o.nr_policies; i++)
		if (!strcmp(engine_result(e, i)->policy->name, "per-page"))
			atomics = engine_result(e, i)->cost.atomics;
	printf("mode=replay policies=%s events=%llu seconds=%.4f "
	       "events_per_s=%.0f peak_live_folios=%llu rss_growth_kib=%ld "
	       "per_page_atomics_per_s=%.0f\n",
	       nr ? names[0] : "all", (unsigned long long)engine_events(e), dt,
	       (double)engine_events(e) / dt, (unsigned long long)peak,
	       maxrss_kib(RUSAGE_SELF) - rss0, (double)atomics / dt);
	engine_free(e);
	mct_close(r);
	return 0;
}

static int rss(char **argv)
{
	double t0 = now();
	int status;
	pid_t pid = fork();

	if (pid == 0) {
		execvp(argv[0], argv);
		_exit(127);
	}
	waitpid(pid, &status, 0);
	printf("mode=rss seconds=%.3f peak_rss_kib=%ld status=%d\n", now() - t0,
	       maxrss_kib(RUSAGE_CHILDREN),
	       WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc >= 3 && !strcmp(argv[1], "decode"))
		return decode(argv[2]);
	if (argc >= 3 && !strcmp(argv[1], "replay"))
		return replay(argv[2], argc - 3, argv + 3);
	if (argc >= 4 && !strcmp(argv[1], "rss") && !strcmp(argv[2], "--"))
		return rss(argv + 3);
	fputs("usage: mcbench decode TRACE | replay TRACE [POLICY...] | rss -- "
	      "CMD...\n",
	      stderr);
	return 2;
}
