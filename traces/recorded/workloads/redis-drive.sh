#!/bin/sh
# Drives the redis-server of redis.sh on port 6390: fill it, then BGSAVE
# under a write load, then SHUTDOWN NOSAVE.  Not traced.
P=6390
i=0
until redis-cli -p $P ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -gt 200 ] && exit 1
	sleep 0.05
done
redis-benchmark -p $P -t set -n 20000 -r 20000 -d 256 -q >/dev/null
redis-benchmark -p $P -t set -n 20000 -r 20000 -d 256 -c 4 -q >/dev/null &
load=$!
sleep 0.05
redis-cli -p $P bgsave >/dev/null
sleep 0.05
until redis-cli -p $P info persistence | grep -q 'rdb_bgsave_in_progress:0'; do
	sleep 0.02
done
wait $load
redis-cli -p $P shutdown nosave >/dev/null 2>&1
exit 0
