#define _DEFAULT_SOURCE	/* strcasecmp */
#include "manager.h"
#include "proc.h"

#include <ctype.h>
#include <errno.h>
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
#include "render.h"
#include "session.h"
#include "status.h"
#include "usage.h"
#include "workflow.h"
#include "conversation.h"

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
};

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
	publish_line(lc->m, line, len, &lc->result);
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

/* The worker's command line (malloc'd, NULL-terminated): its task comes on stdin. */
static char **worker_argv(struct mgr *m, const char *name)
{
	const struct manager_opts *o = m->o;
	char **argv = xcalloc(40, sizeof *argv);
	int n = 0;
	argv[n++] = xstrdup(o->worker_program);
	argv[n++] = xstrdup(name);
	add_flag(argv, &n, "--config", xstrdup(o->config_path));
	add_flag(argv, &n, "--workdir", xstrdup(o->root));
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
	/* What remains of the tree's budget, less what calls under way have reserved. */
	const struct agent_budget *b = &m->budget;
	if (b->max_turns > 0)
		add_flag(argv, &n, "--max-turns",
			 xasprintf("%d", b->max_turns - b->turns - b->reserved_turns));
	if (b->max_tokens > 0)
		add_flag(argv, &n, "--max-tokens",
			 xasprintf("%ld", b->max_tokens - b->tokens - b->reserved_tokens));
	if (b->max_cost_usd > 0)
		add_flag(argv, &n, "--max-cost-usd",
			 xasprintf("%.9g", b->max_cost_usd - b->cost_usd - b->reserved_cost_usd));
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

/* worker_end for a worker's result (borrowed); task is journaled for resume. */
static void emit_worker_end(struct mgr *m, const char *name, const char *task, jv result,
			    double ms, const char *error)
{
	const char *status = json_str(result, "status");
	jv end = event_new(&m->ev, "worker_end");
	end = jv_object_set(end, jv_string("worker"), jv_string(name));
	end = jv_object_set(end, jv_string("worker_run_id"), json_get(result, "run_id"));
	end = jv_object_set(end, jv_string("status"), jv_string(status ? status : status_name(ST_ERROR)));
	end = jv_object_set(end, jv_string("exit_code"), jv_number(json_num(result, "exit_code", 1)));
	end = jv_object_set(end, jv_string("duration_ms"), jv_number(ms));
	end = jv_object_set(end, jv_string("task"), jv_string(task));
	if (error)
		end = jv_object_set(end, jv_string("error"), jv_string(error));
	event_emit(&m->ev, end);
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
		workflow_set_stop(&m->wf, ST_TIMEOUT, EXIT_TIMEOUT, why);
	} else if (w == CHILD_INTERRUPTED) {
		child_stop(c, 5.0, o->signals, on_worker_line, &lc);
		/* The worker may have written its interrupted result while stopping. */
		if (jv_get_kind(lc.result) != JV_KIND_OBJECT) {
			jv_free(lc.result);
			lc.result = synthetic_result(m, name, ST_INTERRUPTED, EXIT_INTERRUPTED, "interrupted");
		}
		workflow_set_stop(&m->wf, ST_INTERRUPTED, EXIT_INTERRUPTED, xstrdup("interrupted"));
	} else if (jv_get_kind(lc.result) != JV_KIND_OBJECT) {
		char *why = xasprintf("the %s exited with code %d without a result%s%.300s", name,
				      c->exit_code, c->err_tail.len ? ": " : "", buf_str(&c->err_tail));
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ' ';
		event_log(&m->ev, "error", why);
		jv_free(lc.result);
		lc.result = synthetic_result(m, name, ST_ERROR, c->exit_code, why);
		free(why);
	}
	return lc.result;
}

/*
 * Forks the worker, hands it its input, streams its events through, and
 * returns its result event (a new reference).
 */
static jv spawn_worker(struct mgr *m, const char *name, const char *task)
{
	double timeout = config_worker_timeout(m->o->cfg, name, 600);
	char **argv = worker_argv(m, name);
	struct child c;
	char *err = NULL;
	double t0 = child_now();
	jv result;
	pid_t before[64];	/* children started on purpose (a dashboard): spared below */
	int n_before = proc_children(before, 64);
	if (child_spawn(&c, argv, NULL, &err) < 0) {
		event_log(&m->ev, "error", err);
		result = synthetic_result(m, name, ST_ERROR, 127, err);
		emit_worker_end(m, name, task, result, 0, err);
		free(err);
		free_argv(argv);
		return result;
	}
	free_argv(argv);
	child_job_control(c.pid);
	jv start = event_new(&m->ev, "worker_start");
	start = jv_object_set(start, jv_string("worker"), jv_string(name));
	start = jv_object_set(start, jv_string("timeout_s"), jv_number(timeout));
	start = jv_object_set(start, jv_string("pid"), jv_number(c.pid));
	event_emit(&m->ev, start);

	char *input = worker_input(m, task);
	child_write(&c, input, strlen(input));
	free(input);
	child_close_stdin(&c);
	result = await_worker(m, name, &c, t0 + timeout, timeout);
	child_job_control(0);
	/* Whatever the worker left (it may have been killed with -9 mid-command)
	 * was handed to us as subreaper: every child that was not there before
	 * the worker started is such an orphan. */
	proc_kill_orphans_except(before, n_before);
	emit_worker_end(m, name, task, result, (child_now() - t0) * 1000.0, NULL);
	child_free(&c);
	return result;
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
static jv run_worker_call(struct mgr *m, const char *name, const char *task)
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
	return spawn_worker(m, name, task);
}

/* The manager's tool: runs the worker the model named. */
static void call_worker(void *user, jv block, struct tool_result *tr)
{
	struct mgr *m = user;
	memset(tr, 0, sizeof *tr);
	tr->exit_code = -1;
	tr->files_changed = jv_array();
	m->last_was_worker = false;
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
		jv result = run_worker_call(m, name, task);
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
	jv result = spawn_worker(m, name, t);
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
