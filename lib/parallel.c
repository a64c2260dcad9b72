/* Parallel workers in one manager turn: the decisions, without I/O. */
#include "parallel.h"

#include <string.h>

#include "buf.h"
#include "tools.h"

bool parallel_agent_writes(unsigned tools)
{
	return (tools & (TOOL_BIT(TOOL_WRITE) | TOOL_BIT(TOOL_EDIT) | TOOL_BIT(TOOL_BASH))) != 0;
}

enum parallel_mode parallel_decide(int n, int writers, bool git_ok, int max_parallel, const char **why)
{
	*why = NULL;
	if (n < 2)
		return PARALLEL_NONE;
	if (max_parallel <= 1) {
		*why = "workflow_limits.max_parallel_workers is 1: the workers run one after another";
		return PARALLEL_NONE;
	}
	if (writers == 0)
		return PARALLEL_SHARED;
	if (!git_ok) {
		*why = "the workspace is not the top of a git repository with a commit, so workers "
		       "that change files cannot each have a worktree: they run one after another";
		return PARALLEL_SEQUENTIAL;
	}
	return PARALLEL_WORKTREES;
}

void parallel_budget_share(const struct agent_budget *b, int k, struct agent_budget *share)
{
	memset(share, 0, sizeof *share);
	if (k < 1)
		k = 1;
	if (b->max_turns > 0) {
		int left = b->max_turns - b->turns;
		share->max_turns = left > k ? left / k : 1;
	}
	if (b->max_tokens > 0) {
		long left = b->max_tokens - b->tokens;
		share->max_tokens = left > k ? left / k : 1;
	}
	if (b->max_cost_usd > 0) {
		double left = b->max_cost_usd - b->cost_usd;
		share->max_cost_usd = left > 0 ? left / k : 1e-9;
	}
}

char *parallel_branch(const char *session_id, int n)
{
	return xasprintf("bllm/%s/%d", session_id, n);
}

char *parallel_merge_note(const char *worker, bool merged, jv conflicts, const char *branch,
			  const char *worktree)
{
	if (merged)
		return xasprintf("merge gate: the %s's changes were merged into the workspace.", worker);
	struct buf b = BUF_INIT;
	buf_printf(&b, "merge gate: the %s's changes were NOT merged: they conflict with changes "
		   "merged before them in this turn", worker);
	int n = jv_get_kind(conflicts) == JV_KIND_ARRAY ? jv_array_length(jv_copy(conflicts)) : 0;
	if (n > 0) {
		buf_appends(&b, ", in ");
		jv_array_foreach(conflicts, i, f) {
			buf_printf(&b, "%s%s", i ? ", " : "", jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : "?");
			jv_free(f);
		}
	}
	buf_printf(&b, ". The workspace is as it was before this merge. The %s's work is on branch %s "
		   "(worktree %s); call a coder to bring it in by hand (its changes: git show %s).",
		   worker, branch, worktree, branch);
	return buf_detach(&b);
}
