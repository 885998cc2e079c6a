// SPDX-License-Identifier: MIT
/*
 * mapcount replay [-p POLICY]... [--plugin FILE.so]... [--arch 64|32]
 *                 [--format text|json|junit|markdown] [-o FILE] [--jobs N]
 *                 [--fail-on GATES] [--baseline FILE] [--tolerance M=V]...
 *                 TRACE|DIR...
 *
 * Streams each trace through the policies side by side (default: every
 * built-in and plugin policy) and reports per policy: COW decisions,
 * maybe-shared answers, PSS/USS and AnonPages errors, partial-mapping
 * detection, agreement with the kernel's recorded answers, metadata
 * memory, counter overflow and cost.  Directories stand for every trace
 * below them.  Traces run in parallel with --jobs; the results are the
 * same as one by one, in the same order (sorted by path).
 *
 * Exit status: 0, 1 when a gate failed, 2 on bad usage or bad input
 * (nothing is written then).
 */
#include <dirent.h>
#include <getopt.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "engine.h"
#include "output.h"
#include "remote.h"
#include "report.h"

struct opts {
	const struct mc_policy *policies[MC_MAX_POLICIES];
	uint32_t nr_policies;
	uint32_t arch;
	unsigned int jobs;
	const char *server; /* --server: replay through this mapcountd */
	struct out_opts out;
};

/* One trace to replay, and what came of it. */
struct job {
	char *path;
	json_t *result; /* the trace's object of the document */
	char *error;	/* printed, in order, when set */
	uint64_t events;
};

struct run {
	const struct opts *o;
	struct job *jobs;
	size_t nr, next, done;
	uint64_t events;
	double t0;
	bool progress;
	pthread_mutex_t lock;
};

static int usage(void)
{
	static const char *const lines[] = {
		"usage: mapcount replay [-p POLICY]... [--plugin FILE.so]... "
		"[--arch 64|32]",
		"                       [--format text|json|junit|markdown] "
		"[-o FILE] [--jobs N]",
		"                       [--fail-on "
		"unsafe-reuse,false-exclusive,overflow,fidelity,regression]",
		"                       [--baseline FILE] [--tolerance "
		"METRIC=VALUE[%]]...",
		"                       [--server http://HOST:PORT] "
		"TRACE|DIR...",
	};

	for (size_t i = 0; i < sizeof(lines) / sizeof(lines[0]); i++)
		fprintf(stderr, "%s\n", lines[i]);
	return EXIT_BAD_INPUT;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int add_policy(struct opts *o, const char *name)
{
	const struct mc_policy *p = mc_policy_find(name);

	if (!p) {
		fprintf(stderr, "mapcount replay: unknown policy '%s'\n", name);
		return -1;
	}
	if (o->nr_policies == MC_MAX_POLICIES) {
		fprintf(stderr, "mapcount replay: at most %d policies\n",
			MC_MAX_POLICIES);
		return -1;
	}
	o->policies[o->nr_policies++] = p;
	return 0;
}

static int parse(int argc, char **argv, struct opts *o)
{
	static const struct option longs[] = {
		{ "policy", required_argument, NULL, 'p' },
		{ "plugin", required_argument, NULL, 'P' },
		{ "arch", required_argument, NULL, 'a' },
		{ "jobs", required_argument, NULL, 'j' },
		{ "server", required_argument, NULL, 'S' },
		OUT_LONG_OPTIONS,
		{ NULL, 0, NULL, 0 },
	};
	const char *names[MC_MAX_POLICIES];
	uint32_t nr_names = 0;
	char err[512];
	int c, r;

	o->arch = 64;
	o->jobs = 1;
	optind = 1;
	while ((c = getopt_long(argc, argv, "p:o:j:", longs, NULL)) != -1) {
		if ((r = out_option(&o->out, c, optarg)) != 0) {
			if (r < 0)
				return -1;
			continue;
		}
		switch (c) {
		case 'p':
			if (nr_names == MC_MAX_POLICIES)
				return usage(), -1;
			names[nr_names++] = optarg;
			break;
		case 'P':
			if (mc_plugin_load(optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "mapcount replay: %s\n", err);
				return -1;
			}
			break;
		case 'a':
			if (strcmp(optarg, "64") && strcmp(optarg, "32")) {
				fprintf(stderr,
					"mapcount replay: --arch must be 64 or "
					"32, not '%s'\n",
					optarg);
				return -1;
			}
			o->arch = (uint32_t)atoi(optarg);
			break;
		case 'S':
			o->server = optarg;
			break;
		case 'j':
			o->jobs = (unsigned int)atoi(optarg);
			if (o->jobs < 1 || o->jobs > 256) {
				fprintf(stderr,
					"mapcount replay: --jobs must be 1 to "
					"256, not '%s'\n",
					optarg);
				return -1;
			}
			break;
		default:
			return usage(), -1;
		}
	}
	if (optind >= argc)
		return usage(), -1;
	/* names after plugins: -p may name a plugin's policy */
	for (uint32_t i = 0; i < nr_names; i++)
		if (add_policy(o, names[i]))
			return -1;
	if (!o->nr_policies) {
		uint32_t n;
		const struct mc_policy *const *all = mc_all_policies(&n);

		for (uint32_t i = 0; i < n && i < MC_MAX_POLICIES; i++)
			o->policies[o->nr_policies++] = all[i];
	}
	return 0;
}

/* ---- which traces ---- */

static bool is_trace_name(const char *name)
{
	size_t n = strlen(name);

	return (n > 4 && !strcmp(name + n - 4, ".mct")) ||
	       (n > 8 && !strcmp(name + n - 8, ".mct.txt")) ||
	       (n > 8 && !strcmp(name + n - 8, ".mct.zst"));
}

struct paths {
	char **p;
	size_t nr, cap;
};

static void push(struct paths *ps, const char *path)
{
	if (ps->nr == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 64;
		ps->p = realloc(ps->p, ps->cap * sizeof(char *));
		if (!ps->p)
			abort();
	}
	ps->p[ps->nr++] = strdup(path);
}

/* Every trace below dir, recursively. */
static int walk(struct paths *ps, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;

	if (!d) {
		perror(dir);
		return -1;
	}
	while ((de = readdir(d))) {
		char path[4096];
		struct stat st;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (stat(path, &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			if (walk(ps, path)) {
				closedir(d);
				return -1;
			}
		} else if (is_trace_name(de->d_name)) {
			push(ps, path);
		}
	}
	closedir(d);
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The traces named by the arguments, directories expanded and sorted. */
static int collect(int argc, char **argv, struct paths *ps)
{
	for (int i = optind; i < argc; i++) {
		struct stat st;
		size_t from = ps->nr;

		if (!strcmp(argv[i], "-") || stat(argv[i], &st) ||
		    !S_ISDIR(st.st_mode)) {
			push(ps,
			     argv[i]); /* opening it reports what is wrong */
			continue;
		}
		if (walk(ps, argv[i]))
			return -1;
		qsort(ps->p + from, ps->nr - from, sizeof(char *), cmp_str);
	}
	return 0;
}

/* ---- replaying ---- */

static char *msg(const char *fmt, const char *a, const char *b)
{
	char buf[1024];

	snprintf(buf, sizeof(buf), fmt, a, b);
	return strdup(buf);
}

static void replay_one(const struct opts *o, struct job *j)
{
	struct engine_opts eo = { .arch = o->arch,
				  .policies = o->policies,
				  .nr_policies = o->nr_policies,
				  .sample_shift = 4 };
	char err[512], namebuf[256];
	struct mct_reader *r = mct_open(j->path, err, sizeof(err));
	struct mct_event ev;
	struct engine *e;
	int ret;

	if (!r) {
		j->error = strdup(err);
		return;
	}
	if (o->server) {
		j->result = remote_replay(
			o->server, j->path,
			cli_trace_name(r, j->path, namebuf, sizeof(namebuf)),
			o->policies, o->nr_policies, o->arch, err, sizeof(err));
		if (!j->result)
			j->error = strdup(err);
		mct_close(r);
		return;
	}
	e = engine_new(mct_header(r), &eo, err, sizeof(err));
	if (!e) {
		j->error = msg("%s: %s", j->path, err);
		mct_close(r);
		return;
	}
	while ((ret = mct_next(r, &ev)) > 0) {
		if (engine_event(e, &ev, err, sizeof(err))) {
			char where[1024];

			j->error = strdup(cli_event_where(
				where, sizeof(where), r, j->path, &ev, err));
			break;
		}
	}
	if (ret < 0)
		j->error = strdup(mct_error(r));
	if (!j->error) {
		engine_finish(e);
		j->events = engine_events(e);
		j->result = report_trace_json(
			e, o->nr_policies,
			cli_trace_name(r, j->path, namebuf, sizeof(namebuf)),
			j->path, o->arch);
	}
	engine_free(e);
	mct_close(r);
}

static void progress(struct run *run)
{
	double dt = now() - run->t0;

	fprintf(stderr, "\r[%zu/%zu traces] %llu events, %.2f M events/s ",
		run->done, run->nr, (unsigned long long)run->events,
		dt > 0 ? (double)run->events / dt / 1e6 : 0.0);
	if (run->done == run->nr)
		fputc('\n', stderr);
}

static void *worker(void *arg)
{
	struct run *run = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&run->lock);
		j = run->next < run->nr ? &run->jobs[run->next++] : NULL;
		pthread_mutex_unlock(&run->lock);
		if (!j)
			return NULL;
		replay_one(run->o, j);
		pthread_mutex_lock(&run->lock);
		run->done++;
		run->events += j->events;
		if (run->progress)
			progress(run);
		pthread_mutex_unlock(&run->lock);
	}
}

static int run_all(struct run *run)
{
	unsigned int n =
		run->o->jobs < run->nr ? run->o->jobs : (unsigned int)run->nr;
	pthread_t tids[256];
	unsigned int started = 0;

	pthread_mutex_init(&run->lock, NULL);
	run->t0 = now();
	for (; started < n; started++)
		if (pthread_create(&tids[started], NULL, worker, run))
			break;
	if (!started)
		worker(run);
	for (unsigned int i = 0; i < started; i++)
		pthread_join(tids[i], NULL);
	pthread_mutex_destroy(&run->lock);
	return 0;
}

int cmd_replay(int argc, char **argv)
{
	struct opts o = { 0 };
	struct paths ps = { 0 };
	struct run run = { .o = &o };
	json_t *traces;
	int status = EXIT_OK;

	if (parse(argc, argv, &o) || collect(argc, argv, &ps)) {
		json_decref(o.out.gates.baseline);
		return EXIT_BAD_INPUT;
	}
	run.jobs = calloc(ps.nr ? ps.nr : 1, sizeof(*run.jobs));
	run.nr = ps.nr;
	for (size_t i = 0; i < ps.nr; i++)
		run.jobs[i].path = ps.p[i];
	run.progress = isatty(STDERR_FILENO) && ps.nr > 1;
	run_all(&run);

	traces = json_array();
	for (size_t i = 0; i < run.nr; i++) {
		struct job *j = &run.jobs[i];

		if (j->error) {
			fprintf(stderr, "%s\n", j->error);
			status = EXIT_BAD_INPUT;
		} else if (status == EXIT_OK) {
			json_array_append(traces, j->result);
		}
		json_decref(j->result);
		free(j->error);
		free(j->path);
	}
	free(run.jobs);
	free(ps.p);
	if (status == EXIT_OK) {
		json_t *doc = report_json(o.arch, json_incref(traces));

		status = out_finish(doc, &o.out);
		json_decref(doc);
	} else {
		json_decref(o.out.gates.baseline);
	}
	json_decref(traces);
	return status;
}
