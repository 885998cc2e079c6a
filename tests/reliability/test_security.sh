#!/bin/bash
# tests/reliability/test_security.sh MAPCOUNTD MAPCOUNT - mapcountd against
# hostile clients (docs/reliability.md, "Security").
#
#   - loopback by default; beyond loopback only with a token, required
#     (constant-time compare) for every mutating request: checked in a
#     network namespace of its own (unshare -n), so that nothing listens
#     on a real interface; skipped where namespaces are not permitted
#   - header limits (431), slow clients (slowloris: --header-timeout)
#   - static files confined to the web root: traversal, encoded, doubled,
#     symlinks out of the root, dot files
#   - Content-Security-Policy on the UI's pages, no inline script or style
#   - CORS only for --cors-origin origins; preflights
#   - a world-writable plug-in directory or plug-in is refused
set -euo pipefail

SRC=$(cd "$(dirname "$0")/../.." && pwd)

# ---- inside a network namespace of our own (re-executed by unshare) ----
if [ "${1:-}" = --netns ]; then
	MAPCOUNTD=$2
	WORK=$3
	PIDS=""
	# shellcheck source=tests/server/lib.sh
	. "$SRC/tests/server/lib.sh"
	trap 'for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done' EXIT
	cd "$SRC"
	ip link set lo up
	T=traces/scenarios/cow-basic-page.mct.txt

	# the default address: 127.0.0.1:8080 (free in a fresh namespace)
	"$MAPCOUNTD" --db "$WORK/ns-default.db" >"$WORK/ns-default.out" 2>&1 &
	PIDS="$PIDS $!"
	for _ in $(seq 200); do grep -q 'listening on' "$WORK/ns-default.out" && break; sleep 0.05; done
	grep -q 'listening on http://127.0.0.1:8080$' "$WORK/ns-default.out" || fail "default address: $(cat "$WORK/ns-default.out")"
	listening=$(ss -ltnH | awk '{ print $4 }' | sort -u | tr '\n' ' ')
	[ "$listening" = "127.0.0.1:8080 " ] || fail "listening on: $listening"
	ok "binds 127.0.0.1:8080 by default, nothing else"

	# beyond loopback: no token, no start
	rc=0
	timeout 10 "$MAPCOUNTD" --listen 0.0.0.0:0 --db "$WORK/ns-open.db" >/dev/null 2>"$WORK/ns-open.err" || rc=$?
	[ "$rc" = 2 ] || fail "listened on 0.0.0.0 without a token ($rc)"
	grep -q 'without --token-file' "$WORK/ns-open.err" || fail "refusal: $(cat "$WORK/ns-open.err")"
	rc=0
	timeout 10 "$MAPCOUNTD" --listen '[::]:0' --db "$WORK/ns-open.db" >/dev/null 2>&1 || rc=$?
	[ "$rc" = 2 ] || fail "listened on [::] without a token ($rc)"
	printf 'k3y-%s\n' "$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')" >"$WORK/token"
	TOKEN=$(cat "$WORK/token")
	srv_start wide "$WORK/ns-wide.db" --token-file "$WORK/token"
	U=http://127.0.0.1:${URL_wide##*:}
	for auth in "" "Bearer" "Bearer " "Bearer x" "Bearer ${TOKEN%?}" "Bearer ${TOKEN}x" \
		"Bearer ${TOKEN%?}X" "Basic $(printf 'u:%s' "$TOKEN" | base64)" "Token $TOKEN" \
		"Bearer  $TOKEN" "Bearer $TOKEN "; do
		req POST "$U/api/traces" -H "Authorization: $auth" -H 'Content-Type: text/plain' --data-binary @"$T"
		expect 401 "upload beyond loopback with 'Authorization: $auth'"
	done
	req POST "$U/api/traces" -H 'Content-Type: text/plain' --data-binary @"$T"
	expect 401 "upload beyond loopback without a token"
	[ "$(jqb .error)" = unauthorized ] || fail "401 body: $(body)"
	curl -sS -D - -o /dev/null -X DELETE "$U/api/traces/1" | grep -qi '^WWW-Authenticate: Bearer' || fail "no WWW-Authenticate"
	req POST "$U/api/traces/1/replays" -d '{}'
	expect 401 "replay without a token"
	req DELETE "$U/api/traces/1"
	expect 401 "delete without a token"
	[ "$(sqlite3 "$WORK/ns-wide.db" 'SELECT count(*) FROM traces')" = 0 ] || fail "stored without a token"
	req POST "$U/api/traces" -H "Authorization: bearer $TOKEN" -H 'Content-Type: text/plain' --data-binary @"$T"
	expect 201 "upload with the token"
	req GET "$U/api/traces"
	expect 200 "reads need no token"
	req DELETE "$U/api/traces/1" -H "Authorization: Bearer $TOKEN"
	expect 200 "delete with the token"
	srv_stop wide
	ok "beyond loopback: no start without a token; 11 wrong or malformed Authorization headers refused (401), the token accepted"
	exit 0
fi

MAPCOUNTD=$1
MAPCOUNT=$2
WORK=$(mktemp -d "${TMPDIR:-/tmp}/mapcountd-security.XXXXXX")
PIDS=""
# shellcheck source=tests/server/lib.sh
. "$SRC/tests/server/lib.sh"
trap cleanup EXIT
cd "$SRC"

# refused ARGS...: mapcountd ARGS exits at once with an error (its
# messages in $WORK/refused.err); one that starts is stopped after 10 s
refused() {
	local rc=0
	timeout 10 "$MAPCOUNTD" "$@" >/dev/null 2>"$WORK/refused.err" || rc=$?
	[ "$rc" != 0 ] && [ "$rc" != 124 ]
}

# ---- loopback, tokens: in a network namespace ----
if unshare -n true 2>/dev/null; then
	unshare -n "$0" --netns "$MAPCOUNTD" "$WORK" || fail "network namespace checks"
else
	echo "skip: cannot create a network namespace (unshare -n): the checks beyond loopback did not run"
fi
# the token compare: SHA-256 digests, CRYPTO_memcmp (constant time)
grep -q 'CRYPTO_memcmp(got, cfg.token_sha, 32)' server/http.c || fail "the token is not compared in constant time"

# ---- header limits ----
srv_start main "$WORK/main.db" --header-timeout 2 --timeout 30
U=$URL_main
head -c 200000 /dev/zero | tr '\0' a | sed 's/^/X-Big: /' >"$WORK/big.hdr"
echo >>"$WORK/big.hdr"
req GET "$U/healthz" -H @"$WORK/big.hdr"
expect 431 "a 200 kB header"
for i in $(seq 3000); do echo "X-H$i: v"; done >"$WORK/many.hdr"
req GET "$U/healthz" -H @"$WORK/many.hdr"
expect 431 "3000 header lines"
python3 - "${U##*:}" <<'PY' || fail "a 200 kB URL"
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(b"GET /api/traces?x=" + b"a" * 200000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
buf = b""
while True:
    try:
        d = s.recv(65536)
    except ConnectionResetError:
        break
    if not d:
        break
    buf += d
if not (buf.startswith(b"HTTP/1.1 431") or buf.startswith(b"HTTP/1.1 414")):
    sys.exit("200 kB URL: %r" % buf[:100])
PY
req GET "$U/healthz"
expect 200 "after the big headers"
ok "header limits: 200 kB header, 3000 header lines: 431; 200 kB URL: 414/431"

# ---- slowloris ----
PORT=${U##*:}
python3 tests/reliability/slowloris.py "$PORT" 100 12 >"$WORK/slow.out" &
SLOW=$!
sleep 0.5
answered=0 slowest=0
for _ in $(seq 10); do
	t=$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}' "$U/api/traces")
	[ "${t% *}" = 200 ] || fail "GET during the slowloris: ${t% *}"
	answered=$((answered + 1))
	slowest=$(echo "$slowest ${t#* }" | awk '{ print ($2 > $1) ? $2 : $1 }')
	sleep 0.2
done
wait "$SLOW"
awk -v s="$slowest" 'BEGIN { exit !(s < 1.0) }' || fail "a request took ${slowest}s during the slowloris"
[ "$(wc -l <"$WORK/slow.out")" = 120 ] || fail "slowloris: $(cat "$WORK/slow.out")"
! grep -q open "$WORK/slow.out" || fail "connections still open after 12 s: $(grep -c open "$WORK/slow.out")"
# closed by the 2 s header timeout (reaper every 0.25 s), not before
awk '$2 < 1.9 || $2 > 4.0 { bad++ } END { exit bad > 0 }' "$WORK/slow.out" ||
	fail "slowloris: closed at the wrong time: $(sort -k2 -n "$WORK/slow.out" | sed -n '1p;$p')"
req GET "$U/metrics"
cut=$(sed -n 's/^mapcountd_header_timeouts_total //p' "$WORK/body")
[ "$cut" -ge 120 ] || fail "header timeouts counted: $cut"
# a slow but honest keep-alive client is not cut: 6 requests 1 s apart
python3 - "$PORT" <<'PY' || fail "keep-alive client cut"
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
for i in range(6):
    s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    buf = b""
    while b"\r\n\r\n" not in buf or not buf.rstrip().endswith(b"}"):
        d = s.recv(65536)
        if not d:
            sys.exit("closed at request %d" % i)
        buf += d
    time.sleep(1.0)
PY
ok "slowloris: 100 connections trickling a header and 20 silent ones closed after $(awk 'NR == 1 || $2 < a { a = $2 } NR == 1 || $2 > b { b = $2 } END { print a "-" b }' "$WORK/slow.out") s (--header-timeout 2); $answered requests answered meanwhile, slowest ${slowest}s; keep-alive clients not cut"
srv_stop main

# ---- static files: the web root only ----
WEB=$WORK/web
mkdir -p "$WEB/js" "$WORK/outside"
echo '<!doctype html><title>t</title><script src="js/app.js"></script>' >"$WEB/index.html"
echo 'console.log(1)' >"$WEB/js/app.js"
echo 'TOP-SECRET-CONTENT' >"$WORK/outside/secret.txt"
echo 'dot' >"$WEB/.hidden"
ln -s "$WORK/outside/secret.txt" "$WEB/link-out.txt"
ln -s "$WORK/outside" "$WEB/dir-out"
ln -s /etc "$WEB/etc"
ln -s js/app.js "$WEB/link-in.js"
srv_start web "$WORK/web.db" --web-root "$WEB"
U=$URL_web
req GET "$U/js/app.js"
expect 200 "a file of the root"
req GET "$U/link-in.js"
expect 200 "a symlink within the root"
n=0
for path in /../outside/secret.txt /js/../../outside/secret.txt /%2e%2e/outside/secret.txt \
	/js/%2e%2e/%2e%2e/outside/secret.txt /..%2foutside%2fsecret.txt /js/..%2f..%2foutside/secret.txt \
	/%252e%252e/outside/secret.txt '/..\outside\secret.txt' '/js\..\..\outside\secret.txt' \
	/link-out.txt /dir-out/secret.txt /etc/passwd /etc/hostname /.hidden /js/./app.js //etc/passwd \
	/js//app.js /%00/../etc/passwd /index.html%00.js "/$(printf '%s' "$WORK/outside/secret.txt" | sed 's#^/##')" \
	/..%c0%af../outside/secret.txt /.%2e/outside/secret.txt; do
	req GET "$U$path" --path-as-is
	[ "$CODE" = 404 ] || [ "$CODE" = 400 ] || fail "GET $path: $CODE: $(body)"
	! grep -q -e TOP-SECRET -e 'root:' "$WORK/body" || fail "GET $path leaked: $(body)"
	n=$((n + 1))
done
# the same through a raw socket (no client normalises anything)
python3 - "${U##*:}" <<'PY' || fail "raw traversal"
import socket, sys
for path in [b"/../outside/secret.txt", b"/js/../../outside/secret.txt", b"/%2e%2e/%2e%2e/etc/passwd",
             b"/..%2F..%2Fetc%2Fpasswd", b"http://127.0.0.1/../outside/secret.txt", b"../outside/secret.txt",
             b"*", b"/link-out.txt"]:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    s.sendall(b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    buf = b""
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
    status = buf.split(b" ", 2)[1] if buf else b"closed"
    if status not in (b"400", b"404", b"closed") or b"TOP-SECRET" in buf or b"root:" in buf:
        sys.exit("GET %r: %r" % (path, buf[:200]))
PY
srv_stop web
ok "static files: $n traversal, encoding, symlink and dot-file paths (and 8 raw ones) answered 404/400, nothing outside the root served"

# ---- the UI: Content-Security-Policy, no inline script or style ----
if [ -f clients/web/index.html ]; then
	srv_start ui "$WORK/ui.db"
	pages=0
	for f in clients/web/*.html; do
		page=/${f#clients/web/}
		[ "$page" = /index.html ] && page=/
		curl -sS -D "$WORK/h" -o "$WORK/page" "$URL_ui$page"
		csp=$(sed -n 's/^Content-Security-Policy: //Ip' "$WORK/h" | tr -d '\r')
		case $csp in *"default-src 'self'"*) ;; *) fail "$page: Content-Security-Policy: '$csp'" ;; esac
		case $csp in *unsafe-inline* | *unsafe-eval*) fail "$page: CSP allows inline code: $csp" ;; esac
		grep -qi '^X-Content-Type-Options: nosniff' "$WORK/h" || fail "$page: no nosniff"
		# <script> only with src=, no <style>, no style= or on*= attribute
		if grep -Eio '<script[^>]*>' "$WORK/page" | grep -viq 'src='; then fail "$page: inline <script>"; fi
		if grep -Eiq '<style|[[:space:]]style[[:space:]]*=|[[:space:]]on[a-z]+[[:space:]]*=|javascript:' "$WORK/page"; then
			fail "$page: inline style or handler: $(grep -Eio '<style|[[:space:]]style[[:space:]]*=[^>]*|[[:space:]]on[a-z]+[[:space:]]*=[^>]*|javascript:[^"]*' "$WORK/page" | head -3)"
		fi
		pages=$((pages + 1))
	done
	# nor do the scripts write any into the page
	if grep -Eq "(innerHTML|insertAdjacentHTML|outerHTML)[^;]*(<script|style=|on[a-z]+=)|setAttribute\\(['\"](style|on[a-z]+)['\"]|javascript:|eval\\(|new Function" clients/web/js/*.js; then
		fail "the UI's scripts write inline code: $(grep -En "setAttribute\\(['\"](style|on[a-z]+)|javascript:|eval\\(|new Function" clients/web/js/*.js | head -3)"
	fi
	srv_stop ui
	ok "UI: $pages pages served with CSP default-src 'self' (no unsafe-inline), no inline script, style or handler"
else
	echo "skip: no clients/web/index.html"
fi

# ---- CORS ----
srv_start nocors "$WORK/nocors.db"
curl -sS -D "$WORK/h" -o /dev/null -H 'Origin: http://evil.example' "$URL_nocors/api/traces"
! grep -qi '^Access-Control-' "$WORK/h" || fail "CORS headers without --cors-origin: $(cat "$WORK/h")"
req OPTIONS "$URL_nocors/api/traces" -H 'Origin: http://evil.example' -H 'Access-Control-Request-Method: POST'
expect 403 "preflight without --cors-origin"
srv_stop nocors
srv_start cors "$WORK/cors.db" --cors-origin http://ui.example:8443 --cors-origin https://lab.example
U=$URL_cors
for origin in http://ui.example:8443 https://lab.example; do
	curl -sS -D "$WORK/h" -o /dev/null -H "Origin: $origin" "$U/api/traces"
	grep -qi "^Access-Control-Allow-Origin: $origin" "$WORK/h" || fail "no ACAO for $origin"
	grep -qi '^Vary: Origin' "$WORK/h" || fail "no Vary: Origin"
	curl -sS -D "$WORK/h" -o /dev/null -X OPTIONS -H "Origin: $origin" \
		-H 'Access-Control-Request-Method: POST' -H 'Access-Control-Request-Headers: authorization, content-type' "$U/api/traces"
	head -1 "$WORK/h" | grep -q ' 204' || fail "preflight for $origin: $(head -1 "$WORK/h")"
	grep -qi "^Access-Control-Allow-Origin: $origin" "$WORK/h" || fail "preflight ACAO"
	grep -qi '^Access-Control-Allow-Methods: .*POST' "$WORK/h" || fail "preflight methods"
	grep -qi '^Access-Control-Allow-Headers: .*Authorization' "$WORK/h" || fail "preflight headers"
done
for origin in http://evil.example http://ui.example https://ui.example:8443 http://ui.example:8443.evil.example null \
	'http://ui.example:8443 ' HTTP://UI.EXAMPLE:8443; do
	curl -sS -D "$WORK/h" -o /dev/null -H "Origin: $origin" "$U/api/traces"
	! grep -qi '^Access-Control-Allow-Origin' "$WORK/h" || fail "ACAO for $origin"
	req OPTIONS "$U/api/traces/1" -H "Origin: $origin" -H 'Access-Control-Request-Method: DELETE'
	expect 403 "preflight from $origin"
done
req OPTIONS "$U/api/traces"
expect 204 "OPTIONS without an origin"
req OPTIONS "$U/api/nothing" -H 'Origin: https://lab.example'
expect 404 "OPTIONS of an unknown endpoint"
srv_stop cors
for bad in '*' null http://x/path 'http://a b' ftp://x http:// 'https://x?y'; do
	refused --listen 127.0.0.1:0 --db "$WORK/bad.db" --cors-origin "$bad" || fail "--cors-origin '$bad' accepted"
done
ok "CORS: none by default (403 on preflight), Access-Control-Allow-Origin only for the --cors-origin origins (7 others refused), bad origins refused at start"

# ---- plug-in directory ----
mkdir -p "$WORK/plugins-open" "$WORK/plugins"
chmod 0777 "$WORK/plugins-open"
refused --listen 127.0.0.1:0 --db "$WORK/p.db" --plugin-dir "$WORK/plugins-open" ||
	fail "loaded plug-ins from a world-writable directory"
grep -q 'world-writable: refusing' "$WORK/refused.err" || fail "refusal: $(cat "$WORK/refused.err")"
refused --listen 127.0.0.1:0 --db "$WORK/p.db" --plugin-dir /tmp || fail "loaded plug-ins from /tmp"
chmod 0755 "$WORK/plugins"
printf 'not really a library' >"$WORK/plugins/evil.so"
chmod 0666 "$WORK/plugins/evil.so"
srv_start plug "$WORK/p.db" --plugin-dir "$WORK/plugins"
grep -q "plugin $WORK/plugins/evil.so: world-writable: not loaded" "$WORK/plug.err" || fail "world-writable plug-in: $(cat "$WORK/plug.err")"
req GET "$URL_plug/api/policies"
expect 200 policies
srv_stop plug
ok "plug-ins: a world-writable directory (and /tmp) refused at start, a world-writable plug-in not loaded"
echo "security: all checks passed"
