#!/bin/sh
# The steps of github-actions.yml and gitlab-ci.yml, run on this machine
# from a clone: build (unless MAPCOUNT names a built binary), replay
# traces/ with the gates (default: regression) and the committed
# baseline, write replay.json, replay-junit.xml and replay.md.
# Exit status: that of the gates (0 pass, 1 a gate failed, 2 bad input).
set -u
cd "$(dirname "$0")/../.."
TRACES=${TRACES:-traces}
GATES=${GATES:-regression}
BASE=${BASE:-tests/baseline/scenarios.json}
OUT=${OUT:-.}
if [ -z "${MAPCOUNT:-}" ]; then
	make build >/dev/null || exit 2
	MAPCOUNT=build/mapcount
fi
status=0
"$MAPCOUNT" replay --jobs "$(nproc)" --fail-on "$GATES" --baseline "$BASE" \
	--format json -o "$OUT/replay.json" "$TRACES" || status=$?
[ -s "$OUT/replay.json" ] || exit "$status"
"$MAPCOUNT" merge --format junit --fail-on "$GATES" --baseline "$BASE" \
	-o "$OUT/replay-junit.xml" "$OUT/replay.json" 2>/dev/null
"$MAPCOUNT" merge --format markdown --fail-on "$GATES" --baseline "$BASE" \
	-o "$OUT/replay.md" "$OUT/replay.json" 2>/dev/null
echo "wrote $OUT/replay.json $OUT/replay-junit.xml $OUT/replay.md (gates: exit $status)"
exit "$status"
