#!/usr/bin/env bats
# The Messages API client as fake-anthropic sees it: requests, auth,
# tool_result pairing, retries and faults.
bats_require_minimum_version 1.5.0
load helper

setup() { bllm_setup; }
teardown() { fake_stop; }

hello() {
	scenario hello <<<'{"rules": [{"name": "hi", "reply": {"content": [{"type": "text", "text": "hello"}]}}]}'
}

@test "a request: POST /v1/messages, streaming, API version, key header, model, max_tokens" {
	fake_start "$(hello)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	r=$(request 1)
	jq_assert '.method == "POST" and .path == "/v1/messages"' <<<"$r"
	jq_assert '.headers["anthropic-version"] == "2023-06-01" and .headers["x-api-key"] == "[redacted]"' <<<"$r"
	jq_assert '(.headers | has("authorization") | not) and (.headers | has("anthropic-beta") | not)' <<<"$r"
	jq_assert '.body.stream == true and .body.model == "claude-sonnet-4-5" and .body.max_tokens == 8192' <<<"$r"
	jq_assert '.body.messages == [{"role": "user", "content": [{"type": "text", "text": "task", "cache_control": {"type": "ephemeral"}}]}]' <<<"$r"
}

@test "CLAUDE_CODE_OAUTH_TOKEN sends a Bearer token and the oauth beta header" {
	fake_start "$(hello)"
	unset ANTHROPIC_API_KEY
	CLAUDE_CODE_OAUTH_TOKEN=oauth-secret-123 run --separate-stderr bllm-plan -C ws "task"
	assert_success
	r=$(request 1 .headers)
	jq_assert '.authorization == "Bearer [redacted]" and .["anthropic-beta"] == "oauth-2025-04-20" and (has("x-api-key") | not)' <<<"$r"
	refute_file_has oauth-secret-123 "$FAKE_LOG"
}

@test "each agent is offered exactly its configured tools, and its own system prompt" {
	fake_start "$(hello)"
	for pair in plan:planner code:coder review:reviewer test:tester commit:committer; do
		run --separate-stderr "bllm-${pair%%:*}" -C ws "task"
	done
	[ "$(request 1 '[.body.tools[].name]')" = '["Read","Glob","Grep"]' ]
	[ "$(request 2 '[.body.tools[].name]')" = '["Read","Write","Edit","Glob","Grep","Bash"]' ]
	[ "$(request 3 '[.body.tools[].name]')" = '["Read","Glob","Grep"]' ]
	[ "$(request 4 '[.body.tools[].name]')" = '["Read","Glob","Grep","Bash"]' ]
	[ "$(request 5 '[.body.tools[].name]')" = '["Read","Bash"]' ]
	n=1
	for a in planner coder reviewer tester committer; do
		[ "$(request $n '.body.system[0].text' | jq -r .)" = "$(cat "prompts/$a.txt")" ]
		n=$((n + 1))
	done
	request 2 '.body.tools[] | select(.name == "Edit") | .input_schema.required' | jq_assert '. == ["file_path","old_string","new_string"]'
}

@test "tool results go back paired by tool_use_id, in order, after the assistant turn" {
	echo one >ws/a.txt
	echo two >ws/b.txt
	fake_start "$(scenario pair <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "text", "text": "reading both"},
   {"type": "tool_use", "id": "toolu_A", "name": "Read", "input": {"file_path": "a.txt"}},
   {"type": "tool_use", "id": "toolu_B", "name": "Read", "input": {"file_path": "missing.txt"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	msgs=$(request 2 .body.messages)
	[ "$(jq 'length' <<<"$msgs")" = 3 ]
	jq_assert '.[1].role == "assistant" and ([.[1].content[] | .type] == ["text","tool_use","tool_use"])' <<<"$msgs"
	jq_assert '.[2].role == "user" and ([.[2].content[] | .tool_use_id] == ["toolu_A","toolu_B"])' <<<"$msgs"
	jq_assert '(.[2].content[0].content | contains("one")) and (.[2].content[0] | has("is_error") | not)' <<<"$msgs"
	jq_assert '.[2].content[1].is_error == true' <<<"$msgs"
}

@test "prompt caching: system, tools and the conversation carry cache_control; turn 2 reads from cache" {
	fake_start "$(scenario cache <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	request 1 '.body.system[-1].cache_control.type' | grep -q ephemeral
	request 1 '.body.tools[-1].cache_control.type' | grep -q ephemeral
	request 2 '.body.messages[-1].content[-1].cache_control.type' | grep -q ephemeral
	u2=$(events_of usage | sed -n 2p)
	jq_assert '.cache_read_input_tokens > 0 and .cache_read_input_tokens > .input_tokens' <<<"$u2"
}

@test "529 overloaded is retried with retry events, then succeeds" {
	fake_start "$(scenario over <<'JSON'
{"rules": [{"status": 529, "times": 2}, {"reply": {"content": [{"type": "text", "text": "ok"}]}}]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[ "$(request_count)" = 3 ]
	[ "$(events_of retry | jq -c '[.attempt, .max_attempts, .http_status]' | tr '\n' ' ')" = "[1,3,529] [2,3,529] " ]
	events_of retry | jq_assert '.error | contains("overloaded_error")'
}

@test "Retry-After is honoured (capped by worker_retry_max_delay)" {
	config_set '.performance.worker_retry_max_delay = 5'
	fake_start "$(scenario ra <<'JSON'
{"rules": [{"status": 429, "retry_after": "1", "times": 1}, {"reply": {"content": [{"type": "text", "text": "ok"}]}}]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[ "$(events_of retry | jq .delay_ms)" = 1000 ]
}

@test "408, 409, 500 and 503 are retried" {
	for code in 408 409 500 503; do
		fake_stop
		fake_start "$(scenario "s$code" <<JSON
{"rules": [{"status": $code, "times": 1}, {"reply": {"content": [{"type": "text", "text": "ok"}]}}]}
JSON
)"
		run --separate-stderr bllm-plan -C ws "task"
		assert_success
		[ "$(events_of retry | jq .http_status)" = "$code" ]
	done
}

@test "after the last attempt: status error, exit 4" {
	fake_start "$(scenario down <<<'{"rules": [{"status": 500, "message": "boom"}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(request_count)" = 3 ]
	[ "$(events_of retry | wc -l)" -eq 2 ]
	jq_assert '.status == "error" and .exit_code == 4 and (.error | contains("gave up after 3 attempts"))' <<<"$(last_result)"
	[[ "$stderr" == *"HTTP 500 api_error: boom"* ]]
}

@test "worker_retry_max_attempts is honoured" {
	config_set '.performance.worker_retry_max_attempts = 5'
	fake_start "$(scenario down <<<'{"rules": [{"status": 503}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(request_count)" = 5 ]
}

@test "401 and 403 exit 5 at once, without retrying" {
	for code in 401 403; do
		fake_stop
		fake_start "$(scenario "auth$code" <<<"{\"rules\": [{\"status\": $code}]}")"
		run --separate-stderr bllm-plan -C ws "task"
		assert_failure 5
		[ "$(request_count)" = 1 ]
		[ "$(events_of retry | wc -l)" -eq 0 ]
	done
}

@test "a 400 is not retried" {
	fake_start "$(scenario bad <<<'{"rules": [{"status": 400, "message": "prompt is too long"}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(request_count)" = 1 ]
	[[ "$stderr" == *"prompt is too long"* ]]
}

@test "a connection reset mid-stream is retried" {
	fake_start "$(scenario reset <<'JSON'
{"rules": [{"fault": "reset", "times": 1, "reply": {"content": [{"type": "text", "text": "a fairly long reply that gets cut off in the middle"}]}},
           {"reply": {"content": [{"type": "text", "text": "second time lucky"}]}}]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[ "$(events_of retry | jq -r .http_status)" = null ]
	[ "$(last_result | jq -r .text)" = "second time lucky" ]
}

@test "a stream cut before message_stop is retried" {
	fake_start "$(scenario trunc <<'JSON'
{"rules": [{"fault": "truncate", "times": 1, "reply": {"content": [{"type": "text", "text": "partial"}]}},
           {"reply": {"content": [{"type": "text", "text": "whole"}]}}]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	events_of retry | jq_assert '.error | contains("before message_stop")'
	[ "$(last_result | jq -r .text)" = whole ]
}

@test "an error event mid-stream is retried" {
	fake_start "$(scenario errev <<'JSON'
{"rules": [{"fault": "error_event", "times": 1, "reply": {"content": [{"type": "text", "text": "x"}]}},
           {"reply": {"content": [{"type": "text", "text": "fine"}]}}]}
JSON
)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	events_of retry | jq_assert '.error | contains("Overloaded")'
}

@test "a tool call whose JSON was cut short is never executed" {
	fake_start "$(scenario cut <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "fault": "cut_tool_json", "reply": {"content": [{"type": "tool_use", "id": "toolu_cut", "name": "Write", "input": {"file_path": "evil.txt", "content": "should never be written to disk"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "ok"}]}}
]}
JSON
)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ ! -e ws/evil.txt ]
	events_of tool_use | jq_assert '.input == null and .input_incomplete == true'
	events_of tool_result | jq_assert '.is_error and (.content | contains("cut short"))'
	request 2 '.body.messages[1].content[0]' | jq_assert '.type == "tool_use" and .input == {}'
	request 2 '.body.messages[2].content[0]' | jq_assert '.tool_use_id == "toolu_cut" and .is_error == true'
}

@test "a server that never answers times out (BLLM_API_TIMEOUT) and is retried" {
	fake_start "$(scenario hang <<<'{"rules": [{"fault": "hang"}]}')"
	config_set '.performance.worker_retry_max_attempts = 2'
	SECONDS=0
	BLLM_API_TIMEOUT=1 run --separate-stderr timeout 20 bllm-plan -C ws "task"
	assert_failure 4
	# two attempts of about a second each: the idle timeout is honoured closely
	[ "$SECONDS" -lt 6 ]
	[ "$(request_count)" = 2 ]
	events_of retry | jq_assert '.error | contains("timed out")'
}

@test "nothing listening: connection errors are retried, then exit 4" {
	export ANTHROPIC_API_KEY=$TEST_KEY ANTHROPIC_BASE_URL=http://127.0.0.1:9
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(events_of retry | wc -l)" -eq 2 ]
	[[ "$stderr" == *"Couldn't connect"* || "$stderr" == *"connect"* ]]
}

@test "usage events price known models and give null for unknown ones" {
	fake_start "$(hello)"
	run --separate-stderr bllm-plan -C ws "task"
	events_of usage | jq_assert '.cost_usd > 0'
	run --separate-stderr bllm-plan --model mystery-model-1 -C ws "task"
	events_of usage | jq_assert '.cost_usd == null'
	[ "$(last_result | jq .total_cost_usd)" = null ]
}

@test "a slow stream that keeps sending is not an idle timeout" {
	fake_start "$(scenario drip <<'JSON'
{"rules": [{"drip_ms": 300, "reply": {"content": [{"type": "text", "text": "a reply that takes a few seconds to drip in, piece by piece"}]}}]}
JSON
)"
	BLLM_API_TIMEOUT=1 run --separate-stderr timeout 30 bllm-plan -C ws "task"
	assert_success
	[ "$(events_of retry | wc -l)" -eq 0 ]
}

@test "the backoff doubles from worker_retry_base_delay, with jitter inside worker_retry_jitter" {
	config_set '.performance.worker_retry_base_delay = 0.1 | .performance.worker_retry_max_delay = 1 | .performance.worker_retry_max_attempts = 4'
	fake_start "$(scenario down <<<'{"rules": [{"status": 503}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(events_of retry | wc -l)" -eq 3 ]
	delays=$(events_of retry | jq -s -c 'map(.delay_ms)')
	jq_assert '.[0] >= 90 and .[0] <= 110 and .[1] >= 180 and .[1] <= 220 and .[2] >= 360 and .[2] <= 440' <<<"$delays"
}

@test "worker_retry_enabled = false makes one attempt" {
	config_set '.performance.worker_retry_enabled = false'
	fake_start "$(scenario down <<<'{"rules": [{"status": 529}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(request_count)" = 1 ]
}

@test "performance.enable_prompt_caching = false sends no cache_control" {
	config_set '.performance.enable_prompt_caching = false'
	fake_start "$(hello)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ "$(request 1 '[.. | objects | select(has("cache_control"))] | length')" = 0 ]
}
