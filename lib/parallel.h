#ifndef BLLM_PARALLEL_H
#define BLLM_PARALLEL_H
/*
 * The decisions behind parallel workers in one manager turn, without I/O:
 * whether a turn's calls may run at the same time, which workers need a
 * worktree of their own, each one's share of the budget, the branch
 * names, and what the manager model is told when a merge fails. The git
 * side is in worktree.h; the processes in manager.c.
 */
#include <stdbool.h>
#include <jv.h>

#include "agent.h"

/* True for an agent whose tools may change files (Write, Edit or Bash). */
bool parallel_agent_writes(unsigned tools);

enum parallel_mode {
	PARALLEL_NONE,		/* fewer than two calls, or max_parallel_workers 1 */
	PARALLEL_SEQUENTIAL,	/* writers without git: one after another (*why says so) */
	PARALLEL_SHARED,	/* only readers: at once, in the shared workspace */
	PARALLEL_WORKTREES,	/* at once; each writer in a worktree of its own */
};

/*
 * How a turn with n calls, writers of them writing, runs. git_ok: the
 * workspace is the top of a git work tree with a commit. *why (static)
 * explains PARALLEL_SEQUENTIAL and PARALLEL_NONE from a setting.
 */
enum parallel_mode parallel_decide(int n, int writers, bool git_ok, int max_parallel, const char **why);

/*
 * The budget a worker of k running at once may spend: what is left of the
 * tree's budget (b, borrowed) split evenly, so k workers together cannot
 * overshoot it. A limit of 0 (none) stays 0. Counts in *share start at 0.
 */
void parallel_budget_share(const struct agent_budget *b, int k, struct agent_budget *share);

/* The branch of the n-th worktree of a session: bllm/SESSION/N (malloc'd). */
char *parallel_branch(const char *session_id, int n);

/*
 * The note added to a writer's tool_result after the merge gate (malloc'd):
 * merged cleanly, or not merged because of conflicts (conflicts: borrowed
 * array of paths) with where the branch and its worktree are, so the
 * manager can ask a coder to resolve them.
 */
char *parallel_merge_note(const char *worker, bool merged, jv conflicts, const char *branch,
			  const char *worktree);

#endif
