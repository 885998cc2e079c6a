#!/bin/sh
# tests/web/run.sh - run the browser test of the web UI (ctest: web_ui).
#
# usage: run.sh MAPCOUNTD SOURCE_DIR ARTIFACT_DIR
#
# Exits 77 (ctest SKIP_RETURN_CODE) when mapcountd is not built yet.  The
# node packages (playwright-core, chart.js) and Debian's chromium come from
# scripts/web-deps, which `make test` runs first.
set -eu

MAPCOUNTD=$1
SRC=$2
OUT=$3

if [ ! -x "$MAPCOUNTD" ]; then
	echo "SKIP: mapcountd is not built ($MAPCOUNTD)"
	exit 77
fi

missing=""
command -v node >/dev/null 2>&1 || missing="$missing node"
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || missing="$missing chromium"
[ -f "$SRC/tests/web/node_modules/playwright-core/package.json" ] ||
	missing="$missing tests/web/node_modules"
[ -f "$SRC/clients/web/node_modules/chart.js/dist/chart.umd.min.js" ] ||
	missing="$missing clients/web/node_modules"
if [ -n "$missing" ]; then
	echo "web test: missing:$missing; run scripts/web-deps first" >&2
	exit 1
fi

mkdir -p "$OUT"
exec node "$SRC/tests/web/web.test.mjs" --mapcountd "$MAPCOUNTD" \
	--source "$SRC" --out "$OUT"
