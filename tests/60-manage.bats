#!/usr/bin/env bats
# bllm-manage: workers as tools, live forwarding, limits, timeouts, @mentions,
# budgets, sessions, signals, resume, intervention.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	config_set '.intervention_wait_seconds = 3'
}
teardown() {
	fake_stop
	[ -n "${TMUX_SESSION:-}" ] && tmux kill-session -t "$TMUX_SESSION" 2>/dev/null
	true
}

# manage_scenario "planner coder tester" [REVIEW-VERDICT] [TESTER-COMMAND]:
# the manager calls those workers in order, then ends; each worker answers
# in one turn, the tester after running the command (default: true).
manage_scenario() {
	local verdict=${2:-APPROVED} cmd=${3:-true}
	jq -n --arg calls "$1" --arg verdict "$verdict" --arg cmd "$cmd" '
	  ($calls | split(" ")) as $w |
	  {rules: (
	    [range(0; $w | length) as $i |
	      {name: "manager-\($i)", match: {system: "You are the manager", turn: $i},
	       reply: {content: [{type: "tool_use", name: $w[$i], input: {task: "do the \($w[$i]) part, step \($i)"}}]}}]
	    + [{name: "manager-end", match: {system: "You are the manager"},
	        reply: {content: [{type: "text", text: "All done.\nTERMINATE"}]}},
	       {name: "tester-0", match: {system: "You are the tester", turn: 0},
	        reply: {content: [{type: "tool_use", name: "Bash", input: {command: $cmd}}]}},
	       {name: "tester-1", match: {system: "You are the tester", turn: 1},
	        reply: {content: [{type: "text", text: "ran it"}]}},
	       {name: "reviewer", match: {system: "You are the reviewer"},
	        reply: {content: [{type: "text", text: "review\nVERDICT: \($verdict)"}]}},
	       {name: "worker", reply: {content: [{type: "text", text: "worker done"}]}}]
	  )}' >"$BATS_TEST_TMPDIR/manage.json"
	echo "$BATS_TEST_TMPDIR/manage.json"
}

manage() { bllm-manage --no-interactive -C ws "$@"; }

# manager_request N [JQ]: the Nth request the manager made (from 1).
manager_request() {
	jq -c "select(.body.system[0].text | contains(\"You are the manager\"))" "$FAKE_LOG" |
		sed -n "${1}p" | jq -c "${2:-.}"
}

worker_order() {
	printf '%s\n' "$output" | jq -r 'select(.type == "worker_start") | .worker' | tr '\n' ' '
}

@test "the manager is offered one tool per worker, with a task input" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage "task"
	[ "$(request 1 '[.body.tools[].name]')" = '["planner","coder","reviewer","tester","committer"]' ]
	request 1 '.body.tools[0].input_schema.required' | jq_assert '. == ["task"]'
	request 1 '.body.tools[1].description' | jq_assert 'contains("Implements the plan")'
	request 1 '.body.system[0].text' | jq_assert 'contains("You are the manager")'
}

@test "workers run in the manager's order; their events are forwarded with parent_id = the manager's run" {
	fake_start "$(manage_scenario "planner coder reviewer tester")"
	run --separate-stderr manage "add a feature"
	assert_success
	[ "$(worker_order)" = "planner coder reviewer tester " ]
	mrun=$(printf '%s\n' "$output" | jq -r 'select(.agent == "manager" and .type == "init") | .run_id')
	all_events "(.agent == \"manager\") or (.parent_id == \"$mrun\")"
	[ "$(printf '%s\n' "$output" | jq -r 'select(.agent != "manager" and .type == "init") | .run_id' | sort -u | wc -l)" -eq 4 ]
	# every event of the tree is in one session
	[ "$(printf '%s\n' "$output" | jq -r .session_id | sort -u | wc -l)" -eq 1 ]
	[ "$(printf '%s\n' "$output" | tail -n 1 | jq -r '.agent + ":" + .type')" = manager:result ]
}

@test "a worker gets the user's request, earlier results and the manager's task" {
	fake_start "$(manage_scenario "planner coder")"
	run --separate-stderr manage "add a feature"
	body=$(jq -s -r 'map(select(.body.system[0].text | contains("You are the coder")))[0] | .body.messages[0].content[0].text' "$FAKE_LOG")
	[[ "$body" == *"The user's request:"*"add a feature"* ]]
	[[ "$body" == *"### planner (completed)"*"worker done"* ]]
	[[ "$body" == *"do the coder part, step 1"* ]]
}

@test "the worker's result becomes the manager's tool_result" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage "task"
	manager_request 2 '.body.messages[2].content[0]' | jq_assert '.type == "tool_result" and (.content | contains("planner finished: status completed")) and (.content | contains("worker done"))'
}

@test "completed and verified only when the tester's commands passed" {
	fake_start "$(manage_scenario "coder tester")"
	run --separate-stderr manage "task"
	assert_success
	last_result | jq_assert '.status == "completed" and .verification.verified == true'
}

@test "a question: nothing changed and nothing ran, so completed with nothing to verify (exit 0)" {
	fake_start "$(manage_scenario "planner coder")"
	run --separate-stderr manage "task"
	assert_success
	last_result | jq_assert '.status == "completed" and .verification.verified == null'
	last_result | jq_assert '.verification.reason == "nothing to verify"'
	# nothing calls the completed run an error
	refute_output --partial '"level":"error"'
}

# coder_scenario CMD...: the manager calls the coder then ends; the coder
# writes a.c, then runs each CMD with Bash (none: no check), then ends.
coder_scenario() {
	jq -n --args '$ARGS.positional as $cmds | {rules: (
	  [{match: {system: "You are the manager", turn: 0},
	    reply: {content: [{type: "tool_use", name: "coder", input: {task: "change a.c"}}]}},
	   {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "TERMINATE"}]}},
	   {match: {system: "You are the coder", turn: 0},
	    reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "a.c", content: "int x;\n"}}]}}]
	  + [range(0; $cmds | length) as $i | {match: {system: "You are the coder", turn: ($i + 1)},
	    reply: {content: [{type: "tool_use", name: "Bash", input: {command: $cmds[$i]}}]}}]
	  + [{match: {system: "You are the coder"}, reply: {content: [{type: "text", text: "changed"}]}}])}' "$@" \
	  >"$BATS_TEST_TMPDIR/coder.json"
	echo "$BATS_TEST_TMPDIR/coder.json"
}

@test "changes no command checked afterwards: failed, not verified (exit 1)" {
	fake_start "$(coder_scenario)"
	run --separate-stderr manage "task"
	assert_failure 1
	last_result | jq_assert '.status == "failed" and .verification.verified == false'
	last_result | jq_assert '.error | contains("not verified: no command checked the changes")'
}

@test "a coder whose own check passed after its change: completed and verified, no tester needed" {
	fake_start "$(coder_scenario "make -q || true" "true")"
	run --separate-stderr manage "task"
	assert_success
	last_result | jq_assert '.status == "completed" and .verification.verified == true'
}

@test "a failing test leaves the run failed" {
	fake_start "$(manage_scenario "coder tester" APPROVED false)"
	run --separate-stderr manage "task"
	assert_failure 1
	last_result | jq_assert '.status == "failed" and .verification.verified == false'
}

@test "review cycles are counted and the one past max_review_iterations is refused (exit 6)" {
	config_set '.workflow_limits.max_review_iterations = 2'
	fake_start "$(manage_scenario "coder reviewer coder reviewer coder reviewer coder tester" CHANGES_REQUESTED)"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(events_of cycle | jq -c '[.kind, .n, .max]' | tr '\n' ' ')" = '["review",1,2] ["review",2,2] ' ]
	[ "$(worker_order)" = "coder reviewer coder reviewer coder reviewer " ]
	last_result | jq_assert '.status == "limit" and (.error | contains("max_review_iterations"))'
}

@test "a coder call after the reviewer is a review cycle whatever the reviewer's words, announced each time" {
	config_set '.workflow_limits.max_review_iterations = 2'
	# the reviewer objects without any VERDICT line
	fake_start "$(manage_scenario "coder reviewer coder reviewer coder reviewer coder" "please rename x")"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(events_of cycle | jq -c '[.kind, .label, .n, .max]' | tr '\n' ' ')" = '["review","Review",1,2] ["review","Review",2,2] ' ]
	[ "$(worker_order)" = "coder reviewer coder reviewer coder reviewer " ]
	last_result | jq_assert '.status == "limit" and (.error | contains("Review cycle limit reached: 2 of 2"))'
}

@test "the manager calling the same worker with the same task twice, finishing the same way, is a loop (limit, exit 6)" {
	fake_start "$(scenario again <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "planner", "input": {"task": "plan it"}}]}},
 {"match": {"system": "You are the planner"}, "reply": {"content": [{"type": "text", "text": "the same plan"}]}}
]}
JSON
)"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(worker_order)" = "planner planner " ]
	last_result | jq_assert '.status == "limit" and (.error | contains("loop: the manager called the planner twice in a row with the same task"))'
}

@test "@coder reports the worker's own verification in the result and the summary" {
	fake_start "$(coder_scenario "true")"
	run --separate-stderr manage --sessions-dir sess "@coder change a.c"
	assert_success
	last_result | jq_assert '.agent == "manager" and .verification.verified == true'
	id=$(last_result | jq -r .session_id)
	gzip -dc "sess/$id.json.gz" | jq_assert '.result.tests_passed == true and .verification.verified == true'
}

@test "BLLM_MODEL applies to the manager too; BLLM_MANAGER_MODEL to the manager alone; --model to every agent" {
	fake_start "$(manage_scenario "planner")"
	BLLM_MODEL=claude-haiku-4-5 run --separate-stderr manage "task"
	[ "$(jq -r .body.model "$FAKE_LOG" | sort -u)" = claude-haiku-4-5 ]
	: >"$FAKE_LOG"
	BLLM_MODEL=claude-haiku-4-5 BLLM_MANAGER_MODEL=claude-opus-4-1 run --separate-stderr manage "task"
	[ "$(manager_request 1 .body.model)" = '"claude-opus-4-1"' ]
	[ "$(jq -r 'select(.body.system[0].text | contains("You are the planner")) | .body.model' "$FAKE_LOG")" = claude-haiku-4-5 ]
	: >"$FAKE_LOG"
	BLLM_MANAGER_MODEL=claude-opus-4-1 run --separate-stderr manage --model claude-sonnet-4-0 "task"
	[ "$(jq -r .body.model "$FAKE_LOG" | sort -u)" = claude-sonnet-4-0 ]
}

@test "a worker task over 128 KiB reaches the worker (through stdin, not argv)" {
	head -c 200000 /dev/zero | tr '\0' 'x' >big.txt
	jq -n --rawfile big big.txt '{rules: [
	  {match: {system: "You are the manager", turn: 0}, reply: {content: [{type: "tool_use", name: "planner", input: {task: $big}}]}},
	  {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "TERMINATE"}]}},
	  {match: {system: "You are the planner"}, reply: {content: [{type: "text", text: "planned"}]}}]}' >"$BATS_TEST_TMPDIR/big.json"
	fake_start "$BATS_TEST_TMPDIR/big.json"
	run --separate-stderr manage "task"
	assert_success
	any_event '.type == "result" and .agent == "planner" and .status == "completed"'
	jq -r 'select(.body.system[0].text | contains("You are the planner")) | .body.messages[0].content[0].text' "$FAKE_LOG" | grep -q "xxxxxxxxxxxxxxxxxxxx"
}

@test "test cycles past max_retry_cycles are refused" {
	config_set '.workflow_limits.max_retry_cycles = 1'
	fake_start "$(manage_scenario "coder tester coder tester coder" APPROVED false)"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(events_of cycle | jq -r .kind)" = test ]
	last_result | jq_assert '(.error | contains("max_retry_cycles"))'
}

@test "coder retries past max_coder_retries are refused" {
	config_set '.workflow_limits.max_coder_retries = 1'
	fake_start "$(scenario coderfail <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it again"}}]}},
 {"match": {"system": "You are the coder"}, "status": 400, "message": "bad request"}
]}
JSON
)"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(worker_order)" = "coder coder " ]
	last_result | jq_assert '(.error | contains("max_coder_retries"))'
}

@test "a worker that times out is killed with its whole process group: status timeout, exit 124" {
	n=$((RANDOM + 10000))	# a sleep no other process on the machine has
	fake_start "$(scenario slow <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep $n & sleep $((n + 1))", "timeout": 600000}}]}}
]}
JSON
)"
	SECONDS=0
	WORKER_TIMEOUT_CODER=1 run --separate-stderr manage "task"
	assert_failure 124
	[ "$SECONDS" -lt 15 ]
	events_of worker_end | jq_assert '.worker == "coder" and .status == "timeout"'
	last_result | jq_assert '.status == "timeout" and (.error | contains("WORKER_TIMEOUT_CODER"))'
	sleep 0.3
	refute_alive "sleep $n"
	refute_alive "sleep $((n + 1))"
	refute_alive "bllm-agent coder.*$BATS_TEST_TMPDIR"	# not the other test runs on this machine
}

@test "an exec failure of a worker is reported, not silent" {
	mkdir lonely && cp "$BLLM_BUILD/bllm-manage" lonely/
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr lonely/bllm-manage --no-interactive -C ws "task"
	any_event '.type == "log" and .level == "error" and (.message | contains("cannot run"))'
	events_of worker_end | jq_assert '.status == "error" and .exit_code == 127 and (.error | contains("bllm-agent"))'
	[ "$(last_result | jq -r .agent)" = manager ]
}

@test "@coder runs that worker directly, without the manager model" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage "@coder add a refund() function"
	assert_success
	[ "$(worker_order)" = "coder " ]
	[ "$(jq -r '.body.system[0].text' "$FAKE_LOG" | grep -c "You are the manager")" -eq 0 ]
	request 1 '.body.messages[0].content[0].text' | jq_assert 'contains("add a refund() function")'
}

@test "@unknown exits 2 listing the known agents" {
	run --separate-stderr manage "@codr do it"
	assert_failure 2
	[[ "$stderr" == *'unknown agent "@codr"'*"planner, coder"* ]]
}

# budget_scenario: the manager calls the coder once; the coder globs a new
# pattern every turn (no loop), with the fake's own usage figures (4 bytes a token).
budget_scenario() {
	jq -n '{rules: ([{match: {system: "You are the manager", turn: 0},
	    reply: {content: [{type: "tool_use", name: "coder", input: {task: "code it"}}]}},
	   {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "TERMINATE"}]}}]
	  + [range(0; 60) as $i | {match: {system: "You are the coder", turn: $i},
	    reply: {content: [{type: "tool_use", name: "Glob", input: {pattern: "p\($i)*"}}]}}])}' \
	  >"$BATS_TEST_TMPDIR/budget.json"
	echo "$BATS_TEST_TMPDIR/budget.json"
}

tokens_of() { jq '.input_tokens + .output_tokens + .cache_creation_input_tokens + .cache_read_input_tokens'; }

@test "--max-tokens holds for the whole tree: a worker gets what remains, calls shrink, the total never passes it" {
	fake_start "$(budget_scenario)"
	run --separate-stderr manage --max-tokens 20000 "task"
	assert_failure 6
	manager_used=$(events_of usage | jq -c 'select(.agent == "manager")' | head -n 1 | tokens_of)
	any_event ".type == \"init\" and .agent == \"coder\" and .limits.max_tokens == $((20000 - manager_used))"
	any_event '.type == "result" and .agent == "coder" and .status == "limit" and (.error | contains("token budget"))'
	# max_tokens was lowered before it was refused
	jq -s -e 'map(select(.body.system[0].text | contains("You are the coder")) | .body.max_tokens) | any(. < 8192)' "$FAKE_LOG"
	[ "$(last_result | jq '.usage' | tokens_of)" -le 20000 ]
	last_result | jq_assert '.status == "limit"'
}

@test "the session: journal and summary (.json.gz, mode 0600) in the original's shape" {
	fake_start "$(manage_scenario "planner coder tester")"
	run --separate-stderr manage --sessions-dir sess "task"
	assert_success
	id=$(last_result | jq -r .session_id)
	[ -f "sess/$id.ndjson" ]
	[ -f "sess/$id.json.gz" ]
	[ "$(stat -c %a "sess/$id.json.gz")" = 600 ]
	[ "$(wc -l <"sess/$id.ndjson")" -eq "$(printf '%s\n' "$output" | wc -l)" ]
	gzip -dc "sess/$id.json.gz" | jq_assert --arg id "$id" '.session_id == $id and .user_request == "task"
		and (.created_at|type) == "string" and (.completed_at|type) == "string"
		and .total_turns > 0 and .agents_used == ["planner","coder","tester"] and (.messages|length) > 2
		and .result.status == "completed" and .result.tests_passed == true
		and (.ledger.planner.turns == 1) and (.verification.verified == true) and has("total_cost_usd")'
}

@test "with compression off the summary is plain JSON, and a failed run says so" {
	config_set '.performance.enable_session_compression = false | .sessions_dir = "plain"'
	fake_start "$(manage_scenario "coder tester" APPROVED false)"
	run --separate-stderr manage "task"
	assert_failure 1
	id=$(last_result | jq -r .session_id)
	jq_assert '.result.status == "failed" and .result.tests_passed == false' "plain/$id.json"
	[ ! -e "plain/$id.json.gz" ]
}

@test "SIGINT mid-run stops the workers, saves the session as interrupted, exits 130" {
	n=$((RANDOM + 10000))	# a sleep no other process on the machine has
	fake_start "$(scenario slow <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep $n", "timeout": 600000}}]}}
]}
JSON
)"
	bllm-manage --no-interactive -C ws --sessions-dir sess "task" >out 2>err &
	pid=$!
	for _ in $(seq 100); do grep -q '"tool_use"' out 2>/dev/null && break; sleep 0.05; done
	sleep 0.2
	kill -INT $pid
	wait $pid && status=0 || status=$?
	[ "$status" -eq 130 ]
	last_result out | jq_assert '.status == "interrupted"'
	id=$(last_result out | jq -r .session_id)
	gzip -dc "sess/$id.json.gz" | jq_assert '.result.status == "interrupted"'
	sleep 0.3
	refute_alive "sleep $n"
}

@test "--resume continues a stopped session without rerunning finished workers" {
	fake_start "$(scenario first <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "planner", "input": {"task": "plan"}}]}},
 {"match": {"system": "You are the manager", "turn": 1}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code"}}]}},
 {"match": {"system": "You are the manager", "turn": 2}, "reply": {"content": [{"type": "tool_use", "name": "tester", "input": {"task": "test"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"match": {"system": "You are the planner"}, "reply": {"content": [{"type": "text", "text": "THE PLAN"}]}},
 {"match": {"system": "You are the coder"}, "status": 500}
]}
JSON
)"
	# the manager's turns run out before it can end: a stopped session
	config_set '.performance.worker_retry_max_attempts = 1 | .workflow_limits.max_turns = 3'
	run --separate-stderr manage --sessions-dir sess "build it"
	assert_failure 6
	id=$(last_result | jq -r .session_id)
	config_set '.workflow_limits.max_turns = 50'
	fake_stop
	fake_start "$(manage_scenario "planner coder tester")"
	run --separate-stderr manage --sessions-dir sess --resume "${id:0:15}"
	assert_success
	[ "$(worker_order)" = "coder tester " ]
	[ "$(jq -r '.body.system[0].text' "$FAKE_LOG" | grep -c "You are the planner")" -eq 0 ]
	# the planner's saved result reached the coder
	jq -r 'select(.body.system[0].text | contains("You are the coder")) | .body.messages[0].content[0].text' "$FAKE_LOG" | grep -q "THE PLAN"
	[ "$(last_result | jq -r .session_id)" = "$id" ]
	[ "$(grep -c '"type":"init","agent":"manager"' "sess/$id.ndjson")" -eq 2 ]
	gzip -dc "sess/$id.json.gz" | jq_assert '.result.status == "completed" and .user_request == "build it"'
}

@test "--resume of a completed session does nothing (exit 0) unless given a new task" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage --sessions-dir sess "task"
	assert_success
	id=$(last_result | jq -r .session_id)
	before=$(request_count)
	cp "sess/$id.json.gz" saved.gz
	run --separate-stderr manage --sessions-dir sess --resume "$id"
	assert_success
	[ "$(request_count)" -eq "$before" ]
	[[ "$stderr" == *"already completed"* ]]
	cmp saved.gz "sess/$id.json.gz"
	run --separate-stderr manage --sessions-dir sess --resume "$id" "a new task"
	assert_success
	[ "$(request_count)" -gt "$before" ]
	# a conversation: the new task is the session's second request (docs/decisions.md)
	gzip -dc "sess/$id.json.gz" | jq_assert '[.turns[].request] == ["task", "a new task"]'
	# and the manager is told the earlier request and its result before the new one
	first=$(jq -s -r ".[$before].body.messages[0].content | if type == \"array\" then .[0].text else . end" "$FAKE_LOG")
	[[ "$first" == *"task"*"The new request"*"a new task"* ]]
}

@test "--resume treats a torn last journal line as absent: that worker runs again" {
	fake_start "$(manage_scenario "planner coder")"
	run --separate-stderr manage --sessions-dir sess "build it"
	id=$(last_result | jq -r .session_id)
	# a crash while the planner's result was being written: keep the journal up to
	# that line, and only half of it
	n=$(grep -n '"type":"result","agent":"planner"' "sess/$id.ndjson" | cut -d: -f1)
	head -n $((n - 1)) "sess/$id.ndjson" >torn
	sed -n "${n}p" "sess/$id.ndjson" | head -c 150 >>torn
	mv torn "sess/$id.ndjson"
	rm -f "sess/$id.json.gz"
	: >"$FAKE_LOG"
	run --separate-stderr manage --sessions-dir sess --resume "$id"
	assert_success
	[ "$(worker_order)" = "planner coder " ]
	[ "$(jq -r '.body.system[0].text' "$FAKE_LOG" | grep -c "You are the planner")" -eq 1 ]
}

@test "--resume of an unknown session exits 2" {
	run --separate-stderr manage --sessions-dir sess --resume nope
	assert_failure 2
	[[ "$stderr" == *nope* ]]
}

@test "without a terminal there is no intervention wait" {
	fake_start "$(manage_scenario "planner coder tester")"
	SECONDS=0
	run --separate-stderr bllm-manage -C ws "task" </dev/null
	assert_success
	[ "$SECONDS" -lt 3 ]
	[ "$(events_of intervention | wc -l)" -eq 0 ]
}

@test "--output FILE takes the event stream; stdout stays empty" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage -o events.ndjson "task"
	[ -z "$output" ]
	[ "$(tail -n 1 events.ndjson | jq -r .type)" = result ]
}

@test "bad flags and a missing task are usage errors" {
	run --separate-stderr bllm-manage --bogus
	assert_failure 2
	[[ "$stderr" == *"Try 'bllm-manage --help'."* ]]
	run --separate-stderr bllm-manage </dev/null
	assert_failure 2
	run --separate-stderr better-llm-cli --help
	assert_success
	[[ "$output" == *"--config"*"--verbose"* ]]
}

@test "in a terminal: a live view on stderr, and /stop after a worker stops the run" {
	fake_start "$(manage_scenario "planner coder tester")"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY NO_COLOR=1 '$BLLM_BUILD/bllm-manage' -C ws --sessions-dir sess 'task' >out; echo \"exit=\$?\" >done; sleep 29.5"
	for _ in $(seq 100); do tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "/stop" && break; sleep 0.05; done
	tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "planner completed"
	tmux send-keys -t "$TMUX_SESSION" "/stop" Enter
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=130" ]
	[ "$(worker_order_file)" = "planner " ]
	events_of intervention out | jq_assert '.action == "stop"'
	tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "session saved"
}

@test "in a terminal: /pause adds a note to the manager's context" {
	fake_start "$(manage_scenario "planner coder tester")"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY '$BLLM_BUILD/bllm-manage' -C ws --sessions-dir sess 'task' >out; echo \"exit=\$?\" >done; sleep 29.5"
	for _ in $(seq 100); do tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "/stop" && break; sleep 0.05; done
	tmux send-keys -t "$TMUX_SESSION" "/pause" Enter
	for _ in $(seq 100); do tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "note for the manager" && break; sleep 0.05; done
	tmux send-keys -t "$TMUX_SESSION" "please keep it small" Enter
	# later workers: press Enter to continue at once
	for _ in 1 2; do
		sleep 0.5
		tmux send-keys -t "$TMUX_SESSION" Enter
	done
	for _ in $(seq 200); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	manager_request 2 '.body.messages[2].content[-1]' | jq_assert '.type == "text" and (.text | contains("please keep it small"))'
	any_event '.type == "intervention" and .action == "pause" and (.message | contains("keep it small"))' out
}

worker_order_file() { jq -r 'select(.type == "worker_start") | .worker' out | tr '\n' ' '; }

@test "a second SIGINT exits at once, killing workers and their commands" {
	n=$((RANDOM + 10000))	# a sleep no other process on the machine has
	fake_start "$(scenario stubborn <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "trap '' TERM; sleep $n", "timeout": 600000}}]}}
]}
JSON
)"
	# Unconfined, so the command outlives its TERM (in the sandbox it dies with it).
	bllm-manage --no-interactive --sandbox off -C ws --sessions-dir sess "task" >out 2>err &
	pid=$!
	for _ in $(seq 100); do grep -q '"tool_use","agent":"coder"' out 2>/dev/null && break; sleep 0.05; done
	sleep 0.3
	SECONDS=0
	kill -INT $pid
	sleep 0.2
	kill -INT $pid
	wait $pid && status=0 || status=$?
	[ "$status" -eq 130 ]
	[ "$SECONDS" -lt 3 ]
	sleep 0.3
	refute_alive "sleep $n"
	last_result out | jq_assert '.status == "interrupted"'
}

@test "SIGTERM is handled like the first SIGINT" {
	n=$((RANDOM + 10000))	# a sleep no other process on the machine has
	fake_start "$(scenario slow <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep $n", "timeout": 600000}}]}}
]}
JSON
)"
	bllm-manage --no-interactive -C ws --sessions-dir sess "task" >out 2>err &
	pid=$!
	for _ in $(seq 100); do grep -q '"tool_use","agent":"coder"' out 2>/dev/null && break; sleep 0.05; done
	sleep 0.3
	kill -TERM $pid
	wait $pid && status=0 || status=$?
	[ "$status" -eq 130 ]
	id=$(last_result out | jq -r .session_id)
	gzip -dc "sess/$id.json.gz" | jq_assert '.result.status == "interrupted"'
	refute_alive "sleep $n"
}

# wait_for_line PATTERN FILE: until FILE has a line matching PATTERN (at most 5 s).
wait_for_line() {
	for _ in $(seq 100); do grep -q -- "$1" "$2" 2>/dev/null && return 0; sleep 0.05; done
	echo "never appeared in $2: $1" >&2
	return 1
}

@test "worker events reach the manager's stdout and the journal while the worker runs" {
	n=$((RANDOM + 10000))
	fake_start "$(scenario live <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "x"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep $n", "timeout": 600000}}]}}
]}
JSON
)"
	bllm-manage --no-interactive -C ws --sessions-dir sess "task" >out 2>err &
	pid=$!
	wait_for_line '"type":"tool_use","agent":"coder"' out
	# the worker is still running: no worker_end yet, and the journal already has its events
	[ "$(grep -c '"type":"worker_end"' out)" -eq 0 ]
	grep -q '"type":"tool_use","agent":"coder"' sess/*.ndjson
	kill -TERM $pid
	wait $pid || true
	refute_alive "sleep $n"
}

@test "the manager's own turns are limited and its context trimmed, the task kept" {
	config_set '.workflow_limits.max_turns = 4 | .workflow_limits.max_context_messages = 4'
	# a new task each turn (trimming the context resets the fake's turn count)
	jq -n '{rules: ([range(0; 6) as $i | {match: {system: "You are the manager"}, times: 1,
	  reply: {content: [{type: "tool_use", name: "planner", input: {task: "part \($i)"}}]}}]
	  + [{match: {system: "You are the planner"}, reply: {content: [{type: "text", text: "ok"}]}}])}' >"$BATS_TEST_TMPDIR/turns.json"
	fake_start "$BATS_TEST_TMPDIR/turns.json"
	run --separate-stderr manage "the original task"
	assert_failure 6
	[ "$(jq -s 'map(select(.body.system[0].text | contains("You are the manager"))) | length' "$FAKE_LOG")" = 4 ]
	manager_request 4 .body.messages | jq_assert 'length <= 4 and .[0].role == "user"
		and (.[0].content | tostring | contains("the original task")) and .[1].role == "assistant"'
	last_result | jq_assert '.status == "limit" and (.error | contains("turn limit"))'
}

@test "--max-turns holds for the whole tree" {
	fake_start "$(scenario loop <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "x"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}}]}}
]}
JSON
)"
	run --separate-stderr manage --max-turns 4 "task"
	assert_failure 6
	any_event '.type == "init" and .agent == "coder" and .limits.max_turns == 3'
	last_result | jq_assert '.status == "limit" and .num_turns == 4 and .ledger.manager.turns + .ledger.coder.turns == 4'
}

@test "--max-cost-usd never overshoots: the worst case of each call is checked first, the refusal says what is left" {
	fake_start "$(budget_scenario)"
	run --separate-stderr manage --max-cost-usd 0.05 "task"
	assert_failure 6
	last_result | jq_assert '.status == "limit" and .total_cost_usd <= 0.05 and .total_cost_usd > 0.01'
	any_event '.type == "result" and .agent == "coder" and .status == "limit" and (.error | test("cost budget: \\$0\\.0[0-9]+ of \\$0\\.0[0-9]+ left"))'
	jq -s -e 'map(select(.body.system[0].text | contains("You are the coder")) | .body.max_tokens) | any(. < 8192)' "$FAKE_LOG"
}

@test "a model without a price: a cost budget refuses to start (exit 5, naming pricing); without one the cost is unknown, not \$0" {
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr manage --model gpt-4 --max-cost-usd 1 "task"
	assert_failure 5
	last_result | jq_assert '.status == "error" and (.error | contains("gpt-4")) and (.error | contains("\"pricing\""))'
	[ "$(request_count)" -eq 0 ]
	run --separate-stderr manage --model gpt-4 --progress "task"
	assert_success
	last_result | jq_assert '.total_cost_usd == null'
	[[ "$stderr" == *"cost unknown"* ]]
	[[ "$stderr" != *'$0.0000'* ]]
	# the per-agent table too
	grep -Eq '^manager +[0-9]+ .* unknown$' <<<"$stderr"
	grep -Eq '^planner +[0-9]+ .* unknown$' <<<"$stderr"
	last_result | jq_assert '.ledger.manager.cost_usd == null and .ledger.planner.cost_usd == null' 
}

@test "the live view: agents, streamed text, tools, the cycle counter and a summary per agent" {
	cp -r "$TOP/examples/wordcount/." ws/
	fake_start "$TOP/examples/wordcount.manage.json"
	run --separate-stderr bllm-manage --progress --no-interactive -C ws --sessions-dir sess \
		"add a -l flag to wordcount that prints the number of lines"
	assert_success
	[[ "$stderr" == *"── planner"* ]]
	[[ "$stderr" == *"→ Edit wordcount.c"* ]]
	[[ "$stderr" == *"Review cycle 1/3"* ]]
	[[ "$stderr" == *"verification: verified"* ]]
	[[ "$stderr" == *"status: completed (exit 0) · verified: yes"* ]]
	printf '%s\n' "$stderr" | grep -Eq '^tester +2 +[0-9]+ +[0-9]+ +[0-9]+ +0\.[0-9]{4}$'
	[[ "$stderr" == *"session saved: sess/"* ]]
	# deltas the view asked for do not reach the record
	[ "$(events_of text_delta | wc -l)" -eq 0 ]
	run --separate-stderr bllm-manage --quiet --progress --no-interactive -C ws --sessions-dir sess "@planner plan"
	[ -z "$stderr" ]
}

@test "worker timeouts come from .env and from system_config" {
	config_set '.timeouts.planner = 77'
	printf 'WORKER_TIMEOUT_CODER=33\n' >.env
	fake_start "$(manage_scenario "planner coder tester")"
	run --separate-stderr manage "task"
	[ "$(events_of worker_start | jq -c '[.worker, .timeout_s]' | tr '\n' ' ')" = '["planner",77] ["coder",33] ["tester",600] ' ]
}

@test "a session is saved with the true status however the run ends" {
	config_set '.workflow_limits.max_review_iterations = 1'
	fake_start "$(manage_scenario "coder reviewer coder reviewer coder" CHANGES_REQUESTED)"
	run --separate-stderr manage --sessions-dir sess "task"
	assert_failure 6
	id=$(last_result | jq -r .session_id)
	gzip -dc "sess/$id.json.gz" | jq_assert '.result.status == "limit"'
	[ "$(ls -A sess | wc -l)" -eq 2 ]
	fake_stop
	fake_start "$(scenario down <<<'{"rules": [{"status": 500}]}')"
	run --separate-stderr manage --sessions-dir sess2 "task"
	assert_failure 4
	id=$(last_result | jq -r .session_id)
	gzip -dc "sess2/$id.json.gz" | jq_assert '.result.status == "error" and .result.exit_code == 4'
}

@test "max_retry_cycles: the third coder call after failed tests is refused" {
	config_set '.workflow_limits.max_retry_cycles = 1'
	fake_start "$(manage_scenario "coder tester coder tester coder tester" APPROVED false)"
	run --separate-stderr manage "task"
	assert_failure 6
	[ "$(worker_order)" = "coder tester coder tester " ]
}

@test "in a terminal the intervention wait runs out and the run goes on by itself" {
	config_set '.intervention_wait_seconds = 0.3'
	fake_start "$(manage_scenario "planner coder tester")"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY '$BLLM_BUILD/bllm-manage' -C ws --sessions-dir sess 'task' >out; echo \"exit=\$?\" >done; sleep 29.5"
	for _ in $(seq 200); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	[ "$(worker_order_file)" = "planner coder tester " ]
	[ "$(grep -c '"type":"intervention"' out)" -eq 0 ]
}

@test "in a terminal --no-interactive never asks" {
	fake_start "$(manage_scenario "planner coder tester")"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY '$BLLM_BUILD/bllm-manage' --no-interactive -C ws --sessions-dir sess 'task' >out; echo \"exit=\$?\" >done; sleep 29.5"
	SECONDS=0
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	[ "$SECONDS" -lt 3 ]
	! tmux capture-pane -p -t "$TMUX_SESSION" | grep -q "/pause" || false
}

@test "in a terminal a limit asks whether to allow one more" {
	config_set '.workflow_limits.max_review_iterations = 1'
	fake_start "$(manage_scenario "coder reviewer coder reviewer coder tester" CHANGES_REQUESTED)"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY NO_COLOR=1 '$BLLM_BUILD/bllm-manage' -C ws --sessions-dir sess 'task' >out; echo \"exit=\$?\" >done; sleep 29.5"
	for _ in $(seq 12); do
		for _ in $(seq 100); do
			screen=$(tmux capture-pane -p -t "$TMUX_SESSION")
			[[ "$screen" == *"Allow one more?"* || "$screen" == *"continuing in"* || -s done ]] && break
			sleep 0.05
		done
		[ -s done ] && break
		# the last lines written (the screen may not be full yet)
		if [[ "$(tmux capture-pane -p -t "$TMUX_SESSION" | sed '/^$/d' | tail -n 3)" == *"Allow one more?"* ]]; then
			tmux send-keys -t "$TMUX_SESSION" y Enter
		else
			tmux send-keys -t "$TMUX_SESSION" Enter
		fi
		sleep 0.2
	done
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	[ "$(worker_order_file)" = "coder reviewer coder reviewer coder tester " ]
	[ "$(jq -c 'select(.type == "cycle") | [.n, .max]' out | tr '\n' ' ')" = "[1,1] [2,2] " ]
}

@test "Ctrl-Z stops the running worker with the manager, and fg continues both" {
	n=$((RANDOM + 10000))
	fake_start "$(scenario slow <<JSON
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "x"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"match": {"system": "You are the coder", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep 1.5; echo $n"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	TMUX_SESSION="bllm-test-$$"
	tmux new-session -d -s "$TMUX_SESSION" -x 200 -y 50 "bash --norc -i"
	# one job (sh and the manager), as a person's command line would be
	tmux send-keys -t "$TMUX_SESSION" "cd '$BATS_TEST_TMPDIR' && sh -c 'ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY $BLLM_BUILD/bllm-manage --no-interactive -q -C ws --sessions-dir sess task >out; echo exit=\$? >done'" Enter
	wait_for_line '"type":"tool_use","agent":"coder"' out
	tmux send-keys -t "$TMUX_SESSION" C-z
	sleep 0.5
	worker=$(pgrep -f "bllm-agent coder.*$BATS_TEST_TMPDIR" | head -n 1)
	[ -n "$worker" ]
	[ "$(ps -o stat= -p "$worker" | cut -c1)" = T ]
	sleep 1.5
	[ ! -s done ]
	tmux send-keys -t "$TMUX_SESSION" "fg" Enter
	for _ in $(seq 200); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	any_event '.type == "tool_result" and .agent == "coder" and .exit_code == 0' out
}

@test "workers get the key through a pipe, never in the environment they start with" {
	mkdir spy
	cp "$BLLM_BUILD/bllm-manage" spy/
	printf '#!/bin/sh\ntr "\\0" "\\n" </proc/$$/environ >>"%s/spied-env"\nexec "%s/bllm-agent" "$@"\n' \
		"$BATS_TEST_TMPDIR" "$BLLM_BUILD" >spy/bllm-agent
	chmod +x spy/bllm-agent
	fake_start "$(manage_scenario "planner")"
	run --separate-stderr spy/bllm-manage --no-interactive -C ws --sessions-dir sess "task"
	[ -s spied-env ]
	refute_file_has "$TEST_KEY" spied-env
	grep -q '^BLLM_CREDENTIALS_FD=3$' spied-env
	# ... and the workers still reached the API with it.
	any_event '.type == "worker_end" and .worker == "planner" and .status == "completed"'
	[ "$(jq -s 'map(select(.headers["x-api-key"])) | length' "$FAKE_LOG")" -eq "$(request_count)" ]
}

@test "a worker killed with -9 mid-command leaves nothing running, sandbox or not" {
	for mode in off sandbox; do
		n=$((RANDOM + 10000))	# a sleep no other process on the machine has
		fake_start "$(scenario k9 <<JSON
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "setsid sleep $n >/dev/null 2>&1 & sleep $((n + 1))", "timeout": 600000}}]}}
]}
JSON
)"
		bllm-manage --no-interactive --sandbox "$mode" -C ws --sessions-dir "sess-$mode" "task" >out 2>err &
		pid=$!
		for _ in $(seq 100); do pgrep -f "sleep $((n + 1))" >/dev/null && break; sleep 0.05; done
		sleep 0.2
		# Only our own worker: its pid from worker_start.
		kill -9 "$(jq -r 'select(.type == "worker_start") | .pid' out | tail -n 1)"
		wait $pid || true
		sleep 0.3
		refute_alive "sleep $n"
		refute_alive "sleep $((n + 1))"
		fake_stop
	done
}

@test "a journal write that fails (full disk) is reported at once and stops the run: status error" {
	fake_start "$(manage_scenario "planner planner2 planner3 coder reviewer tester")"
	agents_set '.agents += [(.agents[] | select(.name == "planner") | .name = "planner2"), (.agents[] | select(.name == "planner") | .name = "planner3")]'
	mkdir sess
	# a file-size limit of 8 KiB: the journal soon cannot grow (EFBIG, as ENOSPC would)
	run --separate-stderr bash -c 'ulimit -f 8; exec "$0" --no-interactive -q -C ws --sessions-dir sess --no-cache task' "$BLLM_BUILD/bllm-manage"
	assert_failure 1
	[[ "$stderr" == *"error: cannot write the session journal"* ]]
	last_result | jq_assert '.status == "error" and (.error | contains("cannot write the session journal"))'
	# it stopped instead of going on unrecorded
	[ "$(worker_order)" != "planner planner2 planner3 coder reviewer tester " ]
}

@test "temporaries a killed save left behind are removed at the next save or list" {
	mkdir -p sess
	: >sess/.20261125-203000-aaaaaa.json.gz.Ab12Cd
	: >sess/.20261125-203000-aaaaaa.json.XyZ123
	: >sess/.20261125-203000-bbbbbb.json.gz.Fresh1
	touch -d '-2 hours' sess/.20261125-203000-aaaaaa.json.gz.Ab12Cd sess/.20261125-203000-aaaaaa.json.XyZ123
	run --separate-stderr bllm-session --sessions-dir sess list
	[ ! -e sess/.20261125-203000-aaaaaa.json.gz.Ab12Cd ]
	[ ! -e sess/.20261125-203000-aaaaaa.json.XyZ123 ]
	# a save going on now is left alone
	[ -e sess/.20261125-203000-bbbbbb.json.gz.Fresh1 ]
}
