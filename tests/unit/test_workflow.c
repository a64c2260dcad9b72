/* The workflow's rules (lib/workflow.c): cycles, loops, verification, the final word, budgets, replay. */
#include "workflow.h"
#include "unit.h"

#include <math.h>

#include "buf.h"
#include "json.h"

/* A worker result event from JSON text. */
static jv R(const char *json)
{
	return jv_parse(json);
}

/* Records result text for worker (task "t"); returns the loop message, if any. */
static char *record(struct workflow *w, const char *worker, const char *json)
{
	jv r = R(json);
	char *loop = workflow_record(w, worker, "t", r);
	jv_free(r);
	return loop;
}

static void rec(struct workflow *w, const char *worker, const char *json)
{
	free(record(w, worker, json));
}

static void test_coder_after_reviewer_is_a_review_cycle_whatever_the_words(void)
{
	struct workflow w;
	workflow_init(&w, 2, 3, 2);
	CHECK(workflow_cycle(&w, "coder").kind == WF_CYCLE_NONE);
	rec(&w, "coder", "{\"status\":\"completed\"}");
	CHECK(workflow_cycle(&w, "reviewer").kind == WF_CYCLE_NONE);
	/* an objection worded without a VERDICT line, reported as completed */
	rec(&w, "reviewer", "{\"status\":\"completed\",\"text\":\"please rename x\"}");
	struct wf_cycle c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_REVIEW);
	CHECK_STR(c.name, "review");
	CHECK(c.n == 1 && c.max == 2 && !c.refused);
	workflow_cycle_start(&w, &c);
	rec(&w, "coder", "{\"status\":\"completed\"}");
	rec(&w, "reviewer", "{\"status\":\"failed\",\"verdict\":\"changes_requested\"}");
	c = workflow_cycle(&w, "coder");
	CHECK(c.n == 2 && !c.refused);
	workflow_cycle_start(&w, &c);
	rec(&w, "coder", "{\"status\":\"completed\"}");
	rec(&w, "reviewer", "{\"status\":\"completed\"}");
	c = workflow_cycle(&w, "coder");
	CHECK(c.refused);
	char *msg = workflow_cycle_refusal(&c);
	CHECK_STR(msg, "Review cycle limit reached: 2 of 2 cycles (workflow_limits.max_review_iterations)");
	free(msg);
	workflow_allow_one_more(&w, &c);
	c = workflow_cycle(&w, "coder");
	CHECK(!c.refused && c.n == 3 && c.max == 3);
	workflow_free(&w);
}

static void test_coder_after_tester_is_a_test_cycle(void)
{
	struct workflow w;
	workflow_init(&w, 3, 1, 2);
	rec(&w, "tester", "{\"status\":\"completed\"}");
	struct wf_cycle c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_TEST);
	CHECK_STR(c.setting, "max_retry_cycles");
	workflow_cycle_start(&w, &c);
	rec(&w, "coder", "{\"status\":\"completed\"}");
	rec(&w, "tester", "{\"status\":\"failed\"}");
	CHECK(workflow_cycle(&w, "coder").refused);
	/* only the coder starts cycles */
	CHECK(workflow_cycle(&w, "tester").kind == WF_CYCLE_NONE);
	workflow_free(&w);
}

static void test_coder_after_failed_coder_is_a_retry(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 1);
	rec(&w, "coder", "{\"status\":\"completed\"}");
	CHECK(workflow_cycle(&w, "coder").kind == WF_CYCLE_NONE);
	rec(&w, "coder", "{\"status\":\"error\"}");
	struct wf_cycle c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_CODER_RETRY && !c.refused);
	workflow_cycle_start(&w, &c);
	rec(&w, "coder", "{\"status\":\"failed\"}");
	CHECK(workflow_cycle(&w, "coder").refused);
	workflow_free(&w);
}

static void test_calls_side_by_side_count_in_the_order_asked(void)
{
	struct workflow w;
	workflow_init(&w, 1, 3, 0);
	rec(&w, "reviewer", "{\"status\":\"failed\"}");
	/* two coders at once after a review: one review cycle, as one after another */
	struct wf_cycle c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_REVIEW && c.n == 1 && !c.refused);
	workflow_cycle_start(&w, &c);
	workflow_call_admitted(&w, "coder");
	c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_NONE);
	workflow_call_admitted(&w, "coder");
	/* a coder asked after a tester of the same turn starts a test cycle */
	workflow_call_admitted(&w, "tester");
	CHECK(workflow_cycle(&w, "coder").kind == WF_CYCLE_TEST);
	/* the results, recorded in the order asked, decide what comes next */
	rec(&w, "coder", "{\"status\":\"completed\"}");
	rec(&w, "coder", "{\"status\":\"error\"}");
	c = workflow_cycle(&w, "coder");
	CHECK(c.kind == WF_CYCLE_CODER_RETRY && c.refused);
	workflow_free(&w);
}

static void test_same_call_same_outcome_twice_is_a_loop(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	char *loop = record(&w, "planner", "{\"status\":\"completed\",\"text\":\"plan A\"}");
	CHECK(loop == NULL);
	loop = record(&w, "planner", "{\"status\":\"completed\",\"text\":\"plan B\"}");
	CHECK(loop == NULL); /* finished differently */
	loop = record(&w, "planner", "{\"status\":\"completed\",\"text\":\"plan B\"}");
	CHECK(loop != NULL);
	CHECK(loop && strstr(loop, "planner") && strstr(loop, "twice in a row"));
	free(loop);
	/* another task is another call */
	jv r = R("{\"status\":\"completed\",\"text\":\"plan B\"}");
	loop = workflow_record(&w, "planner", "other", r);
	CHECK(loop == NULL);
	jv_free(r);
	workflow_free(&w);
}

static void test_nothing_to_verify_completes(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	rec(&w, "planner", "{\"status\":\"completed\",\"verification\":null,\"files_changed\":[]}");
	struct wf_outcome o;
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_COMPLETED && o.exit_code == 0 && o.error == NULL);
	jv v = workflow_verification(&w);
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_NULL);
	CHECK_STR(json_str(v, "reason"), "nothing to verify");
	jv_free(v);
	free(o.error);
	workflow_free(&w);
}

static void test_coder_own_passing_check_verifies(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	rec(&w, "coder", "{\"status\":\"completed\",\"files_changed\":[\"a.c\"],"
			 "\"verification\":{\"commands\":[{\"command\":\"make test\",\"exit_code\":0,\"passed\":true}],\"verified\":true}}");
	CHECK(workflow_verified(&w));
	struct wf_outcome o;
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_COMPLETED && o.exit_code == 0);
	free(o.error);
	workflow_free(&w);
}

static void test_changes_without_a_later_check_are_unverified(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	rec(&w, "tester", "{\"status\":\"completed\",\"verification\":{\"commands\":[{\"passed\":true}],\"verified\":true}}");
	rec(&w, "coder", "{\"status\":\"completed\",\"files_changed\":[\"a.c\"],\"verification\":null}");
	CHECK(!workflow_verified(&w));
	struct wf_outcome o;
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_FAILED && o.exit_code == 1);
	CHECK(o.error && strstr(o.error, "changed after the last passing check"));
	free(o.error);
	/* then a tester passes: verified */
	rec(&w, "tester", "{\"status\":\"completed\",\"verification\":{\"commands\":[{\"passed\":true}],\"verified\":true}}");
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_COMPLETED);
	free(o.error);
	/* a coder with no check at all */
	workflow_free(&w);
	workflow_init(&w, 3, 3, 3);
	rec(&w, "coder", "{\"status\":\"completed\",\"files_changed\":[\"a.c\"]}");
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_FAILED);
	CHECK(o.error && strstr(o.error, "no command checked"));
	free(o.error);
	workflow_free(&w);
}

static void test_failed_checks_fail_the_run(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	rec(&w, "tester", "{\"status\":\"failed\",\"verification\":{\"commands\":[{\"passed\":false}],\"verified\":false}}");
	struct wf_outcome o;
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_FAILED && o.exit_code == 1);
	CHECK(o.error && strstr(o.error, "commands failed"));
	free(o.error);
	workflow_free(&w);
}

static void test_a_stop_wins_over_completed(void)
{
	struct workflow w;
	workflow_init(&w, 3, 3, 3);
	workflow_set_stop(&w, ST_LIMIT, 6, xstrdup("loop: x"));
	workflow_set_stop(&w, ST_TIMEOUT, 124, xstrdup("later"));
	struct wf_outcome o;
	workflow_judge(&w, ST_COMPLETED, 0, NULL, &o);
	CHECK(o.status == ST_LIMIT && o.exit_code == 6);
	CHECK_STR(o.error, "loop: x");
	free(o.error);
	/* the manager's own failure is kept */
	workflow_judge(&w, ST_ERROR, 4, "api down", &o);
	CHECK(o.status == ST_ERROR && o.exit_code == 4);
	CHECK_STR(o.error, "api down");
	free(o.error);
	workflow_free(&w);
}

static void test_checks_follow_the_last_change(void)
{
	struct wf_checks c;
	wf_checks_init(&c);
	jv v = wf_checks_verification(&c, false);
	CHECK(jv_get_kind(v) == JV_KIND_NULL);
	jv_free(v);
	v = wf_checks_verification(&c, true); /* the tester always reports */
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_FALSE);
	jv_free(v);
	jv files = jv_parse("[\"a.c\"]");
	wf_checks_command(&c, "make test", 2, false);
	wf_checks_change(&c, files);
	wf_checks_command(&c, "make test", 0, false);
	v = wf_checks_verification(&c, false);
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_TRUE);
	CHECK(json_num(v, "tests_failed", -1) == 1);
	jv_free(v);
	wf_checks_change(&c, files);
	v = wf_checks_verification(&c, false);
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_FALSE);
	jv_free(v);
	jv empty = jv_array();
	wf_checks_command(&c, "true", 0, false);
	wf_checks_change(&c, empty);
	wf_checks_command(&c, "sleep 9", 0, true); /* a timed-out command never passes */
	v = wf_checks_verification(&c, false);
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_FALSE);
	jv_free(v);
	jv_free(empty);
	jv_free(files);
	wf_checks_free(&c);
	/* nothing changed: every command must pass */
	wf_checks_init(&c);
	wf_checks_command(&c, "exit 1", 1, false);
	wf_checks_command(&c, "true", 0, false);
	v = wf_checks_verification(&c, false);
	CHECK(jv_get_kind(json_get(v, "verified")) == JV_KIND_FALSE);
	jv_free(v);
	wf_checks_free(&c);
}

static void test_repeated_tool_calls(void)
{
	struct wf_repeat r = { 0 };
	jv a = jv_parse("{\"command\":\"ls\",\"timeout\":5}");
	jv a2 = jv_parse("{\"timeout\":5,\"command\":\"ls\"}");
	jv b = jv_parse("{\"command\":\"pwd\"}");
	CHECK(wf_repeat_note(&r, "Bash", a) == 1);
	CHECK(wf_repeat_note(&r, "bash", a2) == 2); /* spelling and key order do not matter */
	CHECK(wf_repeat_note(&r, "Bash", b) == 1);
	CHECK(wf_repeat_note(&r, "Bash", a) == 1);
	CHECK(wf_repeat_note(&r, "Bash", a) == 2);
	CHECK(wf_repeat_note(&r, "Bash", a) == WF_REPEAT_LIMIT);
	CHECK(wf_repeat_note(&r, "Read", a) == 1);
	wf_repeat_free(&r);
	jv_free(a);
	jv_free(a2);
	jv_free(b);
}

static void test_budget_fits_lowers_or_refuses(void)
{
	struct anth_price p = { .input = 3, .output = 15, .cache_write = 3.75, .cache_read = 0.3 };
	struct agent_budget b = { .max_cost_usd = 0.01 };
	struct wf_call_plan plan;
	char *why = NULL;
	/* 1000 input tokens at 3.75 = $0.00375; the $0.00625 left pays 416 output
	 * tokens at 15, below a useful reply: refused */
	CHECK(wf_budget_plan(&b, &p, 1000, 8192, &plan, &why) == WF_CALL_REFUSED);
	CHECK(plan.max_tokens == 416);
	CHECK(why && strstr(why, "cost budget: $0.0100 of $0.0100 left"));
	free(why);
	why = NULL;
	/* with more left, max_tokens is lowered to what the remainder pays */
	b.max_cost_usd = 0.05;
	CHECK(wf_budget_plan(&b, &p, 1000, 8192, &plan, &why) == WF_CALL_LOWERED);
	CHECK(plan.max_tokens == 3083);
	CHECK(plan.cost_usd <= 0.05 + 1e-12);
	b.cost_usd = 0.04;
	CHECK(wf_budget_plan(&b, &p, 1000, 8192, &plan, &why) == WF_CALL_REFUSED);
	CHECK(why && strstr(why, "cost budget") && strstr(why, "$0.0100 of $0.0500 left"));
	free(why);
	/* tokens */
	struct agent_budget t = { .max_tokens = 10000 };
	CHECK(wf_budget_plan(&t, NULL, 1000, 4096, &plan, &why) == WF_CALL_OK);
	CHECK(plan.max_tokens == 4096 && plan.tokens == 5096);
	wf_budget_reserve(&t, &plan);
	/* a call side by side sees the reservation */
	CHECK(wf_budget_plan(&t, NULL, 1000, 4096, &plan, &why) == WF_CALL_LOWERED);
	CHECK(plan.max_tokens == 10000 - 5096 - 1000);
	struct wf_call_plan first = { .max_tokens = 4096, .tokens = 5096 };
	wf_budget_settle(&t, &first, 1200, 0);
	CHECK(t.tokens == 1200 && t.reserved_tokens == 0 && t.turns == 1 && t.reserved_turns == 0);
	t.tokens = 8500;
	CHECK(wf_budget_plan(&t, NULL, 1000, 4096, &plan, &why) == WF_CALL_REFUSED);
	CHECK(why && strstr(why, "token budget") && strstr(why, "1500 of 10000 tokens left"));
	free(why);
	/* no price and a cost budget: refused, naming the pricing table */
	struct agent_budget c = { .max_cost_usd = 1 };
	CHECK(wf_budget_plan(&c, NULL, 10, 100, &plan, &why) == WF_CALL_REFUSED);
	CHECK(why && strstr(why, "pricing"));
	free(why);
	/* turns */
	struct agent_budget u = { .max_turns = 2, .turns = 1, .reserved_turns = 1 };
	CHECK(wf_budget_plan(&u, NULL, 10, 100, &plan, &why) == WF_CALL_REFUSED);
	CHECK(why && strstr(why, "turn budget"));
	free(why);
	/* a worker call reserves all the turns it may take, and gives them back */
	struct agent_budget w = { .max_turns = 10 };
	struct wf_call_plan worker = { .tokens = 0, .turns = 4 };
	wf_budget_reserve(&w, &worker);
	CHECK(w.reserved_turns == 4);
	wf_budget_release(&w, &worker);
	CHECK(w.reserved_turns == 0 && w.turns == 0);
	CHECK(wf_budget_plan(&w, NULL, 10, 100, &plan, &why) == WF_CALL_OK && plan.turns == 1);
}

static void test_input_estimate_is_generous(void)
{
	CHECK(wf_input_tokens_estimate(0) == 0);
	CHECK(wf_input_tokens_estimate(4000) == 2000);
	CHECK(wf_input_tokens_estimate(3) == 2);
}

static void test_replay_matches_the_worker(void)
{
	jv e = jv_parse("{\"agent\":\"coder\",\"task\":\"fix it\",\"status\":\"completed\"}");
	CHECK(wf_replay_matches(e, "coder", "fix it"));
	CHECK(wf_replay_matches(e, "coder", "fix it, worded anew"));
	CHECK(!wf_replay_matches(e, "tester", "fix it"));
	jv_free(e);
	e = jv_parse("{\"agent\":\"coder\",\"status\":\"completed\"}"); /* an older journal */
	CHECK(wf_replay_matches(e, "coder", "anything"));
	jv_free(e);
}

int main(void)
{
	UNIT_RUN(test_coder_after_reviewer_is_a_review_cycle_whatever_the_words);
	UNIT_RUN(test_coder_after_tester_is_a_test_cycle);
	UNIT_RUN(test_coder_after_failed_coder_is_a_retry);
	UNIT_RUN(test_calls_side_by_side_count_in_the_order_asked);
	UNIT_RUN(test_same_call_same_outcome_twice_is_a_loop);
	UNIT_RUN(test_nothing_to_verify_completes);
	UNIT_RUN(test_coder_own_passing_check_verifies);
	UNIT_RUN(test_changes_without_a_later_check_are_unverified);
	UNIT_RUN(test_failed_checks_fail_the_run);
	UNIT_RUN(test_a_stop_wins_over_completed);
	UNIT_RUN(test_checks_follow_the_last_change);
	UNIT_RUN(test_repeated_tool_calls);
	UNIT_RUN(test_budget_fits_lowers_or_refuses);
	UNIT_RUN(test_input_estimate_is_generous);
	UNIT_RUN(test_replay_matches_the_worker);
	return unit_done();
}
