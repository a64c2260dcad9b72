#!/usr/bin/env bats
# The command sandbox: an escape corpus of hostile commands run through the
# Bash tool of a scripted coder, each checked from outside; the same corpus
# with a network-allowed agent; the probe; the policy's place in config.
bats_require_minimum_version 1.5.0
load helper

setup() {
	bllm_setup
	mkdir -p outside home/.ssh
	echo "OUTSIDE-SECRET" >outside/secret.txt
	echo "SSH-SECRET-KEY" >home/.ssh/id_rsa
	export HOME="$BATS_TEST_TMPDIR/home"
	echo "DOTENV_SECRET=DOTENV-SECRET-VALUE" >ws/.env
	# The state directory and the logs inside the workspace: the hardest case.
	export BLLM_STATE_DIR="$BATS_TEST_TMPDIR/ws/.bllm-state" LOG_DIR="$BATS_TEST_TMPDIR/ws/logs"
	mkdir -p "$BLLM_STATE_DIR/sessions"
	echo '{"secret":"JOURNAL-SECRET"}' >"$BLLM_STATE_DIR/sessions/20260101-000000-abcdef.ndjson"
	# Limits that bite fast.
	config_set '.sandbox.limits = {"cpu_seconds": 10, "memory_bytes": 536870912, "processes": 64,
		"file_size_bytes": 16777216}
		| .workflow_limits.max_context_messages = 500'
}
teardown() {
	fake_stop
	[ -z "${SECOND_PID:-}" ] || kill "$SECOND_PID" 2>/dev/null || true
}

# A second loopback server (another fake-anthropic), its port in SECOND_PORT.
second_server() {
	scenario second <<<'{"rules": [{"reply": {"content": [{"type": "text", "text": "x"}]}}]}' >/dev/null
	fake-anthropic --scenario "$BATS_TEST_TMPDIR/second.json" --port-file "$BATS_TEST_TMPDIR/port2" \
		>/dev/null 2>&1 3>&- &
	SECOND_PID=$!
	for _ in $(seq 100); do [ -s "$BATS_TEST_TMPDIR/port2" ] && break; sleep 0.05; done
	SECOND_PORT=$(cat "$BATS_TEST_TMPDIR/port2")
}

# The corpus: one hostile command per line. Placeholders: @OUT@ (a directory
# outside the workspace), @HOME@, @TOP@ (the test's directory, holding the
# config), @SECOND@ (a second loopback server's port), @N@ (a unique number).
# The fake API's own address reaches commands as $ANTHROPIC_BASE_URL.
corpus() {
	cat <<'EOF'
touch @OUT@/abs-write; echo rc=$?
touch ../dotdot-write; echo rc=$?
ln -s @OUT@ via-link && echo x >via-link/symlink-write; echo rc=$?
echo x >/proc/self/root@OUT@/proc-root-write; echo rc=$?
ln @OUT@/secret.txt hard-link; echo rc=$?
cat @HOME@/.ssh/id_rsa; echo rc=$?
cat ~/.ssh/id_rsa; echo rc=$?
cat .env; echo rc=$?
cat .bllm-state/sessions/*.ndjson; echo rc=$?
ls -la .bllm-state; ls .bllm-state/sessions; echo rc=$?
curl -sS -m 3 "$ANTHROPIC_BASE_URL/health"; echo rc=$?
curl -sS -m 3 http://127.0.0.1:@SECOND@/health; echo rc=$?
pkill -9 -f bllm-cod[e]; echo rc=$?
kill -9 @TESTPID@; echo rc=$?
ps -e -o pid=,args=; echo rc=$?
cat /proc/*/environ 2>/dev/null | tr '\0' '\n' | grep -c ANTHROPIC_API_KEY; echo rc=$?
setsid nohup sleep 1@N@1 >/dev/null 2>&1 & echo started
(sh -c 'sleep 1@N@2 >/dev/null 2>&1 &' &); echo started
i=0; while [ $i -lt 500 ]; do sleep 2@N@4 >/dev/null 2>&1 & i=$((i+1)); done 2>&1 | tail -n 1; echo forked
x=x; while :; do x=$x$x; done
head -c 10000000000 /dev/zero >big
mount -t tmpfs none /mnt; echo rc=$?
unshare -r true; echo rc=$?
unshare -m true; echo rc=$?
echo hi >/dev/tty; echo rc=$?
echo x >/etc/bllm-escape; echo rc=$?
touch /usr/bllm-escape; echo rc=$?
touch /tmp/bllm-escape-@N@; echo rc=$?
ls @TOP@; echo rc=$?
cat @TOP@/config/agent_config.json; echo rc=$?
env; echo rc=$?
bash -c 'echo >/dev/tcp/127.0.0.1/${ANTHROPIC_BASE_URL##*:}'; echo rc=$?
touch ~/.bashrc-escape; git config --global user.name escape; echo rc=$?
ls /dev; echo rc=$?
sleep 1@N@3 & echo started
cat /etc/shadow; echo rc=$?
EOF
}

# A scenario whose coder runs each corpus line through Bash, one per turn, then stops.
corpus_scenario() {
	local n=$1
	corpus | sed -e "s|@OUT@|$BATS_TEST_TMPDIR/outside|g" -e "s|@HOME@|$HOME|g" \
		-e "s|@TOP@|$BATS_TEST_TMPDIR|g" -e "s|@SECOND@|$SECOND_PORT|g" \
		-e "s|@TESTPID@|$$|g" -e "s|@N@|$n|g" >"$BATS_TEST_TMPDIR/corpus.txt"
	jq -R -s '{rules: ((split("\n") | map(select(length > 0)) | to_entries | map(
		{match: {turn: .key}, reply: {content: [{type: "tool_use", id: "toolu_\(.key)",
		 name: "Bash", input: {command: .value}}]}})) + [{reply: {content: [{type: "text", text: "done"}]}}])}' \
		"$BATS_TEST_TMPDIR/corpus.txt" >"$BATS_TEST_TMPDIR/corpus.json"
	echo "$BATS_TEST_TMPDIR/corpus.json"
}

# result K: the content of the Kth tool result (from 1) of the run in $output.
result() {
	printf '%s\n' "$output" | jq -r "select(.type == \"tool_result\" and .tool_use_id == \"toolu_$(($1 - 1))\") | .content"
}

# Checks every case of the corpus, from outside; network=1 when it was allowed.
check_corpus() {
	local network=$1 n=$2
	assert_success
	# The run went on to the end: every command was answered, then the final turn.
	[ "$(events_of tool_result | wc -l)" -eq "$(wc -l <"$BATS_TEST_TMPDIR/corpus.txt")" ]
	last_result | jq_assert '.status == "completed"'
	# Writes outside: absolute, "..", symlink, /proc/self/root, hard link.
	[ ! -e outside/abs-write ]
	[ ! -e dotdot-write ]
	[ ! -e outside/symlink-write ]
	[ ! -e outside/proc-root-write ]
	[ "$(stat -c %h outside/secret.txt)" -eq 1 ]
	[ ! -e ws/hard-link ]
	[[ "$(result 1)" == *"rc=1"* ]]
	[[ "$(result 4)" == *"rc=2"* ]]
	# Secrets: ~/.ssh, .env, a session journal, the state directory.
	[[ "$(result 6)" != *SSH-SECRET* ]]
	[[ "$(result 7)" != *SSH-SECRET* ]]
	[[ "$(result 8)" != *DOTENV-SECRET* ]]
	[ "$(cat ws/.env)" = "DOTENV_SECRET=DOTENV-SECRET-VALUE" ]
	[[ "$(result 9)" != *JOURNAL-SECRET* ]]
	[[ "$(result 10)" != *ndjson* ]]
	# The network: refused unless allowed.
	if [ "$network" = 1 ]; then
		[[ "$(result 11)" == *"rc=0"* ]]
		[[ "$(result 12)" == *"rc=0"* ]]
		[[ "$(result 32)" == *"rc=0"* ]]
	else
		[[ "$(result 11)" != *"rc=0"* ]]
		[[ "$(result 12)" != *"rc=0"* ]]
		[[ "$(result 32)" != *"rc=0"* ]]
	fi
	# Processes outside are neither visible nor reachable.
	[[ "$(result 13)" == *"rc=1"* ]]
	[[ "$(result 14)" == *"No such process"* ]]
	[[ "$(result 15)" != *bllm-code* ]]
	[[ "$(result 15)" != *fake-anthropic* ]]
	[[ "$(result 16)" == "0"* ]]
	[[ "$output" != *"$TEST_KEY"* ]]
	# Nothing is left running: a daemon, a double fork, a plain background job.
	refute_alive "sleep 1${n}1"
	refute_alive "sleep 1${n}2"
	refute_alive "sleep 1${n}3"
	# Limits: processes, memory, file size.
	[[ "$(result 19)" =~ fork|Resource\ temporarily|Cannot ]]
	[[ "$(result 19)" == *forked* ]]
	refute_alive "sleep 2${n}4"
	[[ "$(result 20)" != *"[exit code 0]"* ]]
	[[ "$(result 21)" == *"file-size limit"* ]]
	[ "$(stat -c %s ws/big)" -le 16777216 ]
	# No mounts, no namespaces, no terminal, a read-only system.
	[[ "$(result 22)" != *"rc=0"* ]]
	[[ "$(result 23)" != *"rc=0"* ]]
	[[ "$(result 24)" != *"rc=0"* ]]
	[[ "$(result 25)" != *"rc=0"* ]]
	[ ! -e /etc/bllm-escape ]
	[ ! -e /usr/bllm-escape ]
	[ ! -e "/tmp/bllm-escape-$n" ]
	# The test's own directory (config, outside/) is not visible.
	[[ "$(result 29)" != *outside* ]]
	[[ "$(result 29)" != *config* ]]
	[[ "$(result 30)" != *agents* ]]
	[[ "$(result 31)" != *"$TEST_KEY"* ]]
	[ ! -e home/.bashrc-escape ]
	[ ! -e home/.gitconfig ]
	[[ "$(result 34)" != *sda* ]]
	[[ "$(result 36)" != *"root:"* ]]
}

@test "escape corpus: every hostile command is confined, reported, and the run goes on" {
	second_server
	n=$((RANDOM + 10000))
	fake_start "$(corpus_scenario $n)"
	SECONDS=0
	run --separate-stderr timeout 300 bllm-code -C ws "task"
	echo "$stderr" >&2

	check_corpus 0 "$n"
	[ "$SECONDS" -lt 120 ]
}

@test "escape corpus with a network-allowed agent: only the network cases change" {
	second_server
	n=$((RANDOM + 10000))
	fake_start "$(corpus_scenario $n)"
	# Loosening is the person's choice: an explicit --config, not the one found in ".".
	agents_set '(.agents[] | select(.name == "coder")) += {"sandbox": {"network": true}}'
	SECONDS=0
	run --separate-stderr timeout 300 bllm-code --config config/agent_config.json -C ws "task"
	check_corpus 1 "$n"
	events_of init | jq_assert '.sandbox == {"mode": "sandbox", "network": true}'
	[ "$SECONDS" -lt 120 ]
}

# one_call TOOL INPUT-JSON: a scenario whose agent makes one tool call, then stops.
one_call() {
	scenario call <<JSON
{"rules": [
 {"match": {"turn": 0}, "reply": {"content": [{"type": "tool_use", "id": "toolu_1", "name": "$1", "input": $2}]}},
 {"match": {"turn": 1}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
}

@test "when bubblewrap cannot run, a worker with Bash stops before any call: one line, exit 5" {
	mkdir fakebin
	printf '#!/bin/sh\necho "bwrap: No permissions to creating new namespace" >&2\nexit 1\n' >fakebin/bwrap
	chmod +x fakebin/bwrap
	fake_start "$(one_call Bash '{"command": "touch ran"}')"
	run --separate-stderr env PATH="$BATS_TEST_TMPDIR/fakebin:$PATH" bllm-code -C ws "task"
	assert_failure 5
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"No permissions to creating new namespace"* ]]
	[[ "$stderr" == *"install bubblewrap"* ]]
	[[ "$stderr" == *"--sandbox off"* ]]
	[ "$(request_count)" -eq 0 ]
	[ ! -e ws/ran ]
	last_result | jq_assert '.exit_code == 5'
}

@test "bwrap missing altogether names the package; an agent without Bash does not need it" {
	fake_start "$(one_call Read '{"file_path": "x"}')"
	run --separate-stderr env BLLM_BWRAP="$BATS_TEST_TMPDIR/no-such-bwrap" bllm-code -C ws "task"
	assert_failure 5
	[ "$(printf '%s\n' "$stderr" | wc -l)" -eq 1 ]
	[[ "$stderr" == *"bwrap (bubblewrap) is not installed"* ]]
	[[ "$stderr" == *"install bubblewrap"* ]]
	[[ "$stderr" == *"--sandbox off"* ]]
	[ "$(request_count)" -eq 0 ]
	run --separate-stderr env BLLM_BWRAP="$BATS_TEST_TMPDIR/no-such-bwrap" bllm-plan -C ws "task"
	assert_success
	# A .env cannot choose the bubblewrap (a repository could name a fake one).
	echo "BLLM_BWRAP=$BATS_TEST_TMPDIR/no-such-bwrap" >.env
	run --separate-stderr bllm-code -C ws "task"
	assert_success
	rm .env
	# Deliberately off, it runs without bubblewrap.
	run --separate-stderr env BLLM_BWRAP="$BATS_TEST_TMPDIR/no-such-bwrap" bllm-code --sandbox off -C ws "task"
	assert_success
}

@test "--sandbox off runs commands unconfined, says so in init and as a warning, and bllm-manage passes it on" {
	fake_start "$(one_call Bash "{\"command\": \"touch $BATS_TEST_TMPDIR/outside/unconfined\"}")"
	run --separate-stderr bllm-code --sandbox off -C ws "task"
	assert_success
	[ -e outside/unconfined ]
	events_of init | jq_assert '.sandbox.mode == "off"'
	any_event '.type == "log" and .level == "warning" and (.message | contains("sandbox is off"))'
	[[ "$stderr" == *"warning: the sandbox is off"* ]]
	run --separate-stderr bllm-code --sandbox maybe -C ws "task"
	assert_failure 2
	[[ "$stderr" == *"--sandbox: expected"* ]]
}

@test "bllm-manage --sandbox off reaches the workers" {
	fake_start "$(scenario m <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	run --separate-stderr bllm-manage --no-interactive --sandbox off -C ws --sessions-dir sess "task"
	any_event '.type == "init" and .agent == "coder" and .sandbox.mode == "off"'
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess2 "task"
	any_event '.type == "init" and .agent == "coder" and .sandbox.mode == "sandbox"'
}

@test "a config found in the current directory may not loosen the sandbox; --config may" {
	fake_start "$(one_call Bash '{"command": "true"}')"
	for change in '.sandbox.mode = "off"' '.sandbox.network = true' '.sandbox.read_write_paths = ["/"]' \
		'.sandbox.read_only_paths = ["/home"]'; do
		cp "$TOP/config/system_config.json" config/system_config.json
		config_set "$change"
		run --separate-stderr bllm-code -C ws "task"
		assert_failure 2
		[[ "$stderr" == *"loosens the sandbox"* ]]
		[[ "$stderr" == *"--config"* ]]
	done
	run --separate-stderr bllm-code --config config/agent_config.json -C ws "task"
	assert_success
	cp "$TOP/config/system_config.json" config/system_config.json
	agents_set '(.agents[] | select(.name == "coder")) += {"sandbox": {"mode": "off"}}'
	run --separate-stderr bllm-code -C ws "task"
	assert_failure 2
	[[ "$stderr" == *'agent "coder": "sandbox.mode" loosens the sandbox'* ]]
}

@test "a config found in the current directory may not take a prompt from outside its tree" {
	fake_start "$(one_call Read '{"file_path": "x"}')"
	agents_set '(.agents[] | select(.name == "planner")).system_prompt_file = "/etc/passwd"' 
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 2
	[[ "$stderr" == *"system_prompt_file"* ]]
	[[ "$stderr" == *"outside the config's own directory tree"* ]]
	[ "$(request_count)" -eq 0 ]
	ln -s /etc/passwd prompts/sneaky.txt
	agents_set '(.agents[] | select(.name == "planner")).system_prompt_file = "prompts/sneaky.txt"'
	run --separate-stderr bllm-plan -C ws "task"
	assert_failure 2
	[ "$(request_count)" -eq 0 ]
	# Given with --config, it is the person's choice.
	run --separate-stderr bllm-plan --config config/agent_config.json -C ws "task"
	assert_success
	[[ "$(request 1 .body.system)" == *root:* ]]
}

@test "a .env may not send a key from the environment to a server it names" {
	fake_start "$(one_call Read '{"file_path": "x"}')"
	good_url=$ANTHROPIC_BASE_URL
	unset ANTHROPIC_BASE_URL
	echo "ANTHROPIC_BASE_URL=$good_url" >.env
	run --separate-stderr bllm-code -C ws "task"
	assert_failure 2
	[[ "$stderr" == *".env: sets ANTHROPIC_BASE_URL while the API key comes from the environment"* ]]
	[ "$(request_count)" -eq 0 ]
	run --separate-stderr bllm-manage --no-interactive -C ws --sessions-dir sess "task"
	assert_failure 2
	[ "$(request_count)" -eq 0 ]
	# Together with the key it holds, the .env is the person's own set-up.
	unset ANTHROPIC_API_KEY
	printf 'ANTHROPIC_BASE_URL=%s\nANTHROPIC_API_KEY=%s\n' "$good_url" "$TEST_KEY" >.env
	run --separate-stderr bllm-code -C ws "task"
	assert_success
}

@test "a server message that echoes the key is scrubbed before it is written anywhere" {
	fake_start "$(scenario echo <<JSON
{"rules": [
 {"times": 1, "status": 500, "message": "upstream said: bad key $TEST_KEY"},
 {"status": 401, "message": "invalid x-api-key: $TEST_KEY"}
]}
JSON
)"
	run --separate-stderr bllm-code -C ws "task"
	assert_failure 5
	[[ "$stderr" == *"[REDACTED]"* ]]
	[[ "$stderr" != *"$TEST_KEY"* ]]
	[[ "$output" != *"$TEST_KEY"* ]]
	any_event '.type == "retry" and (.error | contains("[REDACTED]"))'
	run grep -rl -- "$TEST_KEY" "$LOG_DIR" "$BLLM_STATE_DIR"
	assert_failure
}

@test "sessions and logs go to the state directory by default, per workspace, out of the agents' sight" {
	unset LOG_DIR
	fake_start "$(scenario m <<'JSON'
{"rules": [
 {"match": {"system": "You are the manager", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "code it"}}]}},
 {"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "TERMINATE"}]}},
 {"match": {"system": "You are the coder", "turn": 0}, "reply": {"content": [{"type": "tool_use", "name": "Bash", "input": {"command": "ls -a; ls -a logs sessions; echo end"}}]}},
 {"match": {"system": "You are the coder"}, "reply": {"content": [{"type": "text", "text": "done"}]}}
]}
JSON
)"
	export BLLM_STATE_DIR="$BATS_TEST_TMPDIR/xdg/bllm"
	cd ws
	run --separate-stderr bllm-manage --no-interactive --config ../config/agent_config.json "task"
	[ ! -e sessions ]
	[ ! -e logs ]
	ls "$BLLM_STATE_DIR"/sessions/ws-*/*.ndjson
	[ -s "$BLLM_STATE_DIR/logs/better-llm.log" ]
	# bllm-session finds them from the same directory.
	run --separate-stderr bllm-session list --json
	assert_success
	[ "$(jq 'length' <<<"$output")" -eq 1 ]
	# Explicit places still win.
	run --separate-stderr bllm-manage --no-interactive --config ../config/agent_config.json --sessions-dir ../mine "task"
	ls ../mine/*.ndjson
}
