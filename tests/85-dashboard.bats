#!/usr/bin/env bats
# bllm-dashboard: the token, the read-only JSON API over a real bllm-manage
# run, Server-Sent Events, limits, and the page in headless Chromium.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	# These tests read the sessions in ./sessions: say so (the default is the state directory).
	config_set '.sessions_dir = "sessions"'
	export BLLM_SESSIONS_DIR=./sessions
	DB="$BLLM_STATE_DIR/history.db"
	DASH_PID=
}
teardown() {
	[ -n "$DASH_PID" ] && kill "$DASH_PID" 2>/dev/null && wait "$DASH_PID" 2>/dev/null
	fake_stop
	true
}

# scenario_with_tester CMD: the manager calls the coder, then the tester who runs CMD.
scenario_with_tester() {
	jq -n --arg cmd "$1" '
	  {rules: [
	    {name: "m0", match: {system: "You are the manager", turn: 0},
	     reply: {content: [{type: "tool_use", name: "coder", input: {task: "edit parser.c"}}]}},
	    {name: "m1", match: {system: "You are the manager", turn: 1},
	     reply: {content: [{type: "tool_use", name: "tester", input: {task: "run the tests"}}]}},
	    {name: "m-end", match: {system: "You are the manager"},
	     reply: {content: [{type: "text", text: "All done.\nTERMINATE"}]}},
	    {name: "coder-0", match: {system: "You are the coder", turn: 0},
	     reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "parser.c", content: "int x;\n"}}]}},
	    {name: "tester-0", match: {system: "You are the tester", turn: 0},
	     reply: {content: [{type: "tool_use", name: "Bash", input: {command: $cmd}}]}},
	    {name: "worker", reply: {content: [{type: "text", text: "done with parser.c"}]}}
	  ]}' >"$BATS_TEST_TMPDIR/dash.json"
	echo "$BATS_TEST_TMPDIR/dash.json"
}

manage() { bllm-manage --no-interactive --no-cache -C ws "$@"; }

# dash_start [FLAGS]: starts bllm-dashboard on a free port; sets URL, BASE, TOKEN.
dash_start() {
	bllm-dashboard --listen 127.0.0.1:0 "$@" >"$BATS_TEST_TMPDIR/dash.out" 2>"$BATS_TEST_TMPDIR/dash.err" &
	DASH_PID=$!
	for _ in $(seq 100); do
		[ -s "$BATS_TEST_TMPDIR/dash.out" ] && break
		sleep 0.05
	done
	URL=$(head -n 1 "$BATS_TEST_TMPDIR/dash.out")
	BASE=${URL%%/\?token=*}
	TOKEN=${URL##*token=}
	[[ "$URL" =~ ^http://127\.0\.0\.1:[0-9]+/\?token=[0-9a-f]{32}$ ]] || { cat "$BATS_TEST_TMPDIR/dash.err" >&2; return 1; }
}

# get PATH: the body with the token cookie; status in $code.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
get() { curl -sf -H "Cookie: bllm_token=$TOKEN" "$BASE$1"; }

# wait_running: waits (5 s at most) until a session is running; sets SID.
wait_running() {
	SID=
	for _ in $(seq 100); do
		SID=$(sqlite3 "$DB" "SELECT id FROM sessions WHERE status = 'running'" 2>/dev/null || true)
		[ -n "$SID" ] && return 0
		sleep 0.05
	done
	return 1
}

@test "every request needs the token (query, then cookie); without it 401" {
	dash_start
	assert_equal "$(code "$BASE/")" 401
	assert_equal "$(code "$BASE/api/sessions")" 401
	assert_equal "$(code "$BASE/api/sessions?token=wrong$TOKEN")" 401
	assert_equal "$(code -H "Cookie: bllm_token=${TOKEN%?}" "$BASE/api/sessions")" 401
	run curl -s "$BASE/api/live"
	assert_output --partial "401"
	# The printed URL works, and sets the cookie that later requests use.
	run curl -s -D - -o /dev/null "$URL"
	assert_output --partial "HTTP/1.1 200"
	assert_output --regexp "Set-Cookie: bllm_token=$TOKEN; Path=/; HttpOnly; SameSite=Strict"
	assert_equal "$(code -H "Cookie: other=1; bllm_token=$TOKEN" "$BASE/api/sessions")" 200
	# Pages carry a strict content security policy.
	run curl -s -D - -o /dev/null "$URL"
	assert_output --partial "Content-Security-Policy: default-src 'self'"
}

@test "the JSON API describes a session a real bllm-manage run created" {
	fake_start "$(scenario_with_tester true)"
	run --separate-stderr manage "fix parser.c"
	assert_success
	local sid
	sid=$(basename sessions/*.ndjson .ndjson)
	dash_start --sessions-dir sessions
	run get /api/sessions
	assert_success
	assert_equal "$(jq -r '.sessions | map([.id, .status, .request] | join(" ")) | .[]' <<<"$output")" \
		"$sid completed fix parser.c"
	assert_equal "$(jq -c '.sessions[0].files_changed' <<<"$output")" '["parser.c"]'
	run get "/api/session?id=$sid"
	assert_success
	assert_equal "$(jq -r '[.workers[] | .agent + ":" + .status + ":" + .task] | join(" ")' <<<"$output")" \
		"coder:completed:edit parser.c tester:completed:run the tests"
	assert_equal "$(jq '.session.verified' <<<"$output")" 1
	run get "/api/events?id=$sid"
	assert_success
	assert_equal "$(jq length <<<"$output")" "$(wc -l <sessions/$sid.ndjson)"
	run get "/api/stats"
	assert_equal "$(jq -c '.agents | keys' <<<"$output")" '["coder","manager","tester"]'
	run get "/api/search?q=parser.c"
	assert_equal "$(jq -r '.[0].session_id' <<<"$output")" "$sid"
	assert_equal "$(code -H "Cookie: bllm_token=$TOKEN" "$BASE/api/session?id=nope")" 404
	assert_equal "$(code -H "Cookie: bllm_token=$TOKEN" "$BASE/api/session?id=../../etc")" 400
}

@test "SSE: a running session's events reach a client within a second" {
	fake_start "$(scenario_with_tester 'sleep 2')"
	dash_start
	manage "fix parser.c" >/dev/null 2>&1 &
	local run_pid=$!
	wait_running
	curl -sN --max-time 15 -H "Cookie: bllm_token=$TOKEN" "$BASE/api/stream?id=$SID" >"$BATS_TEST_TMPDIR/sse.txt" &
	local curl_pid=$!
	# The backlog arrives at once.
	for _ in $(seq 20); do grep -q '^event: event' "$BATS_TEST_TMPDIR/sse.txt" && break; sleep 0.05; done
	grep -q '"type":"init"' "$BATS_TEST_TMPDIR/sse.txt"
	# Then the run's last event: in the client within a second of the journal.
	local journal=sessions/$SID.ndjson t0 t1
	for _ in $(seq 200); do
		jq -e 'select(.type == "result" and .parent_id == null)' "$journal" >/dev/null 2>&1 && break
		sleep 0.02
	done
	t0=$(date +%s%N)
	for _ in $(seq 100); do grep -q '^event: end' "$BATS_TEST_TMPDIR/sse.txt" && break; sleep 0.02; done
	t1=$(date +%s%N)
	grep -q '^event: end' "$BATS_TEST_TMPDIR/sse.txt"
	[ $(((t1 - t0) / 1000000)) -lt 1000 ]
	wait "$run_pid"
	wait "$curl_pid" || true
	# Every journal line came as one event, in order.
	assert_equal "$(sed -n 's/^data: //p' "$BATS_TEST_TMPDIR/sse.txt" | head -n -1 | jq -r .type | tr '\n' ' ')" \
		"$(jq -r .type "$journal" | tr '\n' ' ')"
}

@test "50 SSE clients at once each get the live list; one more than the bound gets 503" {
	fake_start "$(scenario_with_tester true)"
	manage "fix parser.c" >/dev/null 2>&1
	dash_start --sessions-dir sessions --max-streams 50
	local pids=()
	for i in $(seq 50); do
		curl -sN --max-time 4 -H "Cookie: bllm_token=$TOKEN" "$BASE/api/live" >"$BATS_TEST_TMPDIR/live.$i" &
		pids+=($!)
	done
	for _ in $(seq 60); do
		[ "$(grep -l '^event: sessions' "$BATS_TEST_TMPDIR"/live.* 2>/dev/null | wc -l)" -eq 50 ] && break
		sleep 0.05
	done
	assert_equal "$(grep -l '^event: sessions' "$BATS_TEST_TMPDIR"/live.* | wc -l)" 50
	assert_equal "$(code -H "Cookie: bllm_token=$TOKEN" "$BASE/api/live")" 503
	for p in "${pids[@]}"; do wait "$p" || true; done
	# The clients went away: within a few seconds their places are free again.
	for _ in $(seq 30); do
		run curl -sN --max-time 1 -H "Cookie: bllm_token=$TOKEN" "$BASE/api/live"
		[[ "$output" == *"event: sessions"* ]] && break
		sleep 0.2
	done
	assert_output --partial "event: sessions"
}

@test "path traversal, other methods, bodies and oversized requests are refused" {
	dash_start
	local c=(-H "Cookie: bllm_token=$TOKEN")
	assert_equal "$(code "${c[@]}" --path-as-is "$BASE/../../../../etc/passwd")" 404
	assert_equal "$(code "${c[@]}" --path-as-is "$BASE/%2e%2e/%2e%2e/etc/passwd")" 404
	assert_equal "$(code "${c[@]}" "$BASE/web/app.js")" 404
	assert_equal "$(code "${c[@]}" "$BASE/app.js/../../../etc/passwd")" 404
	assert_equal "$(code "${c[@]}" "$BASE/app.js")" 200
	assert_equal "$(code "${c[@]}" -X POST -d 'x=1' "$BASE/api/sessions")" 405
	assert_equal "$(code "${c[@]}" -X DELETE "$BASE/api/sessions")" 405
	assert_equal "$(code "${c[@]}" -X GET -d 'x=1' "$BASE/api/sessions")" 413
	assert_equal "$(code "${c[@]}" "$BASE/api/sessions?q=$(head -c 3000 /dev/zero | tr '\0' a)")" 414
	local many=()
	for i in $(seq 70); do many+=(-H "X-H$i: $i"); done
	assert_equal "$(code "${c[@]}" "${many[@]}" "$BASE/api/sessions")" 431
	local big
	big=$(head -c 40000 /dev/zero | tr '\0' a)
	run code "${c[@]}" -H "X-Big: $big" "$BASE/api/sessions"
	assert_regex "$output" '^4[0-9][0-9]$'
	# Still serving after all that.
	assert_equal "$(code "${c[@]}" "$BASE/api/sessions")" 200
}

@test "flags: a bad --listen is a usage error; --help tells the truth" {
	run --separate-stderr bllm-dashboard --listen localhost
	assert_failure 2
	assert_regex "$stderr" "^bllm-dashboard: --listen 'localhost': expected ADDR:PORT"
	run --separate-stderr bllm-dashboard --listen 127.0.0.1:99999
	assert_failure 2
	run --separate-stderr bllm-dashboard --bogus
	assert_failure 2
	run --separate-stderr bllm-dashboard --help
	assert_success
	for word in --listen --sessions-dir --max-streams token 127.0.0.1 401 history.db; do
		assert_output --partial -- "$word"
	done
}

@test "bllm-manage --dashboard prints the URL of a dashboard serving the run" {
	fake_start "$(scenario_with_tester 'sleep 1')"
	manage --dashboard "fix parser.c" >/dev/null 2>"$BATS_TEST_TMPDIR/manage.err" &
	local pid=$! url=
	for _ in $(seq 100); do
		url=$(sed -n 's/^bllm-manage: dashboard: //p' "$BATS_TEST_TMPDIR/manage.err")
		[ -n "$url" ] && break
		sleep 0.05
	done
	[[ "$url" =~ ^http://127\.0\.0\.1:[0-9]+/\?token= ]]
	wait_running
	run curl -s "${url/\/\?/\/api\/sessions?}"
	assert_equal "$(jq -r '.sessions[0].status' <<<"$output")" running
	wait "$pid"
	# It went with the run.
	run curl -s --max-time 2 "$url"
	assert_failure
}

@test "in Chromium: the page shows a running session, then its completion, without reload or error" {
	[ -x /usr/bin/chromium ] || skip "no /usr/bin/chromium"
	fake_start "$(scenario_with_tester 'sleep 3')"
	dash_start
	manage "fix parser.c" >/dev/null 2>&1 &
	local run_pid=$!
	wait_running
	run timeout 60 cdp --timeout 30 \
		--watch "(document.querySelector('#session-$SID') || {dataset: {}}).dataset.status" \
		--until "(document.querySelector('#session-$SID') || {dataset: {}}).dataset.seen === 'running completed'" \
		--dump --screenshot "$BATS_TEST_TMPDIR/page.png" "$URL"
	wait "$run_pid"
	assert_success
	refute_output --partial "page error"
	assert_line --index 0 'watch 1: null'
	assert_line 'watch 1: "running"'
	assert_line 'watch 1: "completed"'
	# What a person sees: the table with the session, its status and request.
	assert_output --regexp "<tr class=\"completed\" id=\"session-$SID\""
	assert_output --partial '<td class="request">fix parser.c</td>'
	assert_output --partial '<span id="conn" class="conn live"'
	[ "$(head -c 8 "$BATS_TEST_TMPDIR/page.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
	[ "$(stat -c %s "$BATS_TEST_TMPDIR/page.png")" -gt 5000 ]
}

@test "in Chromium: a session's timeline, a run's details on click, charts and search" {
	[ -x /usr/bin/chromium ] || skip "no /usr/bin/chromium"
	fake_start "$(scenario_with_tester true)"
	manage "fix parser.c" >/dev/null 2>&1
	local sid
	sid=$(basename sessions/*.ndjson .ndjson)
	dash_start --sessions-dir sessions
	run timeout 60 cdp --until "document.querySelectorAll('#timeline rect.bar').length === 3" \
		--then "document.querySelector('#timeline rect[data-agent=coder]').dispatchEvent(new MouseEvent('click'))" \
		--dump "$URL#/session/$sid"
	assert_success
	refute_output --partial "page error"
	assert_output --regexp 'data-agent="manager"[^>]*|data-status="completed"'
	assert_output --partial 'id="run-detail"'
	assert_output --partial 'edit parser.c'
	assert_output --partial '<span class="add">+ int x;</span>'
	run timeout 60 cdp --until "document.querySelectorAll('#stats svg rect').length > 0" --dump "$URL#/stats"
	assert_success
	refute_output --partial "page error"
	assert_output --partial 'Latency p50 / p95 (ms)'
	assert_output --partial 'Prompt cache hit rate'
	run timeout 60 cdp --until "!!document.querySelector('#results mark')" --dump "$URL#/search/parser.c"
	assert_success
	assert_output --partial "<mark>parser.c</mark>"
}
