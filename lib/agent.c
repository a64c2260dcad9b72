#define _GNU_SOURCE	/* strcasestr */
#include "agent.h"
#include "clock.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "buf.h"
#include "control.h"
#include "json.h"
#include "usage.h"

static long now_ms(void)
{
	return (long)clock_mono_ms();
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
	struct wf_checks checks;	/* the Bash commands and file changes, in order */
	struct wf_repeat repeat;	/* the same tool call made again and again */
	char *loop;			/* why the run stops for a repeated call, or NULL */
};

static void on_text_delta(const char *text, size_t len, void *user)
{
	struct run *r = user;
	if (!r->o->stream_deltas && !r->o->view_delta)
		return;
	jv ev = event_new(r->o->ev, "text_delta");
	ev = jv_object_set(ev, jv_string("text"), jv_string_sized(text, (int)len));
	if (r->o->stream_deltas) {
		event_emit(r->o->ev, ev);
	} else {
		r->o->view_delta(r->o->view_user, ev);
		jv_free(ev);
	}
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
		jv role = json_get(m, "role");
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

/* The tokens a reply served from the response cache would have cost (its recorded usage). */
static long cached_tokens(const struct client_call *call)
{
	if (!call->cache || strcmp(call->cache, "hit") != 0)
		return 0;
	jv u = json_get(call->message, "usage");
	long n = usage_json_tokens(u);
	jv_free(u);
	return n;
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
		if (cached_tokens(call) > 0)
			ev = jv_object_set(ev, jv_string("tokens_saved"), jv_number((double)cached_tokens(call)));
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
	const char *id = json_str(block, "id");
	const char *name = json_str(block, "name");
	jv input = json_get(block, "input");
	jv use = event_new(r->o->ev, "tool_use");
	use = jv_object_set(use, jv_string("tool_use_id"), jv_string(id ? id : ""));
	use = jv_object_set(use, jv_string("name"), jv_string(name ? name : ""));
	use = jv_object_set(use, jv_string("input"), jv_copy(input));
	if (jv_get_kind(input) != JV_KIND_OBJECT)
		use = jv_object_set(use, jv_string("input_incomplete"), jv_true());
	event_emit(r->o->ev, use);
	jv_free(input);
}

/*
 * Runs one tool_use block (borrowed); returns its tool_result block.
 * announced: its tool_use event was already written.
 */
static jv run_tool(struct run *r, jv block, bool announced)
{
	const char *id = json_str(block, "id");
	const char *name = json_str(block, "name");
	jv input = json_get(block, "input");
	if (!announced)
		announce_tool(r, block);

	struct tool_result tr;
	bool repeated = jv_get_kind(input) == JV_KIND_OBJECT &&
			wf_repeat_note(&r->repeat, name, input) >= WF_REPEAT_LIMIT;
	if (repeated) {
		memset(&tr, 0, sizeof tr);
		tr.content = jv_string_fmt("not executed: the same %s call was made %d times in a row",
					   name ? name : "", WF_REPEAT_LIMIT);
		tr.is_error = true;
		tr.exit_code = -1;
		tr.files_changed = jv_array();
		if (!r->loop)
			r->loop = xasprintf("loop: the %s made the same %s call (same input) %d times "
					    "in a row", r->o->def->name, name ? name : "", WF_REPEAT_LIMIT);
	} else if (jv_get_kind(input) != JV_KIND_OBJECT) {
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
	/*
	 * A command's own writes (a build's objects, a test's output) come
	 * before its verdict: `make test` that compiles still checks the tree
	 * it leaves. Verification follows the tool that ran, however its name
	 * was spelled.
	 */
	wf_checks_change(&r->checks, tr.files_changed);
	if (!r->o->custom_tool && name && tool_lookup(name) == TOOL_BASH &&
	    jv_get_kind(input) == JV_KIND_OBJECT && tr.exit_code != -1) {
		const char *cmd = json_str(input, "command");
		wf_checks_command(&r->checks, cmd, tr.exit_code, tr.timed_out);
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
	if (tr.diff)
		ev = jv_object_set(ev, jv_string("diff"), jv_string(tr.diff));
	event_emit(r->o->ev, ev);

	jv result = jv_object();
	result = jv_object_set(result, jv_string("type"), jv_string("tool_result"));
	result = jv_object_set(result, jv_string("tool_use_id"), jv_string(id ? id : ""));
	result = jv_object_set(result, jv_string("content"), jv_copy(tr.content));
	if (tr.is_error)
		result = jv_object_set(result, jv_string("is_error"), jv_true());
	tool_result_free(&tr);
	jv_free(input);
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
		const char *type = json_str(block, "type");
		if (type && strcmp(type, "text") == 0) {
			const char *text = json_str(block, "text");
			if (text && *text) {
				jv ev = event_new(r->o->ev, "text");
				ev = jv_object_set(ev, jv_string("text"), jv_string(text));
				event_emit(r->o->ev, ev);
				if (last_text->len)
					buf_appendc(last_text, '\n');
				buf_appends(last_text, text);
				kept = jv_array_append(kept, jv_copy(block));
			}
		} else if (type && strcmp(type, "tool_use") == 0) {
			(*tool_uses)++;
			jv input = json_get(block, "input");
			jv clean = jv_object();
			clean = jv_object_set(clean, jv_string("type"), jv_string("tool_use"));
			clean = jv_object_set(clean, jv_string("id"), json_get(block, "id"));
			clean = jv_object_set(clean, jv_string("name"), json_get(block, "name"));
			clean = jv_object_set(clean, jv_string("input"),
					      jv_get_kind(input) == JV_KIND_OBJECT ? input : (jv_free(input), jv_object()));
			kept = jv_array_append(kept, clean);
		}
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
	bool tester = strcmp(def->name, "tester") == 0;
	jv_free(r->out->verification);
	r->out->verification = wf_checks_verification(&r->checks, tester);
	jv v = r->out->verification;
	int n = jv_array_length(jv_copy(r->checks.commands));
	int failed = (int)json_num(v, "tests_failed", 0);
	jv verified = json_get(v, "verified");
	bool ok = jv_get_kind(verified) == JV_KIND_TRUE;
	jv_free(verified);
	const char *text = r->out->text ? r->out->text : "";
	if (stop_reason && strcmp(stop_reason, "max_tokens") == 0) {
		finish(r, status_name(ST_FAILED), EXIT_FAILED, xasprintf("the reply was cut at max_tokens (%ld tokens) before "
						 "it ended (raise api.max_tokens)",
						 r->o->max_output_tokens > 0 ? r->o->max_output_tokens : 8192));
	} else if (stop_reason && strcmp(stop_reason, "refusal") == 0) {
		finish(r, status_name(ST_FAILED), EXIT_FAILED, xstrdup("the model refused the task"));
	} else if (tester && n == 0) {
		finish(r, status_name(ST_FAILED), EXIT_FAILED, xstrdup("the tester ran no commands, so nothing was verified"));
	} else if (tester && !ok) {
		finish(r, status_name(ST_FAILED), EXIT_FAILED, failed ? xasprintf("%d of %d verification commands failed", failed, n)
				       : xstrdup("the tester changed files after its last command"));
	} else if (strcmp(def->name, "reviewer") == 0 &&
		   (verdict_is(text, "CHANGES_REQUESTED") || verdict_is(text, "REJECTED"))) {
		r->out->verdict = xstrdup("changes_requested");
		finish(r, status_name(ST_FAILED), EXIT_FAILED, xstrdup("the reviewer requested changes"));
	} else {
		if (strcmp(def->name, "reviewer") == 0 && verdict_is(text, "APPROVED"))
			r->out->verdict = xstrdup("approved");
		finish(r, status_name(ST_COMPLETED), EXIT_OK, NULL);
	}
}

long agent_usage_tokens(const struct anth_usage *u)
{
	return usage_tokens(u);
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
	if (wf_budget_spent(&own, &why) || (r->o->budget && wf_budget_spent(r->o->budget, &why))) {
		finish(r, status_name(ST_LIMIT), EXIT_LIMIT, why);
		return true;
	}
	return false;
}

/*
 * The budget check before a call (lib/workflow.h): against this run's own
 * limits, then the tree's. Lowers the request's max_tokens (*req) when the
 * remainder pays for less; false, with the outcome set (limit), when not
 * even a short reply fits. The tree's budget holds the call's worst case
 * until settle_call.
 */
static bool plan_call(struct run *r, jv *req, struct wf_call_plan *plan)
{
	const struct agent_opts *o = r->o;
	long max = o->max_output_tokens > 0 ? o->max_output_tokens : 8192;
	jv body = jv_dump_string(jv_copy(*req), 0);
	long input = wf_input_tokens_estimate((size_t)jv_string_length_bytes(jv_copy(body)));
	jv_free(body);
	struct anth_price price;
	const struct anth_price *p = anth_price(o->prices, o->model, &price) ? &price : NULL;
	const struct agent_limits *l = &o->limits;
	struct agent_budget own = {
		.max_tokens = l->max_tokens, .max_cost_usd = l->max_cost_usd,
		.tokens = agent_usage_tokens(&r->out->usage), .cost_usd = r->out->cost_usd,
	};
	char *why = NULL;
	enum wf_call_verdict v = wf_budget_plan(&own, p, input, max, plan, &why);
	if (v != WF_CALL_REFUSED && o->budget)
		v = wf_budget_plan(o->budget, p, input, plan->max_tokens, plan, &why);
	if (v == WF_CALL_REFUSED) {
		finish(r, status_name(ST_LIMIT), EXIT_LIMIT, why);
		return false;
	}
	if (plan->max_tokens < max)
		*req = jv_object_set(*req, jv_string("max_tokens"), jv_number((double)plan->max_tokens));
	if (o->budget)
		wf_budget_reserve(o->budget, plan);
	return true;
}

/* A model without a price cannot be held to a cost budget: refuse before any call. */
static bool cost_unbounded(struct run *r)
{
	const struct agent_opts *o = r->o;
	bool cost_budget = o->limits.max_cost_usd > 0 || (o->budget && o->budget->max_cost_usd > 0);
	struct anth_price price;
	if (!cost_budget || anth_price(o->prices, o->model, &price))
		return false;
	finish(r, status_name(ST_ERROR), EXIT_CONFIG, xasprintf("model \"%s\" has no price, so a cost budget cannot hold: add it "
					"to the \"pricing\" table of system_config.json, or drop "
					"--max-cost-usd", o->model));
	r->out->error_type = "config";
	return true;
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
	agent_outcome_set(out, status_name(ST_ERROR), EXIT_API, NULL);
	free(out->text);
	out->text = NULL;
	long t0 = now_ms();
	struct run r = { .o = o, .out = out };
	wf_checks_init(&r.checks);
	jv first = jv_object();
	first = jv_object_set(first, jv_string("role"), jv_string("user"));
	first = jv_object_set(first, jv_string("content"), user_content);
	r.messages = jv_array_append(jv_array(), first);
	jv tools = o->custom_tool ? jv_copy(o->custom_tools) : agent_tool_definitions(o->tools.allowed);
	int max_turns = o->limits.max_turns > 0 ? o->limits.max_turns : 50;
	struct buf last_text = BUF_INIT;
	bool done = cost_unbounded(&r);

	while (!done) {
		if (interrupted(o)) {
			finish(&r, status_name(ST_INTERRUPTED), EXIT_INTERRUPTED, xstrdup("interrupted"));
			break;
		}
		if (o->ev->closed) {
			/* Nobody reads the events any more: stop spending. */
			finish(&r, status_name(ST_INTERRUPTED), EXIT_INTERRUPTED, xstrdup("the output was closed (EPIPE)"));
			break;
		}
		if (out->turns >= max_turns) {
			finish(&r, status_name(ST_LIMIT), EXIT_LIMIT, xasprintf("turn limit reached: %d turns (raise --max-turns)",
							 max_turns));
			break;
		}
		r.messages = trim_context(r.messages, o->limits.max_context_messages > 0
							  ? o->limits.max_context_messages : 50);
		jv req = anth_request_new(o->model, o->max_output_tokens > 0 ? o->max_output_tokens : 8192,
					  jv_string(o->def->system_prompt), jv_copy(tools),
					  jv_copy(r.messages), true, o->prompt_cache);
		struct wf_call_plan plan;
		if (!plan_call(&r, &req, &plan)) {
			jv_free(req);
			break;
		}
		struct client_call call;
		char *err = NULL;
		enum client_status st = client_messages(o->client, req, on_text_delta, on_retry, &r,
							&call, &err);
		jv_free(req);
		out->turns++;
		if (st != CLIENT_OK) {
			out->turns--;
			if (o->budget)
				wf_budget_release(o->budget, &plan);
			if (st == CLIENT_INTERRUPTED) {
				finish(&r, status_name(ST_INTERRUPTED), EXIT_INTERRUPTED, err);
			} else {
				finish(&r, status_name(ST_ERROR), st == CLIENT_AUTH ? EXIT_CONFIG : EXIT_API, err);
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
		if (o->budget)
			wf_budget_settle(o->budget, &plan, agent_usage_tokens(&call.usage), cost);
		out->tokens_saved += cached_tokens(&call);
		emit_usage(&r, &call, cost, known);

		jv content = json_get(call.message, "content");
		const char *stop = json_str(call.message, "stop_reason");
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
					const char *type = json_str(block, "type");
					if (type && strcmp(type, "tool_use") == 0)
						announce_tool(&r, block);
					jv_free(block);
				}
				o->custom_batch(o->custom_user, content);
				announced = true;
			}
			jv_array_foreach(content, i, block) {
				const char *type = json_str(block, "type");
				if (type && strcmp(type, "tool_use") == 0) {
					if (must_stop(o)) {
						jv ir = jv_object_set(jv_object(), jv_string("type"),
								      jv_string("tool_result"));
						ir = jv_object_set(ir, jv_string("tool_use_id"), json_get(block, "id"));
						ir = jv_object_set(ir, jv_string("content"),
								   jv_string("not executed: interrupted"));
						ir = jv_object_set(ir, jv_string("is_error"), jv_true());
						results = jv_array_append(results, ir);
					} else {
						results = jv_array_append(results, run_tool(&r, block, announced));
					}
				}
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
			} else if (r.loop) {
				finish(&r, status_name(ST_LIMIT), EXIT_LIMIT, r.loop);
				r.loop = NULL;
				done = true;
			} else if (over_budget(&r)) {
				done = true;
			}
		}
		jv_free(content);
		client_call_free(&call);
	}
	if (!out->text) {
		out->text = xstrdup(out->error ? out->error : "");
	} else {
		/* The verdict was read above; people and the saved result see the text without it. */
		char *clean = control_strip(out->text);
		free(out->text);
		out->text = clean;
	}
	if (jv_get_kind(out->verification) == JV_KIND_NULL &&
	    jv_array_length(jv_copy(r.checks.commands)) > 0) {
		/* Stopped before the model ended: its commands did not verify the work. */
		jv v = wf_checks_verification(&r.checks, false);
		v = jv_object_set(v, jv_string("verified"), jv_false());
		jv_free(out->verification);
		out->verification = v;
	}
	out->duration_ms = now_ms() - t0;
	buf_free(&last_text);
	jv_free(tools);
	jv_free(r.messages);
	wf_checks_free(&r.checks);
	wf_repeat_free(&r.repeat);
	free(r.loop);
}

jv agent_result_event(const struct event_ctx *ev, const struct agent_outcome *out)
{
	jv e = event_new(ev, "result");
	e = jv_object_set(e, jv_string("status"), jv_string(out->status));
	e = jv_object_set(e, jv_string("is_error"), jv_bool(strcmp(out->status, status_name(ST_COMPLETED)) != 0));
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
	if (out->tokens_saved > 0)
		e = jv_object_set(e, jv_string("tokens_saved"), jv_number((double)out->tokens_saved));
	e = jv_object_set(e, jv_string("duration_ms"), jv_number((double)out->duration_ms));
	e = jv_object_set(e, jv_string("files_changed"), jv_copy(out->files_changed));
	return e;
}
