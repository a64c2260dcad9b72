#ifndef BLLM_PROC_H
#define BLLM_PROC_H
/*
 * Child processes: running a shell command with a timeout and captured
 * output (the Bash tool), and later the manager's worker children.
 *
 * Every child runs in its own process group, so a timeout or an interrupt
 * kills the whole group (SIGTERM, a grace period, then SIGKILL), and every
 * child is reaped: nothing is left running, nothing is left a zombie.
 * An exec failure is reported through a CLOEXEC pipe, never silent.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct proc_capture {
	char *output;		/* stdout and stderr interleaved, NUL-terminated, malloc'd */
	size_t output_len;	/* bytes kept (at most the cap) */
	bool truncated;		/* more output than the cap was produced (and discarded) */
	int exit_code;		/* exit status; 128+N when killed by signal N; -1 if none */
	bool timed_out;
	double duration_s;
	size_t total_len;	/* bytes the command produced in all (kept or discarded) */
	pid_t pgid;		/* the process group it ran in (gone by the time this returns) */
};

/*
 * Runs `/bin/sh -c command` in dir with stdin from /dev/null, in a new
 * process group. After timeout_s seconds the group gets SIGTERM, then
 * SIGKILL after grace_s. Output beyond cap bytes is read and discarded
 * (so the child never blocks on a full pipe). Returns 0 and fills *out,
 * or -1 with *err (malloc'd) when the child could not be started.
 *
 * timeout_s <= 0 means no time limit. Once the shell has exited, group
 * members still holding the output pipe get one more second, then the
 * group is killed like on a timeout (not counted as one); so are members
 * left running in the background: the call never outlives its command.
 * Members that became the caller's children (a child subreaper, PID 1)
 * are reaped too. The caller's signal handlers are left alone; if the
 * caller reaps the shell itself (waitpid(-1) on SIGCHLD), exit_code is -1.
 */
/*
 * A program to run to completion like a shell command: argv[0] is its
 * path; limits (each 0: unchanged) are set in the child before exec, and
 * when cgroup_fd >= 0 (an open cgroup.procs) the child enters that cgroup
 * first. proc_run_shell is proc_run of {"/bin/sh", "-c", command}.
 */
struct proc_cmd {
	const char *const *argv;
	const char *dir;
	double cpu_seconds, memory_bytes, processes, file_size_bytes;
	int cgroup_fd;
};
int proc_run(const struct proc_cmd *cmd, double timeout_s, double grace_s, size_t cap,
	     struct proc_capture *out, char **err);

int proc_run_shell(const char *command, const char *dir, double timeout_s, double grace_s,
		   size_t cap, struct proc_capture *out, char **err);
void proc_capture_free(struct proc_capture *c);

/*
 * Process-wide: when *flag becomes non-zero (a signal handler sets it),
 * a running proc_run_shell stops its command's group as on a timeout.
 */
void proc_set_cancel_flag(volatile sig_atomic_t *flag);
/* True when that flag is set. */
bool proc_cancelled(void);

/* One process as /proc/PID/stat shows it. */
struct proc_info {
	pid_t pid, ppid, pgrp;
	char state;		/* R, S, Z, ... */
};

/*
 * Every process of the system (Linux: from /proc), at most max of them,
 * into list. Returns the number found; 0 where /proc cannot be read.
 */
int proc_list(struct proc_info *list, int max);

/*
 * Makes this process the reaper of its orphaned descendants (Linux), so
 * that what a command leaves running in a session of its own (setsid)
 * can be found by proc_kill_orphans. Elsewhere it does nothing.
 */
void proc_become_subreaper(void);

/*
 * Kills (SIGKILL, with their process groups) and reaps every child of
 * this process: after a shell command has been reaped, any child left is
 * an orphan the command left behind. Returns how many there were.
 */
int proc_kill_orphans(void);

/*
 * The PIDs of this process's children now (Linux: from /proc), at most max
 * of them. Returns how many.
 */
int proc_children(pid_t *pids, int max);

/*
 * proc_kill_orphans, sparing the children listed in keep (those that were
 * there before, such as a dashboard the caller started on purpose).
 */
int proc_kill_orphans_except(const pid_t *keep, int n_keep);

/*
 * Sends SIGTERM (and SIGCONT, so stopped members see it) to the process
 * group pgid, waits up to grace_s for it to be gone, then sends SIGKILL.
 * Returns early once no live member is left; reaps nothing (zombies
 * count as gone: their parent owns them).
 */
void proc_kill_group(pid_t pgid, double grace_s);

#endif
