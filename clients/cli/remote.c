// SPDX-License-Identifier: MIT
/*
 * remote.c - `mapcount replay --server URL`: the same replay through a
 * mapcountd, for teams that keep a shared store.  Each trace is uploaded
 * (mapcountd answers 200 with the stored id when it has the content
 * already), its comparison asked for, and the replay polled until done;
 * the report is mapcountd's, with "file" set back to the local path.
 * HTTP is libcurl's; a bearer token comes from MAPCOUNTD_TOKEN.
 */
#include "remote.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct buf {
	char *p;
	size_t n;
};

static size_t sink(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t add = size * nmemb;
	char *p = realloc(b->p, b->n + add + 1);

	if (!p)
		return 0;
	memcpy(p + b->n, data, add);
	b->p = p;
	b->n += add;
	b->p[b->n] = 0;
	return add;
}

/*
 * One request; returns the HTTP status and the parsed JSON body in *out,
 * or 0 with a message in err.  upload: a file to POST as the body.
 */
static long request(const char *url, const char *upload, json_t **out,
		    char *err, size_t len)
{
	CURL *c = curl_easy_init();
	struct curl_slist *hdr = NULL;
	struct buf b = { 0 };
	const char *token = getenv("MAPCOUNTD_TOKEN");
	char auth[600];
	FILE *f = NULL;
	long status = 0;
	json_error_t je;
	CURLcode rc;

	*out = NULL;
	if (!c) {
		snprintf(err, len, "curl_easy_init failed");
		return 0;
	}
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	if (token) {
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
		hdr = curl_slist_append(hdr, auth);
	}
	if (upload) {
		struct stat st;

		f = fopen(upload, "rb");
		if (!f || fstat(fileno(f), &st)) {
			snprintf(err, len, "%s: cannot open", upload);
			goto out;
		}
		/* the server detects the encoding from the content too */
		hdr = curl_slist_append(hdr,
					"Content-Type: application/x-protobuf");
		curl_easy_setopt(c, CURLOPT_POST, 1L);
		curl_easy_setopt(c, CURLOPT_READDATA, f);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
				 (curl_off_t)st.st_size);
	}
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK) {
		snprintf(err, len, "%s: %s", url, curl_easy_strerror(rc));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	*out = b.p ? json_loads(b.p, 0, &je) : NULL;
	if (!*out) {
		snprintf(err, len, "%s: HTTP %ld with a body that is not JSON",
			 url, status);
		status = 0;
	}
out:
	if (f)
		fclose(f);
	curl_slist_free_all(hdr);
	curl_easy_cleanup(c);
	free(b.p);
	return status;
}

static void api_error(char *err, size_t len, const char *what, long status,
		      json_t *body)
{
	snprintf(err, len, "%s: HTTP %ld: %s: %s", what, status,
		 json_string_value(json_object_get(body, "error")) ?: "?",
		 json_string_value(json_object_get(body, "detail")) ?: "");
}

json_t *remote_replay(const char *server, const char *path, const char *name,
		      const struct mc_policy *const *pols, uint32_t nr,
		      uint32_t arch, char *err, size_t len)
{
	char url[4096], list[2048] = "";
	json_t *body, *trace = NULL;
	long status;
	json_int_t id;

	for (uint32_t i = 0; i < nr; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
			 "%s%s", i ? "," : "", pols[i]->name);
	char *qname = curl_easy_escape(NULL, name, 0);

	snprintf(url, sizeof(url), "%s/api/traces?name=%s", server,
		 qname ? qname : "");
	curl_free(qname);
	status = request(url, path, &body, err, len);
	if (status != 200 && status != 201) {
		if (status)
			api_error(err, len, path, status, body);
		goto out;
	}
	id = json_integer_value(json_object_get(body, "id"));
	for (;;) {
		json_int_t replay;
		const char *st;

		json_decref(body);
		snprintf(url, sizeof(url),
			 "%s/api/traces/%lld/comparison?policies=%s&arch=%u",
			 server, (long long)id, list, arch);
		status = request(url, NULL, &body, err, len);
		if (status == 200)
			break;
		if (status != 202) {
			if (status)
				api_error(err, len, path, status, body);
			goto out;
		}
		replay = json_integer_value(json_object_get(body, "replay"));
		/* wait for that replay, then ask for the comparison again */
		for (unsigned int polls = 0;; polls++) {
			json_decref(body);
			snprintf(url, sizeof(url), "%s/api/replays/%lld",
				 server, (long long)replay);
			status = request(url, NULL, &body, err, len);
			if (status != 200) {
				if (status)
					api_error(err, len, path, status, body);
				goto out;
			}
			st = json_string_value(json_object_get(body, "status"));
			if (st && !strcmp(st, "done"))
				break;
			if (!st || !strcmp(st, "failed")) {
				snprintf(err, len,
					 "%s: replay %lld failed on the "
					 "server: %s",
					 path, (long long)replay,
					 json_string_value(
						 json_object_get(body, "error"))
						 ?: "?");
				goto out;
			}
			usleep(polls < 20 ? 20000 : 200000);
		}
	}
	trace = json_array_get(json_object_get(body, "traces"), 0);
	if (!trace) {
		snprintf(err, len, "%s: the server's report has no trace",
			 path);
		goto out;
	}
	json_incref(trace);
	json_object_set_new(trace, "file", json_string(path));
out:
	json_decref(body);
	return trace;
}
