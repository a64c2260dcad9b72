#!/bin/sh
# make demo: runs bllm-manage on a copy of examples/wordcount (a C program
# whose -l test fails) against tools/fake-anthropic, offline: plan, code,
# review with one rework cycle, test. The scenario really edits the code
# and really runs the tests. `scripts/demo.sh pipeline` runs the same task
# as a shell pipeline of workers instead.
set -eu
mode=${1:-manage}
top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLLM_BUILD:-$top/build}
PATH="$B:$PATH"
work=$(mktemp -d "${TMPDIR:-/tmp}/bllm-demo.XXXXXX")
cp -r "$top/examples/wordcount" "$work/project"
case $mode in
manage) scenario=$top/examples/wordcount.manage.json ;;
pipeline) scenario=$top/examples/wordcount.scenario.json ;;
*) echo "usage: demo.sh [manage|pipeline]" >&2; exit 2 ;;
esac

fake-anthropic --scenario "$scenario" --log "$work/requests.ndjson" \
	--port-file "$work/port" >/dev/null &
fake=$!
trap 'kill $fake 2>/dev/null' EXIT INT TERM
i=0
while [ ! -s "$work/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$work/port")"
export ANTHROPIC_API_KEY="demo-key-for-the-fake-server"

task="add a -l flag to wordcount that prints the number of lines"
echo "bllm demo ($mode): $task"
echo "  project: $work/project (a copy of examples/wordcount; its -l test fails)"
echo "  model:   tools/fake-anthropic on $ANTHROPIC_BASE_URL (scripted, offline)"
echo
cd "$top"
set +e
if [ "$mode" = manage ]; then
	bllm-manage --progress --no-interactive --no-cache --sessions-dir "$work/sessions" \
		-C "$work/project" -o "$work/events.ndjson" "$task"
	status=$?
else
	bllm-plan --no-cache -C "$work/project" "$task" | bllm-code --no-cache -C "$work/project" |
		bllm-review --no-cache -C "$work/project" | bllm-test --no-cache -C "$work/project" |
		tee "$work/events.ndjson" | bllm-render
	status=$?
fi
set -e
echo
echo "The changed project: $work/project  (diff -u examples/wordcount/wordcount.c $work/project/wordcount.c)"
echo "The event stream:    $work/events.ndjson  (replay: bllm-render $work/events.ndjson)"
[ "$mode" = manage ] && echo "The session:         bllm-session --sessions-dir $work/sessions list"
exit $status
