#!/bin/sh
# sqlite3 on a larger database: DB is built beforehand (see record-all.sh).
exec sqlite3 "$1" "PRAGMA cache_size=-20000;
SELECT count(*), sum(length(v)) FROM t;
SELECT k % 100, count(*), avg(length(v)) FROM t GROUP BY k % 100 ORDER BY 2 DESC LIMIT 3;
CREATE INDEX i ON t(v); DROP INDEX i;"
