#!/bin/bash
# tests/reliability/test_bad_input.sh MAPCOUNTD MAPCOUNT - the classes of
# bad input of docs/reliability.md that tests/server/test_api.sh does not
# already send: each gets its status and message, the database is
# unchanged (row counts, integrity_check) and the server keeps answering.
set -euo pipefail

MAPCOUNTD=$1
MAPCOUNT=$2
SRC=$(cd "$(dirname "$0")/../.." && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-badinput.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"
RAW="python3 $SRC/tests/reliability/rawhttp.py"
NCLASS=0 NSENT=0

# class NAME: one class of bad input done
class() {
	NCLASS=$((NCLASS + 1))
	ok "class $NCLASS: $*"
}
# up FILE [CONTENT-TYPE [QUERY]]: upload; sets CODE
up() {
	NSENT=$((NSENT + 1))
	req POST "$U/api/traces${3:-}" -H "Content-Type: ${2:-application/octet-stream}" --data-binary @"$1"
}
# bad STATUS PATTERN WHAT: the last request answered STATUS, its detail
# matches PATTERN (grep -E), the database is as before
bad() {
	expect "$1" "$3"
	[ "$(jqb .error)" != null ] || fail "$3: no error: $(body)"
	jqb .detail | grep -Eq -- "$2" || fail "$3: detail '$(jqb .detail)' does not match '$2'"
	unchanged "$DB" "$BEFORE" "$3"
}
# refused ARGS...: mapcountd ARGS exits at once with an error (its
# messages in $WORK/refused.err); one that starts is stopped after 10 s
refused() {
	local rc=0
	timeout 10 "$MAPCOUNTD" "$@" >/dev/null 2>"$WORK/refused.err" || rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ]
}
alive() {
	req GET "$U/healthz"
	expect 200 "still answering after $1"
}

SAMPLES=$WORK/samples
mkdir "$SAMPLES"
cp traces/samples/file-shared.mct.txt traces/samples/fork-cow-64k.mct.txt traces/samples/pmd-thp.mct.txt "$SAMPLES"
DB=$WORK/main.db
srv_start main "$DB" --load "$SAMPLES"
U=$URL_main
PORT=${U##*:}
BEFORE=$(counts "$DB")
"$MAPCOUNT" convert --to text traces/samples/fork-cow-64k.mct.txt "$WORK/fc.txt"
"$MAPCOUNT" convert --to binary traces/samples/fork-cow-64k.mct.txt "$WORK/fc.mct"
SMALL=traces/scenarios/cow-basic-page.mct.txt

# ---- trace content ----
: >"$WORK/empty"
up "$WORK/empty"
bad 400 "missing header" "empty body"
class "empty body: 400 'missing header'"

head -c 65536 /dev/urandom >"$WORK/random.bin"
up "$WORK/random.bin"
bad 400 "." "random bytes"
head -c 65536 /dev/urandom | zstd -q -c >"$WORK/random.zst"
up "$WORK/random.zst" application/zstd
bad 400 "." "a zstd frame of random bytes"
class "random bytes, raw and in a valid zstd frame: 400 with the reader's message"

{ head -n -1 "$WORK/fc.txt"; tail -n 1 "$WORK/fc.txt" | head -c 3; } >"$WORK/trunc.txt"
up "$WORK/trunc.txt" text/plain
bad 400 "^upload:[0-9]+:[0-9]+: " "text cut inside its last statement"
class "truncated text trace: 400 'upload:LINE:COL: ...'"

head -c $(($(stat -c %s "$WORK/fc.mct") - 7)) "$WORK/fc.mct" >"$WORK/trunc.mct"
up "$WORK/trunc.mct" application/x-protobuf
bad 400 "byte [0-9]+: truncated event" "binary cut inside an event"
class "truncated binary trace: 400 'byte N: truncated event'"

{ cat "$WORK/fc.mct"; printf 'trailing garbage'; } >"$WORK/trail.mct"
up "$WORK/trail.mct" application/x-protobuf
bad 400 "byte [0-9]+" "binary with trailing garbage"
class "binary trace with trailing garbage: 400 with the byte offset"

printf 'mct 99\nmm a\n' >"$WORK/v99.txt"
up "$WORK/v99.txt" text/plain
bad 400 "unsupported version '99'" "format version 99"
class "unsupported format version: 400"

printf 'mct 1\nmm a\nfrobnicate a\n' >"$WORK/unknown.txt"
up "$WORK/unknown.txt" text/plain
bad 400 "^upload:3:1: unknown statement 'frobnicate'" "unknown statement"
class "unknown statement: 400 with its line"

printf 'mm a\nmct 1\n' >"$WORK/nohdr.txt"
up "$WORK/nohdr.txt" text/plain
bad 400 "'mct 1' must come first" "no header"
class "missing header: 400"

printf 'mct 1\nmm a\nalloc f order=40 type=anon\n' >"$WORK/order.txt"
up "$WORK/order.txt" text/plain
bad 400 "order '40' out of range" "order 40"
printf 'mct 1\nmm %s\n' "$(head -c 65 /dev/zero | tr '\0' a)" >"$WORK/ident.txt"
up "$WORK/ident.txt" text/plain
bad 400 "." "a 65-character identifier"
printf 'mct 1\nmm a\nalloc f order=0 type=anon\nmap a f 0 excl\nquery f\nmm b comm=x\0y\n' >"$WORK/nul.txt"
up "$WORK/nul.txt" text/plain
bad 400 "NUL byte" "a NUL byte in a statement"
class "values out of range, over-long identifiers, NUL bytes: 400 with the position"

# a decompression bomb: a tiny zstd upload of a long (valid) trace
if [ "${MAPCOUNT_SANITIZED:-0}" = 1 ]; then QUERIES=200000; else QUERIES=2000000; fi
python3 -c "import sys; sys.stdout.write('mct 1 name=bomb\nmm a\nalloc f order=0 type=anon\nmap a f 0 excl\n' + 'query f\n' * $QUERIES)" |
	"$MAPCOUNT" convert --to zst - "$WORK/bomb.mct.zst"
hwm0=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_main/status")
up "$WORK/bomb.mct.zst" application/zstd
expect 201 "a zstd bomb (a valid trace)"
BOMB=$(jqb .id)
[ "$(jqb .events)" = $((QUERIES + 3)) ] || fail "bomb events: $(jqb .events)"
hwm1=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$PID_main/status")
[ $((hwm1 - hwm0)) -lt 65536 ] || fail "the bomb took $((hwm1 - hwm0)) kB"
req DELETE "$U/api/traces/$BOMB"
expect 200 "delete the bomb"
class "decompression bomb ($(stat -c %s "$WORK/bomb.mct.zst") bytes of zstd, $((QUERIES + 3)) events): streamed, stored (201), peak RSS $((hwm1 / 1024)) MiB (+$(((hwm1 - hwm0) / 1024)))"
BEFORE=$(counts "$DB")

# strings that are not UTF-8: stored, shown with U+FFFD
req POST "$U/api/traces?name=caf%e9-%ff" -H 'Content-Type: text/plain' --data-binary @"$SMALL"
expect 201 "a name that is not UTF-8"
ID1=$(jqb .id)
[ "$(jqb .name)" = "caf�-�" ] || fail "name: $(jqb .name)"
printf 'mct 1 name=caf\xe9 kernel=\xff\xfe arch=x86_64\nmm a\nalloc f order=0 type=anon\nmap a f 0 excl\n' >"$WORK/latin1.txt"
req POST "$U/api/traces" -H 'Content-Type: text/plain' --data-binary @"$WORK/latin1.txt"
expect 201 "header strings that are not UTF-8"
ID2=$(jqb .id)
[ "$(jqb .name)" = "caf�" ] && [ "$(jqb .kernel)" = "��" ] || fail "header strings: $(body)"
for id in $ID1 $ID2; do
	comparison "$U" "$id" "policies=exact"
	[ "$(jqb '.traces[0].name')" != null ] || fail "comparison of $id: $(body)"
	req GET "$U/api/traces/$id/folios/f/history"
	expect 200 "history of $id"
done
req GET "$U/api/traces?limit=1000"
expect 200 "list with such names"
for id in $ID1 $ID2; do
	req DELETE "$U/api/traces/$id"
	expect 200 "delete $id"
done
class "names and header strings that are not UTF-8: stored, shown with U+FFFD, comparisons work"
BEFORE=$(counts "$DB")

# ---- the upload request ----
req POST "$U/api/traces?name=$(head -c 513 /dev/zero | tr '\0' n)" -H 'Content-Type: text/plain' --data-binary @"$SMALL"
bad 400 "at most 512 bytes" "a 513-byte ?name="
class "over-long ?name=: 400"

req POST "$U/api/traces" -F "file=@$SMALL" -F "other=@traces/scenarios/cow-basic-single-pte.mct.txt;filename=b.txt"
bad 400 "one trace file per upload" "two files"
req POST "$U/api/traces" -F "file=@$SMALL" -F "name=$(head -c 600 /dev/zero | tr '\0' n)"
bad 400 "multipart" "a 600-byte name field"
req POST "$U/api/traces" -H 'Content-Type: multipart/form-data' --data-binary @"$SMALL"
bad 400 "boundary" "multipart without a boundary"
req POST "$U/api/traces" -F "file=@$WORK/empty"
bad 400 "missing header" "an empty file field"
class "bad multipart forms (two files, long name field, no boundary, empty file): 400"

# Content-Length larger than what comes, the client gone
printf 'POST /api/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n%s' "$(head -c 2000 "$WORK/fc.txt")" >"$WORK/short.http"
[ "$($RAW "$PORT" close <"$WORK/short.http")" = closed ] || fail "short body answered"
printf 'POST /api/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n400\r\n%s' "$(head -c 1024 "$WORK/fc.txt")" >"$WORK/short-chunked.http"
[ "$($RAW "$PORT" close <"$WORK/short-chunked.http")" = closed ] || fail "short chunked body answered"
sleep 0.3
unchanged "$DB" "$BEFORE" "bodies cut short"
alive "bodies cut short"
class "body shorter than its Content-Length or chunked body cut, client gone: nothing stored"

req POST "$U/api/traces" -H 'Expect: 100-continue' -H 'Content-Type: text/plain' -H 'Content-Length: 99999999999' --data-binary @"$SMALL"
expect 413 "oversized Content-Length with Expect: 100-continue"
printf 'POST /api/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 18446744073709551617\r\n\r\n' >"$WORK/cl.http"
c=$($RAW "$PORT" keep <"$WORK/cl.http" | sed -n 1p)
[ "$c" = 400 ] || [ "$c" = 413 ] || [ "$c" = closed ] || fail "Content-Length beyond 2^64: $c"
unchanged "$DB" "$BEFORE" "huge Content-Length"
class "absurd Content-Length (beyond --max-upload, beyond 2^64): 413/400 before the body"

printf 'POST /api/traces HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /api/nothing HTTP/1.1\r\nHost: x\r\n\r\n' >"$WORK/smuggle.http"
[ "$($RAW "$PORT" keep <"$WORK/smuggle.http" | tr '\n' ' ')" = "400 " ] || fail "Content-Length with Transfer-Encoding: $($RAW "$PORT" keep <"$WORK/smuggle.http")"
class "Content-Length and Transfer-Encoding together (smuggling): 400, connection closed, nothing behind it answered"

# ---- requests ----
n=0
for q in "limit=-1" "limit=abc" "limit=" "limit=1001" "limit=1e3" "offset=-5" "offset=x" "limit=99999999999999999999"; do
	req GET "$U/api/traces?$q"
	bad 400 "limit" "GET /api/traces?$q"
	n=$((n + 1))
done
for q in "folios?limit=5000" "folios?sort=x" "folios?limit=-1" "download?format=" "download?format=../x" \
	"comparison?arch=" "comparison?arch=64x" "comparison?policies=exact,nope" \
	"folios/f1/history?policies=nope" "folios/f1/history?arch=7"; do
	req GET "$U/api/traces/2/$q"
	expect 400 "GET /api/traces/2/$q"
	n=$((n + 1))
done
unchanged "$DB" "$BEFORE" "bad query parameters"
class "bad query parameters ($n): 400 with what is expected"

n=0
for id in abc 0 -1 1x 99999999999999999999 1.5 0x1 %2e %201 1%00; do
	req GET "$U/api/traces/$id"
	expect 404 "GET /api/traces/$id"
	n=$((n + 1))
done
req GET "$U/api/traces/2/folios/$(head -c 65 /dev/zero | tr '\0' f)/history"
expect 404 "a 65-character folio"
req GET "$U/api/traces/2/folios/f%2f1/history"
expect 404 "a folio with a slash"
req GET "$U/api/traces/2/folios/%ff/history"
expect 404 "a folio that is not UTF-8"
jq . "$WORK/body" >/dev/null || fail "not JSON: $(body)"
class "bad ids ($n) and folio names: 404"

n=0
for b in '[1,2]' '"x"' '{"policies": "exact"}' '{"policies": [1]}' '{"arch": "64"}' '{"arch": 16}' \
	'{"policies": [' '{"policies": ["exact"]} trailing' "$(printf '{"policies": ["\xff"]}')" \
	"{\"policies\": [$(printf '"exact",%.0s' $(seq 40))\"exact\"]}"; do
	req POST "$U/api/traces/2/replays" -H 'Content-Type: application/json' --data-binary "$b"
	expect 400 "replay body '$b'"
	n=$((n + 1))
done
head -c 70000 /dev/zero | tr '\0' ' ' >"$WORK/big.json"
req POST "$U/api/traces/2/replays" -H 'Content-Type: application/json' --data-binary @"$WORK/big.json"
expect 413 "a 70 kB JSON body"
unchanged "$DB" "$BEFORE" "bad JSON bodies"
class "bad JSON bodies ($n: not an object, wrong types, truncated, trailing data, not UTF-8, too many policies): 400; beyond 64 KiB: 413"

req BREW "$U/api/traces"
expect 405 "BREW"
curl -sS -D - -o /dev/null -X PATCH "$U/api/traces/1" | grep -qi '^Allow: GET, DELETE' || fail "405 without Allow"
class "unknown or unsupported HTTP methods: 405 with Allow"

[ "$(printf 'GARBAGE\r\n\r\n' | $RAW "$PORT")" != 200 ] || fail "garbage answered 200"
[ "$(printf 'GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n' | $RAW "$PORT")" = 505 ] || fail "HTTP/9.9"
[ "$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n' | $RAW "$PORT")" = 400 ] || fail "header without a colon"
[ "$(printf '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03' | $RAW "$PORT")" != 200 ] || fail "TLS hello"
alive "malformed HTTP"
class "malformed HTTP (garbage, unknown version, header without colon, a TLS hello): 400/505 or closed, server unharmed"

[ "$(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /api HTTP/1.1\r\nHost: x\r\n\r\nGET /api/policies HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' |
	$RAW "$PORT" | tr '\n' ' ')" = "200 200 200 " ] || fail "pipelined requests"
class "pipelined requests: answered in order"

req GET "$U/api/x%ff%fe"
expect 404 "a URL that is not UTF-8"
jq -e .detail "$WORK/body" >/dev/null || fail "not JSON: $(body)"
req GET "$U/%c0%ae%c0%ae/etc/passwd"
expect 404 "overlong UTF-8 dots"
class "URLs that are not UTF-8: 404 with a JSON body (U+FFFD)"

# two HEADs on one connection: a body after the first would garble the second
curl -sS -m 10 --head "$U/api/traces" "$U/api/traces/1" >"$WORK/head" || fail "HEAD"
[ "$(grep -c '^HTTP/1.1 200' "$WORK/head")" = 2 ] || fail "HEAD: $(cat "$WORK/head")"
grep -q '^Content-Length: [1-9]' "$WORK/head" || fail "HEAD: no Content-Length"
class "HEAD: the headers of GET, no body"

# ---- races ----
"$SRC/tests/server/gen_trace.sh" storm 2000 3000 10000 >"$WORK/storm.txt"
req POST "$U/api/traces?name=storm" -H 'Content-Type: text/plain' --data-binary @"$WORK/storm.txt"
expect 201 storm
STORM=$(jqb .id)
req POST "$U/api/traces/$STORM/replays" -d '{"arch": 32}'
expect 202 "replay"
R=$(jqb .id)
for _ in $(seq 600); do
	[ "$(curl -sS "$U/api/replays/$R" | jq -r .status)" = running ] && break
	sleep 0.02
done
[ "$(curl -sS "$U/api/replays/$R" | jq -r .status)" = running ] || fail "replay $R is not running"
req DELETE "$U/api/traces/$STORM"
expect 409 "delete while the replay runs"
jqb .detail | grep -q "replay $R of trace $STORM is queued or running" || fail "409: $(body)"
wait_replay "$U" "$R"
req DELETE "$U/api/traces/$STORM"
expect 200 "delete after the replay"
class "delete during a running replay: 409 until it is over (queued: tests/server/test_api.sh)"

"$SRC/tests/server/gen_trace.sh" fill 150000 >"$WORK/fill.txt"
req POST "$U/api/traces?name=big" -H 'Content-Type: text/plain' --data-binary @"$WORK/fill.txt"
expect 201 "a big trace"
BIG=$(jqb .id)
out=$(python3 tests/reliability/download_delete.py "$PORT" "$BIG" text)
echo "$out" | grep -q '^delete 200$' || fail "delete during a download: $out"
echo "$out" | grep -q '^incomplete' || {
	# the whole trace, if it was all read before the delete
	echo "$out" | grep -q "^complete $(stat -c %s "$WORK/fill.txt")\$" || fail "download cut short but complete: $out"
}
alive "a delete during a download"
class "delete during a download: the download ends in an error, never as a shorter trace"

integrity "$DB"
unchanged "$DB" "$BEFORE" "everything"
srv_stop main

# ---- the database and the command line ----
head -c 100000 /dev/urandom >"$WORK/corrupt.db"
sum0=$(sha256sum <"$WORK/corrupt.db")
refused --listen 127.0.0.1:0 --db "$WORK/corrupt.db" || fail "started on garbage"
grep -q 'not a database' "$WORK/refused.err" || fail "corrupt db message: $(cat "$WORK/refused.err")"
[ "$(sha256sum <"$WORK/corrupt.db")" = "$sum0" ] || fail "the corrupt database was written to"
class "a database file that is not one: refused at start ('file is not a database'), left untouched"

cp "$DB" "$WORK/newer.db"
sqlite3 "$WORK/newer.db" 'PRAGMA user_version = 99'
refused --listen 127.0.0.1:0 --db "$WORK/newer.db" || fail "started on a newer schema"
grep -q 'schema version 99 is newer' "$WORK/refused.err" || fail "newer schema message: $(cat "$WORK/refused.err")"
refused --listen 127.0.0.1:0 --db "$WORK/no/such/dir/x.db" || fail "started without a directory"
grep -q 'unable to open' "$WORK/refused.err" || fail "missing directory: $(cat "$WORK/refused.err")"
class "a database of a newer schema, or in a missing directory: refused at start with a message"

n=0
for args in "--max-upload 0" "--max-upload 1X" "--max-upload -1" "--workers 0" "--workers 65" "--queue 0" \
	"--listen nonsense" "--listen 127.0.0.1:99999" "--listen :80" "--timeout 0" "--header-timeout x" \
	"--http-threads 0" "--sync-limit -3" "--no-such-option" "--load /no/such/dir" "--token-file /no/such/file" \
	"extra-argument"; do
	# shellcheck disable=SC2086
	refused --db "$WORK/opt.db" $args || fail "accepted: $args"
	[ -s "$WORK/refused.err" ] || fail "no message for: $args"
	n=$((n + 1))
done
: >"$WORK/empty-token"
refused --db "$WORK/opt.db" --token-file "$WORK/empty-token" || fail "accepted an empty token"
class "bad command lines ($((n + 1))): refused with a message"

echo "bad input: $NCLASS classes, $NSENT bad uploads and many more requests, database unchanged"
echo "figures: classes=$NCLASS"
