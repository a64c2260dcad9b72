#!/usr/bin/env bats
# make install: programs, aliases, config, prompts and man pages under a
# prefix; the installed config is found when the current directory has none.
bats_require_minimum_version 1.5.0
load helper

setup() { bllm_setup; }
teardown() { fake_stop; }

@test "make install puts everything under PREFIX, and the installed config is found" {
	prefix=$BATS_TEST_TMPDIR/prefix
	run make -s -C "$TOP" B="$BATS_TEST_TMPDIR/build" PREFIX="$prefix" install
	assert_success
	for p in bllm bllm-plan bllm-code bllm-review bllm-test bllm-commit bllm-agent bllm-manage \
		bllm-render bllm-session bllm-stats better-llm better-llm-cli; do
		[ -x "$prefix/bin/$p" ]
	done
	[ -f "$prefix/share/bllm/config/agent_config.json" ]
	[ -f "$prefix/share/bllm/prompts/tester.txt" ]
	[ -f "$prefix/share/man/man1/bllm-manage.1" ]
	[ ! -e "$prefix/bin/fake-anthropic" ]
	fake_start "$(scenario hi <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "hi"}]}}]}')"
	mkdir elsewhere && cd elsewhere
	run --separate-stderr "$prefix/bin/bllm-plan" "task"
	assert_success
	request 1 '.body.system[0].text' | jq -r . | grep -q "You are the planner"
}

@test "one build installed under two prefixes, without a rebuild: each finds its own share directory" {
	build=$BATS_TEST_TMPDIR/build
	run make -s -C "$TOP" B="$build" PREFIX="$BATS_TEST_TMPDIR/a" install
	assert_success
	run make -s -C "$TOP" B="$build" PREFIX=/opt/elsewhere DESTDIR="$BATS_TEST_TMPDIR/stage" install
	assert_success
	mv "$BATS_TEST_TMPDIR/stage/opt/elsewhere" "$BATS_TEST_TMPDIR/b"
	# the first prefix, which the build was made for, is gone
	rm -rf "$BATS_TEST_TMPDIR/a"
	fake_start "$(scenario hi <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "hi"}]}}]}')"
	mkdir elsewhere && cd elsewhere
	echo "You are the planner, from prefix b." >"$BATS_TEST_TMPDIR/b/share/bllm/prompts/planner.txt"
	run --separate-stderr "$BATS_TEST_TMPDIR/b/bin/bllm-plan" "task"
	assert_success
	request 1 '.body.system[0].text' | jq_assert 'contains("from prefix b")'
}
