#!/usr/bin/env bats
# The event stream: envelope, order, input forms, forwarding, pipelines, outcomes.
bats_require_minimum_version 1.5.0
load helper

setup() { bllm_setup; }
teardown() { fake_stop; }

# A planner that reads a file, then answers; a coder that answers at once.
two_stage_scenario() {
	scenario two <<'JSON'
{"rules": [
 {"name": "plan-1", "match": {"system": "You are the planner", "turn": 0},
  "reply": {"content": [{"type": "text", "text": "Looking."},
                        {"type": "tool_use", "id": "toolu_p1", "name": "Read", "input": {"file_path": "notes.txt"}}]}},
 {"name": "plan-2", "match": {"system": "You are the planner", "turn": 1},
  "reply": {"content": [{"type": "text", "text": "PLAN: write hello.txt"}]}},
 {"name": "code-1", "match": {"system": "You are the coder", "turn": 0},
  "reply": {"content": [{"type": "text", "text": "CODED"}]}}
]}
JSON
}

@test "init comes first, exactly one result last, and every event has the envelope" {
	echo "some notes" >ws/notes.txt
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bllm-plan -C ws "write hello.txt"
	assert_success
	[ "$(printf '%s\n' "$output" | head -n 1 | jq -r .type)" = init ]
	[ "$(printf '%s\n' "$output" | tail -n 1 | jq -r .type)" = result ]
	[ "$(events_of result | wc -l)" -eq 1 ]
	all_events '(.v == 1) and (.type|type == "string") and (.agent == "planner")
		and (.run_id|test("^run_[0-9a-f]{16}$")) and (.parent_id == null) and has("session_id")
		and (.ts|test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}\\.[0-9]{3}Z$"))'
	# one run id for the whole run
	[ "$(printf '%s\n' "$output" | jq -r .run_id | sort -u | wc -l)" -eq 1 ]
}

@test "the result carries status, usage totals, cost, turns, duration and files_changed" {
	echo "some notes" >ws/notes.txt
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bllm-plan -C ws "write hello.txt"
	r=$(last_result)
	[ "$(jq -r .status <<<"$r")" = completed ]
	[ "$(jq -r .is_error <<<"$r")" = false ]
	[ "$(jq -r .exit_code <<<"$r")" = 0 ]
	[ "$(jq -r .text <<<"$r")" = "PLAN: write hello.txt" ]
	[ "$(jq -r .num_turns <<<"$r")" = 2 ]
	jq_assert '.usage.input_tokens + .usage.cache_creation_input_tokens + .usage.cache_read_input_tokens > 0 and .usage.output_tokens > 0' <<<"$r"
	jq_assert '(.total_cost_usd|type) == "number" and .total_cost_usd > 0 and (.duration_ms|type) == "number" and .files_changed == []' <<<"$r"
	# usage events add up to the totals
	[ "$(events_of usage | jq -s 'map(.output_tokens)|add')" = "$(jq .usage.output_tokens <<<"$r")" ]
}

@test "text, tool_use and tool_result events in order, paired by tool_use_id" {
	echo "some notes" >ws/notes.txt
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bllm-plan -C ws "write hello.txt"
	types=$(printf '%s\n' "$output" | jq -r .type | tr '\n' ' ')
	[ "$types" = "init task usage text tool_use tool_result usage text result " ]
	[ "$(events_of tool_use | jq -r .tool_use_id)" = toolu_p1 ]
	[ "$(events_of tool_result | jq -r .tool_use_id)" = toolu_p1 ]
	events_of tool_result | jq_assert '.is_error == false and (.content | contains("some notes"))'
}

@test "plain text on stdin is the task" {
	fake_start "$(two_stage_scenario)"
	echo "some notes" >ws/notes.txt
	run --separate-stderr bllm-plan -C ws <<<"write hello.txt
with care"
	assert_success
	[ "$(request 1 '.body.messages[0].content[0].text')" = '"write hello.txt\nwith care"' ]
	[ "$(events_of task | jq -r .text)" = "write hello.txt
with care" ]
}

@test "a pipeline forwards upstream events and gives the next agent the task and every result" {
	echo "some notes" >ws/notes.txt
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bash -c 'bllm-plan -C ws "write hello.txt" | bllm-code -C ws'
	assert_success
	agents=$(printf '%s\n' "$output" | jq -r 'select(.type == "init" or .type == "result") | "\(.agent):\(.type)"' | tr '\n' ' ')
	[ "$agents" = "planner:init planner:result coder:init coder:result " ]
	prompt=$(request 3 '.body.messages[0].content[0].text' | jq -r .)
	[[ "$prompt" == *"The user's request:"*"write hello.txt"* ]]
	[[ "$prompt" == *"### planner (completed)"*"PLAN: write hello.txt"* ]]
	[[ "$prompt" == *"as the coder"* ]]
}

@test "--no-forward drops upstream events" {
	echo "some notes" >ws/notes.txt
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bash -c 'bllm-plan -C ws "write hello.txt" | bllm-code -C ws --no-forward'
	assert_success
	[ "$(printf '%s\n' "$output" | jq -r .agent | sort -u)" = coder ]
}

@test "upstream events are forwarded as they arrive, not at the end" {
	fake_start "$(two_stage_scenario)"
	mkfifo in
	bllm-code -C ws <in >out 2>err &
	pid=$!
	exec 5>in
	echo '{"v":1,"type":"init","agent":"planner","run_id":"run_0000000000000001","parent_id":null,"session_id":null,"ts":"2026-01-01T00:00:00.000Z"}' >&5
	for _ in $(seq 50); do [ -s out ] && break; sleep 0.05; done
	# forwarded while upstream is still open
	[ "$(jq -r .type out)" = init ]
	exec 5>&-
	wait $pid || true
}

@test "an upstream error result means no API call, a skipped result, exit 3" {
	fake_start "$(two_stage_scenario)"
	upstream='{"v":1,"type":"result","agent":"planner","run_id":"run_0000000000000001","parent_id":null,"session_id":null,"ts":"2026-01-01T00:00:00.000Z","status":"error","is_error":true,"exit_code":4,"text":"api down"}'
	run --separate-stderr bllm-code -C ws <<<"$upstream"
	assert_failure 3
	[ "$(request_count)" = 0 ]
	[ "$(last_result | jq -r .status)" = skipped ]
	[ "$(printf '%s\n' "$output" | head -n 1 | jq -r .agent)" = planner ]
}

@test "an upstream that stopped without a result counts as failed" {
	fake_start "$(two_stage_scenario)"
	run --separate-stderr bllm-code -C ws <<<'{"v":1,"type":"init","agent":"planner","run_id":"run_0000000000000001","parent_id":null,"session_id":null,"ts":"2026-01-01T00:00:00.000Z"}'
	assert_failure 3
	[ "$(request_count)" = 0 ]
	[[ "$(last_result | jq -r .error)" == *"without a result"* ]]
}

@test "a failed pipeline stage skips every later stage" {
	fake_start "$(scenario down <<<'{"rules": [{"status": 401}]}')"
	run --separate-stderr bash -c 'bllm-plan -C ws "task" | bllm-code -C ws | bllm-test -C ws; echo "codes ${PIPESTATUS[*]}" >&2'
	[[ "$stderr" == *"codes 5 3 3"* ]]
	[ "$(request_count)" = 1 ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.type=="result") | .status' | tr '\n' ' ')" = "error skipped skipped " ]
}

@test "a malformed input line exits 2 naming the line number, with a result last" {
	fake_start "$(two_stage_scenario)"
	printf '%s\n%s\n' '{"v":1,"type":"init","agent":"planner","run_id":"run_1","parent_id":null,"session_id":null,"ts":"x"}' '{"type": "text", broken' >bad.ndjson
	run --separate-stderr bllm-code -C ws <bad.ndjson
	assert_failure 2
	[[ "$stderr" == *"stdin line 2: invalid event"* ]]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[ "$(last_result | jq -r .exit_code)" = 2 ]
	[ "$(request_count)" = 0 ]
	printf '%s\n' '{"v":1,"type":"init"}' '[1,2]' >bad2.ndjson
	run --separate-stderr bllm-code -C ws <bad2.ndjson
	assert_failure 2
	[[ "$stderr" == *"stdin line 2"* ]]
}

@test "--stream-deltas writes text_delta events that add up to the text" {
	fake_start "$(scenario long <<'JSON'
{"rules": [{"reply": {"content": [{"type": "text", "text": "This reply is long enough to arrive in several deltas, ünïcödé included."}]}}]}
JSON
)"
	run --separate-stderr bllm-plan --stream-deltas -C ws "task"
	assert_success
	[ "$(events_of text_delta | wc -l)" -gt 2 ]
	[ "$(events_of text_delta | jq -rj .text)" = "$(events_of text | jq -r .text)" ]
	run --separate-stderr bllm-plan -C ws "task"
	[ "$(events_of text_delta | wc -l)" -eq 0 ]
}

# glob_scenario: every turn the agent globs a new pattern (never a loop).
glob_scenario() {
	jq -n '{rules: [range(0; 60) as $i | {match: {turn: $i},
	  reply: {content: [{type: "tool_use", name: "Glob", input: {pattern: "p\($i)*"}}]}}]}' \
	  >"$BATS_TEST_TMPDIR/globs.json"
	echo "$BATS_TEST_TMPDIR/globs.json"
}

@test "--max-turns stops a working agent with status limit, exit 6" {
	fake_start "$(glob_scenario)"
	run --separate-stderr bllm-plan --max-turns 3 -C ws "task"
	assert_failure 6
	[ "$(request_count)" = 3 ]
	[ "$(last_result | jq -r .status)" = limit ]
	[[ "$(last_result | jq -r .error)" == *"turn limit"* ]]
}

@test "the same tool call three times in a row is a loop: the third is not run, limit, exit 6" {
	fake_start "$(scenario loop <<'JSON'
{"rules": [{"reply": {"content": [{"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}}]}}]}
JSON
)"
	run --separate-stderr bllm-plan --max-turns 10 -C ws "task"
	assert_failure 6
	[ "$(request_count)" = 3 ]
	last_result | jq_assert '.status == "limit"'
	last_result | jq_assert '.error | contains("loop: the planner made the same Glob call (same input) 3 times in a row")'
	[ "$(events_of tool_result | jq -r .content | grep -c '^not executed: the same Glob call')" -eq 1 ]
}

@test "--max-tokens: each call's worst case is checked first, max_tokens lowered, the total never passes it" {
	fake_start "$(glob_scenario)"
	run --separate-stderr bllm-plan --max-tokens 15000 -C ws "task"
	assert_failure 6
	[ "$(request_count)" -ge 2 ]
	[[ "$(last_result | jq -r .error)" == *"token budget"* ]]
	jq -s -e 'map(.body.max_tokens) | any(. < 8192)' "$FAKE_LOG"
	[ "$(last_result | jq '.usage | .input_tokens + .output_tokens + .cache_creation_input_tokens + .cache_read_input_tokens')" -le 15000 ]
}

@test "the tester's verification lists its commands; passing ones make it verified" {
	printf 'all:\n\t@echo building\ntest:\n\t@echo 2 tests ok\n' >ws/Makefile
	fake_start "$(scenario tests <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make"}},
                                               {"type": "tool_use", "name": "Bash", "input": {"command": "make test"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "TESTS: PASSED"}]}}
]}
JSON
)"
	run --separate-stderr bllm-test -C ws "run the tests"
	assert_success
	r=$(last_result)
	jq_assert '.status == "completed" and .verification.verified == true and .verification.tests_passed == 2 and .verification.tests_failed == 0' <<<"$r"
	[ "$(jq -c '[.verification.commands[] | [.command, .exit_code]]' <<<"$r")" = '[["make",0],["make test",0]]' ]
}

@test "a passing command that writes files (a build) still verifies what it leaves" {
	printf 'test:\n\t@echo built >out.o; echo 1 test ok\n' >ws/Makefile
	fake_start "$(scenario builds <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make test"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "TESTS: PASSED"}]}}
]}
JSON
)"
	run --separate-stderr bllm-test -C ws "run the tests"
	assert_success
	last_result | jq_assert '.status == "completed" and .verification.verified == true'
	last_result | jq_assert '.files_changed == ["out.o"]'
}

@test "a failing test command makes the tester fail (exit 1), whatever the model says" {
	printf 'test:\n\t@echo 1 test failed; exit 1\n' >ws/Makefile
	fake_start "$(scenario tests <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "make test"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "TESTS: PASSED (I promise)"}]}}
]}
JSON
)"
	run --separate-stderr bllm-test -C ws "run the tests"
	assert_failure 1
	r=$(last_result)
	jq_assert '.status == "failed" and .is_error and .verification.verified == false and .verification.commands[0].exit_code == 2' <<<"$r"
}

@test "a tester that ran no command has verified nothing: failed" {
	fake_start "$(scenario lazy <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "looks fine"}]}}]}')"
	run --separate-stderr bllm-test -C ws "run the tests"
	assert_failure 1
	[[ "$(last_result | jq -r .error)" == *"ran no commands"* ]]
}

@test "verification follows the tool that ran, whatever its spelling: a failing \"bash\" counts" {
	fake_start "$(scenario spelled <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "bash", "input": {"command": "exit 1"}},
                                               {"type": "tool_use", "name": "Bash", "input": {"command": "true"}}]}},
 {"reply": {"content": [{"type": "text", "text": "TESTS: PASSED"}]}}
]}
JSON
)"
	run --separate-stderr bllm-test -C ws "run the tests"
	assert_failure 1
	last_result | jq_assert '.status == "failed" and .verification.verified == false'
	last_result | jq_assert '[.verification.commands[].command] == ["exit 1", "true"]'
}

@test "a reply cut at max_tokens never completes silently: failed, naming max_tokens" {
	fake_start "$(scenario cut <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "The plan is: 1. first"}], "stop_reason": "max_tokens"}}]}')"
	run --separate-stderr bllm-plan -C ws "plan it"
	assert_failure 1
	last_result | jq_assert '.status == "failed" and (.error | contains("max_tokens"))'
}

@test "a reviewer that requests changes fails with the verdict" {
	fake_start "$(scenario rev <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "Must fix: 1. leak\nVERDICT: CHANGES_REQUESTED"}]}}]}')"
	run --separate-stderr bllm-review -C ws "review"
	assert_failure 1
	[ "$(last_result | jq -r .verdict)" = changes_requested ]
}

@test "a refusal is a failure" {
	fake_start "$(scenario refuse <<<'{"rules": [{"reply": {"content": [], "stop_reason": "refusal"}}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 1
	[[ "$(last_result | jq -r .error)" == *"refused"* ]]
}

@test "the API key never appears in events or messages" {
	fake_start "$(scenario down <<<'{"rules": [{"status": 401, "message": "invalid x-api-key"}]}')"
	run bllm-plan -C ws "task"
	[[ "$output" != *"$TEST_KEY"* ]]
	refute_file_has "$TEST_KEY" "$FAKE_LOG"
}

@test "a closed stdout ends the program quietly" {
	fake_start "$(two_stage_scenario)"
	echo "some notes" >ws/notes.txt
	run --separate-stderr bash -c 'bllm-plan -C ws "write hello.txt" | head -c 10 >/dev/null; echo "status ${PIPESTATUS[0]}" >&2'
	[[ "$stderr" == *"status "[01]* ]]
	[[ "$stderr" != *"Broken pipe"* ]]
}

@test "a three-stage pipeline gives the last stage the task and every earlier result" {
	echo "some notes" >ws/notes.txt
	fake_start "$(scenario three <<'JSON'
{"rules": [
 {"match": {"system": "You are the planner"}, "reply": {"content": [{"type": "text", "text": "PLAN-TEXT"}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "CODER-TEXT"}]}},
 {"match": {"system": "You are the tester", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "true"}}]}},
 {"match": {"system": "You are the tester"}, "reply": {"content": [{"type": "text", "text": "TESTS: PASSED"}]}}
]}
JSON
)"
	run --separate-stderr bash -c 'bllm-plan -C ws "the task" | bllm-code -C ws | bllm-test -C ws'
	assert_success
	prompt=$(request 3 '.body.messages[0].content[0].text' | jq -r .)
	[[ "$prompt" == *"the task"*"### planner (completed)"*"PLAN-TEXT"*"### coder (completed)"*"CODER-TEXT"*"as the tester"* ]]
	[ "$(events_of task | wc -l)" -eq 1 ]
}

@test "a worker's own events are written as they happen, not at the end" {
	fake_start "$(scenario slow <<'JSON'
{"rules": [{"drip_ms": 400, "reply": {"content": [{"type": "text", "text": "slow answer"}]}}]}
JSON
)"
	bllm-plan -C ws "task" >out 2>err &
	pid=$!
	for _ in $(seq 40); do grep -q '"type":"task"' out 2>/dev/null && break; sleep 0.05; done
	# init and task are out while the model is still answering
	[ "$(jq -r .type out | tr '\n' ' ')" = "init task " ]
	wait $pid
	[ "$(last_result out | jq -r .text)" = "slow answer" ]
}

@test "defaults: the workspace is the current directory, 50 turns" {
	fake_start "$(scenario hi <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "hi"}]}}]}')"
	cd ws
	cp -r ../config ../prompts .
	run --separate-stderr bllm-plan "task"
	assert_success
	events_of init | jq_assert --arg d "$(pwd -P)" '.cwd == $d and .limits.max_turns == 50'
}
