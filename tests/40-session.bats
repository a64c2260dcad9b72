#!/usr/bin/env bats
# bllm-session: list, show, export and replay sessions written directly as files.

bats_require_minimum_version 1.5.0
load helper

A=20261125-203000-4f9a1c	# summary as .json.gz (and a journal)
B=20261125-210000-0b1234	# summary as plain .json, no journal
C=20261126-080000-77aa00	# journal only: the run never saved its summary

setup() {
	bllm_setup
	S="$BATS_TEST_TMPDIR/sessions"
	mkdir -p "$S"
	export BLLM_SESSIONS_DIR="$S"
	cat >"$BATS_TEST_TMPDIR/a.json" <<EOF
{"session_id":"$A","created_at":"2026-11-25T20:30:00.120Z","completed_at":"2026-11-25T20:41:12.004Z",
 "user_request":"add a -l flag to wordcount so that it counts lines as well as words, and document it",
 "total_turns":12,"agents_used":["planner","coder","tester"],
 "messages":[{"role":"user","content":"add a -l flag"},{"role":"assistant","agent":"manager","content":"Done."}],
 "result":{"status":"completed","tests_passed":true,"exit_code":0,"text":"Done: wordcount -l counts lines.\nAll 3 tests pass."},
 "usage":{"input_tokens":12345,"output_tokens":2345,"cache_read_input_tokens":40000,"cache_creation_input_tokens":1024},
 "total_cost_usd":0.1234,
 "ledger":{"manager":{"turns":5,"input_tokens":5000,"output_tokens":500,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"cost_usd":0.05,"calls":1},
  "planner":{"turns":2,"input_tokens":1203,"output_tokens":88,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"cost_usd":0.00504,"calls":1}},
 "verification":{"commands":[{"command":"make test","exit_code":0,"passed":true}],"verified":true,"tests_passed":3,"tests_failed":0}}
EOF
	cp "$BATS_TEST_TMPDIR/a.json" "$S/$A.json"
	gzip "$S/$A.json"
	cat >"$S/$A.ndjson" <<EOF
{"v":1,"type":"init","agent":"manager","run_id":"run_1","parent_id":null,"session_id":"$A","ts":"2026-11-25T20:30:00.100Z","model":"m"}
{"v":1,"type":"task","agent":"manager","run_id":"run_1","parent_id":null,"session_id":"$A","ts":"2026-11-25T20:30:00.120Z","text":"add a -l flag","from":"user"}
{"v":1,"type":"text","agent":"manager","run_id":"run_1","parent_id":null,"session_id":"$A","ts":"2026-11-25T20:41:11.000Z","text":"Done."}
{"v":1,"type":"result","agent":"manager","run_id":"run_1","parent_id":null,"session_id":"$A","ts":"2026-11-25T20:41:12.004Z","status":"completed","is_error":false,"exit_code":0,"text":"Done."}
EOF
	cat >"$BATS_TEST_TMPDIR/b.json" <<EOF
{"session_id":"$B","created_at":"2026-11-25T21:00:00.000Z","completed_at":"2026-11-25T21:05:00.000Z",
 "user_request":"fix the failing test","total_turns":3,"agents_used":["coder"],"messages":[],
 "result":{"status":"failed","tests_passed":false,"exit_code":1,"text":"The test still fails."},
 "usage":{"input_tokens":10,"output_tokens":5},"total_cost_usd":null,"ledger":{},"verification":null}
EOF
	cp "$BATS_TEST_TMPDIR/b.json" "$S/$B.json"
	{
		echo '{"v":1,"type":"init","agent":"manager","run_id":"run_3","parent_id":null,"session_id":"'$C'","ts":"2026-11-26T08:00:00.000Z"}'
		echo '{"v":1,"type":"task","agent":"manager","run_id":"run_3","parent_id":null,"session_id":"'$C'","ts":"2026-11-26T08:00:00.010Z","text":"make it faster","from":"user"}'
		echo '{"v":1,"type":"usage","agent":"manager","run_id":"run_3","parent_id":null,"session_id":"'$C'","ts":"2026-11-26T08:00:01.000Z","input_tokens":100,"output_tokens":10,"cost_usd":0.25}'
		echo '{"v":1,"type":"text","agent":"manager","run_id":"run_3","parent_id":null,"session_id":"'$C'","ts":"2026-11-26T08:00:02.000Z","text":"Working on it."}'
		printf '%s' '{"v":1,"type":"text","agent":"manager","te'
	} >"$S/$C.ndjson"
}

@test "list: a table of every session, oldest first" {
	run --separate-stderr bllm-session list
	assert_success
	assert_equal "${#lines[@]}" 4
	assert_regex "${lines[0]}" '^ID +CREATED +STATUS +TURNS +COST +REQUEST$'
	assert_regex "${lines[1]}" "^$A +2026-11-25 20:30 +completed +12 +\\\$0\\.1234 +add a -l flag"
	assert_regex "${lines[2]}" "^$B +2026-11-25 21:00 +failed +3 +- +fix the failing test$"
	assert_regex "${lines[3]}" "^$C +2026-11-26 08:00 +incomplete +1 +\\\$0\\.2500 +make it faster$"
	# The long request is cut to fit.
	[[ "${lines[1]}" == *"..." ]]
	[[ "${lines[1]}" != *"document it"* ]]
	assert_equal "$stderr" ""
}

@test "list --json: the summaries as one JSON array" {
	run --separate-stderr bllm-session list --json
	assert_success
	assert_equal "$(jq -c 'map(.session_id)' <<<"$output")" "[\"$A\",\"$B\",\"$C\"]"
	assert_equal "$(jq -r 'map(.result.status) | join(" ")' <<<"$output")" "completed failed incomplete"
	assert_equal "$(jq -r '.[2].user_request' <<<"$output")" "make it faster"
	assert_equal "$(jq -r '.[2].created_at' <<<"$output")" "2026-11-26T08:00:00.000Z"
	assert_equal "$(jq -c '.[0]' <<<"$output" | jq -S .)" "$(jq -S . "$BATS_TEST_TMPDIR/a.json")"
}

@test "list: an empty or missing directory has no sessions, exit 0" {
	mkdir empty
	run --separate-stderr bllm-session --sessions-dir empty list
	assert_success
	assert_output ""
	assert_equal "$stderr" "bllm-session: no sessions in empty"
	run --separate-stderr bllm-session --sessions-dir missing list --json
	assert_success
	assert_equal "$(jq -c . <<<"$output")" "[]"
	assert_equal "$stderr" "bllm-session: no sessions in missing"
}

@test "--sessions-dir beats BLLM_SESSIONS_DIR, which beats the state directory" {
	mkdir other
	cp "$S/$B.json" other/
	run --separate-stderr bllm-session --sessions-dir other list --json
	assert_equal "$(jq -r 'map(.session_id) | join(" ")' <<<"$output")" "$B"
	run --separate-stderr bllm-session list --json
	assert_success
	assert_equal "$(jq 'length' <<<"$output")" 3
	# By default: sessions/NAME in the state directory, NAME from the current directory.
	unset BLLM_SESSIONS_DIR
	cd other
	run --separate-stderr bllm-session list
	assert_success
	[[ "$stderr" == "bllm-session: no sessions in $BLLM_STATE_DIR/sessions/other-"???????? ]]
}

@test "show: the readable view of a session" {
	run --separate-stderr bllm-session show "$A"
	assert_success
	assert_line --regexp "^session +$A$"
	assert_line --regexp '^created +2026-11-25T20:30:00.120Z$'
	assert_line --regexp '^completed +2026-11-25T20:41:12.004Z$'
	assert_line --regexp '^status +completed \(exit 0\)$'
	assert_line --regexp '^verification +verified \(3 passed, 0 failed\)$'
	assert_line --regexp '^turns +12$'
	assert_line --regexp '^tokens +12345 in, 2345 out, 40000 cache read, 1024 cache write$'
	assert_line --regexp '^cost +\$0\.1234$'
	assert_line --regexp '^AGENT +TURNS +CALLS +IN TOKENS +OUT TOKENS +COST$'
	assert_line --regexp '^manager +5 +1 +5000 +500 +\$0\.0500$'
	assert_line --regexp '^planner +2 +1 +1203 +88 +\$0\.0050$'
	assert_line "  add a -l flag to wordcount so that it counts lines as well as words, and document it"
	# the result is Markdown: its two lines are one paragraph
	assert_line "  Done: wordcount -l counts lines. All 3 tests pass."
	assert_equal "$stderr" ""
}

@test "show: a journal-only session shows what the journal knows" {
	run --separate-stderr bllm-session show "$C"
	assert_success
	assert_line --regexp '^status +incomplete$'
	assert_line --regexp '^completed +-$'
	assert_line --regexp '^verification +none$'
	assert_line "  make it faster"
}

@test "show --json and export: the summary JSON, gz or plain" {
	run --separate-stderr bllm-session show "$A" --json
	assert_success
	assert_equal "$(jq -S . <<<"$output")" "$(jq -S . "$BATS_TEST_TMPDIR/a.json")"
	run --separate-stderr bllm-session export "$A"
	assert_success
	assert_equal "$(jq -S . <<<"$output")" "$(jq -S . "$BATS_TEST_TMPDIR/a.json")"
	run --separate-stderr bllm-session export "$B"
	assert_success
	assert_equal "$(jq -S . <<<"$output")" "$(jq -S . "$BATS_TEST_TMPDIR/b.json")"
	assert_equal "$stderr" ""
}

@test "replay: the journal's events, torn last line left out" {
	run --separate-stderr bllm-session replay "$A"
	assert_success
	assert_equal "$(jq -c . <<<"$output")" "$(jq -c . "$S/$A.ndjson")"
	run --separate-stderr bllm-session replay "$C"
	assert_success
	assert_equal "${#lines[@]}" 4
	assert_equal "$(jq -r .type <<<"$output" | tr '\n' ' ')" "init task usage text "
}

@test "replay | bllm-render shows the run again" {
	[ -x "$BLLM_BUILD/bllm-render" ] || skip "bllm-render is not built"
	run bash -c "bllm-session replay '$A' | bllm-render"
	assert_success
	assert_output --partial "Done."
}

@test "replay: a session without a journal is an error naming it" {
	run --separate-stderr bllm-session replay "$B"
	assert_failure 1
	assert_output ""
	assert_equal "$(wc -l <<<"$stderr")" 1
	assert_regex "$stderr" "$B\\.ndjson"
}

@test "IDs: any unique prefix works" {
	run --separate-stderr bllm-session export 20261125-21
	assert_success
	assert_equal "$(jq -r .session_id <<<"$output")" "$B"
	run --separate-stderr bllm-session show 20261126
	assert_success
	assert_line --regexp "^session +$C$"
}

@test "IDs: ambiguous or unknown is exit 2 with one line naming it" {
	run --separate-stderr bllm-session show 20261125
	assert_failure 2
	assert_output ""
	assert_equal "$stderr" "bllm-session: session ID \"20261125\" is ambiguous: it matches $A, $B; give more of the ID"
	run --separate-stderr bllm-session export 2027
	assert_failure 2
	assert_equal "$stderr" "bllm-session: no session \"2027\" in $S"
	run --separate-stderr bllm-session replay ../etc
	assert_failure 2
	assert_equal "$(wc -l <<<"$stderr")" 1
	run --separate-stderr bllm-session --sessions-dir missing show "$A"
	assert_failure 2
}

@test "a corrupt .json.gz is exit 1 with one line naming the file" {
	head -c 30 "$S/$A.json.gz" >"$S/20261127-000000-aaaaaa.json.gz"
	printf '\037\213\010\000garbage, not deflate data' >"$S/20261127-000000-bbbbbb.json.gz"
	echo '{"not":"compressed"}' >"$S/20261127-000000-cccccc.json.gz"
	for id in aaaaaa bbbbbb cccccc; do
		for cmd in show export; do
			run --separate-stderr bllm-session "$cmd" "20261127-000000-$id"
			assert_failure 1
			assert_output ""
			assert_equal "$(wc -l <<<"$stderr")" 1
			assert_regex "$stderr" "^bllm-session: $S/20261127-000000-$id\\.json\\.gz: "
		done
	done
	# list still lists every session, and reports the damaged ones.
	run --separate-stderr bllm-session list
	assert_failure 1
	assert_equal "${#lines[@]}" 7
	assert_regex "${lines[4]}" '^20261127-000000-aaaaaa +2026-11-27 00:00 +unreadable '
	assert_equal "$(wc -l <<<"$stderr")" 3
}

@test "usage errors: bad flag, unknown or missing command, wrong operands" {
	run --separate-stderr bllm-session --bogus list
	assert_failure 2
	assert_equal "$stderr" "bllm-session: unknown option '--bogus'
Try 'bllm-session --help'."
	run --separate-stderr bllm-session frobnicate
	assert_failure 2
	assert_regex "$stderr" "unknown command 'frobnicate'"
	run --separate-stderr bllm-session
	assert_failure 2
	assert_regex "$stderr" "missing command"
	run --separate-stderr bllm-session show
	assert_failure 2
	run --separate-stderr bllm-session list extra
	assert_failure 2
	run --separate-stderr bllm-session list --sessions-dir
	assert_failure 2
	assert_regex "$stderr" "needs an argument"
	run --separate-stderr bllm-session --color=sometimes list
	assert_failure 2
}

@test "--help documents everything; --version" {
	run --separate-stderr bllm-session --help
	assert_success
	for word in list show export replay --json --sessions-dir BLLM_SESSIONS_DIR --color --version prefix; do
		assert_output --partial -- "$word"
	done
	assert_equal "$stderr" ""
	run bllm-session --version
	assert_success
	assert_output --regexp '^bllm-session [0-9]'
}

@test "--color=always colours the table, NO_COLOR keeps it plain" {
	run --separate-stderr bllm-session --color=always list
	assert_success
	[[ "$output" == *$'\033['* ]]
	run --separate-stderr bllm-session list
	[[ "$output" != *$'\033['* ]]
}
