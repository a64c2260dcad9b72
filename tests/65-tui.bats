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
	assert_output --partial "--sandbox MODE"
}

@test "--sandbox takes sandbox or off; anything else is a usage error" {
	run --separate-stderr bllm --sandbox loose
	assert_failure 2
	[[ "$stderr" == *'--sandbox: expected "sandbox" or "off", got "loose"'* ]]
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
	# the pause counted down
	screen | grep -q "continuing in 5s"
	tmux send-keys -t "$TMUX_SESSION" "/cost" Enter
	wait_for "1 request:"
	screen | grep -Eq "^  coder +2 "
	screen | grep -Eq "^  total +[0-9]+ "
	tmux send-keys -t "$TMUX_SESSION" "/diff" Enter
	wait_for "wordcount.c +2 -0"
	screen | grep -q "^+.*lines++;"
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

# one_line_scenario TEXT: every request gets TEXT as the answer.
one_line_scenario() {
	scenario reply <<EOF
{"rules": [{"reply": {"content": [{"type": "text", "text": "$1"}]}}]}
EOF
}

# wait_done: the TUI exited; its status is in ./done.
wait_done() {
	for _ in $(seq 100); do [ -s done ] && break; sleep 0.05; done
	[ -s done ]
}

# wait_requests N: fake-anthropic has received at least N requests (at most 10 s).
wait_requests() {
	for _ in $(seq 200); do [ "$(request_count)" -ge "$1" ] && return 0; sleep 0.05; done
	echo "fewer than $1 requests" >&2
	return 1
}

@test "a second task continues the session: the manager sees the first; Ctrl-N starts afresh" {
	fake_start "$(one_line_scenario "Noted, nothing to change.")"
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "remember the word PELICAN" Enter
	wait_for "session saved"
	tmux send-keys -t "$TMUX_SESSION" "/model claude-test-other" Enter
	wait_for "model for the next runs: claude-test-other"
	tmux send-keys -t "$TMUX_SESSION" "which word did I ask you to remember" Enter
	wait_requests 2
	wait_for "which word did I ask you to remember"
	for _ in $(seq 100); do [ "$(screen | grep -c "session saved")" -ge 2 ] && break; sleep 0.05; done
	[ "$(request_count)" -eq 2 ]
	# the second request carries the first request and its result, then the new one
	request 2 '.body.messages[0].content' | grep -q "remember the word PELICAN"
	request 2 '.body.messages[0].content' | grep -q "Noted, nothing to change."
	request 2 '.body.messages[0].content' | grep -q "The new request.*which word did I ask you to remember"
	[ "$(request 2 '.body.model')" = '"claude-test-other"' ]
	[ "$(request 1 '.body.model')" != '"claude-test-other"' ]
	[ "$(request 1 '.body.messages[0].content[0].text')" = '"remember the word PELICAN"' ]
	# one session, with both turns
	[ "$(ls sess/*.ndjson | wc -l)" -eq 1 ]
	zcat sess/*.json.gz | jq_assert '(.turns | length) == 2 and .user_request == "remember the word PELICAN"'
	tmux send-keys -t "$TMUX_SESSION" "/cost" Enter
	wait_for "2 requests:"
	tmux send-keys -t "$TMUX_SESSION" C-n
	wait_for "new session"
	tmux send-keys -t "$TMUX_SESSION" "a fresh start" Enter
	wait_requests 3
	[ "$(request_count)" -eq 3 ]
	refute_file_has PELICAN <(request 3 '.body.messages')
	[ "$(request 3 '.body.messages[0].content[0].text')" = '"a fresh start"' ]
	for _ in $(seq 100); do [ "$(ls sess/*.ndjson | wc -l)" -eq 2 ] && break; sleep 0.05; done
	[ "$(ls sess/*.ndjson | wc -l)" -eq 2 ]
	tmux send-keys -t "$TMUX_SESSION" "/new" Enter
	wait_for "the next task starts a new conversation"
}

@test "/resume without an ID lists recent sessions to pick; the picked one goes on" {
	fake_start "$(one_line_scenario "Answered.")"
	bllm-manage -C ws --sessions-dir sess "the older request about ALBATROSS" >/dev/null 2>&1 || true
	sleep 1.1	# distinct, ordered IDs
	bllm-manage -C ws --sessions-dir sess "the newer request" >/dev/null 2>&1 || true
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "/resume" Enter
	wait_for "resume which? [1-2"
	screen | grep -Eq "^  1  [0-9]{8}-[0-9]{6}-[0-9a-f]{6}  (just now|[0-9]+s ago) +(completed|failed) +the newer request$"
	screen | grep -Eq "^  2  [0-9]{8}-[0-9]{6}-[0-9a-f]{6} .* the older request about ALBATROSS$"
	tmux send-keys -t "$TMUX_SESSION" "2" Enter
	wait_for "the next task continues it"
	tmux send-keys -t "$TMUX_SESSION" "and now?" Enter
	wait_requests 3
	request 3 '.body.messages[0].content' | grep -q "ALBATROSS"
	refute_file_has "the newer request" <(request 3 '.body.messages[0].content')
	wait_for "session saved"
	[ "$(ls sess/*.ndjson | wc -l)" -eq 2 ]
	# an unknown ID is one line naming it
	tmux send-keys -t "$TMUX_SESSION" "/resume 1999" Enter
	for _ in $(seq 200); do screen | grep -q "^bllm: .*1999" && break; sleep 0.05; done
	screen | grep -q "^bllm: .*1999"
}

@test "Tab completes @agents and /commands, and file names only after a path-like prefix" {
	cp -r "$TOP/examples/wordcount/." ws/
	touch ws/coconut ws/rest
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "@co" Tab
	wait_for "@coder  @committer"
	refute_file_has coconut <(screen)
	tmux send-keys -t "$TMUX_SESSION" "d" Tab "fix it"
	wait_for "bllm> @coder fix it"
	tmux send-keys -t "$TMUX_SESSION" C-u "/re" Tab
	tmux send-keys -t "$TMUX_SESSION" "X"
	wait_for "bllm> /resume X"
	refute_file_has rest <(screen)
	tmux send-keys -t "$TMUX_SESSION" C-u "look at wo" Tab "X"
	wait_for "bllm> look at woX"
	tmux send-keys -t "$TMUX_SESSION" C-u "look at ./wo" Tab "X"
	wait_for "bllm> look at ./wordcount.c X"
	tmux send-keys -t "$TMUX_SESSION" C-u "/quit" Enter
	wait_done
}

@test "Ctrl-C twice on an empty prompt quits; once shows a hint; a line with text is only cleared" {
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "some text"
	wait_for "bllm> some text"
	tmux send-keys -t "$TMUX_SESSION" C-c
	sleep 0.2
	tmux send-keys -t "$TMUX_SESSION" C-c
	wait_for "Ctrl-C again to quit"
	[ ! -s done ]
	sleep 2.2	# too late for the second: a new hint
	tmux send-keys -t "$TMUX_SESSION" C-c
	sleep 0.3
	[ ! -s done ]
	[ "$(screen | grep -c "Ctrl-C again to quit")" -eq 2 ]
	tmux send-keys -t "$TMUX_SESSION" C-c
	wait_done
	[ "$(cat done)" = "exit=0" ]
}

@test "Ctrl-D quits" {
	start_tui
	tmux send-keys -t "$TMUX_SESSION" C-d
	wait_done
	[ "$(cat done)" = "exit=0" ]
}

@test "Ctrl-C at the intervention pause stops the run at once; the pause counts down" {
	cp -r "$TOP/examples/wordcount/." ws/
	fake_start "$TOP/examples/wordcount.manage.json"
	config_set '.intervention_wait_seconds = 30'
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "add a -l flag" Enter
	wait_for "continuing in 30s"
	wait_for "continuing in 29s"
	tmux send-keys -t "$TMUX_SESSION" C-c
	t0=$(date +%s%N)
	wait_for "session saved"
	t1=$(date +%s%N)
	echo "stopped after $(( (t1 - t0) / 1000000 )) ms" >&2
	[ $(( (t1 - t0) / 1000000 )) -lt 1000 ]
	screen | grep -q "status: interrupted (exit 130)"
	wait_for "bllm>"
	tmux send-keys -t "$TMUX_SESSION" "/quit" Enter
	wait_done
	[ "$(cat done)" = "exit=0" ]
}

@test "Ctrl-C while a run goes on stops it, saves it, and returns to the prompt" {
	scen=$(scenario slow <<'EOF'
{"rules": [{"delay_ms": 20000, "reply": {"content": [{"type": "text", "text": "late"}]}}]}
EOF
)
	fake_start "$scen"
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "take your time" Enter
	wait_requests 1
	tmux send-keys -t "$TMUX_SESSION" C-c
	wait_for "session saved"
	screen | grep -q "status: interrupted (exit 130)"
	tmux send-keys -t "$TMUX_SESSION" "/sessions" Enter
	wait_for "take your time"
	tmux send-keys -t "$TMUX_SESSION" "/quit" Enter
	wait_done
}

@test "/help lists every command and key; /stats shows the errors too" {
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "/help" Enter
	for c in /new /resume /model /diff /cost /stats /agents /sessions /help /quit Ctrl-N Ctrl-C Ctrl-D Tab; do
		wait_for "$c"
	done
	tmux send-keys -t "$TMUX_SESSION" "/stats" Enter
	wait_for "bllm-stats: no metrics yet"
	[ "$(screen | grep -c "bllm-stats: no metrics yet")" -eq 2 ]
	tmux send-keys -t "$TMUX_SESSION" "/diff" Enter
	wait_for "no run yet in this session"
}

@test "/resume ID of a conversation whose last request was stopped runs that request again, the first as context" {
	scen=$(scenario conv <<'EOF'
{"rules": [
 {"name": "slow-once", "match": {"last_user": "the SECOND request"}, "times": 1, "delay_ms": 20000,
  "reply": {"content": [{"type": "text", "text": "late"}]}},
 {"reply": {"content": [{"type": "text", "text": "Answered."}]}}
]}
EOF
)
	fake_start "$scen"
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "the FIRST request" Enter
	wait_for "session saved"
	tmux send-keys -t "$TMUX_SESSION" "the SECOND request" Enter
	wait_requests 2
	tmux send-keys -t "$TMUX_SESSION" C-c
	wait_for "status: interrupted (exit 130)"
	id=$(basename sess/*.ndjson .ndjson)
	tmux send-keys -t "$TMUX_SESSION" "/new" Enter
	wait_for "the next task starts a new conversation"
	tmux send-keys -t "$TMUX_SESSION" "/resume ${id:0:17}" Enter
	wait_for "resuming session $id: its last request ended interrupted"
	wait_requests 3
	for _ in $(seq 100); do [ "$(screen | grep -c "session saved")" -ge 3 ] && break; sleep 0.05; done
	request 3 '.body.messages[0].content[0].text' | grep -q "The new request.*the SECOND request"
	request 3 '.body.messages[0].content[0].text' | grep -q "Request 1.*the FIRST request"
	refute_file_has "Request 2" <(request 3 '.body.messages[0].content[0].text')
	[ "$(ls sess/*.ndjson | wc -l)" -eq 1 ]
	# the resumed request replaced its stopped attempt
	zcat "sess/$id.json.gz" | jq_assert '[.turns[].request] == ["the FIRST request", "the SECOND request"]'
	zcat "sess/$id.json.gz" | jq_assert '.turns[1].status != "interrupted"'
}

@test "SIGTERM at the prompt quits with 130, the history saved" {
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "/agents" Enter
	wait_for "coder"
	shell=$(tmux display-message -p -t "$TMUX_SESSION" '#{pane_pid}')
	pid=$(pgrep -P "$shell" -x bllm)
	[ -n "$pid" ]
	kill -TERM "$pid"
	wait_done
	[ "$(cat done)" = "exit=130" ]
	[ -s state/history ]
}

@test "the status line shows at the bottom during a run and is gone at the prompt" {
	scen=$(scenario slow <<'EOF'
{"rules": [{"delay_ms": 2500, "reply": {"content": [{"type": "text", "text": "# Done\n\nAll **good**."}]}}]}
EOF
)
	fake_start "$scen"
	start_tui
	tmux send-keys -t "$TMUX_SESSION" "do it slowly" Enter
	wait_for "manager thinking…"
	# the last line written is the status line
	[[ "$(screen | sed '/^$/d' | tail -n 1)" == *"manager thinking… "*" turns · "*" tokens · \$"* ]]
	wait_for "session saved"
	for _ in $(seq 200); do [ "$(screen | sed '/^$/d' | tail -n 1)" = "bllm>" ] && break; sleep 0.05; done
	[ "$(screen | sed '/^$/d' | tail -n 1)" = "bllm>" ]
	refute_file_has "thinking…" <(screen)
	# the reply was rendered: the heading and bold without their markup
	screen | grep -qx "Done"
	screen | grep -qx "All good."
}
