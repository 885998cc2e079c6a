#!/bin/sh
# record-all.sh MAPCOUNT [OUTDIR] - re-record the traces of traces/recorded/
# (root, BTF) and measure the recorder's overhead: each workload runs 3
# times alone and 3 times under `mapcount record`; the table gives the
# median wall times.  The traces land in OUTDIR (default: this directory).
# See docs/fidelity.md.
set -eu
M=$(realpath "$1")
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(realpath "${2:-$HERE}")
W=$HERE/workloads
TMP=$(mktemp -d /tmp/record-all.XXXXXX)
PY=/usr/bin/python3

# a small C project for make -j2: 12 files of generated code
mkdir -p "$TMP/proj"
i=0
while [ $i -lt 12 ]; do
	{
		echo "#include <stdio.h>"
		j=0
		while [ $j -lt 40 ]; do
			echo "int f${i}_$j(int x) { int s = 0; for (int k = 0; k < x; k++) s += k * $j; return s; }"
			j=$((j + 1))
		done
	} >"$TMP/proj/m$i.c"
	i=$((i + 1))
done
echo 'int main(void) { return 0; }' >"$TMP/proj/main.c"
cat >"$TMP/proj/Makefile" <<'MK'
SRC := $(wildcard *.c)
prog: $(SRC:.c=.o)
	$(CC) -o $@ $^
%.o: %.c
	$(CC) -O2 -c -o $@ $<
clean:
	rm -f *.o prog
MK

# sqlite: a 20 MB database, built once, not recorded
sqlite3 "$TMP/db.sqlite" "CREATE TABLE t(k INTEGER PRIMARY KEY, v TEXT);
WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 150000)
INSERT INTO t SELECT x, hex(randomblob(50)) FROM c;"

now() { date +%s.%N; }

THP=/sys/kernel/mm/transparent_hugepage
SAVED=""
knobs_set() { # --mthp SIZE=MODE ...
	while [ $# -gt 0 ]; do
		shift
		size=${1%%=*}
		f=$THP/hugepages-$size/enabled
		SAVED="$SAVED $f=$(sed 's/.*\[\(.*\)\].*/\1/' "$f")"
		echo "${1#*=}" >"$f"
		shift
	done
}
knobs_restore() {
	for kv in $SAVED; do
		echo "${kv#*=}" >"${kv%%=*}"
	done
	SAVED=""
}
trap 'knobs_restore; rm -rf "$TMP"' EXIT INT TERM
median() { sort -n | sed -n 2p; }

# run NAME MTHP... -- CMD: 3 native runs, 3 recorded runs, keep the last trace
run() {
	name=$1
	shift
	mthp=""
	while [ "$1" != "--" ]; do
		mthp="$mthp --mthp $1"
		shift
	done
	shift
	pre=${PRE:-true}
	# the same mTHP settings for the runs alone
	knobs_set $mthp
	for k in 1 2 3; do
		eval "$pre"
		s=$(now); "$@" >/dev/null 2>&1; e=$(now)
		echo "$s $e" | awk '{ print $2 - $1 }'
	done | median >"$TMP/native"
	knobs_restore
	for k in 1 2 3; do
		eval "$pre"
		s=$(now)
		# shellcheck disable=SC2086
		"$M" record -o "$OUT/$name.mct.zst" --name "$name" $mthp -- "$@" \
			>/dev/null 2>"$TMP/$name.err"
		e=$(now)
		echo "$s $e" | awk '{ print $2 - $1 }'
	done | median >"$TMP/rec"
	printf '| %s | %s | %.3f | %.3f | %.2fx | %s |\n' "$name" \
		"${mthp:- (defaults)}" "$(cat "$TMP/native")" "$(cat "$TMP/rec")" \
		"$(echo "$(cat "$TMP/rec") $(cat "$TMP/native")" | awk '{ print $1 / $2 }')" \
		"$(du -k "$OUT/$name.mct.zst" | cut -f1) KiB"
}

# redis: the server is the recorded command; a client drives it from
# outside the recording (started in the background by PRE)
redis_pre() {
	rm -rf "$TMP/rd" && mkdir -p "$TMP/rd"
	(sleep 0.2; "$W/redis-drive.sh") &
}

echo "| trace | --mthp | alone (s) | recorded (s) | slowdown | size |"
echo "|---|---|---|---|---|---|"
PRE=redis_pre run redis-bgsave -- "$W/redis.sh" "" "$TMP/rd"
PRE=redis_pre run redis-bgsave-thp 64kB=always 2048kB=always -- \
	"$W/redis.sh" "--disable-thp no" "$TMP/rd"
run python-mp-fork -- $PY "$W/mp_fork.py"
run python-mp-fork-64k 64kB=always -- $PY "$W/mp_fork.py"
PRE="make -s -C $TMP/proj clean" run make-j2 -- make -s -j2 -C "$TMP/proj"
run shell-pipeline 64kB=always -- sh "$W/pipeline.sh"
run sqlite 2048kB=always 64kB=always -- sh "$W/sqlite.sh" "$TMP/db.sqlite"
