# shellcheck shell=bash
# tests/server/lib.sh - helpers of the mapcountd HTTP tests: start and stop
# a real mapcountd on an ephemeral port, send requests with curl, look at
# the database with the sqlite3 CLI.

# srv_start NAME DB [ARGS...]: start mapcountd; sets URL_<NAME>, PID_<NAME>
srv_start() {
	local name=$1 db=$2 out
	shift 2
	out="$WORK/$name.out"
	: >"$out"
	"$MAPCOUNTD" --listen 127.0.0.1:0 --db "$db" "$@" >"$out" 2>>"$WORK/$name.err" &
	local pid=$!
	for _ in $(seq 400); do
		grep -q 'listening on' "$out" && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! grep -q 'listening on' "$out"; then
		echo "mapcountd $name did not start:" >&2
		cat "$WORK/$name.err" >&2
		return 1
	fi
	printf -v "URL_$name" '%s' "$(sed -n 's/^mapcountd: listening on //p' "$out")"
	printf -v "PID_$name" '%s' "$pid"
	PIDS="$PIDS $pid"
}

# srv_stop NAME: SIGTERM, and wait for a clean exit
srv_stop() {
	local pid_var="PID_$1"
	local pid=${!pid_var}
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	[ "$rc" = 0 ] || fail "mapcountd $1 exited with $rc after SIGTERM"
}

cleanup() {
	for p in $PIDS; do kill -KILL "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	if [ "${KEEP:-}" = "" ]; then rm -rf "$WORK"; fi
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

ok() {
	echo "ok - $*"
}

# req METHOD URL [CURL ARGS...]: sets CODE; the body is in $WORK/body
req() {
	local method=$1 url=$2
	shift 2
	CODE=$(curl -sS -m 60 -o "$WORK/body" -w '%{http_code}' -X "$method" "$@" "$url")
}

# expect STATUS MESSAGE: the last req answered STATUS
expect() {
	[ "$CODE" = "$1" ] || {
		cat "$WORK/body" >&2
		fail "$2: expected HTTP $1, got $CODE"
	}
}

body() {
	cat "$WORK/body"
}

jqb() {
	jq -r "$@" "$WORK/body"
}

# row counts of every table, one line
counts() {
	sqlite3 "$1" "SELECT (SELECT count(*) FROM traces) || ' ' ||
		(SELECT count(*) FROM trace_chunks) || ' ' ||
		(SELECT count(*) FROM trace_events) || ' ' ||
		(SELECT count(*) FROM trace_folios) || ' ' ||
		(SELECT count(*) FROM results) || ' ' ||
		(SELECT count(*) FROM replays)"
}

integrity() {
	local r
	r=$(sqlite3 "$1" 'PRAGMA integrity_check')
	[ "$r" = ok ] || fail "integrity_check of $1: $r"
}

# unchanged DB BEFORE WHAT: same row counts as BEFORE, integrity ok
unchanged() {
	local now
	now=$(counts "$1")
	[ "$now" = "$2" ] || fail "$3: the database changed: '$2' -> '$now'"
	integrity "$1"
}

# wait_replay URL ID: until the replay is done (or failed: fail)
wait_replay() {
	local st
	for _ in $(seq 1200); do
		st=$(curl -sS -m 10 "$1/api/replays/$2" | jq -r .status)
		case $st in
		done) return 0 ;;
		failed) fail "replay $2 failed: $(curl -sS "$1/api/replays/$2" | jq -r .error)" ;;
		esac
		sleep 0.1
	done
	fail "replay $2 did not finish"
}

# comparison URL TRACE QUERY: GET until 200; the document in $WORK/body
comparison() {
	for _ in $(seq 1200); do
		req GET "$1/api/traces/$2/comparison?$3"
		[ "$CODE" = 200 ] && return 0
		[ "$CODE" = 202 ] || fail "comparison of $2: HTTP $CODE: $(body)"
		sleep 0.1
	done
	fail "comparison of $2 never became ready"
}

# idle URL: until no replay is queued or running
idle() {
	for _ in $(seq 1200); do
		curl -sS "$1/metrics" | grep -Eq '^mapcountd_(replay_queue_length|replays_running) [1-9]' || return 0
		sleep 0.05
	done
	fail "the replay queue never drained"
}
