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
};

/*
 * Runs `/bin/sh -c command` in dir with stdin from /dev/null, in a new
 * process group. After timeout_s seconds the group gets SIGTERM, then
 * SIGKILL after grace_s. Output beyond cap bytes is read and discarded
 * (so the child never blocks on a full pipe). Returns 0 and fills *out,
 * or -1 with *err (malloc'd) when the child could not be started.
 */
int proc_run_shell(const char *command, const char *dir, double timeout_s, double grace_s,
		   size_t cap, struct proc_capture *out, char **err);
void proc_capture_free(struct proc_capture *c);

/* Sends sig to the process group pgid, then waits grace_s and sends SIGKILL. */
void proc_kill_group(pid_t pgid, double grace_s);

#endif
