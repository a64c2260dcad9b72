#ifndef BLLM_HISTORY_H
#define BLLM_HISTORY_H
/*
 * The history: an SQLite index (history.db in the state directory) of
 * every session, worker run, API call and error, with full-text search
 * (FTS5) over requests, tasks and agent texts. It is written as runs go,
 * from the events a session journals, and read by bllm-session list,
 * search, bllm-stats and bllm-dashboard.
 *
 * The journals stay the source of truth: history_reindex rebuilds the
 * rows of a sessions directory from its journals and summaries through
 * the same code that records live events, so a reindexed database equals
 * the live-written one and deleting history.db loses nothing.
 *
 * Many processes write at once: WAL mode, a busy timeout, every write in
 * its own BEGIN IMMEDIATE transaction, retried when the database is busy.
 * Recording never fails a run: when the database is missing, locked for
 * too long, corrupt or on a full disk, the recorder logs one warning
 * (lib/log.h) and records nothing more for that session.
 *
 * The database: $BLLM_HISTORY_DB when set ("off" disables recording),
 * else STATE_DIR/history.db (config_state_dir).
 *
 * jv ownership: every jv argument is borrowed; jv results (*out) are new
 * references owned by the caller.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

#include "buf.h"

struct history;
struct history_recorder;

/* The database path (malloc'd), or NULL when history is off or there is no state dir. */
char *history_default_path(void);

/*
 * Opens (creating it and its schema unless readonly) the database at path.
 * Returns 0, or -1 with *err naming the file, the reason and the fix.
 */
int history_open(struct history **h, const char *path, bool readonly, char **err);
void history_close(struct history *h);

/*
 * A recorder for session_id, whose journal is in sessions_dir. h NULL: the
 * recorder opens the default database at its first event (and closes it
 * when freed). Never fails: a recorder that cannot write stays quiet after
 * one warning.
 */
struct history_recorder *history_recorder_new(struct history *h, const char *sessions_dir,
					      const char *session_id);
/* Records what ev means for the session (an event the session journals). */
void history_recorder_event(struct history_recorder *r, jv ev);
/* Records the saved summary (agents used, final status) of the session. */
void history_recorder_summary(struct history_recorder *r, jv summary);
/* The warning the recorder gave, or NULL while all went well. */
const char *history_recorder_warning(const struct history_recorder *r);
void history_recorder_free(struct history_recorder *r);

/* What list, stats and the dashboard select. NULL or 0 fields select all. */
struct history_filter {
	const char *since;		/* RFC 3339 UTC: created (or called) at or after */
	const char *status;		/* a session status: running, completed, failed... */
	const char *agent;		/* sessions that ran this agent; stats of this agent */
	const char *workspace;		/* the workspace (the manager's -C directory) */
	const char *sessions_dir;	/* sessions saved in this directory (absolute) */
	long limit;			/* at most this many sessions, the newest */
};

/*
 * The WHERE clause (with a leading " WHERE ", or empty) that selects the
 * sessions f selects, over table alias s; its ? parameters are appended,
 * in order, to params (an array of strings). Pure; for the queries and
 * their tests.
 */
void history_filter_sql(const struct history_filter *f, struct buf *where, jv *params);

/*
 * An FTS5 query matching every word of what a person typed (each quoted,
 * so "parser.c" or "a-b" search as phrases, not query syntax). Malloc'd;
 * NULL when text has no word.
 */
char *history_fts_query(const char *text);

/*
 * Sessions f selects, the newest first (running ones first when
 * running_first): an array of {"id", "sessions_dir", "workspace",
 * "request", "created_at", "updated_at", "completed_at", "status",
 * "exit_code", "verified", "turns", "input_tokens", "output_tokens",
 * "cache_read_tokens", "cache_creation_tokens", "cost_usd", "agents",
 * "files_changed", "current_agent", "cycle"}.
 */
int history_sessions(struct history *h, const struct history_filter *f, bool running_first,
		     jv *out, char **err);

/*
 * One session: {"session": {...as above}, "workers": [{"run_id", "agent",
 * "task", "status", "exit_code", "started_at", "ended_at", "duration_ms",
 * tokens..., "cost_usd", "turns", "verified", "text"}], "errors": [...]}.
 * -1 with *err when there is no such session.
 */
int history_session(struct history *h, const char *id, jv *out, char **err);

/*
 * Per-agent statistics of the API calls f selects (since, agent,
 * workspace, status of their session): {"agents": {AGENT: {"calls",
 * "latency_p50_ms", "latency_p95_ms", "input_tokens", "output_tokens",
 * "cache_read_input_tokens", "cache_creation_input_tokens", "cost_usd",
 * "cache_hit_rate", "worker_runs", "errors"}}, "errors": {TYPE: n},
 * "sessions": n}.
 */
int history_stats(struct history *h, const struct history_filter *f, jv *out, char **err);

/*
 * Full-text search: [{"session_id", "agent", "kind", "ts", "snippet",
 * "request", "status"}], best match first, at most limit.
 */
int history_search(struct history *h, const char *text, long limit, jv *out, char **err);

/*
 * Rebuilds the rows of every session in sessions_dir from its journal
 * (and summary): the same recording as live. *count: sessions indexed.
 * With only_missing, sessions the database already has are left alone.
 */
int history_reindex(struct history *h, const char *sessions_dir, bool only_missing, int *count,
		    char **err);

/*
 * Removes the database at path (and its -wal and -shm files), then opens
 * a new one: for reindex when the file is not a database any more.
 */
int history_recreate(struct history **h, const char *path, char **err);

/*
 * A value that changes whenever another process writes the database
 * (SQLite's data_version), for the dashboard's live list.
 */
int history_version(struct history *h, jv *out, char **err);

/* The time now, in ms since the epoch. */
long long history_now_ms(void);

/* ms since the epoch as RFC 3339 UTC with milliseconds (the events' ts form). */
void history_time_string(long long ms, char out[32]);

/*
 * Opens the default database and first indexes the sessions of
 * sessions_dir (NULL: none) that it does not have yet, so what a reader
 * sees matches the directory. -1 with *err.
 */
int history_open_synced(struct history **h, const char *sessions_dir, char **err);

/*
 * bllm-session list with filters: the sessions of dir that f selects (its
 * sessions_dir is set for the query, then cleared), oldest first, in the
 * shape of summaries; the database first indexes what it lacks of dir.
 */
int history_list_summaries(const char *dir, struct history_filter *f, jv *all, char **err);

/*
 * bllm-session reindex: rebuilds dir's rows in the default database (*path,
 * malloc'd); a file that cannot be opened as a database is made anew, and
 * *notice (malloc'd) says so. -1 with *err.
 */
int history_reindex_default(const char *dir, int *count, char **path, char **notice, char **err);

/* A sessions row (borrowed) in the shape of a summary, for session_format_list (new jv). */
jv history_row_summary(jv row);

/* One line per search match (history_search's array): ID, status, agent/kind, snippet. */
void history_format_search(struct buf *out, jv results, bool color);

/*
 * Nearest rank on n sorted values: the smallest with at least p% of the
 * values at or below it (as bllm-stats computes it). 0 when n is 0.
 */
double history_percentile(const double *sorted, size_t n, int p);

#endif
