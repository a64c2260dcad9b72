# tools/bench-history.sh: sourced by tools/bench.sh (its helpers: measure,
# summary, get, ms, ratio, holds, row, jset, say; $B, $R, $work, $quick).
# bllm-session list, search and bllm-stats over the history database with
# 10,000 sessions against the same with 10: made by inserting rows (three
# worker runs, six API calls, two texts a session) with sqlite3, not by
# running 10,000 runs. The newest 10 sessions are of the last hour, the
# rest spread over the year before.

hist_make() { # DB N SESSIONS_DIR
	rm -f "$1" "$1-wal" "$1-shm"
	BLLM_HISTORY_DB=$1 "$B/bllm-session" --sessions-dir "$3" reindex >/dev/null || return 1
	sqlite3 "$1" "
	BEGIN;
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $2)
	INSERT INTO sessions(id, sessions_dir, workspace, request, created_at, updated_at, completed_at,
		status, exit_code, verified, turns, input_tokens, output_tokens, cost_usd, agents)
	SELECT printf('2026%04d-000000-%06x', i, i), '$3', '/w/p' || (i % 7), 'task ' || i || ' on parser' || (i % 100) || '.c',
		strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (CASE WHEN i > $2 - 10 THEN ($2 - i) * 60
			ELSE 3600 + ($2 - i) * 3000 END) || ' seconds'),
		NULL, NULL, CASE WHEN i % 5 = 0 THEN 'failed' ELSE 'completed' END, i % 5 = 0, i % 5 <> 0,
		12, 1000, 200, 0.05, 'planner,coder,tester' FROM n;
	INSERT INTO worker_runs(run_id, session_id, agent, task, status, exit_code, started_at, ended_at, duration_ms, cost_usd)
	SELECT s.id || '-' || a.name, s.id, a.name, 'do the ' || a.name || ' part', 'completed', 0, s.created_at, s.created_at, 900, 0.01
	FROM sessions s, (SELECT 'planner' AS name UNION SELECT 'coder' UNION SELECT 'tester') a;
	INSERT INTO api_calls(session_id, run_id, agent, ts, model, latency_ms, ttfb_ms, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd)
	SELECT w.session_id, w.run_id, w.agent, w.started_at, 'm', 400 + (w.rowid * 37 % 300), 100, 500, 100, 2000, 100, 0.004
	FROM worker_runs w, (SELECT 1 UNION SELECT 2) k;
	INSERT INTO texts(session_id, run_id, agent, kind, ts, body)
	SELECT id, NULL, 'manager', 'request', created_at, request FROM sessions;
	INSERT INTO texts(session_id, run_id, agent, kind, ts, body)
	SELECT session_id, run_id, agent, 'text', started_at, 'The tokenizer of ' || run_id || ' skips comments now.' FROM worker_runs WHERE agent = 'coder';
	COMMIT;" || return 1
}

command -v sqlite3 >/dev/null 2>&1 || die "sqlite3 is not installed; run scripts/install.sh"
say "history: bllm-session list, search and bllm-stats over 10,000 sessions and over 10"
hist_sizes="10 10000"
[ "$quick" = 1 ] && hist_sizes="10 1000"
mkdir -p "$work/hist-sessions"
hdir=$(cd "$work/hist-sessions" && pwd)
for hn in $hist_sizes; do
	hdb=$work/history-$hn.db
	hist_make "$hdb" "$hn" "$hdir" || { failed=1; say "could not make the history of $hn sessions"; continue; }
	n=0
	while [ $n -lt "$R" ]; do
		n=$((n + 1))
		measure "$work/m-hlist-$hn" -- env BLLM_HISTORY_DB="$hdb" "$B/bllm-session" \
			--sessions-dir "$hdir" list --status completed --limit 20 >/dev/null || failed=1
		measure "$work/m-hsearch-$hn" -- env BLLM_HISTORY_DB="$hdb" "$B/bllm-session" \
			--sessions-dir "$hdir" search --limit 20 "parser7.c" >/dev/null || failed=1
		measure "$work/m-hstats-$hn" -- env BLLM_HISTORY_DB="$hdb" "$B/bllm-stats" --history \
			--since 1h >/dev/null || failed=1
	done
	for what in hlist hsearch hstats; do
		summary "$work/m-$what-$hn" >"$work/s-$what-$hn.json"
		jset ".history.$what[\"$hn\"]" "$(cat "$work/s-$what-$hn.json")"
	done
done
hbig=${hist_sizes#* }
for what in hlist hsearch hstats; do
	case $what in
	hlist) label="bllm-session list --status completed --limit 20" ;;
	hsearch) label="bllm-session search (FTS5, 20 matches)" ;;
	hstats) label="bllm-stats --history --since 1h" ;;
	esac
	big=$(get "$work/s-$what-$hbig.json" .wall_ms) small=$(get "$work/s-$what-10.json" .wall_ms)
	[ -n "$big" ] && [ -n "$small" ] || continue
	lim=$(awk -v s="$small" 'BEGIN { print s * 2 }')
	row "$label: $hbig sessions (baseline: 10)" "$(ms "$big")" "$(ms "$small")" "$(ratio "$big" "$small")" \
		"≤ 2× the 10-session time" "$(holds "$big" le "$lim")"
done
