/* Helper programs run to completion: git, GNU parallel, tar. */
#include "cmd.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/wait.h>

#include "io.h"

#define MAX_ARGS 64

/* Waits for pid through EINTR; the exit code, 128+N for signal N. */
int cmd_wait(pid_t pid)
{
	int st;
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/*
 * Starts argv (NULL-terminated) in dir (or here) with stdin from in_fd (or
 * /dev/null) and stdout into *out_fd (a pipe) when out_fd is not NULL, else
 * to /dev/null; stderr is inherited. own_group: in a process group of its own.
 */
pid_t cmd_spawn(char *const argv[], const char *dir, int in_fd, int *out_fd, bool own_group)
{
	int p[2] = { -1, -1 };
	if (out_fd && pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		if (own_group)
			setpgid(0, 0);
		int in = in_fd >= 0 ? in_fd : open("/dev/null", O_RDONLY);
		int out = out_fd ? p[1] : open("/dev/null", O_WRONLY);
		if (in < 0 || out < 0 || dup2(in, 0) < 0 || dup2(out, 1) < 0)
			_exit(127);
		io_close_from(3, -1);
		signal(SIGPIPE, SIG_DFL);
		if (dir && chdir(dir) < 0)
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (out_fd) {
		close(p[1]);
		if (pid < 0)
			close(p[0]);
		else
			*out_fd = p[0];
	}
	return pid;
}

/* Runs argv to completion; its stdout into out (or discarded). The exit code (127: not started). */
int cmd_run_argv(char *const argv[], const char *dir, int in_fd, struct buf *out)
{
	int fd = -1;
	pid_t pid = cmd_spawn(argv, dir, in_fd, out ? &fd : NULL, false);
	if (pid < 0)
		return 127;
	if (out) {
		io_read_all(fd, out);
		close(fd);
	}
	return cmd_wait(pid);
}

/* run_argv over a NULL-terminated list of arguments. */
int cmd_run(const char *dir, struct buf *out, const char *arg0, ...)
{
	char *argv[MAX_ARGS];
	int n = 0;
	va_list ap;
	va_start(ap, arg0);
	for (const char *a = arg0; a && n < MAX_ARGS - 1; a = va_arg(ap, const char *))
		argv[n++] = (char *)a;
	va_end(ap);
	argv[n] = NULL;
	return cmd_run_argv(argv, dir, -1, out);
}

/* `sh -c SCRIPT sh ARGS...`: for pipelines and remote commands. */
int cmd_run_sh(const char *script, int in_fd, struct buf *out, const char *a1, const char *a2)
{
	char *argv[] = { "sh", "-c", (char *)script, "sh", (char *)a1, (char *)a2, NULL };
	if (!a1)
		argv[4] = NULL;
	else if (!a2)
		argv[5] = NULL;
	return cmd_run_argv(argv, NULL, in_fd, out);
}

void cmd_chomp(struct buf *b)
{
	while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r'))
		b->data[--b->len] = '\0';
}


int cmd_run_locked(const char *git_dir, char *const argv[], const char *dir)
{
	char *lock = xasprintf("%s/bllm-worktrees.lock", git_dir);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	while (fd >= 0 && fcntl(fd, F_SETLKW, &fl) < 0 && errno == EINTR)
		;
	int rc = cmd_run_argv(argv, dir, -1, NULL);
	if (fd >= 0)
		close(fd);
	free(lock);
	return rc;
}
