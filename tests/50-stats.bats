#!/usr/bin/env bats
# bllm-stats over a metrics.ndjson written by hand.

bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	mkdir -p logs
	OLD=$(date -u -d '-2 days' +%Y-%m-%dT%H:%M:%S.000Z)
	NEW=$(date -u -d '-10 minutes' +%Y-%m-%dT%H:%M:%S.000Z)
	export OLD NEW
}

# call AGENT SESSION TS LATENCY IN OUT CACHE_READ COST: one api_call record.
call() {
	jq -nc --arg agent "$1" --arg sid "$2" --arg ts "$3" --argjson lat "$4" \
		--argjson inp "$5" --argjson out "$6" --argjson read "$7" --argjson cost "$8" \
		'{kind: "api_call", ts: $ts, session_id: $sid, run_id: "run_1", agent: $agent,
		  pid: 1, model: "claude-test", latency_ms: $lat, ttfb_ms: 10, input_tokens: $inp,
		  output_tokens: $out, cache_creation_input_tokens: 0,
		  cache_read_input_tokens: $read, cost_usd: $cost, status: "ok", cached: false}'
}

# error SESSION TS TYPE MESSAGE [AGENT]: one error record.
error() {
	jq -nc --arg sid "$1" --arg ts "$2" --arg type "$3" --arg msg "$4" \
		--arg agent "${5:-coder}" \
		'{kind: "error", ts: $ts, session_id: $sid, run_id: "run_1", agent: $agent,
		  pid: 1, error_type: $type, message: $msg, context: {}}'
}

# cache EVENT SIZE: one response-cache record.
cache() {
	jq -nc --arg ts "$NEW" --arg event "$1" --argjson size "$2" \
		'{kind: "cache", ts: $ts, session_id: "s1", run_id: "run_1", agent: "coder",
		  pid: 1, event: $event, size: $size}'
}

# tool TS: one tool_call record.
tool() {
	jq -nc --arg ts "$1" '{kind: "tool_call", ts: $ts, session_id: "s1", agent: "coder",
		name: "Bash", duration_ms: 5, exit_code: 0, is_error: false}'
}

write_metrics() {
	{
		call coder s1 "$OLD" 100 1000 200 0 0.01
		call coder s1 "$NEW" 300 1000 200 3000 0.02
		call coder s2 "$NEW" 200 1000 200 1000 0.03
		call planner s2 "$NEW" 50 500 100 0 0.005
		echo 'this line is not json'
		tool "$NEW"
		error s1 "$OLD" api "overloaded (529)"
		error s1 "$NEW" timeout "Bash timed out after 120 s"
		error s2 "$NEW" api "rate limited" planner
		cache hit 3
		cache hit 4
		cache hit 4
		cache miss 4
		cache store 5
	} >logs/metrics.ndjson
}

@test "the table has one row per agent and the response cache line" {
	write_metrics
	run --separate-stderr bllm-stats
	assert_success
	local head='^AGENT +CALLS +P50_MS +P95_MS +IN_TOKENS +OUT_TOKENS +CACHE_READ'
	assert_line --index 0 --regexp "$head +COST_USD +CACHE_HIT%\$"
	assert_line --regexp '^coder +3 +200 +300 +3000 +600 +4000 +0\.0600 +57\.1$'
	assert_line --regexp '^planner +1 +50 +50 +500 +100 +0 +0\.0050 +0\.0$'
	assert_line 'response cache: 3 hits, 1 misses, hit rate 75.0%, size 5'
	[ -z "$stderr" ]
}

@test "--json gives the per-agent figures and the cache" {
	write_metrics
	run --separate-stderr bllm-stats --json
	assert_success
	echo "$output" | jq_assert '.agents | keys == ["coder", "planner"]'
	echo "$output" | jq_assert '.agents.coder | .calls == 3 and .latency_p50_ms == 200 and
		.latency_p95_ms == 300 and .input_tokens == 3000 and .output_tokens == 600 and
		.cache_read_input_tokens == 4000 and .cost_usd == 0.06 and .tool_calls == 1 and
		.errors == 2 and (.cache_hit_rate * 1000 | round) == 571'
	echo "$output" | jq_assert '.agents.planner | .calls == 1 and .errors == 1 and
		.cost_usd == 0.005'
	echo "$output" | jq_assert '.cache == {"hits": 3, "misses": 1, "hit_rate": 0.75, "stores": 1,
		"evictions": 0, "size": 5}'
}

@test "--session keeps one session's records" {
	write_metrics
	run --separate-stderr bllm-stats --json --session s2
	assert_success
	echo "$output" | jq_assert '.agents.coder.calls == 1 and .agents.coder.cost_usd == 0.03'
	echo "$output" | jq_assert '.agents.planner.calls == 1'
	run --separate-stderr bllm-stats --session s1
	assert_success
	assert_line --regexp '^coder +2 '
	refute_line --regexp '^planner'
}

@test "--session takes a unique prefix of the ID, as bllm-session does" {
	mkdir -p logs
	{ call coder 20261125-203000-aaaaaa "$NEW" 100 10 1 0 0.01
	  call coder 20261125-203000-aaaaaa "$NEW" 100 10 1 0 0.01
	  call tester 20261126-100000-bbbbbb "$NEW" 100 10 1 0 0.02
	  call tester 20261126-110000-cccccc "$NEW" 100 10 1 0 0.02; } >logs/metrics.ndjson
	run --separate-stderr bllm-stats --json --session 20261125
	assert_success
	echo "$output" | jq_assert '.agents.coder.calls == 2 and .agents.tester == null'
	run --separate-stderr bllm-stats --json --session 20261126
	assert_failure 2
	[[ "$stderr" == *"several sessions start with it"* ]]
	run --separate-stderr bllm-stats --json --session 2027
	assert_failure 2
	[[ "$stderr" == *"--session 2027: no session"* ]]
}

@test "--since takes a duration or an RFC 3339 time" {
	write_metrics
	run --separate-stderr bllm-stats --json --since 1h
	assert_success
	echo "$output" | jq_assert '.agents.coder.calls == 2 and .agents.coder.latency_p50_ms == 200'
	run --separate-stderr bllm-stats --json --since 3d
	echo "$output" | jq_assert '.agents.coder.calls == 3'
	run --separate-stderr bllm-stats --json --since "$(date -u -d '-1 day' +%Y-%m-%dT%H:%M:%SZ)"
	echo "$output" | jq_assert '.agents.coder.calls == 2'
	run --separate-stderr bllm-stats --json --since 2030-01-01T00:00:00.000Z
	assert_success
	echo "$output" | jq_assert '.agents == {} and .cache.hits == 0'
}

@test "errors lists the counts by type and the recent errors, newest first" {
	write_metrics
	run --separate-stderr bllm-stats errors
	assert_success
	assert_line --index 0 'total_errors: 3'
	assert_line --regexp '^ +api +2$'
	assert_line --regexp '^ +timeout +1$'
	assert_output --partial 'Bash timed out after 120 s'
	# The two newest share a time: the later line comes first; the old one is last.
	run --separate-stderr bllm-stats errors --json
	assert_success
	echo "$output" | jq_assert '.total_errors == 3 and .error_counts == {"api": 2, "timeout": 1}'
	echo "$output" | jq_assert '[.recent_errors[].message] ==
		["rate limited", "Bash timed out after 120 s", "overloaded (529)"]'
	run --separate-stderr bllm-stats errors --json --session s1 --since 1h
	echo "$output" | jq_assert '.total_errors == 1 and .recent_errors[0].error_type == "timeout"'
}

@test "errors keeps the 20 most recent" {
	for i in $(seq -w 1 30); do
		error s1 "2026-11-25T20:${i}:00.000Z" network "e$i"
	done >logs/metrics.ndjson
	run --separate-stderr bllm-stats errors --json
	assert_success
	echo "$output" | jq_assert '.total_errors == 30 and (.recent_errors | length) == 20'
	echo "$output" | jq_assert '.recent_errors[0].message == "e30" and .recent_errors[19].message == "e11"'
}

@test "the log directory comes from --log-dir, else LOG_DIR" {
	mkdir -p elsewhere
	call tester s9 "$NEW" 10 1 1 0 0 >elsewhere/metrics.ndjson
	run --separate-stderr bllm-stats --json --log-dir elsewhere
	echo "$output" | jq_assert '.agents | keys == ["tester"]'
	LOG_DIR=elsewhere run --separate-stderr bllm-stats --json
	echo "$output" | jq_assert '.agents | keys == ["tester"]'
}

@test "no metrics yet is not an error" {
	run --separate-stderr bllm-stats
	assert_success
	[ -z "$output" ]
	[[ "$stderr" == *"no metrics yet"* ]]
	run --separate-stderr bllm-stats --json
	assert_success
	echo "$output" | jq_assert '. == {"agents": {}, "cache": {"hits": 0, "misses": 0, "hit_rate": 0,
		"stores": 0, "evictions": 0, "size": 0}}'
	run --separate-stderr bllm-stats errors --json --log-dir missing
	assert_success
	echo "$output" | jq_assert '. == {"total_errors": 0, "error_counts": {}, "recent_errors": []}'
	run --separate-stderr bllm-stats errors
	assert_success
	[[ "$stderr" == *"no metrics yet"* ]]
}

@test "bad flags and a bad --since exit 2 with one line" {
	run --separate-stderr bllm-stats --frobnicate
	assert_failure 2
	[ "$stderr" = "bllm-stats: unknown option '--frobnicate'
Try 'bllm-stats --help'." ]
	run --separate-stderr bllm-stats --session
	assert_failure 2
	[[ "$stderr" == *"'--session' needs a value"* ]]
	run --separate-stderr bllm-stats frobnicate
	assert_failure 2
	[[ "$stderr" == *"unknown command 'frobnicate'"* ]]
	run --separate-stderr bllm-stats --since yesterday
	assert_failure 2
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"'yesterday'"*"30m"*"2026-11-25T20:30:00Z"* ]]
	run --separate-stderr bllm-stats --since 2026-11-25T20:30:00
	assert_failure 2
	[ -z "$output" ]
}

@test "--help documents every option; --version" {
	run --separate-stderr bllm-stats --help
	assert_success
	for opt in --json --session --since --log-dir --help --version errors LOG_DIR; do
		assert_output --partial -- "$opt"
	done
	run --separate-stderr bllm-stats --version
	assert_success
	assert_output --regexp '^bllm-stats [0-9]+\.[0-9]+'
}
