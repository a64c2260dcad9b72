#!/usr/bin/env bats
# tools/fake-anthropic: the scripted Messages API server every other test uses.

load /usr/lib/bats/bats-support/load.bash
load /usr/lib/bats/bats-assert/load.bash

BLLM_BUILD=${BLLM_BUILD:-$BATS_TEST_DIRNAME/../build}
FAKE=$BLLM_BUILD/fake-anthropic
SECRET=sk-ant-test-0123456789-secret

# jq_assert FILTER: stdin holds at least one JSON value and FILTER is true of each.
jq_assert() { jq -s -e "length > 0 and all(.[]; $1)" >/dev/null; }

write_scenario() {
	cat >"$BATS_TEST_TMPDIR/scenario.json" <<'EOF'
{
	"_comment": "one rule per test case, chosen by a case:NAME word in the last user message",
	"rules": [
		{"name": "text", "match": {"last_user": "case:text"},
		 "reply": {"content": [{"type": "text",
			"text": "Hello there! This reply is long enough to need several deltas. Ünïcödé ✓."}]}},
		{"name": "tool", "match": {"last_user": "case:tool"},
		 "reply": {"content": [
			{"type": "text", "text": "Running it."},
			{"type": "tool_use", "id": "toolu_1", "name": "bash",
			 "input": {"command": "ls -la /tmp", "timeout": 30}}]}},
		{"name": "noid", "match": {"last_user": "case:noid"},
		 "reply": {"content": [{"type": "tool_use", "name": "bash", "input": {"command": "pwd"}}],
			"usage": {"output_tokens": 99}}},
		{"name": "sys", "match": {"system": "You are the planner"},
		 "reply": {"content": [{"type": "text", "text": "planner"}]}},
		{"name": "turn1", "match": {"last_user": "case:turn", "turn": 1},
		 "reply": {"content": [{"type": "text", "text": "second turn"}]}},
		{"name": "turn0", "match": {"last_user": "case:turn", "turn": 0},
		 "reply": {"content": [{"type": "text", "text": "first turn"}]}},
		{"name": "body", "match": {"body": "\"temperature\":0.25"},
		 "reply": {"content": [{"type": "text", "text": "by body"}]}},
		{"name": "by-tool", "match": {"last_user": "case:bytool", "tool": "read_file"},
		 "reply": {"content": [{"type": "text", "text": "has read_file"}]}},
		{"name": "once", "match": {"last_user": "case:times"}, "times": 2,
		 "reply": {"content": [{"type": "text", "text": "limited"}]}},
		{"name": "after", "match": {"last_user": "case:times"},
		 "reply": {"content": [{"type": "text", "text": "fallback"}]}},
		{"name": "429", "match": {"last_user": "case:429"}, "status": 429, "retry_after": 7,
		 "message": "slow down"},
		{"name": "529", "match": {"last_user": "case:529"}, "status": 529},
		{"name": "reset", "match": {"last_user": "case:reset"}, "fault": "reset",
		 "reply": {"content": [{"type": "text",
			"text": "This reply is cut short by a connection reset somewhere in the middle."}]}},
		{"name": "truncate", "match": {"last_user": "case:truncate"}, "fault": "truncate",
		 "reply": {"content": [{"type": "text", "text": "All but the end."}]}},
		{"name": "cut", "match": {"last_user": "case:cut"}, "fault": "cut_tool_json",
		 "reply": {"content": [
			{"type": "text", "text": "Writing the file."},
			{"type": "tool_use", "name": "write_file",
			 "input": {"path": "notes.txt", "text": "a fairly long text that will be cut"}}]}},
		{"name": "hang", "match": {"last_user": "case:hang"}, "fault": "hang"},
		{"name": "drip", "match": {"last_user": "case:drip"}, "drip_ms": 30,
		 "reply": {"content": [{"type": "text", "text": "slow but complete"}]}},
		{"name": "error-event", "match": {"last_user": "case:errorevent"}, "fault": "error_event",
		 "reply": {"content": [{"type": "text", "text": "never seen"}]}},
		{"name": "bad-json", "match": {"last_user": "case:badjson"}, "fault": "bad_json",
		 "reply": {"content": [{"type": "text", "text": "never seen"}]}},
		{"match": {"last_user": "case:cache"},
		 "reply": {"content": [{"type": "text", "text": "cached"}]}},
		{"name": "now", "match": {"last_user": "case:now"}, "drip_ms": 20,
		 "reply": {"content": [{"type": "text", "text": "sent at @@NOW_US@@ and @@NOW_US@@."}]}}
	]
}
EOF
}

setup() {
	write_scenario
	LOG=$BATS_TEST_TMPDIR/requests.jsonl
	"$FAKE" --scenario "$BATS_TEST_TMPDIR/scenario.json" --log "$LOG" \
		--port-file "$BATS_TEST_TMPDIR/port" >"$BATS_TEST_TMPDIR/stdout" \
		2>"$BATS_TEST_TMPDIR/stderr" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/port" ] && break
		sleep 0.05
	done
	[ -s "$BATS_TEST_TMPDIR/port" ] || fail "fake-anthropic did not start: $(cat "$BATS_TEST_TMPDIR/stderr")"
	PORT=$(cat "$BATS_TEST_TMPDIR/port")
	URL=http://127.0.0.1:$PORT
}

# Stops the server; it must exit 0 and quietly (under ASan, a leak or error report fails the test).
teardown() {
	local st=0
	if [ -n "${FAKE_PID:-}" ]; then
		kill "$FAKE_PID" 2>/dev/null || true
		for _ in $(seq 400); do kill -0 "$FAKE_PID" 2>/dev/null || break; sleep 0.05; done
		if kill -0 "$FAKE_PID" 2>/dev/null; then
			kill -9 "$FAKE_PID" 2>/dev/null
			wait "$FAKE_PID" 2>/dev/null
			fail "fake-anthropic did not exit within 20 s of SIGTERM"
		fi
		wait "$FAKE_PID" 2>/dev/null || st=$?
	fi
	[ "$st" -eq 0 ] || fail "fake-anthropic exited $st: $(cat "$BATS_TEST_TMPDIR/stderr")"
	[ ! -s "$BATS_TEST_TMPDIR/stderr" ] || fail "fake-anthropic stderr: $(cat "$BATS_TEST_TMPDIR/stderr")"
}

# body TEXT [stream] [extra top-level JSON members]: a Messages request with one user message.
body() {
	printf '{"model":"claude-test","max_tokens":256,"stream":%s,%s"messages":[{"role":"user","content":"%s"}]}' \
		"${2:-true}" "${3:+$3,}" "$1"
}

# post BODY [curl args...]: POSTs to /v1/messages; the reply is in $BATS_TEST_TMPDIR/out.
post() {
	local b=$1
	shift
	curl -sS -N --max-time 3 -o "$BATS_TEST_TMPDIR/out" -D "$BATS_TEST_TMPDIR/headers" \
		-H 'content-type: application/json' -H 'anthropic-version: 2023-06-01' \
		-H "x-api-key: $SECRET" "$@" --data-binary "$b" "$URL/v1/messages"
}

events() {
	sed -n 's/^event: //p' "$BATS_TEST_TMPDIR/out" | tr '\n' ' '
}

datas() {
	sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/out"
}

@test "streaming text reply: the API's event sequence, text in several deltas" {
	post "$(body case:text)"
	grep -qi '^content-type: text/event-stream' "$BATS_TEST_TMPDIR/headers"
	grep -qi '^request-id: req_fake_1' "$BATS_TEST_TMPDIR/headers"
	run events
	assert_output --regexp '^message_start content_block_start ping (content_block_delta ){3,}content_block_stop message_delta message_stop $'
	datas | jq_assert . >/dev/null	# every data line is JSON
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -j 'select(.delta.type == \"text_delta\") | .delta.text'"
	assert_output "Hello there! This reply is long enough to need several deltas. Ünïcödé ✓."
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.delta.type == \"text_delta\") | .delta.text | utf8bytelength' | sort -n | tail -1"
	[ "$output" -le 16 ]
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | head -1 | jq -c '.message | [.id, .role, .model, .content, .stop_reason, .usage.output_tokens]'"
	assert_output '["msg_fake_1","assistant","claude-test",[],null,1]'
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -c 'select(.type == \"message_delta\") | [.delta.stop_reason, .delta.stop_sequence, .usage.output_tokens > 0]'"
	assert_output '["end_turn",null,true]'
}

@test "streaming tool_use: input_json_delta pieces join to the input" {
	post "$(body case:tool)"
	run events
	assert_output --regexp '^message_start content_block_start ping (content_block_delta )+content_block_stop content_block_start (content_block_delta ){3,}content_block_stop message_delta message_stop $'
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -c 'select(.type == \"content_block_start\" and .index == 1) | .content_block'"
	assert_output '{"type":"tool_use","id":"toolu_1","name":"bash","input":{}}'
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.delta.type == \"input_json_delta\") | .delta.partial_json' | head -1"
	assert_output ''
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -j 'select(.delta.type == \"input_json_delta\") | .delta.partial_json'"
	assert_output '{"command":"ls -la /tmp","timeout":30}'
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.delta.type == \"input_json_delta\") | .delta.partial_json | utf8bytelength' | sort -n | tail -1"
	[ "$output" -le 12 ]
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.type == \"message_delta\") | .delta.stop_reason'"
	assert_output tool_use
}

@test "non-streaming reply is the whole message; missing tool ids and usage override" {
	post "$(body case:text false)"
	grep -qi '^content-type: application/json' "$BATS_TEST_TMPDIR/headers"
	run jq -c '[.id, .type, .role, .model, .content, .stop_reason, .stop_sequence]' "$BATS_TEST_TMPDIR/out"
	assert_output '["msg_fake_1","message","assistant","claude-test",[{"type":"text","text":"Hello there! This reply is long enough to need several deltas. Ünïcödé ✓."}],"end_turn",null]'
	run jq -c '.usage | keys' "$BATS_TEST_TMPDIR/out"
	assert_output '["cache_creation_input_tokens","cache_read_input_tokens","input_tokens","output_tokens"]'
	post "$(body case:noid false)"
	run jq -c '[.content[0].id, .stop_reason, .usage.output_tokens]' "$BATS_TEST_TMPDIR/out"
	assert_output '["toolu_fake_2_0","tool_use",99]'
}

@test "rules match on system, turn, last_user, body and tool" {
	post '{"model":"m","max_tokens":9,"system":[{"type":"text","text":"x"},{"type":"text","text":"You are the planner."}],"messages":[{"role":"user","content":"hi"}]}'
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output planner
	post '{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"case:turn"}]}'
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output "first turn"
	post '{"model":"m","max_tokens":9,"messages":[{"role":"user","content":"go"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"bash","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"case:turn output"}]}]}]}'
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output "second turn"
	post '{"model":"m","max_tokens":9,"temperature":0.25,"messages":[{"role":"user","content":"x"}]}'
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output "by body"
	post '{"model":"m","max_tokens":9,"tools":[{"name":"bash","input_schema":{}},{"name":"read_file","input_schema":{}}],"messages":[{"role":"user","content":"case:bytool"}]}'
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output "has read_file"
	# without the tool, no rule matches
	run post '{"model":"m","max_tokens":9,"tools":[{"name":"bash","input_schema":{}}],"messages":[{"role":"user","content":"case:bytool"}]}'
	run jq -r '.error.message' "$BATS_TEST_TMPDIR/out"
	assert_output "fake-anthropic: no rule matches request 6"
	run jq -c '.rule' "$LOG"
	assert_output "$(printf '"sys"\n"turn0"\n"turn1"\n"body"\n"by-tool"\nnull')"
}

@test "times: a used-up rule falls through to the next" {
	for want in limited limited fallback fallback; do
		post "$(body case:times false)"
		run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
		assert_output "$want"
	done
}

@test "no matching rule: HTTP 500 naming the request, rule null in the log" {
	run post "$(body nothing-matches)" -w '%{http_code}'
	assert_output 500
	run jq -c . "$BATS_TEST_TMPDIR/out"
	assert_output '{"type":"error","error":{"type":"api_error","message":"fake-anthropic: no rule matches request 1"}}'
	run jq -c '[.n, .rule]' "$LOG"
	assert_output '[1,null]'
}

@test "status 429 with Retry-After, then 529 overloaded" {
	run curl -sS -i --max-time 3 -H "x-api-key: $SECRET" --data-binary "$(body case:429)" "$URL/v1/messages"
	assert_success
	assert_line --regexp '^HTTP/1.1 429 '
	assert_line --regexp '^Retry-After: 7'
	assert_output --partial '{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}'
	run post "$(body case:529)" -w '%{http_code}'
	assert_output 529
	run jq -r '.error.type' "$BATS_TEST_TMPDIR/out"
	assert_output overloaded_error
}

@test "reset: the client sees a connection reset mid-stream" {
	run post "$(body case:reset)"
	assert_failure 56
	run events
	assert_output --regexp '^message_start content_block_start'
	refute_output --partial message_stop
}

@test "truncate: everything but message_delta and message_stop" {
	run post "$(body case:truncate)"
	assert_success
	run events
	assert_output --regexp 'content_block_stop $'
	refute_output --partial message_delta
	refute_output --partial message_stop
}

@test "cut_tool_json: half the tool input, then max_tokens" {
	post "$(body case:cut)"
	run events
	assert_output --regexp 'content_block_start (content_block_delta )+message_delta message_stop $'
	json=$(datas | jq -j 'select(.delta.type == "input_json_delta") | .delta.partial_json')
	full='{"path":"notes.txt","text":"a fairly long text that will be cut"}'
	[ -n "$json" ]
	[ "${full#"$json"}" != "$full" ]
	[ "$json" != "$full" ]
	run jq -e . <<<"$json"
	assert_failure
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.type == \"message_delta\") | .delta.stop_reason'"
	assert_output max_tokens
}

@test "hang: no answer at all, the client times out" {
	run curl -sS --max-time 1 --data-binary "$(body case:hang)" "$URL/v1/messages"
	assert_failure 28
}

@test "drip: a slow stream still arrives whole" {
	start=$(date +%s%N)
	post "$(body case:drip)"
	elapsed=$(( ($(date +%s%N) - start) / 1000000 ))
	[ "$elapsed" -ge 150 ]
	run events
	assert_output --regexp 'message_delta message_stop $'
}

@test "@@NOW_US@@: each one is its own text_delta holding the send time in microseconds" {
	before=$(date +%s%6N)
	post "$(body case:now)"
	after=$(date +%s%6N)
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | jq -r 'select(.delta.type == \"text_delta\") | .delta.text'"
	assert_line --index 0 'sent at '
	assert_line --index 2 ' and '
	assert_line --index 4 '.'
	t1=${lines[1]} t2=${lines[3]}
	[[ $t1 =~ ^[0-9]{16}$ && $t2 =~ ^[0-9]{16}$ ]]
	[ "$t1" -ge "$before" ]
	[ "$t2" -le "$after" ]
	[ $((t2 - t1)) -ge 15000 ]	# made when sent: drip_ms 20 lies between them
	post "$(body case:now false)"	# not streamed: replaced by the time the reply is built
	run jq -r '.content[0].text' "$BATS_TEST_TMPDIR/out"
	assert_output --regexp '^sent at [0-9]{16} and [0-9]{16}\.$'
}

@test "error_event and bad_json faults" {
	post "$(body case:errorevent)"
	run events
	assert_output 'message_start error '
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | tail -1"
	assert_output '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}'
	post "$(body case:badjson)"
	run bash -c "sed -n 's/^data: //p' '$BATS_TEST_TMPDIR/out' | tail -1 | jq ."
	assert_failure
}

@test "request log: every field, secrets redacted" {
	post "$(body case:text false)" -H "Authorization: Bearer $SECRET" -H 'X-Custom-Header: Yes'
	curl -sS --max-time 3 -o /dev/null "$URL/v1/messages?beta=true" -H "x-api-key: $SECRET" \
		--data-binary 'not json'
	run jq -c '[.n, .method, .path, .rule, .body]' "$LOG"
	assert_line --index 0 '[1,"POST","/v1/messages","text",{"model":"claude-test","max_tokens":256,"stream":false,"messages":[{"role":"user","content":"case:text"}]}]'
	assert_line --index 1 '[2,"POST","/v1/messages?beta=true",null,"not json"]'
	run jq -c 'keys_unsorted' "$LOG"
	assert_line --index 0 '["n","t_ms","method","path","headers","body","rule"]'
	run jq -c '.headers | [.["x-api-key"], .authorization, .["x-custom-header"], .["anthropic-version"]]' "$LOG"
	assert_line --index 0 '["[redacted]","Bearer [redacted]","Yes","2023-06-01"]'
	run grep -c "$SECRET" "$LOG"
	assert_output 0
}

@test "request log: a rule without a name is logged by its index" {
	post "$(body case:cache false)"
	run jq -c .rule "$LOG"
	assert_output 19
}

@test "prompt cache: a repeated prefix is written once, then read" {
	sys='"system":[{"type":"text","text":"You are a careful coder. Follow the house style, write tests, keep diffs small and explain each change.","cache_control":{"type":"ephemeral"}}]'
	post "$(body case:cache false "$sys")"
	run jq -c '.usage | [.cache_creation_input_tokens > 0, .cache_read_input_tokens, .input_tokens > 0]' "$BATS_TEST_TMPDIR/out"
	assert_output '[true,0,true]'
	created=$(jq .usage.cache_creation_input_tokens "$BATS_TEST_TMPDIR/out")
	post "$(body case:cache false "$sys")"
	run jq -c ".usage | [.cache_creation_input_tokens, .cache_read_input_tokens == $created]" "$BATS_TEST_TMPDIR/out"
	assert_output '[0,true]'
	# no cache_control: nothing cached or read
	post "$(body case:cache false '"system":"You are a careful coder."')"
	run jq -c '.usage | [.cache_creation_input_tokens, .cache_read_input_tokens]' "$BATS_TEST_TMPDIR/out"
	assert_output '[0,0]'
}

@test "prompt cache: turn 2 reads turn 1's prefix when the breakpoint moves on" {
	cc='"cache_control":{"type":"ephemeral"}'
	sys='"system":"You are the coder agent, working carefully in small steps."'
	ask='{"type":"text","text":"case:cache please fix the failing build in lib/"'
	post '{"model":"m","max_tokens":9,'"$sys"',"messages":[{"role":"user","content":['"$ask,$cc"'}]}]}'
	written=$(jq .usage.cache_creation_input_tokens "$BATS_TEST_TMPDIR/out")
	[ "$written" -gt 0 ]
	post '{"model":"m","max_tokens":9,'"$sys"',"messages":[{"role":"user","content":['"$ask"'}]},{"role":"assistant","content":"On it."},{"role":"user","content":[{"type":"text","text":"case:cache go on",'"$cc"'}]}]}'
	run jq -c ".usage | [.cache_read_input_tokens == $written, .cache_creation_input_tokens > 0]" "$BATS_TEST_TMPDIR/out"
	assert_output '[true,true]'
}

@test "count_tokens, health, 404 and a body that is not JSON" {
	run curl -sS --max-time 3 --data-binary '{"model":"m","messages":[]}' "$URL/v1/messages/count_tokens"
	assert_output '{"input_tokens":7}'
	run curl -sS --max-time 3 "$URL/health"
	assert_output ok
	run curl -sS --max-time 3 -w ' %{http_code}' "$URL/v2/nothing"
	assert_output --regexp '^\{"type":"error","error":\{"type":"not_found_error","message":"[^"]+"\}\} 404$'
	run curl -sS --max-time 3 -w ' %{http_code}' --data-binary '{"model":' "$URL/v1/messages"
	assert_output --regexp '"type":"invalid_request_error".* 400$'
	run curl -sS --max-time 3 -w ' %{http_code}' --data-binary '{"messages":[]}' "$URL/v1/messages"
	assert_output --regexp '"message":"model: field required.* 400$'
}

@test "keep-alive for plain replies, chunked request bodies" {
	run curl -sS -v --max-time 3 -o /dev/null -o /dev/null \
		--data-binary "$(body case:text false)" "$URL/v1/messages" "$URL/v1/messages"
	assert_output --partial 'Re-using existing connection'
	printf '%s' "$(body case:text false)" >"$BATS_TEST_TMPDIR/req.json"
	run curl -sS --max-time 3 -H 'Transfer-Encoding: chunked' \
		--data-binary @"$BATS_TEST_TMPDIR/req.json" "$URL/v1/messages"
	run jq -r '.content[0].type' <<<"$output"
	assert_output text
	run jq -r 'select(.n == 3) | .headers["transfer-encoding"]' "$LOG"
	assert_output chunked
}

@test "SIGTERM stops the server with status 0" {
	kill -TERM "$FAKE_PID"
	status=0
	wait "$FAKE_PID" || status=$?
	FAKE_PID=
	assert_equal "$status" 0
	assert_equal "$(cat "$BATS_TEST_TMPDIR/stdout")" "$PORT"
}

@test "--check: shipped scenarios pass, a bad one names the file and field" {
	for f in "$BATS_TEST_DIRNAME"/scenarios/*.json; do
		run "$FAKE" --scenario "$f" --check
		assert_success
	done
	printf '{"rules":[{"reply":{"content":[]}},{"match":{"turn":"one"},"reply":{"content":[]}}]}' \
		>"$BATS_TEST_TMPDIR/bad.json"
	run "$FAKE" --scenario "$BATS_TEST_TMPDIR/bad.json" --check
	assert_failure 2
	assert_output "fake-anthropic: $BATS_TEST_TMPDIR/bad.json: rules[1].match.turn: expected a non-negative integer"
	printf '{"rules":[{"fault":"explode"}]}' >"$BATS_TEST_TMPDIR/bad.json"
	run "$FAKE" --scenario "$BATS_TEST_TMPDIR/bad.json" --check
	assert_failure 2
	assert_output --partial 'bad.json: rules[0].fault: expected one of'
	run "$FAKE" --scenario "$BATS_TEST_TMPDIR/missing.json"
	assert_failure 2
	assert_output --partial 'missing.json: cannot open it'
}

@test "bad flags exit 2 with a hint" {
	run "$FAKE" --bogus
	assert_failure 2
	assert_output "fake-anthropic: unknown option --bogus
Try 'fake-anthropic --help'."
	run "$FAKE" --scenario x --port 70000
	assert_failure 2
	assert_line --index 1 "Try 'fake-anthropic --help'."
	run "$FAKE"
	assert_failure 2
	run "$FAKE" --help
	assert_success
	assert_output --partial '--scenario FILE'
}
