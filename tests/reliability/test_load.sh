#!/bin/bash
# tests/reliability/test_load.sh MAPCOUNTD MAPCOUNT - load on loopback.
#
# wrk drives MAPCOUNT_LOAD_CLIENTS connections (default 200) for
# MAPCOUNT_LOAD_SECONDS (default 20; docs/reliability.md has the 60 s run)
# with tests/reliability/load.lua: page loads, trace lists, cached
# comparisons and uploads of distinct traces (one request in ten).  Zero
# failed requests (no socket error, no timeout, no status >= 400), every
# upload answered 201 stored, memory bounded: mapcountd's peak RSS
# (VmHWM) is reported and must stay under MAPCOUNT_LOAD_MAX_RSS_MB
# (default 512; 1536 under ASan).  Under ASan+UBSan (MAPCOUNT_SANITIZED=1)
# the defaults are 50 clients for 10 s.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-load.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"

command -v wrk >/dev/null || { echo "SKIP: no wrk (scripts/install-deps installs it)"; exit 77; }
if [ "${MAPCOUNT_SANITIZED:-0}" = 1 ]; then
	CLIENTS=${MAPCOUNT_LOAD_CLIENTS:-50} SECS=${MAPCOUNT_LOAD_SECONDS:-10} MAXRSS=${MAPCOUNT_LOAD_MAX_RSS_MB:-1536}
else
	CLIENTS=${MAPCOUNT_LOAD_CLIENTS:-200} SECS=${MAPCOUNT_LOAD_SECONDS:-20} MAXRSS=${MAPCOUNT_LOAD_MAX_RSS_MB:-512}
fi

SAMPLES=$WORK/samples
mkdir "$SAMPLES"
cp traces/samples/file-shared.mct.txt traces/samples/fork-cow-64k.mct.txt traces/samples/pmd-thp.mct.txt "$SAMPLES"
DB=$WORK/load.db
srv_start load "$DB" --load "$SAMPLES"
U=$URL_load
comparison "$U" 1 ""
comparison "$U" 2 "arch=32"
comparison "$U" 3 "policies=exact,two-slot"
ASSET=/
if [ -f clients/web/index.html ]; then
	a=$(grep -o 'src="[^"]*"' clients/web/index.html | head -1 | sed 's/src="\(.*\)"/\1/')
	[ -n "$a" ] && ASSET=/${a#/}
fi
req GET "$U$ASSET"
expect 200 "the page asset $ASSET"
TRACES0=$(sqlite3 "$DB" 'SELECT count(*) FROM traces')
REPLAYS0=$(sqlite3 "$DB" 'SELECT count(*) FROM replays')

# RSS every second while the load runs
(
	while kill -0 "$PID_load" 2>/dev/null; do
		sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_load/status" 2>/dev/null || true
		sleep 1
	done
) >"$WORK/rss" &
SAMPLER=$!

threads=2
[ "$CLIENTS" -lt 2 ] && threads=1
LOAD_ASSET=$ASSET wrk -t"$threads" -c"$CLIENTS" -d"${SECS}s" --timeout 30s --latency \
	-s tests/reliability/load.lua "$U" >"$WORK/wrk.out" 2>&1 || fail "wrk: $(cat "$WORK/wrk.out")"
kill "$SAMPLER" 2>/dev/null || true
wait "$SAMPLER" 2>/dev/null || true
v() { sed -n "s/^$1 //p" "$WORK/wrk.out"; }
REQS=$(v requests)
[ -n "$REQS" ] || fail "no summary from wrk: $(cat "$WORK/wrk.out")"
ERRS=$(($(v errors_connect) + $(v errors_read) + $(v errors_write) + $(v errors_timeout) + $(v errors_status)))
BAD=$(grep -E '^status_([0-9]+) ' "$WORK/wrk.out" | awk '{ split($1, a, "_"); if (a[2] >= 400) n += $2 } END { print n + 0 }')
S201=$(v status_201)
S201=${S201:-0}
HWM=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_load/status")
RSS_MAX=$(sort -n "$WORK/rss" | tail -1)
RSS_END=$(tail -1 "$WORK/rss")
echo "wrk: $(grep -E '^(status_|errors_|latency_|uploads_)' "$WORK/wrk.out" | tr '\n' ' ')"
[ "$ERRS" = 0 ] || fail "$ERRS failed requests: $(cat "$WORK/wrk.out")"
[ "$BAD" = 0 ] || fail "$BAD answers >= 400: $(grep '^status_' "$WORK/wrk.out" | tr '\n' ' ')"
[ "$S201" -gt 0 ] || fail "no upload stored"

# after the load: everything stored, nothing broken, still answering
idle "$U"
req GET "$U/healthz"
expect 200 "healthz after the load"
TRACES1=$(sqlite3 "$DB" 'SELECT count(*) FROM traces')
# uploads still in flight when wrk stopped may have been stored too
[ "$TRACES1" -ge $((TRACES0 + S201)) ] && [ "$TRACES1" -le $((TRACES0 + S201 + CLIENTS)) ] ||
	fail "$TRACES1 traces after $S201 uploads answered 201 (and $TRACES0 before)"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM replays')" = "$REPLAYS0" ] || fail "the cached comparisons replayed"
integrity "$DB"
srv_stop load
[ $((HWM / 1024)) -lt "$MAXRSS" ] || fail "peak RSS $((HWM / 1024)) MiB >= $MAXRSS MiB"
RPS=$(awk -v r="$REQS" -v d="$(v duration_us)" 'BEGIN { printf "%.0f", r / (d / 1e6) }')
ok "load: $CLIENTS clients for ${SECS}s: $REQS requests ($RPS/s; $S201 uploads stored), 0 failed; p99 $(($(v latency_p99_us) / 1000)) ms; mapcountd peak RSS $((HWM / 1024)) MiB (VmHWM; RSS at most $((RSS_MAX / 1024)) MiB while loaded, $((RSS_END / 1024)) MiB at the end)"
echo "figures: clients=$CLIENTS seconds=$SECS requests=$REQS rps=$RPS uploads=$S201 failed=0 vmhwm_mib=$((HWM / 1024)) p99_ms=$(($(v latency_p99_us) / 1000))"
