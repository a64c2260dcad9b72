#!/usr/bin/env bats
# Parallel workers in one manager turn: several tool_use blocks run at
# once, writers in worktrees of their own, a merge gate in the order
# asked, a shared budget, resume after an interrupt.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	git -C ws init -q
	printf 'line one\nkeep\n' >ws/f.txt
	git -C ws add f.txt
	git -C ws -c user.name=t -c user.email=t@t commit -qm base
}
teardown() {
	fake_stop
}

# The manager asks for two coders in one turn (tasks "write a" and "write
# b"), then ends. Coder A writes a.txt (or, with CONFLICT=1, changes the
# first line of f.txt), coder B writes b.txt (or the same line).
# DELAY_A_MS / DELAY_B_MS slow each coder's first reply.
two_coders() {
	jq -n --argjson da "${DELAY_A_MS:-0}" --argjson db "${DELAY_B_MS:-0}" --arg conflict "${CONFLICT:-0}" '
	  def write(p; c): {type: "tool_use", name: "Write", input: {file_path: p, content: c}};
	  {rules: [
	  {name: "manager-0", match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "text", text: "Two independent parts: both at once."},
	     {type: "tool_use", id: "toolu_a", name: "coder", input: {task: "write a"}},
	     {type: "tool_use", id: "toolu_b", name: "coder", input: {task: "write b"}}]}},
	  {name: "manager-end", match: {system: "You are the manager"},
	   reply: {content: [{type: "text", text: "done\nTERMINATE"}]}},
	  {name: "coder-a", match: {system: "You are the coder", turn: 0, body: "write a"}, delay_ms: $da,
	   reply: {content: [if $conflict == "1" then write("f.txt"; "line from a\nkeep\n") else write("a.txt"; "from a\n") end]}},
	  {name: "coder-b", match: {system: "You are the coder", turn: 0, body: "write b"}, delay_ms: $db,
	   reply: {content: [if $conflict == "1" then write("f.txt"; "line from b\nkeep\n") else write("b.txt"; "from b\n") end]}},
	  {name: "coder-done", match: {system: "You are the coder"}, reply: {content: [{type: "text", text: "written"}]}}
	  ]}' >"$BATS_TEST_TMPDIR/two.json"
	echo "$BATS_TEST_TMPDIR/two.json"
}

manage() { bllm-manage --no-interactive -C ws --sessions-dir sess "$@"; }

# t_ms of the first request the named rule answered.
arrived() { jq -s -r --arg r "$1" 'map(select(.rule == $r))[0].t_ms' "$FAKE_LOG"; }

@test "two coder calls in one turn run at once: their requests overlap, one message holds both results in order" {
	DELAY_A_MS=2500 DELAY_B_MS=2500
	fake_start "$(two_coders)"
	start=$(date +%s%N)
	run --separate-stderr manage "two parts"
	elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
	# the second coder's request came in while the first one's reply was still held back
	a=$(arrived coder-a) b=$(arrived coder-b)
	[ "$(( b > a ? b - a : a - b ))" -lt 2000 ]
	# well under the two delays one after another (5 s)
	[ "$elapsed_ms" -lt 4300 ]
	# the manager's next request: one user message with both tool_results, in the order asked
	jq -s -e 'map(select(.rule == "manager-end"))[0].body.messages[-1].content | map(.tool_use_id) == ["toolu_a", "toolu_b"]' "$FAKE_LOG"
	[ "$(printf '%s\n' "$output" | jq -r 'select(.type == "tool_use" and .agent == "manager") | .tool_use_id' | tr '\n' ' ')" = "toolu_a toolu_b " ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.type == "worker_start") | .tool_use_id' | sort | tr '\n' ' ')" = "toolu_a toolu_b " ]
	any_event '.type == "log" and (.message | startswith("running 2 workers at once: coder (in bllm/"))'
}

@test "each writing coder works in its own worktree; both files are merged into the workspace, nothing left behind" {
	fake_start "$(two_coders)"
	head=$(git -C ws rev-parse HEAD)
	echo "not committed" >ws/wip.txt
	run --separate-stderr manage "two parts"
	[ "$(cat ws/a.txt)" = "from a" ]
	[ "$(cat ws/b.txt)" = "from b" ]
	[ "$(cat ws/wip.txt)" = "not committed" ]
	# the coders saw worktrees, not the workspace, and started from its uncommitted state
	printf '%s\n' "$output" | jq -r 'select(.type == "init" and .agent == "coder") | .cwd' >cwds
	[ "$(wc -l <cwds)" -eq 2 ]
	while read -r d; do [[ "$d" == *"/ws/.git/bllm/"*/[12] ]]; done <cwds
	# HEAD, the index and the branches are as they were; the worktrees are gone
	[ "$(git -C ws rev-parse HEAD)" = "$head" ]
	[ -z "$(git -C ws diff --cached --name-only)" ]
	[ -z "$(git -C ws branch --list 'bllm/*')" ]
	[ "$(git -C ws worktree list | wc -l)" -eq 1 ]
	[ ! -e ws/.git/bllm ]
	tool_results=$(jq -s -r 'map(select(.rule == "manager-end"))[0].body.messages[-1].content[].content' "$FAKE_LOG")
	[ "$(grep -c "merge gate: the coder's changes were merged into the workspace." <<<"$tool_results")" -eq 2 ]
}

@test "a conflict (both change the same line) leaves the workspace as the first merge made it; the manager gets the report" {
	CONFLICT=1
	fake_start "$(two_coders)"
	run --separate-stderr manage "two parts"
	[ "$(head -n 1 ws/f.txt)" = "line from a" ]
	second=$(jq -s -r 'map(select(.rule == "manager-end"))[0].body.messages[-1].content[1]' "$FAKE_LOG")
	jq -e '.is_error == true and .tool_use_id == "toolu_b"' <<<"$second"
	text=$(jq -r .content <<<"$second")
	[[ "$text" == *"changes were NOT merged"*"in f.txt."*"The workspace is as it was before this merge."* ]]
	branch=$(grep -o 'on branch bllm/[^ ]*' <<<"$text" | cut -d' ' -f3)
	# the losing coder's work is kept on its branch (and its worktree), listed in the journal
	[ "$(git -C ws show "$branch:f.txt" | head -n 1)" = "line from b" ]
	[ "$(git -C ws worktree list | wc -l)" -eq 2 ]
	id=$(last_result | jq -r .session_id)
	jq_assert --arg b "$branch" 'select(.type == "log" and .level == "warning") | .message | contains($b)' "sess/$id.ndjson"
	gzip -dc "sess/$id.json.gz" | jq_assert --arg b "$branch" '.worktrees_kept | length == 1 and .[0].branch == $b and .[0].worker == "coder"'

}

@test "a budget shared by two parallel coders: each reserves its part, together they never pass it" {
	# each coder call costs about $0.015 (claude-sonnet-4-5: $15 per million output
	# tokens; 1000 is below the shortest reply a lowered max_tokens asks for), and
	# each turn runs a different command, so only the budget stops a coder
	jq -n '{rules: ([
	  {match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", id: "toolu_a", name: "coder", input: {task: "write a"}},
	                     {type: "tool_use", id: "toolu_b", name: "coder", input: {task: "write b"}}]}},
	  {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done"}]}}] +
	  [range(0; 12) as $t | {match: {system: "You are the coder", turn: $t},
	   reply: {content: [{type: "tool_use", name: "Bash", input: {command: "echo \($t)"}}],
	   usage: {input_tokens: 10, output_tokens: 1000, cache_read_input_tokens: 0, cache_creation_input_tokens: 0}}}])}' >budget.json
	fake_start "$BATS_TEST_TMPDIR/budget.json"
	run --separate-stderr manage --max-cost-usd 0.1 "two parts"
	printf '%s\n' "$output" | jq -r 'select(.type == "init" and .agent == "coder") | .limits.max_cost_usd' >caps
	[ "$(wc -l <caps)" -eq 2 ]
	# each was given a part of what the manager's first call left, the two parts together no more
	jq_assert '. < 0.05' caps
	jq -s -e 'add <= 0.1' caps
	# both worked, each until its own part was spent
	[ "$(printf '%s\n' "$output" | jq -r 'select(.type == "result" and .agent == "coder") | .status' | tr '\n' ' ')" = "limit limit " ]
	coder_calls=$(jq -s 'map(select(.body.system[0].text | contains("You are the coder"))) | length' "$FAKE_LOG")
	[ "$coder_calls" -ge 2 ]
	# the whole tree, the manager's own calls included, stayed within the budget
	last_result | jq_assert '.total_cost_usd <= 0.1'
	last_result | jq_assert '.ledger.coder.cost_usd <= 0.1 - .ledger.manager.cost_usd'
}

@test "SIGINT during parallel workers saves both; --resume reruns neither finished one" {
	DELAY_B_MS=30000
	fake_start "$(two_coders)"
	bllm-manage --no-interactive -C ws --sessions-dir sess "two parts" >out.ndjson 2>err.txt &
	pid=$!
	# coder A finishes; coder B is still waiting for its reply
	for _ in $(seq 200); do
		jq -e -s 'any(.[]; .type == "result" and .agent == "coder" and .status == "completed")' out.ndjson >/dev/null 2>&1 && break
		sleep 0.05
	done
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	last_result out.ndjson | jq_assert '.status == "interrupted"'
	id=$(last_result out.ndjson | jq -r .session_id)
	[ -s "sess/$id.json.gz" ]
	# both workers' results are in the journal
	[ "$(jq -r 'select(.type == "result" and .agent == "coder") | .status' "sess/$id.ndjson" | sort | tr '\n' ' ')" = "completed interrupted " ]
	# A's work was merged; B's unfinished work stays on its branch
	[ "$(cat ws/a.txt)" = "from a" ]
	[ ! -e ws/b.txt ]
	fake_stop
	DELAY_B_MS=0
	fake_start "$(two_coders)"
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess --resume "$id"
	# A was not run again; B was
	[ "$(jq -s 'map(select(.rule == "coder-a")) | length' "$FAKE_LOG")" -eq 0 ]
	[ "$(jq -s 'map(select(.rule == "coder-b")) | length' "$FAKE_LOG")" -eq 1 ]
	any_event '.type == "log" and (.message | contains("resume: the coder had finished"))'
	[ "$(cat ws/b.txt)" = "from b" ]
}

@test "a workspace that is not a git repository runs writing workers one after another and says why" {
	rm -rf ws/.git
	DELAY_A_MS=500 DELAY_B_MS=500
	fake_start "$(two_coders)"
	run --separate-stderr manage "two parts"
	[ "$(cat ws/a.txt)" = "from a" ]
	[ "$(cat ws/b.txt)" = "from b" ]
	any_event '.type == "log" and (.message | contains("not the top of a git repository")) and (.message | contains("one after another"))'
	a=$(arrived coder-a) b=$(arrived coder-b)
	[ "$((b - a))" -ge 450 ]
}

@test "read-only workers share the workspace and run at once without git" {
	rm -rf ws/.git
	jq -n '{rules: [
	  {name: "m0", match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", id: "toolu_p", name: "planner", input: {task: "plan part one"}},
	                     {type: "tool_use", id: "toolu_r", name: "reviewer", input: {task: "review part two"}}]}},
	  {name: "m1", match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done"}]}},
	  {name: "planner", match: {system: "You are the planner"}, delay_ms: 1000, reply: {content: [{type: "text", text: "plan"}]}},
	  {name: "reviewer", match: {system: "You are the reviewer"}, delay_ms: 1000, reply: {content: [{type: "text", text: "VERDICT: APPROVED"}]}}
	]}' >ro.json
	fake_start "$BATS_TEST_TMPDIR/ro.json"
	run --separate-stderr manage "two reads"
	p=$(arrived planner) r=$(arrived reviewer)
	[ "$(( p > r ? p - r : r - p ))" -lt 700 ]
	printf '%s\n' "$output" | jq_assert 'select(.type == "init" and .agent != "manager") | .cwd == "'"$BATS_TEST_TMPDIR"'/ws"'
}

@test "max_parallel_workers 1: the workers of a turn run one after another" {
	config_set '.workflow_limits.max_parallel_workers = 1'
	DELAY_A_MS=500
	fake_start "$(two_coders)"
	run --separate-stderr manage "two parts"
	a=$(arrived coder-a) b=$(arrived coder-b)
	[ "$((b - a))" -ge 450 ]
	[ "$(cat ws/a.txt)" = "from a" ]
	[ "$(cat ws/b.txt)" = "from b" ]
}

# A review requests changes; the manager then asks for two coders at once.
review_then_two_coders() {
	jq -n '{rules: [
	  {name: "m0", match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", id: "toolu_r", name: "reviewer", input: {task: "review"}}]}},
	  {name: "m1", match: {system: "You are the manager", turn: 1},
	   reply: {content: [{type: "tool_use", id: "toolu_a", name: "coder", input: {task: "write a"}},
	                     {type: "tool_use", id: "toolu_b", name: "coder", input: {task: "write b"}}]}},
	  {name: "m2", match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done"}]}},
	  {name: "reviewer", match: {system: "You are the reviewer"}, reply: {content: [{type: "text", text: "VERDICT: CHANGES_REQUESTED"}]}},
	  {name: "coder-a", match: {system: "You are the coder", turn: 0, body: "write a"},
	   reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "a.txt", content: "a\n"}}]}},
	  {name: "coder-b", match: {system: "You are the coder", turn: 0, body: "write b"},
	   reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "b.txt", content: "b\n"}}]}},
	  {name: "coder-done", match: {system: "You are the coder"}, reply: {content: [{type: "text", text: "written"}]}}
	]}' >"$BATS_TEST_TMPDIR/review2.json"
	echo "$BATS_TEST_TMPDIR/review2.json"
}

@test "cycles see a turn's calls in the order asked: two coders after a review are one review cycle" {
	config_set '.workflow_limits.max_review_iterations = 1'
	fake_start "$(review_then_two_coders)"
	run --separate-stderr manage "fix it"
	[ "$(printf '%s\n' "$output" | jq -c 'select(.type == "cycle") | [.kind, .n, .max]' | tr '\n' ' ')" = '["review",1,1] ' ]
	[ "$(cat ws/a.txt)" = "a" ]
	[ "$(cat ws/b.txt)" = "b" ]
	jq -s -e 'map(select(.rule == "m2"))[0].body.messages[-1].content | map(.is_error // false) == [false, false]' "$FAKE_LOG"
}

@test "a cycle limit refuses the first coder of a turn; the one after it is not run" {
	config_set '.workflow_limits.max_review_iterations = 0'
	fake_start "$(review_then_two_coders)"
	run --separate-stderr manage "fix it"
	[ "$status" -eq 6 ]
	last_result | jq_assert '.status == "limit" and (.error | contains("Review cycle limit reached"))'
	[ "$(jq -s 'map(select(.rule | startswith("coder"))) | length' "$FAKE_LOG")" -eq 0 ]
	[ "$(printf '%s\n' "$output" | jq -r 'select(.type == "tool_result" and .agent == "manager") | .content[0:19]' | tr '\n' '|')" = "reviewer finished: |refused: Review cyc|not run: the run is|" ]
}

@test "the live view tags each line of workers running at once with its agent; one at a time, no tags" {
	# both coders wait for their first reply, so each is still under way when the other writes
	DELAY_A_MS=2000 DELAY_B_MS=2000
	fake_start "$(two_coders)"
	run --separate-stderr manage --progress "two parts"
	echo "$stderr"
	# both coders' tool calls, each on a line tagged with its coder
	grep -E '^  \[coder( 2)?\]   → Write a\.txt$' <<<"$stderr"
	grep -E '^  \[coder( 2)?\]   → Write b\.txt$' <<<"$stderr"
	grep -q '^  \[coder 2\] ' <<<"$stderr"
	[ "$(grep -Ec '^  \[coder( 2)?\] ── coder' <<<"$stderr")" -ge 1 ]
	# a coder that outlives the other keeps its tag to its end
	[ "$(grep -Ec '^  \[coder( 2)?\] ✓ coder completed' <<<"$stderr")" -eq 2 ]
	# the manager's own lines carry no tag
	! grep -q '^\[' <<<"$stderr"
	fake_stop
	config_set '.workflow_limits.max_parallel_workers = 1'
	fake_start "$(two_coders)"
	run --separate-stderr manage --progress "two parts again"
	grep -q '^    → Write a\.txt$' <<<"$stderr"
	! grep -q '\[coder' <<<"$stderr"
}

@test "a writer's worktree works with git inside the command sandbox; the repository's hooks stay out of sight" {
	jq -n '{rules: [
	  {match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", id: "toolu_a", name: "coder", input: {task: "write a"}},
	                     {type: "tool_use", id: "toolu_b", name: "coder", input: {task: "write b"}}]}},
	  {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done"}]}},
	  {match: {system: "You are the coder", turn: 0, body: "write a"}, reply: {content: [{type: "tool_use", name: "Bash",
	   input: {command: "echo a >a.txt && git add a.txt && git -c user.name=t -c user.email=t@t commit -qm a && git log --format=%s -1; ls \"$(git rev-parse --git-common-dir)/hooks\" || echo no hooks"}}]}},
	  {match: {system: "You are the coder", turn: 0, body: "write b"}, reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "b.txt", content: "b\n"}}]}},
	  {match: {system: "You are the coder"}, reply: {content: [{type: "text", text: "ok"}]}}
	]}' >git.json
	fake_start "$BATS_TEST_TMPDIR/git.json"
	run --separate-stderr manage "two parts"
	printf '%s\n' "$output" | jq_assert 'select(.type == "init" and .agent == "coder") | .sandbox.mode == "sandbox"'
	content=$(printf '%s\n' "$output" | jq -r 'select(.type == "tool_result" and .agent == "coder" and .name == "Bash") | .content')
	[[ "$content" == "a"$'\n'*"no hooks"* ]]
	[ "$(cat ws/a.txt)" = "a" ]
	[ "$(cat ws/b.txt)" = "b" ]
}
