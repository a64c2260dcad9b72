#!/usr/bin/env bats
# bllm in Makefiles and CI: examples/ci/bllm.mk against the test server,
# and the Markdown job summary (bllm-render --format markdown).
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	MK="$TOP/examples/ci/bllm.mk"
}
teardown() {
	fake_stop
}

# The manager calls the coder (who writes out.txt) then the tester, who runs
# `true`, or `exit 3` when the task says fail-me.
ci_scenario() {
	jq -n '{rules: [
	  {match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", name: "coder", input: {task: "write it"}}]}},
	  {match: {system: "You are the manager", turn: 1},
	   reply: {content: [{type: "tool_use", name: "tester", input: {task: "test it"}}]}},
	  {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done\nTERMINATE"}]}},
	  {match: {system: "You are the coder", turn: 0},
	   reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "out.txt", content: "hello\n"}}]}},
	  {match: {system: "You are the tester", turn: 0, body: "fail-me"},
	   reply: {content: [{type: "tool_use", name: "Bash", input: {command: "exit 3"}}]}},
	  {match: {system: "You are the tester", turn: 0},
	   reply: {content: [{type: "tool_use", name: "Bash", input: {command: "true"}}]}},
	  {reply: {content: [{type: "text", text: "ok"}]}}]}' >"$BATS_TEST_TMPDIR/ci.json"
	echo "$BATS_TEST_TMPDIR/ci.json"
}

@test "make agent TASK=...: runs the task within its budget, writes the stream, the session and summary.md" {
	fake_start "$(ci_scenario)"
	run make -s -f "$MK" agent BLLM_WORKDIR=ws BLLM_MAX_COST_USD=0.75 TASK='add a "quoted" $HOME flag; echo pwned'
	assert_success
	assert_output --partial "bllm-manage: exit 0; summary in bllm-out/summary.md"
	[ "$(cat bllm-out/exit-code)" = 0 ]
	[ "$(cat ws/out.txt)" = hello ]
	# the task arrived as typed, and the budget was set
	jq_assert 'select(.type == "task" and .agent == "manager") | .text == "add a \"quoted\" $HOME flag; echo pwned"' bllm-out/events.ndjson
	jq_assert 'select(.type == "init" and .agent == "manager") | .limits.max_cost_usd == 0.75' bllm-out/events.ndjson
	[ "$(ls bllm-out/sessions/*.json.gz | wc -l)" -eq 1 ]
	md=$(cat bllm-out/summary.md)
	[[ "$md" == "# bllm: completed, verified (exit 0)"* ]]
	[[ "$md" == *'**Task:** add a "quoted" $HOME flag; echo pwned'* ]]
	[[ "$md" == *"## Agents"*"| manager | 1 |"*"| coder | 1 |"*"| tester | 1 |"*"| **total** |"* ]]
	[[ "$md" == *"## Verification"*'| `true` | 0 | passed |'*"Verified: **yes** (1 passed, 0 failed)"* ]]
	[[ "$md" == *"## Files changed"*'- `out.txt`'* ]]
}

@test "make agent fails with the task and keeps bllm's exit code in exit-code" {
	fake_start "$(ci_scenario)"
	run make -s -f "$MK" agent BLLM_WORKDIR=ws TASK="fail-me now"
	assert_failure
	[ "$(cat bllm-out/exit-code)" = 1 ]
	md=$(cat bllm-out/summary.md)
	[[ "$md" == "# bllm: failed (exit 1)"* ]]
	[[ "$md" == *'| `exit 3` | 3 | **failed** |'* ]]
	run make -s -f "$MK" agent BLLM_WORKDIR=ws
	assert_failure
	assert_output --partial 'usage: make agent TASK="what to do"'
}

@test "make agent-batch TASKS=file: every task on its branch, one line each, a report each" {
	fake_start "$(ci_scenario)"
	git init -q proj
	echo base >proj/base.txt
	git -C proj add base.txt
	git -C proj -c user.name=t -c user.email=t@t commit -qm base
	printf 'first task\nsecond task\n' >tasks.txt
	run make -s -f "$MK" agent-batch BLLM_WORKDIR=proj TASKS=tasks.txt \
		BLLM_FLAGS="--config $BATS_TEST_TMPDIR/config/agent_config.json"
	assert_success
	[ "$(cat bllm-out/exit-code)" = 0 ]
	[ "$(wc -l <bllm-out/batch.ndjson)" -eq 2 ]
	jq_assert '.status == "completed" and .verified' bllm-out/batch.ndjson
	[ "$(git -C proj for-each-ref --format='%(refname:short)' refs/heads/bllm/batch | tr '\n' ' ')" = "bllm/batch/1 bllm/batch/2 " ]
	[ "$(grep -c '^# bllm: completed, verified (exit 0)' bllm-out/summary.md)" -eq 2 ]
	# each task's budget reached its bllm-manage
	for e in $(jq -r .events bllm-out/batch.ndjson); do
		jq_assert 'select(.type == "init" and .agent == "manager") | .limits.max_cost_usd == 2' "$e"
	done
}

@test "bllm-render --format markdown of a stream without a result says so; a bad format is a usage error" {
	run bllm-render --format markdown <<<'{"v":1,"type":"task","agent":"manager","parent_id":null,"text":"t"}'
	assert_failure 1
	assert_line --index 0 "# bllm: no result"
	run --separate-stderr bllm-render --format html </dev/null
	assert_failure 2
	[ "$stderr" = "bllm-render: --format: expected text or markdown, got \"html\"
Try 'bllm-render --help'." ]
}

@test "the CI examples run the Makefile target, upload bllm-out and fail on the exit code" {
	for f in github-actions.yml gitlab-ci.yml; do
		grep -qE 'examples/ci/bllm\.mk"? agent' "$TOP/examples/ci/$f"
		grep -qF 'bllm-out/' "$TOP/examples/ci/$f"
		grep -qF 'exit "$code"' "$TOP/examples/ci/$f"
	done
	grep -qF 'GITHUB_STEP_SUMMARY' "$TOP/examples/ci/github-actions.yml"
	grep -qF 'actions/upload-artifact' "$TOP/examples/ci/github-actions.yml"
	grep -qF 'when: always' "$TOP/examples/ci/gitlab-ci.yml"
}
