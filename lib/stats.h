#ifndef BLLM_STATS_H
#define BLLM_STATS_H
/*
 * Metrics and error records, and their aggregation for bllm-stats.
 *
 * Every process appends records to LOGDIR/metrics.ndjson (beside the
 * logs), one JSON object per line, each with "kind", "ts" (RFC 3339 UTC ms),
 * "session_id", "run_id", "agent", "pid":
 *   {"kind":"api_call", "model", "latency_ms", "ttfb_ms", "input_tokens",
 *    "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
 *    "cost_usd" (or null), "status" ("ok" or the error), "cached" (response cache hit)}
 *   {"kind":"tool_call", "name", "duration_ms", "exit_code" (or null), "is_error"}
 *   {"kind":"worker", "worker", "duration_ms", "status"}
 *   {"kind":"error", "error_type" (api, network, tool, timeout, config, limit,
 *    auth, input, internal), "message", "context": {...}}
 *   {"kind":"cache", "event": "hit" | "miss" | "store" | "evict", "size"}
 * Records are buffered in memory and written (whole lines, O_APPEND, under
 * an flock of LOGDIR/.metrics.lock, which also guards the rotation to
 * metrics.ndjson.1 .. .N) every flush_interval_s seconds or
 * buffer_size records, at stats_close, and at once for errors. Recording
 * never blocks the agent loop on I/O other than that flush.
 *
 * jv ownership: stats_record consumes rec; aggregate functions borrow
 * their input and return new references.
 */
#include <stdbool.h>
#include <jv.h>

struct stats_config {
	const char *dir;		/* the log directory */
	double flush_interval_s;	/* performance.metrics_flush_interval, default 5 */
	int buffer_size;		/* performance.metrics_buffer_size, default 100 */
	long max_bytes;			/* rotate metrics.ndjson past this (logging.max_bytes); 0: never */
	int backup_count;		/* metrics.ndjson.1 .. .N kept (logging.backup_count) */
};

/* Starts recording for this process. -1 with *err when dir cannot be made. */
int stats_open(const struct stats_config *cfg, char **err);
/* The identity stamped on every record (strings copied; NULL allowed). */
void stats_set_context(const char *session_id, const char *run_id, const char *agent);
/* Adds one record (consumed; an object with at least "kind"); the envelope is added. */
void stats_record(jv rec);
/* Convenience: an error record, written at once (context consumed: an object or jv_null()). */
void stats_error(const char *error_type, const char *message, jv context);
void stats_flush(void);
void stats_close(void);

/* Reads every record of dir's metrics files (metrics.ndjson). Bad lines are skipped. */
int stats_load(const char *dir, jv *records, char **err);

/*
 * The one session ID among records (borrowed) that starts with prefix.
 * Returns 0 with *full (malloc'd); -1 with *err when none or several do.
 */
int stats_resolve_session(jv records, const char *prefix, char **full, char **err);

/*
 * Filters records (borrowed): session_id NULL = all; since_ms 0 = all,
 * else only records with ts at or after that Unix time in ms.
 */
jv stats_filter(jv records, const char *session_id, long long since_ms);

/*
 * Per-agent table: {AGENT: {"calls", "latency_p50_ms", "latency_p95_ms",
 * "input_tokens", "output_tokens", "cache_read_input_tokens",
 * "cache_creation_input_tokens", "cost_usd", "cache_hit_rate" (share of
 * input tokens read from the prompt cache), "tool_calls", "errors"}}.
 */
jv stats_by_agent(jv records);
/* {"total_errors", "error_counts": {TYPE: n}, "recent_errors": [the 20 newest error records]}. */
jv stats_errors(jv records);
/* Response cache: {"hits", "misses", "hit_rate", "stores", "evictions", "size"}. */
jv stats_cache(jv records);

/* Parses --since: "30m", "2h", "7d", "90s", or an RFC 3339 time. -1 when invalid. */
int stats_parse_since(const char *s, long long now_ms, long long *since_ms);

#endif
