#!/bin/sh
# A shell pipeline forking many short-lived processes.
i=0
while [ $i -lt 40 ]; do
	seq 1 200 | sort -r | uniq | wc -l >/dev/null
	i=$((i + 1))
done
