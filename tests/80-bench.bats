#!/usr/bin/env bats
# make bench: tools/bench.sh as a smoke run (BENCH_QUICK=1: one repetition,
# tiny sizes), and its helpers bench-measure, bench-latency and bench-lib.

load helper

# One quick benchmark run for the whole file; the tests look at what it left.
setup_file() {
	local d=$BATS_FILE_TMPDIR
	mkdir -p "$d/tmp"
	ls "$TOP/bench/results" >"$d/results-before" 2>/dev/null || true
	# Claude Code is asked for but absent: its row must say how to install it.
	env -u ANTHROPIC_API_KEY -u ANTHROPIC_BASE_URL -u CLAUDE_CODE_OAUTH_TOKEN \
		BENCH_QUICK=1 BENCH_CLAUDE=1 CLAUDE_BIN="$d/no-such-claude" \
		BENCH_RESULTS_DIR="$d/results" BENCH_TIMEOUT=30 TMPDIR="$d/tmp" \
		timeout 50 "$TOP/tools/bench.sh" >"$d/stdout" 2>"$d/stderr"
	echo $? >"$d/rc"
}

setup() {
	bllm_setup
	D=$BATS_FILE_TMPDIR
}

@test "bench.sh quick run: exits 0, progress on stderr, the table on stdout" {
	run cat "$D/rc"
	assert_output 0
	run cat "$D/stdout"
	assert_line --index 0 '| measurement | bllm | baseline | ratio | target | met? |'
	assert_line --index 1 '|---|---|---|---|---|---|'
	refute_output --partial 'bench:'
	run cat "$D/stderr"
	assert_output --partial 'bench: worker:'
	assert_output --partial 'bench: results:'
}

@test "bench.sh table: every row, with figures and targets" {
	run cat "$D/stdout"
	assert_output --regexp '\| worker, 1 tool round trip: wall \| [0-9.]+ ms \| curl, same 2 requests: [0-9.]+ ms \| [0-9.]+ \| bllm/curl ≤ 2 \| (yes|\*\*no\*\*) \|'
	assert_output --regexp '\| worker, 1 tool round trip: CPU \| [0-9.]+ ms \| curl: '
	assert_output --regexp '\| worker, 1 tool round trip: peak RSS \| [0-9.]+ MB \| curl: [0-9.]+ MB \| [0-9.]+ \| < 10 MB \| (yes|\*\*no\*\*) \|'
	assert_output --regexp '\| worker start-up alone \(--version\): wall \| [0-9.]+ ms \| curl --version: [0-9.]+ ms \|'
	assert_output --regexp '\| worker start-up alone \(--version\): peak RSS \| [0-9.]+ MB \| curl --version: [0-9.]+ MB \|'
	assert_output --regexp '\| pipeline plan \\\| code \\\| test on wordcount \(make test\): wall \| [0-9.]+ ms \|'
	assert_output --regexp '\| bllm-manage workflow on wordcount: wall \| [0-9.]+ ms \|'
	assert_output --regexp '\| text_delta latency, server → end of 2-stage pipeline: p50 \| [0-9.]+ ms \|'
	assert_output --regexp '\| text_delta latency, server → end of 2-stage pipeline: max \| [0-9.]+ ms \|'
	assert_output --regexp '\| SSE parsing throughput \([0-9.]+ kB stream\) \| [0-9]+ MB/s \|'
	assert_output --regexp '\| response assembly throughput \(parse \+ JSON \+ message\) \| [0-9]+ MB/s \|'
	assert_output --regexp '\| session save, 20 results: time \(.json.gz vs .json\) \| [0-9.]+ ms \| .json: [0-9.]+ ms \|'
	assert_output --regexp '\| session save, 20 results: size \(.json.gz vs .json\) \| [0-9.]+ kB \| .json: [0-9.]+ kB \|'
	assert_output --regexp '\| 1 concurrent bllm-manage: wall \(throughput\) \| [0-9.]+ ms \([0-9.]+ runs/s\) \|'
	assert_output --regexp '\| 2 concurrent bllm-manage: wall \(throughput\) \| [0-9.]+ ms \([0-9.]+ runs/s\) \| 2 × one run: '
	assert_output --regexp '\| bllm-batch -j 1 over 2 tasks: wall \(throughput\) \| [0-9.]+ ms \([0-9.]+ tasks/s\) \| -j 1: [0-9.]+ ms \|'
	assert_output --regexp '\| bllm-batch -j 2 over 2 tasks: wall \(throughput\) \| [0-9.]+ ms \([0-9.]+ tasks/s\) \| -j 1: [0-9.]+ ms \| [0-9.]+ \|'
	assert_output --regexp '\| manager turn with 2 coders \(200 ms replies\): wall, at once \| [0-9.]+ ms \| one after another: [0-9.]+ ms \| [0-9.]+ \| < 1 \| (yes|\*\*no\*\*) \|'
	assert_output --regexp '\| Bash `true`: in the sandbox \(bubblewrap\) vs unconfined, median \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \|'
	assert_output --regexp '\| bllm-session list --status completed --limit 20: 1000 sessions \(baseline: 10\) \| [0-9.]+ ms \| [0-9.]+ ms \| [0-9.]+ \| ≤ 2× the 10-session time \| (yes|\*\*no\*\*) \|'
	assert_output --regexp '\| bllm-session search \(FTS5, 20 matches\): 1000 sessions \(baseline: 10\) \| [0-9.]+ ms \|'
	assert_output --regexp '\| bllm-stats --history --since 1h: 1000 sessions \(baseline: 10\) \| [0-9.]+ ms \|'
	# the header, the rule and 23 rows
	[ "$(grep -c '^|' "$D/stdout")" -eq 25 ]
}

@test "bench.sh without Claude Code: its row says how to install it, the rest still runs" {
	run cat "$D/stdout"
	assert_output --regexp '\| Claude Code vs worker, 1 tool round trip \| .* \| not installed \(no executable .*no-such-claude\): npm install -g @anthropic-ai/claude-code, or set CLAUDE_BIN \| - \| Claude/bllm ≥ 50 \(wall\), ≥ 20 \(RSS\) \| n/a \|'
	assert_output --partial '2 concurrent bllm-manage'
}

@test "bench.sh results: valid JSON in BENCH_RESULTS_DIR with machine info and the table's rows" {
	run ls "$D/results"
	assert_output --regexp '^bench-[0-9]{8}-[0-9]{6}\.json$'
	f=$D/results/$output
	jq_assert '.machine.nproc >= 1 and (.machine.kernel | length > 0)
		and (.machine.compiler | length > 0) and .reps == 1 and .quick' "$f"
	jq_assert '.results.worker.wall_ms > 0 and .results.curl.wall_ms > 0
		and .results.worker.maxrss_kb > 0 and .results.pipeline.wall_ms > 0
		and .results.manage.wall_ms > 0 and .results.latency.p50_us >= 0
		and .results.lib.sse.parse_mb_s > 0 and .results.lib.sse.assemble_mb_s > 0
		and .results.lib.session.gz_bytes < .results.lib.session.json_bytes
		and .results.concurrent["2"].runs_per_s > 0 and (.results.claude_code.error | length > 0)' "$f"
	rows=$(grep -c '^|' "$D/stdout")
	[ "$(jq '.rows | length' "$f")" -eq $((rows - 2)) ]
}

@test "bench.sh cleans up: no temporary files, no processes left" {
	run ls -A "$D/tmp"
	assert_output ''
	run bash -c "ps -eo stat=,args= | grep -F '$D/tmp' | grep -v '^Z' | grep -v grep"
	assert_output ''
	# BENCH_RESULTS_DIR was honoured
	run bash -c "ls '$TOP/bench/results' 2>/dev/null | diff '$D/results-before' -"
	assert_success
}

@test "bench.sh: a bad BENCH_REPS is a usage error" {
	BENCH_REPS=zero run "$TOP/tools/bench.sh"
	assert_failure 2
	assert_output --partial 'BENCH_REPS=zero'
}

@test "bench-measure: exit code, timeout, CPU and RSS of descendants, nothing left behind" {
	run bench-measure -c 'exit 3'
	assert_failure 3
	echo "$output" | jq_assert '.exit_code == 3 and .timed_out == false and .wall_ms >= 0'
	run bench-measure -t 0.3 -c 'sleep 20'
	assert_failure 124
	echo "${lines[0]}" | jq_assert '.timed_out and .wall_ms < 3000'
	# a grandchild's CPU and memory count
	run bench-measure -c 'sh -c "x=\$(head -c 20000000 /dev/zero | tr \"\\0\" a); echo \${#x}"; true'
	assert_success
	echo "$output" | jq_assert '.cpu_ms > 0 and .maxrss_kb > 20000'
	# stdout to -o, and whatever the command left in its process group is killed
	run bench-measure -o "$BATS_TEST_TMPDIR/out" -c 'sleep 30 & echo $! >pid; echo hi'
	assert_success
	[ "$(cat "$BATS_TEST_TMPDIR/out")" = hi ]
	sleep 0.1
	run ps -o stat= -p "$(cat pid)"
	[[ -z $output || $output == Z* ]]
	run bench-measure
	assert_failure 125
}

@test "bench-latency: only text_delta send times count, only the JSON is printed" {
	now=$(date +%s%6N)
	run bash -c "printf '%s\n' '{\"type\":\"init\"}' 'not json' \
		'{\"type\":\"text_delta\",\"text\":\"$((now - 2000000))\"}' \
		'{\"type\":\"text_delta\",\"text\":\"words\"}' \
		'{\"type\":\"text\",\"text\":\"$now\"}' \
		'{\"type\":\"text_delta\",\"text\":\"$((now - 1000000))\"}' | bench-latency"
	assert_success
	[ "${#lines[@]}" -eq 1 ]
	echo "$output" | jq_assert '.n == 2 and .min_us >= 1000000 and .min_us < 1500000
		and .p50_us == .min_us and .max_us >= 2000000 and .max_us < 2500000 and .p95_us == .max_us'
	run bench-latency </dev/null
	assert_output '{"n":0,"min_us":null,"p50_us":null,"p95_us":null,"max_us":null}'
}

@test "bench-lib: tiny sizes give throughput and compressed sizes" {
	run bench-lib --sse-mb 0.02 --session-messages 5 --reps 1 --dir "$BATS_TEST_TMPDIR/s"
	assert_success
	echo "$output" | jq_assert '.sse.bytes > 0 and .sse.events > 10 and .sse.parse_mb_s > 0
		and .sse.assemble_mb_s > 0 and .session.gz_bytes > 0
		and .session.gz_bytes < .session.json_bytes'
	run ls -A "$BATS_TEST_TMPDIR/s"
	assert_output ''
	run bench-lib --sse-mb 0
	assert_failure 2
}
