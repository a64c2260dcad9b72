#!/usr/bin/env bats
# The history database: written by real bllm-manage runs as they go, by
# many at once, rebuilt by reindex, robust to a damaged file; list, search
# and stats read it.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	# These tests read the sessions in ./sessions: say so (the default is the state directory).
	config_set '.sessions_dir = "sessions"'
	export BLLM_SESSIONS_DIR=./sessions
	DB="$BLLM_STATE_DIR/history.db"
}
teardown() {
	fake_stop
	true
}

# history_scenario [TESTER-COMMAND]: the manager calls the planner, the coder
# (who writes notes.txt) and the tester (who runs the command), then ends.
history_scenario() {
	jq -n --arg cmd "${1:-true}" '
	  {rules: [
	    {name: "m0", match: {system: "You are the manager", turn: 0},
	     reply: {content: [{type: "text", text: "Planning the parser.c change."},
	                       {type: "tool_use", name: "planner", input: {task: "plan the parser.c fix"}}]}},
	    {name: "m1", match: {system: "You are the manager", turn: 1},
	     reply: {content: [{type: "tool_use", name: "coder", input: {task: "fix the tokenizer"}}]}},
	    {name: "m2", match: {system: "You are the manager", turn: 2},
	     reply: {content: [{type: "tool_use", name: "tester", input: {task: "run the tests"}}]}},
	    {name: "m-end", match: {system: "You are the manager"},
	     reply: {content: [{type: "text", text: "All done.\nTERMINATE"}]}},
	    {name: "coder-0", match: {system: "You are the coder", turn: 0},
	     reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "notes.txt", content: "tokenizer fixed\n"}}]}},
	    {name: "coder-1", match: {system: "You are the coder"},
	     reply: {content: [{type: "text", text: "The tokenizer in parser.c skips comments now."}]}},
	    {name: "tester-0", match: {system: "You are the tester", turn: 0},
	     reply: {content: [{type: "tool_use", name: "Bash", input: {command: $cmd}}]}},
	    {name: "tester-1", match: {system: "You are the tester", turn: 1},
	     reply: {content: [{type: "text", text: "ran it"}]}},
	    {name: "worker", reply: {content: [{type: "text", text: "a plan for parser.c"}]}}
	  ]}' >"$BATS_TEST_TMPDIR/history.json"
	echo "$BATS_TEST_TMPDIR/history.json"
}

manage() { bllm-manage --no-interactive --no-cache -C ws "$@"; }

# sql QUERY: the answer of the history database, one row a line.
sql() { sqlite3 "$DB" "$1"; }

# dump: every table, rows in a stable order, without the rowids.
dump() {
	sqlite3 "$DB" "SELECT * FROM sessions ORDER BY id;
		SELECT * FROM worker_runs ORDER BY run_id;
		SELECT session_id, run_id, agent, ts, model, latency_ms, ttfb_ms, input_tokens,
		       output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd, response_cache
		  FROM api_calls ORDER BY session_id, ts, run_id;
		SELECT session_id, run_id, agent, ts, type, message FROM errors ORDER BY session_id, ts, type;
		SELECT session_id, run_id, agent, kind, ts, body FROM texts ORDER BY session_id, ts, kind;"
}

@test "a run is in the history while it goes (running) and when it ends" {
	fake_start "$(history_scenario 'sleep 2')"
	manage "fix parser.c" >"$BATS_TEST_TMPDIR/out.ndjson" 2>/dev/null &
	local pid=$! status=
	for _ in $(seq 100); do
		status=$(sql "SELECT status || ' ' || coalesce(current_agent, '-') FROM sessions" 2>/dev/null || true)
		[ "$status" = "running tester" ] && break
		sleep 0.05
	done
	assert_equal "$status" "running tester"
	wait "$pid"
	assert_equal "$(sql "SELECT status, exit_code, verified, request, agents FROM sessions")" \
		"completed|0|1|fix parser.c|planner,coder,tester"
	local journal
	journal=$(ls sessions/*.ndjson)
	# Every worker run, API call and text of the journal has its row.
	assert_equal "$(sql "SELECT agent || ':' || status || ':' || task FROM worker_runs ORDER BY started_at" | tr '\n' ' ')" \
		"planner:completed:plan the parser.c fix coder:completed:fix the tokenizer tester:completed:run the tests "
	assert_equal "$(sql "SELECT count(*) FROM api_calls")" "$(jq -c 'select(.type == "usage")' "$journal" | wc -l)"
	assert_equal "$(sql "SELECT count(*) FROM texts WHERE kind = 'text'")" "$(jq -c 'select(.type == "text")' "$journal" | wc -l)"
	assert_equal "$(sql "SELECT files_changed FROM sessions")" '["notes.txt"]'
	assert_equal "$(sql "SELECT round(cost_usd, 6) FROM sessions")" \
		"$(last_result "$journal" | jq '.total_cost_usd * 1000000 | round / 1000000')"
	# Kept private, like the sessions it indexes, and free of the API key.
	assert_equal "$(stat -c %a "$DB")" 600
	refute_file_has "$TEST_KEY" "$DB"
}

@test "8 runs at once: every session, worker run and API call is there" {
	fake_start "$(history_scenario true)"
	local pids=()
	for i in $(seq 8); do
		manage "task $i about parser.c" >/dev/null 2>"$BATS_TEST_TMPDIR/err.$i" &
		pids+=($!)
	done
	for p in "${pids[@]}"; do wait "$p"; done
	assert_equal "$(sql "SELECT count(*), sum(status = 'completed') FROM sessions")" "8|8"
	assert_equal "$(sql "SELECT count(*) FROM worker_runs")" 24
	assert_equal "$(sql "SELECT count(*) FROM api_calls")" "$(cat sessions/*.ndjson | jq -c 'select(.type == "usage")' | wc -l)"
	assert_equal "$(sql "SELECT count(DISTINCT request) FROM sessions")" 8
	# Nobody had to give up.
	run grep -rh "history not recorded" "$LOG_DIR" "$BATS_TEST_TMPDIR"/err.*
	assert_failure
}

@test "reindex rebuilds the same database from the journals; deleting history.db loses nothing" {
	fake_start "$(history_scenario false)"
	manage "first: fix parser.c" >/dev/null 2>&1 || true
	manage "second: document the lexer" >/dev/null 2>&1 || true
	dump >"$BATS_TEST_TMPDIR/live.txt"
	assert_equal "$(sql "SELECT count(*) FROM sessions")" 2
	grep -q "|failed|" "$BATS_TEST_TMPDIR/live.txt"
	run --separate-stderr bllm-session reindex
	assert_success
	assert_output "indexed 2 sessions of ./sessions into $DB"
	dump >"$BATS_TEST_TMPDIR/reindexed.txt"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/reindexed.txt")" "$(cat "$BATS_TEST_TMPDIR/live.txt")"
	rm -f "$DB" "$DB-wal" "$DB-shm"
	run --separate-stderr bllm-session reindex
	assert_success
	dump >"$BATS_TEST_TMPDIR/rebuilt.txt"
	assert_equal "$(cat "$BATS_TEST_TMPDIR/rebuilt.txt")" "$(cat "$BATS_TEST_TMPDIR/live.txt")"
}

@test "a corrupt database does not break a run: it completes, one warning, reindex repairs" {
	fake_start "$(history_scenario true)"
	mkdir -p "$BLLM_STATE_DIR"
	head -c 8192 /dev/urandom >"$DB"
	run --separate-stderr manage "fix parser.c"
	assert_success
	local journal
	journal=$(ls sessions/*.ndjson)
	assert_equal "$(last_result "$journal" | jq -r '[.agent, .status] | join(" ")')" "manager completed"
	assert_equal "$(cat "$LOG_DIR"/better-llm.log | grep -c 'history not recorded')" 1
	grep 'history not recorded' "$LOG_DIR"/better-llm.log | grep -q 'bllm-session reindex'
	run --separate-stderr bllm-session reindex
	assert_success
	assert_regex "$stderr" "history.db: .*making it anew"
	assert_equal "$(sql "SELECT status FROM sessions")" completed
}

@test "a database that cannot be opened (a directory) does not break a run either" {
	fake_start "$(history_scenario true)"
	mkdir -p "$DB"
	run --separate-stderr manage "fix parser.c"
	assert_success
	assert_equal "$(grep -c 'history not recorded' "$LOG_DIR"/better-llm.log)" 1
}

@test "search: matching sessions with a snippet; list and stats filter through the history" {
	fake_start "$(history_scenario true)"
	manage "fix parser.c" >/dev/null 2>&1
	manage "rename the lexer" >/dev/null 2>&1
	local first second
	first=$(ls sessions/*.ndjson | head -1 | xargs basename | sed 's/\.ndjson//')
	second=$(ls sessions/*.ndjson | tail -1 | xargs basename | sed 's/\.ndjson//')
	run --separate-stderr bllm-session search "parser.c"
	assert_success
	assert_line --regexp "^$first +completed +manager/request +fix \\[parser\\.c\\]$"
	assert_line --regexp "^$first +completed +coder/text +The tokenizer in \\[parser\\.c\\] skips comments now\\.$"
	run --separate-stderr bllm-session search --json "lexer"
	assert_success
	assert_equal "$(jq -r '[.[].session_id] | unique | join(" ")' <<<"$output")" "$second"
	run --separate-stderr bllm-session search "nowhere-to-be-found"
	assert_failure 1
	assert_equal "$stderr" 'bllm-session: no session mentions "nowhere-to-be-found"'

	run --separate-stderr bllm-session list --status completed --since 1h
	assert_success
	assert_equal "${#lines[@]}" 3
	assert_regex "${lines[1]}" "^$first +[0-9-]+ [0-9:]+ +completed "
	run --separate-stderr bllm-session list --status failed
	assert_success
	assert_output ""
	run --separate-stderr bllm-session list --json --workspace ws --limit 1
	assert_equal "$(jq -r 'map(.session_id) | join(" ")' <<<"$output")" "$second"
	run --separate-stderr bllm-session list --agent tester --json
	assert_equal "$(jq 'length' <<<"$output")" 2

	run --separate-stderr bllm-stats --history --json
	assert_success
	assert_equal "$(jq -c '.agents | keys' <<<"$output")" '["coder","manager","planner","tester"]'
	assert_equal "$(jq '.agents.coder.worker_runs' <<<"$output")" 2
	run --separate-stderr bllm-stats --agent tester
	assert_success
	assert_regex "${lines[0]}" '^AGENT +CALLS +P50_MS'
	assert_regex "${lines[1]}" '^tester +4 '
	assert_equal "${#lines[@]}" 2
}

@test "list, search and reindex: bad input is one line and exit 2" {
	run --separate-stderr bllm-session list --since yesterday
	assert_failure 2
	assert_regex "$stderr" "^bllm-session: --since 'yesterday': expected a duration"
	run --separate-stderr bllm-session list --limit 0
	assert_failure 2
	run --separate-stderr bllm-session search
	assert_failure 2
	assert_regex "$stderr" "search: expected one TEXT"
	run --separate-stderr bllm-session reindex extra
	assert_failure 2
	BLLM_HISTORY_DB=off run --separate-stderr bllm-session reindex
	assert_failure 1
	assert_regex "$stderr" "no history database"
	run --separate-stderr bllm-session --help
	for word in search reindex --since --status --agent --workspace --limit history.db; do
		assert_output --partial -- "$word"
	done
}
