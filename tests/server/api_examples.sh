#!/bin/bash
# tests/server/api_examples.sh - the curl examples of docs/api.md.
#
#   api_examples.sh check DOC URL   run every ```sh block of DOC against URL
#                                   exactly as written; each must exit 0 and,
#                                   where DOC shows JSON after it, print JSON
#                                   with the same top-level keys
#   api_examples.sh render DOC URL  rewrite the output block after each ```sh
#                                   block of DOC with the real output
#
# Blocks run in order, from the source directory, with MAPCOUNTD set to
# URL; between blocks the replay queue is let drain, so the same fresh
# server (mapcountd --load traces/samples, empty database) gives the same
# answers every time.
set -euo pipefail

mode=$1 doc=$2 url=$3
src=$(cd "$(dirname "$0")/../.." && pwd)
export MAPCOUNTD=$url

drain() {
	for _ in $(seq 600); do
		curl -sS "$url/metrics" | grep -Eq '^mapcountd_(replay_queue_length|replays_running) [1-9]' || return 0
		sleep 0.05
	done
}

# the blocks: "sh" code, and the block that follows (its language, text)
python3 - "$doc" >"${TMPDIR:-/tmp}/api_blocks.$$" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read()
blocks = re.findall(r"```(\w*)\n(.*?)```", text, re.S)
out = []
for i, (lang, body) in enumerate(blocks):
    if lang != "sh":
        continue
    nxt = blocks[i + 1] if i + 1 < len(blocks) and blocks[i + 1][0] != "sh" else ("", "")
    out.append({"cmd": body, "lang": nxt[0], "doc": nxt[1]})
json.dump(out, sys.stdout)
EOF
blocks="${TMPDIR:-/tmp}/api_blocks.$$"
trap 'rm -f "$blocks" "$blocks".*' EXIT

n=$(jq length "$blocks")
cd "$src"
for i in $(seq 0 $((n - 1))); do
	cmd=$(jq -r ".[$i].cmd" "$blocks")
	lang=$(jq -r ".[$i].lang" "$blocks")
	drain
	if ! bash -euo pipefail -c "$cmd" >"$blocks.out.$i" 2>"$blocks.err"; then
		echo "docs/api.md example $((i + 1)) failed:" >&2
		echo "$cmd" >&2
		cat "$blocks.err" >&2
		exit 1
	fi
	if [ "$mode" = check ] && [ "$lang" = json ]; then
		want=$(jq -r ".[$i].doc" "$blocks" | jq -c 'if type == "object" then keys else type end')
		got=$(jq -c 'if type == "object" then keys else type end' "$blocks.out.$i") || {
			echo "docs/api.md example $((i + 1)) printed no JSON:" >&2
			echo "$cmd" >&2
			exit 1
		}
		if [ "$want" != "$got" ]; then
			echo "docs/api.md example $((i + 1)): keys $got, documented $want" >&2
			echo "$cmd" >&2
			exit 1
		fi
	fi
done

if [ "$mode" = render ]; then
	python3 - "$doc" "$blocks" "$n" <<'EOF'
import json, re, sys
doc, base, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
text = open(doc).read()
outs = [open(f"{base}.out.{i}").read() for i in range(n)]
parts = re.split(r"(```\w*\n.*?```)", text, flags=re.S)
res, k, i = [], 0, 0
while i < len(parts):
    p = parts[i]
    m = re.match(r"```(\w*)\n", p)
    if m and m.group(1) == "sh":
        res.append(p)
        out = outs[k].rstrip("\n")
        k += 1
        try:
            json.loads(out)
            lang = "json"
        except ValueError:
            lang = "text"
        block = f"```{lang}\n{out}\n```"
        # replace the output block that follows, if any
        j = i + 1
        if j + 1 < len(parts) and parts[j].strip() == "" and re.match(r"```(?!sh)\w*\n", parts[j + 1]):
            res.append(parts[j])
            res.append(block)
            i = j + 2
            continue
        res.append("\n")
        res.append(block)
        i += 1
        continue
    res.append(p)
    i += 1
open(doc, "w").write("".join(res))
EOF
fi
