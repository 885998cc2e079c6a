#!/bin/sh
# test_record.sh MAPCOUNT WORKLOAD OUTDIR - `mapcount record` on the real
# kernel: records tests/record_workload.c (one 64 KiB folio, fork, COW;
# see there) under --mthp 64kB=always and checks
#  - that the trace passes `mapcount check`;
#  - the events of the 64 KiB folio, exactly (MM names and VMAs
#    normalised, observe left to the replay);
#  - the replay's fidelity numbers for two-slot+pages: over the folio's own
#    events every cow expect=, observe and mmid slot agrees with the
#    kernel; over the whole trace every observe, stat and slot, and all
#    cow expect= but at most one;
#  - that the mTHP knob is restored, and that without root it refuses with
#    status 2.
# The workload runs on one CPU (taskset): on several, a parent and a child
# writing the same page at the same instant is a race the trace can only
# linearise (docs/fidelity.md).  Skips (77) without root, BTF or 64 kB mTHP.
set -u
M=$1
W=$2
D=$3/test_record.d
KNOB=/sys/kernel/mm/transparent_hugepage/hugepages-64kB/enabled

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: mapcount record needs root"
	exit 77
fi
if [ ! -r /sys/kernel/btf/vmlinux ]; then
	echo "SKIP: this kernel has no BTF (/sys/kernel/btf/vmlinux)"
	exit 77
fi
if [ ! -w "$KNOB" ]; then
	echo "SKIP: no 64 kB mTHP knob ($KNOB)"
	exit 77
fi
if ! "$M" record 2>&1 | grep -q usage; then
	echo "SKIP: this mapcount was built without the recorder"
	exit 77
fi
PIN=""
command -v taskset >/dev/null && PIN="taskset -c 0"

rm -rf "$D"
mkdir -p "$D"
fail=0
knob_before=$(cat "$KNOB")

bad() {
	echo "FAIL: $*"
	fail=1
}

# The folio's events, normalised: MMs P0, P1, ... in order of appearance,
# the folio F, no vma=, no observe.
folio_events() { # TRACE FOLIO
	awk -v f="$2" '
	function mm(x) { if (!(x in n)) n[x] = "P" k++; return n[x] }
	{
		hit = 0
		for (i = 2; i <= NF; i++) {
			if ($i == f) { $i = "F"; hit = 1 }
			if ($i ~ /^pfn=/) $i = "pfn=PFN"
		}
		if ($1 == "mm") { mm($2); next }
		if ($1 == "fork") { print $1, mm($2), mm($3); next }
		if ($1 == "exit") { print $1, mm($2); next }
		if (!hit || $1 == "observe") next
		out = $1
		for (i = 2; i <= NF; i++) {
			if ($i ~ /^vma=/) continue
			if ($i ~ /^slot[01]=/) {
				split($i, a, "=")
				c = a[2]; sub(/:[0-9]+$/, "", c)
				cnt = a[2]; sub(/^.*:/, "", cnt)
				$i = a[1] "=" mm(c) ":" cnt
			} else if (($1 == "map" || $1 == "unmap" || $1 == "cow") && i == 2)
				$i = mm($i)
			out = out " " $i
		}
		print out
	}' "$1"
}

# The folio's own events and the MM events, for a replay of the folio only.
folio_trace() { # TRACE FOLIO
	awk -v f="$2" 'NR == 1 || $1 == "mm" || $1 == "fork" || $1 == "exit" {
		print; next }
	{ for (i = 2; i <= NF; i++) if ($i == f) { print; next } }' "$1"
}

# two-slot+pages against the kernel: "cow A/B observe A/B stat A/B slots A/B"
fidelity() { # TRACE
	"$M" replay --format json -p two-slot+pages "$1" | python3 -c '
import json, sys
p = json.load(sys.stdin)["traces"][0]["policies"][0]
c, o, s, t = p["cow"], p["observe"], p["slots"], p["stats"]
print("cow %d/%d observe %d/%d stat %d/%d slots %d/%d" % (
    c["kernel_agree"], c["kernel_agree"] + c["kernel_disagree"],
    o["agree"], o["observed"], t["kernel_agree"],
    t["kernel_agree"] + t["kernel_disagree"], s["agree"], s["observed"]))'
}

all_agree() { # "cow A/B ..." -> true when every A equals its B
	echo "$1" | awk '{ for (i = 2; i <= NF; i += 2) { split($i, a, "/");
		if (a[1] != a[2]) exit 1 } }'
}

expect_cow='alloc F order=4 type=anon pfn=PFN
map P0 F 0+16 excl
fork P0 P1
mmid F mapcount=32 shared=1 slot0=P0:16 slot1=P1:16
mmid F mapcount=32 shared=1 slot0=P0:16 slot1=P1:16
exit P1
fork P0 P2
mmid F mapcount=32 shared=1 slot0=P0:16 slot1=P2:16
cow P2 F 0 expect=copy
unmap P2 F 0
cow P2 F 1 expect=copy
unmap P2 F 1
cow P2 F 2 expect=copy
unmap P2 F 2
cow P2 F 3 expect=copy
unmap P2 F 3
mmid F mapcount=28 shared=1 slot0=P0:16 slot1=P2:12
exit P2
cow P0 F 8 expect=reuse
mmid F mapcount=16 shared=0 slot0=P0:16
exit P0
free F'

expect_three='alloc F order=4 type=anon pfn=PFN
map P0 F 0+16 excl
fork P0 P1
mmid F mapcount=32 shared=1 slot0=P0:16 slot1=P1:16
fork P0 P2
mmid F mapcount=48 shared=1 slot0=P0:16 slot1=P1:16
cow P1 F 1 expect=copy
unmap P1 F 1
mmid F mapcount=47 shared=1 slot0=P0:16 slot1=P1:15
exit P1
cow P2 F 2 expect=copy
unmap P2 F 2
mmid F mapcount=31 shared=1 slot0=P0:16
exit P2
cow P0 F 3 expect=reuse
mmid F mapcount=16 shared=0 slot0=P0:16
exit P0
free F'

expect_single='alloc F order=4 type=anon pfn=PFN
map P0 F 0+16 excl
unmap P0 F 1+15
fork P0 P1
mmid F mapcount=2 shared=1 slot0=P0:1 slot1=P1:1
mmid F mapcount=2 shared=1 slot0=P0:1 slot1=P1:1
exit P1
cow P0 F 0 expect=copy
unmap P0 F 0
free F
exit P0'

for mode in cow three single-pte; do
	T=$D/$mode.mct.txt
	if ! $PIN "$M" record -o "$T" --mthp 64kB=always -- "$W" $mode \
		>"$D/$mode.out" 2>"$D/$mode.err"; then
		bad "$mode: mapcount record failed: $(cat "$D/$mode.err")"
		continue
	fi
	pfn=$(sed -n 's/^pfn 0x\([0-9a-f]*\)$/\1/p' "$D/$mode.out")
	if [ -z "$pfn" ] || ! grep -q "^alloc pfn$pfn order=4 " "$T"; then
		bad "$mode: no order-4 folio at pfn 0x$pfn in the trace" \
		    "(is 64 kB mTHP working?)"
		continue
	fi
	"$M" check "$T" >"$D/$mode.check" ||
		bad "$mode: mapcount check refused the trace"
	case $mode in
	cow) want=$expect_cow ;;
	three) want=$expect_three ;;
	single-pte) want=$expect_single ;;
	esac
	got=$(folio_events "$T" "pfn$pfn")
	if [ "$got" != "$want" ]; then
		bad "$mode: the folio's events differ"
		echo "--- expected"
		echo "$want"
		echo "--- got"
		echo "$got"
	fi
	f_all=$(fidelity "$T")
	folio_trace "$T" "pfn$pfn" >"$D/$mode.folio.mct.txt"
	f_one=$(fidelity "$D/$mode.folio.mct.txt")
	echo "$mode: whole trace: $f_all; the folio: $f_one"
	# The folio: exactly.  The whole trace: observe, stat and slots
	# exactly; cow up to one disagreement, the kernel's occasional copy
	# of a stack page nothing else maps (an extra reference the trace
	# cannot see, docs/fidelity.md).
	all_agree "$f_one" || bad "$mode: on the folio: $f_one"
	all_agree "$(echo "$f_all" | cut -d' ' -f3-)" ||
		bad "$mode: two-slot+pages disagrees with the kernel: $f_all"
	echo "$f_all" | awk '{ split($2, a, "/"); exit a[2] - a[1] > 1 }' ||
		bad "$mode: more than one cow disagreement: $f_all"
	case "$f_one" in
	*"slots 0/0"*) bad "$mode: no mmid of the folio" ;;
	esac
done

[ "$(cat "$KNOB")" = "$knob_before" ] ||
	bad "the 64kB knob was not restored: $(cat "$KNOB"), was $knob_before"

# without root: says so, status 2
if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$M" record -o "$D/none.mct" -- true >"$D/noroot.out" 2>&1
	st=$?
	[ $st = 2 ] && grep -q "needs root" "$D/noroot.out" ||
		bad "without root: status $st, $(cat "$D/noroot.out")"
fi

[ $fail = 0 ] && echo "PASS"
exit $fail
