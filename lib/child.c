#include "child.h"
#include "clock.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <fcntl.h>
#include <sys/select.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "buf.h"
#include "io.h"
#include "proc.h"

#define ERR_TAIL_MAX 4096

double child_now(void)
{
	return clock_mono_s();
}

static int make_pipe(int fds[2])
{
	if (pipe(fds) < 0)
		return -1;
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

extern char **environ;

static int child_spawn_env(struct child *c, char *const argv[], const char *dir,
			   char *const envp[], int cred_fd, char **err);

static const char *const credential_names[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
						"ANTHROPIC_AUTH_TOKEN" };

/*
 * The environment for a child without the API credentials, which go into
 * *creds as NAME=VALUE lines instead (for a pipe on the child's fd 3; the
 * child finds it through BLLM_CREDENTIALS_FD=3). So the key never sits in
 * the block /proc/PID/environ shows, not even before the child hides it.
 * The array is malloc'd, its strings borrowed from environ but the last.
 */
static char **environment_without_credentials(struct buf *creds)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + 2, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		bool secret = false;
		for (size_t j = 0; j < sizeof credential_names / sizeof credential_names[0]; j++) {
			size_t l = strlen(credential_names[j]);
			if (strncmp(environ[i], credential_names[j], l) == 0 && environ[i][l] == '=')
				secret = true;
		}
		if (strncmp(environ[i], "BLLM_CREDENTIALS_FD=", 20) == 0)
			continue;
		if (secret) {
			buf_appends(creds, environ[i]);
			buf_appendc(creds, '\n');
		} else {
			envp[k++] = environ[i];
		}
	}
	if (creds->len)
		envp[k++] = "BLLM_CREDENTIALS_FD=3";
	envp[k] = NULL;
	return envp;
}

int child_spawn(struct child *c, char *const argv[], const char *dir, char **err)
{
	struct buf creds = BUF_INIT;
	char **envp = environment_without_credentials(&creds);
	int cred[2] = { -1, -1 };
	if (creds.len && (make_pipe(cred) < 0 || io_write_all(cred[1], creds.data, creds.len) < 0)) {
		*err = xasprintf("cannot hand the credentials to %s: %s", argv[0], strerror(errno));
		close_fd(&cred[0]);
		close_fd(&cred[1]);
		memset(creds.data, 0, creds.len);
		buf_free(&creds);
		free(envp);
		return -1;
	}
	close_fd(&cred[1]);
	if (creds.len)
		memset(creds.data, 0, creds.len);
	buf_free(&creds);
	int rc = child_spawn_env(c, argv, dir, envp, cred[0], err);
	close_fd(&cred[0]);
	free(envp);
	return rc;
}

static int child_spawn_env(struct child *c, char *const argv[], const char *dir,
			   char *const envp[], int cred_fd, char **err)
{
	memset(c, 0, sizeof *c);
	c->in_fd = c->out_fd = c->err_fd = -1;
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, errp[2] = { -1, -1 }, exec_err[2] = { -1, -1 };
	if (make_pipe(in) < 0 || make_pipe(out) < 0 || make_pipe(errp) < 0 || make_pipe(exec_err) < 0) {
		*err = xasprintf("cannot make pipes for %s: %s", argv[0], strerror(errno));
		goto fail;
	}
	pid_t parent = getpid();
	pid_t pid = fork();
	if (pid < 0) {
		*err = xasprintf("cannot start %s: %s", argv[0], strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		setpgid(0, 0);
		struct sigaction sa;
		memset(&sa, 0, sizeof sa);
		sa.sa_handler = SIG_DFL;
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		sigaction(SIGPIPE, &sa, NULL);
		dup2(in[0], 0);
		dup2(out[1], 1);
		dup2(errp[1], 2);
		/* fd 3: the credentials' pipe; the exec report's pipe above it. */
		int report = fcntl(exec_err[1], F_DUPFD_CLOEXEC, 4);
		if (cred_fd >= 0) {
			if (cred_fd == 3)
				fcntl(3, F_SETFD, 0);
			else
				dup2(cred_fd, 3);
		}
		exec_err[1] = report;
		io_close_from(cred_fd >= 0 ? 4 : 3, exec_err[1]);
#ifdef __linux__
		/* If the manager dies without stopping it, the worker is told. */
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (getppid() != parent)
			_exit(1);
#endif
		int e = 0;
		if (dir && chdir(dir) < 0)
			e = errno;
		else {
			execve(argv[0], argv, envp);
			e = errno;
		}
		ssize_t w = write(exec_err[1], &e, sizeof e);
		(void)w;
		_exit(127);
	}
	setpgid(pid, pid);	/* both sides, so the group exists before either acts */
	close(in[0]);
	close(out[1]);
	close(errp[1]);
	close(exec_err[1]);
	int e = 0;
	ssize_t n;
	while ((n = read(exec_err[0], &e, sizeof e)) < 0 && errno == EINTR)
		;
	close(exec_err[0]);
	if (n == (ssize_t)sizeof e) {
		*err = xasprintf("cannot run %s: %s", argv[0], strerror(e));
		close(in[1]);
		close(out[0]);
		close(errp[0]);
		while (waitpid(pid, NULL, 0) < 0 && errno == EINTR)
			;
		return -1;
	}
	c->pid = pid;
	c->in_fd = in[1];
	c->out_fd = out[0];
	c->err_fd = errp[0];
	return 0;
fail:
	for (int i = 0; i < 2; i++) {
		close_fd(&in[i]);
		close_fd(&out[i]);
		close_fd(&errp[i]);
		close_fd(&exec_err[i]);
	}
	return -1;
}

int child_write(struct child *c, const char *data, size_t len)
{
	if (c->in_fd < 0)
		return -1;
	return io_write_all(c->in_fd, data, len);
}

void child_close_stdin(struct child *c)
{
	close_fd(&c->in_fd);
}

static void reap(struct child *c, int options)
{
	if (c->reaped || c->pid <= 0)
		return;
	int status;
	pid_t r;
	while ((r = waitpid(c->pid, &status, options)) < 0 && errno == EINTR)
		;
	if (r == c->pid) {
		c->reaped = true;
		c->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	} else if (r < 0) {
		c->reaped = true;	/* ECHILD: someone else reaped it */
		c->exit_code = -1;
	}
}

static void deliver_lines(struct child *c, child_line_fn on_line, void *user, bool eof)
{
	if (!c->out.data)
		return;
	size_t start = 0;
	char *nl;
	while ((nl = memchr(c->out.data + start, '\n', c->out.len - start))) {
		size_t len = (size_t)(nl - (c->out.data + start));
		*nl = '\0';
		on_line(c->out.data + start, len, user);
		start += len + 1;
	}
	if (eof && start < c->out.len) {
		on_line(c->out.data + start, c->out.len - start, user);
		start = c->out.len;
	}
	buf_consume(&c->out, start);
}

/* Reads what is there on *fd; at EOF closes it. */
static void drain(struct child *c, int *fd, bool is_out, child_line_fn on_line, void *user)
{
	char chunk[65536];
	ssize_t n = read(*fd, chunk, sizeof chunk);
	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		close_fd(fd);
		if (is_out)
			deliver_lines(c, on_line, user, true);
		return;
	}
	if (is_out) {
		buf_append(&c->out, chunk, (size_t)n);
		deliver_lines(c, on_line, user, false);
	} else {
		buf_append(&c->err_tail, chunk, (size_t)n);
		if (c->err_tail.len > ERR_TAIL_MAX)
			buf_consume(&c->err_tail, c->err_tail.len - ERR_TAIL_MAX);
	}
}

/*
 * Waits up to timeout_s (< 0: no limit) for output and reads what came.
 * Signals in mask_during (the caller's usual mask) are let through only
 * while waiting, so a signal cannot slip in between the caller's check of
 * its flag and the wait (pselect). Returns -1 when interrupted.
 */
static int wait_output(struct child *c, double timeout_s, const sigset_t *mask_during,
		       child_line_fn on_line, void *user)
{
	fd_set rfds;
	FD_ZERO(&rfds);
	int maxfd = -1;
	if (c->out_fd >= 0 && on_line) {
		FD_SET(c->out_fd, &rfds);
		maxfd = c->out_fd;
	}
	if (c->err_fd >= 0) {
		FD_SET(c->err_fd, &rfds);
		maxfd = c->err_fd > maxfd ? c->err_fd : maxfd;
	}
	struct timespec ts, *tp = NULL;
	if (timeout_s >= 0) {
		ts.tv_sec = (time_t)timeout_s;
		ts.tv_nsec = (long)((timeout_s - (double)ts.tv_sec) * 1e9);
		tp = &ts;
	}
	int r = pselect(maxfd + 1, &rfds, NULL, NULL, tp, mask_during);
	if (r < 0)
		return errno == EINTR ? -1 : 0;
	if (c->out_fd >= 0 && on_line && FD_ISSET(c->out_fd, &rfds))
		drain(c, &c->out_fd, true, on_line, user);
	if (c->err_fd >= 0 && FD_ISSET(c->err_fd, &rfds))
		drain(c, &c->err_fd, false, on_line, user);
	return 0;
}

/* Blocks the stop signals, keeping the previous mask in *orig. */
static void block_stop_signals(sigset_t *orig)
{
	sigset_t block;
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, orig);
}

enum child_wait child_stream(struct child *c, double deadline_s, volatile sig_atomic_t *interrupted,
			     child_line_fn on_line, void *user)
{
	sigset_t orig;
	block_stop_signals(&orig);
	enum child_wait result = CHILD_EXITED;
	while (c->out_fd >= 0 || c->err_fd >= 0) {
		if (interrupted && *interrupted) {
			result = CHILD_INTERRUPTED;
			goto out;
		}
		double left = -1;
		if (deadline_s > 0) {
			left = deadline_s - child_now();
			if (left <= 0) {
				result = CHILD_TIMEOUT;
				goto out;
			}
		}
		/* Woken at least 4 times a second: with workers streamed from several
		 * threads, a signal wakes only one of them; the others see the flag here. */
		wait_output(c, left < 0 || left > 0.25 ? 0.25 : left, &orig, on_line, user);
	}
	/* Output closed: the child is exiting; wait for it within the deadline. */
	while (!c->reaped) {
		reap(c, WNOHANG);
		if (c->reaped)
			break;
		if (interrupted && *interrupted) {
			result = CHILD_INTERRUPTED;
			goto out;
		}
		if (deadline_s > 0 && child_now() >= deadline_s) {
			result = CHILD_TIMEOUT;
			goto out;
		}
		struct timespec ts = { 0, 10 * 1000000 };
		pselect(0, NULL, NULL, NULL, &ts, &orig);
	}
out:
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return result;
}

/*
 * The process groups of pid's descendants (Linux: from /proc; elsewhere
 * none are found). A worker runs its Bash commands in groups of their own;
 * they must not outlive a worker that is killed before it could stop them.
 */
static int descendant_groups(pid_t root, pid_t *groups, int max)
{
	enum { MAXP = 4096 };
	static struct proc_info procs[MAXP];
	static pid_t queue[MAXP];
	static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;	/* the tables above */
	pthread_mutex_lock(&lock);
	int n = proc_list(procs, MAXP);
	int head = 0, tail = 0, ng = 0;
	queue[tail++] = root;
	while (head < tail) {
		pid_t p = queue[head++];
		for (int i = 0; i < n; i++) {
			if (procs[i].pid == 0 || procs[i].ppid != p)
				continue;
			if (tail < MAXP)
				queue[tail++] = procs[i].pid;
			bool seen = procs[i].pgrp == root || procs[i].pgrp <= 1;
			for (int g = 0; g < ng && !seen; g++)
				seen = groups[g] == procs[i].pgrp;
			if (!seen && ng < max)
				groups[ng++] = procs[i].pgrp;
			procs[i].pid = 0;	/* visited */
		}
	}
	pthread_mutex_unlock(&lock);
	return ng;
}

void child_stop(struct child *c, double grace_s, volatile sig_atomic_t *signals,
		child_line_fn on_line, void *user)
{
	if (c->pid <= 0)
		return;
	sigset_t orig;
	block_stop_signals(&orig);
	if (!c->reaped) {
		kill(-c->pid, grace_s > 0 ? SIGTERM : SIGKILL);
		double until = child_now() + grace_s;
		while (grace_s > 0 && child_now() < until && !(signals && *signals >= 2)) {
			reap(c, WNOHANG);
			/* The leader is gone and its output read; others of its group may linger. */
			if (c->reaped && c->out_fd < 0 && kill(-c->pid, 0) < 0)
				break;
			if (c->reaped && c->out_fd < 0) {
				struct timespec ts = { 0, 20 * 1000000 };
				pselect(0, NULL, NULL, NULL, &ts, &orig);
			} else {
				/* Keep reading: the worker writes its last events as it stops. */
				wait_output(c, 0.02, &orig, on_line, user);
			}
		}
	}
	pid_t groups[64];
	int ng = c->reaped ? 0 : descendant_groups(c->pid, groups, 64);
	kill(-c->pid, SIGKILL);
	for (int i = 0; i < ng; i++)
		kill(-groups[i], SIGKILL);
	reap(c, 0);
	sigprocmask(SIG_SETMASK, &orig, NULL);
}

static volatile pid_t foreground_pgid;

static void on_terminal_stop(int sig)
{
	(void)sig;
	int saved = errno;
	pid_t pgid = foreground_pgid;
	if (pgid > 0)
		kill(-pgid, SIGSTOP);
	raise(SIGSTOP);
	/* Here again after `fg`: the worker goes on too. */
	if (pgid > 0)
		kill(-pgid, SIGCONT);
	errno = saved;
}

void child_job_control(pid_t pgid)
{
	static bool installed;
	foreground_pgid = pgid;
	if (installed)
		return;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_terminal_stop;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = SA_RESTART;
	sigaction(SIGTSTP, &sa, NULL);
	installed = true;
}

void child_free(struct child *c)
{
	close_fd(&c->in_fd);
	close_fd(&c->out_fd);
	close_fd(&c->err_fd);
	buf_free(&c->out);
	buf_free(&c->err_tail);
}
