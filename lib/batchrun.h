#ifndef BLLM_BATCHRUN_H
#define BLLM_BATCHRUN_H
/*
 * The processes of bllm-batch: GNU parallel hands each task to
 * `bllm-batch --run-one`, which runs one bllm-manage in a worktree (or,
 * on another machine, a clone of the shipped bundle) on the branch
 * bllm/batch/ID and commits what it changed there. The decisions are in
 * batch.h.
 *
 * Where things go: each task's event stream is SESSIONS/batch-BATCH/ID.ndjson,
 * its outcome line SESSIONS/batch-BATCH/ID.result.json, its session the
 * manager's usual SESSIONS/SESSION-ID.json; worktrees live under
 * GIT-COMMON-DIR/bllm-batch/BATCH/ID only while their task runs.
 */
#include <signal.h>
#include <stdbool.h>
#include <jv.h>

struct batch_opts {
	const char *repo;		/* canonical top of the local repository */
	const char *sessions_dir;	/* absolute */
	const char *self;		/* absolute path of bllm-batch (local jobs) */
	int jobs;			/* -j */
	const char *sshlogin;		/* --sshlogin, or NULL for this machine only */
	char **manage_args;		/* passed to every bllm-manage */
	int n_manage_args;
	bool table;			/* a terminal: the table instead of JSON lines */
	int out_fd;
	volatile sig_atomic_t *signals;	/* SIGINT/SIGTERM count */
};

/*
 * Runs every task (tasks: an array of {"id","task"}, consumed; ids unique
 * and valid) and writes one outcome line per task as it finishes (or the
 * table). Returns the batch's exit code (batch_exit_code), or 2 or 5
 * with *err (malloc'd) when nothing could start (no git repository, a
 * branch already there, parallel missing, a remote unreachable).
 */
int batch_run(const struct batch_opts *o, jv tasks, char **err);

struct batch_one_opts {
	const char *repo;		/* local: the repository to add a worktree to */
	const char *bundle;		/* remote: the shipped bundle to clone instead */
	const char *base;		/* the commit every task starts from */
	const char *batch_id;
	const char *sessions_dir;	/* local: where sessions and streams go */
	char **manage_args;
	int n_manage_args;
	volatile sig_atomic_t *signals;
};

/*
 * One task (borrowed {"id","task"}): the branch, bllm-manage, the commit,
 * the outcome line (written to fd 1 and, locally, to ID.result.json). A
 * remote run adds "payload": its stream, session and branch as a
 * base64 tar that batch_run unpacks. SIGINT/SIGTERM are passed to
 * bllm-manage, which saves its session; the worktree is always removed.
 * Returns the task's exit code, or -1 with *err when it could not start.
 */
int batch_run_one(const struct batch_one_opts *o, jv task, char **err);

#endif
