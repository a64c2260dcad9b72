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

static void shares(void)
{
	struct agent_budget b = { .max_turns = 20, .max_tokens = 1000, .max_cost_usd = 1.0,
				  .turns = 4, .tokens = 400, .cost_usd = 0.4 };
	struct agent_budget s;
	parallel_budget_share(&b, 2, &s);
	CHECK(s.max_turns == 8);
	CHECK(s.max_tokens == 300);
	CHECK(s.max_cost_usd > 0.2999 && s.max_cost_usd < 0.3001);
	CHECK(s.turns == 0 && s.tokens == 0 && s.cost_usd == 0);
	/* the shares of k workers never add up to more than what is left */
	parallel_budget_share(&b, 3, &s);
	CHECK(3 * s.max_turns <= 16);
	CHECK(3 * s.max_tokens <= 600);
	CHECK(3 * s.max_cost_usd <= 0.6 + 1e-12);
	/* no limit stays no limit */
	struct agent_budget none = { 0 };
	parallel_budget_share(&none, 3, &s);
	CHECK(s.max_turns == 0 && s.max_tokens == 0 && s.max_cost_usd == 0);
	/* spent: each still gets the least that stops it at once */
	struct agent_budget spent = { .max_turns = 5, .turns = 5, .max_cost_usd = 1, .cost_usd = 1 };
	parallel_budget_share(&spent, 2, &s);
	CHECK(s.max_turns == 1);
	CHECK(s.max_cost_usd > 0 && s.max_cost_usd < 1e-6);
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
	UNIT_RUN(shares);
	UNIT_RUN(names_and_notes);
	return unit_done();
}
