/* Parallel workers in one manager turn: the decisions, without I/O. */
#include "parallel.h"

#include <string.h>

#include "buf.h"
#include "json.h"
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

static bool part_of(double left, int k, double least, double *part)
{
	*part = left / k;
	if (*part < least)
		*part = least;
	return left >= least;
}

bool parallel_worker_cap(const struct agent_budget *b, int calls_left, struct agent_budget *cap,
			 char **why)
{
	memset(cap, 0, sizeof *cap);
	*why = NULL;
	int k = calls_left > 1 ? calls_left : 1;
	double part;
	if (b->max_turns > 0) {
		int left = b->max_turns - b->turns - b->reserved_turns;
		if (!part_of(left, k, 1, &part)) {
			*why = xasprintf("turn budget spent: %d of %d turns used or held by workers under "
					 "way (raise --max-turns)", b->max_turns - (left > 0 ? left : 0),
					 b->max_turns);
			return false;
		}
		cap->max_turns = (int)part;
	}
	if (b->max_tokens > 0) {
		long left = b->max_tokens - b->tokens - b->reserved_tokens;
		/* Alone, a call gets whatever is left: the worker's own check refuses a
		 * reply too short, naming its budget, as for any call. */
		if (!part_of((double)left, k, k > 1 ? WF_MIN_REPLY_TOKENS : 1, &part)) {
			*why = xasprintf("token budget: %ld of %ld tokens left, too few for another worker "
					 "(raise --max-tokens)", left > 0 ? left : 0, b->max_tokens);
			return false;
		}
		cap->max_tokens = (long)part;
	}
	if (b->max_cost_usd > 0) {
		double left = b->max_cost_usd - b->cost_usd - b->reserved_cost_usd;
		if (left <= 0) {
			*why = xasprintf("cost budget spent: $%.4f of $%.4f used or held by workers under "
					 "way (raise --max-cost-usd)", b->max_cost_usd - left, b->max_cost_usd);
			return false;
		}
		cap->max_cost_usd = left / k;
	}
	return true;
}

struct wf_call_plan parallel_reservation(const struct agent_budget *cap)
{
	struct wf_call_plan p = { .max_tokens = cap->max_tokens, .tokens = cap->max_tokens,
				  .cost_usd = cap->max_cost_usd, .turns = cap->max_turns };
	return p;
}

/* The position of tool_use_id in the manager's order, or -1. */
static int asked_at(jv order, const char *use)
{
	int at = -1;
	jv_array_foreach(order, i, u) {
		if (at < 0 && use && strcmp(jv_string_value(u), use) == 0)
			at = i;
		jv_free(u);
	}
	return at;
}

jv parallel_replay_order(jv replay, jv events)
{
	jv order = jv_array(), use_of = jv_object();
	jv_array_foreach(events, i, ev) {
		const char *type = json_str(ev, "type"), *agent = json_str(ev, "agent");
		const char *use = json_str(ev, "tool_use_id"), *run = json_str(ev, "worker_run_id");
		if (type && agent && use && strcmp(type, "tool_use") == 0 && strcmp(agent, "manager") == 0)
			order = jv_array_append(order, jv_string(use));
		if (type && use && run && strcmp(type, "worker_end") == 0)
			use_of = jv_object_set(use_of, jv_string(run), jv_string(use));
		jv_free(ev);
	}
	int n = jv_array_length(jv_copy(replay));
	jv keyed = jv_array();
	bool placed = true;
	jv_array_foreach(replay, i, r) {
		const char *run = json_str(r, "run_id");
		int at = run ? asked_at(order, json_str(use_of, run)) : -1;
		placed = placed && at >= 0;
		/* [position asked, position in the journal, result]: a stable sort. */
		keyed = jv_array_append(keyed, JV_ARRAY(jv_number(at), jv_number(i), r));
	}
	jv_free(order);
	jv_free(use_of);
	if (!placed || n < 2) {
		jv_free(keyed);
		return replay;
	}
	jv_free(replay);
	jv sorted = jv_sort(keyed, jv_copy(keyed)), out = jv_array();
	jv_array_foreach(sorted, i, k) {
		out = jv_array_append(out, jv_array_get(k, 2));
	}
	jv_free(sorted);
	return out;
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
