#!/bin/sh
# tests/server/gen_trace.sh - big synthetic text traces for the HTTP tests.
#
#   gen_trace.sh fill N                 5N events: N rounds of alloc, map,
#                                       query, unmap, free of an order-2 folio
#   gen_trace.sh storm FOLIOS FORKS N   FOLIOS mapped pages, FORKS fork+exit
#                                       pairs over them (each fork and exit
#                                       touches every page), then fill N
set -eu
case $1 in
fill) awk -v fill="$2" -v n=0 -v k=0 -f /dev/stdin <<'EOF2'
BEGIN {
	print "mct 1 name=storm source=synthetic"
	print "mm p comm=storm"
	for (i = 0; i < n; i++)
		printf "alloc f%d order=0 type=anon\nmap p f%d 0 excl\n", i, i
	for (j = 0; j < k; j++)
		printf "fork p c%d\nquery f%d\nexit c%d\n", j, j % n, j
	for (i = 0; i < fill; i++)
		printf "alloc g%d order=2 type=anon\nmap p g%d 0+4 excl\nquery g%d\nunmap p g%d 0+4\nfree g%d\n", i, i, i, i, i
}
EOF2
;;
storm) awk -v n="$2" -v k="$3" -v fill="$4" -f /dev/stdin <<'EOF2'
BEGIN {
	print "mct 1 name=storm source=synthetic"
	print "mm p comm=storm"
	for (i = 0; i < n; i++)
		printf "alloc f%d order=0 type=anon\nmap p f%d 0 excl\n", i, i
	for (j = 0; j < k; j++)
		printf "fork p c%d\nquery f%d\nexit c%d\n", j, j % n, j
	for (i = 0; i < fill; i++)
		printf "alloc g%d order=2 type=anon\nmap p g%d 0+4 excl\nquery g%d\nunmap p g%d 0+4\nfree g%d\n", i, i, i, i, i
}
EOF2
;;
*) echo "usage: gen_trace.sh fill N | storm FOLIOS FORKS N" >&2; exit 2 ;;
esac
