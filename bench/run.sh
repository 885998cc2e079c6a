#!/bin/sh
# make bench: generate the inputs with `mapcount synth` (nothing large is
# committed), run each benchmark several times, print medians and ratios
# measured in this one run, as Markdown (docs/performance.md keeps a copy).
# usage: bench/run.sh BUILD_DIR [RUNS]
set -eu
B=$1
RUNS=${2:-3}
M=$B/mapcount
MB=$B/mcbench
D=$B/bench
mkdir -p "$D"

gen() { # gen FILE WORKLOAD PARAMS...
	f=$1
	shift
	[ -s "$D/$f" ] || "$M" synth "$@" -o "$D/$f" 2>/dev/null
}
gen fork-storm.mct fork-storm --param size_mib=512 --param children=16
gen bgsave-thp.mct bgsave --param dataset_mib=1024 --param order=9 --param writes=65536
gen zygote.mct zygote --param anon_mib=256 --param file_mib=128 --param apps=16 --param rounds=4
gen vma-overflow-2e22.mct.zst vma-overflow --param vmas=4194304

# median VALUE of key K over RUNS runs of CMD
median() {
	k=$1
	shift
	i=0
	: >"$D/samples"
	while [ $i -lt "$RUNS" ]; do
		"$@" | tr ' ' '\n' | sed -n "s/^$k=//p" >>"$D/samples"
		i=$((i + 1))
	done
	sort -g "$D/samples" | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

meps() { awk -v x="$1" 'BEGIN { printf "%.2f", x / 1e6 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }

echo "## mapcount-lab benchmarks"
echo
echo "$(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(uname -r), median of $RUNS runs; M = millions"
echo
for t in fork-storm.mct bgsave-thp.mct zygote.mct; do
	ev=$(median events "$MB" decode "$D/$t")
	dec=$(median events_per_s "$MB" decode "$D/$t")
	echo "### $t ($(meps "$ev") M events)"
	echo
	echo "| run | M events/s | x decode-only |"
	echo "|---|---:|---:|"
	echo "| decode only | $(meps "$dec") | 1.00 |"
	for p in exact per-page two-slot+pages two-slot 012-stopped count64; do
		v=$(median events_per_s "$MB" replay "$D/$t" "$p")
		echo "| $p alone | $(meps "$v") | $(ratio "$dec" "$v") |"
	done
	all=$(median events_per_s "$MB" replay "$D/$t")
	echo "| all six, with the oracle (\`mapcount replay\`) | $(meps "$all") | $(ratio "$dec" "$all") |"
	echo
done

pp=$(median per_page_atomics_per_s "$MB" replay "$D/fork-storm.mct" per-page)
echo "Page-level work: per-page on fork-storm models $(meps "$pp") M page mapcount atomics/s."
echo
line=$("$MB" replay "$D/fork-storm.mct")
peak=$(echo "$line" | tr ' ' '\n' | sed -n 's/^peak_live_folios=//p')
grow=$(echo "$line" | tr ' ' '\n' | sed -n 's/^rss_growth_kib=//p')
echo "Memory: replaying fork-storm with all policies, peak RSS grows by $grow KiB for $peak live folios: $(awk -v g="$grow" -v p="$peak" 'BEGIN { printf "%.0f", g * 1024 / p }') bytes per live folio (world, oracle and five policies)."
echo
echo "### vma-overflow, 2^22 VMAs (4.2 M events, 2.1 G PTE mappings)"
echo
echo "| policies | seconds | peak RSS (MiB) |"
echo "|---|---:|---:|"
for p in "two-slot" "count64" "per-page" ""; do
	if [ -n "$p" ]; then set -- -p "$p"; else set --; fi
	l=$("$MB" rss -- "$M" replay "$@" "$D/vma-overflow-2e22.mct.zst")
	s=$(echo "$l" | tr ' ' '\n' | sed -n 's/^seconds=//p')
	r=$(echo "$l" | tr ' ' '\n' | sed -n 's/^peak_rss_kib=//p')
	echo "| ${p:-all six} (with the oracle) | $s | $((r / 1024)) |"
done

# ---- mapcountd: ingest and queries ----
D2=$(mktemp -d)
"$B/mapcountd" --listen 127.0.0.1:0 --db "$D2/db" --workers 1 >"$D2/out" 2>&1 &
srv=$!
trap 'kill $srv 2>/dev/null; wait $srv 2>/dev/null; rm -rf "$D2"' EXIT
for i in $(seq 50); do
	URL=$(sed -n 's/.*listening on \(http[^ ]*\).*/\1/p' "$D2/out")
	[ -n "$URL" ] && break
	sleep 0.1
done
echo
echo "### mapcountd"
echo
echo "| measure | value |"
echo "|---|---:|"
t=fork-storm.mct
ev=$("$MB" decode "$D/$t" | tr ' ' '\n' | sed -n 's/^events=//p')
bytes=$(stat -c %s "$D/$t")
s=$(curl -s -o /dev/null -w '%{time_total}' -X POST -H 'Content-Type: application/x-protobuf' \
	--data-binary @"$D/$t" "$URL/api/traces?name=fs")
echo "| ingest over HTTP, $t ($(meps "$ev") M events, $((bytes / 1048576)) MiB binary) | $(meps "$(awk -v e="$ev" -v s="$s" 'BEGIN { print e / s }')") M events/s |"
sync
dbb=$(($(stat -c %s "$D2/db") + $(stat -c %s "$D2/db-wal" 2>/dev/null || echo 0)))
echo "| database bytes per binary trace byte | $(ratio "$dbb" "$bytes") |"
# a small trace with a cached comparison for the query load
curl -s -X POST -H 'Content-Type: text/plain' --data-binary @traces/samples/fork-cow-64k.mct.txt "$URL/api/traces" >/dev/null
small=$(curl -s "$URL/api/traces" | jq '.items[] | select(.name == "fork-cow-64k") | .id')
while [ "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/traces/$small/comparison?arch=64")" != 200 ]; do sleep 0.1; done
q() { # q PATH: wrk, 64 connections, 10 s: "req/s p99"
	wrk -t2 -c64 -d10s --latency "$URL$1" 2>/dev/null |
		awk '/Requests\/sec/ { r = $2 } / 99%/ { p = $2 } END { print r, p }'
}
set -- $(q "/api/traces/$small/comparison?arch=64")
echo "| cached comparison, 64 connections: requests/s, p99 | $1, $2 |"
set -- $(q "/api/traces")
echo "| trace list, 64 connections: requests/s, p99 | $1, $2 |"
# the same while a 2.7M-event upload is ingested over and over
(while :; do curl -s -o /dev/null -X POST --data-binary @"$D/$t" "$URL/api/traces"; done) &
ing=$!
sleep 1
set -- $(q "/api/traces/$small/comparison?arch=64")
kill $ing 2>/dev/null
echo "| cached comparison during ingest: requests/s, p99 | $1, $2 |"
