-- SPDX-License-Identifier: MIT
-- schema/store.sql - the mapcountd store (SQLite, WAL mode).
--
-- Versioned with PRAGMA user_version.  Each "-- version N" block below
-- migrates a database at version N-1 to version N; mapcountd applies, at
-- start, every block above the database's user_version, each in its own
-- transaction, and refuses a database newer than the newest block.
-- Append new versions at the end; never edit a released block.

-- version 1

-- One row per distinct trace content.  sha256 is the hash of the trace's
-- canonical binary encoding, so the same trace uploaded in any encoding
-- is stored once.
CREATE TABLE traces (
	id INTEGER PRIMARY KEY,
	sha256 TEXT NOT NULL UNIQUE,
	name TEXT NOT NULL,
	uploaded TEXT NOT NULL,          -- ISO 8601, UTC
	encoding TEXT NOT NULL,          -- as uploaded: text, binary or zst
	upload_bytes INTEGER NOT NULL,   -- bytes of the uploaded trace
	binary_bytes INTEGER NOT NULL,   -- bytes of the canonical binary
	stored_bytes INTEGER NOT NULL,   -- bytes of the compressed chunks
	events INTEGER NOT NULL,
	mms INTEGER NOT NULL,
	folios INTEGER NOT NULL,         -- allocations
	format_version INTEGER NOT NULL,
	header_name TEXT,
	source TEXT,                     -- synthetic, recorded or NULL
	kernel TEXT,
	arch TEXT,
	page_size INTEGER NOT NULL,
	pmd_order INTEGER NOT NULL,
	pud_order INTEGER NOT NULL
);

-- The canonical binary encoding, cut into chunks of about 1 MiB, each
-- compressed as one zstd frame: the chunks in seq order, concatenated, are
-- a valid .mct.zst stream.
CREATE TABLE trace_chunks (
	trace_id INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
	seq INTEGER NOT NULL,
	raw_bytes INTEGER NOT NULL,
	data BLOB NOT NULL,
	PRIMARY KEY (trace_id, seq)
);

-- Events by kind (mm, fork, exit, alloc, ...).
CREATE TABLE trace_events (
	trace_id INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
	kind TEXT NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (trace_id, kind)
) WITHOUT ROWID;

-- Folio allocations by order and type (anon, file, shmem, hugetlb, driver).
CREATE TABLE trace_folios (
	trace_id INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
	folio_order INTEGER NOT NULL,
	type TEXT NOT NULL,
	count INTEGER NOT NULL,
	PRIMARY KEY (trace_id, folio_order, type)
) WITHOUT ROWID;

-- The result cache: one policy's part of `mapcount replay --format json`
-- (an element of "policies") for a trace content, policy version and arch.
-- Any subset of cached policies makes a complete document.
CREATE TABLE results (
	sha256 TEXT NOT NULL,
	policy TEXT NOT NULL,
	policy_version INTEGER NOT NULL,
	arch INTEGER NOT NULL,
	events INTEGER NOT NULL,
	result TEXT NOT NULL,            -- JSON object
	created TEXT NOT NULL,
	PRIMARY KEY (sha256, policy, policy_version, arch)
) WITHOUT ROWID;

-- Deleting a trace deletes its cached results.
CREATE TRIGGER traces_delete_results AFTER DELETE ON traces
BEGIN
	DELETE FROM results WHERE sha256 = OLD.sha256;
END;

-- Work for the replay workers.  kind: replay (result: assembled from the
-- results cache), history or folios (result: the JSON document, here).
-- params: the canonical request, e.g. {"policies":["exact","two-slot"]}.
CREATE TABLE replays (
	id INTEGER PRIMARY KEY,
	trace_id INTEGER NOT NULL REFERENCES traces(id) ON DELETE CASCADE,
	kind TEXT NOT NULL CHECK (kind IN ('replay', 'history', 'folios')),
	params TEXT NOT NULL,
	arch INTEGER NOT NULL CHECK (arch IN (32, 64)),
	status TEXT NOT NULL
		CHECK (status IN ('queued', 'running', 'done', 'failed')),
	events_total INTEGER NOT NULL,
	events_done INTEGER NOT NULL DEFAULT 0,
	error TEXT,
	attempts INTEGER NOT NULL DEFAULT 0,
	result TEXT,
	created TEXT NOT NULL,
	started TEXT,
	finished TEXT,
	seconds REAL
);
CREATE INDEX replays_by_request ON replays (trace_id, kind, arch, status);
CREATE INDEX replays_by_status ON replays (status);

PRAGMA user_version = 1;

-- version 2

-- A cached result also depends on the shape of the report (the fields
-- `mapcount replay --format json` prints), which changes with the engine:
-- results are keyed by a fingerprint of that shape too, and those cached
-- before are dropped (a cache: they are computed again when asked for).
DROP TABLE results;
CREATE TABLE results (
	sha256 TEXT NOT NULL,
	policy TEXT NOT NULL,
	policy_version INTEGER NOT NULL,
	arch INTEGER NOT NULL,
	report TEXT NOT NULL,            -- fingerprint of the report's shape
	events INTEGER NOT NULL,
	result TEXT NOT NULL,            -- JSON object
	created TEXT NOT NULL,
	PRIMARY KEY (sha256, policy, policy_version, arch, report)
) WITHOUT ROWID;

PRAGMA user_version = 2;
