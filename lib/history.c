#define _DEFAULT_SOURCE	/* realpath, usleep */
#include "history.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "config.h"
#include "event.h"
#include "io.h"
#include "json.h"
#include "log.h"
#include "session.h"

/* Statements are prepared once per connection and found again by their text. */
#define STMT_CACHE 48

struct history {
	sqlite3 *db;
	char *path;
	struct {
		const char *sql;
		sqlite3_stmt *st;
	} cache[STMT_CACHE];
	int ncache;
};

struct history_recorder {
	struct history *h;
	bool owns_h;
	bool tried_open;
	bool batch;		/* reindex: the caller holds the transaction */
	char *session_id;
	char *sessions_dir;
	char *pending_task;	/* the task of the manager's latest worker call */
	char *warning;
};

/* Total wait for a busy database: the busy timeout, times the retries. */
enum { BUSY_TIMEOUT_MS = 500, TX_ATTEMPTS = 4 };

static const char *const schema[] = {
	"CREATE TABLE IF NOT EXISTS sessions("
	" id TEXT PRIMARY KEY, sessions_dir TEXT, workspace TEXT, request TEXT,"
	" created_at TEXT, updated_at TEXT, completed_at TEXT,"
	" status TEXT NOT NULL DEFAULT 'running', exit_code INTEGER, verified INTEGER,"
	" turns INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,"
	" output_tokens INTEGER NOT NULL DEFAULT 0, cache_read_tokens INTEGER NOT NULL DEFAULT 0,"
	" cache_creation_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,"
	" agents TEXT NOT NULL DEFAULT '', files_changed TEXT NOT NULL DEFAULT '[]',"
	" current_agent TEXT, cycle INTEGER NOT NULL DEFAULT 0)",
	"CREATE INDEX IF NOT EXISTS sessions_created ON sessions(created_at)",
	"CREATE INDEX IF NOT EXISTS sessions_status ON sessions(status, created_at)",
	"CREATE INDEX IF NOT EXISTS sessions_dir ON sessions(sessions_dir, created_at)",
	"CREATE INDEX IF NOT EXISTS sessions_updated ON sessions(updated_at)",
	"CREATE TABLE IF NOT EXISTS worker_runs("
	" run_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, agent TEXT, task TEXT,"
	" status TEXT NOT NULL DEFAULT 'running', exit_code INTEGER, started_at TEXT, ended_at TEXT,"
	" duration_ms REAL, input_tokens INTEGER, output_tokens INTEGER, cache_read_tokens INTEGER,"
	" cache_creation_tokens INTEGER, cost_usd REAL, turns INTEGER, verified INTEGER, text TEXT)",
	"CREATE INDEX IF NOT EXISTS worker_runs_session ON worker_runs(session_id, started_at)",
	"CREATE INDEX IF NOT EXISTS worker_runs_agent ON worker_runs(agent, session_id)",
	"CREATE INDEX IF NOT EXISTS worker_runs_started ON worker_runs(started_at)",
	"CREATE TABLE IF NOT EXISTS api_calls("
	" id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, run_id TEXT, agent TEXT, ts TEXT,"
	" model TEXT, latency_ms REAL, ttfb_ms REAL, input_tokens INTEGER, output_tokens INTEGER,"
	" cache_read_tokens INTEGER, cache_creation_tokens INTEGER, cost_usd REAL,"
	" response_cache TEXT)",
	"CREATE INDEX IF NOT EXISTS api_calls_ts ON api_calls(ts)",
	"CREATE INDEX IF NOT EXISTS api_calls_session ON api_calls(session_id)",
	"CREATE TABLE IF NOT EXISTS errors("
	" id INTEGER PRIMARY KEY, session_id TEXT NOT NULL, run_id TEXT, agent TEXT, ts TEXT,"
	" type TEXT, message TEXT)",
	"CREATE INDEX IF NOT EXISTS errors_session ON errors(session_id)",
	"CREATE INDEX IF NOT EXISTS errors_ts ON errors(ts)",
	"CREATE VIRTUAL TABLE IF NOT EXISTS texts USING fts5("
	" session_id UNINDEXED, run_id UNINDEXED, agent UNINDEXED, kind UNINDEXED, ts UNINDEXED,"
	" body)",
	NULL,
};

char *history_default_path(void)
{
	const char *env = getenv("BLLM_HISTORY_DB");
	if (env && *env)
		return strcmp(env, "off") == 0 ? NULL : xstrdup(env);
	char *dir = config_state_dir();
	if (!dir)
		return NULL;
	char *path = xasprintf("%s/history.db", dir);
	free(dir);
	return path;
}

static char *db_error(const struct history *h, const char *what)
{
	return xasprintf("%s: %s: %s", h->path, what, sqlite3_errmsg(h->db));
}

static sqlite3_stmt *prepare(struct history *h, const char *sql)
{
	for (int i = 0; i < h->ncache; i++)
		if (h->cache[i].sql == sql) {
			sqlite3_reset(h->cache[i].st);
			sqlite3_clear_bindings(h->cache[i].st);
			return h->cache[i].st;
		}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK)
		return NULL;
	if (h->ncache < STMT_CACHE) {
		h->cache[h->ncache].sql = sql;
		h->cache[h->ncache].st = st;
		h->ncache++;
	}
	return st;
}

static void release(struct history *h, sqlite3_stmt *st)
{
	for (int i = 0; i < h->ncache; i++)
		if (h->cache[i].st == st) {
			sqlite3_reset(st);
			return;
		}
	sqlite3_finalize(st);
}

/* Binds v (borrowed) to parameter i: numbers, strings, booleans, null; others as JSON text. */
static void bind_jv(sqlite3_stmt *st, int i, jv v)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NUMBER: {
		double d = jv_number_value(v);
		if (d == (double)(long long)d && d > -9e15 && d < 9e15)
			sqlite3_bind_int64(st, i, (long long)d);
		else
			sqlite3_bind_double(st, i, d);
		break;
	}
	case JV_KIND_STRING:
		sqlite3_bind_text(st, i, jv_string_value(v), jv_string_length_bytes(jv_copy(v)),
				  SQLITE_TRANSIENT);
		break;
	case JV_KIND_TRUE: sqlite3_bind_int(st, i, 1); break;
	case JV_KIND_FALSE: sqlite3_bind_int(st, i, 0); break;
	case JV_KIND_ARRAY:
	case JV_KIND_OBJECT: {
		jv s = jv_dump_string(jv_copy(v), 0);
		sqlite3_bind_text(st, i, jv_string_value(s), -1, SQLITE_TRANSIENT);
		jv_free(s);
		break;
	}
	default: sqlite3_bind_null(st, i); break;
	}
}

/*
 * Binds the statement's parameters: named ones (:name) from the fields of
 * params when it is an object, positional ones (?) from its elements when
 * it is an array. params is borrowed.
 */
static void bind_params(sqlite3_stmt *st, jv params)
{
	int n = sqlite3_bind_parameter_count(st);
	for (int i = 1; i <= n; i++) {
		jv v;
		if (jv_get_kind(params) == JV_KIND_ARRAY) {
			v = jv_array_get(jv_copy(params), i - 1);
		} else {
			const char *name = sqlite3_bind_parameter_name(st, i);
			v = name ? json_get(params, name + 1) : jv_null();
		}
		if (jv_is_valid(v))
			bind_jv(st, i, v);
		jv_free(v);
	}
}

/* Runs a statement that returns no rows. Returns the SQLite result code. */
static int exec(struct history *h, const char *sql, jv params)
{
	sqlite3_stmt *st = prepare(h, sql);
	if (!st)
		return sqlite3_errcode(h->db);
	bind_params(st, params);
	int rc = sqlite3_step(st);
	release(h, st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? SQLITE_OK : rc;
}

/* The column as a jv: files_changed columns parsed as JSON. */
static jv column_jv(sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER: return jv_number((double)sqlite3_column_int64(st, i));
	case SQLITE_FLOAT: return jv_number(sqlite3_column_double(st, i));
	case SQLITE_NULL: return jv_null();
	default: {
		const char *text = (const char *)sqlite3_column_text(st, i);
		int len = sqlite3_column_bytes(st, i);
		if (strcmp(sqlite3_column_name(st, i), "files_changed") == 0) {
			jv v = jv_parse_sized(text ? text : "[]", text ? len : 2);
			if (jv_is_valid(v))
				return v;
			jv_free(v);
		}
		return jv_string_sized(text ? text : "", len);
	}
	}
}

/*
 * Binds params (borrowed) to st and steps it; *rows gets an array of
 * objects named by the columns. The caller releases st.
 */
static int step_rows(struct history *h, sqlite3_stmt *st, jv params, jv *rows, char **err)
{
	bind_params(st, params);
	jv out = jv_array();
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		jv row = jv_object();
		for (int i = 0; i < sqlite3_column_count(st); i++)
			row = jv_object_set(row, jv_string(sqlite3_column_name(st, i)), column_jv(st, i));
		out = jv_array_append(out, row);
	}
	if (rc != SQLITE_DONE) {
		*err = db_error(h, "query");
		jv_free(out);
		return -1;
	}
	*rows = out;
	return 0;
}

/* Runs a cached query; *rows gets an array of objects named by the columns. */
static int query(struct history *h, const char *sql, jv params, jv *rows, char **err)
{
	sqlite3_stmt *st = prepare(h, sql);
	if (!st) {
		*err = db_error(h, "query");
		return -1;
	}
	int r = step_rows(h, st, params, rows, err);
	release(h, st);
	return r;
}

int history_open(struct history **out, const char *path, bool readonly, char **err)
{
	*out = NULL;
	if (!readonly) {
		char *dir = xstrdup(path);
		char *slash = strrchr(dir, '/');
		if (slash && slash != dir) {
			*slash = '\0';
			if (io_mkdirs(dir, 0700) < 0) {
				*err = xasprintf("cannot create %s: %s (set BLLM_STATE_DIR to a writable "
						 "directory)", dir, strerror(errno));
				free(dir);
				return -1;
			}
		}
		free(dir);
	}
	if (!readonly) {
		/* Created 0600, like the sessions it indexes; SQLite gives -wal and -shm the same mode. */
		int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd >= 0)
			close(fd);
	}
	struct history *h = xcalloc(1, sizeof *h);
	h->path = xstrdup(path);
	int flags = readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
	if (sqlite3_open_v2(path, &h->db, flags | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: cannot open: %s", path, h->db ? sqlite3_errmsg(h->db) : "out of memory");
		history_close(h);
		return -1;
	}
	sqlite3_busy_timeout(h->db, BUSY_TIMEOUT_MS);
	/* A corrupt or foreign file shows here, at the first read of its header. */
	const char *setup = readonly ? "PRAGMA query_only=1" : "PRAGMA journal_mode=WAL";
	if (sqlite3_exec(h->db, setup, NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_exec(h->db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL) != SQLITE_OK) {
		*err = xasprintf("%s: %s (run `bllm-session reindex` to rebuild it from the journals)",
				 path, sqlite3_errmsg(h->db));
		history_close(h);
		return -1;
	}
	if (!readonly) {
		int rc = SQLITE_BUSY;
		for (int attempt = 0; attempt < TX_ATTEMPTS && rc == SQLITE_BUSY; attempt++) {
			rc = sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
			for (int i = 0; schema[i] && rc == SQLITE_OK; i++)
				rc = sqlite3_exec(h->db, schema[i], NULL, NULL, NULL);
			if (rc == SQLITE_OK)
				rc = sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL);
			if (rc != SQLITE_OK)
				sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		}
		if (rc != SQLITE_OK) {
			*err = xasprintf("%s: cannot create the tables: %s", path, sqlite3_errstr(rc));
			history_close(h);
			return -1;
		}
	}
	*out = h;
	return 0;
}

int history_recreate(struct history **h, const char *path, char **err)
{
	static const char *const suffixes[] = { "", "-wal", "-shm", "-journal" };
	for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
		char *p = xasprintf("%s%s", path, suffixes[i]);
		if (unlink(p) < 0 && errno != ENOENT) {
			*err = xasprintf("cannot remove %s: %s", p, strerror(errno));
			free(p);
			return -1;
		}
		free(p);
	}
	return history_open(h, path, false, err);
}

void history_close(struct history *h)
{
	if (!h)
		return;
	for (int i = 0; i < h->ncache; i++)
		sqlite3_finalize(h->cache[i].st);
	sqlite3_close(h->db);
	free(h->path);
	free(h);
}

/* --- recording ------------------------------------------------------- */

static char *absolute_dir(const char *dir)
{
	char buf[PATH_MAX];
	return realpath(dir, buf) ? xstrdup(buf) : xstrdup(dir);
}

struct history_recorder *history_recorder_new(struct history *h, const char *sessions_dir,
					      const char *session_id)
{
	struct history_recorder *r = xcalloc(1, sizeof *r);
	r->h = h;
	r->tried_open = h != NULL;
	r->session_id = xstrdup(session_id);
	r->sessions_dir = absolute_dir(sessions_dir);
	return r;
}

void history_recorder_free(struct history_recorder *r)
{
	if (!r)
		return;
	if (r->owns_h)
		history_close(r->h);
	free(r->session_id);
	free(r->sessions_dir);
	free(r->pending_task);
	free(r->warning);
	free(r);
}

const char *history_recorder_warning(const struct history_recorder *r)
{
	return r ? r->warning : NULL;
}

/* The one warning: logged, kept, and nothing more is recorded. */
static void give_up(struct history_recorder *r, const char *why)
{
	if (r->warning)
		return;
	r->warning = xasprintf("history not recorded for session %s: %s (the run goes on; "
			       "`bllm-session reindex` rebuilds the history from the journals)",
			       r->session_id, why);
	LOG(LOG_WARNING, "history", jv_null(), "%s", r->warning);
	if (r->owns_h) {
		history_close(r->h);
		r->owns_h = false;
	}
	r->h = NULL;
}

static bool ready(struct history_recorder *r)
{
	if (r->warning)
		return false;
	if (!r->tried_open) {
		r->tried_open = true;
		char *path = history_default_path();
		if (!path)
			return false;	/* history is off: not a failure */
		char *err = NULL;
		if (history_open(&r->h, path, false, &err) < 0) {
			give_up(r, err);
			free(err);
			free(path);
			return false;
		}
		free(path);
		r->owns_h = true;
	}
	return r->h != NULL;
}

/* The parameters every statement of an event may use: the event plus sid, sdir. */
static jv event_params(const struct history_recorder *r, jv ev)
{
	jv p = jv_copy(ev);
	p = jv_object_set(p, jv_string("sid"), jv_string(r->session_id));
	p = jv_object_set(p, jv_string("sdir"), jv_string(r->sessions_dir));
	return p;
}

static bool is(const char *a, const char *b)
{
	return a && strcmp(a, b) == 0;
}

/* The error type of a run that did not complete: its own, else from its exit code. */
static const char *error_type_of(jv ev)
{
	const char *given = json_str(ev, "error_type");
	if (given)
		return given;
	switch ((int)json_num(ev, "exit_code", 1)) {
	case 2: return "input";
	case 3: return "upstream";
	case 4: return "api";
	case 5: return "config";
	case 6: return "limit";
	case 124: return "timeout";
	case 130: return "interrupted";
	default: return "task";
	}
}

static int add_error(struct history *h, jv p, const char *type, const char *message)
{
	static const char sql[] = "INSERT INTO errors(session_id, run_id, agent, ts, type, message) "
				  "VALUES(:sid, :run_id, :agent, :ts, :etype, :emsg)";
	jv q = jv_object_set(jv_copy(p), jv_string("etype"), jv_string(type));
	q = jv_object_set(q, jv_string("emsg"), jv_string(message ? message : ""));
	int rc = exec(h, sql, q);
	jv_free(q);
	return rc;
}

static int add_text(struct history *h, jv p, const char *kind)
{
	static const char sql[] = "INSERT INTO texts(session_id, run_id, agent, kind, ts, body) "
				  "VALUES(:sid, :run_id, :agent, :kind, :ts, :text)";
	jv q = jv_object_set(jv_copy(p), jv_string("kind"), jv_string(kind));
	int rc = exec(h, sql, q);
	jv_free(q);
	return rc;
}

/* The usage fields of a result, flattened beside it. */
static jv with_usage(jv p)
{
	jv u = json_get(p, "usage");
	static const char *const keys[] = { "input_tokens", "output_tokens", "cache_read_input_tokens",
					    "cache_creation_input_tokens", NULL };
	for (int i = 0; keys[i]; i++)
		p = jv_object_set(p, jv_string(keys[i]), json_get(u, keys[i]));
	jv_free(u);
	jv v = json_get(p, "verification");
	jv verified = json_get(v, "verified");
	p = jv_object_set(p, jv_string("verified"),
			  jv_bool(jv_get_kind(verified) == JV_KIND_TRUE));
	jv_free(verified);
	jv_free(v);
	return p;
}

static const char SQL_ENSURE_SESSION[] =
	"INSERT INTO sessions(id, sessions_dir, created_at, updated_at) VALUES(:sid, :sdir, :ts, :ts) "
	"ON CONFLICT(id) DO UPDATE SET updated_at = coalesce(:ts, updated_at)";
static const char SQL_ADD_AGENT[] =
	"UPDATE sessions SET current_agent = :worker, agents = CASE"
	" WHEN instr(',' || agents || ',', ',' || :worker || ',') > 0 THEN agents"
	" WHEN agents = '' THEN :worker ELSE agents || ',' || :worker END WHERE id = :sid";
static const char SQL_FILES[] =
	"UPDATE sessions SET files_changed = (SELECT json_group_array(value) FROM"
	" (SELECT value FROM json_each(sessions.files_changed) UNION"
	"  SELECT value FROM json_each(:files_changed))) WHERE id = :sid";
static const char SQL_USAGE_CALL[] =
	"INSERT INTO api_calls(session_id, run_id, agent, ts, model, latency_ms, ttfb_ms,"
	" input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd,"
	" response_cache) VALUES(:sid, :run_id, :agent, :ts, :model, :latency_ms, :ttfb_ms,"
	" :input_tokens, :output_tokens, :cache_read_input_tokens, :cache_creation_input_tokens,"
	" :cost_usd, :response_cache)";
static const char SQL_USAGE_SESSION[] =
	"UPDATE sessions SET turns = turns + 1,"
	" input_tokens = input_tokens + coalesce(:input_tokens, 0),"
	" output_tokens = output_tokens + coalesce(:output_tokens, 0),"
	" cache_read_tokens = cache_read_tokens + coalesce(:cache_read_input_tokens, 0),"
	" cache_creation_tokens = cache_creation_tokens + coalesce(:cache_creation_input_tokens, 0),"
	" cost_usd = cost_usd + coalesce(:cost_usd, 0) WHERE id = :sid";
static const char SQL_WORKER_START[] =
	"INSERT INTO worker_runs(run_id, session_id, agent, started_at, task)"
	" VALUES(:run_id, :sid, :agent, :ts, :pending_task) ON CONFLICT(run_id) DO NOTHING";
static const char SQL_WORKER_RESULT[] =
	"INSERT INTO worker_runs(run_id, session_id, agent, started_at, status, exit_code, ended_at,"
	" duration_ms, input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens,"
	" cost_usd, turns, verified, text) VALUES(:run_id, :sid, :agent, :ts, :status, :exit_code,"
	" :ts, :duration_ms, :input_tokens, :output_tokens, :cache_read_input_tokens,"
	" :cache_creation_input_tokens, :total_cost_usd, :num_turns, :verified, :text)"
	" ON CONFLICT(run_id) DO UPDATE SET status = excluded.status, exit_code = excluded.exit_code,"
	" ended_at = excluded.ended_at, duration_ms = excluded.duration_ms,"
	" input_tokens = excluded.input_tokens, output_tokens = excluded.output_tokens,"
	" cache_read_tokens = excluded.cache_read_tokens,"
	" cache_creation_tokens = excluded.cache_creation_tokens, cost_usd = excluded.cost_usd,"
	" turns = excluded.turns, verified = excluded.verified, text = excluded.text";
static const char SQL_WORKER_END[] =
	"INSERT INTO worker_runs(run_id, session_id, agent, started_at, status, exit_code, ended_at,"
	" duration_ms) VALUES(:worker_run_id, :sid, :worker, :ts, :status, :exit_code, :ts,"
	" :duration_ms) ON CONFLICT(run_id) DO UPDATE SET status = excluded.status,"
	" exit_code = excluded.exit_code, duration_ms = excluded.duration_ms,"
	" ended_at = coalesce(worker_runs.ended_at, excluded.ended_at)";
static const char SQL_SESSION_RESULT[] =
	"UPDATE sessions SET status = :status, exit_code = :exit_code, verified = :verified,"
	" completed_at = :ts, turns = coalesce(:num_turns, turns),"
	" input_tokens = coalesce(:input_tokens, input_tokens),"
	" output_tokens = coalesce(:output_tokens, output_tokens),"
	" cache_read_tokens = coalesce(:cache_read_input_tokens, cache_read_tokens),"
	" cache_creation_tokens = coalesce(:cache_creation_input_tokens, cache_creation_tokens),"
	" cost_usd = coalesce(:total_cost_usd, cost_usd), current_agent = NULL WHERE id = :sid";

/* The statements one event makes; SQLITE_OK or the first failure. */
static int record(struct history_recorder *r, jv ev)
{
	struct history *h = r->h;
	const char *type = event_type(ev);
	const char *agent = json_str(ev, "agent");
	jv parent = json_get(ev, "parent_id");
	bool top = jv_get_kind(parent) == JV_KIND_NULL;
	jv_free(parent);
	jv p = event_params(r, ev);
	int rc = exec(h, SQL_ENSURE_SESSION, p);
	if (rc != SQLITE_OK)
		goto out;
	if (is(type, "init") && top) {
		rc = exec(h, "UPDATE sessions SET workspace = coalesce(workspace, :cwd),"
			  " status = 'running', completed_at = NULL, current_agent = :agent,"
			  " created_at = coalesce(created_at, :ts) WHERE id = :sid", p);
	} else if (is(type, "init")) {
		p = jv_object_set(p, jv_string("pending_task"),
				  r->pending_task ? jv_string(r->pending_task) : jv_null());
		rc = exec(h, SQL_WORKER_START, p);
	} else if (is(type, "task") && json_str(ev, "text")) {
		if (top)
			rc = exec(h, "UPDATE sessions SET request = coalesce(request, :text) WHERE id = :sid", p);
		else
			rc = exec(h, "UPDATE worker_runs SET task = coalesce(task, :text) WHERE run_id = :run_id", p);
		if (rc == SQLITE_OK)
			rc = add_text(h, p, top ? "request" : "task");
	} else if (is(type, "tool_use") && top) {
		jv input = json_get(ev, "input");
		const char *task = json_str(input, "task");
		free(r->pending_task);
		r->pending_task = task ? xstrdup(task) : NULL;
		jv_free(input);
	} else if (is(type, "worker_start")) {
		rc = exec(h, SQL_ADD_AGENT, p);
	} else if (is(type, "worker_end")) {
		if (json_str(ev, "worker_run_id"))
			rc = exec(h, SQL_WORKER_END, p);
		if (rc == SQLITE_OK)
			rc = exec(h, "UPDATE sessions SET current_agent = 'manager' WHERE id = :sid", p);
	} else if (is(type, "cycle")) {
		rc = exec(h, "UPDATE sessions SET cycle = coalesce(:n, cycle) WHERE id = :sid", p);
	} else if (is(type, "usage")) {
		rc = exec(h, SQL_USAGE_CALL, p);
		if (rc == SQLITE_OK)
			rc = exec(h, SQL_USAGE_SESSION, p);
	} else if (is(type, "text") && json_str(ev, "text")) {
		rc = add_text(h, p, "text");
	} else if (is(type, "tool_result")) {
		jv files = json_get(ev, "files_changed");
		if (jv_get_kind(files) == JV_KIND_ARRAY && jv_array_length(jv_copy(files)) > 0)
			rc = exec(h, SQL_FILES, p);
		jv_free(files);
		jv is_error = json_get(ev, "is_error");
		if (rc == SQLITE_OK && jv_get_kind(is_error) == JV_KIND_TRUE) {
			const char *content = json_str(ev, "content");
			char *msg = xasprintf("%s: %.300s", json_str(ev, "name") ? json_str(ev, "name") : "tool",
					      content ? content : "");
			rc = add_error(h, p, "tool", msg);
			free(msg);
		}
		jv_free(is_error);
	} else if (is(type, "retry")) {
		jv status = json_get(ev, "http_status");
		bool network = jv_get_kind(status) != JV_KIND_NUMBER;
		jv_free(status);
		rc = add_error(h, p, network ? "network" : "api", json_str(ev, "error"));
	} else if (is(type, "log") && (is(json_str(ev, "level"), "error") ||
				       is(json_str(ev, "level"), "critical"))) {
		rc = add_error(h, p, "internal", json_str(ev, "message"));
	} else if (is(type, "result")) {
		p = with_usage(p);
		rc = exec(h, top ? SQL_SESSION_RESULT : SQL_WORKER_RESULT, p);
		const char *status = json_str(ev, "status");
		if (rc == SQLITE_OK && status && !is(status, "completed") && !is(status, "skipped"))
			rc = add_error(h, p, error_type_of(ev),
				       json_str(ev, "error") ? json_str(ev, "error") : status);
		(void)agent;
	}
out:
	jv_free(p);
	return rc;
}

static const char SQL_SUMMARY[] =
	"UPDATE sessions SET request = coalesce(request, :user_request),"
	" created_at = coalesce(created_at, :created_at),"
	" completed_at = coalesce(completed_at, :completed_at),"
	" status = CASE WHEN status IN ('running', 'incomplete') THEN coalesce(:status, status)"
	"  ELSE status END,"
	" exit_code = coalesce(exit_code, :exit_code), verified = coalesce(verified, :tests_passed),"
	" turns = CASE WHEN turns = 0 THEN coalesce(:total_turns, 0) ELSE turns END,"
	" input_tokens = CASE WHEN input_tokens = 0 THEN coalesce(:input_tokens, 0) ELSE input_tokens END,"
	" output_tokens = CASE WHEN output_tokens = 0 THEN coalesce(:output_tokens, 0) ELSE output_tokens END,"
	" cost_usd = CASE WHEN cost_usd = 0 THEN coalesce(:total_cost_usd, 0) ELSE cost_usd END,"
	" agents = CASE WHEN agents = '' THEN coalesce(:agents, '') ELSE agents END"
	" WHERE id = :sid";

static int record_summary(struct history_recorder *r, jv s)
{
	jv p = event_params(r, s);
	p = jv_object_set(p, jv_string("ts"), json_get(s, "created_at"));
	int rc = exec(r->h, "INSERT INTO sessions(id, sessions_dir, created_at, updated_at)"
		      " VALUES(:sid, :sdir, :ts, :completed_at) ON CONFLICT(id) DO NOTHING", p);
	jv res = json_get(s, "result");
	p = jv_object_set(p, jv_string("status"), json_get(res, "status"));
	p = jv_object_set(p, jv_string("exit_code"), json_get(res, "exit_code"));
	p = jv_object_set(p, jv_string("tests_passed"), json_get(res, "tests_passed"));
	jv_free(res);
	jv u = json_get(s, "usage");
	p = jv_object_set(p, jv_string("input_tokens"), json_get(u, "input_tokens"));
	p = jv_object_set(p, jv_string("output_tokens"), json_get(u, "output_tokens"));
	jv_free(u);
	jv agents = json_get(s, "agents_used");
	struct buf b = BUF_INIT;
	if (jv_get_kind(agents) == JV_KIND_ARRAY)
		jv_array_foreach(agents, i, a) {
			if (jv_get_kind(a) == JV_KIND_STRING)
				buf_printf(&b, "%s%s", b.len ? "," : "", jv_string_value(a));
			jv_free(a);
		}
	jv_free(agents);
	p = jv_object_set(p, jv_string("agents"), jv_string(buf_str(&b)));
	buf_free(&b);
	if (rc == SQLITE_OK)
		rc = exec(r->h, SQL_SUMMARY, p);
	jv_free(p);
	return rc;
}

static bool retryable(int rc)
{
	return rc == SQLITE_BUSY || rc == SQLITE_LOCKED;
}

/* Runs fn in a transaction, retried while the database is busy; gives up once. */
static void in_transaction(struct history_recorder *r, int (*fn)(struct history_recorder *, jv), jv v)
{
	if (!ready(r))
		return;
	if (r->batch) {
		int rc = fn(r, v);
		if (rc != SQLITE_OK)
			give_up(r, sqlite3_errstr(rc));
		return;
	}
	int rc = SQLITE_BUSY;
	for (int attempt = 0; attempt < TX_ATTEMPTS && retryable(rc); attempt++) {
		if (attempt > 0)
			usleep(10000u * (unsigned)attempt);
		rc = sqlite3_exec(r->h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc == SQLITE_OK)
			rc = fn(r, v);
		if (rc == SQLITE_OK)
			rc = sqlite3_exec(r->h->db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK && !sqlite3_get_autocommit(r->h->db))
			sqlite3_exec(r->h->db, "ROLLBACK", NULL, NULL, NULL);
	}
	if (rc != SQLITE_OK) {
		char *why = xasprintf("%s: %s", r->h->path, sqlite3_errstr(rc));
		give_up(r, why);
		free(why);
	}
}

void history_recorder_event(struct history_recorder *r, jv ev)
{
	if (r && jv_get_kind(ev) == JV_KIND_OBJECT && event_type(ev))
		in_transaction(r, record, ev);
}

void history_recorder_summary(struct history_recorder *r, jv summary)
{
	if (r && jv_get_kind(summary) == JV_KIND_OBJECT)
		in_transaction(r, record_summary, summary);
}

/* --- queries --------------------------------------------------------- */

void history_filter_sql(const struct history_filter *f, struct buf *where, jv *params)
{
	const char *sep = " WHERE ";
	if (f->since) {
		buf_printf(where, "%ss.created_at >= ?", sep);
		*params = jv_array_append(*params, jv_string(f->since));
		sep = " AND ";
	}
	if (f->status) {
		buf_printf(where, "%ss.status = ?", sep);
		*params = jv_array_append(*params, jv_string(f->status));
		sep = " AND ";
	}
	if (f->agent) {
		buf_printf(where, "%sEXISTS (SELECT 1 FROM worker_runs w WHERE w.session_id = s.id AND w.agent = ?)",
			   sep);
		*params = jv_array_append(*params, jv_string(f->agent));
		sep = " AND ";
	}
	if (f->workspace) {
		buf_printf(where, "%ss.workspace = ?", sep);
		*params = jv_array_append(*params, jv_string(f->workspace));
		sep = " AND ";
	}
	if (f->sessions_dir) {
		buf_printf(where, "%ss.sessions_dir = ?", sep);
		*params = jv_array_append(*params, jv_string(f->sessions_dir));
	}
}

char *history_fts_query(const char *text)
{
	struct buf q = BUF_INIT;
	const char *p = text;
	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\n')
			p++;
		if (!*p)
			break;
		buf_appends(&q, q.len ? " \"" : "\"");
		for (; *p && *p != ' ' && *p != '\t' && *p != '\n'; p++) {
			if (*p == '"')
				buf_appendc(&q, '"');
			buf_appendc(&q, *p);
		}
		buf_appendc(&q, '"');
	}
	if (!q.len) {
		buf_free(&q);
		return NULL;
	}
	return buf_detach(&q);
}

static const char SESSION_COLUMNS[] =
	"s.id, s.sessions_dir, s.workspace, s.request, s.created_at, s.updated_at, s.completed_at,"
	" s.status, s.exit_code, s.verified, s.turns, s.input_tokens, s.output_tokens,"
	" s.cache_read_tokens, s.cache_creation_tokens, s.cost_usd, s.agents, s.files_changed,"
	" s.current_agent, s.cycle";

/*
 * Runs a query built at run time (filters vary): prepared, not cached,
 * parameters bound, never text pasted into SQL.
 */
static int query_dynamic(struct history *h, const char *sql, jv params, jv *rows, char **err)
{
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h->db, sql, -1, &st, NULL) != SQLITE_OK) {
		*err = db_error(h, "query");
		return -1;
	}
	int r = step_rows(h, st, params, rows, err);
	sqlite3_finalize(st);
	return r;
}

int history_sessions(struct history *h, const struct history_filter *f, bool running_first,
		     jv *out, char **err)
{
	struct buf sql = BUF_INIT;
	jv params = jv_array();
	buf_printf(&sql, "SELECT %s FROM sessions s", SESSION_COLUMNS);
	history_filter_sql(f, &sql, &params);
	buf_printf(&sql, " ORDER BY %ss.created_at DESC, s.id DESC",
		   running_first ? "s.status = 'running' DESC, " : "");
	if (f->limit > 0)
		buf_printf(&sql, " LIMIT %ld", f->limit);
	int rc = query_dynamic(h, sql.data, params, out, err);
	jv_free(params);
	buf_free(&sql);
	return rc;
}

int history_session(struct history *h, const char *id, jv *out, char **err)
{
	jv params = JV_ARRAY(jv_string(id));
	jv sessions, workers, errors;
	static const char sql_workers[] =
		"SELECT run_id, agent, task, status, exit_code, started_at, ended_at, duration_ms,"
		" input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, cost_usd,"
		" turns, verified, text FROM worker_runs WHERE session_id = ? ORDER BY started_at, rowid";
	static const char sql_errors[] =
		"SELECT run_id, agent, ts, type, message FROM errors WHERE session_id = ? ORDER BY ts, id";
	char *sql = xasprintf("SELECT %s FROM sessions s WHERE s.id = ?", SESSION_COLUMNS);
	int rc = query_dynamic(h, sql, params, &sessions, err);
	free(sql);
	if (rc < 0) {
		jv_free(params);
		return -1;
	}
	if (jv_array_length(jv_copy(sessions)) == 0) {
		*err = xasprintf("no session %s in %s", id, h->path);
		jv_free(sessions);
		jv_free(params);
		return -1;
	}
	if (query(h, sql_workers, params, &workers, err) < 0) {
		jv_free(sessions);
		jv_free(params);
		return -1;
	}
	if (query(h, sql_errors, params, &errors, err) < 0) {
		jv_free(sessions);
		jv_free(workers);
		jv_free(params);
		return -1;
	}
	jv_free(params);
	jv o = jv_object_set(jv_object(), jv_string("session"), jv_array_get(sessions, 0));
	o = jv_object_set(o, jv_string("workers"), workers);
	*out = jv_object_set(o, jv_string("errors"), errors);
	return 0;
}

double history_percentile(const double *sorted, size_t n, int p)
{
	if (n == 0)
		return 0;
	size_t rank = ((size_t)p * n + 99) / 100;
	return sorted[rank > 0 ? rank - 1 : 0];
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* The API calls (or errors) of the sessions f selects: a where clause over c and s. */
static void calls_where(const struct history_filter *f, const char *alias, struct buf *sql, jv *params)
{
	struct history_filter sf = *f;
	sf.since = NULL;
	sf.agent = NULL;
	sf.limit = 0;
	struct buf w = BUF_INIT;
	history_filter_sql(&sf, &w, params);
	buf_printf(sql, " FROM %s c JOIN sessions s ON s.id = c.session_id%s", alias, buf_str(&w));
	const char *sep = w.len ? " AND " : " WHERE ";
	buf_free(&w);
	if (f->since) {
		buf_printf(sql, "%sc.ts >= ?", sep);
		*params = jv_array_append(*params, jv_string(f->since));
		sep = " AND ";
	}
	if (f->agent) {
		buf_printf(sql, "%sc.agent = ?", sep);
		*params = jv_array_append(*params, jv_string(f->agent));
	}
}

int history_stats(struct history *h, const struct history_filter *f, jv *out, char **err)
{
	struct buf sql = BUF_INIT;
	jv params = jv_array();
	buf_appends(&sql, "SELECT c.agent AS agent, c.latency_ms AS latency_ms, c.input_tokens AS i,"
		    " c.output_tokens AS o, c.cache_read_tokens AS cr, c.cache_creation_tokens AS cc,"
		    " c.cost_usd AS cost");
	calls_where(f, "api_calls", &sql, &params);
	buf_appends(&sql, " ORDER BY c.agent");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(h->db, sql.data, -1, &st, NULL) != SQLITE_OK) {
		*err = db_error(h, "stats");
		jv_free(params);
		buf_free(&sql);
		return -1;
	}
	bind_params(st, params);
	jv agents = jv_object();
	char *cur = NULL;
	double *lat = NULL;
	size_t nlat = 0, cap = 0;
	double sum[5] = { 0 };
	long calls = 0;
	int rc;
	for (;;) {
		rc = sqlite3_step(st);
		const char *agent = rc == SQLITE_ROW ? (const char *)sqlite3_column_text(st, 0) : NULL;
		if (!agent && rc == SQLITE_ROW)
			agent = "-";
		if (cur && (!agent || strcmp(agent, cur) != 0)) {
			qsort(lat, nlat, sizeof *lat, cmp_double);
			double in_all = sum[0] + sum[2] + sum[3];
			jv a = jv_object();
			a = jv_object_set(a, jv_string("calls"), jv_number((double)calls));
			a = jv_object_set(a, jv_string("latency_p50_ms"),
					  nlat ? jv_number(history_percentile(lat, nlat, 50)) : jv_null());
			a = jv_object_set(a, jv_string("latency_p95_ms"),
					  nlat ? jv_number(history_percentile(lat, nlat, 95)) : jv_null());
			a = jv_object_set(a, jv_string("input_tokens"), jv_number(sum[0]));
			a = jv_object_set(a, jv_string("output_tokens"), jv_number(sum[1]));
			a = jv_object_set(a, jv_string("cache_read_input_tokens"), jv_number(sum[2]));
			a = jv_object_set(a, jv_string("cache_creation_input_tokens"), jv_number(sum[3]));
			a = jv_object_set(a, jv_string("cost_usd"), jv_number(sum[4]));
			a = jv_object_set(a, jv_string("cache_hit_rate"),
					  in_all > 0 ? jv_number(sum[2] / in_all) : jv_null());
			agents = jv_object_set(agents, jv_string(cur), a);
			free(cur);
			cur = NULL;
			nlat = 0;
			calls = 0;
			memset(sum, 0, sizeof sum);
		}
		if (rc != SQLITE_ROW)
			break;
		if (!cur)
			cur = xstrdup(agent);
		calls++;
		if (sqlite3_column_type(st, 1) != SQLITE_NULL) {
			if (nlat == cap) {
				cap = cap ? cap * 2 : 64;
				lat = xrealloc(lat, cap * sizeof *lat);
			}
			lat[nlat++] = sqlite3_column_double(st, 1);
		}
		for (int i = 0; i < 5; i++)
			sum[i] += sqlite3_column_double(st, 2 + i);
	}
	sqlite3_finalize(st);
	free(lat);
	free(cur);
	jv_free(params);
	buf_free(&sql);
	if (rc != SQLITE_DONE) {
		*err = db_error(h, "stats");
		jv_free(agents);
		return -1;
	}
	/* Worker runs and errors per agent, errors per type. */
	jv rows;
	params = jv_array();
	buf_appends(&sql, "SELECT c.agent AS agent, count(*) AS n");
	calls_where(f, "worker_runs", &sql, &params);
	buf_appends(&sql, " GROUP BY +c.agent");	/* "+": rows found by the time index, not by agent */
	/* worker_runs has started_at, not ts: name it so for the filter. */
	char *fixed = NULL;
	{
		struct buf b = BUF_INIT;
		const char *s = sql.data, *m;
		while ((m = strstr(s, "c.ts >= ?"))) {
			buf_append(&b, s, (size_t)(m - s));
			buf_appends(&b, "c.started_at >= ?");
			s = m + strlen("c.ts >= ?");
		}
		buf_appends(&b, s);
		fixed = buf_detach(&b);
	}
	rc = query_dynamic(h, fixed, params, &rows, err);
	free(fixed);
	jv_free(params);
	buf_free(&sql);
	if (rc < 0) {
		jv_free(agents);
		return -1;
	}
	jv_array_foreach(rows, i, row) {
		const char *name = json_str(row, "agent") ? json_str(row, "agent") : "-";
		jv a = jv_object_get(jv_copy(agents), jv_string(name));
		if (jv_get_kind(a) != JV_KIND_OBJECT) {
			jv_free(a);
			a = jv_object_set(jv_object(), jv_string("calls"), jv_number(0));
		}
		a = jv_object_set(a, jv_string("worker_runs"), json_get(row, "n"));
		agents = jv_object_set(agents, jv_string(name), a);
		jv_free(row);
	}
	jv_free(rows);
	params = jv_array();
	buf_appends(&sql, "SELECT c.agent AS agent, c.type AS type, count(*) AS n");
	calls_where(f, "errors", &sql, &params);
	buf_appends(&sql, " GROUP BY +c.agent, +c.type");
	rc = query_dynamic(h, sql.data, params, &rows, err);
	jv_free(params);
	buf_free(&sql);
	if (rc < 0) {
		jv_free(agents);
		return -1;
	}
	jv by_type = jv_object();
	jv_array_foreach(rows, i, row) {
		const char *name = json_str(row, "agent") ? json_str(row, "agent") : "-";
		const char *type = json_str(row, "type") ? json_str(row, "type") : "other";
		double n = json_num(row, "n", 0);
		jv a = jv_object_get(jv_copy(agents), jv_string(name));
		if (jv_get_kind(a) != JV_KIND_OBJECT) {
			jv_free(a);
			a = jv_object_set(jv_object(), jv_string("calls"), jv_number(0));
		}
		a = jv_object_set(a, jv_string("errors"), jv_number(json_num(a, "errors", 0) + n));
		agents = jv_object_set(agents, jv_string(name), a);
		by_type = jv_object_set(by_type, jv_string(type), jv_number(json_num(by_type, type, 0) + n));
		jv_free(row);
	}
	jv_free(rows);
	jv o = jv_object_set(jv_object(), jv_string("agents"), agents);
	*out = jv_object_set(o, jv_string("errors"), by_type);
	return 0;
}

int history_search(struct history *h, const char *text, long limit, jv *out, char **err)
{
	char *q = history_fts_query(text);
	if (!q) {
		*out = jv_array();
		return 0;
	}
	static const char sql[] =
		"SELECT t.session_id AS session_id, t.agent AS agent, t.kind AS kind, t.ts AS ts,"
		" snippet(texts, 5, '[', ']', '...', 12) AS snippet, s.request AS request,"
		" s.status AS status FROM texts t LEFT JOIN sessions s ON s.id = t.session_id"
		" WHERE texts MATCH ? ORDER BY rank LIMIT ?";
	jv params = JV_ARRAY(jv_string(q), jv_number((double)(limit > 0 ? limit : 20)));
	free(q);
	int rc = query(h, sql, params, out, err);
	jv_free(params);
	return rc;
}

/* --- reindex --------------------------------------------------------- */

static int delete_session(struct history *h, const char *id)
{
	static const char *const sqls[] = {
		"DELETE FROM sessions WHERE id = ?", "DELETE FROM worker_runs WHERE session_id = ?",
		"DELETE FROM api_calls WHERE session_id = ?", "DELETE FROM errors WHERE session_id = ?",
		"DELETE FROM texts WHERE session_id = ?",
	};
	jv params = JV_ARRAY(jv_string(id));
	int rc = SQLITE_OK;
	for (size_t i = 0; i < sizeof sqls / sizeof sqls[0] && rc == SQLITE_OK; i++)
		rc = exec(h, sqls[i], params);
	jv_free(params);
	return rc;
}

/* The session IDs of dir (journals and summaries), sorted, as a jv array. */
static int session_ids(const char *dir, jv *ids, char **err)
{
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT) {
			*ids = jv_array();
			return 0;
		}
		*err = xasprintf("%s: %s", dir, strerror(errno));
		return -1;
	}
	jv set = jv_object();
	struct dirent *e;
	while ((e = readdir(d))) {
		const char *dot = strchr(e->d_name, '.');
		if (!dot || e->d_name[0] == '.' || dot == e->d_name)
			continue;
		if (strcmp(dot, ".ndjson") && strcmp(dot, ".json") && strcmp(dot, ".json.gz"))
			continue;
		set = jv_object_set(set, jv_string_sized(e->d_name, (int)(dot - e->d_name)), jv_true());
	}
	closedir(d);
	*ids = jv_keys(set);	/* sorted */
	return 0;
}

int history_reindex(struct history *h, const char *sessions_dir, bool only_missing, int *count,
		    char **err)
{
	*count = 0;
	jv ids;
	if (session_ids(sessions_dir, &ids, err) < 0)
		return -1;
	int rc = 0;
	jv_array_foreach(ids, i, idv) {
		const char *id = jv_string_value(idv);
		bool skip = false;
		if (only_missing && rc == 0) {
			jv found;
			jv params = JV_ARRAY(jv_copy(idv));
			if (query(h, "SELECT 1 FROM sessions WHERE id = ?", params, &found, err) < 0)
				rc = -1;
			else
				skip = jv_array_length(found) > 0;
			jv_free(params);
		}
		if (skip || rc < 0) {
			jv_free(idv);
			continue;
		}
		struct history_recorder *r = history_recorder_new(h, sessions_dir, id);
		r->batch = true;
		if (sqlite3_exec(h->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK ||
		    delete_session(h, id) != SQLITE_OK) {
			*err = db_error(h, "reindex");
			rc = -1;
		}
		jv events, summary;
		char *ignored = NULL;
		if (rc == 0 && session_read_journal(sessions_dir, id, &events, &ignored) == 0) {
			jv_array_foreach(events, k, ev) {
				history_recorder_event(r, ev);
				jv_free(ev);
			}
			jv_free(events);
		}
		free(ignored);
		ignored = NULL;
		if (rc == 0 && session_load_summary(sessions_dir, id, &summary, &ignored) == 0) {
			history_recorder_summary(r, summary);
			jv_free(summary);
		}
		free(ignored);
		if (rc == 0 && r->warning) {
			*err = xstrdup(r->warning);
			rc = -1;
		}
		if (rc == 0 && sqlite3_exec(h->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			*err = db_error(h, "reindex");
			rc = -1;
		}
		if (rc < 0 && !sqlite3_get_autocommit(h->db))
			sqlite3_exec(h->db, "ROLLBACK", NULL, NULL, NULL);
		if (rc == 0)
			(*count)++;
		history_recorder_free(r);
		jv_free(idv);
	}
	jv_free(ids);
	return rc;
}

/* --- for the programs ------------------------------------------------ */

void history_time_string(long long ms, char out[32])
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;
	gmtime_r(&t, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03dZ", (int)(ms % 1000));
}

int history_open_synced(struct history **h, const char *sessions_dir, char **err)
{
	char *path = history_default_path();
	if (!path) {
		*err = xstrdup("no history database (BLLM_HISTORY_DB is off, or no state directory: "
			       "set BLLM_STATE_DIR)");
		return -1;
	}
	int rc = history_open(h, path, false, err);
	free(path);
	if (rc < 0 || !sessions_dir)
		return rc;
	int n;
	if (history_reindex(*h, sessions_dir, true, &n, err) < 0) {
		history_close(*h);
		*h = NULL;
		return -1;
	}
	return 0;
}

jv history_row_summary(jv row)
{
	jv s = jv_object();
	s = jv_object_set(s, jv_string("session_id"), json_get(row, "id"));
	s = jv_object_set(s, jv_string("created_at"), json_get(row, "created_at"));
	s = jv_object_set(s, jv_string("completed_at"), json_get(row, "completed_at"));
	s = jv_object_set(s, jv_string("user_request"), json_get(row, "request"));
	s = jv_object_set(s, jv_string("total_turns"), json_get(row, "turns"));
	s = jv_object_set(s, jv_string("total_cost_usd"), json_get(row, "cost_usd"));
	jv r = jv_object_set(jv_object(), jv_string("status"), json_get(row, "status"));
	r = jv_object_set(r, jv_string("exit_code"), json_get(row, "exit_code"));
	return jv_object_set(s, jv_string("result"), r);
}

void history_format_search(struct buf *out, jv results, bool color)
{
	jv_array_foreach(results, i, m) {
		const char *snip = json_str(m, "snippet");
		buf_printf(out, "%s%s%s  %-10s %s/%s  ", color ? "\033[1m" : "",
			   json_str(m, "session_id") ? json_str(m, "session_id") : "-",
			   color ? "\033[0m" : "", json_str(m, "status") ? json_str(m, "status") : "-",
			   json_str(m, "agent") ? json_str(m, "agent") : "-",
			   json_str(m, "kind") ? json_str(m, "kind") : "-");
		/* One line per match, whatever the text holds; [match] in bold when coloured. */
		for (const char *p = snip ? snip : ""; *p; p++) {
			if (*p == '\n' || *p == '\r' || *p == '\t')
				buf_appendc(out, ' ');
			else if (color && *p == '[')
				buf_appends(out, "\033[1;33m");
			else if (color && *p == ']')
				buf_appends(out, "\033[0m");
			else
				buf_appendc(out, *p);
		}
		buf_appendc(out, '\n');
		jv_free(m);
	}
}

long long history_now_ms(void)
{
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	return (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}

int history_version(struct history *h, jv *out, char **err)
{
	jv rows;
	/* Changes whenever another connection commits: one cheap read, whatever the size. */
	if (query(h, "PRAGMA data_version", jv_null(), &rows, err) < 0)
		return -1;
	*out = jv_array_get(rows, 0);
	return 0;
}

int history_list_summaries(const char *dir, struct history_filter *f, jv *all, char **err)
{
	struct history *h;
	char abs[PATH_MAX];
	if (history_open_synced(&h, dir, err) < 0)
		return -1;
	f->sessions_dir = realpath(dir, abs) ? abs : dir;
	jv rows;
	int rc = history_sessions(h, f, false, &rows, err);
	f->sessions_dir = NULL;
	history_close(h);
	if (rc < 0)
		return -1;
	*all = jv_array();
	for (int i = jv_array_length(jv_copy(rows)) - 1; i >= 0; i--) {	/* oldest first */
		jv row = jv_array_get(jv_copy(rows), i);
		*all = jv_array_append(*all, history_row_summary(row));
		jv_free(row);
	}
	jv_free(rows);
	return 0;
}

int history_reindex_default(const char *dir, int *count, char **path, char **notice, char **err)
{
	struct history *h = NULL;
	*count = 0;
	*notice = NULL;
	*path = history_default_path();
	if (!*path) {
		*err = xstrdup("no history database (BLLM_HISTORY_DB is off, or no state directory: "
			       "set BLLM_STATE_DIR)");
		return -1;
	}
	if (history_open(&h, *path, false, err) < 0) {
		*notice = xasprintf("%s; making it anew", *err);
		free(*err);
		*err = NULL;
		if (history_recreate(&h, *path, err) < 0)
			return -1;
	}
	int rc = history_reindex(h, dir, false, count, err);
	history_close(h);
	return rc;
}
