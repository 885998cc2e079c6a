#!/bin/sh
# mapcount replay --server: the same report through a mapcountd (traces
# uploaded once, results from its cache the second time), gates included.
# usage: test_remote.sh MAPCOUNT MAPCOUNTD   (run from the source directory)
set -u
M=$1
D=$2
T=$(mktemp -d)
"$D" --listen 127.0.0.1:0 --db "$T/db" >"$T/srv" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$T"' EXIT
for i in 1 2 3 4 5 6 7 8 9 10; do
	URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$T/srv")
	[ -n "$URL" ] && break
	sleep 0.2
done
pass=0
fail=0
check() { if "$@"; then pass=$((pass + 1)); else fail=$((fail + 1)); echo "FAIL: $*"; fi; }
S="traces/scenarios/untracked-mm.mct.txt traces/samples/synth-pin-fork.mct.zst"
"$M" replay --format json -o "$T/local.json" $S
"$M" replay --server "$URL" --format json -o "$T/remote.json" $S
check [ $? = 0 ]
grep -v ns_per_event "$T/local.json" >"$T/a"
grep -v ns_per_event "$T/remote.json" >"$T/b"
check cmp -s "$T/a" "$T/b"
# again: already uploaded, answered from the cache
"$M" replay --server "$URL" --format json -o "$T/again.json" $S
grep -v ns_per_event "$T/again.json" >"$T/c"
check cmp -s "$T/a" "$T/c"
check [ "$(curl -s "$URL/api/traces" | jq '.total')" = 2 ]
"$M" replay --server "$URL" -p per-page --fail-on false-exclusive traces/scenarios/lazyfree-mthp-cow.mct.txt >"$T/out" 2>&1
check [ $? = 1 ]
check grep -q "FAIL false-exclusive: trace lazyfree-mthp-cow, policy per-page" "$T/out"
"$M" replay --server http://127.0.0.1:1 traces/scenarios/untracked-mm.mct.txt >"$T/out" 2>&1
check [ $? = 2 ]
echo "$pass passed, $fail failed"
[ $fail = 0 ]
