# Shared set-up for the bats suites: the built programs on PATH, a scratch
# directory with the project's config and prompts, and tools/fake-anthropic
# on a loopback port. Tests never reach the internet.

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

TOP=$(cd "$BATS_TEST_DIRNAME/.." && pwd)
BLLM_BUILD=${BLLM_BUILD:-$TOP/build}
PATH="$BLLM_BUILD:$PATH"
export PATH BLLM_BUILD TOP

# A fixed fake key: tests assert it never appears in events or logs.
TEST_KEY="sk-test-DO-NOT-LEAK-4f9a1c"

# Every test starts in its own scratch directory holding config/ and
# prompts/ (so ./config/agent_config.json is found) and an empty ws/.
bllm_setup() {
	# Under `make check` the agents' own make would say "Entering directory"
	# with the test's path, so runs in two directories would differ.
	unset ANTHROPIC_API_KEY CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_BASE_URL BLLM_MODEL \
		BLLM_API_TIMEOUT LOG_LEVEL LOG_FORMAT LOG_DIR MAKEFLAGS MAKELEVEL MFLAGS
	for v in $(env | sed -n 's/^\(WORKER_TIMEOUT_[A-Z]*\)=.*/\1/p'); do unset "$v"; done
	export NO_COLOR=1 TERM=${TERM:-xterm}	# tmux, in the terminal tests, wants a TERM
	export BLLM_STATE_DIR="$BATS_TEST_TMPDIR/state" LOG_DIR="$BATS_TEST_TMPDIR/logs"
	cd "$BATS_TEST_TMPDIR" || return 1
	cp -r "$TOP/config" "$TOP/prompts" .
	# Retries in tests wait milliseconds, not seconds; tests that repeat a
	# request expect it to reach the server, so the response cache is off
	# unless a test turns it on.
	config_set '.performance.worker_retry_base_delay = 0.01 | .performance.worker_retry_max_delay = 0.05
		| .performance.enable_caching = false'
	mkdir -p ws
}

# config_set JQ-FILTER: edits the scratch config/system_config.json.
config_set() {
	jq "$1" config/system_config.json >config/system_config.json.new &&
		mv config/system_config.json.new config/system_config.json
}

# agents_set JQ-FILTER: edits the scratch config/agent_config.json.
agents_set() {
	jq "$1" config/agent_config.json >config/agent_config.json.new &&
		mv config/agent_config.json.new config/agent_config.json
}

# fake_start SCENARIO-FILE: starts fake-anthropic, points the client at it.
fake_start() {
	FAKE_LOG="$BATS_TEST_TMPDIR/requests.ndjson"
	: >"$FAKE_LOG"
	rm -f "$BATS_TEST_TMPDIR/port"
	fake-anthropic --scenario "$1" --log "$FAKE_LOG" --port-file "$BATS_TEST_TMPDIR/port" \
		>/dev/null 2>"$BATS_TEST_TMPDIR/fake.err" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/port" ] && break
		sleep 0.05
	done
	[ -s "$BATS_TEST_TMPDIR/port" ] || { cat "$BATS_TEST_TMPDIR/fake.err" >&2; return 1; }
	export ANTHROPIC_BASE_URL="http://127.0.0.1:$(cat "$BATS_TEST_TMPDIR/port")"
	export ANTHROPIC_API_KEY="$TEST_KEY"
	export FAKE_LOG FAKE_PID
}

fake_stop() {
	if [ -n "${FAKE_PID:-}" ]; then
		kill "$FAKE_PID" 2>/dev/null
		# Bounded: a server still there after 10 s is killed (and the test told).
		for _ in $(seq 200); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.05; done
		if kill -0 "$FAKE_PID" 2>/dev/null; then
			echo "fake-anthropic did not stop on SIGTERM; killed" >&2
			kill -9 "$FAKE_PID" 2>/dev/null
		fi
		wait "$FAKE_PID" 2>/dev/null
		FAKE_PID=
	fi
}

# scenario NAME <<'EOF' ... EOF: writes a scenario file, prints its path.
scenario() {
	cat >"$BATS_TEST_TMPDIR/$1.json"
	echo "$BATS_TEST_TMPDIR/$1.json"
}

# request N [JQ]: the Nth request fake-anthropic received (from 1), through JQ.
request() {
	jq -c "select(.n == $1) | ${2:-.}" "$FAKE_LOG"
}

request_count() {
	jq -s 'length' "$FAKE_LOG"
}

# events_of TYPE [FILE]: the events of a type in an event stream (default $output).
events_of() {
	if [ $# -ge 2 ]; then
		jq -c "select(.type == \"$1\")" "$2"
	else
		printf '%s\n' "$output" | jq -c "select(.type == \"$1\")"
	fi
}

# last_result [FILE]: the last result event.
last_result() {
	if [ $# -ge 1 ]; then
		jq -c 'select(.type == "result")' "$1" | tail -n 1
	else
		printf '%s\n' "$output" | jq -c 'select(.type == "result")' | tail -n 1
	fi
}

# any_event JQ-COND [FILE]: some event of the stream (default $output) satisfies COND.
any_event() {
	if [ $# -ge 2 ]; then jq -s -e "any(.[]; $1)" "$2" >/dev/null
	else printf '%s\n' "$output" | jq -s -e "any(.[]; $1)" >/dev/null; fi
}

# all_events JQ-COND [FILE]: every event of the stream satisfies COND.
all_events() {
	if [ $# -ge 2 ]; then jq -s -e "all(.[]; $1)" "$2" >/dev/null
	else printf '%s\n' "$output" | jq -s -e "all(.[]; $1)" >/dev/null; fi
}

# refute_alive PATTERN: no live (non-zombie) process has PATTERN in its command line.
# (A plain `! cmd` in the middle of a bats test cannot fail it: set -e ignores it.)
refute_alive() {
	local pids
	pids=$(pgrep -f "$1" | tr '\n' ',' | sed 's/,$//')
	[ -z "$pids" ] && return 0
	if ps -o stat= -p "$pids" | grep -qv Z; then
		echo "still running: $(ps -o pid=,stat=,args= -p "$pids")" >&2
		return 1
	fi
}

# refute_file_has STRING FILE: FILE does not contain STRING.
refute_file_has() {
	if grep -qF -- "$1" "$2"; then
		echo "$2 contains $1" >&2
		return 1
	fi
}

# jq_assert [--arg NAME VALUE]... FILTER [FILE...]: the input (stdin or FILEs)
# holds at least one JSON value and FILTER is true for every one of them.
# (Plain `jq -e` passes on empty input and only judges the last value.)
jq_assert() {
	local args=()
	while [ "${1:-}" = --arg ] || [ "${1:-}" = --argjson ]; do
		args+=("$1" "$2" "$3")
		shift 3
	done
	local filter=$1
	shift
	if ! jq -s -e "${args[@]}" "length > 0 and all(.[]; $filter)" "$@" >/dev/null; then
		echo "jq_assert: not true of every value (or there was none): $filter" >&2
		return 1
	fi
}
