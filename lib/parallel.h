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
#include "workflow.h"

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
 * What the next of calls_left workers started side by side may spend
 * (*cap: limits only, counts 0; a limit of 0, none, stays 0): an even
 * part of what the tree's budget b (borrowed) has neither spent nor
 * reserved. The calls of a turn reserve their caps one after another in
 * the order asked (parallel_reservation, wf_budget_reserve), so together
 * they cannot spend more than was left. A part below the least a worker
 * can use (one turn; WF_MIN_REPLY_TOKENS tokens when others share) is
 * raised to that least when it is left, so earlier calls go first. false,
 * with *why (malloc'd) naming the budget, when not even that is left. With
 * calls_left 1 the cap is the whole unreserved remainder: a call made alone.
 */
bool parallel_worker_cap(const struct agent_budget *b, int calls_left, struct agent_budget *cap,
			 char **why);

/* A worker call's reservation in the tree's budget: its whole cap, turns included. */
struct wf_call_plan parallel_reservation(const struct agent_budget *cap);

/*
 * Resume: the finished worker results (replay, consumed: result events
 * with run_id) in the order the manager asked for them, from the journal
 * (events, borrowed): the manager's tool_use events give the order, the
 * worker_end events (tool_use_id, worker_run_id) tie each result to its
 * call. Workers of one turn finish in any order. Returned unchanged when
 * some result cannot be tied to a call (an @agent run, an older journal).
 */
jv parallel_replay_order(jv replay, jv events);

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
