#ifndef BLLM_CMD_H
#define BLLM_CMD_H
/*
 * Running helper programs (git, GNU parallel, tar) to completion from
 * bllm-batch and the manager's worktrees: argv, no shell unless asked,
 * stdout captured or discarded, stderr inherited, EINTR survived.
 */
#include <stdbool.h>
#include <sys/types.h>

#include "buf.h"

/*
 * Starts argv (NULL-terminated, found on PATH) in dir (NULL: here) with
 * stdin from in_fd (-1: /dev/null) and stdout into a pipe whose read end
 * goes to *out_fd (or /dev/null when out_fd is NULL). own_group: in a
 * process group of its own. Returns the pid, or -1.
 */
pid_t cmd_spawn(char *const argv[], const char *dir, int in_fd, int *out_fd, bool own_group);

/* Waits for pid through EINTR: its exit code, 128+N when killed by signal N. */
int cmd_wait(pid_t pid);

/* Runs argv to completion, its stdout into out (or discarded). The exit code; 127: not started. */
int cmd_run_argv(char *const argv[], const char *dir, int in_fd, struct buf *out);

/* cmd_run_argv over a NULL-terminated list of at most 63 arguments. */
int cmd_run(const char *dir, struct buf *out, const char *arg0, ...);

/* `sh -c SCRIPT sh A1 A2` (A1, A2 may be NULL): for pipelines. */
int cmd_run_sh(const char *script, int in_fd, struct buf *out, const char *a1, const char *a2);

/*
 * cmd_run_argv for a git command that changes the list of worktrees,
 * holding a lock in git_dir meanwhile: `git worktree add` run by several
 * processes at once (bllm-batch's tasks, their managers) trips over itself.
 */
int cmd_run_locked(const char *git_dir, char *const argv[], const char *dir);

/* Removes trailing newlines from b. */
void cmd_chomp(struct buf *b);

#endif
