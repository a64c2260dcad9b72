#!/usr/bin/env bats
# make demo, both ways: it really changes the sample project and its tests pass.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	export TMPDIR=$BATS_TEST_TMPDIR
}

# The project path the demo printed.
project_of() { printf '%s\n' "$output" | sed -n 's/^The changed project: \([^ ]*\) .*/\1/p'; }

@test "the demo runs bllm-manage offline: plan, code, review with a rework cycle, test" {
	run --separate-stderr "$TOP/scripts/demo.sh"
	assert_success
	[[ "$stderr" == *"Review cycle 1/3"* ]]
	[[ "$stderr" == *"status: completed (exit 0) · verified: yes"* ]]
	p=$(project_of)
	[ -d "$p" ]
	(cd "$p" && make -s test)
	grep -q 'the last flag wins' "$p/test.sh"
	[[ "$output" == *"bllm-session --sessions-dir"* ]]
	sess=$(printf '%s\n' "$output" | sed -n 's/.*bllm-session --sessions-dir \([^ ]*\) list/\1/p')
	run bllm-session --sessions-dir "$sess" list --json
	jq_assert 'length == 1 and .[0].result.status == "completed"' <<<"$output"
}

@test "the demo as a shell pipeline of workers" {
	run --separate-stderr "$TOP/scripts/demo.sh" pipeline
	assert_success
	p=$(project_of)
	(cd "$p" && make -s test)
	[[ "$output" == *"✓ tester completed"* ]]
}
