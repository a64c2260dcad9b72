#ifndef BLLM_BATCH_H
#define BLLM_BATCH_H
/*
 * The decisions of bllm-batch, without I/O: what a task line means, which
 * ids make branch names, what one task's outcome line says, which exit
 * code a whole batch gets, and the table people read. The processes
 * (GNU parallel, git, bllm-manage) are in batchrun.h.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

#include "buf.h"

/* Branch prefix of every task: bllm/batch/ID. */
#define BATCH_BRANCH_PREFIX "bllm/batch/"

/*
 * One line of a task file. Blank lines and lines starting with '#' are no
 * task (returns 0). A line starting with '{' must be a JSON object with a
 * non-empty string "task" and optionally "id" (string or whole number);
 * any other line is the task itself. Without an id the task gets
 * default_id. Returns 1 with *task = {"id": ..., "task": ...} (owned by
 * the caller), or -1 with *err (malloc'd) saying what is wrong.
 */
int batch_parse_task_line(const char *line, size_t len, const char *default_id, jv *task, char **err);

/*
 * True when id can be a task's branch name component: 1 to 64 of
 * [A-Za-z0-9._-], not starting with '.' or '-', no "..", not ending in
 * ".lock" or '.' (git's rules for a ref component, kept simple).
 */
bool batch_id_valid(const char *id);

/* The index of the task with this id in tasks (borrowed array), or -1. */
int batch_task_index(jv tasks, const char *id);

/*
 * The documented exit code that matters more when two tasks of a batch
 * ended differently: interrupted (130) first, then usage (2),
 * configuration (5), API (4), timeout (124), limit (6), upstream (3),
 * failed (1), done (0). A code outside the table counts as 1.
 */
int batch_worse_exit(int a, int b);

/*
 * The outcome line of one task from the manager's result event (borrowed,
 * may be jv_null() when the run wrote none), the task (borrowed), the
 * program's exit code and the files the branch changed (consumed, an
 * array of paths). Fields: id, task, status, exit_code, verified, branch,
 * files_changed, cost_usd, session (the summary path or null), error
 * (when not completed). Without a result the status is "error" (or
 * "interrupted" for exit 130). Returns the line (owned by the caller).
 */
jv batch_outcome(jv task, jv result, int exit_code, jv files_changed);

/*
 * The exit code of a whole batch from its outcome lines (borrowed array):
 * 0 only when every task is completed with verified true, else the worst
 * code (batch_worse_exit), at least 1. An empty batch is 0.
 */
int batch_exit_code(jv outcomes);

/*
 * Appends the readable table of outcomes (borrowed array) to out: one row
 * per task (id, status, exit code, files changed, cost, branch) and a
 * total line (how many completed and verified, total cost).
 */
void batch_format_table(jv outcomes, struct buf *out);

/*
 * Appends s to out quoted for a POSIX shell ('...' with each ' as '\'').
 * For the command GNU parallel runs on another machine.
 */
void batch_shell_quote(const char *s, struct buf *out);

#endif
