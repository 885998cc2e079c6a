// SPDX-License-Identifier: MIT
/*
 * mapcountd - the HTTP service of mapcount-lab.
 *
 *   mapcountd [--listen ADDR:PORT] [--db PATH] [--load DIR]
 *             [--max-upload BYTES] [--token-file PATH] [--workers N]
 *             [--queue N] [--web-root DIR] [--plugin-dir DIR]
 *             [--http-threads N] [--timeout SECONDS] [--sync-limit EVENTS]
 *             [--header-timeout SECONDS] [--cors-origin ORIGIN]...
 *             [--response-cache BYTES]
 *
 * Ingests traces into SQLite, replays them on worker threads and serves
 * the results as JSON (docs/api.md).  SIGTERM or SIGINT stops it cleanly:
 * no new connections, running replays interrupted and left queued for the
 * next start, the database closed.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "analysis.h"
#include "http.h"
#include "ingest.h"
#include "jobs.h"
#include "mapcountd.h"
#include "policies.h"
#include "rcache.h"
#include "store.h"

#ifndef MAPCOUNT_SOURCE_DIR
#define MAPCOUNT_SOURCE_DIR "."
#endif

/* ---- options ---- */

static int usage(FILE *out, int status)
{
	fputs("usage: mapcountd [--listen ADDR:PORT] [--db PATH] [--load DIR]\n"
	      "                 [--max-upload BYTES] [--token-file PATH]\n"
	      "                 [--workers N] [--queue N] [--web-root DIR]\n"
	      "                 [--plugin-dir DIR] [--http-threads N]\n"
	      "                 [--timeout SECONDS] [--sync-limit EVENTS]\n"
	      "                 [--header-timeout SECONDS] "
	      "[--cors-origin ORIGIN]...\n"
	      "                 [--response-cache BYTES]\n"
	      "\n"
	      "  --listen ADDR:PORT   default 127.0.0.1:8080; port 0 picks a "
	      "free one\n"
	      "  --db PATH            SQLite database, default ./mapcount.db\n"
	      "  --load DIR           store every trace of DIR at start\n"
	      "  --max-upload BYTES   largest upload, default 1 GiB (suffixes "
	      "K, M, G)\n"
	      "  --token-file PATH    bearer token for POST and DELETE; "
	      "required\n"
	      "                       when listening beyond loopback\n"
	      "  --workers N          replay threads, default 2\n"
	      "  --queue N            replays waiting at most, default 64\n"
	      "  --web-root DIR       static files (the web UI), default "
	      "clients/web\n"
	      "  --plugin-dir DIR     policy plug-ins\n"
	      "  --http-threads N     HTTP thread pool, default: one per CPU, "
	      "at least 2\n"
	      "  --timeout SECONDS    idle connection timeout, default 60\n"
	      "  --header-timeout SECONDS\n"
	      "                       time a request's header may take, "
	      "default 10\n"
	      "  --cors-origin ORIGIN allow cross-origin requests from ORIGIN "
	      "(e.g.\n"
	      "                       https://ui.example:8443); repeatable; "
	      "none by default\n"
	      "  --sync-limit EVENTS  folio views of traces up to this size "
	      "are\n"
	      "                       computed at once, default 100000\n"
	      "  --response-cache BYTES\n"
	      "                       memory for cached answers, default 64M "
	      "(suffixes\n"
	      "                       K, M, G); 0 turns the cache off\n",
	      out);
	return status;
}

static int parse_uint(const char *s, uint64_t *v, bool suffixes)
{
	char *end;
	unsigned long long n;

	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno || end == s)
		return -1;
	if (suffixes && *end) {
		unsigned int shift = *end == 'K' || *end == 'k'	  ? 10
				     : *end == 'M' || *end == 'm' ? 20
				     : *end == 'G' || *end == 'g' ? 30
								  : 64;

		if (shift == 64 || end[1] || n > (UINT64_MAX >> shift))
			return -1;
		n <<= shift;
		end++;
	}
	if (*end)
		return -1;
	*v = n;
	return 0;
}

static int parse_listen(const char *s)
{
	struct addrinfo hints = { .ai_flags = AI_NUMERICSERV,
				  .ai_socktype = SOCK_STREAM },
			*res = NULL;
	const char *colon = strrchr(s, ':');
	char host[128], port[16];
	size_t hl;

	if (!colon || strlen(colon + 1) >= sizeof(port) || !colon[1] ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1) ||
	    strtoul(colon + 1, NULL, 10) > 65535)
		return -1; /* getaddrinfo() takes 99999 for 34463 */
	hl = (size_t)(colon - s);
	if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
		s++;
		hl -= 2;
	}
	if (!hl || hl >= sizeof(host))
		return -1;
	memcpy(host, s, hl);
	host[hl] = 0;
	strcpy(port, colon + 1);
	if (getaddrinfo(host, port, &hints, &res) || !res)
		return -1;
	memcpy(&cfg.sa, res->ai_addr, res->ai_addrlen);
	cfg.salen = res->ai_addrlen;
	freeaddrinfo(res);
	snprintf(cfg.host, sizeof(cfg.host), "%s", host);
	if (cfg.sa.ss_family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&cfg.sa;

		cfg.loopback = (ntohl(in->sin_addr.s_addr) >> 24) == 127;
		inet_ntop(AF_INET, &in->sin_addr, cfg.host, sizeof(cfg.host));
	} else if (cfg.sa.ss_family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&cfg.sa;
		char a[INET6_ADDRSTRLEN];

		cfg.loopback = IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr);
		inet_ntop(AF_INET6, &in6->sin6_addr, a, sizeof(a));
		snprintf(cfg.host, sizeof(cfg.host), "[%s]", a);
	} else {
		return -1;
	}
	return 0;
}

static int read_token(const char *path)
{
	char buf[4096];
	size_t n;
	FILE *f = fopen(path, "r");

	if (!f) {
		srv_log("--token-file %s: %s", path, strerror(errno));
		return -1;
	}
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	while (n && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		     buf[n - 1] == ' ' || buf[n - 1] == '\t'))
		buf[--n] = 0;
	if (!n || strchr(buf, '\n')) {
		srv_log("--token-file %s: expected one line, the token", path);
		return -1;
	}
	{
		char hex[65];

		if (sha256_hex(buf, n, hex))
			return -1;
		for (int i = 0; i < 32; i++) {
			unsigned int b;

			sscanf(hex + 2 * i, "%2x", &b);
			cfg.token_sha[i] = (unsigned char)b;
		}
	}
	explicit_bzero(buf, sizeof(buf));
	cfg.have_token = true;
	return 0;
}

/* An origin as browsers send it: scheme://host[:port], nothing else (no
 * wildcard, no path, no "null"). */
static bool origin_ok(const char *o)
{
	const char *h = !strncmp(o, "http://", 7)    ? o + 7
			: !strncmp(o, "https://", 8) ? o + 8
						     : NULL;

	if (!h || !*h || strlen(o) > 255)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && !strchr(".-:[]", *h))
			return false;
	return true;
}

static bool is_dir(const char *p)
{
	struct stat sb;

	return !stat(p, &sb) && S_ISDIR(sb.st_mode);
}

static int parse(int argc, char **argv)
{
	static const struct option longs[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "db", required_argument, NULL, 'd' },
		{ "load", required_argument, NULL, 'L' },
		{ "max-upload", required_argument, NULL, 'm' },
		{ "token-file", required_argument, NULL, 't' },
		{ "workers", required_argument, NULL, 'w' },
		{ "queue", required_argument, NULL, 'q' },
		{ "web-root", required_argument, NULL, 'r' },
		{ "plugin-dir", required_argument, NULL, 'p' },
		{ "http-threads", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "sync-limit", required_argument, NULL, 's' },
		{ "header-timeout", required_argument, NULL, 'R' },
		{ "cors-origin", required_argument, NULL, 'C' },
		{ "response-cache", required_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static char web_default[4096];
	uint64_t v;
	int c, li = 0;

	snprintf(cfg.listen, sizeof(cfg.listen), "127.0.0.1:8080");
	cfg.db_path = "./mapcount.db";
	cfg.max_upload = 1ull << 30;
	cfg.workers = 2;
	cfg.queue = 64;
	/* one per CPU: more only take turns on the same cores */
	{
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		cfg.http_threads = ncpu < 2    ? 2
				   : ncpu > 64 ? 64
					       : (unsigned)ncpu;
	}
	cfg.ingest_threads = 2;
	cfg.conn_timeout = 60;
	cfg.header_timeout = 10;
	cfg.sync_limit = 100000;
	cfg.response_cache = 64ull << 20;
	while ((c = getopt_long(argc, argv, "h", longs, &li)) != -1) {
		switch (c) {
		case 'l':
			snprintf(cfg.listen, sizeof(cfg.listen), "%s", optarg);
			break;
		case 'd':
			cfg.db_path = optarg;
			break;
		case 'L':
			cfg.load_dir = optarg;
			break;
		case 'm':
			if (parse_uint(optarg, &cfg.max_upload, true) ||
			    !cfg.max_upload)
				goto bad;
			break;
		case 't':
			cfg.token_file = optarg;
			break;
		case 'w':
			if (parse_uint(optarg, &v, false) || !v || v > 64)
				goto bad;
			cfg.workers = (unsigned int)v;
			break;
		case 'q':
			if (parse_uint(optarg, &v, false) || !v || v > 100000)
				goto bad;
			cfg.queue = (unsigned int)v;
			break;
		case 'r':
			cfg.web_root = optarg;
			break;
		case 'p':
			cfg.plugin_dir = optarg;
			break;
		case 'H':
			if (parse_uint(optarg, &v, false) || !v || v > 256)
				goto bad;
			cfg.http_threads = (unsigned int)v;
			break;
		case 'T':
			if (parse_uint(optarg, &v, false) || !v || v > 86400)
				goto bad;
			cfg.conn_timeout = (unsigned int)v;
			break;
		case 's':
			if (parse_uint(optarg, &cfg.sync_limit, false))
				goto bad;
			break;
		case 'R':
			if (parse_uint(optarg, &v, false) || !v || v > 3600)
				goto bad;
			cfg.header_timeout = (unsigned int)v;
			break;
		case 'C':
			if (!origin_ok(optarg) ||
			    cfg.nr_cors >=
				    sizeof(cfg.cors) / sizeof(cfg.cors[0]))
				goto bad;
			cfg.cors[cfg.nr_cors++] = optarg;
			break;
		case 'c':
			if (parse_uint(optarg, &cfg.response_cache, true))
				goto bad;
			break;
		case 'h':
			exit(usage(stdout, 0));
		default:
			return usage(stderr, -1);
		}
	}
	if (optind < argc)
		return usage(stderr, -1);
	if (parse_listen(cfg.listen)) {
		srv_log("--listen '%s': expected ADDR:PORT, e.g. "
			"127.0.0.1:8080 or [::1]:0",
			cfg.listen);
		return -1;
	}
	if (cfg.token_file && read_token(cfg.token_file))
		return -1;
	if (!cfg.loopback && !cfg.have_token) {
		srv_log("refusing to listen on %s beyond loopback without "
			"--token-file",
			cfg.listen);
		return -1;
	}
	if (!cfg.web_root) {
		snprintf(web_default, sizeof(web_default), "%s/clients/web",
			 MAPCOUNT_SOURCE_DIR);
		cfg.web_root =
			is_dir(web_default) ? web_default : "clients/web";
	}
	if (cfg.load_dir && !is_dir(cfg.load_dir)) {
		srv_log("--load %s: not a directory", cfg.load_dir);
		return -1;
	}
	{
		const char *d = getenv("MAPCOUNTD_TEST_REPLAY_DELAY_MS");

		if (d && parse_uint(d, &v, false) == 0 && v <= 600000)
			cfg.test_delay_ms = (unsigned int)v;
	}
	return 0;
bad:
	srv_log("bad value '%s' for --%s", optarg, longs[li].name);
	return usage(stderr, -1);
}

/* ---- --load ---- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void load_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL;
	size_t n = 0, cap = 0;

	if (!d) {
		srv_log("--load %s: %s", dir, strerror(errno));
		return;
	}
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || !strstr(de->d_name, ".mct"))
			continue;
		if (n == cap) {
			char **p;

			cap = cap ? 2 * cap : 16;
			p = realloc(names, cap * sizeof(*p));
			if (!p)
				break;
			names = p;
		}
		names[n++] = strdup(de->d_name);
	}
	closedir(d);
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		char path[4096];
		struct ingest_out out;
		struct stat sb;
		int fd;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 || fstat(fd, &sb) || !S_ISREG(sb.st_mode)) {
			if (fd >= 0)
				close(fd);
			free(names[i]);
			continue;
		}
		ingest_trace(&(struct ingest_in){ .fd = fd,
						  .bytes = (uint64_t)sb.st_size,
						  .filename = names[i] },
			     &out);
		close(fd);
		if (out.status == 201 || out.status == 200)
			srv_log("load: %s: %s trace %lld", path,
				out.status == 201 ? "stored as" : "already",
				(long long)out.id);
		else
			srv_log("load: %s: skipped: %s", path,
				json_string_value(
					json_object_get(out.body, "detail")));
		json_decref(out.body);
		free(names[i]);
	}
	free(names);
}

int main(int argc, char **argv)
{
	sigset_t sigs;
	char err[1024];
	int sig = 0;

	if (parse(argc, argv))
		return 2;
	json_object_seed(0); /* before any thread: jansson's hash seed */
	/* every thread inherits the mask: main takes the signals */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (store_open(cfg.db_path, err, sizeof(err))) {
		srv_log("%s", err);
		store_close();
		return 1;
	}
	if (policies_load_plugins(cfg.plugin_dir)) {
		store_close();
		return 1;
	}
	if (analysis_report_fingerprint(cfg.report_fp)) {
		store_close();
		return 1;
	}
	if (jobs_start()) {
		srv_log("cannot start the worker threads");
		store_close();
		return 1;
	}
	if (!store_readonly()) /* nothing could be recorded */
		jobs_requeue_pending();
	if (cfg.load_dir)
		load_dir(cfg.load_dir);
	rcache_init(cfg.response_cache);
	if (http_start(err, sizeof(err))) {
		srv_log("%s", err);
		jobs_stop();
		store_close();
		rcache_fini();
		return 1;
	}
	printf("mapcountd: listening on http://%s:%u\n", cfg.host, http_port());
	fflush(stdout);

	while (sigwait(&sigs, &sig) == 0 && sig == SIGHUP)
		;
	srv_log("%s: stopping", strsignal(sig));
	http_quiesce(5000);
	jobs_stop();
	http_stop();
	store_close();
	rcache_fini();
	srv_log("stopped");
	return 0;
}
