#!/bin/bash
# tests/server/test_api.sh MAPCOUNTD MAPCOUNT - mapcountd over real HTTP
# (curl) with a real SQLite database, on ephemeral ports.
#
# Uploads in every encoding and as a form, duplicates, every error status
# with the database unchanged afterwards, 20 concurrent uploads with
# queries, a long replay while queries keep answering, comparisons equal to
# `mapcount replay --format json`, folio views, downloads, deletion, the
# docs/api.md examples as written, restart persistence and re-queueing.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-test.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"

# the three text samples: trace ids 1 to 3, as docs/api.md assumes
SAMPLES=$WORK/samples
mkdir "$SAMPLES"
cp traces/samples/file-shared.mct.txt traces/samples/fork-cow-64k.mct.txt traces/samples/pmd-thp.mct.txt "$SAMPLES"

DB=$WORK/main.db
srv_start main "$DB" --load "$SAMPLES" --workers 2
U=$URL_main
ok "mapcountd started on $U with the samples loaded"

# ---- the samples ----
req GET "$U/api/traces"
expect 200 "list"
[ "$(jqb .total)" = 3 ] || fail "3 samples expected, got $(jqb .total)"
FORK=$(jqb '.items[] | select(.name == "fork-cow-64k") | .id')
[ -n "$FORK" ] || fail "fork-cow-64k not loaded"
req GET "$U/healthz"
expect 200 healthz
req GET "$U/api/policies"
expect 200 policies
[ "$(jqb '.policies | length')" -ge 6 ] || fail "policies: $(body)"
[ "$(jqb '.policies[0].meta_bytes_by_order["64"] | length')" = 10 ] || fail "meta bytes"
ok "samples, /healthz, /api/policies"

# ---- uploads in each encoding ----
T=traces/scenarios/cow-basic-pte-thp-4.mct.txt
EV=$("$MAPCOUNT" check "$T" | sed -n 's/.*ok, \([0-9]*\) events.*/\1/p')
"$MAPCOUNT" convert --to binary traces/scenarios/pss-partial.mct.txt "$WORK/pss.mct"
"$MAPCOUNT" convert --to zst traces/scenarios/hugetlb-many.mct.txt "$WORK/huge.mct.zst"

req POST "$U/api/traces?name=thp4" -H 'Content-Type: text/plain' --data-binary @"$T"
expect 201 "text upload"
TEXT_ID=$(jqb .id)
[ "$(jqb .name)" = thp4 ] && [ "$(jqb .events)" = "$EV" ] && [ "$(jqb .encoding)" = text ] ||
	fail "text upload: $(body)"
[ "$(jqb '.sha256 | length')" = 64 ] || fail "sha256"
jqb '.folios_by_order | length' >/dev/null

req POST "$U/api/traces" -H 'Content-Type: application/x-protobuf' --data-binary @"$WORK/pss.mct"
expect 201 "binary upload"
BIN_ID=$(jqb .id)
[ "$(jqb .encoding)" = binary ] || fail "binary upload: $(body)"

req POST "$U/api/traces" -H 'Content-Type: application/zstd' --data-binary @"$WORK/huge.mct.zst"
expect 201 "zst upload"
ZST_ID=$(jqb .id)
[ "$(jqb .encoding)" = zst ] || fail "zst upload: $(body)"

req POST "$U/api/traces" -F "file=@traces/scenarios/pmd-split-one-mm.mct.txt"
expect 201 "multipart upload"
FORM_ID=$(jqb .id)
[ "$(jqb .name)" = pmd-split-one-mm ] || fail "multipart name: $(body)"
ok "uploads: text ($TEXT_ID), binary ($BIN_ID), zst ($ZST_ID), multipart ($FORM_ID)"

# ---- duplicates: the same content in another encoding ----
"$MAPCOUNT" convert --to zst "$T" "$WORK/thp4.mct.zst"
req POST "$U/api/traces" -H 'Content-Type: application/zstd' --data-binary @"$WORK/thp4.mct.zst"
expect 200 "duplicate upload (zst of a text trace)"
[ "$(jqb .id)" = "$TEXT_ID" ] || fail "duplicate: id $(jqb .id), expected $TEXT_ID"
req POST "$U/api/traces" -F "file=@$T"
expect 200 "duplicate upload (form)"
[ "$(jqb .id)" = "$TEXT_ID" ] || fail "duplicate form: id $(jqb .id)"
ok "duplicates answer 200 with the existing id"

# ---- errors, and the database unchanged after each ----
BEFORE=$(counts "$DB")
printf 'mct 1\nmm a\nmap a f0 5-2\n' >"$WORK/bad-range.txt"
req POST "$U/api/traces?name=bad" -H 'Content-Type: text/plain' --data-binary @"$WORK/bad-range.txt"
expect 400 "bad range"
[ "$(jqb .error)" = "bad trace" ] || fail "error: $(body)"
[ "$(jqb .detail)" = "bad:3:10: map: bad range '5-2': LAST is below FIRST" ] || fail "detail: $(jqb .detail)"
unchanged "$DB" "$BEFORE" "bad range"

printf 'mct 1\nmm a\nalloc f order=0\nfree f\nmap a f 0\n' >"$WORK/bad-sem.txt"
req POST "$U/api/traces?name=sem" -H 'Content-Type: text/plain' --data-binary @"$WORK/bad-sem.txt"
expect 400 "semantic error"
jqb .detail | grep -q '^sem:5:1: map: ' || fail "semantic detail: $(jqb .detail)"
unchanged "$DB" "$BEFORE" "semantic error"

printf '\x89MCX\x01' >"$WORK/bad-magic.mct"
req POST "$U/api/traces" -H 'Content-Type: application/x-protobuf' --data-binary @"$WORK/bad-magic.mct"
expect 400 "bad magic"
jqb .detail | grep -q 'byte 0: bad magic' || fail "bad magic detail: $(jqb .detail)"
head -c 40 "$WORK/huge.mct.zst" >"$WORK/trunc.mct.zst"
req POST "$U/api/traces" -H 'Content-Type: application/zstd' --data-binary @"$WORK/trunc.mct.zst"
expect 400 "truncated zst"
# a trace that fails after its first MiB of canonical binary: chunks were
# being written when it failed
{ "$SRC/tests/server/gen_trace.sh" fill 60000; printf 'unmap p nope 0\n'; } >"$WORK/late-bad.txt"
req POST "$U/api/traces" -H 'Content-Type: text/plain' --data-binary @"$WORK/late-bad.txt"
expect 400 "late semantic error"
unchanged "$DB" "$BEFORE" "bad inputs"

req POST "$U/api/traces" -H 'Content-Type: application/json' --data-binary @"$T"
expect 415 "unsupported media type"
req POST "$U/api/traces" -H 'Content-Type: multipart/form-data; boundary=x' --data-binary 'nothing'
expect 400 "multipart without a file"
req GET "$U/api/traces/999999"
expect 404 "no such trace"
req GET "$U/api/replays/999999"
expect 404 "no such replay"
req GET "$U/api/nothing"
expect 404 "no such endpoint"
req GET "$U/api/traces/$FORK/folios/nope/history"
expect 404 "no such folio"
req PUT "$U/api/traces"
expect 405 "PUT /api/traces"
req POST "$U/api/policies"
expect 405 "POST /api/policies"
req POST "$U/api/traces/$FORK/replays" -d '{"policies": ["no-such-policy"]}'
expect 400 "unknown policy"
jqb .detail | grep -q "unknown policy 'no-such-policy'" || fail "unknown policy: $(body)"
req GET "$U/api/traces/$FORK/comparison?policies=nope"
expect 400 "unknown policy (comparison)"
req GET "$U/api/traces/$FORK/comparison?arch=16"
expect 400 "bad arch"
req POST "$U/api/traces/$FORK/replays" -d 'not json'
expect 400 "bad JSON"
req GET "$U/api/traces/$FORK/download?format=pdf"
expect 400 "bad format"
req GET "$U/../../etc/passwd" --path-as-is
[ "$CODE" = 404 ] || [ "$CODE" = 400 ] || fail "path traversal: $CODE"
unchanged "$DB" "$BEFORE" "error statuses"
ok "400 (parser and checker messages), 404, 405, 415; nothing stored"

# 413: a small --max-upload
SMALL=$WORK/small.db
srv_start small "$SMALL" --max-upload 300
req POST "$URL_small/api/traces" -H 'Content-Type: text/plain' --data-binary @"$T"
expect 413 "413 with Content-Length"
req POST "$URL_small/api/traces" -H 'Content-Type: text/plain' -H 'Transfer-Encoding: chunked' --data-binary @"$T"
expect 413 "413 while streaming"
req POST "$URL_small/api/traces" -F "file=@$T"
expect 413 "413 multipart"
[ "$(counts "$SMALL")" = "0 0 0 0 0 0" ] || fail "413 stored something"
integrity "$SMALL"
srv_stop small
ok "413 beyond --max-upload; nothing stored"

# 401: a token
echo "s3cret-token" >"$WORK/token"
srv_start tok "$WORK/tok.db" --token-file "$WORK/token"
req POST "$URL_tok/api/traces" -H 'Content-Type: text/plain' --data-binary @"$T"
expect 401 "no token"
req POST "$URL_tok/api/traces" -H 'Authorization: Bearer wrong' -H 'Content-Type: text/plain' --data-binary @"$T"
expect 401 "wrong token"
req POST "$URL_tok/api/traces" -H 'Authorization: Bearer s3cret-token' -H 'Content-Type: text/plain' --data-binary @"$T"
expect 201 "right token"
req GET "$URL_tok/api/traces"
expect 200 "reads need no token"
srv_stop tok
if "$MAPCOUNTD" --listen 0.0.0.0:0 --db "$WORK/open.db" >/dev/null 2>"$WORK/open.err"; then
	fail "listened beyond loopback without a token"
fi
grep -q 'without --token-file' "$WORK/open.err" || fail "refusal message: $(cat "$WORK/open.err")"
ok "bearer token for mutating requests; no token beyond loopback: refused"

# 503, 409 and re-queueing: one slow worker, a queue of one
SLOW=$WORK/slow.db
MAPCOUNTD_TEST_REPLAY_DELAY_MS=1500 srv_start slow "$SLOW" --load "$SAMPLES" --workers 1 --queue 1
S=$URL_slow
req POST "$S/api/traces/1/replays" -d '{"policies": ["exact"], "arch": 64}'
expect 202 "first replay"
R1=$(jqb .id)
sleep 0.3
req POST "$S/api/traces/2/replays" -d '{"policies": ["two-slot"], "arch": 32}'
expect 202 "second replay (queued)"
R2=$(jqb .id)
BEFORE_SLOW=$(counts "$SLOW")
req POST "$S/api/traces/3/replays" -d '{"policies": ["count64"]}'
expect 503 "queue full"
[ "$(jqb .error)" = "queue full" ] || fail "503 body: $(body)"
req GET "$S/api/traces/3/comparison?policies=count64"
expect 503 "queue full (comparison)"
req DELETE "$S/api/traces/2"
expect 409 "delete while a replay is queued"
unchanged "$SLOW" "$BEFORE_SLOW" "503 and 409"
req GET "$S/api/replays/$R2"
[ "$(jqb .status)" = queued ] || fail "R2 status $(jqb .status)"
srv_stop slow
[ "$(sqlite3 "$SLOW" "SELECT count(*) FROM replays WHERE status IN ('queued', 'running')")" -ge 1 ] ||
	fail "stopping lost the queued replays"
integrity "$SLOW"
srv_start slow2 "$SLOW" --workers 1
wait_replay "$URL_slow2" "$R1"
wait_replay "$URL_slow2" "$R2"
srv_stop slow2
ok "503 when the queue is full, 409 on delete while queued, replays survive a stop"

# ---- 20 concurrent uploads, with queries ----
BEFORE_N=$(sqlite3 "$DB" 'SELECT count(*) FROM traces')
for i in $(seq 1 20); do
	sed "s/name=pmd-thp/name=conc-$i/" traces/samples/pmd-thp.mct.txt >"$WORK/conc-$i.txt"
done
CURLS=""
for i in $(seq 1 20); do
	curl -sS -m 60 -o "$WORK/conc-$i.json" -w '%{http_code}' -X POST "$U/api/traces" \
		-H 'Content-Type: text/plain' --data-binary @"$WORK/conc-$i.txt" >"$WORK/conc-$i.code" &
	CURLS="$CURLS $!"
	curl -sS -m 60 -o /dev/null -w '%{http_code}\n' "$U/api/traces?limit=5" >>"$WORK/queries" &
	CURLS="$CURLS $!"
	curl -sS -m 60 -o /dev/null -w '%{http_code}\n' "$U/healthz" >>"$WORK/queries" &
	CURLS="$CURLS $!"
done
for p in $CURLS; do wait "$p" || true; done
for i in $(seq 1 20); do
	c=$(cat "$WORK/conc-$i.code")
	[ "$c" = 201 ] || fail "concurrent upload $i: HTTP $c: $(cat "$WORK/conc-$i.json")"
done
[ "$(grep -vc '^200$' "$WORK/queries" || true)" = 0 ] || fail "queries during uploads: $(sort "$WORK/queries" | uniq -c)"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM traces')" = $((BEFORE_N + 20)) ] || fail "concurrent uploads: row count"
integrity "$DB"
ok "20 concurrent uploads (201 each) with 40 queries, all answered"

# ---- comparisons equal the CLI's JSON ----
norm='del(.traces[].file) | del(.traces[].policies[].cost.ns_per_event)'
for arch in 64 32; do
	comparison "$U" "$FORK" "arch=$arch"
	body | jq -S "$norm" >"$WORK/api.json"
	"$MAPCOUNT" replay --format json --arch "$arch" traces/samples/fork-cow-64k.mct.txt | jq -S "$norm" >"$WORK/cli.json"
	diff -u "$WORK/cli.json" "$WORK/api.json" || fail "comparison differs from mapcount replay (arch $arch)"
	[ "$(jqb '.traces[0].file')" = "trace:$FORK" ] || fail "file: $(jqb '.traces[0].file')"
done
# any subset of cached policies, in any order, without replaying
N_REPLAYS=$(sqlite3 "$DB" 'SELECT count(*) FROM replays')
req GET "$U/api/traces/$FORK/comparison?policies=count64,exact&arch=32"
expect 200 "subset from the cache"
[ "$(jqb '[.traces[0].policies[].policy] | join(",")')" = "count64,exact" ] || fail "subset order"
[ "$(sqlite3 "$DB" 'SELECT count(*) FROM replays')" = "$N_REPLAYS" ] || fail "a cached subset replayed"
"$MAPCOUNT" replay --format json -p two-slot+pages -p exact "$T" | jq -S "$norm" >"$WORK/cli.json"
req POST "$U/api/traces/$TEXT_ID/replays" -d '{"policies": ["two-slot+pages", "exact"], "arch": 64}'
expect 202 "POST replays"
RID=$(jqb .id)
wait_replay "$U" "$RID"
req GET "$U/api/replays/$RID"
jqb .result | jq -S "del(.traces[].name) | $norm" >"$WORK/api.json"
jq -S 'del(.traces[].name)' "$WORK/cli.json" >"$WORK/cli2.json"
diff -u "$WORK/cli2.json" "$WORK/api.json" || fail "replay result differs from mapcount replay"
[ "$(jqb .progress.events_done)" = "$EV" ] || fail "progress: $(jqb .progress)"
ok "comparisons and replays equal mapcount replay --format json; subsets from the cache"

# ---- folio views ----
req GET "$U/api/traces/$FORK/folios?sort=disagreement&limit=5"
expect 200 folios
[ "$(jqb '.folios[0].folio')" = f1 ] || fail "folios: $(body)"
req GET "$U/api/traces/$FORK/folios/f1/history?policies=two-slot"
expect 200 history
[ "$(jqb '.policies | join(",")')" = "exact,two-slot" ] || fail "history policies"
[ "$(jqb '[.events[] | select(.kind == "cow")] | length')" = 3 ] || fail "history cows: $(body)"
[ "$(jqb '.events[] | select(.kind == "fork") | .policies[0].fields.nr_mms')" = 2 ] || fail "fork state"
[ "$(jqb '.events[] | select(.index == 9) | .policies[1].cow_reuse')" = false ] || fail "cow answer"
ok "folio ranking and history"

# ---- downloads ----
curl -sS "$U/api/traces/$TEXT_ID/download?format=text" >"$WORK/dl.txt"
"$MAPCOUNT" convert --to text "$T" - | cmp - "$WORK/dl.txt" || fail "text download"
curl -sS "$U/api/traces/$BIN_ID/download?format=binary" | cmp - "$WORK/pss.mct" || fail "binary download"
curl -sS "$U/api/traces/$ZST_ID/download?format=zst" | zstd -dc | cmp - <("$MAPCOUNT" convert --to binary traces/scenarios/hugetlb-many.mct.txt -) ||
	fail "zst download"
ok "downloads: text, binary, zst"

# ---- a long replay while queries keep answering ----
"$SRC/tests/server/gen_trace.sh" storm 4000 1000 80000 >"$WORK/storm.txt"
req POST "$U/api/traces?name=storm" -H 'Content-Type: text/plain' --data-binary @"$WORK/storm.txt"
expect 201 "storm upload"
STORM=$(jqb .id)
STORM_EV=$(jqb .events)
req GET "$U/api/traces/$STORM/comparison"
expect 202 "long replay queued"
LONG=$(jqb .replay)
seen_running=0 answered=0 slowest=0
for _ in $(seq 3000); do
	st=$(curl -sS -m 5 "$U/api/replays/$LONG" | jq -r .status)
	[ "$st" = running ] && seen_running=1
	for path in /healthz "/api/traces?limit=2" /api/policies; do
		t=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U$path")
		[ "${t% *}" = 200 ] || fail "GET $path during the replay: ${t% *}"
		answered=$((answered + 1))
		slowest=$(echo "$slowest ${t#* }" | awk '{ print ($2 > $1) ? $2 : $1 }')
	done
	[ "$st" = done ] && break
	[ "$st" = failed ] && fail "long replay failed"
done
[ "$st" = done ] || fail "long replay did not finish"
[ "$seen_running" = 1 ] || fail "the long replay was never seen running"
awk -v s="$slowest" 'BEGIN { exit !(s < 1.0) }' || fail "a query took ${slowest}s during the replay"
req GET "$U/api/replays/$LONG"
[ "$(jqb .progress.events_done)" = "$STORM_EV" ] || fail "long replay progress"
ok "long replay ($STORM_EV events, $(jqb .seconds)s): $answered queries answered meanwhile, slowest ${slowest}s"
req GET "$U/api/traces/$STORM/folios?limit=3"
expect 202 "folio ranking of a big trace goes to the workers"
wait_replay "$U" "$(jqb .replay)"
req GET "$U/api/traces/$STORM/folios?limit=3"
expect 200 "folio ranking of a big trace, from its job"
[ "$(jqb '.folios | length')" = 3 ] || fail "ranking limit"
ok "folio ranking of a big trace through the workers"

# ---- metrics ----
req GET "$U/metrics"
expect 200 metrics
grep -q '^mapcountd_http_requests_total{route="/api/traces",method="POST",status="201"} ' "$WORK/body" || fail "metrics: requests"
grep -q '^mapcountd_ingest_bytes_total{form="upload"} [1-9]' "$WORK/body" || fail "metrics: bytes"
grep -q '^mapcountd_replay_duration_seconds_count{kind="replay",outcome="done"} [1-9]' "$WORK/body" || fail "metrics: replays"
grep -q '^mapcountd_replay_queue_length 0' "$WORK/body" || fail "metrics: queue"
ok "/metrics"

# ---- delete ----
SHA=$(curl -sS "$U/api/traces/$ZST_ID" | jq -r .sha256)
comparison "$U" "$ZST_ID" "policies=exact"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM results WHERE sha256 = '$SHA'")" = 1 ] || fail "no cached result"
req DELETE "$U/api/traces/$ZST_ID"
expect 200 delete
req GET "$U/api/traces/$ZST_ID"
expect 404 "deleted trace"
req DELETE "$U/api/traces/$ZST_ID"
expect 404 "delete twice"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM results WHERE sha256 = '$SHA'")" = 0 ] || fail "results of a deleted trace"
[ "$(sqlite3 "$DB" "SELECT count(*) FROM trace_chunks WHERE trace_id = $ZST_ID")" = 0 ] || fail "chunks of a deleted trace"
integrity "$DB"
ok "delete removes the trace, its chunks and its cached results"

# ---- restart: everything is still there ----
BEFORE=$(counts "$DB")
comparison "$U" "$FORK" "arch=64"
body | jq -S 'del(.traces[].policies[].cost.ns_per_event)' >"$WORK/before.json"
srv_stop main
integrity "$DB"
srv_start main2 "$DB"
U=$URL_main2
[ "$(counts "$DB")" = "$BEFORE" ] || fail "restart: $(counts "$DB") != $BEFORE"
req GET "$U/api/traces/$FORK/comparison?arch=64"
expect 200 "cached comparison after a restart"
body | jq -S 'del(.traces[].policies[].cost.ns_per_event)' | diff -u "$WORK/before.json" - || fail "comparison changed"
req GET "$U/api/replays/$RID"
[ "$(jqb .status)" = done ] || fail "replay after restart"
req GET "$U/api/traces/$TEXT_ID/download?format=text"
expect 200 "download after restart"
srv_stop main2
ok "restart keeps traces, replays and cached results"

# ---- docs/api.md, exactly as written ----
srv_start docs "$WORK/docs.db" --load "$SAMPLES"
"$SRC/tests/server/api_examples.sh" check "$SRC/docs/api.md" "$URL_docs" || fail "docs/api.md examples"
srv_stop docs
integrity "$WORK/docs.db"
ok "docs/api.md examples run as written"

echo "all mapcountd HTTP tests passed"
