#define _DEFAULT_SOURCE	/* strcasecmp */
#include "manager.h"

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
#include "observe.h"
#include "parallel.h"
#include "render.h"
#include "session.h"
#include "json.h"
#include "worktree.h"

struct mgr {
	const struct manager_opts *o;
	struct event_ctx ev;
	struct session session;
	bool have_session;
	struct render *view;
	char *request;
	char created_at[32];
	jv results;		/* worker result events, oldest first */
	jv replay;		/* resume: finished worker results from the journal, in order */
	jv ledger;		/* {AGENT: {turns, tokens..., cost_usd, calls}} */
	jv messages;		/* the summary's conversation */
	jv agents_used;
	jv verification;	/* the latest tester verification, or null */
	bool coder_after_test;	/* the code changed after the latest tester run */
	struct agent_budget budget;
	int review_cycles, test_cycles, coder_retries;
	int max_review, max_test, max_coder_retries;
	char *last_agent;
	char *last_status;
	bool last_changes_requested;
	bool last_was_worker;	/* the last tool call ran (or replayed) a worker */
	const char *stop_status;	/* a stop decided by a tool call, or NULL */
	int stop_code;
	char *stop_reason;
	jv tool_defs;
	/* Held for events, the journal, the live view and the stop while
	 * workers run at the same time (each streamed by a thread of its own). */
	pthread_mutex_t lock;
	jv batch;		/* a parallel turn's tool results by tool_use_id: {content, is_error} */
	int worktrees_made;	/* worktrees this session made so far (the N of bllm/SESSION/N) */
	jv kept;		/* worktrees not merged: [{worker, branch, worktree, reason}] */
};

/* event_emit and event_log under the run's lock. */
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

/* Every event passes here: the journal (synced at results) and the live view. */
static void tap(void *user, jv ev)
{
	struct mgr *m = user;
	const char *type = event_type(ev);
	if (m->have_session)
		session_append(&m->session, ev, type && strcmp(type, "result") == 0);
	if (m->view)
		render_event(m->view, ev);
	observe_event(NULL, ev);
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
	const char *etype = event_type(ev);
	/* Deltas asked for only by the live view stay out of the record. */
	if (strcmp(etype, "text_delta") == 0 && !m->o->stream_deltas) {
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
	const char *type = event_type(ev);
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

/* Adds a call's usage (borrowed), cost and turns to an agent's ledger line. */
static void ledger_add(struct mgr *m, const char *agent, jv usage, double cost, int turns)
{
	jv entry = jv_object_get(jv_copy(m->ledger), jv_string(agent));
	if (jv_get_kind(entry) != JV_KIND_OBJECT) {
		jv_free(entry);
		entry = jv_object();
	}
	static const char *keys[] = { "input_tokens", "output_tokens", "cache_read_input_tokens",
				      "cache_creation_input_tokens" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		double v = json_num(entry, keys[i], 0) + json_num(usage, keys[i], 0);
		entry = jv_object_set(entry, jv_string(keys[i]), jv_number(v));
	}
	entry = jv_object_set(entry, jv_string("turns"), jv_number(json_num(entry, "turns", 0) + turns));
	entry = jv_object_set(entry, jv_string("cost_usd"),
			      jv_number(json_num(entry, "cost_usd", 0) + cost));
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

static void set_stop(struct mgr *m, const char *status, int code, char *reason)
{
	pthread_mutex_lock(&m->lock);
	if (m->stop_status) {
		free(reason);
	} else {
		m->stop_status = status;
		m->stop_code = code;
		m->stop_reason = reason;
	}
	pthread_mutex_unlock(&m->lock);
}

/* The task and earlier results, as event lines for a worker's stdin. */
static char *worker_input(struct mgr *m)
{
	struct buf b = BUF_INIT;
	jv t = event_new(&m->ev, "task");
	t = jv_object_set(t, jv_string("text"), jv_string(m->request));
	t = jv_object_set(t, jv_string("from"), jv_string("user"));
	jv s = jv_dump_string(t, 0);
	buf_printf(&b, "%s\n", jv_string_value(s));
	jv_free(s);
	jv_array_foreach(m->results, i, r) {
		/* A context event's "agent" is the worker whose result it carries. */
		jv c = event_new(&m->ev, "context");
		c = jv_object_set(c, jv_string("agent"), json_get(r, "agent"));
		c = jv_object_set(c, jv_string("status"), json_get(r, "status"));
		c = jv_object_set(c, jv_string("text"), json_get(r, "text"));
		c = jv_object_set(c, jv_string("verification"),
				  json_get(r, "verification"));
		jv cs = jv_dump_string(c, 0);
		buf_printf(&b, "%s\n", jv_string_value(cs));
		jv_free(cs);
		jv_free(r);
	}
	return buf_detach(&b);
}

/* A result event for a worker that ended without writing one. */
static jv synthetic_result(struct mgr *m, const char *name, const char *status, int code,
			   const char *error)
{
	jv r = event_new(&m->ev, "result");
	r = jv_object_set(r, jv_string("agent"), jv_string(name));
	r = jv_object_set(r, jv_string("status"), jv_string(status));
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
	struct agent_budget budget;		/* what it may spend: max minus the counts */
	double timeout;
	char *input;				/* its stdin: the task and earlier results */
	bool parallel;				/* others run at the same time */
	char *branch, *worktree;		/* a writer's own, or NULL */
	jv result;
	pthread_t thread;
};

static jv spawn_call(struct worker_call *wc);

/* The call as the sequential path runs it: in the workspace, on the whole budget. */
static jv spawn_worker(struct mgr *m, const char *name, const char *task, const char *tool_use_id)
{
	struct worker_call wc = { .m = m, .name = name, .task = task, .tool_use_id = tool_use_id,
				  .workdir = m->o->root, .budget = m->budget,
				  .timeout = config_worker_timeout(m->o->cfg, name, 600),
				  .input = worker_input(m) };
	jv r = spawn_call(&wc);
	free(wc.input);
	return r;
}

/*
 * Forks the worker, streams its events through, and returns its result
 * event (a new reference; made up when the worker died without one).
 * A timeout or an interrupt also sets the run's stop. Safe in a thread:
 * what it shares goes through the run's lock.
 */
static jv spawn_call(struct worker_call *wc)
{
	struct mgr *m = wc->m;
	const struct manager_opts *o = m->o;
	const char *name = wc->name, *task = wc->task;
	double timeout = wc->timeout;
	char *argv[40];
	int n = 0;
	argv[n++] = xstrdup(o->worker_program);
	argv[n++] = xstrdup(name);
	add_flag(argv, &n, "--config", xstrdup(o->config_path));
	add_flag(argv, &n, "--workdir", xstrdup(wc->workdir));
	add_flag(argv, &n, "--parent-id", xstrdup(m->ev.run_id));
	add_flag(argv, &n, "--session-id", xstrdup(m->ev.session_id));
	argv[n++] = xstrdup("--no-forward");
	if (o->no_cache)
		argv[n++] = xstrdup("--no-cache");
	if (o->stream_deltas || o->live_view)
		argv[n++] = xstrdup("--stream-deltas");
	const struct agent_budget *b = &wc->budget;
	if (b->max_turns > 0)
		add_flag(argv, &n, "--max-turns", xasprintf("%d", b->max_turns - b->turns));
	if (b->max_tokens > 0)
		add_flag(argv, &n, "--max-tokens", xasprintf("%ld", b->max_tokens - b->tokens));
	if (b->max_cost_usd > 0)
		add_flag(argv, &n, "--max-cost-usd", xasprintf("%.9g", b->max_cost_usd - b->cost_usd));
	argv[n++] = xstrdup("--");
	argv[n++] = xstrdup(task);
	argv[n++] = xstrdup("-");
	argv[n] = NULL;

	struct child c;
	char *err = NULL;
	double t0 = child_now();
	jv result = jv_null();
	if (child_spawn(&c, argv, NULL, &err) < 0) {
		log_line(m, "error", err);
		result = synthetic_result(m, name, "error", 127, err);
		jv end = event_new(&m->ev, "worker_end");
		end = jv_object_set(end, jv_string("worker"), jv_string(name));
		end = jv_object_set(end, jv_string("worker_run_id"), jv_null());
		end = jv_object_set(end, jv_string("status"), jv_string("error"));
		end = jv_object_set(end, jv_string("exit_code"), jv_number(127));
		end = jv_object_set(end, jv_string("duration_ms"), jv_number(0));
		end = jv_object_set(end, jv_string("error"), jv_string(err));
		emit(m, end);
		free(err);
		goto out;
	}
	if (!wc->parallel)
		child_job_control(c.pid);	/* Ctrl-Z: one foreground worker only */
	jv start = event_new(&m->ev, "worker_start");
	start = jv_object_set(start, jv_string("worker"), jv_string(name));
	start = jv_object_set(start, jv_string("tool_use_id"),
			      wc->tool_use_id ? jv_string(wc->tool_use_id) : jv_null());
	start = jv_object_set(start, jv_string("timeout_s"), jv_number(timeout));
	start = jv_object_set(start, jv_string("pid"), jv_number(c.pid));
	emit(m, start);

	child_write(&c, wc->input, strlen(wc->input));
	child_close_stdin(&c);

	struct line_ctx lc = { .m = m, .result = jv_null() };
	enum child_wait w = child_stream(&c, t0 + timeout, o->signals, on_worker_line, &lc);
	const char *status;
	int code;
	if (w == CHILD_TIMEOUT) {
		child_stop(&c, 5.0, o->signals, on_worker_line, &lc);
		char upper[64];
		size_t k = 0;
		for (; name[k] && k < sizeof upper - 1; k++)
			upper[k] = (char)toupper((unsigned char)name[k]);
		upper[k] = '\0';
		char *why = xasprintf("the %s timed out after %.0f s (set WORKER_TIMEOUT_%s to allow more)",
				      name, timeout, upper);
		jv_free(lc.result);
		lc.result = synthetic_result(m, name, "timeout", 124, why);
		set_stop(m, "timeout", 124, why);
	} else if (w == CHILD_INTERRUPTED) {
		child_stop(&c, 5.0, o->signals, on_worker_line, &lc);
		/* The worker may have written its interrupted result while stopping. */
		if (jv_get_kind(lc.result) != JV_KIND_OBJECT)
			lc.result = synthetic_result(m, name, "interrupted", 130, "interrupted");
		set_stop(m, "interrupted", 130, xstrdup("interrupted"));
	} else if (jv_get_kind(lc.result) != JV_KIND_OBJECT) {
		char *why = xasprintf("the %s exited with code %d without a result%s%.300s", name,
				      c.exit_code, c.err_tail.len ? ": " : "", buf_str(&c.err_tail));
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ' ';
		log_line(m, "error", why);
		lc.result = synthetic_result(m, name, "error", c.exit_code, why);
		free(why);
	}
	if (!wc->parallel)
		child_job_control(0);
	status = json_str(lc.result, "status");
	code = (int)json_num(lc.result, "exit_code", c.exit_code);
	jv end = event_new(&m->ev, "worker_end");
	end = jv_object_set(end, jv_string("worker"), jv_string(name));
	end = jv_object_set(end, jv_string("worker_run_id"),
			    json_get(lc.result, "run_id"));
	end = jv_object_set(end, jv_string("tool_use_id"),
			    wc->tool_use_id ? jv_string(wc->tool_use_id) : jv_null());
	end = jv_object_set(end, jv_string("status"), jv_string(status ? status : "error"));
	end = jv_object_set(end, jv_string("exit_code"), jv_number(code));
	end = jv_object_set(end, jv_string("duration_ms"), jv_number((child_now() - t0) * 1000.0));
	emit(m, end);
	result = lc.result;
	child_free(&c);
out:
	for (int i = 0; i < n; i++)
		free(argv[i]);
	return result;
}

/* A limit check before calling a worker: true when a person allows one more. */
static bool ask_more(struct mgr *m, const char *what, int max)
{
	if (!m->o->ask)
		return false;
	render_flush(m->view);
	char prompt[160], answer[16];
	snprintf(prompt, sizeof prompt, "\n%s limit reached (%d). Allow one more? [y/N] ", what, max);
	return m->o->ask(prompt, 60, answer, sizeof answer) && (answer[0] == 'y' || answer[0] == 'Y');
}

static bool check_cycle(struct mgr *m, const char *name)
{
	if (strcmp(name, "coder") != 0 || !m->last_agent)
		return true;
	int *count = NULL, *max = NULL;
	const char *kind = NULL, *label = NULL, *setting = NULL;
	bool last_failed = m->last_status && strcmp(m->last_status, "completed") != 0;
	if (strcmp(m->last_agent, "reviewer") == 0 && (m->last_changes_requested || last_failed)) {
		count = &m->review_cycles, max = &m->max_review;
		kind = "review", label = "Review", setting = "max_review_iterations";
	} else if (strcmp(m->last_agent, "tester") == 0 && last_failed) {
		count = &m->test_cycles, max = &m->max_test;
		kind = "test", label = "Test", setting = "max_retry_cycles";
	} else if (strcmp(m->last_agent, "coder") == 0 && last_failed) {
		count = &m->coder_retries, max = &m->max_coder_retries;
		kind = "coder_retry", label = "Coder retry", setting = "max_coder_retries";
	} else {
		return true;
	}
	if (*count >= *max) {
		char what[64];
		snprintf(what, sizeof what, "%s cycle", label);
		if (ask_more(m, what, *max)) {
			(*max)++;
		} else {
			set_stop(m, "limit", 6, xasprintf("%s limit reached: %d of %d cycles "
							  "(workflow_limits.%s)", what, *count, *max,
							  setting));
			return false;
		}
	}
	(*count)++;
	jv ev = event_new(&m->ev, "cycle");
	ev = jv_object_set(ev, jv_string("kind"), jv_string(kind));
	ev = jv_object_set(ev, jv_string("label"), jv_string(label));
	ev = jv_object_set(ev, jv_string("n"), jv_number(*count));
	ev = jv_object_set(ev, jv_string("max"), jv_number(*max));
	event_emit(&m->ev, ev);
	return true;
}

/* Takes a finished worker's result (borrowed) into the run's state. */
static void record_result(struct mgr *m, const char *name, jv result)
{
	const char *status = json_str(result, "status");
	const char *verdict = json_str(result, "verdict");
	free(m->last_agent);
	free(m->last_status);
	m->last_agent = xstrdup(name);
	m->last_status = xstrdup(status ? status : "error");
	m->last_changes_requested = verdict && strcmp(verdict, "changes_requested") == 0;
	m->last_was_worker = true;
	m->results = jv_array_append(m->results, jv_copy(result));
	note_agent_used(m, name);
	if (strcmp(name, "tester") == 0) {
		jv_free(m->verification);
		m->verification = json_get(result, "verification");
		m->coder_after_test = false;
	} else if (strcmp(name, "coder") == 0) {
		m->coder_after_test = true;
	}
	jv usage = json_get(result, "usage");
	double cost = json_num(result, "total_cost_usd", 0);
	int turns = (int)json_num(result, "num_turns", 0);
	ledger_add(m, name, usage, cost, turns);
	m->budget.turns += turns;
	m->budget.tokens += (long)(json_num(usage, "input_tokens", 0) + json_num(usage, "output_tokens", 0) +
				   json_num(usage, "cache_read_input_tokens", 0) +
				   json_num(usage, "cache_creation_input_tokens", 0));
	m->budget.cost_usd += cost;
	jv_free(usage);
	jv msg = jv_object();
	msg = jv_object_set(msg, jv_string("role"), jv_string("assistant"));
	msg = jv_object_set(msg, jv_string("agent"), jv_string(name));
	msg = jv_object_set(msg, jv_string("status"), jv_string(m->last_status));
	msg = jv_object_set(msg, jv_string("content"), json_get(result, "text"));
	m->messages = jv_array_append(m->messages, msg);
	if (status && strcmp(status, "limit") == 0)
		set_stop(m, "limit", 6, xasprintf("the %s stopped: %s", name,
						  json_str(result, "error") ? json_str(result, "error") : "limit reached"));
}

/* Resume: the next journaled result of this worker, if the replay is still in step. */
static jv take_replay(struct mgr *m, const char *name)
{
	if (jv_array_length(jv_copy(m->replay)) == 0)
		return jv_invalid();
	jv head = jv_array_get(jv_copy(m->replay), 0);
	const char *agent = json_str(head, "agent");
	if (!agent || strcmp(agent, name) != 0) {
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
	buf_printf(&b, "%s finished: status %s (exit %d)\n", name, status ? status : "error",
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

/* The manager's tool: runs the worker the model named. */
static void call_worker(void *user, jv block, struct tool_result *tr)
{
	struct mgr *m = user;
	memset(tr, 0, sizeof *tr);
	tr->exit_code = -1;
	tr->files_changed = jv_array();
	m->last_was_worker = false;
	const char *name = json_str(block, "name");
	const char *id = json_str(block, "id");
	jv done = id ? json_get(m->batch, id) : jv_null();
	if (jv_get_kind(done) == JV_KIND_OBJECT) {
		/* Run with the others of its turn (run_batch): its result is ready. */
		tr->content = json_get(done, "content");
		jv e = json_get(done, "is_error");
		tr->is_error = jv_get_kind(e) == JV_KIND_TRUE;
		jv_free(e);
		jv_free(done);
		m->batch = jv_object_delete(m->batch, jv_string(id));
		m->last_was_worker = true;
		return;
	}
	jv_free(done);
	jv input = jv_object_get(jv_copy(block), jv_string("input"));
	const char *task = jv_get_kind(input) == JV_KIND_OBJECT ? json_str(input, "task") : NULL;
	if (!name || !config_agent(m->o->cfg, name) || strcmp(name, "manager") == 0) {
		tr->content = jv_string_fmt("unknown worker \"%s\"", name ? name : "");
		tr->is_error = true;
	} else if (!task || !*task) {
		tr->content = jv_string_fmt("%s: \"task\" must be a non-empty string", name);
		tr->is_error = true;
	} else if (m->stop_status) {
		tr->content = jv_string("not run: the run is stopping");
		tr->is_error = true;
	} else if (!check_cycle(m, name)) {
		tr->content = jv_string_fmt("refused: %s", m->stop_reason);
		tr->is_error = true;
	} else {
		jv result = take_replay(m, name);
		if (jv_is_valid(result)) {
			char *msg = xasprintf("resume: the %s had finished; using its saved result", name);
			event_log(&m->ev, "info", msg);
			free(msg);
		} else {
			char *why = NULL;
			if (agent_budget_spent(&m->budget, &why)) {
				set_stop(m, "limit", 6, why);
				result = synthetic_result(m, name, "limit", 6, m->stop_reason);
			} else {
				result = spawn_worker(m, name, task, json_str(block, "id"));
			}
		}
		record_result(m, name, result);
		char *text = tool_text(name, result);
		tr->content = jv_string(text);
		free(text);
		const char *status = json_str(result, "status");
		tr->is_error = !status || strcmp(status, "completed") != 0;
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
	jv result;		/* the worker's result (owned), or jv_invalid() */
	char *refusal;		/* the tool result when it was not run (malloc'd) */
	char *note;		/* what the merge gate did, or NULL (malloc'd) */
	bool unmerged;		/* its changes stayed on its branch */
};

#define MAX_TURN_CALLS 16

/* Runs the live calls, at most max_parallel at a time, in the order asked. */
static void run_live(struct mgr *m, struct turn_call *calls, int n)
{
	int step = m->o->max_parallel > 0 ? m->o->max_parallel : 1;
	int idx[MAX_TURN_CALLS], nlive = 0;
	for (int i = 0; i < n; i++)
		if (calls[i].live)
			idx[nlive++] = i;
	for (int w = 0; w < nlive; w += step) {
		int end = w + step < nlive ? w + step : nlive;
		bool threaded[MAX_TURN_CALLS] = { false };
		for (int j = w; j < end; j++) {
			struct worker_call *wc = &calls[idx[j]].wc;
			if (m->stop_status) {
				wc->result = synthetic_result(m, wc->name, "interrupted", 130, "not run: the run is stopping");
				continue;
			}
			threaded[j] = pthread_create(&wc->thread, NULL, call_thread, wc) == 0;
			if (!threaded[j])
				wc->result = spawn_call(wc);
		}
		for (int j = w; j < end; j++)
			if (threaded[j])
				pthread_join(calls[idx[j]].wc.thread, NULL);
	}
	for (int j = 0; j < nlive; j++)
		calls[idx[j]].result = calls[idx[j]].wc.result;
}

/*
 * The merge gate, in the order asked: each writer's worktree is committed
 * on its branch and merged into the workspace; merged ones are removed,
 * the others kept (and said so in the journal and the tool result).
 */
static void merge_gate(struct mgr *m, struct turn_call *calls, int n, char **base)
{
	for (int i = 0; i < n; i++) {
		struct turn_call *tc = &calls[i];
		struct worker_call *wc = &tc->wc;
		if (!wc->worktree || !jv_is_valid(tc->result))
			continue;
		const char *status = json_str(tc->result, "status");
		bool finished = status && (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0);
		char *err = NULL, *msg = xasprintf("bllm: the %s's work: %.200s", wc->name, wc->task);
		bool merged = false;
		jv conflicts = jv_array();
		if (worktree_commit(wc->worktree, msg, &err) < 0) {
			tc->note = xasprintf("merge gate: %s; the work is on branch %s (worktree %s)", err,
					     wc->branch, wc->worktree);
		} else if (!finished) {
			tc->note = xasprintf("merge gate: the %s did not finish (%s), so its changes were not "
					     "merged; they are on branch %s (worktree %s).", wc->name,
					     status ? status : "error", wc->branch, wc->worktree);
		} else {
			jv_free(conflicts);
			if (worktree_merge(m->o->root, base, wc->branch, &merged, &conflicts, &err) < 0)
				tc->note = xasprintf("merge gate: %s; the work is on branch %s (worktree %s)", err,
						     wc->branch, wc->worktree);
			else
				tc->note = parallel_merge_note(wc->name, merged, conflicts, wc->branch, wc->worktree);
		}
		free(err);
		err = NULL;
		if (merged && worktree_remove(m->o->root, wc->worktree, wc->branch, &err) < 0) {
			log_line(m, "warning", err);
			free(err);
		}
		tc->unmerged = !merged;
		log_line(m, merged ? "info" : "warning", tc->note);
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
	const struct manager_opts *o = m->o;
	struct turn_call calls[MAX_TURN_CALLS];
	int n = 0, writers = 0;
	memset(calls, 0, sizeof calls);
	jv_array_foreach(content, i, block) {
		/* The strings stay valid: content holds the block. */
		const char *type = json_str(block, "type"), *name = json_str(block, "name");
		jv input = json_get(block, "input");
		const char *task = json_str(input, "task");
		const struct agent_def *def = name ? config_agent(o->cfg, name) : NULL;
		if (type && strcmp(type, "tool_use") == 0 && def && strcmp(name, "manager") != 0 && task &&
		    *task && json_str(block, "id") && n < MAX_TURN_CALLS) {
			struct turn_call *tc = &calls[n++];
			tc->wc = (struct worker_call){ .m = m, .name = name, .task = task,
						       .tool_use_id = json_str(block, "id"), .workdir = o->root,
						       .parallel = true, .result = jv_invalid() };
			tc->writes = parallel_agent_writes(def->tools);
			tc->result = jv_invalid();
			writers += tc->writes;
		}
		jv_free(input);
		jv_free(block);
	}
	const char *why = NULL, *git_why = NULL;
	bool git_ok = n > 1 && writers > 0 && worktree_usable(o->root, &git_why);
	enum parallel_mode mode = parallel_decide(n, writers, git_ok, o->max_parallel, &why);
	char *base = NULL, *err = NULL;
	if (mode == PARALLEL_WORKTREES && worktree_snapshot(o->root, &base, &err) < 0) {
		char *msg = xasprintf("%s: the workers run one after another", err);
		log_line(m, "warning", msg);
		free(msg);
		free(err);
		return;
	}
	if (mode == PARALLEL_NONE || mode == PARALLEL_SEQUENTIAL) {
		if (why) {
			char *msg = git_why ? xasprintf("%s (%s)", why, git_why) : xstrdup(why);
			log_line(m, "info", msg);
			free(msg);
		}
		return;
	}
	int live = 0;
	for (int i = 0; i < n; i++) {
		struct turn_call *tc = &calls[i];
		if (m->stop_status) {
			tc->refusal = xstrdup("not run: the run is stopping");
		} else if (!check_cycle(m, tc->wc.name)) {
			tc->refusal = xasprintf("refused: %s", m->stop_reason);
		} else {
			tc->result = take_replay(m, tc->wc.name);
			if (jv_is_valid(tc->result)) {
				char *msg = xasprintf("resume: the %s had finished; using its saved result", tc->wc.name);
				log_line(m, "info", msg);
				free(msg);
			} else {
				tc->live = true;
				live++;
			}
		}
	}
	char *spent = NULL;
	if (live && agent_budget_spent(&m->budget, &spent)) {
		set_stop(m, "limit", 6, spent);
		for (int i = 0; i < n; i++)
			if (calls[i].live) {
				calls[i].live = false;
				calls[i].result = synthetic_result(m, calls[i].wc.name, "limit", 6, m->stop_reason);
			}
		live = 0;
	}
	/* Reserved: together they cannot spend more than is left. */
	struct agent_budget share;
	parallel_budget_share(&m->budget, live, &share);
	char *input = live ? worker_input(m) : NULL, *common = worktree_common_dir(o->root);
	struct buf names = BUF_INIT;
	for (int i = 0; i < n; i++) {
		struct worker_call *wc = &calls[i].wc;
		if (!calls[i].live)
			continue;
		wc->budget = share;
		wc->timeout = config_worker_timeout(o->cfg, wc->name, 600);
		wc->input = input;
		buf_printf(&names, "%s%s", names.len ? ", " : "", wc->name);
		if (calls[i].writes && mode == PARALLEL_WORKTREES && common) {
			int k = ++m->worktrees_made;
			wc->branch = parallel_branch(m->session.id, k);
			wc->worktree = xasprintf("%s/bllm/%s/%d", common, m->session.id, k);
			if (worktree_add(o->root, base, wc->branch, wc->worktree, &err) < 0) {
				log_line(m, "error", err);
				calls[i].live = false;
				calls[i].result = synthetic_result(m, wc->name, "error", 1, err);
				free(err);
				err = NULL;
				free(wc->worktree);
				wc->worktree = NULL;
			} else {
				wc->workdir = wc->worktree;
				buf_printf(&names, " (in %s)", wc->branch);
			}
		}
	}
	if (live) {
		char *msg = xasprintf("running %d workers at once: %s", live, buf_str(&names));
		log_line(m, "info", msg);
		free(msg);
	}
	buf_free(&names);
	run_live(m, calls, n);
	if (base)
		merge_gate(m, calls, n, &base);
	for (int i = 0; i < n; i++) {
		struct turn_call *tc = &calls[i];
		jv entry = jv_object();
		if (tc->refusal) {
			entry = jv_object_set(entry, jv_string("content"), jv_string(tc->refusal));
			entry = jv_object_set(entry, jv_string("is_error"), jv_true());
		} else {
			record_result(m, tc->wc.name, tc->result);
			char *text = tool_text(tc->wc.name, tc->result);
			const char *status = json_str(tc->result, "status");
			entry = jv_object_set(entry, jv_string("content"),
					      tc->note ? jv_string_fmt("%s\n\n%s", tc->note, text) : jv_string(text));
			entry = jv_object_set(entry, jv_string("is_error"),
					      jv_bool(!status || strcmp(status, "completed") != 0 || tc->unmerged));
			free(text);
		}
		m->batch = jv_object_set(m->batch, jv_string(tc->wc.tool_use_id), entry);
		jv_free(tc->result);
		free(tc->refusal);
		free(tc->note);
		free(tc->wc.branch);
		free(tc->wc.worktree);
	}
	if (common) {
		/* Empty once every worktree of the session was merged and removed. */
		char *dir = xasprintf("%s/bllm/%s", common, m->session.id);
		rmdir(dir);
		free(dir);
		dir = xasprintf("%s/bllm", common);
		rmdir(dir);
		free(dir);
	}
	free(input);
	free(common);
	free(base);
}

/* After each worker: the run's stops, then a person's chance to step in. */
static bool after_tool(void *user, char **note, struct agent_stop *stop)
{
	struct mgr *m = user;
	if (!m->stop_status && m->o->ask && m->last_was_worker) {
		render_flush(m->view);
		char prompt[128], line[4096];
		snprintf(prompt, sizeof prompt,
			 "[Enter] continue · /pause add a note · /stop stop  (continuing in %.0fs) ",
			 m->o->intervention_wait_s);
		const char *action = NULL;
		if (m->o->ask(prompt, m->o->intervention_wait_s, line, sizeof line)) {
			action = "continue";
			if (strcmp(line, "/stop") == 0) {
				action = "stop";
				set_stop(m, "interrupted", 130, xstrdup("stopped by the user"));
			} else if (strncmp(line, "/pause", 6) == 0) {
				action = "pause";
				if (m->o->ask("note for the manager: ", 600, line, sizeof line) && *line)
					*note = xasprintf("Note from the user: %s", line);
			}
		}
		if (action) {
			jv ev = event_new(&m->ev, "intervention");
			ev = jv_object_set(ev, jv_string("action"), jv_string(action));
			ev = jv_object_set(ev, jv_string("message"), jv_string(*note ? *note : ""));
			event_emit(&m->ev, ev);
		}
	}
	m->last_was_worker = false;
	if (!m->stop_status)
		return false;
	stop->status = m->stop_status;
	stop->exit_code = m->stop_code;
	stop->reason = xstrdup(m->stop_reason);
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

/* Resume: the request and the finished worker results from the journal. */
static int load_resume(struct mgr *m, char **err)
{
	jv events;
	if (session_read_journal(m->o->sessions_dir, m->session.id, &events, err) < 0)
		return -1;
	/* Workers of one turn may start and finish in any order: the replay
	 * follows the manager's tool_use events, which are in the order asked. */
	jv started = jv_array(), run_of = jv_object(), by_run = jv_object();
	jv_array_foreach(events, i, ev) {
		const char *type = event_type(ev);
		const char *agent = json_str(ev, "agent");
		if (type && agent && strcmp(type, "task") == 0 && strcmp(agent, "manager") == 0 &&
		    !m->request && json_str(ev, "text"))
			m->request = xstrdup(json_str(ev, "text"));
		const char *status = json_str(ev, "status");
		const char *use = json_str(ev, "tool_use_id"), *wrun = json_str(ev, "worker_run_id");
		if (type && agent && use && strcmp(type, "tool_use") == 0 && strcmp(agent, "manager") == 0)
			started = jv_array_append(started, jv_string(use));
		if (type && use && wrun && strcmp(type, "worker_end") == 0)
			run_of = jv_object_set(run_of, jv_string(use), jv_string(wrun));
		if (type && agent && strcmp(type, "result") == 0 && strcmp(agent, "manager") != 0 &&
		    json_str(ev, "parent_id") && status &&
		    (strcmp(status, "completed") == 0 || strcmp(status, "failed") == 0)) {
			m->replay = jv_array_append(m->replay, jv_copy(ev));
			if (json_str(ev, "run_id"))
				by_run = jv_object_set(by_run, jv_string(json_str(ev, "run_id")), jv_copy(ev));
		}
		jv_free(ev);
	}
	if (jv_array_length(jv_copy(started)) > 0) {
		jv ordered = jv_array();
		jv_array_foreach(started, i, use) {
			jv r = json_get(by_run, json_str(run_of, jv_string_value(use)) ?
						json_str(run_of, jv_string_value(use)) : "");
			if (jv_get_kind(r) == JV_KIND_OBJECT)
				ordered = jv_array_append(ordered, r);
			else
				jv_free(r);
			jv_free(use);
		}
		jv_free(m->replay);
		m->replay = ordered;
	}
	jv_free(started);
	jv_free(run_of);
	jv_free(by_run);
	jv_free(events);
	if (!m->request) {
		*err = xasprintf("session %s: its journal has no task to resume", m->session.id);
		return -1;
	}
	return 0;
}

/* The tester's last run passed, and the code has not changed since. */
static bool work_verified(const struct mgr *m)
{
	jv v = json_get(m->verification, "verified");
	bool ok = jv_get_kind(v) == JV_KIND_TRUE && !m->coder_after_test;
	jv_free(v);
	return ok;
}

static jv build_summary(struct mgr *m, const struct agent_outcome *out)
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
	jv r = jv_object();
	r = jv_object_set(r, jv_string("status"), jv_string(out->status));
	r = jv_object_set(r, jv_string("tests_passed"), jv_bool(work_verified(m)));
	r = jv_object_set(r, jv_string("exit_code"), jv_number(out->exit_code));
	r = jv_object_set(r, jv_string("text"), jv_string(out->text ? out->text : ""));
	if (out->error)
		r = jv_object_set(r, jv_string("error"), jv_string(out->error));
	s = jv_object_set(s, jv_string("result"), r);
	struct anth_usage total = { 0 };
	jv_object_foreach(m->ledger, k, e) {
		struct anth_usage u = anth_usage_from_json(e);
		anth_usage_add(&total, &u);
		jv_free(k);
		jv_free(e);
	}
	s = jv_object_set(s, jv_string("usage"), anth_usage_to_json(&total));
	s = jv_object_set(s, jv_string("total_cost_usd"), jv_number(m->budget.cost_usd));
	s = jv_object_set(s, jv_string("ledger"), jv_copy(m->ledger));
	s = jv_object_set(s, jv_string("verification"), jv_copy(m->verification));
	if (jv_array_length(jv_copy(m->kept)) > 0)
		s = jv_object_set(s, jv_string("worktrees_kept"), jv_copy(m->kept));
	return s;
}

/* The final word on status: completed only when the work was verified. */
static void judge_run(struct mgr *m, struct agent_outcome *out)
{
	if (m->stop_status && strcmp(out->status, m->stop_status) != 0 &&
	    strcmp(out->status, "completed") == 0) {
		out->status = m->stop_status;
		out->exit_code = m->stop_code;
		free(out->error);
		out->error = xstrdup(m->stop_reason);
	}
	if (strcmp(out->status, "completed") != 0)
		return;
	if (!work_verified(m)) {
		out->status = "failed";
		out->exit_code = 1;
		free(out->error);
		out->error = xstrdup(jv_get_kind(m->verification) != JV_KIND_OBJECT
					     ? "the work was not verified: the tester never ran"
				     : m->coder_after_test
					     ? "the work was not verified: the code changed after the last test run"
					     : "the work was not verified: the tester's commands failed");
	}
}

static void print_summary(struct mgr *m, const struct agent_outcome *out, const char *saved)
{
	if (!m->view)
		return;
	render_flush(m->view);
	FILE *f = render_file(m->view);
	fprintf(f, "\n%-10s %6s %10s %10s %10s %10s\n", "agent", "turns", "input", "output",
		"cache read", "cost");
	jv_object_foreach(m->ledger, k, e) {
		fprintf(f, "%-10s %6d %10.0f %10.0f %10.0f %10.4f\n", jv_string_value(k),
			(int)json_num(e, "turns", 0), json_num(e, "input_tokens", 0),
			json_num(e, "output_tokens", 0), json_num(e, "cache_read_input_tokens", 0),
			json_num(e, "cost_usd", 0));
		jv_free(k);
		jv_free(e);
	}
	fprintf(f, "\nstatus: %s (exit %d) · verified: %s · turns: %d · cost: $%.4f\n", out->status,
		out->exit_code, work_verified(m) ? "yes" : "no", m->budget.turns, m->budget.cost_usd);
	if (out->error)
		fprintf(f, "reason: %s\n", out->error);
	if (saved)
		fprintf(f, "session saved: %s\n", saved);
	fflush(f);
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

static void run_mention(struct mgr *m, const char *name, const char *task, struct agent_outcome *out)
{
	agent_outcome_set(out, "error", 4, NULL);
	jv result = spawn_worker(m, name, *task ? task : m->request, NULL);
	record_result(m, name, result);
	const char *status = json_str(result, "status");
	const char *error = json_str(result, "error");
	static const char *words[] = { "completed", "failed", "error", "skipped", "limit",
				       "timeout", "interrupted" };
	out->status = "error";
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
		if (status && strcmp(status, words[i]) == 0)
			out->status = words[i];
	out->exit_code = (int)json_num(result, "exit_code", 1);
	free(out->text);
	out->text = xstrdup(json_str(result, "text") ? json_str(result, "text") : "");
	out->error = error ? xstrdup(error) : NULL;
	free(m->stop_reason);
	m->stop_reason = NULL;
	m->stop_status = NULL;
	jv_free(result);
}

void manager_opts_configure(struct manager_opts *o, const struct config *cfg)
{
	o->cfg = cfg;
	o->max_turns = (int)config_number(cfg, "workflow_limits.max_turns", 50);
	o->max_parallel = (int)config_number(cfg, "workflow_limits.max_parallel_workers", 3);
	o->intervention_wait_s = config_number(cfg, "intervention_wait_seconds", 5);
	if (!o->sessions_dir)
		o->sessions_dir = config_string(cfg, "sessions_dir", "sessions");
	o->compress = config_bool(cfg, "performance.enable_session_compression", true);
}

int manager_run(const struct manager_opts *o, const char *request, struct manager_outcome *res)
{
	memset(res, 0, sizeof *res);
	struct mgr m = {
		.o = o,
		.results = jv_array(), .replay = jv_array(), .ledger = jv_object(),
		.messages = jv_array(), .agents_used = jv_array(), .verification = jv_null(),
		.budget = o->budget,
		.max_review = (int)config_number(o->cfg, "workflow_limits.max_review_iterations", 3),
		.max_test = (int)config_number(o->cfg, "workflow_limits.max_retry_cycles", 3),
		.max_coder_retries = (int)config_number(o->cfg, "workflow_limits.max_coder_retries", 2),
		.batch = jv_object(), .kept = jv_array(),
	};
	pthread_mutex_init(&m.lock, NULL);
	event_timestamp(m.created_at);
	char *err = NULL;
	struct agent_outcome out;
	bool outcome_set = false;
	const char *mention_task = NULL;
	char *mention = NULL;

	if (!o->resume_id && request[0] == '@') {
		const char *rest;
		char *name = parse_mention(request, &rest);
		bool known = config_agent(o->cfg, name) && strcmp(name, "manager") != 0;
		if (!known) {
			struct buf workers = BUF_INIT;
			for (int i = 0; i < o->cfg->n_agents; i++)
				if (strcmp(o->cfg->agents[i].name, "manager") != 0)
					buf_printf(&workers, "%s%s", workers.len ? ", " : "",
						   o->cfg->agents[i].name);
			char *names = buf_detach(&workers);
			res->exit_code = 2;
			res->status = xstrdup("error");
			res->error = xasprintf("%s: unknown agent \"@%s\" (known: %s)",
					       o->cfg->agent_config_path, name, names);
			free(names);
		}
		free(name);
		if (!known)
			goto done;
	}
	char *resume_id = NULL;
	if (o->resume_id && session_resolve_id(o->sessions_dir, o->resume_id, &resume_id, &err) < 0) {
		res->exit_code = 2;
		res->status = xstrdup("error");
		res->error = err;
		goto done;
	}
	int opened = session_open(&m.session, o->sessions_dir, resume_id, o->compress, &err);
	free(resume_id);
	if (opened < 0) {
		res->exit_code = o->resume_id ? 2 : 5;
		res->status = xstrdup("error");
		res->error = err;
		goto done;
	}
	m.have_session = true;
	event_ctx_init(&m.ev, "manager", NULL, m.session.id, o->out_fd);
	m.ev.tap = tap;
	m.ev.tap_user = &m;
	if (o->live_view)
		m.view = render_new(stderr, o->color, o->verbose);
	if (o->resume_id) {
		if (load_resume(&m, &err) < 0) {
			res->exit_code = 2;
			res->status = xstrdup("error");
			res->error = err;
			goto done;
		}
	} else {
		m.request = xstrdup(request);
	}
	jv um = jv_object_set(jv_object(), jv_string("role"), jv_string("user"));
	um = jv_object_set(um, jv_string("content"), jv_string(m.request));
	m.messages = jv_array_append(m.messages, um);

	const struct agent_def *def = config_agent(o->cfg, "manager");
	const char *model = o->model ? o->model : def && def->model ? def->model
					       : config_string(o->cfg, "api.model", "claude-sonnet-4-5");
	mention = parse_mention(m.request, &mention_task);
	observe_set_context(m.session.id, m.ev.run_id, "manager", def ? def->role : NULL,
			    mention ? NULL : model);

	jv init = event_new(&m.ev, "init");
	init = jv_object_set(init, jv_string("model"), mention ? jv_null() : jv_string(model));
	init = jv_object_set(init, jv_string("cwd"), jv_string(o->root));
	m.tool_defs = worker_tools(o->cfg);
	jv names = jv_array();
	jv_array_foreach(m.tool_defs, i, t) {
		names = jv_array_append(names, jv_object_get(t, jv_string("name")));
	}
	init = jv_object_set(init, jv_string("tools"), names);
	init = jv_object_set(init, jv_string("permission_mode"), jv_string("workspace"));
	jv lim = jv_object();
	lim = jv_object_set(lim, jv_string("max_turns"), jv_number(o->max_turns));
	lim = jv_object_set(lim, jv_string("max_review_iterations"), jv_number(m.max_review));
	lim = jv_object_set(lim, jv_string("max_retry_cycles"), jv_number(m.max_test));
	lim = jv_object_set(lim, jv_string("max_coder_retries"), jv_number(m.max_coder_retries));
	lim = jv_object_set(lim, jv_string("max_tokens"),
			    o->budget.max_tokens ? jv_number((double)o->budget.max_tokens) : jv_null());
	lim = jv_object_set(lim, jv_string("max_cost_usd"),
			    o->budget.max_cost_usd > 0 ? jv_number(o->budget.max_cost_usd) : jv_null());
	init = jv_object_set(init, jv_string("limits"), lim);
	if (o->resume_id)
		init = jv_object_set(init, jv_string("resumed"), jv_true());
	event_emit(&m.ev, init);
	jv task = event_new(&m.ev, "task");
	task = jv_object_set(task, jv_string("text"), jv_string(m.request));
	task = jv_object_set(task, jv_string("from"), jv_string("user"));
	event_emit(&m.ev, task);

	if (mention) {
		run_mention(&m, mention, mention_task, &out);
		outcome_set = true;
	} else if (!def) {
		agent_outcome_set(&out, "error", 5, "the config has no \"manager\" agent");
		outcome_set = true;
	} else {
		struct client_opts copts;
		if (client_opts_configure(&copts, o->cfg, o->signals, &err) < 0) {
			agent_outcome_set(&out, "error", 5, err);
			outcome_set = true;
		} else {
			copts.cache = o->cache;
			struct client *client = client_new(&copts);
			jv prices = config_get(o->cfg, "pricing");
			struct agent_opts ao = {
				.def = def,
				.model = model,
				.max_output_tokens = (long)config_number(o->cfg, "api.max_tokens", 8192),
				.limits = { .max_turns = o->max_turns,
					    .max_context_messages = (int)config_number(
						    o->cfg, "workflow_limits.max_context_messages", 50) },
				.stream_deltas = o->stream_deltas,
				.prompt_cache = config_bool(o->cfg, "performance.enable_prompt_caching", true),
				.tools = { .root = o->root },
				.client = client,
				.ev = &m.ev,
				.prices = prices,
				.interrupted = o->signals,
				.custom_tools = m.tool_defs,
				.custom_tool = call_worker,
				.custom_batch = run_batch,
				.custom_user = &m,
				.budget = &m.budget,
				.after_tool = after_tool,
			};
			agent_run(&ao, jv_string(m.request), &out);
			outcome_set = true;
			jv mu = anth_usage_to_json(&out.usage);
			ledger_add(&m, "manager", mu, out.cost_usd, 0);
			jv_free(mu);
			jv me = jv_object_get(jv_copy(m.ledger), jv_string("manager"));
			me = jv_object_set(me, jv_string("turns"), jv_number(out.turns));
			m.ledger = jv_object_set(m.ledger, jv_string("manager"), me);
			jv_free(prices);
			client_free(client);
		}
	}
	if (!mention)
		judge_run(&m, &out);
	jv fm = jv_object_set(jv_object(), jv_string("role"), jv_string("assistant"));
	fm = jv_object_set(fm, jv_string("agent"), jv_string(mention ? mention : "manager"));
	fm = jv_object_set(fm, jv_string("content"), jv_string(out.text ? out.text : ""));
	m.messages = jv_array_append(m.messages, fm);

	char *path = xasprintf("%s/%s.json%s", o->sessions_dir, m.session.id, o->compress ? ".gz" : "");
	jv summary = build_summary(&m, &out);
	if (session_write_summary(&m.session, summary, &err) < 0) {
		event_log(&m.ev, "error", err);
		free(path);
		path = NULL;
	}
	jv r = agent_result_event(&m.ev, &out);
	r = jv_object_set(r, jv_string("verification"), jv_copy(m.verification));
	r = jv_object_set(r, jv_string("ledger"), jv_copy(m.ledger));
	r = jv_object_set(r, jv_string("total_cost_usd"), jv_number(m.budget.cost_usd));
	r = jv_object_set(r, jv_string("num_turns"), jv_number(m.budget.turns));
	jv total = jv_object_get(jv_copy(summary), jv_string("usage"));
	r = jv_object_set(r, jv_string("usage"), total);
	r = jv_object_set(r, jv_string("summary_path"), path ? jv_string(path) : jv_null());
	jv_free(summary);
	event_emit(&m.ev, r);
	print_summary(&m, &out, path);
	res->shown = m.view != NULL;
	res->exit_code = out.exit_code;
	res->status = xstrdup(out.status);
	res->error = out.error ? xstrdup(out.error) : NULL;
	res->session_id = xstrdup(m.session.id);
	res->summary_path = path;
done:
	if (outcome_set)
		agent_outcome_free(&out);
	free(mention);
	if (m.have_session)
		session_close(&m.session);
	render_free(m.view);
	event_ctx_free(&m.ev);
	free(m.request);
	free(m.last_agent);
	free(m.last_status);
	free(m.stop_reason);
	jv_free(m.results);
	jv_free(m.replay);
	jv_free(m.ledger);
	jv_free(m.messages);
	jv_free(m.agents_used);
	jv_free(m.verification);
	jv_free(m.tool_defs);
	jv_free(m.batch);
	jv_free(m.kept);
	pthread_mutex_destroy(&m.lock);
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
