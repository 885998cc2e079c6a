#!/bin/sh
# Wilcox's overflow (000_90ae64b19d8f104e.txt): one PMD-sized folio mapped
# by 512 PTEs in 2^22 VMAs takes 2^31 references with one reference per
# page table entry.  The policies that hold a reference per mapping report
# a refcount overflow; count64, one reference while mapped, does not.
# usage: test_vma_overflow.sh MAPCOUNT
set -u
M=$1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
"$M" synth vma-overflow --param vmas=4194304 -o "$T/vo.mct.zst" || exit 1
"$M" replay -p two-slot -p count64 --format json -o "$T/r.json" "$T/vo.mct.zst" || exit 1
fail=0
"$M" merge --fail-on overflow "$T/r.json" >"$T/out" 2>&1
[ $? = 1 ] && grep -q "FAIL overflow: trace vma-overflow, policy two-slot: overflow.events" "$T/out" ||
	{ echo "FAIL: two-slot should overflow its refcount"; cat "$T/out"; fail=1; }
grep -q "policy count64" "$T/out" &&
	{ echo "FAIL: count64 should not overflow"; cat "$T/out"; fail=1; }
# the first event past 2^31 - 1 references (512 page cache + 512 per VMA)
tr -d ' \n' <"$T/r.json" | grep -q '"name":"refcount","bits":32,"peak":2147484160,"limit":2147483647,"first_overflow_event":4194368' ||
	{ echo "FAIL: refcount peak or first overflow event"; fail=1; }
[ $fail = 0 ] && echo "3 passed, 0 failed" || echo "failed"
exit $fail
