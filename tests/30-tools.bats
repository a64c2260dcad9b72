#!/usr/bin/env bats
# Tools as an agent uses them: confinement to the workspace, tools not
# given to the agent, Bash timeouts, files_changed.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	mkdir outside
	echo "top secret" >outside/secret.txt
	ln -s "$BATS_TEST_TMPDIR/outside" ws/link
}
teardown() { fake_stop; }

# one_call TOOL INPUT-JSON: a scenario whose agent makes one tool call, then stops.
one_call() {
	scenario call <<JSON
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "id": "toolu_1", "name": "$1", "input": $2}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
}

tool_result() { events_of tool_result | head -n 1; }

@test "Write outside the workspace with .. is refused and nothing is written" {
	fake_start "$(one_call Write '{"file_path": "../outside/new.txt", "content": "x"}')"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("outside the workspace"))'
	[ ! -e outside/new.txt ]
}

@test "an absolute path elsewhere is refused for Read" {
	fake_start "$(one_call Read "{\"file_path\": \"$BATS_TEST_TMPDIR/outside/secret.txt\"}")"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.is_error and (.content | contains("top secret") | not)'
}

@test "a symlink pointing out of the workspace is refused for Edit; the target is untouched" {
	fake_start "$(one_call Edit '{"file_path": "link/secret.txt", "old_string": "top", "new_string": "no"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.is_error'
	[ "$(cat outside/secret.txt)" = "top secret" ]
}

@test "Grep does not follow a symlink out of the workspace" {
	fake_start "$(one_call Grep '{"pattern": "secret"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.content | contains("top secret") | not'
}

@test "a tool the agent was not given is refused, naming the ones it has" {
	fake_start "$(one_call Bash '{"command": "touch pwned"}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("not available")) and (.content | contains("Read, Glob, Grep"))'
	[ ! -e ws/pwned ]
}

@test "tool names match case-insensitively in the config" {
	agents_set '(.agents[] | select(.name == "planner") | .tools) = ["read", "bash"]'
	fake_start "$(one_call Bash '{"command": "echo hi"}')"
	run --separate-stderr bllm-plan -C ws "task"
	[ "$(request 1 '[.body.tools[].name]')" = '["Read","Bash"]' ]
	tool_result | jq_assert '.is_error == false and .exit_code == 0'
}

@test "Bash runs in the workspace root and reports its exit code" {
	fake_start "$(one_call Bash '{"command": "pwd; exit 3"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert --arg ws "$(cd ws && pwd -P)" '.is_error and .exit_code == 3 and (.content | contains($ws))'
}

@test "Bash times out (input timeout in ms) and its process group is killed" {
	n=$((RANDOM + 10000))	# a duration no other process on the machine sleeps
	fake_start "$(one_call Bash "{\"command\": \"sleep $n & sleep $((n + 1)); echo never\", \"timeout\": 300}")"
	SECONDS=0
	run --separate-stderr bllm-code -C ws "task"
	[ "$SECONDS" -lt 15 ]
	tool_result | jq_assert '.is_error and (.content | contains("timed out"))'
	sleep 0.2
	refute_alive "sleep $n"
	refute_alive "sleep $((n + 1))"
}

@test "Write and Edit report files_changed in the tool result and the result" {
	fake_start "$(scenario writes <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [
   {"type": "tool_use", "name": "Write", "input": {"file_path": "src/new.c", "content": "int x;\n"}},
   {"type": "tool_use", "name": "Edit", "input": {"file_path": "src/new.c", "old_string": "int x;", "new_string": "int y;"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ "$(cat ws/src/new.c)" = "int y;" ]
	[ "$(last_result | jq -c .files_changed)" = '["src/new.c"]' ]
	[ "$(events_of tool_result | jq -c .files_changed | head -n 1)" = '["src/new.c"]' ]
}

@test "a mistyped tool argument is an error result, not a crash" {
	fake_start "$(one_call Edit '{"file_path": 42}')"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("file_path"))'
}

@test "Bash output is capped, and the cut is noted" {
	fake_start "$(one_call Bash '{"command": "head -c 100000 /dev/zero | tr \"\\\\0\" x"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '(.content | length) < 31000 and (.content | contains("truncated"))'
}

@test "what a Bash command leaves running in a session of its own is stopped" {
	n=$((RANDOM + 10000))
	fake_start "$(one_call Bash "{\"command\": \"setsid sleep $n >/dev/null 2>&1 & echo started\"}")"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	# Stopped either with the command's group (setsid not run yet) or as an
	# orphan afterwards (then the result says so): either way, gone.
	tool_result | jq_assert '.exit_code == 0'
	refute_alive "sleep $n"
}

@test "a Grep pattern that would take too long or too much memory is stopped" {
	seq 1 2000 | tr -d '\n' >ws/digits.txt
	fake_start "$(one_call Grep '{"pattern": "(a{1,1000}){1,1000}b"}')"
	SECONDS=0
	run --separate-stderr timeout 120 bllm-code -C ws "task"
	assert_success
	[ "$SECONDS" -lt 90 ]
	tool_result | jq_assert '.is_error == false or (.content | test("too much time or memory|Memory exhausted"))'
}

@test "an Edit whose replace_all would blow the file up is refused" {
	head -c 1000000 /dev/zero | tr '\0' a >ws/big.txt
	new=$(head -c 20000 /dev/zero | tr '\0' b)
	fake_start "$(one_call Edit "{\"file_path\": \"big.txt\", \"old_string\": \"a\", \"new_string\": \"$new\", \"replace_all\": true}")"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("larger than 1 GiB"))'
	[ "$(stat -c %s ws/big.txt)" -eq 1000000 ]
}

@test "a command cannot read the API key from the environment or from /proc" {
	fake_start "$(one_call Bash '{"command": "env; cat /proc/$PPID/environ /proc/$(ps -o ppid= -p $PPID | tr -d \" \")/environ 2>&1 | tr \"\\\\0\" \"\\\\n\"; true"}')"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[[ "$output" != *"$TEST_KEY"* ]]
	tool_result | jq_assert '.exit_code == 0'
}

@test "a Grep that runs past timeouts.search is stopped" {
	config_set '.timeouts.search = 1'
	printf '%0200d\n' 0 | tr 0 a >ws/line.txt
	fake_start "$(one_call Grep '{"pattern": "(.*)(.*)(.*)(.*)(.*)(.*)\\6\\5\\4\\3\\2\\1x"}')"
	SECONDS=0
	run --separate-stderr timeout 60 bllm-code -C ws "task"
	assert_success
	[ "$SECONDS" -lt 10 ]
	tool_result | jq_assert '.is_error and (.content | contains("too much time or memory"))'
}

@test "with --sandbox off, an orphan that was already in its own session when the command ended is reported" {
	n=$((RANDOM + 10000))
	fake_start "$(one_call Bash "{\"command\": \"setsid sleep $n >/dev/null 2>&1 & sleep 0.5; echo started\"}")"
	run --separate-stderr bllm-code --sandbox off -C ws "task"
	assert_success
	tool_result | jq_assert '.exit_code == 0 and (.content | test("[0-9]+ background process(es)? left running (was|were) stopped"))'
	refute_alive "sleep $n"
}

@test "a NUL in a tool path is refused, not cut short" {
	fake_start "$(one_call Write '{"file_path": "ok\u0000/../../x", "content": "x"}')"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("NUL"))'
	[ ! -e ws/ok ]
	[ ! -e x ]
}

@test "Read, Grep and Glob refuse .env and bllm's state: not readable by agents" {
	echo "API_SECRET=DOTENV-VALUE" >ws/.env
	export BLLM_STATE_DIR="$BATS_TEST_TMPDIR/ws/state"
	mkdir -p ws/state/sessions && echo "JOURNAL-VALUE" >ws/state/sessions/j.ndjson
	fake_start "$(one_call Read '{"file_path": ".env"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.is_error and (.content | contains("not readable by agents"))'
	fake_stop
	fake_start "$(one_call Read '{"file_path": "state/sessions/j.ndjson"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.is_error and (.content | contains("not readable by agents"))'
	fake_stop
	fake_start "$(one_call Grep '{"pattern": "VALUE"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '.content == "no matches"'
	fake_stop
	fake_start "$(one_call Glob '{"pattern": "**/*"}')"
	run --separate-stderr bllm-code -C ws "task"
	tool_result | jq_assert '(.content | contains(".env") | not) and (.content | contains("j.ndjson") | not)'
}

@test "Read of a 512 MiB one-line file costs little memory" {
	[[ "$BLLM_BUILD" != *asan* ]] || skip "ASan reserves terabytes of address space"
	head -c 9000 /dev/zero | tr "\\0" a >ws/huge.txt
	truncate -s 512M ws/huge.txt
	fake_start "$(one_call Read '{"file_path": "huge.txt"}')"
	run --separate-stderr bash -c 'ulimit -v 400000; exec bllm-code -C ws "task"'
	assert_success
	tool_result | jq_assert '.content | contains("line cut at 2000")'
}

@test "with --sandbox off, a chain of 8 nested setsid processes is killed whole" {
	n=$((RANDOM + 10000))
	# Each level waits for the next, in a session of its own, down to the sleep.
	printf 'if [ "$1" -gt 0 ]; then setsid sh chain.sh $(($1 - 1)) & wait; else exec sleep %s; fi\n' "$n" >ws/chain.sh
	fake_start "$(one_call Bash '{"command": "sh chain.sh 8 >/dev/null 2>&1 & sleep 0.3; echo started"}')"
	run --separate-stderr bllm-code --sandbox off -C ws "task"
	assert_success
	sleep 0.3
	refute_alive "sleep $n"
}

@test "Write with a name too long creates no directories; a good one creates its parents" {
	long=$(printf 'x%.0s' $(seq 300))
	fake_start "$(one_call Write "{\"file_path\": \"d1/d2/d3/$long\", \"content\": \"x\"}")"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	tool_result | jq_assert '.is_error and (.content | contains("too long"))'
	[ ! -e ws/d1 ]
	fake_stop
	fake_start "$(one_call Write '{"file_path": "n1/n2/f.txt", "content": "x"}')"
	run --separate-stderr bllm-code -C ws "task"
	[ "$(cat ws/n1/n2/f.txt)" = x ]
}
