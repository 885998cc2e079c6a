#!/bin/bash
# tests/server/test_cache.sh MAPCOUNTD MAPCOUNT - the response cache.
#
# Two mapcountd on one database: A with the response cache, B without
# (--response-cache 0).  Every write goes through A; after each, every
# cacheable GET (policies, trace list pages, traces, their replays,
# comparisons, folio views, finished replays) is fetched from A twice and
# from B once, and must be byte for byte the same, with the same status and
# ETag: an answer A kept from before the write would differ.  Then
# If-None-Match (304), HEAD, read-your-writes under concurrent readers, a
# trace id used again after a delete, and eviction from a small cache.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-cache.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"
: "$MAPCOUNT"

DB=$WORK/cache.db
srv_start a "$DB" --workers 2
srv_start b "$DB" --workers 1 --response-cache 0
UA=$URL_a
UB=$URL_b

# get URL NAME: status in $WORK/NAME.code, body $WORK/NAME, headers .h
get() {
	curl -sS -m 60 -D "$WORK/$2.h" -o "$WORK/$2" -w '%{http_code}' "$1" >"$WORK/$2.code"
}

etag() {
	sed -n 's/^[Ee][Tt][Aa][Gg]: *//p' "$WORK/$1.h" | tr -d '\r'
}

CHECKED=0
# same PATH: A (twice: stored, then from the cache) and B agree exactly
same() {
	local p=$1
	get "$UA$p" a1
	get "$UA$p" a2
	get "$UB$p" b
	[ "$(cat "$WORK/a1.code")" = "$(cat "$WORK/b.code")" ] &&
		[ "$(cat "$WORK/a2.code")" = "$(cat "$WORK/b.code")" ] ||
		fail "GET $p: status $(cat "$WORK/a1.code"), $(cat "$WORK/a2.code") (cache) vs $(cat "$WORK/b.code") (no cache)"
	if ! cmp -s "$WORK/a1" "$WORK/b" || ! cmp -s "$WORK/a2" "$WORK/b"; then
		diff -u "$WORK/b" "$WORK/a2" | head -40 >&2 || true
		fail "GET $p: the cached answer differs from the uncached one"
	fi
	[ "$(etag a1)" = "$(etag b)" ] && [ "$(etag a2)" = "$(etag b)" ] ||
		fail "GET $p: ETag $(etag a1), $(etag a2) vs $(etag b)"
	if [ "$(cat "$WORK/b.code")" = 200 ]; then
		[ -n "$(etag b)" ] || fail "GET $p: no ETag"
		grep -qi '^Cache-Control: no-cache' "$WORK/a2.h" || fail "GET $p: Cache-Control"
	fi
	CHECKED=$((CHECKED + 1))
}

# every cacheable answer of the database as it is now
same_all() {
	local ids id r
	idle "$UA"
	same /api/policies
	same /api/traces
	same "/api/traces?limit=2&offset=1"
	same "/api/traces?limit=1&offset=0"
	same "/api/traces?offset=2"
	ids=$(curl -sS "$UB/api/traces?limit=1000" | jq -r '.items[].id')
	for id in $ids ${GONE:-}; do
		same "/api/traces/$id"
		same "/api/traces/$id/replays"
		same "/api/traces/$id/folios?limit=3"
		same "/api/traces/$id/folios/f1/history?policies=two-slot"
		for r in $(curl -sS "$UB/api/traces/$id/replays" | jq -r '.replays[]?.id'); do
			same "/api/replays/$r"
		done
	done
	for q in ${COMPARED:-}; do
		same "/api/traces/$q"
	done
}

# ---- uploads ----
for f in file-shared fork-cow-64k pmd-thp; do
	req POST "$UA/api/traces" -H 'Content-Type: text/plain' --data-binary @"traces/samples/$f.mct.txt"
	expect 201 "upload $f"
	same_all
done
ok "after each of 3 uploads: $CHECKED answers, cached and uncached, identical"

# ---- comparisons: computed through A, then cached ----
comparison "$UA" 2 "arch=64"
comparison "$UA" 2 "policies=exact,two-slot&arch=32"
COMPARED="2/comparison?arch=64 2/comparison?policies=exact,two-slot&arch=32"
COMPARED="$COMPARED 2/comparison?policies=exact,two-slot&arch=32&ignored=1"
COMPARED="$COMPARED 2/comparison?policies=exact,exact,two-slot&arch=32"
COMPARED="$COMPARED 2/comparison?policies=two-slot%2Bpages&arch=64"
same_all
ok "comparisons: cached and uncached identical"

# a new replay of trace 2: its replays, the trace and its comparisons
req POST "$UA/api/traces/2/replays" -d '{"policies": ["count64", "exact"], "arch": 32}'
expect 202 "POST replays"
wait_replay "$UA" "$(jqb .id)"
COMPARED="$COMPARED 2/comparison?policies=count64,exact&arch=32"
same_all
ok "after a replay: identical"

# ---- If-None-Match, HEAD ----
get "$UA/api/traces/2" t
TAG=$(etag t)
code=$(curl -sS -o "$WORK/nm" -w '%{http_code}' -H "If-None-Match: $TAG" "$UA/api/traces/2")
[ "$code" = 304 ] && [ ! -s "$WORK/nm" ] || fail "If-None-Match: HTTP $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: \"x\", W/$TAG" "$UA/api/traces/2")
[ "$code" = 304 ] || fail "If-None-Match list with a weak tag: HTTP $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $TAG" "$UB/api/traces/2")
[ "$code" = 304 ] || fail "If-None-Match without the cache: HTTP $code"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H 'If-None-Match: "0000000000000000"' "$UA/api/traces/2")
[ "$code" = 200 ] || fail "another ETag: HTTP $code"
curl -sS -I "$UA/api/traces/2" >"$WORK/head.h"
grep -q '^HTTP/1.1 200' "$WORK/head.h" && grep -qi "^ETag: $TAG" "$WORK/head.h" ||
	fail "HEAD: $(cat "$WORK/head.h")"
req POST "$UA/api/traces/2/replays" -d '{"policies": ["two-slot"], "arch": 64}'
wait_replay "$UA" "$(jqb .id)"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "If-None-Match: $TAG" "$UA/api/traces/2")
[ "$code" = 200 ] || fail "If-None-Match after the trace changed: HTTP $code"
ok "If-None-Match: 304 while unchanged, 200 after a change; HEAD"

# ---- deletes, and a trace id used again ----
req DELETE "$UA/api/traces/3"
expect 200 "delete 3"
GONE=3
same_all
req POST "$UA/api/traces?name=again" -H 'Content-Type: text/plain' \
	--data-binary @traces/scenarios/cow-basic-pte-thp-4.mct.txt
expect 201 "upload after the delete"
[ "$(jqb .id)" = 3 ] || echo "note: the new trace is $(jqb .id), not 3 again"
GONE=
same_all
req POST "$UA/api/traces" -H 'Content-Type: text/plain' --data-binary @traces/samples/pmd-thp.mct.txt
expect 201 "pmd-thp again"
req POST "$UA/api/traces" -H 'Content-Type: text/plain' --data-binary @traces/samples/pmd-thp.mct.txt
expect 200 "duplicate"
same_all
ok "deletes, an id used again, duplicates: $CHECKED answers identical"

# ---- read your writes, with readers filling the cache meanwhile ----
(while :; do
	curl -sS -o /dev/null "$UA/api/traces"
	curl -sS -o /dev/null "$UA/api/traces?limit=1000"
done) >/dev/null 2>&1 &
HAMMER=$!
for i in $(seq 1 15); do
	sed "s/name=pmd-thp/name=ryw-$i/" traces/samples/pmd-thp.mct.txt >"$WORK/ryw.txt"
	req POST "$UA/api/traces" -H 'Content-Type: text/plain' --data-binary @"$WORK/ryw.txt"
	expect 201 "upload ryw-$i"
	id=$(jqb .id)
	req GET "$UA/api/traces?limit=1000"
	jqb '.items[].id' | grep -qx "$id" || fail "list after the 201 of trace $id misses it"
	req GET "$UA/api/traces/$id"
	expect 200 "trace $id after its 201"
	req DELETE "$UA/api/traces/$id"
	expect 200 "delete $id"
	req GET "$UA/api/traces?limit=1000"
	! jqb '.items[].id' | grep -qx "$id" || fail "list after deleting trace $id still has it"
	req GET "$UA/api/traces/$id"
	expect 404 "trace $id after its delete"
done
kill "$HAMMER"
wait "$HAMMER" 2>/dev/null || true
same_all
curl -sS "$UA/metrics" >"$WORK/metrics"
hits=$(sed -n 's/^mapcountd_response_cache_requests_total{result="hit"} //p' "$WORK/metrics")
[ "${hits:-0}" -gt 100 ] || fail "cache hits: ${hits:-none}"
curl -sS "$UB/metrics" | grep -q '^mapcountd_response_cache_entries 0$' || fail "B cached something"
ok "read-your-writes under concurrent readers; $hits cache hits"

# ---- a small cache: evictions, answers still right ----
srv_start c "$DB" --workers 1 --response-cache 16K
UA=$URL_c
for i in $(seq 0 30); do
	same "/api/traces?limit=1&offset=$i"
done
same_all
curl -sS "$UA/metrics" >"$WORK/metrics"
ev=$(sed -n 's/^mapcountd_response_cache_evictions_total //p' "$WORK/metrics")
bytes=$(sed -n 's/^mapcountd_response_cache_bytes //p' "$WORK/metrics")
[ "${ev:-0}" -gt 0 ] || fail "no eviction from a 16K cache"
[ "${bytes:-0}" -le 16384 ] || fail "the cache holds $bytes bytes, above 16K"
srv_stop c
srv_stop b
srv_stop a
integrity "$DB"
ok "a 16K cache evicts ($ev evictions, $bytes bytes held), answers unchanged"
echo "all response cache tests passed ($CHECKED comparisons)"
