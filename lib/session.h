#ifndef BLLM_SESSION_H
#define BLLM_SESSION_H
/*
 * Saved sessions of bllm-manage, in a sessions directory (default
 * ./sessions):
 *
 *   ID.ndjson    the journal: every event of the run, appended as it
 *                happens (one JSON object per line), fsynced at each
 *                worker result so a crash loses at most the current worker.
 *   ID.json.gz   the summary, written at the end however the run ended
 *   (ID.json)    (plain when performance.enable_session_compression is
 *                false): atomically (temporary file in the same directory,
 *                fsync, rename), mode 0600.
 *
 * IDs sort by time: "YYYYMMDD-HHMMSS-" + 6 hex digits, e.g.
 * 20261125-203000-4f9a1c. An ID given by a user may be a unique prefix.
 *
 * The summary keeps the original better-llm shape plus bllm's fields:
 *   {"session_id", "created_at", "completed_at", "user_request",
 *    "total_turns", "agents_used": ["planner", ...],
 *    "messages": [{"role", "agent", "content"}...],
 *    "result": {"status", "tests_passed", "exit_code", "text"},
 *    "usage": {...tokens}, "total_cost_usd", "ledger": {AGENT: {"turns",
 *    "input_tokens", "output_tokens", "cache_read_input_tokens",
 *    "cache_creation_input_tokens", "cost_usd", "calls"}},
 *    "verification": {...} or null}
 * status is one of completed, failed, error, limit, timeout, interrupted.
 *
 * jv ownership: every jv argument is borrowed; jv results are new
 * references owned by the caller.
 */
#include <stdbool.h>
#include <jv.h>

#include "buf.h"

struct history_recorder;

struct session {
	char *dir;
	char *id;
	char *journal_path;
	int journal_fd;
	bool compress;
	struct history_recorder *history;	/* lib/history.h: what is journaled is indexed */
};

/*
 * A new time-ordered session ID (malloc'd), in UTC. The 6 hex digits are the
 * millisecond (top 10 bits) and 14 random bits; within a process, IDs
 * strictly increase. Not thread-safe.
 */
char *session_new_id(void);

/*
 * Opens (creating the directory with mode 0700 and the journal with 0600
 * when missing) the journal of session id in dir, for appending. id NULL
 * makes a new ID whose journal did not exist (O_EXCL). An existing journal
 * whose last line was torn by a crash is ended with a newline first, so
 * later lines stay whole. Returns 0, or -1 with *err naming the path and
 * reason.
 */
int session_open(struct session *s, const char *dir, const char *id, bool compress, char **err);

/*
 * Appends ev as one line; with sync, fsyncs the journal. -1 on error (errno).
 * Then records it in the history database (lib/history.h), which never
 * fails the append.
 */
int session_append(struct session *s, jv ev, bool sync);

/* Writes the summary atomically as ID.json.gz (or ID.json), and indexes it. -1 with *err. */
int session_write_summary(struct session *s, jv summary, char **err);

void session_close(struct session *s);
/*
 * Removes the temporaries of summary saves that a killed process left in
 * dir (".ID.json.gz.XXXXXX" older than a minute). session_write_summary
 * and session_list call it.
 */
void session_clean_temporaries(const char *dir);

/*
 * Finds the session whose ID is id or starts with id. Returns 0 and sets
 * *full (malloc'd); -1 with *err when none or several match.
 */
int session_resolve_id(const char *dir, const char *id, char **full, char **err);

/* Reads the journal into an array of events (bad lines skipped). -1 with *err. */
int session_read_journal(const char *dir, const char *id, jv *events, char **err);

/* Reads the summary (.json.gz, else .json). -1 with *err when neither exists. */
int session_load_summary(const char *dir, const char *id, jv *summary, char **err);

/*
 * The summary of session id (an exact ID): the saved one, or, when only the
 * journal exists (the run is going on, or was killed before it could save),
 * one derived from the journal: user_request from its first "task" event,
 * created_at from the first event's ts (else from the ID), total_turns,
 * usage, total_cost_usd and ledger summed from its "usage" events, calls
 * and agents_used from its "worker_start" events, result.status
 * "incomplete". -1 with *err when the summary is unreadable or neither
 * file exists.
 */
int session_get(const char *dir, const char *id, jv *summary, char **err);

/*
 * Every session in dir, oldest first, as summaries (session_get); a missing
 * dir has none. A session whose summary cannot be read is still listed, as
 * its journal-derived summary with result.status "unreadable" and an
 * "error" field (the one-line reason, naming the file). -1 with *err only
 * when dir itself cannot be read.
 */
int session_list(const char *dir, jv *sessions, char **err);

/*
 * Text views for people (bllm-session, the TUI), appended to out, with
 * ANSI colour when color is set. Fields of the wrong type show as "-".
 * session_format_list: a header and one row per summary of sessions (an
 * array): ID, CREATED, STATUS, TURNS, COST, REQUEST (cut to fit).
 * session_format_show: the whole of one summary, several lines.
 */
void session_format_list(struct buf *out, jv sessions, bool color);
void session_format_show(struct buf *out, jv summary, bool color);

#endif
