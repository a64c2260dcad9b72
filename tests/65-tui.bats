#!/usr/bin/env bats
# bllm, the interactive terminal UI, driven through tmux.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	TMUX_SESSION="bllm-tui-$$-$BATS_TEST_NUMBER"
}
teardown() {
	tmux kill-session -t "$TMUX_SESSION" 2>/dev/null || true
	fake_stop
}

screen() { tmux capture-pane -p -S -200 -t "$TMUX_SESSION"; }

# wait_for TEXT: until the screen shows TEXT (at most 10 s).
wait_for() {
	for _ in $(seq 200); do screen | grep -qF -- "$1" && return 0; sleep 0.05; done
	echo "never appeared: $1" >&2
	screen >&2
	return 1
}

start_tui() {
	tmux new-session -d -s "$TMUX_SESSION" -x 180 -y 60 \
		"cd '$BATS_TEST_TMPDIR' && ANTHROPIC_BASE_URL=${ANTHROPIC_BASE_URL:-} ANTHROPIC_API_KEY=${ANTHROPIC_API_KEY:-} BLLM_STATE_DIR='$BLLM_STATE_DIR' LOG_DIR='$LOG_DIR' NO_COLOR=1 '$BLLM_BUILD/bllm' -C ws --sessions-dir sess; echo \"exit=\$?\" >done; sleep 29.5"
	wait_for "bllm>"
}

@test "without a terminal bllm refuses and points to bllm-manage" {
	run --separate-stderr bllm </dev/null
	assert_failure 2
	[[ "$stderr" == *"bllm-manage"* ]]
}

@test "--help and the better-llm alias" {
	run --separate-stderr better-llm --help
	assert_success
	assert_output --partial "/resume [ID]"
}

@test "a task typed at the prompt runs live; /sessions lists it; Ctrl-D quits" {
	cp -r "$TOP/examples/wordcount/." ws/
	fake_start "$TOP/examples/wordcount.manage.json"
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "/agents" Enter
	wait_for "Builds the code and runs the tests"
	tmux send-keys -t "$TMUX_SESSION" "add a -l flag to wordcount that prints the number of lines" Enter
	# after each worker the person may intervene; Enter continues at once
	for _ in $(seq 8); do
		screen | grep -q "session saved" && break
		wait_for "continuing in" && tmux send-keys -t "$TMUX_SESSION" Enter
		sleep 0.3
	done
	wait_for "session saved"
	screen | grep -q "Review cycle 1/3"
	screen | grep -q "status: completed (exit 0) · verified: yes"
	(cd ws && make -s test >/dev/null)
	tmux send-keys -t "$TMUX_SESSION" "/sessions" Enter
	wait_for "add a -l flag"
	tmux send-keys -t "$TMUX_SESSION" C-d
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
	[ -s state/history ]
}

@test "an unknown command is named, and /quit leaves" {
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "/frobnicate" Enter
	wait_for "unknown command /frobnicate"
	tmux send-keys -t "$TMUX_SESSION" "/quit" Enter
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ "$(cat done)" = "exit=0" ]
}
