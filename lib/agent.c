#define _GNU_SOURCE	/* strcasestr */
#include "agent.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"

static long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static jv get(jv obj, const char *key)
{
	return jv_object_get(jv_copy(obj), jv_string(key));
}

static const char *str_field(jv obj, const char *key, jv *holder)
{
	*holder = get(obj, key);
	return jv_get_kind(*holder) == JV_KIND_STRING ? jv_string_value(*holder) : NULL;
}

jv agent_tool_definitions(unsigned tools)
{
	jv defs = jv_array();
	for (int id = 0; id < TOOL_COUNT; id++)
		if (tools & TOOL_BIT(id))
			defs = jv_array_append(defs, tool_definition((enum tool_id)id));
	return defs;
}

void agent_outcome_set(struct agent_outcome *out, const char *status, int exit_code,
		       const char *error)
{
	memset(out, 0, sizeof *out);
	out->status = status;
	out->exit_code = exit_code;
	out->text = xstrdup(error ? error : "");
	out->error = error ? xstrdup(error) : NULL;
	out->cost_known = true;
	out->files_changed = jv_array();
	out->verification = jv_null();
}

void agent_outcome_free(struct agent_outcome *out)
{
	free(out->text);
	free(out->error);
	free(out->verdict);
	jv_free(out->files_changed);
	jv_free(out->verification);
	memset(out, 0, sizeof *out);
}

struct run {
	const struct agent_opts *o;
	struct agent_outcome *out;
	jv messages;
	jv commands;		/* Bash calls: {command, exit_code, passed} */
};

static void on_text_delta(const char *text, size_t len, void *user)
{
	struct run *r = user;
	if (!r->o->stream_deltas)
		return;
	jv ev = event_new(r->o->ev, "text_delta");
	ev = jv_object_set(ev, jv_string("text"), jv_string_sized(text, (int)len));
	event_emit(r->o->ev, ev);
}

static void on_retry(const struct client_retry_info *info, void *user)
{
	struct run *r = user;
	jv ev = event_new(r->o->ev, "retry");
	ev = jv_object_set(ev, jv_string("attempt"), jv_number(info->attempt));
	ev = jv_object_set(ev, jv_string("max_attempts"), jv_number(info->max_attempts));
	ev = jv_object_set(ev, jv_string("delay_ms"), jv_number((double)info->delay_ms));
	ev = jv_object_set(ev, jv_string("http_status"),
			   info->http_status ? jv_number((double)info->http_status) : jv_null());
	ev = jv_object_set(ev, jv_string("error"), jv_string(info->error));
	event_emit(r->o->ev, ev);
}

/*
 * Keeps the task (message 0) and the newest messages, at most max in all.
 * The kept tail starts with an assistant message so that every tool_result
 * still follows the tool_use it answers.
 */
static jv trim_context(jv messages, int max)
{
	int n = jv_array_length(jv_copy(messages));
	if (max < 3 || n <= max)
		return messages;
	int start = n - (max - 1);
	for (; start < n; start++) {
		jv m = jv_array_get(jv_copy(messages), start);
		jv role = get(m, "role");
		bool assistant = jv_get_kind(role) == JV_KIND_STRING &&
				 strcmp(jv_string_value(role), "assistant") == 0;
		jv_free(role);
		jv_free(m);
		if (assistant)
			break;
	}
	jv kept = jv_array_append(jv_array(), jv_array_get(jv_copy(messages), 0));
	kept = jv_array_concat(kept, jv_array_slice(messages, start, n));
	return kept;
}

static void emit_usage(struct run *r, const struct client_call *call, double cost, bool known)
{
	jv ev = event_new(r->o->ev, "usage");
	jv u = anth_usage_to_json(&call->usage);
	jv_object_foreach(u, k, v) ev = jv_object_set(ev, k, v);
	jv_free(u);
	ev = jv_object_set(ev, jv_string("cost_usd"), known ? jv_number(cost) : jv_null());
	ev = jv_object_set(ev, jv_string("latency_ms"), jv_number((double)call->latency_ms));
	ev = jv_object_set(ev, jv_string("ttfb_ms"), jv_number((double)call->ttfb_ms));
	ev = jv_object_set(ev, jv_string("model"), jv_string(r->o->model));
	ev = jv_object_set(ev, jv_string("attempts"), jv_number(call->attempts));
	if (call->cache) {
		ev = jv_object_set(ev, jv_string("response_cache"), jv_string(call->cache));
		ev = jv_object_set(ev, jv_string("response_cache_stored"), jv_bool(call->cache_stored));
		ev = jv_object_set(ev, jv_string("response_cache_evicted"), jv_number(call->cache_evicted));
		ev = jv_object_set(ev, jv_string("response_cache_size"), jv_number(call->cache_size));
	}
	event_emit(r->o->ev, ev);
}

static void add_changed(struct run *r, jv files)
{
	jv_array_foreach(files, i, f) {
		bool seen = false;
		jv_array_foreach(r->out->files_changed, j, g) {
			seen = seen || jv_equal(jv_copy(f), jv_copy(g));
			jv_free(g);
		}
		if (!seen)
			r->out->files_changed = jv_array_append(r->out->files_changed, jv_copy(f));
		jv_free(f);
	}
}

/* Writes the tool_use event of a block (borrowed). */
static void announce_tool(struct run *r, jv block)
{
	jv idh, nameh;
	const char *id = str_field(block, "id", &idh);
	const char *name = str_field(block, "name", &nameh);
	jv input = get(block, "input");
	jv use = event_new(r->o->ev, "tool_use");
	use = jv_object_set(use, jv_string("tool_use_id"), jv_string(id ? id : ""));
	use = jv_object_set(use, jv_string("name"), jv_string(name ? name : ""));
	use = jv_object_set(use, jv_string("input"), jv_copy(input));
	if (jv_get_kind(input) != JV_KIND_OBJECT)
		use = jv_object_set(use, jv_string("input_incomplete"), jv_true());
	event_emit(r->o->ev, use);
	jv_free(input);
	jv_free(idh);
	jv_free(nameh);
}

/*
 * Runs one tool_use block (borrowed); returns its tool_result block.
 * announced: its tool_use event was already written.
 */
static jv run_tool(struct run *r, jv block, bool announced)
{
	jv idh, nameh;
	const char *id = str_field(block, "id", &idh);
	const char *name = str_field(block, "name", &nameh);
	jv input = get(block, "input");
	if (!announced)
		announce_tool(r, block);

	struct tool_result tr;
	if (jv_get_kind(input) != JV_KIND_OBJECT) {
		memset(&tr, 0, sizeof tr);
		tr.content = jv_string("not executed: the tool input JSON was cut short "
				       "(the reply hit max_tokens); send the call again, smaller");
		tr.is_error = true;
		tr.exit_code = -1;
		tr.files_changed = jv_array();
	} else if (r->o->custom_tool) {
		r->o->custom_tool(r->o->custom_user, block, &tr);
	} else {
		tr = tool_run(&r->o->tools, name ? name : "", input);
	}
	if (name && strcmp(name, "Bash") == 0 && jv_get_kind(input) == JV_KIND_OBJECT &&
	    tr.exit_code != -1) {
		jv cmdh;
		const char *cmd = str_field(input, "command", &cmdh);
		jv c = jv_object();
		c = jv_object_set(c, jv_string("command"), jv_string(cmd ? cmd : ""));
		c = jv_object_set(c, jv_string("exit_code"), jv_number(tr.exit_code));
		c = jv_object_set(c, jv_string("passed"), jv_bool(tr.exit_code == 0 && !tr.timed_out));
		if (tr.timed_out)
			c = jv_object_set(c, jv_string("timed_out"), jv_true());
		r->commands = jv_array_append(r->commands, c);
		jv_free(cmdh);
	}
	add_changed(r, tr.files_changed);

	jv ev = event_new(r->o->ev, "tool_result");
	ev = jv_object_set(ev, jv_string("tool_use_id"), jv_string(id ? id : ""));
	ev = jv_object_set(ev, jv_string("name"), jv_string(name ? name : ""));
	ev = jv_object_set(ev, jv_string("is_error"), jv_bool(tr.is_error));
	ev = jv_object_set(ev, jv_string("content"), jv_copy(tr.content));
	ev = jv_object_set(ev, jv_string("exit_code"),
			   tr.exit_code == -1 ? jv_null() : jv_number(tr.exit_code));
	ev = jv_object_set(ev, jv_string("files_changed"), jv_copy(tr.files_changed));
	event_emit(r->o->ev, ev);

	jv result = jv_object();
	result = jv_object_set(result, jv_string("type"), jv_string("tool_result"));
	result = jv_object_set(result, jv_string("tool_use_id"), jv_string(id ? id : ""));
	result = jv_object_set(result, jv_string("content"), jv_copy(tr.content));
	if (tr.is_error)
		result = jv_object_set(result, jv_string("is_error"), jv_true());
	tool_result_free(&tr);
	jv_free(input);
	jv_free(idh);
	jv_free(nameh);
	return result;
}

/*
 * Emits text events for a reply and returns the content to
 * keep in the conversation (a tool_use whose input was cut gets {}).
 * *tool_uses counts the tool_use blocks; *last_text gets the reply's text.
 */
static jv take_reply(struct run *r, jv content, int *tool_uses, struct buf *last_text)
{
	jv kept = jv_array();
	*tool_uses = 0;
	buf_reset(last_text);
	jv_array_foreach(content, i, block) {
		jv typeh;
		const char *type = str_field(block, "type", &typeh);
		if (type && strcmp(type, "text") == 0) {
			jv texth;
			const char *text = str_field(block, "text", &texth);
			if (text && *text) {
				jv ev = event_new(r->o->ev, "text");
				ev = jv_object_set(ev, jv_string("text"), jv_string(text));
				event_emit(r->o->ev, ev);
				if (last_text->len)
					buf_appendc(last_text, '\n');
				buf_appends(last_text, text);
				kept = jv_array_append(kept, jv_copy(block));
			}
			jv_free(texth);
		} else if (type && strcmp(type, "tool_use") == 0) {
			(*tool_uses)++;
			jv input = get(block, "input");
			jv clean = jv_object();
			clean = jv_object_set(clean, jv_string("type"), jv_string("tool_use"));
			clean = jv_object_set(clean, jv_string("id"), get(block, "id"));
			clean = jv_object_set(clean, jv_string("name"), get(block, "name"));
			clean = jv_object_set(clean, jv_string("input"),
					      jv_get_kind(input) == JV_KIND_OBJECT ? input : (jv_free(input), jv_object()));
			kept = jv_array_append(kept, clean);
		}
		jv_free(typeh);
		jv_free(block);
	}
	return kept;
}

static void finish(struct run *r, const char *status, int code, char *error)
{
	r->out->status = status;
	r->out->exit_code = code;
	free(r->out->error);
	r->out->error = error;
}

/*
 * True when the last "VERDICT:" line of text says word (case-insensitive),
 * so a review that quotes an earlier verdict is judged by its own.
 */
static bool verdict_is(const char *text, const char *word)
{
	const char *last = NULL;
	for (const char *p = text; (p = strcasestr(p, "VERDICT:")); p++)
		last = p;
	if (!last)
		return false;
	last += strlen("VERDICT:");
	while (*last == ' ' || *last == '*' || *last == '\t')
		last++;
	return strncasecmp(last, word, strlen(word)) == 0;
}

/* Decides completed/failed for a run the model ended by itself. */
static void judge(struct run *r, const char *stop_reason)
{
	const struct agent_def *def = r->o->def;
	int n = jv_array_length(jv_copy(r->commands)), passed = 0;
	jv_array_foreach(r->commands, i, c) {
		jv p = get(c, "passed");
		passed += jv_get_kind(p) == JV_KIND_TRUE;
		jv_free(p);
		jv_free(c);
	}
	if (n > 0 || strcmp(def->name, "tester") == 0) {
		jv v = jv_object();
		v = jv_object_set(v, jv_string("commands"), jv_copy(r->commands));
		v = jv_object_set(v, jv_string("verified"), jv_bool(n > 0 && passed == n));
		v = jv_object_set(v, jv_string("tests_passed"), jv_number(passed));
		v = jv_object_set(v, jv_string("tests_failed"), jv_number(n - passed));
		jv_free(r->out->verification);
		r->out->verification = v;
	}
	const char *text = r->out->text ? r->out->text : "";
	if (stop_reason && strcmp(stop_reason, "refusal") == 0) {
		finish(r, "failed", 1, xstrdup("the model refused the task"));
	} else if (strcmp(def->name, "tester") == 0 && n == 0) {
		finish(r, "failed", 1, xstrdup("the tester ran no commands, so nothing was verified"));
	} else if (strcmp(def->name, "tester") == 0 && passed < n) {
		finish(r, "failed", 1, xasprintf("%d of %d verification commands failed", n - passed, n));
	} else if (strcmp(def->name, "reviewer") == 0 &&
		   (verdict_is(text, "CHANGES_REQUESTED") || verdict_is(text, "REJECTED"))) {
		r->out->verdict = xstrdup("changes_requested");
		finish(r, "failed", 1, xstrdup("the reviewer requested changes"));
	} else {
		if (strcmp(def->name, "reviewer") == 0 && verdict_is(text, "APPROVED"))
			r->out->verdict = xstrdup("approved");
		finish(r, "completed", 0, NULL);
	}
}

long agent_usage_tokens(const struct anth_usage *u)
{
	return u->input_tokens + u->output_tokens + u->cache_creation_input_tokens +
	       u->cache_read_input_tokens;
}

bool agent_budget_spent(const struct agent_budget *b, char **why)
{
	if (b->max_turns > 0 && b->turns >= b->max_turns) {
		*why = xasprintf("turn budget spent: %d of %d turns (raise --max-turns)", b->turns,
				 b->max_turns);
		return true;
	}
	if (b->max_tokens > 0 && b->tokens >= b->max_tokens) {
		*why = xasprintf("token budget spent: %ld of %ld tokens used (raise --max-tokens)",
				 b->tokens, b->max_tokens);
		return true;
	}
	if (b->max_cost_usd > 0 && b->cost_usd >= b->max_cost_usd) {
		*why = xasprintf("cost budget spent: $%.4f of $%.4f (raise --max-cost-usd)",
				 b->cost_usd, b->max_cost_usd);
		return true;
	}
	return false;
}

/* True (and the outcome set) when this run's or the tree's budget is spent. */
static bool over_budget(struct run *r)
{
	const struct agent_limits *l = &r->o->limits;
	struct agent_budget own = {
		.max_tokens = l->max_tokens, .max_cost_usd = l->max_cost_usd,
		.tokens = agent_usage_tokens(&r->out->usage), .cost_usd = r->out->cost_usd,
	};
	char *why = NULL;
	if (agent_budget_spent(&own, &why) || (r->o->budget && agent_budget_spent(r->o->budget, &why))) {
		finish(r, "limit", 6, why);
		return true;
	}
	return false;
}

static bool interrupted(const struct agent_opts *o)
{
	return o->interrupted && *o->interrupted;
}

/* Stop before the next tool: a signal came, or the reader went away. */
static bool must_stop(const struct agent_opts *o)
{
	return interrupted(o) || o->ev->closed;
}

void agent_run(const struct agent_opts *o, jv user_content, struct agent_outcome *out)
{
	agent_outcome_set(out, "error", 4, NULL);
	free(out->text);
	out->text = NULL;
	long t0 = now_ms();
	struct run r = { .o = o, .out = out, .commands = jv_array() };
	jv first = jv_object();
	first = jv_object_set(first, jv_string("role"), jv_string("user"));
	first = jv_object_set(first, jv_string("content"), user_content);
	r.messages = jv_array_append(jv_array(), first);
	jv tools = o->custom_tool ? jv_copy(o->custom_tools) : agent_tool_definitions(o->tools.allowed);
	int max_turns = o->limits.max_turns > 0 ? o->limits.max_turns : 50;
	struct buf last_text = BUF_INIT;
	bool done = false;

	while (!done) {
		if (interrupted(o)) {
			finish(&r, "interrupted", 130, xstrdup("interrupted"));
			break;
		}
		if (o->ev->closed) {
			/* Nobody reads the events any more: stop spending. */
			finish(&r, "interrupted", 130, xstrdup("the output was closed (EPIPE)"));
			break;
		}
		if (out->turns >= max_turns) {
			finish(&r, "limit", 6, xasprintf("turn limit reached: %d turns (raise --max-turns)",
							 max_turns));
			break;
		}
		r.messages = trim_context(r.messages, o->limits.max_context_messages > 0
							  ? o->limits.max_context_messages : 50);
		jv req = anth_request_new(o->model, o->max_output_tokens > 0 ? o->max_output_tokens : 8192,
					  jv_string(o->def->system_prompt), jv_copy(tools),
					  jv_copy(r.messages), true, o->prompt_cache);
		struct client_call call;
		char *err = NULL;
		enum client_status st = client_messages(o->client, req, on_text_delta, on_retry, &r,
							&call, &err);
		jv_free(req);
		out->turns++;
		if (st != CLIENT_OK) {
			out->turns--;
			if (st == CLIENT_INTERRUPTED) {
				finish(&r, "interrupted", 130, err);
			} else {
				finish(&r, "error", st == CLIENT_AUTH ? 5 : 4, err);
				out->error_type = st == CLIENT_AUTH ? "auth"
						  : st == CLIENT_API && call.http_status == 0 ? "network" : "api";
			}
			client_call_free(&call);
			break;
		}
		double cost = 0;
		bool known = anth_cost_usd(o->prices, o->model, &call.usage, &cost);
		out->cost_known = out->cost_known && known;
		anth_usage_add(&out->usage, &call.usage);
		out->cost_usd += cost;
		if (o->budget) {
			o->budget->turns++;
			o->budget->tokens += agent_usage_tokens(&call.usage);
			o->budget->cost_usd += cost;
		}
		emit_usage(&r, &call, cost, known);

		jv content = get(call.message, "content");
		jv stoph;
		const char *stop = str_field(call.message, "stop_reason", &stoph);
		int tool_uses = 0;
		jv kept = take_reply(&r, content, &tool_uses, &last_text);
		if (last_text.len) {
			free(out->text);
			out->text = xstrdup(last_text.data);
		}
		if (tool_uses == 0) {
			jv_free(kept);
			judge(&r, stop);
			done = true;
		} else {
			jv msg = jv_object_set(jv_object(), jv_string("role"), jv_string("assistant"));
			msg = jv_object_set(msg, jv_string("content"), kept);
			r.messages = jv_array_append(r.messages, msg);
			jv results = jv_array();
			bool announced = false;
			if (o->custom_batch && !must_stop(o)) {
				jv_array_foreach(content, i, block) {
					jv typeh;
					const char *type = str_field(block, "type", &typeh);
					if (type && strcmp(type, "tool_use") == 0)
						announce_tool(&r, block);
					jv_free(typeh);
					jv_free(block);
				}
				o->custom_batch(o->custom_user, content);
				announced = true;
			}
			jv_array_foreach(content, i, block) {
				jv typeh;
				const char *type = str_field(block, "type", &typeh);
				if (type && strcmp(type, "tool_use") == 0) {
					if (must_stop(o)) {
						jv ir = jv_object_set(jv_object(), jv_string("type"),
								      jv_string("tool_result"));
						ir = jv_object_set(ir, jv_string("tool_use_id"), get(block, "id"));
						ir = jv_object_set(ir, jv_string("content"),
								   jv_string("not executed: interrupted"));
						ir = jv_object_set(ir, jv_string("is_error"), jv_true());
						results = jv_array_append(results, ir);
					} else {
						results = jv_array_append(results, run_tool(&r, block, announced));
					}
				}
				jv_free(typeh);
				jv_free(block);
			}
			char *note = NULL;
			struct agent_stop halt = { 0 };
			bool halted = o->after_tool && o->after_tool(o->custom_user, &note, &halt);
			if (note) {
				jv nb = jv_object_set(jv_object(), jv_string("type"), jv_string("text"));
				nb = jv_object_set(nb, jv_string("text"), jv_string(note));
				results = jv_array_append(results, nb);
				free(note);
			}
			jv um = jv_object_set(jv_object(), jv_string("role"), jv_string("user"));
			um = jv_object_set(um, jv_string("content"), results);
			r.messages = jv_array_append(r.messages, um);
			if (halted) {
				finish(&r, halt.status, halt.exit_code, halt.reason);
				done = true;
			} else if (over_budget(&r)) {
				done = true;
			}
		}
		jv_free(stoph);
		jv_free(content);
		client_call_free(&call);
	}
	if (!out->text)
		out->text = xstrdup(out->error ? out->error : "");
	if (jv_get_kind(out->verification) == JV_KIND_NULL &&
	    jv_array_length(jv_copy(r.commands)) > 0) {
		jv v = jv_object_set(jv_object(), jv_string("commands"), jv_copy(r.commands));
		v = jv_object_set(v, jv_string("verified"), jv_false());
		jv_free(out->verification);
		out->verification = v;
	}
	out->duration_ms = now_ms() - t0;
	buf_free(&last_text);
	jv_free(tools);
	jv_free(r.messages);
	jv_free(r.commands);
}

jv agent_result_event(const struct event_ctx *ev, const struct agent_outcome *out)
{
	jv e = event_new(ev, "result");
	e = jv_object_set(e, jv_string("status"), jv_string(out->status));
	e = jv_object_set(e, jv_string("is_error"), jv_bool(strcmp(out->status, "completed") != 0));
	e = jv_object_set(e, jv_string("exit_code"), jv_number(out->exit_code));
	e = jv_object_set(e, jv_string("text"), jv_string(out->text ? out->text : ""));
	if (out->error)
		e = jv_object_set(e, jv_string("error"), jv_string(out->error));
	if (out->verdict)
		e = jv_object_set(e, jv_string("verdict"), jv_string(out->verdict));
	if (out->error_type)
		e = jv_object_set(e, jv_string("error_type"), jv_string(out->error_type));
	e = jv_object_set(e, jv_string("verification"), jv_copy(out->verification));
	e = jv_object_set(e, jv_string("usage"), anth_usage_to_json(&out->usage));
	e = jv_object_set(e, jv_string("total_cost_usd"),
			  out->cost_known ? jv_number(out->cost_usd) : jv_null());
	e = jv_object_set(e, jv_string("num_turns"), jv_number(out->turns));
	e = jv_object_set(e, jv_string("duration_ms"), jv_number((double)out->duration_ms));
	e = jv_object_set(e, jv_string("files_changed"), jv_copy(out->files_changed));
	return e;
}
