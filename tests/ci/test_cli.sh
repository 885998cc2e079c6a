#!/bin/sh
# The batch-CI contract of `mapcount`: exit statuses, gates, formats,
# --jobs, merge, baselines and tolerances, and out-of-tree plugins.
# usage: test_cli.sh MAPCOUNT BUILD_DIR   (run from the source directory)
set -u
M=$1
BUILD=$2
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
pass=0
fail=0

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect STATUS CMD...: run CMD, check its exit status
expect() {
	want=$1
	shift
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" = "$want" ]; then ok; else
		bad "'$*' exited $got, want $want"; cat "$T/err"; fi
}

# has FILE TEXT: FILE contains TEXT
has() {
	if grep -qF -- "$2" "$1"; then ok; else bad "$1 lacks '$2'"; fi
}

# same A B: equal JSON documents but for measured time
same() {
	grep -v ns_per_event "$1" >"$T/a"
	grep -v ns_per_event "$2" >"$T/b"
	if cmp -s "$T/a" "$T/b"; then ok; else bad "$1 and $2 differ"; diff "$T/a" "$T/b" | head; fi
}

S=traces/scenarios

# -- exit statuses and gates --
expect 0 "$M" replay $S/hugetlb-vmsplice.mct.txt
expect 1 "$M" replay --fail-on unsafe-reuse $S/hugetlb-vmsplice.mct.txt
has "$T/out" "FAIL unsafe-reuse: trace hugetlb-vmsplice, policy per-page: cow.unsafe_reuse = 1, limit 0"
expect 0 "$M" replay --fail-on unsafe-reuse -p exact $S/hugetlb-vmsplice.mct.txt
expect 1 "$M" replay --fail-on false-exclusive -p per-page $S/lazyfree-mthp-cow.mct.txt
expect 0 "$M" replay --fail-on false-exclusive -p two-slot $S/lazyfree-mthp-cow.mct.txt
expect 1 "$M" replay --fail-on fidelity -p per-page $S/kernel-observations-6.18.mct.txt
has "$T/out" "FAIL fidelity: trace kernel-observations-6.18, policy per-page: cow.kernel_disagree = 5, limit 0"
expect 0 "$M" replay --fail-on fidelity -p two-slot+pages $S/kernel-observations-6.18.mct.txt
printf 'mct 1\nmm p\nalloc f order=9\nref f +2147483136\nmap p f 0+512\n' >"$T/ovf.mct.txt"
expect 1 "$M" replay --fail-on overflow -p two-slot "$T/ovf.mct.txt"
expect 0 "$M" replay --fail-on overflow -p count64 "$T/ovf.mct.txt"
expect 2 "$M" replay --fail-on nonsense $S/pss-partial.mct.txt
has "$T/err" "--fail-on: unknown gate 'nonsense'"
expect 2 "$M" replay -p no-such-policy $S/pss-partial.mct.txt
expect 2 "$M" replay "$T/missing.mct"
printf 'mct 1\nmm p\nunmap p f 0\n' >"$T/bad.mct.txt"
expect 2 "$M" replay -o "$T/never.json" --format json "$T/bad.mct.txt"
[ ! -e "$T/never.json" ] && ok || bad "output written despite bad input"

# -- formats --
expect 1 "$M" replay --format junit --fail-on unsafe-reuse,false-exclusive -p per-page -p two-slot $S/hugetlb-vmsplice.mct.txt $S/lazyfree-mthp-cow.mct.txt
has "$T/out" '<testsuites name="mapcount replay" tests="8" failures="3">'
has "$T/out" '<testcase classname="lazyfree-mthp-cow" name="per-page: false-exclusive">'
has "$T/out" '<failure type="unsafe-reuse" message="per-page fails unsafe-reuse">cow.unsafe_reuse = 1, limit 0'
expect 0 "$M" replay --format markdown -p two-slot+pages $S/pss-partial.mct.txt
has "$T/out" "| two-slot+pages | 0/0 | 0 | 0 | 0 | 0 | 0 | 0 | 0/0 | 0/0 | 92 | refcount +25b |"

# -- jobs and merge: parallel and sharded runs equal one run --
expect 0 "$M" replay --format json -o "$T/one.json" $S
expect 0 "$M" replay --jobs 3 --format json -o "$T/par.json" $S
same "$T/one.json" "$T/par.json"
ls $S/*.mct.txt | awk 'NR % 3 == 0' >"$T/s0"
ls $S/*.mct.txt | awk 'NR % 3 == 1' >"$T/s1"
ls $S/*.mct.txt | awk 'NR % 3 == 2' >"$T/s2"
for i in 0 1 2; do
	expect 0 "$M" replay --format json -o "$T/shard$i.json" $(cat "$T/s$i")
done
expect 0 "$M" merge --format json -o "$T/merged.json" "$T/shard2.json" "$T/shard0.json" "$T/shard1.json"
same "$T/one.json" "$T/merged.json"
expect 2 "$M" merge "$T/shard0.json" "$T/shard0.json"
has "$T/err" "is in more than one shard"
expect 2 "$M" merge "$T/bad.mct.txt"

# -- regressions against a baseline, and tolerances --
expect 0 "$M" replay --fail-on regression --baseline "$T/one.json" $S/pss-partial.mct.txt
sed 's/"pss_err_max_bytes": 16384/"pss_err_max_bytes": 16000/' "$T/one.json" >"$T/better.json"
expect 1 "$M" replay --fail-on regression --baseline "$T/better.json" -p two-slot $S/pss-partial.mct.txt
has "$T/out" "FAIL regression: trace pss-partial, policy two-slot: stats.pss_err_max_bytes = 16384, limit 16000"
expect 0 "$M" replay --fail-on regression --baseline "$T/better.json" --tolerance stats.pss_err_max_bytes=3% -p two-slot $S/pss-partial.mct.txt
expect 1 "$M" replay --fail-on regression --baseline "$T/better.json" --tolerance stats.pss_err_max_bytes=2% -p two-slot $S/pss-partial.mct.txt
expect 0 "$M" replay --fail-on regression --baseline "$T/better.json" --tolerance stats.pss_err_max_bytes=384 -p two-slot $S/pss-partial.mct.txt
expect 2 "$M" replay --tolerance bogus=1 $S/pss-partial.mct.txt
expect 1 "$M" merge --fail-on regression --baseline "$T/better.json" "$T/one.json"

# -- plugins, built out of tree against the installed header --
if cmake --install "$BUILD" --prefix "$T/prefix" >"$T/inst.log" 2>&1 &&
	PKG_CONFIG_PATH="$T/prefix/lib/pkgconfig" cmake -S clients/examples/policy-plugin \
		-B "$T/plug" >"$T/plug.log" 2>&1 &&
	cmake --build "$T/plug" >>"$T/plug.log" 2>&1; then
	ok
	P="$T/plug/libvma012.so"
	expect 0 "$T/prefix/bin/mapcount" replay --plugin "$P" -p vma-0-1-2-many -p exact --format json $S/file-twice-one-mm.mct.txt
	has "$T/out" '"policy": "vma-0-1-2-many"'
	# VMA granularity: two VMAs of one MM are not "shared"
	tr -d ' \n' <"$T/out" | grep -q '"policy":"vma-0-1-2-many","cow":{[^}]*},"shared":{"queries":2,"false_shared":0' && ok ||
		bad "vma-0-1-2-many should see no sharing in file-twice-one-mm"
	expect 0 "$M" replay --plugin "$P" $S/pss-partial.mct.txt
	has "$T/out" "vma-0-1-2-many"
	# broken plugins are refused, with the reason
	printf '#include <mapcount/policy.h>\nconst uint32_t mapcount_policy_abi = 99;\n' >"$T/abi.c"
	printf 'int nothing_here;\n' >"$T/none.c"
	cat >"$T/dup.c" <<'EOC'
#include <mapcount/policy.h>
static const struct mc_policy p = { .abi = MC_POLICY_ABI, .name = "exact" };
MC_PLUGIN(&p)
EOC
	for x in abi none dup; do
		cc -shared -fPIC -I"$T/prefix/include" -o "$T/$x.so" "$T/$x.c" || bad "cc $x"
	done
	expect 2 "$M" replay --plugin "$T/abi.so" $S/pss-partial.mct.txt
	has "$T/err" "built for policy ABI 99, this mapcount speaks 1"
	expect 2 "$M" replay --plugin "$T/none.so" $S/pss-partial.mct.txt
	has "$T/err" "missing symbol mapcount_policy_abi"
	expect 2 "$M" replay --plugin "$T/dup.so" $S/pss-partial.mct.txt
	has "$T/err" "policy 'exact': its name is taken"
	expect 2 "$M" replay --plugin "$T/nope.so" $S/pss-partial.mct.txt
else
	bad "install or out-of-tree plugin build failed"
	cat "$T/inst.log" "$T/plug.log"
fi

# -- the CI workflow's steps, run locally --
mkdir -p "$T/wf"
expect 0 env MAPCOUNT="$M" OUT="$T/wf" TRACES=traces/scenarios sh clients/ci/run-workflow-locally.sh
has "$T/wf/replay-junit.xml" '<testsuite name="untracked-mm" tests="6" failures="0">'
has "$T/wf/replay.md" "All gates passed."

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
