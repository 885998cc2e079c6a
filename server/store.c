// SPDX-License-Identifier: MIT
/*
 * store.c - SQLite connections, migrations and the queries of mapcountd.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "mapcountd.h"
#include "rcache.h"
#include "trace.h"

#define POOL_MAX 64

static char *db_path;
static char *db_uri; /* read-only: file:PATH?mode=ro... */
static bool readonly_;
static sqlite3 *writer;
/* The last failed write of this thread: what store_error_status() maps. */
static _Thread_local int err_rc, err_errno;
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static sqlite3 *pool[POOL_MAX];
static unsigned int pool_n;
/* What the open write transaction changes, for the response cache: trace
 * ids and RC_SCOPE_LIST (under write_lock; none known: everything). */
#define TOUCH_MAX 8
static int64_t touched[TOUCH_MAX];
static unsigned int nr_touched;
static bool touched_all;

void store_note(sqlite3 *db)
{
	int rc = db ? sqlite3_extended_errcode(db) : SQLITE_ERROR;

	if (rc != SQLITE_OK && rc != SQLITE_ROW && rc != SQLITE_DONE) {
		err_rc = rc;
		err_errno = db ? sqlite3_system_errno(db) : 0;
	}
}

unsigned int store_error_status(const char **msg)
{
	int rc = err_rc & 0xff;

	if (rc == SQLITE_FULL || err_errno == ENOSPC || err_errno == EDQUOT) {
		*msg = "the disk of the database is full";
		return 507;
	}
	if (rc == SQLITE_READONLY || err_errno == EROFS) {
		*msg = "the database is read-only";
		return 503;
	}
	if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		*msg = "the database is busy";
		return 503;
	}
	*msg = err_rc ? sqlite3_errstr(err_rc) : "database error";
	return 500;
}

bool store_readonly(void)
{
	return readonly_;
}

static int exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK)
		return 0;
	store_note(db);
	srv_log("sqlite: %s: %s", sql, msg ? msg : "?");
	sqlite3_free(msg);
	return -1;
}

/* ROLLBACK if a transaction is open (SQLite ends some on errors itself). */
static void rollback(sqlite3 *db)
{
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
}

static sqlite3 *conn_open(bool reader, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = db_uri ? sqlite3_open_v2(db_uri, &db,
					  SQLITE_OPEN_READONLY |
						  SQLITE_OPEN_URI |
						  SQLITE_OPEN_NOMUTEX,
					  NULL)
			: sqlite3_open_v2(db_path, &db,
					  SQLITE_OPEN_READWRITE |
						  SQLITE_OPEN_CREATE |
						  SQLITE_OPEN_NOMUTEX,
					  NULL);

	if (rc != SQLITE_OK) {
		if (err)
			snprintf(err, errlen, "%s: %s", db_path,
				 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, 30000);
	if (exec(db, "PRAGMA foreign_keys = ON; PRAGMA synchronous = FULL;") ||
	    ((reader || db_uri) && exec(db, "PRAGMA query_only = ON;"))) {
		if (err)
			snprintf(err, errlen, "%s: %s", db_path,
				 sqlite3_errmsg(db));
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static int user_version(sqlite3 *db)
{
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL))
		return -1;
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* Apply the "-- version N" blocks of store.sql above the db's version. */
static int migrate(sqlite3 *db, char *err, size_t errlen)
{
	static const char mark[] = "\n-- version ";
	int have = user_version(db), newest = 0;
	const char *p = strstr(store_sql, mark);

	if (have < 0) {
		snprintf(err, errlen, "%s: cannot read user_version", db_path);
		return -1;
	}
	while (p) {
		int v = atoi(p + strlen(mark));
		const char *next = strstr(p + 1, mark);
		size_t len = next ? (size_t)(next - p) : strlen(p);
		char *block;

		newest = v;
		if (v <= have) {
			p = next;
			continue;
		}
		if (readonly_) {
			snprintf(err, errlen,
				 "%s: read-only, at schema version %d: this "
				 "mapcountd needs version %d (open it writable "
				 "once to migrate it)",
				 db_path, have, v);
			return -1;
		}
		block = strndup(p, len);
		if (!block || exec(db, "BEGIN IMMEDIATE") || exec(db, block)) {
			snprintf(err, errlen, "%s: migration to version %d: %s",
				 db_path, v, sqlite3_errmsg(db));
			free(block);
			exec(db, "ROLLBACK");
			return -1;
		}
		free(block);
		if (exec(db, "COMMIT")) {
			snprintf(err, errlen, "%s: migration to version %d: %s",
				 db_path, v, sqlite3_errmsg(db));
			exec(db, "ROLLBACK");
			return -1;
		}
		srv_log("store: migrated %s to schema version %d", db_path, v);
		p = next;
	}
	if (have > newest) {
		snprintf(err, errlen,
			 "%s: schema version %d is newer than this mapcountd "
			 "knows (%d)",
			 db_path, have, newest);
		return -1;
	}
	return 0;
}

/* "file:PATH?mode=ro", PATH %-escaped; immutable when no WAL file is
 * there: SQLite cannot read a WAL database without a -shm file it can
 * create, and with no -wal file everything is in the database file. */
static char *readonly_uri(const char *path)
{
	char wal[4096];
	struct stat sb;
	bool immutable;
	size_t n = strlen(path);
	char *u = malloc(3 * n + 64), *o = u;

	if (!u)
		return NULL;
	snprintf(wal, sizeof(wal), "%s-wal", path);
	immutable = stat(wal, &sb) || !sb.st_size;
	o += sprintf(o, "file:");
	for (const char *p = path; *p; p++) {
		if (*p == '%' || *p == '?' || *p == '#')
			o += sprintf(o, "%%%02X", (unsigned char)*p);
		else
			*o++ = *p;
	}
	sprintf(o, "?mode=ro%s", immutable ? "&immutable=1" : "");
	return u;
}

/* The file system refused to open the database for writing: serve it
 * read-only (reads answer, writes get 503). */
static int open_readonly(char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc;

	readonly_ = true;
	db_uri = readonly_uri(db_path);
	writer = db_uri ? conn_open(false, err, errlen) : NULL;
	if (!writer)
		return -1;
	rc = sqlite3_prepare_v2(writer, "SELECT count(*) FROM sqlite_master",
				-1, &st, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW) {
		snprintf(err, errlen, "%s: read-only, and cannot be read: %s",
			 db_path, sqlite3_errmsg(writer));
		return -1;
	}
	srv_log("store: %s is read-only: serving reads, refusing writes",
		db_path);
	return 0;
}

int store_open(const char *path, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	const char *mode = "";
	sqlite3 *probe = NULL;

	db_path = strdup(path);
	/* SQLite opens read-only what it cannot open read-write */
	if (sqlite3_open_v2(path, &probe,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				    SQLITE_OPEN_NOMUTEX,
			    NULL) == SQLITE_OK &&
	    sqlite3_db_readonly(probe, "main") == 1) {
		sqlite3_close(probe);
		return open_readonly(err, errlen) ||
				       migrate(writer, err, errlen)
			       ? -1
			       : 0;
	}
	sqlite3_close(probe);
	writer = conn_open(false, err, errlen);
	if (!writer)
		return -1;
	if (sqlite3_prepare_v2(writer, "PRAGMA journal_mode = WAL", -1, &st,
			       NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			mode = (const char *)sqlite3_column_text(st, 0);
		if (!mode || strcmp(mode, "wal")) {
			snprintf(err, errlen, "%s: cannot use WAL mode", path);
			sqlite3_finalize(st);
			return -1;
		}
		sqlite3_finalize(st);
	}
	if (exec(writer, "PRAGMA journal_size_limit = 67108864;") ||
	    migrate(writer, err, errlen))
		return -1;
	return 0;
}

void store_close(void)
{
	pthread_mutex_lock(&pool_lock);
	for (unsigned int i = 0; i < pool_n; i++)
		sqlite3_close(pool[i]);
	pool_n = 0;
	pthread_mutex_unlock(&pool_lock);
	if (writer) {
		pthread_mutex_lock(&write_lock);
		if (!readonly_)
			exec(writer, "PRAGMA wal_checkpoint(TRUNCATE);");
		sqlite3_close(writer);
		writer = NULL;
		pthread_mutex_unlock(&write_lock);
	}
	free(db_path);
	db_path = NULL;
	free(db_uri);
	db_uri = NULL;
	readonly_ = false;
}

sqlite3 *store_get(void)
{
	sqlite3 *db = NULL;

	pthread_mutex_lock(&pool_lock);
	if (pool_n)
		db = pool[--pool_n];
	pthread_mutex_unlock(&pool_lock);
	if (!db)
		db = conn_open(true, NULL, 0);
	if (!db)
		srv_log("store: cannot open a reader connection");
	return db;
}

void store_put(sqlite3 *db)
{
	if (!db)
		return;
	pthread_mutex_lock(&pool_lock);
	if (pool_n < POOL_MAX) {
		pool[pool_n++] = db;
		db = NULL;
	}
	pthread_mutex_unlock(&pool_lock);
	sqlite3_close(db);
}

sqlite3 *store_write_begin(void)
{
	err_rc = err_errno = 0;
	if (readonly_) {
		err_rc = SQLITE_READONLY;
		return NULL;
	}
	pthread_mutex_lock(&write_lock);
	nr_touched = 0;
	touched_all = false;
	if (!writer || exec(writer, "BEGIN IMMEDIATE")) {
		if (!writer)
			err_rc = SQLITE_MISUSE;
		pthread_mutex_unlock(&write_lock);
		return NULL;
	}
	return writer;
}

void store_touch(int64_t scope)
{
	for (unsigned int i = 0; i < nr_touched; i++)
		if (touched[i] == scope)
			return;
	if (nr_touched < TOUCH_MAX)
		touched[nr_touched++] = scope;
	else
		touched_all = true;
}

int store_write_commit(sqlite3 *db)
{
	unsigned int n = touched_all ? 0 : nr_touched;
	int ret = 0;

	/* cached answers of what changes are neither served nor stored
	 * while the COMMIT makes it visible */
	rcache_begin(touched, n);
	if (exec(db, "COMMIT")) {
		rollback(db);
		ret = -1;
	}
	rcache_end(touched, n);
	pthread_mutex_unlock(&write_lock);
	return ret;
}

void store_write_rollback(sqlite3 *db)
{
	store_note(db); /* the error that made the caller give up, if any */
	rollback(db);
	pthread_mutex_unlock(&write_lock);
}

/* ---- helpers ---- */

static sqlite3_stmt *prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		store_note(db);
		srv_log("sqlite: %s: %s", sql, sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return NULL;
	}
	return st;
}

static json_t *col_json(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		return json_integer(sqlite3_column_int64(st, i));
	case SQLITE_FLOAT:
		return json_real(sqlite3_column_double(st, i));
	case SQLITE_NULL:
		return json_null();
	default: {
		const char *s = (const char *)sqlite3_column_text(st, i);
		json_t *j = s ? json_string(s) : NULL;

		if (!j && s) { /* not UTF-8: JSON strings must be */
			size_t n = 3 * strlen(s) + 1;
			char *b = malloc(n);

			j = b ? json_string(utf8_repair(b, n, s)) : NULL;
			free(b);
		}
		return j ? j : json_null();
	}
	}
}

static void copy_text(char *dst, size_t len, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	snprintf(dst, len, "%s", s ? s : "");
}

/* ---- traces ---- */

int store_trace_get(int64_t id, struct store_trace *t)
{
	sqlite3 *db = store_get();
	char raw[sizeof(t->name)];
	sqlite3_stmt *st;
	int ret = -1, rc;

	if (!db)
		return -1;
	st = prep(db, "SELECT sha256, name, events, binary_bytes, "
		      "stored_bytes, (SELECT count(*) FROM trace_chunks c "
		      "WHERE c.trace_id = t.id) FROM traces t WHERE id = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			memset(t, 0, sizeof(*t));
			t->id = id;
			copy_text(t->sha256, sizeof(t->sha256), st, 0);
			copy_text(raw, sizeof(raw), st, 1);
			utf8_repair(t->name, sizeof(t->name), raw);
			t->events = (uint64_t)sqlite3_column_int64(st, 2);
			t->binary_bytes = (uint64_t)sqlite3_column_int64(st, 3);
			t->stored_bytes = (uint64_t)sqlite3_column_int64(st, 4);
			t->chunks = sqlite3_column_int64(st, 5);
			ret = 0;
		} else if (rc == SQLITE_DONE) {
			ret = 1;
		}
		sqlite3_finalize(st);
	}
	store_put(db);
	return ret;
}

#define TRACE_COLS                                                           \
	"id, name, sha256, uploaded, encoding, upload_bytes, binary_bytes, " \
	"stored_bytes, events, mms, folios, format_version, header_name, "   \
	"source, kernel, arch, page_size, pmd_order, pud_order"

static json_t *trace_row_json(sqlite3 *db, sqlite3_stmt *st)
{
	static const char *const keys[] = {
		"id",	       "name",	       "sha256",       "uploaded",
		"encoding",    "upload_bytes", "binary_bytes", "stored_bytes",
		"events",      "mms",	       "folios",       "format_version",
		"header_name", "source",       "kernel",       "arch",
		"page_size",   "pmd_order",    "pud_order",
	};
	json_t *o = json_object(), *kinds = json_object(),
	       *by_order = json_object(), *by_type = json_object(),
	       *by_ot = json_object();
	int64_t id = sqlite3_column_int64(st, 0);
	sqlite3_stmt *q;

	for (int i = 0; i < (int)(sizeof(keys) / sizeof(keys[0])); i++)
		json_object_set_new(o, keys[i], col_json(st, i));
	q = prep(db, "SELECT kind, count FROM trace_events WHERE trace_id = ?");
	if (q) {
		json_t *any = json_object();

		sqlite3_bind_int64(q, 1, id);
		while (sqlite3_step(q) == SQLITE_ROW)
			json_object_set_new(
				any, (const char *)sqlite3_column_text(q, 0),
				json_integer(sqlite3_column_int64(q, 1)));
		sqlite3_finalize(q);
		/* in the order of the trace format's statements */
		for (int k = 1; k < MCT_NR_KINDS; k++) {
			json_t *v = json_object_get(any, mct_kind_name(k));

			if (v)
				json_object_set(kinds, mct_kind_name(k), v);
		}
		json_decref(any);
	}
	q = prep(db, "SELECT folio_order, type, count FROM trace_folios "
		     "WHERE trace_id = ? ORDER BY folio_order, type");
	if (q) {
		sqlite3_bind_int64(q, 1, id);
		while (sqlite3_step(q) == SQLITE_ROW) {
			char key[16];
			const char *type =
				(const char *)sqlite3_column_text(q, 1);
			int64_t n = sqlite3_column_int64(q, 2);
			json_t *v, *ot;

			snprintf(key, sizeof(key), "%d",
				 sqlite3_column_int(q, 0));
			v = json_object_get(by_order, key);
			json_object_set_new(
				by_order, key,
				json_integer((v ? json_integer_value(v) : 0) +
					     n));
			v = json_object_get(by_type, type);
			json_object_set_new(
				by_type, type,
				json_integer((v ? json_integer_value(v) : 0) +
					     n));
			ot = json_object_get(by_ot, key);
			if (!ot) {
				ot = json_object();
				json_object_set_new(by_ot, key, ot);
			}
			json_object_set_new(ot, type, json_integer(n));
		}
		sqlite3_finalize(q);
	}
	json_object_set_new(o, "events_by_kind", kinds);
	json_object_set_new(o, "folios_by_order", by_order);
	json_object_set_new(o, "folios_by_type", by_type);
	json_object_set_new(o, "folios_by_order_type", by_ot);
	return o;
}

json_t *store_trace_json(sqlite3 *db, int64_t id)
{
	sqlite3_stmt *st =
		prep(db, "SELECT " TRACE_COLS " FROM traces WHERE id = ?");
	json_t *o = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = trace_row_json(db, st);
	sqlite3_finalize(st);
	return o;
}

json_t *store_trace_list(int64_t limit, int64_t offset)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	json_t *items = json_array(), *out;
	int64_t total = 0;

	if (!db)
		return NULL;
	/* one read transaction: items and total agree */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	st = prep(db, "SELECT count(*) FROM traces");
	if (st && sqlite3_step(st) == SQLITE_ROW)
		total = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	st = prep(db, "SELECT " TRACE_COLS
		      " FROM traces ORDER BY id LIMIT ? OFFSET ?");
	if (st) {
		sqlite3_bind_int64(st, 1, limit);
		sqlite3_bind_int64(st, 2, offset);
		while (sqlite3_step(st) == SQLITE_ROW)
			json_array_append_new(items, trace_row_json(db, st));
		sqlite3_finalize(st);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	store_put(db);
	out = json_pack("{s:o,s:I,s:I,s:I}", "items", items, "total",
			(json_int_t)total, "limit", (json_int_t)limit, "offset",
			(json_int_t)offset);
	json_object_set_new(out, "next_offset",
			    offset + (int64_t)json_array_size(
					     json_object_get(out, "items")) <
					    total
				    ? json_integer(offset + limit)
				    : json_null());
	return out;
}

int store_trace_delete(int64_t id, int64_t *replay)
{
	sqlite3 *db = store_write_begin();
	sqlite3_stmt *st;
	int ret = -1;

	if (!db)
		return -1;
	*replay = 0;
	st = prep(db, "SELECT id FROM replays WHERE trace_id = ? AND status "
		      "IN ('queued', 'running') ORDER BY id LIMIT 1");
	if (!st)
		goto out;
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_ROW)
		*replay = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	if (*replay) {
		ret = 2;
		goto out;
	}
	st = prep(db, "DELETE FROM traces WHERE id = ?");
	if (!st)
		goto out;
	store_touch(RC_SCOPE_LIST);
	store_touch(id);
	sqlite3_bind_int64(st, 1, id);
	if (sqlite3_step(st) == SQLITE_DONE)
		ret = sqlite3_changes(db) ? 0 : 1;
	sqlite3_finalize(st);
out:
	if (ret == 0)
		return store_write_commit(db) ? -1 : 0;
	store_write_rollback(db);
	return ret;
}

int store_chunk(int64_t trace_id, int64_t seq, void **data, size_t *len)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	int ret = -1, rc;

	if (!db)
		return -1;
	st = prep(db, "SELECT data FROM trace_chunks WHERE trace_id = ? AND "
		      "seq = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, trace_id);
		sqlite3_bind_int64(st, 2, seq);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			size_t n = (size_t)sqlite3_column_bytes(st, 0);
			const void *p = sqlite3_column_blob(st, 0);

			*data = malloc(n ? n : 1);
			if (*data) {
				memcpy(*data, p, n);
				*len = n;
				ret = 0;
			}
		} else if (rc == SQLITE_DONE) {
			ret = 1;
		}
		sqlite3_finalize(st);
	}
	store_put(db);
	return ret;
}

/* ---- the result cache ---- */

json_t *store_result_get(sqlite3 *db, const char *sha,
			 const struct mc_policy *p, uint32_t arch)
{
	sqlite3_stmt *st =
		prep(db, "SELECT result FROM results WHERE "
			 "sha256 = ? AND policy = ? AND "
			 "policy_version = ? AND arch = ? AND report = ?");
	json_t *o = NULL;

	if (!st)
		return NULL;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, p->name, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, p->version);
	sqlite3_bind_int64(st, 4, arch);
	sqlite3_bind_text(st, 5, cfg.report_fp, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW)
		o = json_loads((const char *)sqlite3_column_text(st, 0), 0,
			       NULL);
	sqlite3_finalize(st);
	return o;
}

int store_results_put(const char *sha, uint32_t arch, uint64_t events,
		      const struct mc_policy *const *pols, json_t *const *objs,
		      uint32_t n)
{
	sqlite3 *db = store_write_begin();
	sqlite3_stmt *st;
	char now[32];
	int ret = -1;

	if (!db)
		return -1;
	st = prep(db, "SELECT id FROM traces WHERE sha256 = ?");
	if (!st)
		goto fail;
	sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		ret = 1;
		goto fail;
	}
	store_touch(sqlite3_column_int64(st, 0));
	sqlite3_finalize(st);
	st = prep(db, "INSERT OR REPLACE INTO results (sha256, policy, "
		      "policy_version, arch, events, result, created, report) "
		      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)");
	if (!st)
		goto fail;
	srv_now_iso(now, sizeof(now));
	for (uint32_t i = 0; i < n; i++) {
		char *text = json_dumps(objs[i],
					JSON_COMPACT | JSON_REAL_PRECISION(17));

		sqlite3_reset(st);
		sqlite3_bind_text(st, 1, sha, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, pols[i]->name, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, pols[i]->version);
		sqlite3_bind_int64(st, 4, arch);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)events);
		sqlite3_bind_text(st, 6, text, -1, free);
		sqlite3_bind_text(st, 7, now, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 8, cfg.report_fp, -1, SQLITE_STATIC);
		if (!text || sqlite3_step(st) != SQLITE_DONE) {
			sqlite3_finalize(st);
			goto fail;
		}
	}
	sqlite3_finalize(st);
	return store_write_commit(db);
fail:
	store_write_rollback(db);
	return ret;
}

/* ---- replays ---- */

int64_t store_replay_new(int64_t trace_id, const char *kind, const char *params,
			 uint32_t arch, uint64_t events_total)
{
	sqlite3 *db = store_write_begin();
	sqlite3_stmt *st;
	int64_t id = 0;
	char now[32];

	if (!db)
		return 0;
	store_touch(trace_id);
	st = prep(db, "INSERT INTO replays (trace_id, kind, params, arch, "
		      "status, events_total, created) SELECT ?, ?, ?, ?, "
		      "'queued', ?, ? WHERE EXISTS (SELECT 1 FROM traces WHERE "
		      "id = ?)");
	if (st) {
		sqlite3_bind_int64(st, 1, trace_id);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, params, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, arch);
		sqlite3_bind_int64(st, 5, (sqlite3_int64)events_total);
		sqlite3_bind_text(st, 6, srv_now_iso(now, sizeof(now)), -1,
				  SQLITE_STATIC);
		sqlite3_bind_int64(st, 7, trace_id);
		if (sqlite3_step(st) == SQLITE_DONE && sqlite3_changes(db))
			id = sqlite3_last_insert_rowid(db);
		sqlite3_finalize(st);
	}
	if (!id) {
		store_write_rollback(db);
		return 0;
	}
	return store_write_commit(db) ? 0 : id;
}

static char *dup_col(sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);

	return s ? strdup(s) : NULL;
}

int store_replay_get(int64_t id, struct store_replay *r)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	int ret = -1, rc;

	memset(r, 0, sizeof(*r));
	if (!db)
		return -1;
	st = prep(db, "SELECT trace_id, kind, status, params, arch, "
		      "events_total, events_done, error, result, created, "
		      "started, finished, seconds, attempts FROM replays "
		      "WHERE id = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			r->id = id;
			r->trace_id = sqlite3_column_int64(st, 0);
			copy_text(r->kind, sizeof(r->kind), st, 1);
			copy_text(r->status, sizeof(r->status), st, 2);
			r->params = dup_col(st, 3);
			r->arch = (uint32_t)sqlite3_column_int(st, 4);
			r->events_total = (uint64_t)sqlite3_column_int64(st, 5);
			r->events_done = (uint64_t)sqlite3_column_int64(st, 6);
			r->error = dup_col(st, 7);
			r->result = dup_col(st, 8);
			copy_text(r->created, sizeof(r->created), st, 9);
			copy_text(r->started, sizeof(r->started), st, 10);
			copy_text(r->finished, sizeof(r->finished), st, 11);
			r->seconds = sqlite3_column_double(st, 12);
			r->attempts = sqlite3_column_int(st, 13);
			ret = 0;
		} else if (rc == SQLITE_DONE) {
			ret = 1;
		}
		sqlite3_finalize(st);
	}
	store_put(db);
	return ret;
}

void store_replay_free(struct store_replay *r)
{
	free(r->params);
	free(r->error);
	free(r->result);
	r->params = r->error = r->result = NULL;
}

int64_t store_replay_find(int64_t trace_id, const char *kind,
			  const char *params, uint32_t arch, bool active)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	int64_t id = 0;

	if (!db)
		return 0;
	st = prep(db, active ? "SELECT id FROM replays WHERE trace_id = ? "
			       "AND kind = ? AND arch = ? AND status IN "
			       "('queued', 'running') AND params = ? ORDER "
			       "BY id DESC LIMIT 1"
			     : "SELECT id FROM replays WHERE trace_id = ? "
			       "AND kind = ? AND arch = ? AND status = "
			       "'done' AND params = ? ORDER BY id DESC LIMIT "
			       "1");
	if (st) {
		sqlite3_bind_int64(st, 1, trace_id);
		sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, arch);
		sqlite3_bind_text(st, 4, params, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW)
			id = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	store_put(db);
	return id;
}

int store_replay_update(int64_t id, const char *status, uint64_t done,
			const char *error, const char *result, double seconds)
{
	sqlite3 *db = store_write_begin();
	sqlite3_stmt *st;
	char now[32];
	int ret = -1;

	if (!db)
		return -1;
	st = prep(db, "SELECT trace_id FROM replays WHERE id = ?");
	if (st) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			store_touch(sqlite3_column_int64(st, 0));
		sqlite3_finalize(st);
	}
	st = prep(
		db,
		"UPDATE replays SET status = coalesce(?1, status), "
		"events_done = ?2, error = ?3, "
		"result = coalesce(?4, result), "
		"attempts = attempts + coalesce(?1 = 'running', 0), "
		"started = CASE WHEN ?1 = 'running' THEN ?5 ELSE started END, "
		"finished = CASE WHEN ?1 IN ('done', 'failed') THEN ?5 "
		"WHEN ?1 = 'queued' THEN NULL ELSE finished END, "
		"seconds = CASE WHEN ?1 IN ('done', 'failed') THEN ?6 "
		"ELSE seconds END WHERE id = ?7");
	if (st) {
		sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)done);
		sqlite3_bind_text(st, 3, error, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, result, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 5, srv_now_iso(now, sizeof(now)), -1,
				  SQLITE_STATIC);
		sqlite3_bind_double(st, 6, seconds);
		sqlite3_bind_int64(st, 7, id);
		if (sqlite3_step(st) == SQLITE_DONE)
			ret = 0;
		sqlite3_finalize(st);
	}
	if (ret) {
		store_write_rollback(db);
		return -1;
	}
	return store_write_commit(db);
}

int store_replays_pending(int64_t **ids, size_t *n)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	size_t cap = 0;

	*ids = NULL;
	*n = 0;
	if (!db)
		return -1;
	st = prep(db, "SELECT id FROM replays WHERE status IN ('queued', "
		      "'running') ORDER BY id");
	if (st) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (*n == cap) {
				int64_t *p;

				cap = cap ? 2 * cap : 16;
				p = realloc(*ids, cap * sizeof(**ids));
				if (!p)
					break;
				*ids = p;
			}
			(*ids)[(*n)++] = sqlite3_column_int64(st, 0);
		}
		sqlite3_finalize(st);
	}
	store_put(db);
	return st ? 0 : -1;
}

json_t *store_replays_of_trace(int64_t trace_id)
{
	sqlite3 *db = store_get();
	sqlite3_stmt *st;
	json_t *a = json_array();

	if (!db)
		return a;
	st = prep(db, "SELECT id, kind, params, arch, status, created, "
		      "finished FROM replays WHERE trace_id = ? ORDER BY id");
	if (st) {
		sqlite3_bind_int64(st, 1, trace_id);
		while (sqlite3_step(st) == SQLITE_ROW) {
			json_t *params = json_loads(
				(const char *)sqlite3_column_text(st, 2), 0,
				NULL);

			json_array_append_new(
				a, json_pack("{s:o,s:o,s:o,s:o,s:o,s:o,s:o}",
					     "id", col_json(st, 0), "kind",
					     col_json(st, 1), "params",
					     params ? params : json_null(),
					     "arch", col_json(st, 3), "status",
					     col_json(st, 4), "created",
					     col_json(st, 5), "finished",
					     col_json(st, 6)));
		}
		sqlite3_finalize(st);
	}
	store_put(db);
	return a;
}

json_t *store_counts(void)
{
	static const char *const tables[] = { "traces", "trace_chunks",
					      "results", "replays" };
	sqlite3 *db = store_get();
	json_t *o = json_object();

	if (!db)
		return NULL;
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++) {
		char sql[64];
		sqlite3_stmt *st;

		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s",
			 tables[i]);
		st = prep(db, sql);
		if (st && sqlite3_step(st) == SQLITE_ROW)
			json_object_set_new(
				o, tables[i],
				json_integer(sqlite3_column_int64(st, 0)));
		sqlite3_finalize(st);
	}
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	store_put(db);
	return o;
}
