#ifndef BLLM_CHILD_H
#define BLLM_CHILD_H
/*
 * Long-lived child programs with pipes: the manager's workers.
 * (lib/proc.h runs one shell command to completion; this runs a program
 * while streaming its output line by line.)
 *
 * A child runs in its own process group, so stopping it stops everything
 * it started; an exec failure is reported through a CLOEXEC pipe, never
 * silent; every child is reaped.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

struct child {
	pid_t pid;		/* also the process group id */
	int in_fd;		/* write end of the child's stdin, -1 once closed */
	int out_fd;		/* read end of its stdout, -1 at EOF */
	int err_fd;		/* read end of its stderr, -1 at EOF */
	struct buf out;		/* stdout bytes not yet split into lines */
	struct buf err_tail;	/* the last few KB of its stderr */
	bool reaped;
	int exit_code;		/* after reaping: status, or 128+signal */
};

/*
 * Starts argv[0] (a path) with argv in dir (NULL: the current directory).
 * Returns 0, or -1 with *err (malloc'd) such as
 * `cannot run /usr/bin/bllm-agent: No such file or directory`.
 */
int child_spawn(struct child *c, char *const argv[], const char *dir, char **err);

/* Writes all of data to the child's stdin. -1 on error (EPIPE: it exited). */
int child_write(struct child *c, const char *data, size_t len);
void child_close_stdin(struct child *c);

enum child_wait { CHILD_EXITED, CHILD_TIMEOUT, CHILD_INTERRUPTED };

/* Called for each whole line of the child's stdout (without the newline). */
typedef void (*child_line_fn)(const char *line, size_t len, void *user);

/*
 * Streams the child's stdout to on_line as lines arrive, until its stdout
 * and stderr reach EOF (then reaps it: CHILD_EXITED), or the monotonic
 * clock passes deadline_s (CHILD_TIMEOUT; 0 = none), or *interrupted
 * becomes non-zero (CHILD_INTERRUPTED). A last line without a newline is
 * delivered at EOF.
 */
enum child_wait child_stream(struct child *c, double deadline_s, volatile sig_atomic_t *interrupted,
			     child_line_fn on_line, void *user);

/*
 * Stops the child's whole process group: SIGTERM, then SIGKILL after
 * grace_s if any of it is still there (grace_s 0: SIGKILL at once), and
 * reaps the child. A second signal (*signals >= 2) cuts the grace short.
 * During the grace its output is still read and its stdout lines given to
 * on_line (when not NULL), so the events it writes as it stops are kept.
 * Safe to call on a reaped child.
 */
void child_stop(struct child *c, double grace_s, volatile sig_atomic_t *signals,
		child_line_fn on_line, void *user);

/*
 * Job control for the child that runs in the foreground of a terminal
 * session: Ctrl-Z (SIGTSTP) stops it with this process, and `fg` (SIGCONT)
 * continues it, although it has a process group of its own. pgid 0: none.
 * Process-wide; the handler is installed on the first call.
 */
void child_job_control(pid_t pgid);

/* Closes descriptors and frees buffers (call after reaping or stopping). */
void child_free(struct child *c);

/* Seconds on the monotonic clock. */
double child_now(void);

#endif
