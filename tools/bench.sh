#!/bin/sh
# tools/bench.sh: the benchmark behind `make bench` (bench/README.md says
# what each row measures). Everything runs offline against
# tools/fake-anthropic; each figure is the median of R runs and sits next
# to its baseline, measured in the same run.
#
# stdout: a Markdown table. stderr: progress. Also writes the figures, with
# the machine's description, to $BENCH_RESULTS_DIR (default bench/results/)
# as bench-YYYYMMDD-HHMMSS.json.
#
# Environment:
#   BLLM_BUILD      the build directory (default build/; make bench: build-bench/)
#   BENCH_QUICK=1   a smoke run: 1 repetition, tiny sizes, N in {1, 2}, no Claude Code
#   BENCH_REPS      repetitions of each measurement (default 5; quick 1)
#   BENCH_N         the concurrent run counts (default "1 2 4 8"; quick "1 2")
#   BENCH_SSE_MB    size of the synthetic SSE stream (default 32; quick 0.05)
#   BENCH_SESSION_MESSAGES  worker results in the saved summary (default 400; quick 20)
#   BENCH_TIMEOUT   seconds any one measured command may take (default 120)
#   BENCH_RESULTS_DIR  where the JSON goes
#   CLAUDE_BIN      Claude Code's CLI (default: `claude` on PATH); BENCH_CLAUDE=0 skips it
#
# Exit status: 0, 1 when a bllm measurement failed (the table says which),
# 2 when the build or a required tool is missing.
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
B=${BLLM_BUILD:-$top/build}
case $B in /*) ;; *) B=$top/$B ;; esac
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then
	R=${BENCH_REPS:-1} ns=${BENCH_N:-"1 2"} sse_mb=${BENCH_SSE_MB:-0.05}
	smsg=${BENCH_SESSION_MESSAGES:-20} ntok=8 want_claude=${BENCH_CLAUDE:-0}
else
	R=${BENCH_REPS:-5} ns=${BENCH_N:-"1 2 4 8"} sse_mb=${BENCH_SSE_MB:-32}
	smsg=${BENCH_SESSION_MESSAGES:-400} ntok=40 want_claude=${BENCH_CLAUDE:-1}
fi
T=${BENCH_TIMEOUT:-120}
results_dir=${BENCH_RESULTS_DIR:-$top/bench/results}
task="add a -l flag to wordcount that prints the number of lines"
one_task="Read notes.txt and tell me what it says"
key="bench-key-for-the-fake-server"

say() { echo "bench: $*" >&2; }
die() {
	echo "bench: $*" >&2
	exit 2
}

for p in bllm-plan bllm-code bllm-test bllm-manage fake-anthropic bench-measure bench-latency \
	bench-lib; do
	[ -x "$B/$p" ] || die "$B/$p is missing; build first: make all (or make bench)"
done
for c in jq curl timeout; do
	command -v "$c" >/dev/null 2>&1 || die "$c is not installed; run scripts/install.sh"
done
case $R in '' | *[!0-9]* | 0) die "BENCH_REPS=$R: expected a positive integer" ;; esac

work=$(mktemp -d "${TMPDIR:-/tmp}/bllm-bench.XXXXXX") || die "cannot create a temporary directory"
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null; done
	# Bounded: a server that does not go within 5 s is killed.
	i=0
	while [ $i -lt 100 ]; do
		alive=""
		for p in $pids; do kill -0 "$p" 2>/dev/null && alive=1; done
		[ -z "$alive" ] && break
		sleep 0.05
		i=$((i + 1))
	done
	for p in $pids; do kill -9 "$p" 2>/dev/null; done
	for p in $pids; do wait "$p" 2>/dev/null; done
	pids=""
	rm -rf "$work"
}
trap cleanup EXIT
trap 'cleanup; trap - EXIT; exit 130' INT
trap 'cleanup; trap - EXIT; exit 143' TERM HUP

cd "$top" || die "cannot enter $top"
export ANTHROPIC_API_KEY="$key" LOG_DIR="$work/logs" BLLM_STATE_DIR="$work/state" NO_COLOR=1
unset CLAUDE_CODE_OAUTH_TOKEN ANTHROPIC_AUTH_TOKEN BLLM_MODEL BLLM_API_TIMEOUT 2>/dev/null
failed=0

# fake_start NAME SCENARIO: a fake-anthropic of its own; sets fake_url and fake_log.
fake_start() {
	d=$work/fake-$1
	mkdir -p "$d"
	# The test server's own leak check is not what is measured here.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	timeout 3600 "$B/fake-anthropic" --scenario "$2" --log "$d/log.ndjson" \
		--port-file "$d/port" >/dev/null 2>"$d/err" &
	pids="$pids $!"
	i=0
	while [ ! -s "$d/port" ] && [ $i -lt 200 ]; do
		sleep 0.05
		i=$((i + 1))
	done
	[ -s "$d/port" ] || die "fake-anthropic did not start: $(cat "$d/err")"
	fake_url="http://127.0.0.1:$(cat "$d/port")"
	fake_log=$d/log.ndjson
}

# measure OUT [bench-measure options] ...: appends one JSON line to OUT.
measure() {
	out=$1
	shift
	"$B/bench-measure" -t "$T" "$@" >>"$out"
}

# The JSON of a file of measurements: runs, and the median of each figure.
JQ_MED='def med: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
	else (.[length / 2 - 1] + .[length / 2]) / 2 end;'
summary() {
	jq -s "$JQ_MED"' {runs: ., wall_ms: (map(.wall_ms) | med), cpu_ms: (map(.cpu_ms) | med),
		maxrss_kb: (map(.maxrss_kb) | med)}' "$1"
}
# get JSON-FILE FILTER
get() { jq -r "$2 // empty" "$1"; }

ms() { awk -v x="$1" 'BEGIN { if (x >= 100) printf "%.0f ms", x; else printf "%.1f ms", x }'; }
mb() { awk -v x="$1" 'BEGIN { printf "%.1f MB", x / 1024 }'; }
bytes() {
	awk -v x="$1" 'BEGIN { if (x >= 1e6) printf "%.2f MB", x / 1e6; else printf "%.1f kB", x / 1e3 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else printf "-" }'; }
# yes when A OP B holds (OP: le, lt, ge)
holds() {
	awk -v a="$1" -v b="$3" -v op="$2" 'BEGIN {
		r = op == "le" ? a <= b : op == "lt" ? a < b : a >= b; print r ? "yes" : "no" }'
}

rows=$work/rows.tsv
: >"$rows"
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$@" >>"$rows"; }
res=$work/results.json
echo '{}' >"$res"
# jset PATH JSON: sets PATH of the results object.
jset() {
	jq --argjson v "$2" "$1 = \$v" "$res" >"$res.new" && mv "$res.new" "$res"
}

# ---- 1 and 6: one worker run with one tool round trip; curl; Claude Code ----
say "worker: bllm-code with one Read round trip, $R runs, and curl replaying its 2 requests"
one=$work/one
mkdir -p "$one"
printf 'hello from the bench\nline two\n' >"$one/notes.txt"
cat >"$work/one.json" <<EOF
{"_comment": "one tool round trip: any request offering Read gets turn-based replies",
 "rules": [
	{"name": "read-0", "match": {"tool": "Read", "turn": 0},
	 "reply": {"content": [{"type": "text", "text": "Reading the file."},
		{"type": "tool_use", "name": "Read", "input": {"file_path": "$one/notes.txt"}}]}},
	{"name": "read-1", "match": {"tool": "Read", "turn": 1},
	 "reply": {"content": [{"type": "text", "text": "The file says hello from the bench."}]}},
	{"name": "other", "reply": {"content": [{"type": "text", "text": "ok"}]}}
]}
EOF
fake_start one "$work/one.json"
one_url=$fake_url one_log=$fake_log
export ANTHROPIC_BASE_URL="$one_url"

worker_ok() { # OUT: the last event is a completed result
	[ "$(jq -r 'select(.type == "result") | .status' "$1" 2>/dev/null | tail -n 1)" = completed ]
}
"$B/bench-measure" -t "$T" -o "$work/one-warm.ndjson" -- "$B/bllm-code" --no-cache -C "$one" \
	"$one_task" >/dev/null
worker_ok "$work/one-warm.ndjson" || die "the worker run failed: $(tail -n 1 "$work/one-warm.ndjson")"
jq -c 'select(.rule == "read-0") | .body' "$one_log" | head -n 1 >"$work/req1.json"
jq -c 'select(.rule == "read-1") | .body' "$one_log" | head -n 1 >"$work/req2.json"
[ -s "$work/req1.json" ] && [ -s "$work/req2.json" ] ||
	die "the worker's two requests are not in fake-anthropic's log"
# curl reads the two requests from a config file ("next" starts the second), so
# one curl process makes both requests, as the worker does: the floor.
curl_req() { # FILE
	printf 'url = "%s/v1/messages"\nsilent\nshow-error\nno-buffer\noutput = "/dev/null"\n' \
		"$one_url"
	printf 'max-time = 30\nheader = "content-type: application/json"\n'
	printf 'header = "accept: text/event-stream"\nheader = "anthropic-version: 2023-06-01"\n'
	printf 'header = "x-api-key: %s"\ndata-binary = "@%s"\n' "$key" "$1"
}
{ curl_req "$work/req1.json"; echo next; curl_req "$work/req2.json"; } >"$work/curl.cfg"
"$B/bench-measure" -t "$T" -- curl -K "$work/curl.cfg" >/dev/null ||
	die "curl could not replay the worker's requests"
before=$(jq -s 'length' "$one_log")
n=0
while [ $n -lt "$R" ]; do
	n=$((n + 1))
	measure "$work/m-worker" -o "$work/one-$n.ndjson" -- "$B/bllm-code" --no-cache -C "$one" \
		"$one_task" || failed=1
	worker_ok "$work/one-$n.ndjson" || { failed=1; say "worker run $n did not complete"; }
	measure "$work/m-curl" -- curl -K "$work/curl.cfg" || { failed=1; say "curl run $n failed"; }
	# What the shared libraries (libcurl and its TLS stack, libjq) cost at start-up alone.
	measure "$work/m-start" -- "$B/bllm-code" --version || failed=1
	measure "$work/m-curlstart" -- curl --version || failed=1
done
[ "$(jq -s "[.[$before:][] | .rule] | map(select(. == \"read-1\")) | length" "$one_log")" -ge \
	$((2 * R)) ] || say "warning: some replays did not reach the read-1 rule"
summary "$work/m-worker" >"$work/s-worker.json"
summary "$work/m-curl" >"$work/s-curl.json"
jset .worker "$(cat "$work/s-worker.json")"
jset .curl "$(cat "$work/s-curl.json")"
w_wall=$(get "$work/s-worker.json" .wall_ms) c_wall=$(get "$work/s-curl.json" .wall_ms)
w_cpu=$(get "$work/s-worker.json" .cpu_ms) c_cpu=$(get "$work/s-curl.json" .cpu_ms)
w_rss=$(get "$work/s-worker.json" .maxrss_kb) c_rss=$(get "$work/s-curl.json" .maxrss_kb)
row "worker, 1 tool round trip: wall" "$(ms "$w_wall")" "curl, same 2 requests: $(ms "$c_wall")" \
	"$(ratio "$w_wall" "$c_wall")" "bllm/curl ≤ 2" "$(holds "$(ratio "$w_wall" "$c_wall")" le 2)"
row "worker, 1 tool round trip: CPU" "$(ms "$w_cpu")" "curl: $(ms "$c_cpu")" \
	"$(ratio "$w_cpu" "$c_cpu")" "-" "-"
row "worker, 1 tool round trip: peak RSS" "$(mb "$w_rss")" "curl: $(mb "$c_rss")" \
	"$(ratio "$w_rss" "$c_rss")" "< 10 MB" "$(holds "$w_rss" lt 10240)"
summary "$work/m-start" >"$work/s-start.json"
summary "$work/m-curlstart" >"$work/s-curlstart.json"
jset .worker_startup "$(cat "$work/s-start.json")"
jset .curl_startup "$(cat "$work/s-curlstart.json")"
s_rss=$(get "$work/s-start.json" .maxrss_kb) cs_rss=$(get "$work/s-curlstart.json" .maxrss_kb)
s_wall=$(get "$work/s-start.json" .wall_ms) cs_wall=$(get "$work/s-curlstart.json" .wall_ms)
row "worker start-up alone (--version): wall" "$(ms "$s_wall")" \
	"curl --version: $(ms "$cs_wall")" "$(ratio "$s_wall" "$cs_wall")" "-" "-"
row "worker start-up alone (--version): peak RSS" "$(mb "$s_rss")" \
	"curl --version: $(mb "$cs_rss")" "$(ratio "$s_rss" "$cs_rss")" "-" "-"

# Claude Code against the same server.
claude=
if [ "$want_claude" != 0 ]; then
	if [ -n "${CLAUDE_BIN:-}" ]; then
		[ -x "$CLAUDE_BIN" ] && claude=$CLAUDE_BIN
		where="no executable $CLAUDE_BIN"
	else
		claude=$(command -v claude 2>/dev/null)
		where="claude is not on PATH"
	fi
fi
cc_note=
if [ -z "$claude" ]; then
	if [ "$want_claude" = 0 ]; then
		cc_note="skipped (BENCH_CLAUDE=0 or BENCH_QUICK=1)"
	else
		cc_note="not installed ($where): npm install -g @anthropic-ai/claude-code, or set CLAUDE_BIN"
	fi
else
	say "Claude Code: $claude, the same task against the same server, $R runs"
	cchome=$work/claude-home
	mkdir -p "$cchome"
	run_claude() { # OUT-EVENTS
		HOME=$cchome XDG_CONFIG_HOME=$cchome/.config ANTHROPIC_BASE_URL=$one_url \
			ANTHROPIC_API_KEY=$key DISABLE_TELEMETRY=1 DISABLE_ERROR_REPORTING=1 \
			CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 DISABLE_AUTOUPDATER=1 \
			"$B/bench-measure" -t "$T" -C "$one" -o "$1" -e "$1.err" -- "$claude" -p \
			--output-format stream-json --verbose "$one_task"
	}
	claude_ok() { # OUT-EVENTS: a successful result that read the file
		jq -e -s 'any(.[]; .type == "result" and .subtype == "success"
			and (.result | test("hello from the bench")))' "$1" >/dev/null 2>&1 &&
			jq -e -s 'any(.[]; .type == "user" and (tostring | test("hello from the bench")))' \
				"$1" >/dev/null 2>&1
	}
	cc_version=$(HOME=$cchome timeout 30 "$claude" --version 2>/dev/null | head -n 1)
	jset .claude_code_version "$(jq -n --arg v "$cc_version" '$v')"
	if run_claude "$work/cc-warm.ndjson" >/dev/null && claude_ok "$work/cc-warm.ndjson"; then
		n=0
		while [ $n -lt "$R" ]; do
			n=$((n + 1))
			run_claude "$work/cc-$n.ndjson" >>"$work/m-claude" &&
				claude_ok "$work/cc-$n.ndjson" || cc_note="run $n failed"
		done
	else
		cc_note="failed: $(tail -c 300 "$work/cc-warm.ndjson.err" 2>/dev/null | tr '\n\t' '  ')"
		cc_note=${cc_note:-failed}
	fi
fi
if [ -z "$cc_note" ]; then
	summary "$work/m-claude" >"$work/s-claude.json"
	jset .claude_code "$(cat "$work/s-claude.json")"
	k_wall=$(get "$work/s-claude.json" .wall_ms) k_cpu=$(get "$work/s-claude.json" .cpu_ms)
	k_rss=$(get "$work/s-claude.json" .maxrss_kb)
	row "Claude Code vs worker, 1 tool round trip: wall" "$(ms "$w_wall")" \
		"Claude Code: $(ms "$k_wall")" "$(ratio "$k_wall" "$w_wall")" "Claude/bllm ≥ 50" \
		"$(holds "$(ratio "$k_wall" "$w_wall")" ge 50)"
	row "Claude Code vs worker, 1 tool round trip: CPU" "$(ms "$w_cpu")" \
		"Claude Code: $(ms "$k_cpu")" "$(ratio "$k_cpu" "$w_cpu")" "-" "-"
	row "Claude Code vs worker, 1 tool round trip: peak RSS" "$(mb "$w_rss")" \
		"Claude Code: $(mb "$k_rss")" "$(ratio "$k_rss" "$w_rss")" "Claude/bllm ≥ 20" \
		"$(holds "$(ratio "$k_rss" "$w_rss")" ge 20)"
else
	say "Claude Code: $cc_note"
	jset .claude_code "$(jq -n --arg v "$cc_note" '{error: $v}')"
	row "Claude Code vs worker, 1 tool round trip" "$(ms "$w_wall"), $(mb "$w_rss")" \
		"$cc_note" "-" "Claude/bllm ≥ 50 (wall), ≥ 20 (RSS)" "n/a"
fi

# ---- 2: pipeline, manager workflow, delta latency ----
say "pipeline: bllm-plan | bllm-code | bllm-test on examples/wordcount, $R runs"
fake_start pipe "$top/examples/wordcount.scenario.json"
export ANTHROPIC_BASE_URL="$fake_url"
n=0
while [ $n -lt "$R" ]; do
	n=$((n + 1))
	p=$work/pipe-$n
	cp -r "$top/examples/wordcount" "$p"
	measure "$work/m-pipe" -o "$p.ndjson" -c "'$B/bllm-plan' --no-cache -C '$p' '$task' |
		'$B/bllm-code' --no-cache -C '$p' | '$B/bllm-test' --no-cache -C '$p'"
	worker_ok "$p.ndjson" || { failed=1; say "pipeline run $n did not complete"; }
done
summary "$work/m-pipe" >"$work/s-pipe.json"
jset .pipeline "$(cat "$work/s-pipe.json")"
p_wall=$(get "$work/s-pipe.json" .wall_ms)
row "pipeline plan | code | test on wordcount (make test): wall" "$(ms "$p_wall")" "-" "-" \
	"-" "-"

say "manager: bllm-manage on examples/wordcount (5 workers, 1 review cycle), $R runs"
fake_start manage "$top/examples/wordcount.manage.json"
manage_url=$fake_url
export ANTHROPIC_BASE_URL="$manage_url"
n=0
while [ $n -lt "$R" ]; do
	n=$((n + 1))
	p=$work/manage-$n
	cp -r "$top/examples/wordcount" "$p"
	measure "$work/m-manage" -o "$p.ndjson" -e "$p.err" -- "$B/bllm-manage" --no-interactive \
		--no-cache --quiet --sessions-dir "$p.sessions" -C "$p" "$task" ||
		{ failed=1; say "bllm-manage run $n failed: $(tail -n 2 "$p.err")"; }
done
summary "$work/m-manage" >"$work/s-manage.json"
jset .manage "$(cat "$work/s-manage.json")"
m_wall=$(get "$work/s-manage.json" .wall_ms)
row "bllm-manage workflow on wordcount: wall" "$(ms "$m_wall")" "-" "-" "-" "-"

say "latency: server text_delta to the stdout of bllm-plan --stream-deltas | bllm-code, $R runs"
text=
i=0
while [ $i -lt $ntok ]; do
	text="${text}word @@NOW_US@@ "
	i=$((i + 1))
done
cat >"$work/latency.json" <<EOF
{"rules": [
	{"name": "planner", "match": {"system": "You are the planner"}, "drip_ms": 5,
	 "reply": {"content": [{"type": "text", "text": "$text"}]}},
	{"name": "coder", "match": {"system": "You are the coder"},
	 "reply": {"content": [{"type": "text", "text": "Nothing to change."}]}}
]}
EOF
fake_start latency "$work/latency.json"
export ANTHROPIC_BASE_URL="$fake_url"
n=0
: >"$work/m-latency"
while [ $n -lt "$R" ]; do
	n=$((n + 1))
	timeout "$T" sh -c "'$B/bllm-plan' --no-cache --stream-deltas -C '$one' 'say some words' |
		'$B/bllm-code' --no-cache -C '$one' | '$B/bench-latency'" >"$work/lat-$n.json"
	if [ "$(get "$work/lat-$n.json" .n)" = "$ntok" ]; then
		cat "$work/lat-$n.json" >>"$work/m-latency"
	else
		failed=1
		say "latency run $n: expected $ntok deltas, got: $(cat "$work/lat-$n.json")"
	fi
done
jq -s "$JQ_MED"' {runs: ., p50_us: (map(.p50_us) | med), p95_us: (map(.p95_us) | med),
	max_us: (map(.max_us) | med)}' "$work/m-latency" >"$work/s-latency.json"
jset .latency "$(cat "$work/s-latency.json")"
l_p50=$(get "$work/s-latency.json" .p50_us) l_max=$(get "$work/s-latency.json" .max_us)
us() { awk -v x="$1" 'BEGIN { if (x == "") print "-"; else printf "%.2f ms", x / 1000 }'; }
row "text_delta latency, server → end of 2-stage pipeline: p50" "$(us "$l_p50")" "-" "-" "-" "-"
row "text_delta latency, server → end of 2-stage pipeline: max" "$(us "$l_max")" "-" "-" "-" "-"

# ---- 3 and 4: lib micro-benchmarks ----
say "lib: SSE parsing and assembly of a ${sse_mb} MB stream, session save of $smsg results"
if timeout 600 "$B/bench-lib" --sse-mb "$sse_mb" --session-messages "$smsg" --reps "$R" \
	--dir "$work/lib-sessions" >"$work/lib.json"; then
	jset .lib "$(cat "$work/lib.json")"
	sse_bytes=$(get "$work/lib.json" .sse.bytes)
	row "SSE parsing throughput ($(bytes "$sse_bytes") stream)" \
		"$(get "$work/lib.json" .sse.parse_mb_s | awk '{ printf "%.0f MB/s", $1 }')" \
		"-" "-" "-" "-"
	row "response assembly throughput (parse + JSON + message)" \
		"$(get "$work/lib.json" .sse.assemble_mb_s | awk '{ printf "%.0f MB/s", $1 }')" \
		"-" "-" "-" "-"
	gz_ms=$(get "$work/lib.json" .session.gz_ms) js_ms=$(get "$work/lib.json" .session.json_ms)
	gz_b=$(get "$work/lib.json" .session.gz_bytes) js_b=$(get "$work/lib.json" .session.json_bytes)
	row "session save, $smsg results: time (.json.gz vs .json)" "$(ms "$gz_ms")" \
		".json: $(ms "$js_ms")" "$(ratio "$gz_ms" "$js_ms")" "-" "-"
	row "session save, $smsg results: size (.json.gz vs .json)" "$(bytes "$gz_b")" \
		".json: $(bytes "$js_b")" "$(ratio "$gz_b" "$js_b")" "-" "-"
else
	failed=1
	row "lib micro-benchmarks (bench-lib)" "failed" "-" "-" "-" "-"
fi

# ---- 5: N concurrent bllm-manage runs, one shared server ----
export ANTHROPIC_BASE_URL="$manage_url"
one_wall=
for N in $ns; do
	say "concurrency: $N bllm-manage runs at once, $R runs"
	n=0
	while [ $n -lt "$R" ]; do
		n=$((n + 1))
		d=$work/conc-$N-$n
		mkdir -p "$d"
		cmd=
		i=0
		while [ $i -lt "$N" ]; do
			i=$((i + 1))
			cp -r "$top/examples/wordcount" "$d/p$i"
			cmd="$cmd ('$B/bllm-manage' --no-interactive --no-cache --quiet \
--sessions-dir '$d/s$i' -C '$d/p$i' '$task' >'$d/out$i' 2>'$d/err$i'; echo \$? >'$d/rc$i') &"
		done
		measure "$work/m-conc-$N" -c "$cmd wait"
		i=0
		while [ $i -lt "$N" ]; do
			i=$((i + 1))
			[ "$(cat "$d/rc$i" 2>/dev/null)" = 0 ] ||
				{ failed=1; say "concurrent run $i of $N failed: $(tail -n 1 "$d/err$i")"; }
		done
	done
	summary "$work/m-conc-$N" >"$work/s-conc-$N.json"
	jset ".concurrent[\"$N\"]" "$(cat "$work/s-conc-$N.json")"
	c_w=$(get "$work/s-conc-$N.json" .wall_ms)
	[ -z "$one_wall" ] && [ "$N" = 1 ] && one_wall=$c_w
	tput=$(awk -v n="$N" -v w="$c_w" 'BEGIN { printf "%.2f", (w > 0 ? n / (w / 1000) : 0) }')
	jset ".concurrent[\"$N\"].runs_per_s" "$tput"
	if [ -n "$one_wall" ]; then
		serial=$(awk -v n="$N" -v w="$one_wall" 'BEGIN { print n * w }')
		base="$N × one run: $(ms "$serial")" r=$(ratio "$c_w" "$serial")
	else
		base="-" r="-"
	fi
	row "$N concurrent bllm-manage: wall (throughput)" "$(ms "$c_w") ($tput runs/s)" "$base" \
		"$r" "-" "-"
done

# ---- parallel workers: a turn with two coders, at once vs one after another ----
say "parallel: a manager turn with two coders (200 ms replies), at once and one after another, $R runs"
cat >"$work/two.json" <<'EOF'
{"rules": [
	{"match": {"system": "You are the manager", "turn": 0},
	 "reply": {"content": [{"type": "tool_use", "name": "coder", "input": {"task": "write a"}},
		{"type": "tool_use", "name": "coder", "input": {"task": "write b"}}]}},
	{"match": {"system": "You are the manager"}, "reply": {"content": [{"type": "text", "text": "done"}]}},
	{"match": {"system": "You are the coder", "turn": 0, "body": "write a"}, "delay_ms": 200,
	 "reply": {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "a.txt", "content": "a\n"}}]}},
	{"match": {"system": "You are the coder", "turn": 0, "body": "write b"}, "delay_ms": 200,
	 "reply": {"content": [{"type": "tool_use", "name": "Write", "input": {"file_path": "b.txt", "content": "b\n"}}]}},
	{"match": {"system": "You are the coder"}, "delay_ms": 200, "reply": {"content": [{"type": "text", "text": "written"}]}}
]}
EOF
fake_start two "$work/two.json"
export ANTHROPIC_BASE_URL="$fake_url"
mkdir -p "$work/seqcfg"
cp "$top"/config/*.json "$work/seqcfg/"
jq '.workflow_limits.max_parallel_workers = 1' "$top/config/system_config.json" >"$work/seqcfg/system_config.json"
for mode in parallel sequential; do
	cfg=$top/config/agent_config.json
	[ "$mode" = sequential ] && cfg=$work/seqcfg/agent_config.json
	n=0
	while [ $n -lt "$R" ]; do
		n=$((n + 1))
		d=$work/two-$mode-$n
		cp -r "$top/examples/wordcount" "$d"
		git -C "$d" init -q && git -C "$d" add -A &&
			git -C "$d" -c user.name=bench -c user.email=bench@localhost commit -qm base ||
			die "git cannot make the repository for the parallel turn"
		measure "$work/m-two-$mode" -o "$d.ndjson" -e "$d.err" -- "$B/bllm-manage" --no-interactive \
			--no-cache --quiet --config "$cfg" --sessions-dir "$d.sessions" -C "$d" "two parts"
		[ -s "$d/a.txt" ] && [ -s "$d/b.txt" ] ||
			{ failed=1; say "two-coder turn ($mode) run $n: a.txt and b.txt not both there"; }
	done
	summary "$work/m-two-$mode" >"$work/s-two-$mode.json"
	jset ".two_coders.$mode" "$(cat "$work/s-two-$mode.json")"
done
tp=$(get "$work/s-two-parallel.json" .wall_ms) ts=$(get "$work/s-two-sequential.json" .wall_ms)
row "manager turn with 2 coders (200 ms replies): wall, at once" "$(ms "$tp")" \
	"one after another: $(ms "$ts")" "$(ratio "$tp" "$ts")" "< 1" "$(holds "$(ratio "$tp" "$ts")" lt 1)"

# ---- bllm-batch: throughput over BENCH_BATCH_TASKS tasks at -j 1, 2, 4 ----
bt=${BENCH_BATCH_TASKS:-8}
[ "$quick" = 1 ] && bt=${BENCH_BATCH_TASKS:-2}
bjs=${BENCH_BATCH_JOBS:-"1 2 4"}
[ "$quick" = 1 ] && bjs=${BENCH_BATCH_JOBS:-"1 2"}
if [ -x "$B/bllm-batch" ] && command -v parallel >/dev/null 2>&1 && command -v git >/dev/null 2>&1; then
	export ANTHROPIC_BASE_URL="$manage_url"
	b1_wall=
	for J in $bjs; do
		say "batch: bllm-batch -j $J over $bt tasks on wordcount, $R runs"
		n=0
		while [ $n -lt "$R" ]; do
			n=$((n + 1))
			d=$work/batch-$J-$n
			cp -r "$top/examples/wordcount" "$d"
			git -C "$d" init -q && git -C "$d" add -A &&
				git -C "$d" -c user.name=bench -c user.email=bench@localhost commit -qm base ||
				die "git cannot make the batch repository"
			i=0
			while [ $i -lt "$bt" ]; do i=$((i + 1)); echo "$task (copy $i)"; done >"$d.tasks"
			measure "$work/m-batch-$J" -o "$d.out" -e "$d.err" -- "$B/bllm-batch" -j "$J" -C "$d" \
				--sessions-dir "$d.sessions" "$d.tasks" -- --no-cache ||
				{ failed=1; say "bllm-batch -j $J run $n failed: $(tail -n 2 "$d.err")"; }
			[ "$(jq -s 'map(select(.status == "completed")) | length' "$d.out" 2>/dev/null)" = "$bt" ] ||
				{ failed=1; say "bllm-batch -j $J run $n: not all $bt tasks completed"; }
		done
		summary "$work/m-batch-$J" >"$work/s-batch-$J.json"
		jset ".batch[\"$J\"]" "$(cat "$work/s-batch-$J.json")"
		bw=$(get "$work/s-batch-$J.json" .wall_ms)
		[ -z "$b1_wall" ] && b1_wall=$bw
		tput=$(awk -v n="$bt" -v w="$bw" 'BEGIN { printf "%.2f", (w > 0 ? n / (w / 1000) : 0) }')
		jset ".batch[\"$J\"].tasks_per_s" "$tput"
		row "bllm-batch -j $J over $bt tasks: wall (throughput)" "$(ms "$bw") ($tput tasks/s)" \
			"-j 1: $(ms "$b1_wall")" "$(ratio "$bw" "$b1_wall")" "-" "-"
	done
else
	say "batch: skipped (needs bllm-batch, GNU parallel and git)"
	row "bllm-batch throughput" "skipped: needs GNU parallel and git" "-" "-" "-" "n/a"
fi

# ---- the command sandbox: `true` through the Bash tool's path, with and without bubblewrap ----
say "sandbox cost per Bash command"
if sb=$(cd "$work" && "$B/bench-sandbox" "$([ "$quick" = 1 ] && echo 10 || echo 100)" 2>"$work/sandbox.err"); then
	sb_plain=${sb% *} sb_box=${sb#* }
	jset ".sandbox" "{\"plain_ms\": $sb_plain, \"sandbox_ms\": $sb_box}"
	row "Bash \`true\`: in the sandbox (bubblewrap) vs unconfined, median" "$sb_box ms" \
		"$sb_plain ms" "$(ratio "$sb_box" "$sb_plain")" "-" "-"
else
	say "sandbox not measured: $(cat "$work/sandbox.err")"
	row "Bash \`true\` in the sandbox" "not measured: bubblewrap cannot run here" "-" "-" "-" "-"
fi

# ---- the history database: 10,000 sessions against 10 ----
. "$top/tools/bench-history.sh"

# ---- the table and the JSON ----
echo "| measurement | bllm | baseline | ratio | target | met? |"
echo "|---|---|---|---|---|---|"
awk -F '\t' '{
	for (i = 1; i <= 6; i++)
		gsub(/\|/, "\\|", $i)
	if ($6 == "no")
		$6 = "**no**"
	printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$rows"
echo
echo "Median of $R runs each; ratio = bllm / baseline except for Claude Code rows (Claude / bllm)."

stamp=$(date +%Y%m%d-%H%M%S)
cc_line=$(${CC:-cc} --version 2>/dev/null | head -n 1)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo 2>/dev/null | head -n 1)
jq -R -s 'split("\n") | map(select(length > 0) | split("\t")
	| {measurement: .[0], bllm: .[1], baseline: .[2], ratio: .[3], target: .[4], met: .[5]})' \
	"$rows" >"$work/rows.json"
jq --slurpfile rows "$work/rows.json" --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
	--arg nproc "$(nproc 2>/dev/null || echo 0)" --arg kernel "$(uname -srm)" \
	--arg compiler "$cc_line" --arg cpu "$cpu" --arg curl "$(curl --version | head -n 1)" \
	--arg build "$B" --argjson reps "$R" --arg quick "$quick" \
	'{date: $date, quick: ($quick == "1"), reps: $reps, build: $build,
	  machine: {nproc: ($nproc | tonumber), kernel: $kernel, compiler: $compiler, cpu: $cpu,
		curl: $curl},
	  rows: $rows[0], results: .}' "$res" >"$work/out.json" ||
	die "cannot assemble the results JSON"
mkdir -p "$results_dir" || die "cannot create $results_dir"
out=$results_dir/bench-$stamp.json
cp "$work/out.json" "$out.tmp" && mv "$out.tmp" "$out" || die "cannot write $out"
say "results: $out"
[ "$failed" = 0 ] || say "some bllm measurements failed (see above)"
exit $failed
