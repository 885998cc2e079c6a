// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the upload path of mapcountd, in process.  Each input
 * is an uploaded body, put in a memfd as the HTTP handler spools it, and
 * given to ingest_trace(), the function the ingest threads run: parse
 * (any encoding), check, re-encode, compress, store in SQLite.  Whatever
 * the bytes:
 *
 *   - the answer is 201 (stored), 200 (already there) or 400 with a
 *     message, never 500: the store is healthy here;
 *   - the body is a JSON document that can be serialised (JSON strings
 *     must be UTF-8, trace strings need not be);
 *   - a stored trace reads back from its chunks, event for event, into
 *     the very canonical binary its sha256 names;
 *   - a refused trace leaves no row behind.
 *
 * The database lives in a temporary directory (tmpfs when /dev/shm is
 * there) and every stored trace is deleted again, so it stays small.
 */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "chunks.h"
#include "ingest.h"
#include "mapcountd.h"
#include "store.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], db[128];

#define CHECK(cond)                                                         \
	do {                                                                \
		if (!(cond)) {                                              \
			fprintf(stderr, "fuzz_upload: %s:%d: failed: %s\n", \
				__FILE__, __LINE__, #cond);                 \
			abort();                                            \
		}                                                           \
	} while (0)

static void cleanup(void)
{
	char p[160];

	store_close();
	for (const char *const *s =
		     (const char *const[]){ "", "-wal", "-shm", NULL };
	     *s; s++) {
		snprintf(p, sizeof(p), "%s%s", db, *s);
		unlink(p);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[512];

	snprintf(dir, sizeof(dir), "%s/fuzz_upload.XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(dir)) {
		perror("fuzz_upload: mkdtemp");
		exit(1);
	}
	snprintf(db, sizeof(db), "%s/mapcount.db", dir);
	cfg.db_path = db;
	cfg.max_upload = 1ull << 30;
	json_object_seed(0);
	if (store_open(db, err, sizeof(err))) {
		fprintf(stderr, "fuzz_upload: %s\n", err);
		exit(1);
	}
	atexit(cleanup);
	return 0;
}

static int64_t count(const char *sql)
{
	sqlite3 *h = store_get();
	sqlite3_stmt *st = NULL;
	int64_t n = -1;

	if (h && !sqlite3_prepare_v2(h, sql, -1, &st, NULL) &&
	    sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	store_put(h);
	return n;
}

/* The stored chunks of trace id, decoded and encoded again as canonical
 * binary: the sha256 of that, in hex.  Returns the events read. */
static int64_t read_back(int64_t id, char sha[65])
{
	struct mct_reader *r;
	struct mct_writer *w;
	struct mct_names names;
	struct mct_event ev;
	char err[512], *buf = NULL;
	size_t len = 0;
	int64_t n = 0;
	FILE *in, *out = open_memstream(&buf, &len);
	int ret;

	CHECK(out);
	r = chunks_reader(id, "stored", &in, err, sizeof(err));
	CHECK(r);
	w = mct_writer_stream(out, MCT_ENC_BINARY);
	CHECK(w && !mct_write_header(w, mct_header(r)));
	names = mct_reader_names(r);
	while ((ret = mct_next(r, &ev)) > 0) {
		CHECK(!mct_write_event(w, &ev, &names));
		n++;
	}
	CHECK(ret == 0);
	CHECK(!mct_writer_close(w));
	mct_close(r);
	fclose(in);
	CHECK(!fclose(out));
	CHECK(!sha256_hex(buf, len, sha));
	free(buf);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd = memfd_create("upload", MFD_CLOEXEC);
	int64_t traces = count("SELECT count(*) FROM traces");
	struct ingest_out out;
	char *text;
	json_t *b;

	CHECK(fd >= 0);
	CHECK(write(fd, data, size) == (ssize_t)size);
	ingest_trace(&(struct ingest_in){ .fd = fd,
					  .bytes = size,
					  .filename = "fuzz.mct" },
		     &out);
	close(fd);
	b = out.body;
	CHECK(b);
	text = json_dumps(b, JSON_INDENT(1));
	CHECK(text);
	free(text);
	if (out.status == 400) {
		CHECK(json_is_string(json_object_get(b, "error")));
		CHECK(json_is_string(json_object_get(b, "detail")));
		CHECK(count("SELECT count(*) FROM traces") == traces);
	} else {
		const char *sha;
		char again[65];
		int64_t replay;

		CHECK(out.status == 201 || out.status == 200);
		CHECK(json_integer_value(json_object_get(b, "id")) == out.id);
		CHECK(json_is_string(json_object_get(b, "name")));
		sha = json_string_value(json_object_get(b, "sha256"));
		CHECK(sha && strlen(sha) == 64);
		CHECK(read_back(out.id, again) ==
		      json_integer_value(json_object_get(b, "events")));
		CHECK(!strcmp(again, sha));
		CHECK(store_trace_delete(out.id, &replay) == 0);
		CHECK(count("SELECT count(*) FROM trace_chunks") == 0);
		CHECK(count("SELECT count(*) FROM trace_events") == 0);
	}
	json_decref(b);
	return 0;
}
