#!/usr/bin/env bats
# Logs, error records, metrics, bllm-stats and the response cache, as runs produce them.
bats_require_minimum_version 1.5.0
load helper

setup() { bllm_setup; }
teardown() { fake_stop; }

tool_then_text() {
	scenario tt <<'JSON'
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Glob", "input": {"pattern": "*"}}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
}

@test "a run writes JSON log lines with every field to LOG_DIR/better-llm.log" {
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ -f logs/better-llm.log ]
	jq -s -e 'length >= 4 and all(.[]; has("event") and has("level") and has("timestamp") and has("session_id")
		and has("run_id") and has("worker_name") and has("role") and has("model") and has("pid")
		and has("pathname") and has("func_name") and has("lineno"))' logs/better-llm.log
	rid=$(last_result | jq -r .run_id)
	jq -s -e --arg r "$rid" 'map(select(.event == "api_call")) | length == 2 and all(.[]; .run_id == $r and .worker_name == "coder" and .model == "claude-sonnet-4-5")' logs/better-llm.log
	[ ! -e logs/better-llm-debug.log ]
	[ "$(wc -l <logs/better-llm-error.log)" -eq 0 ]
	# never on stdout
	all_events 'has("v")'
}

@test "LOG_FORMAT=console writes readable lines; LOG_LEVEL=DEBUG adds the debug file" {
	fake_start "$(tool_then_text)"
	LOG_FORMAT=console LOG_LEVEL=DEBUG run --separate-stderr bllm-code -C ws "task"
	assert_success
	grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ INFO .*coder' logs/better-llm.log
	run jq -e . logs/better-llm.log
	assert_failure
	grep -q "tool_use" logs/better-llm-debug.log
}

@test "the log settings come from system_config when the environment has none" {
	config_set '.logging.dir = "cfglogs" | .logging.level = "WARNING"'
	unset LOG_DIR
	fake_start "$(scenario down <<<'{"rules": [{"status": 500}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	[ -f cfglogs/better-llm.log ]
	refute_file_has '"level":"INFO"' cfglogs/better-llm.log
	grep -q '"level":"WARNING"' cfglogs/better-llm.log
}

@test "errors go to the error log and bllm-stats errors counts them by type" {
	fake_start "$(scenario down <<<'{"rules": [{"status": 529}]}')"
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	jq -s -e 'length >= 1 and all(.[]; .level == "ERROR" or .level == "CRITICAL")' logs/better-llm-error.log
	run --separate-stderr bllm-stats errors --json
	assert_success
	jq_assert '.total_errors == 3 and .error_counts.api == 3 and (.recent_errors | length) == 3' <<<"$output"
	jq_assert '.recent_errors[0].agent == "planner" and (.recent_errors[0].message | contains("529") or contains("overloaded"))' <<<"$output"
	run --separate-stderr bllm-stats errors
	assert_output --partial "total_errors: 3"
}

@test "errors of every process sharing the log directory are counted together" {
	fake_start "$(scenario down <<<'{"rules": [{"status": 401}]}')"
	pids=
	for _ in 1 2 3; do bllm-plan -C ws "task" >/dev/null 2>&1 & pids="$pids $!"; done
	wait $pids || true
	run --separate-stderr bllm-stats errors --json
	jq_assert '.error_counts.auth == 3' <<<"$output"
}

@test "metrics per API call and tool call feed bllm-stats per agent" {
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-code -C ws "task"
	run --separate-stderr bllm-plan -C ws "task"
	jq -s -e 'map(select(.kind == "api_call")) | length == 4' logs/metrics.ndjson
	jq -s -e 'map(select(.kind == "tool_call")) | length == 2 and all(.[]; .name == "Glob" and (.duration_ms|type) == "number")' logs/metrics.ndjson
	run --separate-stderr bllm-stats --json
	assert_success
	jq_assert '.agents.coder.calls == 2 and .agents.planner.calls == 2 and .agents.coder.cost_usd > 0
		and (.agents.coder.latency_p50_ms|type) == "number" and .agents.coder.output_tokens > 0' <<<"$output"
	run --separate-stderr bllm-stats
	assert_output --partial "coder"
	assert_output --partial "P95"
}

@test "bllm-stats --session shows one manager run, workers included" {
	fake_start "$(scenario one <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "planner", "input": {"task": "plan"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"reply": {"content": [{"type": "text", "text": "plan"}]}}
]}
JSON
)"
	bllm-manage --no-interactive -C ws "first" >first.ndjson 2>/dev/null || true
	bllm-manage --no-interactive -C ws "second" >second.ndjson 2>/dev/null || true
	sid=$(last_result first.ndjson | jq -r .session_id)
	run --separate-stderr bllm-stats --json --session "$sid"
	jq_assert '.agents.manager.calls == 2 and .agents.planner.calls == 1' <<<"$output"
	jq -s -e 'map(select(.kind == "worker")) | length == 2' logs/metrics.ndjson
}

@test "prompt cache reads show in usage and in bllm-stats" {
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-code -C ws "task"
	run --separate-stderr bllm-stats --json
	jq_assert '.agents.coder.cache_read_input_tokens > 0 and .agents.coder.cache_hit_rate > 0' <<<"$output"
}

enable_cache() { config_set ".performance.enable_caching = true | .performance.cache_ttl_seconds = ${1:-3600} | .performance.cache_max_size = ${2:-100}"; }

@test "response cache: an identical request is answered locally; a different one is not" {
	enable_cache
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ "$(request_count)" = 2 ]
	events_of usage | jq_assert '.response_cache == "miss"' >/dev/null
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[ "$(request_count)" = 2 ]
	[ "$(events_of usage | jq -r .response_cache | sort -u)" = hit ]
	run --separate-stderr bllm-code -C ws "another task"
	[ "$(request_count)" = 4 ]
	run --separate-stderr bllm-code --no-cache -C ws "task"
	[ "$(request_count)" = 6 ]
	run --separate-stderr bllm-stats --json
	jq_assert '.cache.hits == 2 and .cache.misses == 4 and .cache.size == 4' <<<"$output"
}

@test "a reply served from the response cache is shown as cached, with the tokens it saved" {
	enable_cache
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-code -C ws "task"
	first=$(last_result | jq '.usage | .input_tokens + .output_tokens + .cache_creation_input_tokens + .cache_read_input_tokens')
	run --separate-stderr bash -c 'bllm-code -C ws task | tee events | bllm-render --color=never'
	assert_success
	last_result events | jq_assert ".tokens_saved == $first and .usage.output_tokens == 0"
	events_of usage events | jq_assert '.response_cache == "hit" and .tokens_saved > 0'
	assert_output --partial "(cached: "
	assert_output --partial " tokens saved)"
}

@test "response cache: failed replies are never stored" {
	enable_cache
	fake_start "$(scenario flaky <<'JSON'
{"rules": [{"fault": "truncate", "times": 1, "reply": {"content": [{"type": "text", "text": "cut"}]}},
           {"status": 500, "times": 2},
           {"reply": {"content": [{"type": "text", "text": "whole"}]}}]}
JSON
)"
	config_set '.performance.worker_retry_max_attempts = 3'
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 4
	[ "$(ls state/cache | grep -c json)" -eq 0 ]
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[ "$(last_result | jq -r .text)" = whole ]
	[ "$(ls state/cache | grep -c json)" -eq 1 ]
}

@test "response cache: entries expire after cache_ttl_seconds" {
	enable_cache 2
	fake_start "$(tool_then_text)"
	run --separate-stderr bllm-plan -C ws "task"
	run --separate-stderr bllm-plan -C ws "task"
	[ "$(request_count)" = 2 ]
	sleep 2.2
	run --separate-stderr bllm-plan -C ws "task"
	[ "$(request_count)" = 4 ]
}

@test "response cache: least recently used entries are evicted beyond cache_max_size" {
	enable_cache 3600 2
	fake_start "$(scenario hi <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "hi"}]}}]}')"
	for t in one two three; do bllm-plan -C ws "$t" >/dev/null 2>&1; done
	[ "$(ls state/cache | grep -c json)" -eq 2 ]
	run --separate-stderr bllm-plan -C ws "one"
	[ "$(request_count)" = 4 ]
	run --separate-stderr bllm-plan -C ws "three"
	[ "$(request_count)" = 4 ]
	run --separate-stderr bllm-stats --json
	jq_assert '.cache.evictions >= 2' <<<"$output"
}

@test "response cache: concurrent processes share it safely" {
	enable_cache 3600 5
	fake_start "$(scenario hi <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "hi"}]}}]}')"
	pids=
	for i in 1 2 3 4 5 6 7 8; do bllm-plan -C ws "task $((i % 4))" >"out$i" 2>/dev/null & pids="$pids $!"; done
	wait $pids || true
	for i in 1 2 3 4 5 6 7 8; do [ "$(last_result "out$i" | jq -r .text)" = hi ]; done
	n=$(ls state/cache | grep -c json)
	[ "$n" -ge 1 ]
	[ "$n" -le 5 ]
	for f in state/cache/*.json; do jq_assert '.message.content[0].text == "hi"' "$f" >/dev/null; done
	[ "$(ls -A state/cache | grep -c tmp)" -eq 0 ]
}

@test "a whole bllm-manage run replays from the cache with zero requests reaching the server" {
	enable_cache
	# Same mtimes in both copies: Glob lists newest first, so the requests match.
	cp -rp "$TOP/examples/wordcount" ws/p1
	cp -rp "$TOP/examples/wordcount" ws/p2
	task="add a -l flag to wordcount that prints the number of lines"
	fake_start "$TOP/examples/wordcount.manage.json"
	run --separate-stderr bllm-manage --no-interactive -C ws/p1 --sessions-dir s "$task"
	assert_success
	[ "$(request_count)" -gt 20 ]
	# a server that answers nothing: every reply must come from the cache
	fake_stop
	fake_start "$(scenario empty <<<'{"rules": []}')"
	run --separate-stderr bllm-manage --no-interactive -C ws/p2 --sessions-dir s "$task"
	assert_success
	[ "$(request_count)" = 0 ]
	last_result | jq_assert '.status == "completed" and .verification.verified'
	(cd ws/p2 && make -s test >/dev/null)
	[ "$(events_of usage | jq -r .response_cache | sort -u)" = hit ]
}

@test "several processes log at once across rotations: nothing torn, nothing lost" {
	config_set '.logging.max_bytes = 3000 | .logging.backup_count = 200'
	fake_start "$(tool_then_text)"
	pids=
	for i in 1 2 3 4 5 6; do bllm-code -C ws "task $i" >/dev/null 2>&1 & pids="$pids $!"; done
	wait $pids
	[ -e logs/better-llm.log.1 ]
	for f in logs/better-llm.log*; do
		jq_assert 'has("event")' "$f"
		[ "$(stat -c %s "$f")" -le 3000 ]
	done
	[ "$(cat logs/better-llm.log* | jq -s 'map(select(.event == "api_call")) | length')" -eq 12 ]
	[ "$(cat logs/better-llm.log* | jq -s 'map(select(.event == "run_start")) | length')" -eq 6 ]
	# the metrics rotate with the same size, and bllm-stats reads every file
	[ -e logs/metrics.ndjson.1 ]
	[ "$(stat -c %a logs/metrics.ndjson)" = 600 ]
	[ "$(stat -c %a logs/better-llm.log)" = 600 ]
	run --separate-stderr bllm-stats --json
	jq_assert '.agents.coder.calls == 12' <<<"$output"
}

@test "errors are recorded by type: network, timeout, limit, tool" {
	config_set '.performance.worker_retry_max_attempts = 1'
	ANTHROPIC_API_KEY=$TEST_KEY ANTHROPIC_BASE_URL=http://127.0.0.1:9 run bllm-plan -C ws "task"
	n=$((RANDOM + 10000))
	fake_start "$(scenario errs <<JSON
{"rules": [
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "x"}}]}},
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Read", "input": {"file_path": "missing.txt"}}]}},
 {"reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "sleep $n", "timeout": 600000}}]}}
]}
JSON
)"
	run bllm-code --max-turns 1 -C ws "task"
	WORKER_TIMEOUT_CODER=1 run bllm-manage --no-interactive -C ws "task"
	run --separate-stderr bllm-stats errors --json
	jq_assert '.error_counts.network == 1 and .error_counts.limit == 1 and .error_counts.timeout == 1
		and .error_counts.tool >= 2' <<<"$output"
	jq_assert 'any(.recent_errors[]; .error_type == "tool" and .agent == "coder" and (.run_id | startswith("run_"))
		and (.message | contains("missing.txt")))' <<<"$output"
	refute_alive "sleep $n"
}

@test "the API key appears in no log, metric, session, cache entry or event" {
	config_set '.performance.enable_caching = true'
	cp -r "$TOP/examples/wordcount/." ws/
	fake_start "$TOP/examples/wordcount.manage.json"
	LOG_LEVEL=DEBUG run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess \
		"add a -l flag to wordcount that prints the number of lines"
	assert_success
	# every place the key could leak to holds something (an empty file proves nothing)
	[ -s logs/better-llm-debug.log ]
	[ -n "$(ls sess)" ]
	[ -n "$(ls state/cache)" ]
	[[ "$output" != *"$TEST_KEY"* && "$stderr" != *"$TEST_KEY"* ]]
	run grep -rlF -- "$TEST_KEY" logs sess state "$FAKE_LOG"
	assert_failure 1
	for f in sess/*.gz; do
		run sh -c "gzip -dc '$f' | grep -cF -- '$TEST_KEY'"
		assert_output 0
	done
}
