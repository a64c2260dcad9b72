#!/bin/sh
# Makes docs/dashboard.png: the dashboard over the demo's session (make demo),
# with the coder's rework selected. Offline and rerunnable:
#   make && scripts/dashboard-screenshot.sh [OUT.png]
# Needs /usr/bin/chromium (or $CHROMIUM); uses a history of its own.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLLM_BUILD:-$top/build}
out=${1:-$top/docs/dashboard.png}
state=$(mktemp -d "${TMPDIR:-/tmp}/bllm-shot.XXXXXX")
dash=
trap '[ -n "$dash" ] && kill "$dash" 2>/dev/null; rm -rf "$state"' EXIT INT TERM
export BLLM_STATE_DIR="$state" LOG_DIR="$state/logs" BLLM_HISTORY_DB="$state/history.db"
sessions=$(BLLM_BUILD=$B "$top/scripts/demo.sh" 2>&1 |
	sed -n 's/^The session: *bllm-session --sessions-dir \(.*\) list$/\1/p')
[ -d "$sessions" ] || { echo "dashboard-screenshot.sh: the demo left no sessions" >&2; exit 1; }
"$B/bllm-dashboard" --listen 127.0.0.1:0 --sessions-dir "$sessions" >"$state/url" &
dash=$!
i=0
while [ ! -s "$state/url" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
url=$(head -n 1 "$state/url")
id=$(ls "$sessions" | sed -n 's/\.ndjson$//p' | head -n 1)
"$B/cdp" --width 1200 --height 1000 --until "document.querySelectorAll('#timeline rect.bar').length > 3" \
	--then "document.querySelectorAll('#timeline rect[data-agent=coder]')[1].dispatchEvent(new MouseEvent('click'))" \
	--screenshot "$out" "$url#/session/$id"
rm -rf "$(dirname "$sessions")"
echo "dashboard-screenshot.sh: wrote $out"
