#!/usr/bin/env bats
# bllm-batch: many tasks through GNU parallel, each bllm-manage on its own
# worktree and branch bllm/batch/ID; outcome lines, exit codes, interrupts,
# and remote machines through a real sshd on a loopback port.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	git init -q repo
	echo base >repo/base.txt
	git -C repo add base.txt
	git -C repo -c user.name=t -c user.email=t@t commit -qm base
	BASE=$(git -C repo rev-parse HEAD)
}
teardown() {
	fake_stop
	[ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null
	[ -n "${TMUX_SESSION:-}" ] && tmux kill-session -t "$TMUX_SESSION" 2>/dev/null
	true
}

# The manager calls the coder (who writes out.txt) then the tester (who
# runs `true`, or `false` when the task says fail-me). Coder replies wait
# CODER_DELAY_MS (default 0).
batch_scenario() {
	jq -n --argjson delay "${CODER_DELAY_MS:-0}" '{rules: [
	  {match: {system: "You are the manager", turn: 0},
	   reply: {content: [{type: "tool_use", name: "coder", input: {task: "write it"}}]}},
	  {match: {system: "You are the manager", turn: 1},
	   reply: {content: [{type: "tool_use", name: "tester", input: {task: "test it"}}]}},
	  {match: {system: "You are the manager"}, reply: {content: [{type: "text", text: "done\nTERMINATE"}]}},
	  {match: {system: "You are the coder", turn: 0}, delay_ms: $delay,
	   reply: {content: [{type: "tool_use", name: "Write", input: {file_path: "out.txt", content: "hello\n"}}]}},
	  {match: {system: "You are the tester", turn: 0, body: "fail-me"},
	   reply: {content: [{type: "tool_use", name: "Bash", input: {command: "false"}}]}},
	  {match: {system: "You are the tester", turn: 0},
	   reply: {content: [{type: "tool_use", name: "Bash", input: {command: "true"}}]}},
	  {reply: {content: [{type: "text", text: "ok"}]}}]}' >"$BATS_TEST_TMPDIR/batch.json"
	echo "$BATS_TEST_TMPDIR/batch.json"
}

batch() { bllm-batch -C repo "$@" -- --config "$BATS_TEST_TMPDIR/config/agent_config.json"; }

branches() { git -C repo for-each-ref --format='%(refname:short)' refs/heads/bllm/batch | tr '\n' ' '; }

# Only the repository's own worktree is left.
assert_no_worktree() {
	[ "$(git -C repo worktree list | wc -l)" -eq 1 ]
	[ ! -e repo/.git/bllm-batch ]
}

@test "bllm-batch -j 3 over 6 tasks: 6 outcome lines, 6 branches with the work committed, no worktree left" {
	fake_start "$(batch_scenario)"
	for i in 1 2 3 4 5 6; do echo "task number $i"; done >tasks.txt
	run --separate-stderr batch -j 3 tasks.txt
	assert_success
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 6 ]
	printf '%s\n' "$output" | jq_assert '.status == "completed" and .verified == true and .exit_code == 0
		and .files_changed == ["out.txt"] and .branch == "bllm/batch/\(.id)" and (.cost_usd > 0)
		and (.session | test("/sessions/[0-9-]+-[0-9a-f]+\\.json"))'
	[ "$(printf '%s\n' "$output" | jq -r .id | sort | tr '\n' ' ')" = "1 2 3 4 5 6 " ]
	[ "$(branches)" = "bllm/batch/1 bllm/batch/2 bllm/batch/3 bllm/batch/4 bllm/batch/5 bllm/batch/6 " ]
	for i in 1 2 3 4 5 6; do
		[ "$(git -C repo show "bllm/batch/$i:out.txt")" = hello ]
		[ "$(git -C repo rev-parse "bllm/batch/$i^")" = "$BASE" ]
		git -C repo log -1 --format=%B "bllm/batch/$i" | grep -qF "task number $i"
	done
	for s in $(printf '%s\n' "$output" | jq -r .session); do [ -s "$s" ]; done
	for e in $(printf '%s\n' "$output" | jq -r .events); do last_result "$e" | jq_assert '.agent == "manager"'; done
	# the repository's own checkout was not touched
	[ "$(git -C repo status --porcelain)" = "" ]
	[ ! -e repo/out.txt ]
	assert_no_worktree
}

@test "tasks on stdin as JSON lines keep their ids; the manager gets each task" {
	fake_start "$(batch_scenario)"
	run --separate-stderr batch -j 2 <<'EOF'
# two tasks
{"task": "add the json flag", "id": "json-flag"}

{"task": "fix the bug", "id": 42}
EOF
	assert_success
	[ "$(branches)" = "bllm/batch/42 bllm/batch/json-flag " ]
	jq -s -e 'map(select(.body.system[0].text | contains("You are the manager")) | .body.messages[0] | tostring)
		| (any(contains("add the json flag")) and any(contains("fix the bug")))' "$FAKE_LOG"
}

@test "the batch's exit code is the worst task's; 0 only when all are verified" {
	fake_start "$(batch_scenario)"
	printf 'good one\nfail-me please\n' >tasks.txt
	run --separate-stderr batch -j 2 tasks.txt
	assert_failure 1
	printf '%s\n' "$output" | jq -s -e 'map({(.id): .status}) | add == {"1": "completed", "2": "failed"}'
	# the failed task's work is still on its branch
	[ "$(git -C repo show bllm/batch/2:out.txt)" = hello ]
}

@test "a bad task line, a duplicate id or an existing branch: one line naming it, exit 2, nothing run" {
	fake_start "$(batch_scenario)"
	printf 'one\n{"task": "x", "id": "a b"}\n' >bad.txt
	run --separate-stderr batch bad.txt
	assert_failure 2
	[ "$stderr" = 'bllm-batch: bad.txt:2: field "id": "a b" cannot name a branch (use 1 to 64 of A-Z a-z 0-9 . _ -)' ]
	printf '{"task": "x", "id": "t"}\n{"task": "y", "id": "t"}\n' >dup.txt
	run --separate-stderr batch dup.txt
	assert_failure 2
	[[ "$stderr" == *'dup.txt:2: id "t" is used twice'* ]]
	git -C repo branch bllm/batch/1
	run --separate-stderr batch <<<"task"
	assert_failure 2
	[[ "$stderr" == *"branch bllm/batch/1 already exists: delete it (git branch -D bllm/batch/1)"* ]]
	[ "$(request_count)" -eq 0 ]
	run --separate-stderr bllm-batch -C ws <<<"task"
	assert_failure 2
	[[ "$stderr" == *"not a git repository with a commit"* ]]
	run --separate-stderr bllm-batch -j 0 tasks.txt
	assert_failure 2
	[[ "$stderr" == *"--jobs: expected a whole number"* ]]
}

@test "on a terminal: one line per task and a table at the end" {
	fake_start "$(batch_scenario)"
	printf 'good one\nfail-me please\n' >tasks.txt
	TMUX_SESSION="bllm-batch-$$-$BATS_TEST_NUMBER"
	tmux new-session -d -s "$TMUX_SESSION" -x 150 -y 40 \
		"cd '$BATS_TEST_TMPDIR' && PATH='$PATH' ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY LOG_DIR='$LOG_DIR' bllm-batch -j 1 -C repo tasks.txt -- --config config/agent_config.json; echo \"exit=\$?\" >done; sleep 30"
	for _ in $(seq 200); do [ -s done ] && break; sleep 0.05; done
	screen=$(tmux capture-pane -p -t "$TMUX_SESSION")
	[ "$(cat done)" = exit=1 ]
	[[ "$screen" == *"1: completed (exit 0), 1 file changed, on bllm/batch/1"* ]]
	[[ "$screen" == *"ID  STATUS      EXIT FILES      COST  BRANCH"* ]]
	[[ "$screen" == *"2   failed         1     1"*"bllm/batch/2"* ]]
	[[ "$screen" == *"1 of 2 tasks completed and verified; cost \$"* ]]
	[[ "$screen" != *'{"id"'* ]]
}

@test "SIGINT stops every task: sessions saved, branches kept, no worktree left, exit 130" {
	CODER_DELAY_MS=20000
	fake_start "$(batch_scenario)"
	printf 'slow one\nslow two\n' >tasks.txt
	bllm-batch -C repo -j 2 tasks.txt -- --config config/agent_config.json >out.ndjson 2>err.txt &
	pid=$!
	for _ in $(seq 200); do
		[ "$(jq -s 'map(select(.body.system[0].text | contains("You are the coder"))) | length' "$FAKE_LOG")" -ge 2 ] && break
		sleep 0.05
	done
	kill -INT "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 130 ]
	[ "$(wc -l <out.ndjson)" -eq 2 ]
	jq_assert '.status == "interrupted" and .exit_code == 130 and (.session | type == "string")' out.ndjson
	for s in $(jq -r .session out.ndjson); do [ -s "$s" ]; done
	[ "$(branches)" = "bllm/batch/1 bllm/batch/2 " ]
	assert_no_worktree
	refute_alive "bllm-manage --no-interactive --quiet -C $BATS_TEST_TMPDIR"
}

# A real sshd on a loopback port with a throwaway key; the "remote" machine
# is this one, reached only through ssh, with bllm on its PATH.
start_sshd() {
	command -v /usr/sbin/sshd >/dev/null || skip "needs openssh-server"
	[ -d /run/sshd ] || mkdir -p /run/sshd 2>/dev/null || skip "sshd needs /run/sshd"
	local d="$BATS_TEST_TMPDIR/ssh" port
	mkdir -m 700 "$d"
	ssh-keygen -q -t ed25519 -N '' -f "$d/host_key"
	ssh-keygen -q -t ed25519 -N '' -f "$d/user_key"
	cp "$d/user_key.pub" "$d/authorized_keys"
	cat >"$d/sshd_config.in" <<EOF
ListenAddress 127.0.0.1
Port @PORT@
HostKey $d/host_key
AuthorizedKeysFile $d/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PidFile none
SetEnv PATH=$BLLM_BUILD:/usr/bin:/bin ANTHROPIC_BASE_URL=$ANTHROPIC_BASE_URL ANTHROPIC_API_KEY=$ANTHROPIC_API_KEY LOG_DIR=$LOG_DIR
EOF
	cat >"$d/ssh_config.in" <<EOF
Host bllm-remote
	HostName 127.0.0.1
	Port @PORT@
	User $(id -un)
	IdentityFile $d/user_key
	IdentitiesOnly yes
	StrictHostKeyChecking no
	UserKnownHostsFile /dev/null
	BatchMode yes
	LogLevel ERROR
EOF
	export PARALLEL_SSH="ssh -F $d/ssh_config"
	# A free port: try a few at random (sshd cannot be given port 0).
	for _ in 1 2 3 4 5; do
		port=$((20000 + RANDOM % 40000))
		sed "s/@PORT@/$port/" "$d/sshd_config.in" >"$d/sshd_config"
		sed "s/@PORT@/$port/" "$d/ssh_config.in" >"$d/ssh_config"
		/usr/sbin/sshd -D -e -f "$d/sshd_config" 2>"$d/sshd.log" 3>&- &
		SSHD_PID=$!
		for _ in $(seq 50); do
			$PARALLEL_SSH bllm-remote true 2>/dev/null && return 0
			kill -0 "$SSHD_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill "$SSHD_PID" 2>/dev/null
		wait "$SSHD_PID" 2>/dev/null
	done
	cat "$d/sshd.log" >&2
	return 1
}

@test "--sshlogin: two tasks run on the remote through sshd; their branches and sessions arrive" {
	fake_start "$(batch_scenario)"
	start_sshd
	printf '{"task": "remote a", "id": "ra"}\n{"task": "remote b", "id": "rb"}\n' >tasks.txt
	run --separate-stderr batch -j 2 --sshlogin bllm-remote tasks.txt
	assert_success
	[ "$(printf '%s\n' "$output" | wc -l)" -eq 2 ]
	printf '%s\n' "$output" | jq_assert '.status == "completed" and .verified and .files_changed == ["out.txt"] and (has("payload") | not)'
	[ "$(branches)" = "bllm/batch/ra bllm/batch/rb " ]
	[ "$(git -C repo show bllm/batch/ra:out.txt)" = hello ]
	[ "$(git -C repo rev-parse bllm/batch/rb^)" = "$BASE" ]
	# the sessions and event streams are here now, and show they ran in a clone on the remote side
	for s in $(printf '%s\n' "$output" | jq -r .session); do [[ "$s" == "$BATS_TEST_TMPDIR/sessions/"* ]]; [ -s "$s" ]; done
	for e in $(printf '%s\n' "$output" | jq -r .events); do
		jq_assert --arg d "$BATS_TEST_TMPDIR" 'select(.type == "init" and .agent == "manager") | .cwd | test("/bllm-batch-r[ab]-[^/]+/wt$")' "$e"
	done
	[ "$(grep -c 'Accepted publickey' "$BATS_TEST_TMPDIR/ssh/sshd.log")" -ge 3 ]
	# nothing left on the remote side
	[ -z "$(ls -d "${TMPDIR:-/tmp}"/bllm-batch-* 2>/dev/null)" ]
	assert_no_worktree
}

@test "--sshlogin to a machine that does not answer: one line naming it, exit 5" {
	fake_start "$(batch_scenario)"
	echo task >tasks.txt
	PARALLEL_SSH="ssh -o BatchMode=yes -o ConnectTimeout=2 -p 1" run --separate-stderr batch --sshlogin 127.0.0.1 tasks.txt
	assert_failure 5
	[[ "$stderr" == *"--sshlogin 127.0.0.1: could not reach it"* ]]
}

@test "bllm-batch --help tells the options and exit codes" {
	run bllm-batch --help
	assert_success
	assert_output --partial "--sshlogin HOSTS"
	assert_output --partial "bllm/batch/ID"
	assert_output --partial "Exit status: 0 when every task completed and was verified"
	run --separate-stderr bllm-batch --frobnicate
	assert_failure 2
	[ "$stderr" = "bllm-batch: unknown option '--frobnicate'
Try 'bllm-batch --help'." ]
}
