/* Parallel workers (lib/parallel.c): the mode of a turn, budget shares, notes. */
#include "parallel.h"
#include "unit.h"

#include "tools.h"

static void writers(void)
{
	CHECK(parallel_agent_writes(TOOL_BIT(TOOL_WRITE)));
	CHECK(parallel_agent_writes(TOOL_BIT(TOOL_READ) | TOOL_BIT(TOOL_EDIT)));
	CHECK(parallel_agent_writes(TOOL_BIT(TOOL_BASH)));
	CHECK(!parallel_agent_writes(TOOL_BIT(TOOL_READ) | TOOL_BIT(TOOL_GLOB) | TOOL_BIT(TOOL_GREP)));
	CHECK(!parallel_agent_writes(0));
}

static void modes(void)
{
	const char *why;
	CHECK(parallel_decide(1, 1, true, 3, &why) == PARALLEL_NONE && !why);
	CHECK(parallel_decide(0, 0, true, 3, &why) == PARALLEL_NONE);
	CHECK(parallel_decide(2, 2, true, 1, &why) == PARALLEL_NONE && why && strstr(why, "max_parallel_workers"));
	CHECK(parallel_decide(2, 0, false, 3, &why) == PARALLEL_SHARED && !why);
	CHECK(parallel_decide(3, 1, false, 3, &why) == PARALLEL_SEQUENTIAL && why && strstr(why, "not the top of a git"));
	CHECK(parallel_decide(2, 2, true, 3, &why) == PARALLEL_WORKTREES && !why);
	CHECK(parallel_decide(5, 1, true, 2, &why) == PARALLEL_WORKTREES);
}

static void caps(void)
{
	char *why = NULL;
	struct agent_budget b = { .max_turns = 20, .max_tokens = 10000, .max_cost_usd = 1.0,
				  .turns = 4, .tokens = 4000, .cost_usd = 0.4 };
	struct agent_budget c;
	CHECK(parallel_worker_cap(&b, 2, &c, &why) && !why);
	CHECK(c.max_turns == 8);
	CHECK(c.max_tokens == 3000);
	CHECK(c.max_cost_usd > 0.2999 && c.max_cost_usd < 0.3001);
	CHECK(c.turns == 0 && c.tokens == 0 && c.cost_usd == 0 && c.reserved_turns == 0);
	/* alone: the whole unreserved remainder, as a call made by itself */
	CHECK(parallel_worker_cap(&b, 1, &c, &why));
	CHECK(c.max_turns == 16 && c.max_tokens == 6000);
	/* three calls reserving their caps in the order asked never hold more than was left */
	struct agent_budget t = b;
	struct wf_call_plan p[3];
	for (int i = 0; i < 3; i++) {
		CHECK(parallel_worker_cap(&t, 3 - i, &c, &why));
		p[i] = parallel_reservation(&c);
		CHECK(p[i].turns == c.max_turns && p[i].tokens == c.max_tokens);
		wf_budget_reserve(&t, &p[i]);
	}
	CHECK(t.turns + t.reserved_turns <= t.max_turns);
	CHECK(t.tokens + t.reserved_tokens <= t.max_tokens);
	CHECK(t.cost_usd + t.reserved_cost_usd <= t.max_cost_usd + 1e-12);
	CHECK(wf_budget_spent(&t, &why));
	free(why);
	why = NULL;
	/* another call now: refused, naming the budget */
	CHECK(!parallel_worker_cap(&t, 1, &c, &why) && why && strstr(why, "turn budget"));
	free(why);
	why = NULL;
	for (int i = 0; i < 3; i++)
		wf_budget_release(&t, &p[i]);
	CHECK(t.reserved_turns == 0 && t.reserved_tokens == 0 && t.reserved_cost_usd < 1e-12);
	/* too little for an even part: the earlier calls take the least, the last is refused */
	struct agent_budget few = { .max_turns = 3, .turns = 1 };
	CHECK(parallel_worker_cap(&few, 3, &c, &why) && c.max_turns == 1);
	struct wf_call_plan q = parallel_reservation(&c);
	wf_budget_reserve(&few, &q);
	CHECK(parallel_worker_cap(&few, 2, &c, &why) && c.max_turns == 1);
	q = parallel_reservation(&c);
	wf_budget_reserve(&few, &q);
	CHECK(!parallel_worker_cap(&few, 1, &c, &why) && why);
	free(why);
	why = NULL;
	struct agent_budget tok = { .max_tokens = 1500 };
	CHECK(parallel_worker_cap(&tok, 2, &c, &why) && c.max_tokens == WF_MIN_REPLY_TOKENS);
	tok.tokens = 1000;
	CHECK(!parallel_worker_cap(&tok, 2, &c, &why) && why && strstr(why, "token budget"));
	free(why);
	why = NULL;
	/* alone, what is left, however little: the worker's own check decides */
	CHECK(parallel_worker_cap(&tok, 1, &c, &why) && c.max_tokens == 500);
	tok.tokens = 1500;
	CHECK(!parallel_worker_cap(&tok, 1, &c, &why) && why && strstr(why, "token budget"));
	free(why);
	why = NULL;
	/* no limit stays no limit */
	struct agent_budget none = { 0 };
	CHECK(parallel_worker_cap(&none, 3, &c, &why));
	CHECK(c.max_turns == 0 && c.max_tokens == 0 && c.max_cost_usd == 0);
	struct agent_budget spent = { .max_cost_usd = 1, .cost_usd = 0.5, .reserved_cost_usd = 0.5 };
	CHECK(!parallel_worker_cap(&spent, 1, &c, &why) && why && strstr(why, "cost budget"));
	free(why);
}

static jv ev(const char *json)
{
	return jv_parse(json);
}

static void replay_order(void)
{
	/* b finished first, but a was asked first */
	jv events = JV_ARRAY(ev("{\"type\":\"tool_use\",\"agent\":\"manager\",\"tool_use_id\":\"ta\"}"),
			     ev("{\"type\":\"tool_use\",\"agent\":\"manager\",\"tool_use_id\":\"tb\"}"),
			     ev("{\"type\":\"worker_end\",\"tool_use_id\":\"tb\",\"worker_run_id\":\"rb\"}"),
			     ev("{\"type\":\"worker_end\",\"tool_use_id\":\"ta\",\"worker_run_id\":\"ra\"}"));
	jv replay = JV_ARRAY(ev("{\"run_id\":\"rb\",\"agent\":\"coder\"}"),
			     ev("{\"run_id\":\"ra\",\"agent\":\"planner\"}"));
	jv got = parallel_replay_order(replay, events);
	jv want = JV_ARRAY(ev("{\"run_id\":\"ra\",\"agent\":\"planner\"}"),
			   ev("{\"run_id\":\"rb\",\"agent\":\"coder\"}"));
	CHECK(jv_equal(jv_copy(got), want));
	jv_free(got);
	/* a result tied to no call (an @agent run): the journal's order stays */
	replay = JV_ARRAY(ev("{\"run_id\":\"rb\"}"), ev("{\"run_id\":\"rx\"}"));
	got = parallel_replay_order(jv_copy(replay), events);
	CHECK(jv_equal(got, replay));
	jv_free(events);
}

static void names_and_notes(void)
{
	char *b = parallel_branch("20261202-101010-abcdef", 2);
	CHECK_STR(b, "bllm/20261202-101010-abcdef/2");
	free(b);
	char *n = parallel_merge_note("coder", true, jv_null(), "bllm/s/1", "/w/1");
	CHECK_STR(n, "merge gate: the coder's changes were merged into the workspace.");
	free(n);
	jv files = jv_parse("[\"f.txt\",\"src/x.c\"]");
	n = parallel_merge_note("coder", false, files, "bllm/s/2", "/r/.git/bllm/s/2");
	CHECK_STR(n, "merge gate: the coder's changes were NOT merged: they conflict with changes merged "
		     "before them in this turn, in f.txt, src/x.c. The workspace is as it was before this "
		     "merge. The coder's work is on branch bllm/s/2 (worktree /r/.git/bllm/s/2); call a coder "
		     "to bring it in by hand (its changes: git show bllm/s/2).");
	free(n);
	jv_free(files);
}

int main(void)
{
	UNIT_RUN(writers);
	UNIT_RUN(modes);
	UNIT_RUN(caps);
	UNIT_RUN(replay_order);
	UNIT_RUN(names_and_notes);
	return unit_done();
}
