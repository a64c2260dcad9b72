#define _DEFAULT_SOURCE	/* strcasecmp */
#include "workflow.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "json.h"

static const struct {
	const char *name, *label, *setting;
} cycles[WF_CYCLE_KINDS] = {
	[WF_CYCLE_NONE] = { "none", "None", "" },
	[WF_CYCLE_REVIEW] = { "review", "Review", "max_review_iterations" },
	[WF_CYCLE_TEST] = { "test", "Test", "max_retry_cycles" },
	[WF_CYCLE_CODER_RETRY] = { "coder_retry", "Coder retry", "max_coder_retries" },
};

void workflow_init(struct workflow *w, int max_review, int max_test, int max_coder_retries)
{
	memset(w, 0, sizeof *w);
	w->max[WF_CYCLE_REVIEW] = max_review;
	w->max[WF_CYCLE_TEST] = max_test;
	w->max[WF_CYCLE_CODER_RETRY] = max_coder_retries;
	w->verification = jv_null();
}

void workflow_free(struct workflow *w)
{
	free(w->last_call);
	free(w->last_outcome);
	free(w->stop.reason);
	jv_free(w->verification);
	memset(w, 0, sizeof *w);
}

struct wf_cycle workflow_cycle(const struct workflow *w, const char *worker)
{
	struct wf_cycle c = { .kind = WF_CYCLE_NONE };
	if (!worker || strcmp(worker, "coder") != 0 || !w->last_worker[0])
		return c;
	if (strcmp(w->last_worker, "reviewer") == 0)
		c.kind = WF_CYCLE_REVIEW;
	else if (strcmp(w->last_worker, "tester") == 0)
		c.kind = WF_CYCLE_TEST;
	else if (strcmp(w->last_worker, "coder") == 0 && w->last_status != ST_COMPLETED)
		c.kind = WF_CYCLE_CODER_RETRY;
	else
		return c;
	c.name = cycles[c.kind].name;
	c.label = cycles[c.kind].label;
	c.setting = cycles[c.kind].setting;
	c.n = w->count[c.kind] + 1;
	c.max = w->max[c.kind];
	c.refused = c.n > c.max;
	return c;
}

void workflow_cycle_start(struct workflow *w, const struct wf_cycle *c)
{
	if (c->kind != WF_CYCLE_NONE)
		w->count[c->kind] = c->n;
}

void workflow_call_admitted(struct workflow *w, const char *worker)
{
	snprintf(w->last_worker, sizeof w->last_worker, "%s", worker);
	w->last_status = ST_COMPLETED;
}

void workflow_allow_one_more(struct workflow *w, const struct wf_cycle *c)
{
	if (c->kind != WF_CYCLE_NONE)
		w->max[c->kind]++;
}

char *workflow_cycle_refusal(const struct wf_cycle *c)
{
	return xasprintf("%s cycle limit reached: %d of %d cycles (workflow_limits.%s)", c->label,
			 c->n - 1, c->max, c->setting);
}

static bool verification_ran(jv v)
{
	jv cmds = json_get(v, "commands");
	bool ran = jv_get_kind(cmds) == JV_KIND_ARRAY && jv_array_length(jv_copy(cmds)) > 0;
	jv_free(cmds);
	return ran;
}

static bool changed_files(jv result)
{
	jv files = json_get(result, "files_changed");
	bool changed = jv_get_kind(files) == JV_KIND_ARRAY && jv_array_length(jv_copy(files)) > 0;
	jv_free(files);
	return changed;
}

/* Each worker's verified is relative to its own last change (wf_checks). */
static void record_verification(struct workflow *w, jv result)
{
	jv v = json_get(result, "verification");
	bool changed = changed_files(result);
	bool ran = verification_ran(v);
	jv verified = json_get(v, "verified");
	bool passed = jv_get_kind(verified) == JV_KIND_TRUE;
	jv_free(verified);
	if (changed) {
		w->changed = true;
		w->pending = true;
	}
	if (ran) {
		w->commands_ran = true;
		jv_free(w->verification);
		w->verification = jv_copy(v);
		/* A failed check leaves the run unverified whatever came before. */
		w->pending = !passed;
	}
	jv_free(v);
}

char *workflow_record(struct workflow *w, const char *worker, const char *task, jv result)
{
	const char *status = json_str(result, "status");
	const char *text = json_str(result, "text");
	snprintf(w->last_worker, sizeof w->last_worker, "%s", worker);
	status_parse(status, &w->last_status);
	record_verification(w, result);

	char *call = xasprintf("%s\n%s", worker, task ? task : "");
	char *outcome = xasprintf("%s\n%s", status ? status : "error", text ? text : "");
	char *loop = NULL;
	if (w->last_call && strcmp(w->last_call, call) == 0 && w->last_outcome &&
	    strcmp(w->last_outcome, outcome) == 0)
		loop = xasprintf("loop: the manager called the %s twice in a row with the same task "
				 "and it finished the same way (%s)", worker,
				 status ? status : "error");
	free(w->last_call);
	free(w->last_outcome);
	w->last_call = call;
	w->last_outcome = outcome;
	return loop;
}

void workflow_set_stop(struct workflow *w, enum run_status status, int exit_code, char *reason)
{
	if (w->stopped) {
		free(reason);
		return;
	}
	w->stopped = true;
	w->stop.status = status;
	w->stop.exit_code = exit_code;
	w->stop.reason = reason;
}

bool workflow_verified(const struct workflow *w)
{
	return w->commands_ran && !w->pending;
}

jv workflow_verification(const struct workflow *w)
{
	if (!w->changed && !w->commands_ran) {
		jv v = jv_object_set(jv_object(), jv_string("verified"), jv_null());
		return jv_object_set(v, jv_string("reason"), jv_string("nothing to verify"));
	}
	jv v = jv_get_kind(w->verification) == JV_KIND_OBJECT ? jv_copy(w->verification) : jv_object();
	jv last = json_get(v, "verified");
	bool last_passed = jv_get_kind(last) == JV_KIND_TRUE;
	jv_free(last);
	v = jv_object_set(v, jv_string("verified"), jv_bool(workflow_verified(w)));
	if (!workflow_verified(w))
		v = jv_object_set(v, jv_string("reason"),
				  jv_string(!w->commands_ran ? "no command checked the changes"
					    : last_passed ? "files changed after the last passing check"
					    : "the checking commands failed"));
	return v;
}

void workflow_judge(const struct workflow *w, enum run_status status, int exit_code,
		    const char *error, struct wf_outcome *out)
{
	out->status = status;
	out->exit_code = exit_code;
	out->error = error ? xstrdup(error) : NULL;
	if (w->stopped && status == ST_COMPLETED) {
		out->status = w->stop.status;
		out->exit_code = w->stop.exit_code;
		free(out->error);
		out->error = xstrdup(w->stop.reason);
	}
	if (out->status != ST_COMPLETED || workflow_verified(w) || (!w->changed && !w->commands_ran))
		return;
	out->status = ST_FAILED;
	out->exit_code = EXIT_FAILED;
	free(out->error);
	jv v = workflow_verification(w);
	out->error = xasprintf("the work was not verified: %s", json_str(v, "reason"));
	jv_free(v);
}

void wf_checks_init(struct wf_checks *c)
{
	memset(c, 0, sizeof *c);
	c->commands = jv_array();
}

void wf_checks_free(struct wf_checks *c)
{
	jv_free(c->commands);
	memset(c, 0, sizeof *c);
}

void wf_checks_command(struct wf_checks *c, const char *command, int exit_code, bool timed_out)
{
	bool passed = exit_code == 0 && !timed_out;
	jv e = jv_object_set(jv_object(), jv_string("command"), jv_string(command ? command : ""));
	e = jv_object_set(e, jv_string("exit_code"), jv_number(exit_code));
	e = jv_object_set(e, jv_string("passed"), jv_bool(passed));
	if (timed_out)
		e = jv_object_set(e, jv_string("timed_out"), jv_true());
	c->commands = jv_array_append(c->commands, e);
	c->after_change++;
	c->after_change_passed += passed;
}

void wf_checks_change(struct wf_checks *c, jv files)
{
	if (jv_get_kind(files) != JV_KIND_ARRAY || jv_array_length(jv_copy(files)) == 0)
		return;
	c->changed = true;
	c->after_change = 0;
	c->after_change_passed = 0;
}

jv wf_checks_verification(const struct wf_checks *c, bool always)
{
	int n = jv_array_length(jv_copy(c->commands)), passed = 0;
	jv_array_foreach(c->commands, i, e) {
		jv p = json_get(e, "passed");
		passed += jv_get_kind(p) == JV_KIND_TRUE;
		jv_free(p);
		jv_free(e);
	}
	if (n == 0 && !always)
		return jv_null();
	jv v = jv_object_set(jv_object(), jv_string("commands"), jv_copy(c->commands));
	bool verified = c->after_change > 0 && c->after_change_passed == c->after_change;
	v = jv_object_set(v, jv_string("verified"), jv_bool(verified));
	v = jv_object_set(v, jv_string("tests_passed"), jv_number(passed));
	v = jv_object_set(v, jv_string("tests_failed"), jv_number(n - passed));
	return v;
}

int wf_repeat_note(struct wf_repeat *r, const char *name, jv input)
{
	struct buf b = BUF_INIT;
	for (const char *p = name ? name : ""; *p; p++)
		buf_appendc(&b, (char)tolower((unsigned char)*p));
	jv s = jv_dump_string(jv_copy(input), JV_PRINT_SORTED);
	buf_printf(&b, "\n%s", jv_string_value(s));
	jv_free(s);
	char *key = buf_detach(&b);
	if (r->key && strcmp(r->key, key) == 0) {
		free(key);
		return ++r->count;
	}
	free(r->key);
	r->key = key;
	return r->count = 1;
}

void wf_repeat_free(struct wf_repeat *r)
{
	free(r->key);
	memset(r, 0, sizeof *r);
}

long wf_input_tokens_estimate(size_t request_bytes)
{
	return (long)((request_bytes + 1) / 2);
}

/* $ of a call's worst case: every input token written to the prompt cache. */
static double worst_cost(const struct anth_price *p, long input, long output)
{
	double in = p->input > p->cache_write ? p->input : p->cache_write;
	return ((double)input * in + (double)output * p->output) / 1e6;
}

enum wf_call_verdict wf_budget_plan(const struct agent_budget *b, const struct anth_price *price,
				    long input_tokens, long max_tokens, struct wf_call_plan *plan,
				    char **why)
{
	*why = NULL;
	plan->max_tokens = max_tokens;
	plan->turns = 1;
	if (wf_budget_spent(b, why))
		return WF_CALL_REFUSED;
	long allowed = max_tokens;
	const char *which = NULL;
	if (b->max_tokens > 0) {
		long left = b->max_tokens - b->tokens - b->reserved_tokens - input_tokens;
		if (left < allowed) {
			allowed = left;
			which = "token";
		}
	}
	if (b->max_cost_usd > 0) {
		if (!price) {
			*why = xasprintf("cost budget: the model has no price, so a call's cost cannot "
					 "be bounded (add it to the \"pricing\" table)");
			return WF_CALL_REFUSED;
		}
		double left = b->max_cost_usd - b->cost_usd - b->reserved_cost_usd -
			      worst_cost(price, input_tokens, 0);
		double out = price->output > 0 ? floor(left * 1e6 / price->output) : (double)max_tokens;
		if (out < (double)allowed) {
			allowed = out < 0 ? -1 : (long)out;
			which = "cost";
		}
	}
	plan->max_tokens = allowed < max_tokens ? allowed : max_tokens;
	plan->tokens = input_tokens + (plan->max_tokens > 0 ? plan->max_tokens : 0);
	plan->cost_usd = price ? worst_cost(price, input_tokens, plan->max_tokens > 0 ? plan->max_tokens : 0) : 0;
	if (!which)
		return WF_CALL_OK;
	if (allowed >= WF_MIN_REPLY_TOKENS)
		return WF_CALL_LOWERED;
	if (strcmp(which, "token") == 0)
		*why = xasprintf("token budget: %ld of %ld tokens left, not enough for a call of about "
				 "%ld input tokens and a %d-token reply (raise --max-tokens)",
				 b->max_tokens - b->tokens - b->reserved_tokens, b->max_tokens,
				 input_tokens, WF_MIN_REPLY_TOKENS);
	else
		*why = xasprintf("cost budget: $%.4f of $%.4f left, not enough for a call of about "
				 "%ld input tokens and a %d-token reply (raise --max-cost-usd)",
				 b->max_cost_usd - b->cost_usd - b->reserved_cost_usd, b->max_cost_usd,
				 input_tokens, WF_MIN_REPLY_TOKENS);
	return WF_CALL_REFUSED;
}

static int plan_turns(const struct wf_call_plan *plan)
{
	return plan->turns > 1 ? plan->turns : 1;
}

void wf_budget_reserve(struct agent_budget *b, const struct wf_call_plan *plan)
{
	b->reserved_turns += plan_turns(plan);
	b->reserved_tokens += plan->tokens;
	b->reserved_cost_usd += plan->cost_usd;
}

void wf_budget_settle(struct agent_budget *b, const struct wf_call_plan *plan, long tokens,
		      double cost_usd)
{
	wf_budget_release(b, plan);
	b->turns++;
	b->tokens += tokens;
	b->cost_usd += cost_usd;
}

void wf_budget_release(struct agent_budget *b, const struct wf_call_plan *plan)
{
	b->reserved_turns -= plan_turns(plan);
	b->reserved_tokens -= plan->tokens;
	b->reserved_cost_usd -= plan->cost_usd;
}

bool wf_budget_spent(const struct agent_budget *b, char **why)
{
	if (b->max_turns > 0 && b->turns + b->reserved_turns >= b->max_turns) {
		*why = xasprintf("turn budget spent: %d of %d turns (raise --max-turns)", b->turns,
				 b->max_turns);
		return true;
	}
	if (b->max_tokens > 0 && b->tokens + b->reserved_tokens >= b->max_tokens) {
		*why = xasprintf("token budget spent: %ld of %ld tokens used (raise --max-tokens)",
				 b->tokens, b->max_tokens);
		return true;
	}
	if (b->max_cost_usd > 0 && b->cost_usd + b->reserved_cost_usd >= b->max_cost_usd) {
		*why = xasprintf("cost budget spent: $%.4f of $%.4f (raise --max-cost-usd)",
				 b->cost_usd, b->max_cost_usd);
		return true;
	}
	return false;
}

bool wf_replay_matches(jv entry, const char *worker, const char *task)
{
	(void)task;
	const char *agent = json_str(entry, "agent");
	return agent && worker && strcmp(agent, worker) == 0;
}
