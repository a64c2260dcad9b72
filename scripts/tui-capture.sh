#!/bin/sh
# make tui-capture: a text screen capture of the interactive bllm, for the
# README. Runs bllm in a detached tmux window on a copy of
# examples/wordcount against tools/fake-anthropic (offline, scripted),
# types the demo task, lets each pause run out, asks /cost, then prints
# what the window shows (tmux capture-pane) on stdout.
set -eu
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLLM_BUILD:-$top/build}
command -v tmux >/dev/null || { echo "tui-capture.sh: needs tmux" >&2; exit 2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/bllm-capture.XXXXXX")
cp -r "$top/examples/wordcount" "$work/project"
cp -r "$top/config" "$top/prompts" "$work/"
# a short pause, no response cache: the same screen on every run
jq '.intervention_wait_seconds = 1 | .performance.enable_caching = false' \
	"$top/config/system_config.json" >"$work/config/system_config.json"
"$B/fake-anthropic" --scenario "$top/examples/wordcount.manage.json" \
	--port-file "$work/port" >/dev/null 2>&1 &
fake=$!
win="bllm-capture-$$"
trap 'tmux kill-session -t "$win" 2>/dev/null; kill $fake 2>/dev/null; rm -rf "$work"' EXIT INT TERM
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
tmux new-session -d -s "$win" -x 100 -y 36 \
	"cd '$work' && ANTHROPIC_BASE_URL=http://127.0.0.1:$(cat "$work/port") ANTHROPIC_API_KEY=capture \
	BLLM_STATE_DIR='$work/state' LOG_DIR='$work/logs' NO_COLOR=1 '$B/bllm' -C project \
	--sessions-dir sessions; sleep 60"
screen() { tmux capture-pane -p -t "$win"; }
wait_for() {
	i=0
	while ! screen | grep -qF -- "$1"; do
		i=$((i + 1))
		[ $i -lt 600 ] || { echo "tui-capture.sh: never appeared: $1" >&2; screen >&2; exit 1; }
		sleep 0.05
	done
}
wait_for "bllm>"
tmux send-keys -t "$win" "add a -l flag to wordcount that prints the number of lines" Enter
wait_for "session saved"
tmux send-keys -t "$win" "/cost" Enter
wait_for "total"
sleep 0.2
# the workspace path differs on every run: show it as ./project
screen | sed "s|$work/||g" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
