#!/usr/bin/env bats
# What a person sees on a terminal: the readable view instead of JSON, the
# manager's text as it streams, a status line, no control words; and the
# unchanged event stream when stdout is not a terminal.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	TMUX_SESSION="bllm-live-$$-$BATS_TEST_NUMBER"
}
teardown() {
	fake_stop
	tmux kill-session -t "$TMUX_SESSION" 2>/dev/null
	true
}

screen() { tmux capture-pane -p -J -S -300 -t "$TMUX_SESSION"; }

# on_tty COMMAND: runs COMMAND (a shell string) in a 120x40 tmux pane, in the
# scratch directory, with the fake server's address; "exit=N" goes to ./done.
on_tty() {
	rm -f done
	tmux new-session -d -s "$TMUX_SESSION" -x 120 -y 40 \
		"cd '$BATS_TEST_TMPDIR' && export ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY NO_COLOR=1 PATH='$PATH'; $1; echo \"exit=\$?\" >done; sleep 60"
}

wait_done() {
	for _ in $(seq "${1:-200}"); do [ -s done ] && return 0; sleep 0.05; done
	echo "the command did not finish; screen:" >&2
	screen >&2
	return 1
}

# wait_screen TEXT [TRIES]: until TEXT is on the screen (0.05 s a try).
wait_screen() {
	for _ in $(seq "${2:-200}"); do screen | grep -qF -- "$1" && return 0; sleep 0.05; done
	echo "not on the screen: $1" >&2
	screen >&2
	return 1
}

refute_screen() {
	if screen | grep -qF -- "$1"; then
		echo "on the screen, but should not be: $1" >&2
		screen >&2
		return 1
	fi
}

# The manager calls the coder, which edits a file; the manager then answers
# in Markdown and ends with TERMINATE (each event of that reply dripped).
edit_scenario() {
	printf 'int main(void)\n{\n\treturn 1;\n}\n' >ws/main.c
	scenario edit <<JSON
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "make main return 0"}}]}},
 {"match": {"system": "You are the manager"}, "drip_ms": ${1:-0},
  "reply": {"content": [{"type": "text", "text": "# Summary\n\nThe coder made **main** return \`0\`.\n\nVERDICT: APPROVED\n\nAll done.\nTERMINATE"}]}},
 {"match": {"system": "You are the coder", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "Edit", "input": {"file_path": "main.c", "old_string": "return 1;", "new_string": "return 0;"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "Changed main.c."}]}}
]}
JSON
}

@test "bllm-manage on a terminal shows the readable view, never an event line" {
	fake_start "$(edit_scenario)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	screen | grep -q "coder completed"
	screen | grep -q "session saved"
	refute_screen '{"v":'
	refute_screen '"type":'
}

@test "on a terminal the control words are not shown, nor saved in result.text" {
	fake_start "$(edit_scenario)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	wait_screen "All done."
	refute_screen "TERMINATE"
	refute_screen "VERDICT"
	run bllm-session --sessions-dir sess show --json "$(ls sess | sed -n 's/\.json\.gz$//p')"
	[[ "$output" != *TERMINATE* ]]
}

@test "bllm-manage --json writes the event stream even to a terminal" {
	fake_start "$(edit_scenario)"
	on_tty "bllm-manage --json --no-interactive -C ws --sessions-dir sess 'fix main' 2>/dev/null"
	wait_done
	screen | grep -q '^{"v":1,"type":"init","agent":"manager"'
	screen | grep -q '"type":"result","agent":"manager"'
}

@test "piped, bllm-manage writes only event lines: no view, no deltas, no control words in texts" {
	fake_start "$(edit_scenario)"
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'
	printf '%s\n' "$output" | jq_assert '.v == 1 and (.type | type == "string")'
	refute_line --partial "text_delta"
	refute_output --partial $'\e'
	refute_output --partial "thinking…"
	last_result | jq -r .text >text
	printf '# Summary\n\nThe coder made **main** return `0`.\n\nAll done.\n' | cmp - text
	any_event '.type == "text" and .agent == "manager" and (.text | contains("TERMINATE"))'
}

@test "a worker on a terminal shows the view; --json and a pipe give the stream" {
	fake_start "$(scenario one <<'JSON'
{"rules": [{"reply": {"content": [{"type": "text", "text": "## Plan\n\n1. do it\n\nTERMINATE"}]}}]}
JSON
)"
	on_tty "bllm-plan 'make a plan'"
	wait_done
	wait_screen "planner completed"
	screen | grep -q "1. do it"
	refute_screen '{"v":'
	refute_screen "TERMINATE"
	tmux kill-session -t "$TMUX_SESSION"
	on_tty "bllm-plan --json 'make a plan'"
	wait_done
	screen | grep -q '^{"v":1,"type":"init","agent":"planner"'
	run --separate-stderr bllm-plan 'make a plan'
	printf '%s\n' "$output" | jq_assert '.v == 1'
	[ "$(printf '%s\n' "$output" | jq -r .type | tr '\n' ' ')" = "init task usage text result " ]
}

@test "the manager's text is on the screen before its reply is complete" {
	fake_start "$(edit_scenario 400)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_screen "The coder made" 300
	# the reply is still streaming: its end is not there yet, nor the summary
	refute_screen "All done."
	refute_screen "session saved"
	wait_done 300
	wait_screen "All done."
}

@test "a status line while a run goes on, redrawn in place, gone at the end" {
	fake_start "$(scenario slow <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "planner", "input": {"task": "plan"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "done"}]}},
 {"match": {"system": "You are the planner"}, "delay_ms": 3500,
  "reply": {"content": [{"type": "text", "text": "the plan"}]}}
]}
JSON
)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'plan it'"
	wait_screen "planner thinking… 1s" 100
	[ "$(screen | sed '/^$/d' | grep -c 'thinking…')" -eq 1 ]
	screen | sed '/^$/d' | tail -n 1 | grep -q "planner thinking… .* turn.* tokens · [$]0"
	wait_screen "planner thinking… 2s" 100
	[ "$(screen | sed '/^$/d' | grep -c 'thinking…')" -eq 1 ]
	wait_done
	refute_screen "thinking…"
	refute_screen "working ·"
	screen | sed '/^$/d' | tail -n 1 | grep -q "session saved"
}

@test "files_changed: what Write, Edit and Bash changed, in the tool results, the workers' and the manager's result" {
	fake_start "$(scenario files <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "change things"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "done"}]}},
 {"match": {"system": "You are the coder", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "w.txt", "content": "w\n"}}]}},
 {"match": {"system": "You are the coder", "turn": 1},
  "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "mkdir -p sub && echo b >sub/made.txt && cat w.txt"}}]}},
 {"match": {"system": "You are the coder", "turn": 2},
  "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "ls"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "ok"}]}}
]}
JSON
)"
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess 'change'
	events_of tool_result | jq -c 'select(.agent == "coder") | .files_changed' >changed
	[ "$(tr '\n' ' ' <changed)" = '["w.txt"] ["sub/made.txt"] [] ' ]
	jq -c 'select(.type == "result" and .agent == "coder") | .files_changed' <<<"$output" | jq_assert '. == ["w.txt", "sub/made.txt"]'
	last_result | jq_assert '.agent == "manager" and .files_changed == ["w.txt", "sub/made.txt"]'
	# a git workspace: ignored files are not changes
	rm -rf sess ws/*
	git -C ws init -q
	echo 'sub/' >ws/.gitignore
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess 'change'
	last_result | jq_assert '.files_changed == ["w.txt"]'
}

@test "the final summary on a terminal lists the files changed" {
	fake_start "$(edit_scenario)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	screen | grep -q "^files changed: main.c$"
}

@test "an Edit shows its diff on the terminal: file, +added -removed, the hunk" {
	fake_start "$(edit_scenario)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	screen | grep -q "main.c +1 -1$"
	screen | grep -q "@@ -1,4 +1,4 @@"
	screen | grep -Eq "^ +-\s+return 1;$"
	screen | grep -Eq "^ +\+\s+return 0;$"
}

# coder_run: a coder that writes a 100-line file, then runs a command that
# prints 30 lines and fails; the event stream goes to ./events.
coder_run() {
	fake_start "$(scenario coder <<'JSON'
{"rules": [
 {"match": {"system": "You are the coder", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "big.txt", "content": "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n17\n18\n19\n20\n21\n22\n23\n24\n25\n26\n27\n28\n29\n30\n31\n32\n33\n34\n35\n36\n37\n38\n39\n40\n41\n42\n43\n44\n45\n46\n47\n48\n49\n50\n"}}]}},
 {"match": {"system": "You are the coder", "turn": 1},
  "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "seq 101 130; exit 3"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "ok"}]}}
]}
JSON
)"
	bllm-code -C ws "write it" >events || true
}

@test "Write and Edit tool_result events carry the unified diff (docs/protocol.md)" {
	coder_run
	events_of tool_result events | head -n 1 | jq_assert '.name == "Write" and (.diff | startswith("@@ -0,0 +1,50 @@\n+1\n+2\n")) and (.diff | split("\n") | length == 52)'
	events_of tool_result events | sed -n 2p | jq_assert 'has("diff") | not'
}

@test "the view folds a long diff and shows the last 20 lines of a failed command; -v shows all" {
	coder_run
	run bllm-render events
	assert_line "    big.txt +50 -0"
	assert_line "    … 11 more lines (-v shows all)"
	assert_line --partial "✗ exit 3"
	assert_line "    … earlier lines hidden (-v shows all)"
	assert_line "    │ 112"
	refute_line "    │ 111"
	assert_line "    │ [exit code 3]"
	run bllm-render -v events
	refute_line --partial "more lines (-v shows all)"
	assert_line "    +50"
	assert_line "    │ 101"
}

@test "bllm-session show --diff prints the run's whole diff, which patch applies" {
	fake_start "$(edit_scenario)"
	cp ws/main.c orig.c
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'
	id=$(ls sess | sed -n 's/\.ndjson$//p')
	run --separate-stderr bllm-session --sessions-dir sess show --diff "${id:0:10}"
	assert_success
	assert_line --index 0 "--- a/main.c"
	assert_line --index 1 "+++ b/main.c"
	assert_line --index 2 "@@ -1,4 +1,4 @@"
	assert_line "-	return 1;"
	assert_line "+	return 0;"
	mkdir tree && cp orig.c tree/main.c
	printf '%s\n' "$output" | (cd tree && patch -s -p1)
	cmp tree/main.c ws/main.c
	run --separate-stderr bllm-session --sessions-dir sess replay --diff "$id"
	[ "$status" -eq 2 ]
	[[ "$stderr" == *"--diff goes with show"* ]]
}

@test "on a terminal agent text is rendered Markdown: no #, ** or backticks, as it streams too" {
	fake_start "$(edit_scenario 20)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	screen | grep -q "^Summary$"
	screen | grep -q "^The coder made main return 0\.$"
	refute_screen "# Summary"
	refute_screen "**"
	refute_screen '`0`'
}

@test "with colour the Markdown is styled, and --color never gives plain text" {
	fake_start "$(edit_scenario)"
	rm -f done
	tmux new-session -d -s "$TMUX_SESSION" -x 120 -y 40 \
		"cd '$BATS_TEST_TMPDIR' && export ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY PATH='$PATH'; unset NO_COLOR; bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'; echo \"exit=\$?\" >done; sleep 60"
	wait_done
	tmux capture-pane -p -e -S -300 -t "$TMUX_SESSION" >colour
	grep -q $'\e\\[1mmain' colour
	refute_file_has '**main**' colour
	tmux kill-session -t "$TMUX_SESSION"
	rm -rf sess
	on_tty "unset NO_COLOR; bllm-manage --color never --no-interactive -C ws --sessions-dir sess 'fix main'"
	wait_done
	tmux capture-pane -p -e -S -300 -t "$TMUX_SESSION" >plain
	refute_file_has $'\e[1m' plain
	grep -q "^The coder made main return 0\.$" plain
}

@test "bllm-session show renders the result's Markdown, without control words" {
	fake_start "$(edit_scenario)"
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess 'fix main'
	run --separate-stderr bllm-session --sessions-dir sess show "$(ls sess | sed -n 's/\.ndjson$//p')"
	assert_line "  Summary"
	assert_line "  The coder made main return 0."
	assert_line "  All done."
	refute_output --partial "TERMINATE"
	refute_output --partial "**"
}

# slow_planner: the manager calls the planner, whose reply starts after 4 s.
slow_planner() {
	scenario slow <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0},
  "reply": {"content": [{"type": "tool_use", "name": "planner", "input": {"task": "plan"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "done"}]}},
 {"match": {"system": "You are the planner"}, "delay_ms": 4000,
  "reply": {"content": [{"type": "text", "text": "the plan"}]}}
]}
JSON
}

@test "Ctrl-C during a run takes the status line away with the run" {
	fake_start "$(slow_planner)"
	on_tty "bllm-manage --no-interactive -C ws --sessions-dir sess 'plan it'"
	wait_screen "planner thinking…" 100
	tmux send-keys -t "$TMUX_SESSION" C-c
	wait_done 200
	[ "$(cat done)" = "exit=130" ]
	refute_screen "thinking…"
	screen | sed '/^$/d' | tail -n 1 | grep -q "session saved"
}

@test "text wraps to the terminal's width, and follows a resize" {
	long="one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty"
	fake_start "$(scenario wrap <<JSON
{"rules": [{"delay_ms": 1500, "reply": {"content": [{"type": "text", "text": "$long\n\n$long"}]}}]}
JSON
)"
	rm -f done
	tmux new-session -d -s "$TMUX_SESSION" -x 50 -y 40 \
		"cd '$BATS_TEST_TMPDIR' && export ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY NO_COLOR=1 PATH='$PATH'; bllm-plan 'x'; echo \"exit=\$?\" >done; sleep 60"
	wait_screen "planner thinking…" 100
	tmux resize-window -t "$TMUX_SESSION" -x 40 -y 40
	wait_done
	screen | grep -q "^one two three four five six seven eight$"
	# the text's lines (not the status and summary lines) fit the new width
	[ "$(screen | grep -E '^(one|nine|fifteen|six|thirteen|seventeen) ' | awk '{ if (length($0) > 40) n++ } END { print n + 0 }')" -eq 0 ]
	[ "$(screen | grep -c "^nineteen twenty$")" -eq 2 ]
	# two paragraphs, one blank line apart
	screen | grep -B1 "^one two" | grep -q "^$"
}

@test "a bad --color names the flag and the choices, exit 2" {
	run --separate-stderr bllm-plan --color bogus "x"
	[ "$status" -eq 2 ]
	[ "${stderr_lines[0]}" = 'bllm-plan: --color: expected auto, always or never, got "bogus"' ]
	run --separate-stderr bllm-manage --color bogus "x"
	[ "$status" -eq 2 ]
	[[ "${stderr_lines[0]}" == "bllm-manage: --color: expected auto, always or never"* ]]
}
