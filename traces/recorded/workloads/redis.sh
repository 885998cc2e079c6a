#!/bin/sh
# redis-server doing BGSAVE under a write load.  Runs the server (in the
# foreground: the recorded process), and drives it from a background
# client that the recorder does not trace (it is started with setsid from
# outside).  $1: redis.conf extra ("disable-thp no"), $2: work dir.
exec redis-server --port 6390 --save "" --appendonly no --dir "$2" \
	--dbfilename dump.rdb --daemonize no $1
