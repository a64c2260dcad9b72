#!/usr/bin/env bats
# Worker programs: flags, help, config lookup and errors, credentials, .env.
bats_require_minimum_version 1.5.0
load helper

setup() { bllm_setup; }
teardown() { fake_stop; }

WORKERS="bllm-plan bllm-code bllm-review bllm-test bllm-commit"

hello_scenario() {
	scenario hello <<'JSON'
{"rules": [{"name": "hi", "reply": {"content": [{"type": "text", "text": "hello"}]}}]}
JSON
}

@test "every worker has --help on stdout, exit 0, listing the common flags" {
	for p in $WORKERS bllm-agent; do
		run --separate-stderr "$p" --help
		assert_success
		assert_output --partial "Usage: $p"
		for f in --config --model --workdir --max-turns --stream-deltas --no-forward --version; do
			assert_output --partial -- "$f"
		done
		[ -z "$stderr" ]
	done
}

@test "every worker has --version" {
	for p in $WORKERS bllm-agent; do
		run --separate-stderr "$p" --version
		assert_success
		assert_output --regexp "^$p [0-9]+\.[0-9]+"
	done
}

@test "a bad flag prints one line and Try '--help', exit 2, nothing on stdout" {
	run --separate-stderr bllm-code --frobnicate
	assert_failure 2
	[ -z "$output" ]
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 2 ]
	[[ "$stderr" == *"unknown option '--frobnicate'"* ]]
	[[ "$stderr" == *"Try 'bllm-code --help'."* ]]
}

@test "a bad flag value is a usage error naming the flag" {
	run --separate-stderr bllm-plan --max-turns zero "task"
	assert_failure 2
	[[ "$stderr" == *"--max-turns"*"zero"* ]]
	run --separate-stderr bllm-plan --max-turns
	assert_failure 2
	[[ "$stderr" == *"needs a value"* ]]
}

@test "bllm-agent with an unknown agent exits 2 and lists the known ones" {
	run --separate-stderr bllm-agent codr "task"
	assert_failure 2
	[[ "$stderr" == *'unknown agent "codr"'* ]]
	[[ "$stderr" == *"planner, coder, reviewer, tester, committer"* ]]
	[ "$(last_result | jq -r .exit_code)" = 2 ]
}

@test "bllm-agent runs a custom agent from the config with its tools" {
	agents_set '.agents += [{"name": "docs", "role": "writes docs", "system_prompt_file": "prompts/docs.txt", "tools": ["read", "GLOB"], "model": "claude-haiku-4-5"}]'
	echo "You are the docs writer." >prompts/docs.txt
	fake_start "$(hello_scenario)"
	run --separate-stderr bllm-agent docs -C ws "write the docs"
	assert_success
	[ "$(request 1 '.body.system[0].text' | jq -r .)" = "You are the docs writer." ]
	[ "$(request 1 '[.body.tools[].name]')" = '["Read","Glob"]' ]
	[ "$(request 1 '.body.model')" = '"claude-haiku-4-5"' ]
}

@test "--config FILE that does not exist exits 5 naming the path" {
	run --separate-stderr bllm-plan --config /nonexistent/agents.json "task"
	assert_failure 5
	[[ "$stderr" == *"/nonexistent/agents.json"* ]]
	[ "$(last_result | jq -r .status)" = error ]
}

@test "no config anywhere exits 5 naming the paths tried" {
	mkdir empty && cd empty
	run --separate-stderr bllm-plan "task"
	assert_failure 5
	[[ "$stderr" == *"config/agent_config.json"* ]]
	[[ "$stderr" == *"--config"* ]]
}

@test "a config that is not JSON exits 2 naming the file" {
	echo '{"agents": [' >config/agent_config.json
	run --separate-stderr bllm-plan "task"
	assert_failure 2
	[[ "$stderr" == *"config/agent_config.json: invalid JSON"* ]]
}

@test "a system_config field of the wrong type exits 2 naming the field" {
	config_set '.performance.worker_retry_max_attempts = "three"'
	run --separate-stderr bllm-plan "task"
	assert_failure 2
	[[ "$stderr" == *'field "performance.worker_retry_max_attempts": expected a number, got a string'* ]]
}

@test "an unknown tool in the agent config exits 2 naming it" {
	agents_set '(.agents[] | select(.name == "planner") | .tools) = ["Read", "Teleport"]'
	run --separate-stderr bllm-plan "task"
	assert_failure 2
	[[ "$stderr" == *'unknown tool Teleport'* ]]
}

@test "a missing prompt file warns (stderr and a log event) and uses the built-in prompt" {
	rm prompts/planner.txt
	fake_start "$(hello_scenario)"
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[[ "$stderr" == *"warning"*"prompts/planner.txt not found"* ]]
	[ "$(events_of log | jq -r .level)" = warning ]
	request 1 '.body.system[0].text' | grep -q "You are the planner"
}

@test "no credentials exits 5 naming both variables, with a result event" {
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 5
	[[ "$stderr" == *ANTHROPIC_API_KEY* ]]
	[[ "$stderr" == *CLAUDE_CODE_OAUTH_TOKEN* ]]
	[ "$(printf '%s\n' "$output" | head -n 1 | jq -r .type)" = init ]
	[ "$(printf '%s\n' "$output" | tail -n 1 | jq -r .exit_code)" = 5 ]
}

@test ".env supplies the key without overriding the environment" {
	fake_start "$(hello_scenario)"
	unset ANTHROPIC_API_KEY
	printf '# comment\nexport ANTHROPIC_API_KEY="from-dotenv-key"\nBLLM_MODEL=model-from-dotenv\n' >.env
	run --separate-stderr bllm-plan -C ws "task"
	assert_success
	[ "$(request 1 '.headers["x-api-key"]')" = '"[redacted]"' ]
	[ "$(request 1 '.body.model')" = '"model-from-dotenv"' ]
	BLLM_MODEL=model-from-env run --separate-stderr bllm-plan -C ws "task"
	[ "$(request 2 '.body.model')" = '"model-from-env"' ]
}

@test "--model beats BLLM_MODEL and the agent's model" {
	fake_start "$(hello_scenario)"
	BLLM_MODEL=env-model run --separate-stderr bllm-plan --model flag-model -C ws "task"
	assert_success
	[ "$(request 1 '.body.model')" = '"flag-model"' ]
}

@test "--workdir that does not exist is a usage error" {
	run --separate-stderr bllm-plan -C /nonexistent/dir "task"
	assert_failure 2
	[[ "$stderr" == *"/nonexistent/dir"* ]]
}

@test "empty stdin and no task argument exits 2 without calling the API" {
	fake_start "$(hello_scenario)"
	run --separate-stderr bllm-plan -C ws </dev/null
	assert_failure 2
	[[ "$stderr" == *"no task"* ]]
	[ "$(request_count)" = 0 ]
}

@test "a terminal on stdin is never waited on" {
	command -v script >/dev/null || skip "script(1) not installed"
	run timeout 10 script -qec "$BLLM_BUILD/bllm-plan -C ws" /dev/null
	[ "$status" -eq 2 ]
	[[ "$output" == *"no task"* ]]
}

@test "scripts/install.sh does nothing when every package is present" {
	run "$TOP/scripts/install.sh"
	assert_success
	[ -z "$output" ]
}

# last_request_text: the first user message of the newest request fake-anthropic got.
last_request_text() { tail -n 1 "$FAKE_LOG" | jq -c '.body.messages[0].content[0].text'; }

@test "option parsing stops at the first operand: a task may hold -v and --help" {
	fake_start "$(hello_scenario)"
	for p in bllm-code "bllm-agent coder"; do
		run --separate-stderr $p -C ws fix the -v flag and --help
		assert_success
		last_request_text | jq_assert '. == "fix the -v flag and --help"'
	done
	# bllm-agent takes its options after the agent's name too
	run --separate-stderr bllm-agent coder --max-turns 2 -C ws hi -q
	assert_success
	last_request_text | jq_assert '. == "hi -q"'
}

@test "bllm-manage stops option parsing at the first operand" {
	fake_start "$(hello_scenario)"
	run --separate-stderr bllm-manage --no-interactive -C ws fix the -v flag
	assert_success
	last_request_text | jq_assert '. == "fix the -v flag"'
	# and before the first operand a bad flag is still an error
	run --separate-stderr bllm-manage -Z task
	assert_failure 2
	[[ "$stderr" == *"unknown option '-Z'"* ]]
}

@test "out-of-range config values exit 2 naming the key, the value and the allowed range" {
	fake_start "$(hello_scenario)"
	cp config/system_config.json saved.json
	for change in '.workflow_limits.max_turns = -1' '.workflow_limits.max_turns = 0' \
		'.workflow_limits.max_turns = 1e300' '.workflow_limits.max_turns = 1.5' \
		'.timeouts.coder = -5' '.api.max_tokens = -1' '.logging.format = "xml"'; do
		cp saved.json config/system_config.json
		config_set "$change"
		run --separate-stderr bllm-code -C ws "task"
		assert_failure 2
		key=$(sed 's/^\.\([a-z_.]*\) =.*/\1/' <<<"$change")
		[[ "$stderr" == *"field \"$key\": expected"*", got "* ]]
	done
	[ "$(request_count)" -eq 0 ]
}

@test "bad environment values exit 2 naming the variable and what is allowed" {
	fake_start "$(hello_scenario)"
	WORKER_TIMEOUT_CODER=abc run --separate-stderr bllm-manage --no-interactive -C ws "task"
	assert_failure 2
	[[ "$stderr" == *"WORKER_TIMEOUT_CODER=abc: expected a number above 0"* ]]
	BLLM_API_TIMEOUT=-3 run --separate-stderr bllm-code -C ws "task"
	assert_failure 2
	[[ "$stderr" == *"BLLM_API_TIMEOUT=-3"* ]]
	LOG_FORMAT=xml run --separate-stderr bllm-code -C ws "task"
	assert_failure 2
	[[ "$stderr" == *'LOG_FORMAT: expected one of json, console, got "xml"'* ]]
	LOG_LEVEL=LOUD run --separate-stderr bllm-code -C ws "task"
	assert_failure 2
	[[ "$stderr" == *"LOG_LEVEL: expected one of DEBUG, INFO, WARNING"* ]]
	[ "$(request_count)" -eq 0 ]
}

@test "an unknown key in system_config.json is a warning naming it, once" {
	fake_start "$(hello_scenario)"
	config_set '.workflow_limits.max_turnz = 3'
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	[[ "$stderr" == *'warning: '*'system_config.json: unknown key "workflow_limits.max_turnz" (ignored)'* ]]
	run --separate-stderr bllm-manage --no-interactive -C ws "task"
	assert_success
	[ "$(grep -c 'unknown key' <<<"$stderr")" -eq 1 ]
}
