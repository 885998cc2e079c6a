#!/bin/bash
# tests/reliability/test_faults.sh MAPCOUNTD MAPCOUNT - a full disk and a
# read-only database.
#
# The database lives on a small tmpfs mounted for the test (root; skipped,
# exit 77, where mounting is not permitted), unmounted on exit.
#   disk full: a ballast file fills the tmpfs.  An upload fails with 507
#     and a message, whether the spool or SQLite runs out of space (the
#     second staged by leaving just room for the spool files); queueing a
#     replay fails with 507; reads keep answering; the database is
#     unchanged and intact; once space is back, uploads work again without
#     a restart.
#   read-only: the tmpfs remounted read-only, mapcountd starts on it (after
#     a clean stop, and after a SIGKILL that left a WAL behind), answers
#     every read, refuses every write with 503 and a message, and the
#     database is unchanged when it is writable again.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-faults.XXXXXX")
MNT=$WORK/mnt
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
finish() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if mountpoint -q "$MNT"; then umount "$MNT" || umount -l "$MNT" || true; fi
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; fi
}
trap finish EXIT
cd "$SRC"

mkdir "$MNT"
if ! mount -t tmpfs -o size=32m,mode=0700 mapcount-faults "$MNT" 2>"$WORK/mount.err"; then
	echo "SKIP: cannot mount a tmpfs here ($(cat "$WORK/mount.err")): run as root to test a full disk and a read-only database"
	exit 77
fi
DB=$MNT/mapcount.db
SAMPLES=$WORK/samples
mkdir "$SAMPLES"
cp traces/samples/file-shared.mct.txt traces/samples/fork-cow-64k.mct.txt traces/samples/pmd-thp.mct.txt "$SAMPLES"

# a trace that compresses badly: 6000 MMs with random 500-byte names
python3 - "$WORK/rand.txt" <<'PY'
import base64, os, sys
with open(sys.argv[1], "w") as f:
    f.write("mct 1 name=random-comms source=synthetic\n")
    for i in range(6000):
        c = base64.b64encode(os.urandom(372)).decode().rstrip("=")
        f.write("mm m%d comm=%s\n" % (i, c))
PY
"$MAPCOUNT" convert --to binary "$WORK/rand.txt" "$WORK/rand.mct"
RAND_T=$(stat -c %s "$WORK/rand.txt")
RAND_C=$(zstd -6 -q -c "$WORK/rand.mct" | wc -c)
SMALL=traces/scenarios/cow-basic-page.mct.txt

srv_start full "$DB" --load "$SAMPLES"
U=$URL_full
comparison "$U" 1 "policies=exact,two-slot"
cp "$WORK/body" "$WORK/cmp-before.json"
curl -sS "$U/api/traces/2/download?format=text" >"$WORK/dl-before.txt"
BEFORE=$(counts "$DB")

# reads_ok URL WHAT: every read answers, with the same content as before
reads_ok() {
	local u=$1 what=$2 path
	for path in /healthz /metrics / "/api/traces" /api/traces/1 /api/policies \
		/api/traces/1/replays "/api/traces/2/folios?limit=3" \
		"/api/traces/2/folios/f1/history?policies=two-slot"; do
		req GET "$u$path"
		expect 200 "$what: GET $path"
	done
	[ "$(curl -sS "$u/api/traces" | jq .total)" = 3 ] || fail "$what: the trace list changed"
	req GET "$u/api/traces/1/comparison?policies=exact,two-slot"
	expect 200 "$what: cached comparison"
	jq -S 'del(.traces[].policies[].cost)' "$WORK/body" >"$WORK/a.json"
	jq -S 'del(.traces[].policies[].cost)' "$WORK/cmp-before.json" >"$WORK/b.json"
	cmp -s "$WORK/a.json" "$WORK/b.json" || fail "$what: the cached comparison changed"
	curl -sS "$u/api/traces/2/download?format=text" | cmp -s - "$WORK/dl-before.txt" ||
		fail "$what: a download changed"
}

# ---- disk full ----
dd if=/dev/zero of="$MNT/ballast" bs=64k 2>/dev/null || true
[ "$(df --output=avail -k "$MNT" | tail -1 | tr -d ' ')" = 0 ] || fail "the ballast did not fill $MNT"
req POST "$U/api/traces?name=full" -H 'Content-Type: text/plain' --data-binary @"$SMALL"
expect 507 "upload on a full disk"
[ "$(jqb .error)" = "insufficient storage" ] || fail "507 body: $(body)"
jqb .detail | grep -q 'No space left on device' || fail "507 detail: $(jqb .detail)"
ok "full disk: upload answered 507: $(jqb .detail)"
req GET "$U/api/traces/1/comparison?policies=count64"
expect 507 "queueing a replay on a full disk"
jqb .detail | grep -q 'full' || fail "507 detail: $(jqb .detail)"
ok "full disk: a comparison to compute answered 507: $(jqb .detail)"
req POST "$U/api/traces/1/replays" -d '{"policies": ["count64"]}'
expect 507 "POST replays on a full disk"
reads_ok "$U" "full disk"
unchanged "$DB" "$BEFORE" "full disk"

# room for the upload's spool and its compressed chunks, not for SQLite
truncate -s "-$((RAND_T + RAND_C + 262144))" "$MNT/ballast"
req POST "$U/api/traces?name=rand" -H 'Content-Type: text/plain' --data-binary @"$WORK/rand.txt"
expect 507 "upload that SQLite has no room for"
jqb .detail | grep -q 'cannot store the trace: the disk of the database is full' || fail "507 detail: $(jqb .detail)"
ok "full disk in SQLite: upload answered 507: $(jqb .detail)"
reads_ok "$U" "full disk (SQLite)"
unchanged "$DB" "$BEFORE" "full disk (SQLite)"

# space again: no restart needed
rm "$MNT/ballast"
req POST "$U/api/traces?name=rand" -H 'Content-Type: text/plain' --data-binary @"$WORK/rand.txt"
expect 201 "upload once space is back"
RAND_ID=$(jqb .id)
comparison "$U" 1 "policies=count64"
req DELETE "$U/api/traces/$RAND_ID"
expect 200 "delete"
integrity "$DB"
srv_stop full
ok "full disk: reads kept answering, nothing changed or broke, uploads work again once space is back"

# ---- read-only database ----
BEFORE=$(counts "$DB")
comparison_cached=$(sqlite3 "$DB" 'SELECT count(*) FROM results')
mount -o remount,ro "$MNT"
ro_round() {
	local name=$1 u
	srv_start "$name" "$DB"
	u=$(eval echo "\$URL_$name")
	grep -q 'read-only: serving reads' "$WORK/$name.err" || fail "$name: no read-only notice: $(cat "$WORK/$name.err")"
	reads_ok "$u" "$name"
	req POST "$u/api/traces?name=ro" -H 'Content-Type: text/plain' --data-binary @"$SMALL"
	expect 503 "$name: upload to a read-only database"
	[ "$(jqb .error)" = unavailable ] && jqb .detail | grep -q 'read-only' || fail "503 body: $(body)"
	req POST "$u/api/traces?name=ro" -F "file=@$SMALL"
	expect 503 "$name: multipart upload to a read-only database"
	req DELETE "$u/api/traces/1"
	expect 503 "$name: delete in a read-only database"
	req POST "$u/api/traces/1/replays" -d '{"policies": ["count64", "exact"]}'
	expect 503 "$name: replay in a read-only database"
	req GET "$u/api/traces/1/comparison?policies=two-slot%2Bpages"
	expect 503 "$name: comparison to compute in a read-only database"
	jqb .detail | grep -q 'read-only' || fail "503 detail: $(jqb .detail)"
	reads_ok "$u" "$name (after the refusals)"
	srv_stop "$name"
}
ro_round readonly
ok "read-only database (clean stop): reads answer, writes get 503 'the database is read-only'"

# a SIGKILL leaves a WAL behind: read through it
mount -o remount,rw "$MNT"
srv_start killed "$DB"
req POST "$URL_killed/api/traces?name=last" -H 'Content-Type: text/plain' --data-binary @"$SMALL"
expect 201 "upload before the SIGKILL"
kill -KILL "$PID_killed"
wait "$PID_killed" 2>/dev/null || true
[ -s "$DB-wal" ] || fail "no WAL left by the SIGKILL"
mount -o remount,ro "$MNT"
srv_start readonly_wal "$DB"
req GET "$URL_readonly_wal/api/traces?name=last"
[ "$(jqb .total)" = 4 ] || fail "the last upload (in the WAL) is not seen read-only"
req POST "$URL_readonly_wal/api/traces" -H 'Content-Type: text/plain' --data-binary @traces/scenarios/cow-basic-single-pte.mct.txt
expect 503 "upload to a read-only database with a WAL"
srv_stop readonly_wal
mount -o remount,rw "$MNT"
integrity "$DB"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM results')" = "$comparison_cached" ] || fail "cached results changed"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM traces')" = 4 ] || fail "trace count"
ok "read-only database (after a SIGKILL, WAL left): reads see the last commit, writes get 503"
echo "faults: full disk (spool, SQLite, replay queue) and read-only database survived, nothing corrupted"
