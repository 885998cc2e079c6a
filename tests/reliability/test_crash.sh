#!/bin/bash
# tests/reliability/test_crash.sh MAPCOUNTD MAPCOUNT - crash safety.
#
# SIGKILL mapcountd while 20 uploads stream in and a long replay runs
# (another waits in the queue), twice (early and late in the uploads),
# then restart it on the same database and check that
#   - every upload answered 201 is there, complete: its download is the
#     canonical text of what was sent;
#   - no upload is half there: a trace of an unanswered upload is either
#     absent or complete, and the row counts agree (traces, chunks, events
#     by kind, folios by order; no orphans);
#   - PRAGMA integrity_check and foreign_key_check are clean, and no spool
#     file is left next to the database;
#   - the interrupted replays are re-queued and finish (or fail with a
#     message): none is lost.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-crash.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"

N=20
if [ "${MAPCOUNT_SANITIZED:-0}" = 1 ]; then
	FILL=15000 STORM="1000 2000 10000"
else
	FILL=60000 STORM="3000 6000 20000"
fi

# 20 distinct uploads of some MB each, and their canonical text
for i in $(seq 1 $N); do
	{
		echo "mct 1 name=crash-$i source=synthetic"
		"$SRC/tests/server/gen_trace.sh" fill $((FILL + 97 * i)) | tail -n +2
	} >"$WORK/up-$i.txt"
	"$MAPCOUNT" convert --to text "$WORK/up-$i.txt" "$WORK/up-$i.canon" ||
		fail "the source of upload $i is not a valid trace"
done
# shellcheck disable=SC2086
"$SRC/tests/server/gen_trace.sh" storm $STORM >"$WORK/storm.txt"

# check_store DB: every trace whole, no orphan, integrity
check_store() {
	local db=$1 bad
	integrity "$db"
	[ -z "$(sqlite3 "$db" 'PRAGMA foreign_key_check')" ] || fail "foreign_key_check of $db"
	bad=$(sqlite3 "$db" "
		SELECT 'chunks without a trace: ' || count(*) FROM trace_chunks
			WHERE trace_id NOT IN (SELECT id FROM traces) HAVING count(*) > 0
		UNION ALL SELECT 'events without a trace: ' || count(*) FROM trace_events
			WHERE trace_id NOT IN (SELECT id FROM traces) HAVING count(*) > 0
		UNION ALL SELECT 'folios without a trace: ' || count(*) FROM trace_folios
			WHERE trace_id NOT IN (SELECT id FROM traces) HAVING count(*) > 0
		UNION ALL SELECT 'replays without a trace: ' || count(*) FROM replays
			WHERE trace_id NOT IN (SELECT id FROM traces) HAVING count(*) > 0
		UNION ALL SELECT 'trace ' || t.id || ' is not whole' FROM traces t WHERE
			(SELECT count(*) FROM trace_chunks c WHERE c.trace_id = t.id) !=
				1 + (SELECT max(seq) FROM trace_chunks c WHERE c.trace_id = t.id)
			OR (SELECT sum(raw_bytes) FROM trace_chunks c WHERE c.trace_id = t.id) IS NOT t.binary_bytes
			OR (SELECT sum(length(data)) FROM trace_chunks c WHERE c.trace_id = t.id) IS NOT t.stored_bytes
			OR (SELECT sum(count) FROM trace_events e WHERE e.trace_id = t.id) IS NOT t.events
			OR coalesce((SELECT sum(count) FROM trace_folios f WHERE f.trace_id = t.id), 0) != t.folios")
	[ -z "$bad" ] || fail "$db: $bad"
}

round() {
	local name=$1 kill_after=$2 db=$WORK/$1.db
	local i code id st r1 r2 n201=0 nother=0 present
	srv_start "$name" "$db" --workers 1
	local u
	u=$(eval echo "\$URL_$name")
	req POST "$u/api/traces?name=storm" -H 'Content-Type: text/plain' --data-binary @"$WORK/storm.txt"
	expect 201 "storm upload"
	local storm
	storm=$(jqb .id)
	req POST "$u/api/traces/$storm/replays" -d '{"arch": 64}'
	expect 202 "long replay"
	r1=$(jqb .id)
	req POST "$u/api/traces/$storm/replays" -d '{"arch": 32}'
	expect 202 "queued replay"
	r2=$(jqb .id)
	for _ in $(seq 600); do
		st=$(curl -sS -m 5 "$u/api/replays/$r1" | jq -r .status)
		[ "$st" = running ] && break
		sleep 0.05
	done
	[ "$st" = running ] || fail "$name: replay $r1 is $st, not running"

	rm -f "$WORK"/up-*.code "$WORK"/up-*.json
	local curls=""
	for i in $(seq 1 $N); do
		curl -sS -m 300 -o "$WORK/up-$i.json" -w '%{http_code}' -X POST \
			"$u/api/traces?name=crash-$i" -H 'Content-Type: text/plain' \
			--data-binary @"$WORK/up-$i.txt" >"$WORK/up-$i.code" 2>/dev/null &
		curls="$curls $!"
	done
	# SIGKILL once kill_after uploads have their 201, the others in flight
	for _ in $(seq 6000); do
		n201=$( (grep -lx 201 "$WORK"/up-*.code 2>/dev/null || true) | wc -l)
		[ "$n201" -ge "$kill_after" ] && break
		sleep 0.01
	done
	local pid
	pid=$(eval echo "\$PID_$name")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null || true
	st=$(curl -sS -m 5 "$u/healthz" 2>/dev/null || true)
	[ -z "$st" ] || fail "$name: still answering after SIGKILL"
	for p in $curls; do wait "$p" || true; done
	n201=$( (grep -lx 201 "$WORK"/up-*.code 2>/dev/null || true) | wc -l)
	[ "$n201" -lt $N ] || fail "$name: all $N uploads were over before the kill: nothing was in flight"
	[ "$(sqlite3 "$db" "SELECT status FROM replays WHERE id = $r1")" = running ] ||
		fail "$name: replay $r1 was not running at the kill"

	# the store as the crash left it (SQLite recovers the WAL on open)
	check_store "$db"
	ls -A "$WORK" | grep -q "^$name.db" || fail "no database"
	# nothing but the database, its WAL and shared memory next to it
	for f in "$WORK/$name.db"*; do
		case $f in *.db | *.db-wal | *.db-shm) ;; *) fail "left behind: $f" ;; esac
	done
	[ -z "$(find "$WORK" -maxdepth 1 -name '.mapcountd-*')" ] || fail "spool files left behind"

	srv_start "${name}_after" "$db" --workers 1
	u=$(eval echo "\$URL_${name}_after")
	for i in $(seq 1 $N); do
		code=$(cat "$WORK/up-$i.code" 2>/dev/null || echo 000)
		if [ "$code" = 201 ]; then
			id=$(jq -r .id "$WORK/up-$i.json")
			req GET "$u/api/traces/$id"
			expect 200 "$name: upload $i (answered 201, id $id)"
			[ "$(jqb .name)" = "crash-$i" ] || fail "$name: trace $id is $(jqb .name), not crash-$i"
		else
			# unanswered: absent, or whole if its COMMIT made it
			id=$(sqlite3 "$db" "SELECT id FROM traces WHERE name = 'crash-$i'")
			[ -n "$id" ] || { nother=$((nother + 1)); continue; }
		fi
		curl -sS -m 120 -o "$WORK/dl.txt" "$u/api/traces/$id/download?format=text"
		cmp -s "$WORK/dl.txt" "$WORK/up-$i.canon" ||
			fail "$name: upload $i (HTTP $code, trace $id) is not what was sent"
	done
	present=$(sqlite3 "$db" "SELECT count(*) FROM traces WHERE name LIKE 'crash-%'")
	[ "$present" -ge "$n201" ] || fail "$name: $present traces for $n201 answers 201"

	# the replays cut short: re-queued and finished, or failed with a reason
	for r in $r1 $r2; do
		for _ in $(seq 6000); do
			st=$(curl -sS -m 5 "$u/api/replays/$r" | jq -r .status)
			case $st in done | failed) break ;; esac
			sleep 0.1
		done
		case $st in
		done) ;;
		failed)
			[ -n "$(curl -sS "$u/api/replays/$r" | jq -r '.error // empty')" ] ||
				fail "$name: replay $r failed without a reason"
			;;
		*) fail "$name: replay $r is $st after the restart: lost" ;;
		esac
	done
	[ "$(curl -sS "$u/api/replays/$r1" | jq -r .attempts)" -ge 2 ] ||
		fail "$name: replay $r1 was not run again"
	req GET "$u/api/traces/$storm/comparison?arch=64"
	expect 200 "$name: the comparison of the interrupted replay, from the cache"
	srv_stop "${name}_after"
	check_store "$db"
	ok "$name: SIGKILL with $n201 uploads answered 201 (all there and whole), $((N - n201)) in flight ($((present - n201)) of them committed, whole; $nother absent); replays $r1 (running) and $r2 (queued) re-run after the restart"
	echo "figures: round=$name acked=$n201 inflight=$((N - n201)) committed_unacked=$((present - n201)) replays_recovered=2"
}

round early 2
round late 12
echo "crash safety: nothing acknowledged was lost, nothing partial is visible"
