#define _DEFAULT_SOURCE	/* strcasecmp */
#include "manager.h"
#include "proc.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "buf.h"
#include "child.h"
#include "client.h"
#include "event.h"
#include "io.h"
#include "json.h"
#include "observe.h"
#include "parallel.h"
#include "render.h"
#include "session.h"
#include "status.h"
#include "usage.h"
#include "workflow.h"
#include "conversation.h"
#include "worktree.h"

/*
 * One orchestrated run. The decisions (cycles, loops, verification, the
 * final status) are lib/workflow.c's; this file runs the processes, moves
 * the events and keeps the record.
 */
struct mgr {
	const struct manager_opts *o;
	struct event_ctx ev;
	struct session session;
	bool have_session;
	struct render *view;
	char *request;
	char *model;		/* the manager's model */
	char created_at[32];
	jv results;		/* worker result events, oldest first */
	jv replay;		/* resume: finished worker results from the journal, in order */
	jv ledger;		/* {AGENT: {turns, tokens..., cost_usd, calls}} */
	jv messages;		/* the summary's conversation */
	jv agents_used;
	struct agent_budget budget;
	struct workflow wf;
	bool cost_known;	/* every call of the run had a price */
	bool last_was_worker;	/* the last tool call ran (or replayed) a worker */
	bool already_done;	/* resume of a completed session without a new task */
	int turn_at;		/* resume: the resumed request's turn in the conversation, or -1 */
	bool journal_failed;	/* a journal write failed (reported once) */
	char *context;		/* a new task in a finished session: its earlier turns */
	jv tool_defs;
	/* Held for events, the journal, the live view and the stop while
	 * workers run at the same time (each streamed by a thread of its own). */
	pthread_mutex_t lock;
	jv batch;		/* a parallel turn's tool results by tool_use_id: {content, is_error} */
	int worktrees_made;	/* worktrees this session made so far (the N of bllm/SESSION/N) */
	jv kept;		/* worktrees not merged: [{worker, branch, worktree, reason}] */
};

/* event_emit, event_log and workflow_set_stop under the run's lock. */
static void emit(struct mgr *m, jv ev)
{
	pthread_mutex_lock(&m->lock);
	event_emit(&m->ev, ev);
	pthread_mutex_unlock(&m->lock);
}

static void log_line(struct mgr *m, const char *level, const char *message)
{
	pthread_mutex_lock(&m->lock);
	event_log(&m->ev, level, message);
	pthread_mutex_unlock(&m->lock);
}

static void set_stop(struct mgr *m, enum run_status status, int code, char *reason)
{
	pthread_mutex_lock(&m->lock);
	workflow_set_stop(&m->wf, status, code, reason);
	pthread_mutex_unlock(&m->lock);
}

static bool stopping(struct mgr *m)
{
	pthread_mutex_lock(&m->lock);
	bool stopped = m->wf.stopped;
	pthread_mutex_unlock(&m->lock);
	return stopped;
}

/* Every event passes here: the journal (synced at results) and the live view. */
static void tap(void *user, jv ev)
{
	struct mgr *m = user;
	const char *type = event_type(ev);
	if (m->have_session && !m->journal_failed &&
	    session_append(&m->session, ev, type && strcmp(type, "result") == 0) < 0) {
		/* Going on unrecorded would let --resume rerun what already ran. */
		m->journal_failed = true;
		char *why = xasprintf("cannot write the session journal %s: %s",
				      m->session.journal_path, strerror(errno));
		workflow_set_stop(&m->wf, ST_ERROR, EXIT_FAILED, xstrdup(why));
		if (m->o->notice)
			m->o->notice(why);
		event_log(&m->ev, "error", why);
		free(why);
	}
	if (m->view)
		render_event(m->view, ev);
	observe_event(NULL, ev);
}

/* The manager's own text as it streams, for the live view only (not the record). */
static void view_delta(void *user, jv ev)
{
	render_event(user, ev);
}

/* A worker's line: forwarded unchanged when it is an event. */
static void publish_line(struct mgr *m, const char *line, size_t len, jv *result)
{
	jv ev = io_looks_like_json(line, len) ? jv_parse_sized(line, (int)len) : jv_invalid();
	if (!jv_is_valid(ev) || !event_type(ev)) {
		jv_free(ev);
		struct buf b = BUF_INIT;
		buf_printf(&b, "a worker wrote a line that is not an event: %.200s", line);
		event_log(&m->ev, "warning", b.data);
		buf_free(&b);
		return;
	}
	const char *type = event_type(ev);
	/* Deltas asked for only by the live view stay out of the record. */
	if (strcmp(type, "text_delta") == 0 && !m->o->stream_deltas) {
		if (m->view)
			render_event(m->view, ev);
		jv_free(ev);
		return;
	}
	if (!m->ev.closed && m->o->out_fd >= 0) {
		struct buf b = BUF_INIT;
		buf_append(&b, line, len);
		buf_appendc(&b, '\n');
		if (io_write_all(m->o->out_fd, b.data, b.len) < 0)
			m->ev.closed = true;
		buf_free(&b);
	}
	tap(m, ev);
	const char *parent = json_str(ev, "parent_id");
	if (strcmp(type, "result") == 0 && parent && strcmp(parent, m->ev.run_id) == 0) {
		jv_free(*result);
		*result = jv_copy(ev);
	}
	jv_free(ev);
}

struct line_ctx {
	struct mgr *m;
	jv result;
};

static void on_worker_line(const char *line, size_t len, void *user)
{
	struct line_ctx *lc = user;
	pthread_mutex_lock(&lc->m->lock);
	publish_line(lc->m, line, len, &lc->result);
	pthread_mutex_unlock(&lc->m->lock);
}

/*
 * Adds a call's usage (borrowed), cost and turns to an agent's ledger line.
 * An unknown cost (the model has no price) makes the agent's cost null for good.
 */
static void ledger_add(struct mgr *m, const char *agent, jv usage, double cost, bool known,
		       int turns)
{
	jv entry = jv_object_get(jv_copy(m->ledger), jv_string(agent));
	bool fresh = jv_get_kind(entry) != JV_KIND_OBJECT;
	if (fresh) {
		jv_free(entry);
		entry = jv_object();
	}
	jv was = json_get(entry, "cost_usd");
	bool still_known = known && (fresh || jv_get_kind(was) == JV_KIND_NUMBER);
	jv_free(was);
	entry = usage_json_add(entry, usage);
	entry = jv_object_set(entry, jv_string("turns"), jv_number(json_num(entry, "turns", 0) + turns));
	entry = jv_object_set(entry, jv_string("cost_usd"),
			      still_known ? jv_number(json_num(entry, "cost_usd", 0) + cost) : jv_null());
	entry = jv_object_set(entry, jv_string("calls"), jv_number(json_num(entry, "calls", 0) + 1));
	m->ledger = jv_object_set(m->ledger, jv_string(agent), entry);
}

static void note_agent_used(struct mgr *m, const char *name)
{
	jv n = jv_string(name);
	bool seen = false;
	jv_array_foreach(m->agents_used, i, a) {
		seen = seen || jv_equal(jv_copy(a), jv_copy(n));
		jv_free(a);
	}
	if (!seen)
		m->agents_used = jv_array_append(m->agents_used, jv_copy(n));
	jv_free(n);
}

static void append_line(struct buf *b, jv ev)
{
	jv s = jv_dump_string(ev, 0);
	buf_printf(b, "%s\n", jv_string_value(s));
	jv_free(s);
}

/*
 * A worker's whole input, as event lines for its stdin (never argv, so a
 * task of any size fits): the user's request, the manager's task for this
 * worker, and the earlier results as context.
 */
static char *worker_input(struct mgr *m, const char *task)
{
	struct buf b = BUF_INIT;
	jv t = event_new(&m->ev, "task");
	t = jv_object_set(t, jv_string("text"), jv_string(m->request));
	t = jv_object_set(t, jv_string("from"), jv_string("user"));
	append_line(&b, t);
	jv_array_foreach(m->results, i, r) {
		/* A context event's "agent" is the worker whose result it carries. */
		jv c = event_new(&m->ev, "context");
		c = jv_object_set(c, jv_string("agent"), json_get(r, "agent"));
		c = jv_object_set(c, jv_string("status"), json_get(r, "status"));
		c = jv_object_set(c, jv_string("text"), json_get(r, "text"));
		c = jv_object_set(c, jv_string("verification"), json_get(r, "verification"));
		append_line(&b, c);
		jv_free(r);
	}
	jv mt = event_new(&m->ev, "task");
	mt = jv_object_set(mt, jv_string("text"), jv_string(task));
	mt = jv_object_set(mt, jv_string("from"), jv_string("manager"));
	append_line(&b, mt);
	return buf_detach(&b);
}

/* A result event for a worker that ended without writing one. */
static jv synthetic_result(struct mgr *m, const char *name, enum run_status status, int code,
			   const char *error)
{
	jv r = event_new(&m->ev, "result");
	r = jv_object_set(r, jv_string("agent"), jv_string(name));
	r = jv_object_set(r, jv_string("status"), jv_string(status_name(status)));
	r = jv_object_set(r, jv_string("is_error"), jv_true());
	r = jv_object_set(r, jv_string("exit_code"), jv_number(code));
	r = jv_object_set(r, jv_string("text"), jv_string(error));
	r = jv_object_set(r, jv_string("error"), jv_string(error));
	return r;
}

static void add_flag(char **argv, int *n, const char *flag, char *value)
{
	argv[(*n)++] = xstrdup(flag);
	argv[(*n)++] = value;
}

/*
 * One worker call, prepared by the main thread (which alone reads the
 * config and the run's results: jv reference counts are not atomic), so
 * spawn_call can run in a thread of its own.
 */
struct worker_call {
	struct mgr *m;
	const char *name, *task, *tool_use_id;	/* borrowed from the turn's content */
	const char *workdir;			/* the workspace, or the call's worktree */
	struct agent_budget cap;		/* the limits the worker is given (0: none) */
	struct wf_call_plan plan;		/* its reservation in the tree's budget */
	double timeout;
	char *input;				/* its stdin (malloc'd) */
	bool parallel;				/* others run at the same time */
	char *branch, *worktree;		/* a writer's own, or NULL */
	jv result;
	pthread_t thread;
};

/* The worker's command line (malloc'd, NULL-terminated): its task comes on stdin. */
static char **worker_argv(const struct worker_call *wc)
{
	struct mgr *m = wc->m;
	const struct manager_opts *o = m->o;
	const char *name = wc->name;
	char **argv = xcalloc(40, sizeof *argv);
	int n = 0;
	argv[n++] = xstrdup(o->worker_program);
	argv[n++] = xstrdup(name);
	add_flag(argv, &n, "--config", xstrdup(o->config_path));
	add_flag(argv, &n, "--workdir", xstrdup(wc->workdir));
	add_flag(argv, &n, "--parent-id", xstrdup(m->ev.run_id));
	add_flag(argv, &n, "--session-id", xstrdup(m->ev.session_id));
	argv[n++] = xstrdup("--no-forward");
	if (o->model)
		add_flag(argv, &n, "--model", xstrdup(o->model));
	if (o->no_cache)
		argv[n++] = xstrdup("--no-cache");
	if (o->sandbox)
		add_flag(argv, &n, "--sandbox", xstrdup(o->sandbox));
	if (o->stream_deltas || o->live_view)
		argv[n++] = xstrdup("--stream-deltas");
	const struct agent_budget *b = &wc->cap;
	if (b->max_turns > 0)
		add_flag(argv, &n, "--max-turns", xasprintf("%d", b->max_turns));
	if (b->max_tokens > 0)
		add_flag(argv, &n, "--max-tokens", xasprintf("%ld", b->max_tokens));
	if (b->max_cost_usd > 0)
		add_flag(argv, &n, "--max-cost-usd", xasprintf("%.9g", b->max_cost_usd));
	argv[n++] = xstrdup("-");
	argv[n] = NULL;
	return argv;
}

static void free_argv(char **argv)
{
	for (int i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

/*
 * worker_end for a worker's result (borrowed); the task and the manager's
 * tool call are journaled for resume.
 */
static void emit_worker_end(const struct worker_call *wc, jv result, double ms, const char *error)
{
	struct mgr *m = wc->m;
	const char *status = json_str(result, "status");
	jv end = event_new(&m->ev, "worker_end");
	end = jv_object_set(end, jv_string("worker"), jv_string(wc->name));
	end = jv_object_set(end, jv_string("worker_run_id"), json_get(result, "run_id"));
	end = jv_object_set(end, jv_string("tool_use_id"),
			    wc->tool_use_id ? jv_string(wc->tool_use_id) : jv_null());
	end = jv_object_set(end, jv_string("status"), jv_string(status ? status : status_name(ST_ERROR)));
	end = jv_object_set(end, jv_string("exit_code"), jv_number(json_num(result, "exit_code", 1)));
	end = jv_object_set(end, jv_string("duration_ms"), jv_number(ms));
	end = jv_object_set(end, jv_string("task"), jv_string(wc->task));
	if (error)
		end = jv_object_set(end, jv_string("error"), jv_string(error));
	emit(m, end);
}

static char *timeout_reason(const char *name, double timeout)
{
	char upper[64];
	size_t k = 0;
	for (; name[k] && k < sizeof upper - 1; k++)
		upper[k] = (char)toupper((unsigned char)name[k]);
	upper[k] = '\0';
	return xasprintf("the %s timed out after %.0f s (set WORKER_TIMEOUT_%s to allow more)", name,
			 timeout, upper);
}

/*
 * Waits for a started worker; returns its result (a new reference, made up
 * when it ended without one). A timeout or an interrupt also stops the run.
 * Safe in a thread: what it shares goes through the run's lock.
 */
static jv await_worker(struct mgr *m, const char *name, struct child *c, double deadline,
		       double timeout)
{
	const struct manager_opts *o = m->o;
	struct line_ctx lc = { .m = m, .result = jv_null() };
	enum child_wait w = child_stream(c, deadline, o->signals, on_worker_line, &lc);
	if (w == CHILD_TIMEOUT) {
		child_stop(c, 5.0, o->signals, on_worker_line, &lc);
		char *why = timeout_reason(name, timeout);
		jv_free(lc.result);
		lc.result = synthetic_result(m, name, ST_TIMEOUT, EXIT_TIMEOUT, why);
		set_stop(m, ST_TIMEOUT, EXIT_TIMEOUT, why);
	} else if (w == CHILD_INTERRUPTED) {
		child_stop(c, 5.0, o->signals, on_worker_line, &lc);
		/* The worker may have written its interrupted result while stopping. */
		if (jv_get_kind(lc.result) != JV_KIND_OBJECT) {
			jv_free(lc.result);
			lc.result = synthetic_result(m, name, ST_INTERRUPTED, EXIT_INTERRUPTED, "interrupted");
		}
		set_stop(m, ST_INTERRUPTED, EXIT_INTERRUPTED, xstrdup("interrupted"));
	} else if (jv_get_kind(lc.result) != JV_KIND_OBJECT) {
		char *why = xasprintf("the %s exited with code %d without a result%s%.300s", name,
				      c->exit_code, c->err_tail.len ? ": " : "", buf_str(&c->err_tail));
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ' ';
		log_line(m, "error", why);
		jv_free(lc.result);
		lc.result = synthetic_result(m, name, ST_ERROR, c->exit_code, why);
		free(why);
	}
	return lc.result;
}

/*
 * Forks the worker, hands it its input, streams its events through, and
 * returns its result event (a new reference). Safe in a thread.
 */
static jv spawn_call(struct worker_call *wc)
{
	struct mgr *m = wc->m;
	char **argv = worker_argv(wc);
	struct child c;
	char *err = NULL;
	double t0 = child_now();
	jv result;
	pid_t before[64];	/* children started on purpose (a dashboard): spared below */
	int n_before = wc->parallel ? 0 : proc_children(before, 64);
	if (child_spawn(&c, argv, NULL, &err) < 0) {
		log_line(m, "error", err);
		result = synthetic_result(m, wc->name, ST_ERROR, 127, err);
		emit_worker_end(wc, result, 0, err);
		free(err);
		free_argv(argv);
		return result;
	}
	free_argv(argv);
	if (!wc->parallel)
		child_job_control(c.pid);	/* Ctrl-Z: one foreground worker only */
	jv start = event_new(&m->ev, "worker_start");
	start = jv_object_set(start, jv_string("worker"), jv_string(wc->name));
	start = jv_object_set(start, jv_string("tool_use_id"),
			      wc->tool_use_id ? jv_string(wc->tool_use_id) : jv_null());
	start = jv_object_set(start, jv_string("timeout_s"), jv_number(wc->timeout));
	start = jv_object_set(start, jv_string("pid"), jv_number(c.pid));
	emit(m, start);

	child_write(&c, wc->input, strlen(wc->input));
	child_close_stdin(&c);
	result = await_worker(m, wc->name, &c, t0 + wc->timeout, wc->timeout);
	if (!wc->parallel) {
		child_job_control(0);
		/* Whatever the worker left (it may have been killed with -9 mid-command)
		 * was handed to us as subreaper: every child that was not there before
		 * the worker started is such an orphan. A parallel turn does this once
		 * all its workers ended (run_batch): the others are children too. */
		proc_kill_orphans_except(before, n_before);
	}
	emit_worker_end(wc, result, (child_now() - t0) * 1000.0, NULL);
	child_free(&c);
	return result;
}

/* A call made alone: in the workspace, on what the tree's budget has left. */
static jv spawn_worker(struct mgr *m, const char *name, const char *task, const char *tool_use_id)
{
	struct worker_call wc = { .m = m, .name = name, .task = task, .tool_use_id = tool_use_id,
				  .workdir = m->o->root,
				  .timeout = config_worker_timeout(m->o->cfg, name, 600),
				  .input = worker_input(m, task) };
	char *why = NULL;
	jv r;
	if (parallel_worker_cap(&m->budget, 1, &wc.cap, &why)) {
		r = spawn_call(&wc);
	} else {
		r = synthetic_result(m, name, ST_LIMIT, EXIT_LIMIT, why);
		workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT, why);
	}
	free(wc.input);
	return r;
}

/* A limit check before calling a worker: true when a person allows one more. */
static bool ask_more(struct mgr *m, const char *label, int max)
{
	if (!m->o->ask)
		return false;
	render_flush(m->view);
	char prompt[160], answer[16];
	snprintf(prompt, sizeof prompt, "\n%s cycle limit reached (%d). Allow one more? [y/N] ", label,
		 max);
	return m->o->ask(prompt, 60, answer, sizeof answer) && (answer[0] == 'y' || answer[0] == 'Y');
}

/* The cycle a call of name starts, announced; false when its limit refuses it. */
static bool check_cycle(struct mgr *m, const char *name)
{
	struct wf_cycle c = workflow_cycle(&m->wf, name);
	if (c.kind == WF_CYCLE_NONE)
		return true;
	if (c.refused) {
		if (!ask_more(m, c.label, c.max)) {
			workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT, workflow_cycle_refusal(&c));
			return false;
		}
		workflow_allow_one_more(&m->wf, &c);
		c = workflow_cycle(&m->wf, name);
	}
	workflow_cycle_start(&m->wf, &c);
	jv ev = event_new(&m->ev, "cycle");
	ev = jv_object_set(ev, jv_string("kind"), jv_string(c.name));
	ev = jv_object_set(ev, jv_string("label"), jv_string(c.label));
	ev = jv_object_set(ev, jv_string("n"), jv_number(c.n));
	ev = jv_object_set(ev, jv_string("max"), jv_number(c.max));
	event_emit(&m->ev, ev);
	return true;
}

/* Takes a finished worker's result (borrowed) into the run's state. */
static void record_result(struct mgr *m, const char *name, const char *task, jv result)
{
	m->last_was_worker = true;
	char *loop = workflow_record(&m->wf, name, task, result);
	if (loop)
		workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT, loop);
	m->results = jv_array_append(m->results, jv_copy(result));
	note_agent_used(m, name);
	jv usage = json_get(result, "usage");
	jv cost = json_get(result, "total_cost_usd");
	m->cost_known = m->cost_known && jv_get_kind(cost) == JV_KIND_NUMBER;
	double dollars = jv_get_kind(cost) == JV_KIND_NUMBER ? jv_number_value(cost) : 0;
	int turns = (int)json_num(result, "num_turns", 0);
	ledger_add(m, name, usage, dollars, jv_get_kind(cost) == JV_KIND_NUMBER, turns);
	m->budget.turns += turns;
	m->budget.tokens += usage_json_tokens(usage);
	m->budget.cost_usd += dollars;
	jv_free(usage);
	jv_free(cost);
	const char *status = json_str(result, "status");
	jv msg = jv_object();
	msg = jv_object_set(msg, jv_string("role"), jv_string("assistant"));
	msg = jv_object_set(msg, jv_string("agent"), jv_string(name));
	msg = jv_object_set(msg, jv_string("status"), jv_string(status ? status : status_name(ST_ERROR)));
	msg = jv_object_set(msg, jv_string("content"), json_get(result, "text"));
	m->messages = jv_array_append(m->messages, msg);
	if (status && strcmp(status, status_name(ST_LIMIT)) == 0)
		workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT,
				  xasprintf("the %s stopped: %s", name,
					    json_str(result, "error") ? json_str(result, "error")
								     : "limit reached"));
}

/* Resume: the next journaled result, if it stands for this call (else replay ends). */
static jv take_replay(struct mgr *m, const char *name, const char *task)
{
	if (jv_array_length(jv_copy(m->replay)) == 0)
		return jv_invalid();
	jv head = jv_array_get(jv_copy(m->replay), 0);
	if (!wf_replay_matches(head, name, task)) {
		/* The manager took another path: run everything from here. */
		jv_free(head);
		jv_free(m->replay);
		m->replay = jv_array();
		return jv_invalid();
	}
	int n = jv_array_length(jv_copy(m->replay));
	m->replay = jv_array_slice(m->replay, 1, n);
	return head;
}

static char *tool_text(const char *name, jv result)
{
	struct buf b = BUF_INIT;
	const char *status = json_str(result, "status");
	buf_printf(&b, "%s finished: status %s (exit %d)\n", name, status ? status : status_name(ST_ERROR),
		   (int)json_num(result, "exit_code", 1));
	jv ver = json_get(result, "verification");
	if (jv_get_kind(ver) == JV_KIND_OBJECT) {
		jv vs = jv_dump_string(jv_copy(ver), 0);
		buf_printf(&b, "verification: %s\n", jv_string_value(vs));
		jv_free(vs);
	}
	jv_free(ver);
	jv files = json_get(result, "files_changed");
	if (jv_get_kind(files) == JV_KIND_ARRAY && jv_array_length(jv_copy(files)) > 0) {
		jv fs = jv_dump_string(jv_copy(files), 0);
		buf_printf(&b, "files changed: %s\n", jv_string_value(fs));
		jv_free(fs);
	}
	jv_free(files);
	const char *text = json_str(result, "text");
	buf_printf(&b, "\n%s", text ? text : "");
	return buf_detach(&b);
}

/* The worker's result for a call the workflow allowed: replayed, refused by the budget, or run. */
static jv run_worker_call(struct mgr *m, const char *name, const char *task, const char *tool_use_id)
{
	jv result = take_replay(m, name, task);
	if (jv_is_valid(result)) {
		char *msg = xasprintf("resume: the %s had finished; using its saved result", name);
		event_log(&m->ev, "info", msg);
		free(msg);
		return result;
	}
	char *why = NULL;
	if (wf_budget_spent(&m->budget, &why)) {
		result = synthetic_result(m, name, ST_LIMIT, EXIT_LIMIT, why);
		workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT, why);
		return result;
	}
	return spawn_worker(m, name, task, tool_use_id);
}

/* A call run with the others of its turn (run_batch): true, with its result handed over. */
static bool take_batch_result(struct mgr *m, jv block, struct tool_result *tr)
{
	const char *id = json_str(block, "id");
	jv done = id ? json_get(m->batch, id) : jv_null();
	if (jv_get_kind(done) != JV_KIND_OBJECT) {
		jv_free(done);
		return false;
	}
	tr->content = json_get(done, "content");
	jv e = json_get(done, "is_error");
	tr->is_error = jv_get_kind(e) == JV_KIND_TRUE;
	jv_free(e);
	jv_free(done);
	m->batch = jv_object_delete(m->batch, jv_string(id));
	m->last_was_worker = true;
	return true;
}

/* The manager's tool: runs the worker the model named. */
static void call_worker(void *user, jv block, struct tool_result *tr)
{
	struct mgr *m = user;
	memset(tr, 0, sizeof *tr);
	tr->exit_code = -1;
	tr->files_changed = jv_array();
	m->last_was_worker = false;
	if (take_batch_result(m, block, tr))
		return;
	const char *name = json_str(block, "name");
	jv input = jv_object_get(jv_copy(block), jv_string("input"));
	const char *task = jv_get_kind(input) == JV_KIND_OBJECT ? json_str(input, "task") : NULL;
	tr->is_error = true;
	if (!name || !config_agent(m->o->cfg, name) || strcmp(name, "manager") == 0) {
		tr->content = jv_string_fmt("unknown worker \"%s\"", name ? name : "");
	} else if (!task || !*task) {
		tr->content = jv_string_fmt("%s: \"task\" must be a non-empty string", name);
	} else if (m->wf.stopped) {
		tr->content = jv_string("not run: the run is stopping");
	} else if (!check_cycle(m, name)) {
		tr->content = jv_string_fmt("refused: %s", m->wf.stop.reason);
	} else {
		jv result = run_worker_call(m, name, task, json_str(block, "id"));
		record_result(m, name, task, result);
		char *text = tool_text(name, result);
		tr->content = jv_string(text);
		free(text);
		const char *status = json_str(result, "status");
		tr->is_error = !status || strcmp(status, status_name(ST_COMPLETED)) != 0;
		/* The manager's files_changed is the union of its workers' (agent.c adds them up). */
		jv files = json_get(result, "files_changed");
		if (jv_get_kind(files) == JV_KIND_ARRAY) {
			jv_free(tr->files_changed);
			tr->files_changed = files;
		} else {
			jv_free(files);
		}
		jv_free(result);
	}
	jv_free(input);
}

/* A thread of a parallel turn: one worker. */
static void *call_thread(void *arg)
{
	struct worker_call *wc = arg;
	wc->result = spawn_call(wc);
	return NULL;
}

/* One call of a parallel turn and what became of it. */
struct turn_call {
	struct worker_call wc;
	bool writes;		/* the agent may change files */
	bool live;		/* to be run: not refused, not replayed */
	bool reserved;		/* wc.plan is held in the tree's budget */
	jv result;		/* the worker's result (owned), or jv_invalid() */
	char *refusal;		/* the tool result when it was not run (malloc'd) */
	char *note;		/* what the merge gate did, or NULL (malloc'd) */
	bool unmerged;		/* its changes stayed on its branch */
};

#define MAX_TURN_CALLS 16

struct turn {
	struct turn_call calls[MAX_TURN_CALLS];
	int n, writers, live;
	enum parallel_mode mode;
	char *base;		/* the snapshot the worktrees start from, then the merges */
	char *common;		/* the repository's git directory, or NULL */
};

/* The turn's worker calls (content borrowed; the calls borrow its strings). */
static void collect_calls(struct mgr *m, jv content, struct turn *t)
{
	jv_array_foreach(content, i, block) {
		/* The strings stay valid after block and input are freed: content holds them. */
		const char *type = json_str(block, "type"), *name = json_str(block, "name");
		jv input = json_get(block, "input");
		const char *task = json_str(input, "task");
		const struct agent_def *def = name ? config_agent(m->o->cfg, name) : NULL;
		if (type && strcmp(type, "tool_use") == 0 && def && strcmp(name, "manager") != 0 && task &&
		    *task && json_str(block, "id") && t->n < MAX_TURN_CALLS) {
			struct turn_call *tc = &t->calls[t->n++];
			tc->wc = (struct worker_call){ .m = m, .name = name, .task = task,
						       .tool_use_id = json_str(block, "id"),
						       .workdir = m->o->root, .parallel = true,
						       .result = jv_invalid() };
			tc->writes = parallel_agent_writes(def->tools);
			tc->result = jv_invalid();
			t->writers += tc->writes;
		}
		jv_free(input);
		jv_free(block);
	}
}

/* How the turn runs; false (said in a log event when it matters) to leave it to call_worker. */
static bool decide_turn(struct mgr *m, struct turn *t)
{
	const char *why = NULL, *git_why = NULL;
	bool git_ok = t->n > 1 && t->writers > 0 && worktree_usable(m->o->root, &git_why);
	t->mode = parallel_decide(t->n, t->writers, git_ok, m->o->max_parallel, &why);
	char *err = NULL;
	if (t->mode == PARALLEL_WORKTREES && worktree_snapshot(m->o->root, &t->base, &err) < 0) {
		char *msg = xasprintf("%s: the workers run one after another", err);
		log_line(m, "warning", msg);
		free(msg);
		free(err);
		return false;
	}
	if (t->mode == PARALLEL_NONE || t->mode == PARALLEL_SEQUENTIAL) {
		if (why) {
			char *msg = git_why ? xasprintf("%s (%s)", why, git_why) : xstrdup(why);
			log_line(m, "info", msg);
			free(msg);
		}
		return false;
	}
	return true;
}

/*
 * The workflow sees the calls in the order asked, as if made one after
 * another: each call's cycle is checked (and counted) before any runs, a
 * finished one of a resumed session is replayed, and each live call
 * reserves its cap in the tree's budget, earlier calls first.
 */
static void admit_calls(struct mgr *m, struct turn *t)
{
	int left = 0;
	for (int i = 0; i < t->n; i++) {
		struct turn_call *tc = &t->calls[i];
		if (m->wf.stopped) {
			tc->refusal = xstrdup("not run: the run is stopping");
		} else if (!check_cycle(m, tc->wc.name)) {
			tc->refusal = xasprintf("refused: %s", m->wf.stop.reason);
		} else {
			workflow_call_admitted(&m->wf, tc->wc.name);
			tc->result = take_replay(m, tc->wc.name, tc->wc.task);
			if (jv_is_valid(tc->result)) {
				char *msg = xasprintf("resume: the %s had finished; using its saved result",
						      tc->wc.name);
				event_log(&m->ev, "info", msg);
				free(msg);
			} else {
				tc->live = true;
				left++;
			}
		}
	}
	for (int i = 0; i < t->n; i++) {
		struct turn_call *tc = &t->calls[i];
		if (!tc->live)
			continue;
		char *why = NULL;
		if (parallel_worker_cap(&m->budget, left--, &tc->wc.cap, &why)) {
			tc->wc.plan = parallel_reservation(&tc->wc.cap);
			wf_budget_reserve(&m->budget, &tc->wc.plan);
			tc->reserved = true;
			t->live++;
		} else {
			tc->live = false;
			tc->result = synthetic_result(m, tc->wc.name, ST_LIMIT, EXIT_LIMIT, why);
			workflow_set_stop(&m->wf, ST_LIMIT, EXIT_LIMIT, why);
		}
	}
}

/* Each live call's input and timeout, and a worktree for each writer. */
static void prepare_calls(struct mgr *m, struct turn *t)
{
	const struct manager_opts *o = m->o;
	struct buf names = BUF_INIT;
	for (int i = 0; i < t->n; i++) {
		struct turn_call *tc = &t->calls[i];
		struct worker_call *wc = &tc->wc;
		if (!tc->live)
			continue;
		wc->timeout = config_worker_timeout(o->cfg, wc->name, 600);
		wc->input = worker_input(m, wc->task);
		buf_printf(&names, "%s%s", names.len ? ", " : "", wc->name);
		if (!tc->writes || t->mode != PARALLEL_WORKTREES || !t->common)
			continue;
		int k = ++m->worktrees_made;
		char *err = NULL;
		wc->branch = parallel_branch(m->session.id, k);
		wc->worktree = xasprintf("%s/bllm/%s/%d", t->common, m->session.id, k);
		if (worktree_add(o->root, t->base, wc->branch, wc->worktree, &err) < 0) {
			event_log(&m->ev, "error", err);
			tc->live = false;
			t->live--;
			tc->result = synthetic_result(m, wc->name, ST_ERROR, EXIT_FAILED, err);
			free(err);
			free(wc->worktree);
			wc->worktree = NULL;
		} else {
			wc->workdir = wc->worktree;
			buf_printf(&names, " (in %s)", wc->branch);
		}
	}
	if (t->live) {
		char *msg = xasprintf("running %d workers at once: %s", t->live, buf_str(&names));
		event_log(&m->ev, "info", msg);
		free(msg);
	}
	buf_free(&names);
}

/* Runs the live calls, at most max_parallel at a time, in the order asked. */
static void run_live(struct mgr *m, struct turn *t)
{
	int step = m->o->max_parallel > 0 ? m->o->max_parallel : 1;
	/* A later call's refusal stops the run after the earlier ones, as one after another. */
	bool stopped_before = stopping(m);
	int idx[MAX_TURN_CALLS], nlive = 0;
	for (int i = 0; i < t->n; i++)
		if (t->calls[i].live)
			idx[nlive++] = i;
	for (int w = 0; w < nlive; w += step) {
		int end = w + step < nlive ? w + step : nlive;
		bool threaded[MAX_TURN_CALLS] = { false };
		for (int j = w; j < end; j++) {
			struct worker_call *wc = &t->calls[idx[j]].wc;
			if ((m->o->signals && *m->o->signals) || (!stopped_before && stopping(m))) {
				wc->result = synthetic_result(m, wc->name, ST_INTERRUPTED, EXIT_INTERRUPTED,
							      "not run: the run is stopping");
				continue;
			}
			threaded[j] = pthread_create(&wc->thread, NULL, call_thread, wc) == 0;
			if (!threaded[j])
				wc->result = spawn_call(wc);
		}
		for (int j = w; j < end; j++)
			if (threaded[j])
				pthread_join(t->calls[idx[j]].wc.thread, NULL);
	}
	for (int j = 0; j < nlive; j++)
		t->calls[idx[j]].result = t->calls[idx[j]].wc.result;
}

/* One writer through the merge gate: committed on its branch, merged when it finished. */
static void merge_one(struct mgr *m, struct turn *t, struct turn_call *tc)
{
	struct worker_call *wc = &tc->wc;
	const char *status = json_str(tc->result, "status");
	bool finished = status && (strcmp(status, status_name(ST_COMPLETED)) == 0 ||
				   strcmp(status, status_name(ST_FAILED)) == 0);
	char *err = NULL, *msg = xasprintf("bllm: the %s's work: %.200s", wc->name, wc->task);
	bool merged = false;
	jv conflicts = jv_array();
	if (worktree_commit(wc->worktree, msg, &err) < 0) {
		tc->note = xasprintf("merge gate: %s; the work is on branch %s (worktree %s)", err,
				     wc->branch, wc->worktree);
	} else if (!finished) {
		tc->note = xasprintf("merge gate: the %s did not finish (%s), so its changes were not "
				     "merged; they are on branch %s (worktree %s).", wc->name,
				     status ? status : status_name(ST_ERROR), wc->branch, wc->worktree);
	} else {
		jv_free(conflicts);
		if (worktree_merge(m->o->root, &t->base, wc->branch, &merged, &conflicts, &err) < 0)
			tc->note = xasprintf("merge gate: %s; the work is on branch %s (worktree %s)", err,
					     wc->branch, wc->worktree);
		else
			tc->note = parallel_merge_note(wc->name, merged, conflicts, wc->branch, wc->worktree);
	}
	free(err);
	err = NULL;
	if (merged && worktree_remove(m->o->root, wc->worktree, wc->branch, &err) < 0) {
		event_log(&m->ev, "warning", err);
		free(err);
	}
	tc->unmerged = !merged;
	event_log(&m->ev, merged ? "info" : "warning", tc->note);
	if (!merged) {
		jv k = jv_object_set(jv_object(), jv_string("worker"), jv_string(wc->name));
		k = jv_object_set(k, jv_string("branch"), jv_string(wc->branch));
		k = jv_object_set(k, jv_string("worktree"), jv_string(wc->worktree));
		k = jv_object_set(k, jv_string("reason"), jv_string(tc->note));
		m->kept = jv_array_append(m->kept, k);
	}
	jv_free(conflicts);
	free(msg);
}

/*
 * The turn's results in the order asked: reservations released, each
 * result recorded (the workflow's cycles and loop detection see them in
 * that order), and the tool results kept for call_worker to hand back.
 */
static void deliver_results(struct mgr *m, struct turn *t)
{
	for (int i = 0; i < t->n; i++) {
		struct turn_call *tc = &t->calls[i];
		if (tc->reserved)
			wf_budget_release(&m->budget, &tc->wc.plan);
		jv entry = jv_object();
		if (tc->refusal) {
			entry = jv_object_set(entry, jv_string("content"), jv_string(tc->refusal));
			entry = jv_object_set(entry, jv_string("is_error"), jv_true());
		} else {
			record_result(m, tc->wc.name, tc->wc.task, tc->result);
			char *text = tool_text(tc->wc.name, tc->result);
			const char *status = json_str(tc->result, "status");
			entry = jv_object_set(entry, jv_string("content"),
					      tc->note ? jv_string_fmt("%s\n\n%s", tc->note, text) : jv_string(text));
			entry = jv_object_set(entry, jv_string("is_error"),
					      jv_bool(!status || strcmp(status, status_name(ST_COMPLETED)) != 0 ||
						      tc->unmerged));
			free(text);
		}
		m->batch = jv_object_set(m->batch, jv_string(tc->wc.tool_use_id), entry);
	}
}

static void free_turn(struct mgr *m, struct turn *t)
{
	for (int i = 0; i < t->n; i++) {
		struct turn_call *tc = &t->calls[i];
		jv_free(tc->result);
		free(tc->refusal);
		free(tc->note);
		free(tc->wc.input);
		free(tc->wc.branch);
		free(tc->wc.worktree);
	}
	if (t->common) {
		/* Empty once every worktree of the session was merged and removed. */
		char *dir = xasprintf("%s/bllm/%s", t->common, m->session.id);
		rmdir(dir);
		free(dir);
		dir = xasprintf("%s/bllm", t->common);
		rmdir(dir);
		free(dir);
	}
	free(t->common);
	free(t->base);
}

/*
 * The manager's batch hook (agent_opts.custom_batch): when the model asks
 * for several workers in one turn, runs them at the same time, each
 * writer in a worktree of its own, then the merge gate, then records the
 * results in the order asked for call_worker to hand back. Leaves a turn
 * that cannot run in parallel (one call, max_parallel_workers 1, writers
 * without git) to call_worker, one call after another.
 */
static void run_batch(void *user, jv content)
{
	struct mgr *m = user;
	struct turn *t = xcalloc(1, sizeof *t);
	collect_calls(m, content, t);
	if (decide_turn(m, t)) {
		admit_calls(m, t);
		t->common = worktree_common_dir(m->o->root);
		prepare_calls(m, t);
		pid_t before[64];	/* children started on purpose (a dashboard): spared */
		int n_before = proc_children(before, 64);
		run_live(m, t);
		/* What the turn's workers left behind (see spawn_call), once all ended. */
		proc_kill_orphans_except(before, n_before);
		for (int i = 0; i < t->n && t->base; i++)
			if (t->calls[i].wc.worktree && jv_is_valid(t->calls[i].result))
				merge_one(m, t, &t->calls[i]);
		deliver_results(m, t);
	}
	free_turn(m, t);
	free(t);
}

/* After each worker: a person's chance to step in (in a terminal). */
static void offer_intervention(struct mgr *m, char **note)
{
	render_flush(m->view);
	char prompt[128], line[4096];
	snprintf(prompt, sizeof prompt,
		 "[Enter] continue · /pause add a note · /stop stop  (continuing in %.0fs) ",
		 m->o->intervention_wait_s);
	if (!m->o->ask(prompt, m->o->intervention_wait_s, line, sizeof line))
		return;
	const char *action = "continue";
	if (strcmp(line, "/stop") == 0) {
		action = "stop";
		workflow_set_stop(&m->wf, ST_INTERRUPTED, EXIT_INTERRUPTED, xstrdup("stopped by the user"));
	} else if (strncmp(line, "/pause", 6) == 0) {
		action = "pause";
		if (m->o->ask("note for the manager: ", 600, line, sizeof line) && *line)
			*note = xasprintf("Note from the user: %s", line);
	}
	jv ev = event_new(&m->ev, "intervention");
	ev = jv_object_set(ev, jv_string("action"), jv_string(action));
	ev = jv_object_set(ev, jv_string("message"), jv_string(*note ? *note : ""));
	event_emit(&m->ev, ev);
}

/* After each turn's tools: the run's stops, then a person's chance to step in. */
static bool after_tool(void *user, char **note, struct agent_stop *stop)
{
	struct mgr *m = user;
	if (!m->wf.stopped && m->o->ask && m->last_was_worker)
		offer_intervention(m, note);
	m->last_was_worker = false;
	if (!m->wf.stopped)
		return false;
	stop->status = status_name(m->wf.stop.status);
	stop->exit_code = m->wf.stop.exit_code;
	stop->reason = xstrdup(m->wf.stop.reason);
	return true;
}

static jv worker_tools(const struct config *cfg)
{
	jv tools = jv_array();
	for (int i = 0; i < cfg->n_agents; i++) {
		const struct agent_def *a = &cfg->agents[i];
		if (strcmp(a->name, "manager") == 0)
			continue;
		jv schema = jv_parse("{\"type\":\"object\",\"properties\":{\"task\":{\"type\":\"string\","
				     "\"description\":\"What this worker must do, self-contained: the "
				     "goal, the relevant earlier results, and what done looks like\"}},"
				     "\"required\":[\"task\"]}");
		jv t = jv_object();
		t = jv_object_set(t, jv_string("name"), jv_string(a->name));
		t = jv_object_set(t, jv_string("description"),
				  jv_string_fmt("Run the %s worker agent: %s. It returns its status, "
						"its report and, for the tester, the commands it ran "
						"with their exit codes.", a->name, a->role));
		t = jv_object_set(t, jv_string("input_schema"), schema);
		tools = jv_array_append(tools, t);
	}
	return tools;
}

static bool is_type(jv ev, const char *type)
{
	const char *t = event_type(ev);
	return t && strcmp(t, type) == 0;
}

/* A journaled worker result (borrowed) worth replaying, with its task from worker_end. */
static bool replayable(jv ev)
{
	const char *agent = json_str(ev, "agent");
	const char *status = json_str(ev, "status");
	return is_type(ev, "result") && agent && strcmp(agent, "manager") != 0 &&
	       json_str(ev, "parent_id") && status &&
	       (strcmp(status, status_name(ST_COMPLETED)) == 0 ||
		strcmp(status, status_name(ST_FAILED)) == 0);
}

/* The task each worker run was given, from the journal's worker_end events. */
static jv tasks_by_run(jv events)
{
	jv tasks = jv_object();
	jv_array_foreach(events, i, ev) {
		const char *run = json_str(ev, "worker_run_id");
		if (is_type(ev, "worker_end") && run && json_str(ev, "task"))
			tasks = jv_object_set(tasks, jv_string(run), json_get(ev, "task"));
		jv_free(ev);
	}
	return tasks;
}

/* The session's earlier requests and results as the manager's context (NULL: none). */
static char *earlier_turns(struct mgr *m)
{
	jv summary;
	char *err = NULL;
	if (session_get(m->o->sessions_dir, m->session.id, &summary, &err) < 0) {
		free(err);	/* a journal without a summary: no earlier turn to tell */
		return NULL;
	}
	jv turns = conversation_turns(summary);
	char *context = conversation_context(turns, CONVERSATION_CONTEXT_MAX_CHARS);
	jv_free(turns);
	jv_free(summary);
	return context;
}

/*
 * Resume: the request and the finished worker results from the journal.
 * A session the manager completed is done: unless request holds a new
 * task, nothing runs again (already_done).
 */
static int load_resume(struct mgr *m, const char *request, char **err)
{
	jv events;
	if (session_read_journal(m->o->sessions_dir, m->session.id, &events, err) < 0)
		return -1;
	jv tasks = tasks_by_run(events);
	bool completed = false;
	bool resumed = false;	/* the latest top-level init was a resume's: same turn */
	jv_array_foreach(events, i, ev) {
		const char *agent = json_str(ev, "agent");
		bool manager = agent && strcmp(agent, "manager") == 0;
		if (is_type(ev, "init") && manager && !json_str(ev, "parent_id")) {
			jv r = json_get(ev, "resumed");
			resumed = jv_get_kind(r) == JV_KIND_TRUE;
			jv_free(r);
		}
		/* A conversation's journal holds several requests: resume the last. */
		if (is_type(ev, "task") && manager && !json_str(ev, "parent_id") && json_str(ev, "text") &&
		    (!resumed || !m->request)) {
			free(m->request);
			m->request = xstrdup(json_str(ev, "text"));
			jv_free(m->replay);
			m->replay = jv_array();
			m->turn_at++;
		}
		if (is_type(ev, "result") && manager)
			completed = json_str(ev, "status") && strcmp(json_str(ev, "status"), status_name(ST_COMPLETED)) == 0;
		if (replayable(ev)) {
			const char *run = json_str(ev, "run_id");
			jv task = run ? jv_object_get(jv_copy(tasks), jv_string(run)) : jv_invalid();
			jv entry = jv_copy(ev);
			if (jv_get_kind(task) == JV_KIND_STRING)
				entry = jv_object_set(entry, jv_string("task"), jv_copy(task));
			jv_free(task);
			m->replay = jv_array_append(m->replay, entry);
		}
		jv_free(ev);
	}
	m->replay = parallel_replay_order(m->replay, events);
	jv_free(events);
	jv_free(tasks);
	m->turn_at--;
	if (!m->request) {
		*err = xasprintf("session %s: its journal has no task to resume", m->session.id);
		return -1;
	}
	if (completed && request && *request) {
		/* A new task in a finished session: earlier results are context, nothing replays. */
		free(m->request);
		m->request = xstrdup(request);
		m->context = m->o->context ? NULL : earlier_turns(m);
		jv_free(m->replay);
		m->replay = jv_array();
		m->turn_at = -1;	/* a new turn */
	} else if (completed) {
		m->already_done = true;
	}
	return 0;
}

/* "@coder do x": the worker's name (malloc'd) and the task after it. */
static char *parse_mention(const char *request, const char **task)
{
	if (request[0] != '@')
		return NULL;
	size_t n = strcspn(request + 1, " \t\n");
	const char *rest = request + 1 + n;
	while (*rest == ' ' || *rest == '\t' || *rest == '\n')
		rest++;
	*task = rest;
	return xstrndup(request + 1, n);
}

/* The run's verification: the workflow's, or the @worker's own. */
static jv run_verification(struct mgr *m, bool mention)
{
	if (!mention)
		return workflow_verification(&m->wf);
	int n = jv_array_length(jv_copy(m->results));
	jv last = n > 0 ? jv_array_get(jv_copy(m->results), n - 1) : jv_null();
	jv v = json_get(last, "verification");
	jv_free(last);
	return v;
}

static jv build_summary(struct mgr *m, const struct agent_outcome *out, jv verification)
{
	char done[32];
	event_timestamp(done);
	jv s = jv_object();
	s = jv_object_set(s, jv_string("session_id"), jv_string(m->session.id));
	s = jv_object_set(s, jv_string("created_at"), jv_string(m->created_at));
	s = jv_object_set(s, jv_string("completed_at"), jv_string(done));
	s = jv_object_set(s, jv_string("user_request"), jv_string(m->request ? m->request : ""));
	s = jv_object_set(s, jv_string("total_turns"), jv_number(m->budget.turns));
	s = jv_object_set(s, jv_string("agents_used"), jv_copy(m->agents_used));
	s = jv_object_set(s, jv_string("messages"), jv_copy(m->messages));
	jv verified = json_get(verification, "verified");
	jv r = jv_object();
	r = jv_object_set(r, jv_string("status"), jv_string(out->status));
	r = jv_object_set(r, jv_string("tests_passed"), jv_bool(jv_get_kind(verified) == JV_KIND_TRUE));
	r = jv_object_set(r, jv_string("exit_code"), jv_number(out->exit_code));
	r = jv_object_set(r, jv_string("text"), jv_string(out->text ? out->text : ""));
	if (out->error)
		r = jv_object_set(r, jv_string("error"), jv_string(out->error));
	r = jv_object_set(r, jv_string("files_changed"), jv_copy(out->files_changed));
	jv_free(verified);
	s = jv_object_set(s, jv_string("result"), r);
	s = jv_object_set(s, jv_string("usage"), usage_ledger_total(m->ledger));
	s = jv_object_set(s, jv_string("total_cost_usd"),
			  m->cost_known ? jv_number(m->budget.cost_usd) : jv_null());
	s = jv_object_set(s, jv_string("ledger"), jv_copy(m->ledger));
	s = jv_object_set(s, jv_string("verification"), jv_copy(verification));
	if (jv_array_length(jv_copy(m->kept)) > 0)
		s = jv_object_set(s, jv_string("worktrees_kept"), jv_copy(m->kept));
	return s;
}

/* The final word on status: a stop, then whether the work was verified. */
static void judge_run(struct mgr *m, struct agent_outcome *out)
{
	enum run_status st;
	status_parse(out->status, &st);
	struct wf_outcome w;
	workflow_judge(&m->wf, st, out->exit_code, out->error, &w);
	out->status = status_name(w.status);
	out->exit_code = w.exit_code;
	free(out->error);
	out->error = w.error;
}

static void print_summary(struct mgr *m, const struct agent_outcome *out, jv verification,
			  const char *saved)
{
	if (!m->view)
		return;
	render_flush(m->view);
	FILE *f = render_file(m->view);
	fprintf(f, "\n%-10s %6s %10s %10s %10s %10s\n", "agent", "turns", "input", "output",
		"cache read", "cost");
	jv_object_foreach(m->ledger, k, e) {
		char cost[32];
		double dollars = json_num(e, "cost_usd", -1);
		snprintf(cost, sizeof cost, dollars >= 0 ? "%.4f" : "unknown", dollars);
		fprintf(f, "%-10s %6d %10.0f %10.0f %10.0f %10s\n", jv_string_value(k),
			(int)json_num(e, "turns", 0), json_num(e, "input_tokens", 0),
			json_num(e, "output_tokens", 0), json_num(e, "cache_read_input_tokens", 0),
			cost);
		jv_free(k);
		jv_free(e);
	}
	render_files_changed(m->view, out->files_changed);
	jv v = json_get(verification, "verified");
	const char *verified = jv_get_kind(v) == JV_KIND_TRUE ? "yes"
			       : jv_get_kind(v) == JV_KIND_FALSE ? "no" : "nothing to verify";
	jv_free(v);
	char cost[32];
	if (m->cost_known)
		snprintf(cost, sizeof cost, "$%.4f", m->budget.cost_usd);
	else
		snprintf(cost, sizeof cost, "cost unknown");
	fprintf(f, "\nstatus: %s (exit %d) · verified: %s · turns: %d · cost: %s\n", out->status,
		out->exit_code, verified, m->budget.turns, cost);
	if (out->error)
		fprintf(f, "reason: %s\n", out->error);
	if (saved)
		fprintf(f, "session saved: %s\n", saved);
	fflush(f);
}

static void run_mention(struct mgr *m, const char *name, const char *task, struct agent_outcome *out)
{
	const char *t = *task ? task : m->request;
	jv result = spawn_worker(m, name, t, NULL);
	record_result(m, name, t, result);
	enum run_status st;
	status_parse(json_str(result, "status"), &st);
	const char *error = json_str(result, "error");
	agent_outcome_set(out, status_name(st), (int)json_num(result, "exit_code", 1), error);
	free(out->text);
	out->text = xstrdup(json_str(result, "text") ? json_str(result, "text") : "");
	jv files = json_get(result, "files_changed");
	if (jv_get_kind(files) == JV_KIND_ARRAY) {
		jv_free(out->files_changed);
		out->files_changed = files;
	} else {
		jv_free(files);
	}
	jv_free(result);
}

/* The manager agent's whole conversation. */
static void run_manager_agent(struct mgr *m, const struct agent_def *def, struct agent_outcome *out)
{
	const struct manager_opts *o = m->o;
	struct client_opts copts;
	char *err = NULL;
	if (client_opts_configure(&copts, o->cfg, o->signals, &err) < 0) {
		agent_outcome_set(out, status_name(ST_ERROR), EXIT_CONFIG, err);
		free(err);
		return;
	}
	copts.cache = o->cache;
	struct client *client = client_new(&copts);
	jv prices = config_get(o->cfg, "pricing");
	const char *context = o->context ? o->context : m->context;
	struct agent_opts ao = {
		.def = def,
		.model = m->model,
		.max_output_tokens = (long)config_number(o->cfg, "api.max_tokens", 8192),
		.limits = { .max_turns = o->max_turns,
			    .max_context_messages = (int)config_number(
				    o->cfg, "workflow_limits.max_context_messages", 50) },
		.stream_deltas = o->stream_deltas,
		.prompt_cache = config_bool(o->cfg, "performance.enable_prompt_caching", true),
		.tools = { .root = o->root },
		.client = client,
		.ev = &m->ev,
		.prices = prices,
		.interrupted = o->signals,
		.custom_tools = m->tool_defs,
		.custom_tool = call_worker,
		.custom_batch = run_batch,
		.custom_user = m,
		.budget = &m->budget,
		.after_tool = after_tool,
		.view_delta = m->view ? view_delta : NULL,
		.view_user = m->view,
	};
	agent_run(&ao, context ? jv_string_fmt("%s%s", context, m->request)
				     : jv_string(m->request), out);
	m->cost_known = m->cost_known && out->cost_known;
	jv mu = anth_usage_to_json(&out->usage);
	ledger_add(m, "manager", mu, out->cost_usd, out->cost_known, 0);
	jv_free(mu);
	jv me = jv_object_get(jv_copy(m->ledger), jv_string("manager"));
	me = jv_object_set(me, jv_string("turns"), jv_number(out->turns));
	m->ledger = jv_object_set(m->ledger, jv_string("manager"), me);
	jv_free(prices);
	client_free(client);
}

static jv limits_json(struct mgr *m)
{
	const struct manager_opts *o = m->o;
	jv lim = jv_object();
	lim = jv_object_set(lim, jv_string("max_turns"), jv_number(o->max_turns));
	lim = jv_object_set(lim, jv_string("max_review_iterations"), jv_number(m->wf.max[WF_CYCLE_REVIEW]));
	lim = jv_object_set(lim, jv_string("max_retry_cycles"), jv_number(m->wf.max[WF_CYCLE_TEST]));
	lim = jv_object_set(lim, jv_string("max_coder_retries"),
			    jv_number(m->wf.max[WF_CYCLE_CODER_RETRY]));
	lim = jv_object_set(lim, jv_string("max_tokens"),
			    o->budget.max_tokens ? jv_number((double)o->budget.max_tokens) : jv_null());
	lim = jv_object_set(lim, jv_string("max_cost_usd"),
			    o->budget.max_cost_usd > 0 ? jv_number(o->budget.max_cost_usd) : jv_null());
	return lim;
}

/* init and task: the first lines of the manager's run. */
static void emit_start(struct mgr *m, bool mention)
{
	jv init = event_new(&m->ev, "init");
	init = jv_object_set(init, jv_string("model"), mention ? jv_null() : jv_string(m->model));
	init = jv_object_set(init, jv_string("cwd"), jv_string(m->o->root));
	jv names = jv_array();
	jv_array_foreach(m->tool_defs, i, t) {
		names = jv_array_append(names, jv_object_get(t, jv_string("name")));
	}
	init = jv_object_set(init, jv_string("tools"), names);
	init = jv_object_set(init, jv_string("permission_mode"), jv_string("workspace"));
	init = jv_object_set(init, jv_string("limits"), limits_json(m));
	if (m->o->resume_id)
		init = jv_object_set(init, jv_string("resumed"), jv_true());
	event_emit(&m->ev, init);
	jv task = event_new(&m->ev, "task");
	task = jv_object_set(task, jv_string("text"), jv_string(m->request));
	task = jv_object_set(task, jv_string("from"), jv_string("user"));
	event_emit(&m->ev, task);
}

static int fail_start(struct manager_outcome *res, int code, char *err)
{
	res->exit_code = code;
	res->status = xstrdup(status_name(ST_ERROR));
	res->error = err;
	return -1;
}

/* "@name" must be a worker of the config. */
static int check_mention(const struct manager_opts *o, const char *request,
			 struct manager_outcome *res)
{
	const char *rest;
	char *name = parse_mention(request, &rest);
	if (!name)
		return 0;
	bool known = config_agent(o->cfg, name) && strcmp(name, "manager") != 0;
	if (known) {
		free(name);
		return 0;
	}
	struct buf workers = BUF_INIT;
	for (int i = 0; i < o->cfg->n_agents; i++)
		if (strcmp(o->cfg->agents[i].name, "manager") != 0)
			buf_printf(&workers, "%s%s", workers.len ? ", " : "", o->cfg->agents[i].name);
	char *err = xasprintf("%s: unknown agent \"@%s\" (known: %s)", o->cfg->agent_config_path,
			      name, buf_str(&workers));
	buf_free(&workers);
	free(name);
	return fail_start(res, EXIT_USAGE, err);
}

/* The session (new or resumed), the event context and the request. -1 with res filled. */
static int open_run(struct mgr *m, const char *request, struct manager_outcome *res)
{
	const struct manager_opts *o = m->o;
	char *err = NULL;
	if (!o->resume_id && check_mention(o, request, res) < 0)
		return -1;
	char *resume_id = NULL;
	const char *given_id = o->resume_id ? o->resume_id : o->continue_id;
	if (given_id && session_resolve_id(o->sessions_dir, given_id, &resume_id, &err) < 0)
		return fail_start(res, EXIT_USAGE, err);
	int opened = session_open(&m->session, o->sessions_dir, resume_id, o->compress, &err);
	free(resume_id);
	if (opened < 0)
		return fail_start(res, given_id ? EXIT_USAGE : EXIT_CONFIG, err);
	m->have_session = true;
	event_ctx_init(&m->ev, "manager", NULL, m->session.id, o->out_fd);
	m->ev.tap = tap;
	m->ev.tap_user = m;
	if (o->resume_id) {
		if (load_resume(m, request, &err) < 0)
			return fail_start(res, EXIT_USAGE, err);
	} else {
		m->request = xstrdup(request);
	}
	if (o->live_view && !m->already_done) {
		m->view = render_new(o->view_out ? o->view_out : stderr, o->color, o->verbose);
		render_status_line(m->view, true);
	}
	return 0;
}

/* The summary, the result event and the person's summary, however the run ended. */
static void finish_run(struct mgr *m, struct agent_outcome *out, bool mention,
		       struct manager_outcome *res)
{
	jv fm = jv_object_set(jv_object(), jv_string("role"), jv_string("assistant"));
	fm = jv_object_set(fm, jv_string("agent"), jv_string("manager"));
	fm = jv_object_set(fm, jv_string("content"), jv_string(out->text ? out->text : ""));
	m->messages = jv_array_append(m->messages, fm);
	jv verification = run_verification(m, mention);
	char *err = NULL;
	char *path = xasprintf("%s/%s.json%s", m->o->sessions_dir, m->session.id,
			       m->o->compress ? ".gz" : "");
	jv summary = build_summary(m, out, verification);
	/* A conversation's summary covers every request (the result event, this run). */
	jv saved = jv_copy(summary);
	if (m->o->resume_id || m->o->continue_id) {
		jv prev;
		char *ignored = NULL;
		if (session_load_summary(m->o->sessions_dir, m->session.id, &prev, &ignored) < 0)
			prev = jv_null();
		free(ignored);
		saved = conversation_merge_summary(prev, saved, m->o->resume_id ? m->turn_at : -1);
	}
	int written = session_write_summary(&m->session, saved, &err);
	jv_free(saved);
	if (written < 0) {
		event_log(&m->ev, "error", err);
		if (m->o->notice)
			m->o->notice(err);
		if (strcmp(out->status, status_name(ST_COMPLETED)) == 0) {
			agent_outcome_free(out);
			agent_outcome_set(out, status_name(ST_ERROR), EXIT_FAILED, err);
		}
		free(err);
		free(path);
		path = NULL;
	}
	jv r = agent_result_event(&m->ev, out);
	r = jv_object_set(r, jv_string("verification"), jv_copy(verification));
	r = jv_object_set(r, jv_string("ledger"), jv_copy(m->ledger));
	r = jv_object_set(r, jv_string("total_cost_usd"),
			  m->cost_known ? jv_number(m->budget.cost_usd) : jv_null());
	r = jv_object_set(r, jv_string("num_turns"), jv_number(m->budget.turns));
	r = jv_object_set(r, jv_string("usage"), json_get(summary, "usage"));
	r = jv_object_set(r, jv_string("summary_path"), path ? jv_string(path) : jv_null());
	jv_free(summary);
	event_emit(&m->ev, r);
	print_summary(m, out, verification, path);
	jv_free(verification);
	res->shown = m->view != NULL;
	res->exit_code = out->exit_code;
	res->status = xstrdup(out->status);
	res->error = out->error ? xstrdup(out->error) : NULL;
	res->session_id = xstrdup(m->session.id);
	res->summary_path = path;
}

void manager_opts_configure(struct manager_opts *o, const struct config *cfg)
{
	o->cfg = cfg;
	o->max_turns = (int)config_number(cfg, "workflow_limits.max_turns", 50);
	o->max_parallel = (int)config_number(cfg, "workflow_limits.max_parallel_workers", 3);
	o->intervention_wait_s = config_number(cfg, "intervention_wait_seconds", 5);
	if (!o->sessions_dir)
		o->sessions_dir = config_sessions_dir(cfg, o->root ? o->root : ".");
	o->compress = config_bool(cfg, "performance.enable_session_compression", true);
}

static void mgr_init(struct mgr *m, const struct manager_opts *o)
{
	memset(m, 0, sizeof *m);
	m->o = o;
	m->results = jv_array();
	m->replay = jv_array();
	m->ledger = jv_object();
	m->messages = jv_array();
	m->agents_used = jv_array();
	m->tool_defs = jv_null();
	m->batch = jv_object();
	m->kept = jv_array();
	pthread_mutex_init(&m->lock, NULL);
	m->budget = o->budget;
	m->cost_known = true;
	workflow_init(&m->wf, (int)config_number(o->cfg, "workflow_limits.max_review_iterations", 3),
		      (int)config_number(o->cfg, "workflow_limits.max_retry_cycles", 3),
		      (int)config_number(o->cfg, "workflow_limits.max_coder_retries", 2));
	event_timestamp(m->created_at);
}

static void mgr_free(struct mgr *m)
{
	if (m->have_session)
		session_close(&m->session);
	render_free(m->view);
	if (m->have_session)
		event_ctx_free(&m->ev);
	free(m->request);
	free(m->context);
	free(m->model);
	jv_free(m->results);
	jv_free(m->replay);
	jv_free(m->ledger);
	jv_free(m->messages);
	jv_free(m->agents_used);
	jv_free(m->tool_defs);
	jv_free(m->batch);
	jv_free(m->kept);
	pthread_mutex_destroy(&m->lock);
	workflow_free(&m->wf);
}

int manager_run(const struct manager_opts *o, const char *request, struct manager_outcome *res)
{
	memset(res, 0, sizeof *res);
	/* The reaper of every descendant: what a killed worker leaves comes to us. */
	proc_become_subreaper();
	struct mgr m;
	mgr_init(&m, o);
	if (open_run(&m, request, res) < 0) {
		mgr_free(&m);
		return res->exit_code;
	}
	if (m.already_done) {
		res->status = xstrdup(status_name(ST_COMPLETED));
		res->session_id = xstrdup(m.session.id);
		res->error = xasprintf("session %s already completed; nothing to do (give a new task "
				       "to continue it)", m.session.id);
		mgr_free(&m);
		return EXIT_OK;
	}
	jv um = jv_object_set(jv_object(), jv_string("role"), jv_string("user"));
	um = jv_object_set(um, jv_string("content"), jv_string(m.request));
	m.messages = jv_array_append(m.messages, um);
	const struct agent_def *def = config_agent(o->cfg, "manager");
	m.model = config_model(o->cfg, "manager", o->model);
	const char *mention_task = NULL;
	char *mention = parse_mention(m.request, &mention_task);
	observe_set_context(m.session.id, m.ev.run_id, "manager", def ? def->role : NULL,
			    mention ? NULL : m.model);
	m.tool_defs = worker_tools(o->cfg);
	emit_start(&m, mention != NULL);

	struct agent_outcome out;
	if (mention)
		run_mention(&m, mention, mention_task, &out);
	else if (!def)
		agent_outcome_set(&out, status_name(ST_ERROR), EXIT_CONFIG, "the config has no \"manager\" agent");
	else
		run_manager_agent(&m, def, &out);
	if (!mention)
		judge_run(&m, &out);
	finish_run(&m, &out, mention != NULL, res);
	agent_outcome_free(&out);
	free(mention);
	mgr_free(&m);
	return res->exit_code;
}

void manager_outcome_free(struct manager_outcome *out)
{
	free(out->status);
	free(out->error);
	free(out->session_id);
	free(out->summary_path);
	memset(out, 0, sizeof *out);
}
