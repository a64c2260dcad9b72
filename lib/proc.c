#include "proc.h"
#include "clock.h"
#include "io.h"
#include "buf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

extern char **environ;

/* How long group members may keep the output pipe open after the shell exits. */
#define LINGER_S 1.0
/* How often the loop looks for the shell's exit while the pipe is quiet. */
#define TICK_MS 50


static void sleep_s(double s)
{
	if (s <= 0)
		return;
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	/* An interrupted sleep just ends early: every caller re-reads the clock. */
	nanosleep(&ts, NULL);
}


static void close_noeintr(int fd)
{
	/* Linux closes the descriptor even when close() reports EINTR: never retry. */
	if (fd >= 0)
		close(fd);
}

static int set_cloexec(int fd)
{
	int fl = fcntl(fd, F_GETFD);
	return fl < 0 ? -1 : fcntl(fd, F_SETFD, fl | FD_CLOEXEC);
}

/*
 * Whether /proc describes this process's own PID namespace, so a scan of it
 * can be trusted to show every member of a group that kill() still sees.
 */
static int proc_fs_usable(void)
{
	char link[64], want[32];
	ssize_t n = readlink("/proc/self", link, sizeof link - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	snprintf(want, sizeof want, "%ld", (long)getpid());
	return strcmp(link, want) == 0;
}

/*
 * Whether the group still has a live member. kill(-pgid, 0) also counts
 * zombies, which stay forever when their parent died and PID 1 does not
 * reap (some containers); on Linux /proc tells them apart. With own_zombies,
 * a zombie that is our own child counts as live: the caller reaps it next.
 */
static int group_alive(pid_t pgid, int own_zombies)
{
	if (kill(-pgid, 0) == -1 && errno == ESRCH)
		return 0;
	if (!proc_fs_usable())
		return 1;
	DIR *d = opendir("/proc");
	if (!d)
		return 1;
	pid_t self = getpid();
	int alive = 0;
	struct dirent *de;
	while (!alive && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		char path[64], stat[512];
		snprintf(path, sizeof path, "/proc/%.20s/stat", de->d_name);
		int fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		ssize_t n;
		do
			n = read(fd, stat, sizeof stat - 1);
		while (n < 0 && errno == EINTR);
		close_noeintr(fd);
		if (n <= 0)
			continue;
		stat[n] = '\0';
		/* "pid (comm) state ppid pgrp ...", and comm may hold ") ". */
		char *p = strrchr(stat, ')');
		char state;
		long ppid, pgrp;
		if (!p || sscanf(p + 1, " %c %ld %ld", &state, &ppid, &pgrp) != 3)
			continue;
		if (pgrp != (long)pgid)
			continue;
		if ((state != 'Z' && state != 'X') || (own_zombies && ppid == (long)self))
			alive = 1;
	}
	closedir(d);
	return alive;
}

static void signal_group(pid_t pgid, int sig)
{
	/* pgid 0 or 1 would signal our own group or every process. */
	if (pgid > 1)
		kill(-pgid, sig);
}

void proc_kill_group(pid_t pgid, double grace_s)
{
	if (pgid <= 1)
		return;
	if (kill(-pgid, SIGTERM) == -1 && errno == ESRCH)
		return;
	signal_group(pgid, SIGCONT);
	double end = clock_mono_s() + grace_s;
	while (group_alive(pgid, 0)) {
		if (clock_mono_s() >= end) {
			signal_group(pgid, SIGKILL);
			return;
		}
		sleep_s(0.01);
	}
}

void proc_capture_free(struct proc_capture *c)
{
	if (!c)
		return;
	free(c->output);
	c->output = NULL;
	c->output_len = 0;
}

enum { STAGE_FD, STAGE_CHDIR, STAGE_DEVNULL, STAGE_DUP, STAGE_EXEC };

struct exec_report {
	int stage;
	int err;
};

/*
 * The environment for a command: this process's, without the API
 * credentials (the command needs none, and env(1) or a test log must not
 * show them). Built before fork; the strings are borrowed from environ.
 */
static char **command_environment(void)
{
	size_t n = 0;
	while (environ[n])
		n++;
	char **envp = xcalloc(n + 1, sizeof *envp);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		const char *e = environ[i];
		if (strncmp(e, "ANTHROPIC_API_KEY=", 18) == 0 ||
		    strncmp(e, "CLAUDE_CODE_OAUTH_TOKEN=", 24) == 0 ||
		    strncmp(e, "ANTHROPIC_AUTH_TOKEN=", 21) == 0)
			continue;
		envp[k++] = environ[i];
	}
	envp[k] = NULL;
	return envp;
}

static void set_limit(int resource, double value)
{
	if (value <= 0)
		return;
	struct rlimit rl = { (rlim_t)value, (rlim_t)value };
	struct rlimit old;
	if (getrlimit(resource, &old) == 0 && old.rlim_max != RLIM_INFINITY && rl.rlim_max > old.rlim_max)
		rl.rlim_cur = rl.rlim_max = old.rlim_max;
	setrlimit(resource, &rl);
}

/* After fork: async-signal-safe calls only (the caller may have threads). */
static void child(const struct proc_cmd *cmd, char *const envp[], int out_w, int rep_w)
{
	const char *dir = cmd->dir;
	struct exec_report rep = { STAGE_FD, 0 };
	/* Keep both pipe ends off 0..2, which the dup2()s below overwrite. */
	int o = fcntl(out_w, F_DUPFD, 3);
	int r = fcntl(rep_w, F_DUPFD_CLOEXEC, 3);
	if (o < 0 || r < 0) {
		rep.err = errno;
		if (r >= 0)
			rep_w = r;
		goto fail;
	}
	rep_w = r;

	/* Ignored signals and the mask survive exec: give the shell defaults. */
	static const int sigs[] = { SIGPIPE, SIGINT, SIGQUIT, SIGTERM, SIGHUP, SIGCHLD,
				    SIGTSTP, SIGTTIN, SIGTTOU, SIGALRM, SIGUSR1, SIGUSR2,
				    SIGXFSZ, SIGXCPU };
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
		sigaction(sigs[i], &sa, NULL);
	sigset_t none;
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);

	if (chdir(dir) < 0) {
		rep = (struct exec_report){ STAGE_CHDIR, errno };
		goto fail;
	}
	int nul = open("/dev/null", O_RDONLY);
	if (nul < 0) {
		rep = (struct exec_report){ STAGE_DEVNULL, errno };
		goto fail;
	}
	if (dup2(nul, 0) < 0 || dup2(o, 1) < 0 || dup2(o, 2) < 0) {
		rep = (struct exec_report){ STAGE_DUP, errno };
		goto fail;
	}
	if (cmd->cgroup_fd >= 0) {
		/* "0" is this process: the command and all it starts count against pids.max. */
		if (write(cmd->cgroup_fd, "0", 1) < 0) {
			/* No cgroup: RLIMIT_NPROC alone applies. */
		}
	}
#ifndef __SANITIZE_ADDRESS__	/* ASan reserves terabytes of address space */
	set_limit(RLIMIT_AS, cmd->memory_bytes);
#endif
	set_limit(RLIMIT_CPU, cmd->cpu_seconds);
	set_limit(RLIMIT_NPROC, cmd->processes);
	set_limit(RLIMIT_FSIZE, cmd->file_size_bytes);
	io_close_from(3, rep_w);
	execve(cmd->argv[0], (char *const *)cmd->argv, envp);
	rep = (struct exec_report){ STAGE_EXEC, errno };
fail:;
	const char *p = (const char *)&rep;
	size_t left = sizeof rep;
	while (left > 0) {
		ssize_t n = write(rep_w, p, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		p += n;
		left -= (size_t)n;
	}
	_exit(127);
}

static int exit_code_of(int status)
{
	if (WIFEXITED(status))
		return WEXITSTATUS(status);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return -1;
}

/* Reaps what is ours in the group; notes the shell's status when it goes. */
static void reap(pid_t pgid, pid_t shell, int *shell_done, int *code)
{
	for (;;) {
		int st;
		pid_t r = waitpid(-pgid, &st, WNOHANG);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno == ECHILD && !*shell_done) {
			/* Someone else reaped the shell: its status is lost. */
			*shell_done = 1;
			*code = -1;
		}
		if (r <= 0)
			return;
		if (r == shell) {
			*shell_done = 1;
			*code = exit_code_of(st);
		}
	}
}

/* Process-wide: the flag a signal handler sets when this program must stop. */
static volatile sig_atomic_t *cancel_flag;

void proc_set_cancel_flag(volatile sig_atomic_t *flag)
{
	cancel_flag = flag;
}

bool proc_cancelled(void)
{
	return cancel_flag && *cancel_flag;
}

void proc_become_subreaper(void)
{
#ifdef __linux__
	prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
}

/* One pass of proc_kill_orphans; returns the children found (killed in *killed). */
static int kill_children_once(int *killed);

static const pid_t *spared;
static int n_spared;

int proc_kill_orphans_except(const pid_t *keep, int n_keep)
{
	spared = keep;
	n_spared = n_keep;
	int killed = proc_kill_orphans();
	spared = NULL;
	n_spared = 0;
	return killed;
}

int proc_children(pid_t *pids, int max)
{
	enum { MAXP = 4096 };
	static struct proc_info procs[MAXP];
	int n = proc_list(procs, MAXP), k = 0;
	for (int i = 0; i < n && k < max; i++)
		if (procs[i].ppid == getpid())
			pids[k++] = procs[i].pid;
	return k;
}

int proc_kill_orphans(void)
{
	int killed = 0;
	/*
	 * Killing a child makes its own children ours (we are their subreaper),
	 * however deep a chain of setsid'ed processes goes: look again until a
	 * pass finds nobody twice in a row, for at most 5 s.
	 */
	double end = clock_mono_s() + 5.0;
	int quiet = 0;
	while (quiet < 2 && clock_mono_s() < end) {
		quiet = kill_children_once(&killed) == 0 ? quiet + 1 : 0;
		struct timespec ts = { 0, 20 * 1000000 };
		nanosleep(&ts, NULL);
	}
	return killed;
}

static int kill_children_once(int *killed)
{
	enum { MAXP = 4096 };
	static struct proc_info procs[MAXP];
	int n = proc_list(procs, MAXP), found = 0;
	pid_t self = getpid();
	for (int i = 0; i < n; i++) {
		if (procs[i].ppid != self)
			continue;
		bool keep = false;
		for (int k = 0; k < n_spared && !keep; k++)
			keep = spared[k] == procs[i].pid;
		if (keep)
			continue;
		if (procs[i].pgrp > 1 && procs[i].pgrp != getpgrp())
			kill(-procs[i].pgrp, SIGKILL);
		kill(procs[i].pid, SIGKILL);
		while (waitpid(procs[i].pid, NULL, 0) < 0 && errno == EINTR)
			;
		*killed += procs[i].state != 'Z';
		found++;
	}
	return found;
}

int proc_list(struct proc_info *list, int max)
{
	DIR *d = opendir("/proc");
	if (!d)
		return 0;
	int n = 0;
	struct dirent *e;
	while (n < max && (e = readdir(d))) {
		if (e->d_name[0] < '1' || e->d_name[0] > '9')
			continue;
		char path[300], buf[512];
		snprintf(path, sizeof path, "/proc/%s/stat", e->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t got = fread(buf, 1, sizeof buf - 1, f);
		fclose(f);
		buf[got] = '\0';
		/* "pid (comm) state ppid pgrp": comm may hold spaces, so start after ')'. */
		char *rp = strrchr(buf, ')');
		int ppid, pgrp;
		char state;
		if (!rp || sscanf(rp + 1, " %c %d %d", &state, &ppid, &pgrp) != 3)
			continue;
		list[n++] = (struct proc_info){ (pid_t)atoi(e->d_name), ppid, pgrp, state };
	}
	closedir(d);
	return n;
}

int proc_run_shell(const char *command, const char *dir, double timeout_s, double grace_s,
		   size_t cap, struct proc_capture *out, char **err)
{
	const char *argv[] = { "/bin/sh", "-c", command, NULL };
	struct proc_cmd cmd = { .argv = argv, .dir = dir, .cgroup_fd = -1 };
	return proc_run(&cmd, timeout_s, grace_s, cap, out, err);
}

int proc_run(const struct proc_cmd *cmd, double timeout_s, double grace_s, size_t cap,
	     struct proc_capture *out, char **err)
{
	const char *dir = cmd->dir;
	memset(out, 0, sizeof *out);
	out->exit_code = -1;
	*err = NULL;

	int outp[2] = { -1, -1 }, repp[2] = { -1, -1 };
	if (pipe(outp) < 0 || pipe(repp) < 0) {
		char *why = xstrerror(errno);
		*err = xasprintf("cannot run the command: pipe: %s", why);
		free(why);
		close_noeintr(outp[0]);
		close_noeintr(outp[1]);
		return -1;
	}
	set_cloexec(outp[0]);
	set_cloexec(outp[1]);
	set_cloexec(repp[0]);
	set_cloexec(repp[1]);

	char **envp = command_environment();
	double start = clock_mono_s();
	pid_t pid = fork();
	if (pid < 0) {
		char *why = xstrerror(errno);
		*err = xasprintf("cannot run the command: fork: %s", why);
		free(why);
		free(envp);
		close_noeintr(outp[0]);
		close_noeintr(outp[1]);
		close_noeintr(repp[0]);
		close_noeintr(repp[1]);
		return -1;
	}
	if (pid == 0) {
		setpgid(0, 0);
		child(cmd, envp, outp[1], repp[1]);
	}
	free(envp);
	/* Both sides set the group, so it exists whichever runs first. */
	setpgid(pid, pid);
	close_noeintr(outp[1]);
	close_noeintr(repp[1]);

	struct exec_report rep;
	size_t got = 0;
	while (got < sizeof rep) {
		ssize_t n = read(repp[0], (char *)&rep + got, sizeof rep - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close_noeintr(repp[0]);
	if (got == sizeof rep) {
		int st;
		while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
			;
		close_noeintr(outp[0]);
		static const char *const what[] = { "fd setup", "chdir", "open /dev/null",
						    "dup2", "exec" };
		const char *stage = rep.stage >= 0 && rep.stage <= STAGE_EXEC ? what[rep.stage] : "?";
		char *why = xstrerror(rep.err);
		if (rep.stage == STAGE_CHDIR)
			*err = xasprintf("cannot run the command in %s: %s", dir, why);
		else
			*err = rep.stage == STAGE_EXEC
				? xasprintf("cannot run the command: exec %s: %s", cmd->argv[0], why)
				: xasprintf("cannot run the command: %s: %s", stage, why);
		free(why);
		return -1;
	}

	int fd = outp[0];
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	out->pgid = pid;

	struct buf keep = BUF_INIT;
	size_t total = 0;
	int shell_done = 0, code = -1, term_sent = 0, killed = 0;
	double deadline = start + timeout_s, exit_at = 0, kill_at = 0, killed_at = 0;
	unsigned quiet = 0;

	for (;;) {
		double now = clock_mono_s();
		int was_done = shell_done;
		reap(pid, pid, &shell_done, &code);
		if (shell_done && !was_done)
			exit_at = now;

		if (!shell_done && !term_sent && cancel_flag && *cancel_flag) {
			/* The caller is being stopped: take the command's group down too,
			 * with a short grace, so it is gone before the caller's own grace
			 * (given by whoever stops the caller) runs out. */
			signal_group(pid, SIGTERM);
			signal_group(pid, SIGCONT);
			term_sent = 1;
			kill_at = now + (grace_s < 1.0 ? grace_s : 1.0);
		}
		if (!shell_done && !term_sent && timeout_s > 0 && now >= deadline) {
			out->timed_out = true;
			signal_group(pid, SIGTERM);
			signal_group(pid, SIGCONT);
			term_sent = 1;
			kill_at = now + grace_s;
		}
		if (shell_done && fd >= 0 && now >= exit_at + LINGER_S) {
			close_noeintr(fd);
			fd = -1;
		}
		if (shell_done && fd < 0) {
			if (!group_alive(pid, 1))
				break;
			if (!term_sent) {
				signal_group(pid, SIGTERM);
				signal_group(pid, SIGCONT);
				term_sent = 1;
				kill_at = now + grace_s;
			}
		}
		if (term_sent && !killed && now >= kill_at) {
			signal_group(pid, SIGKILL);
			killed = 1;
			killed_at = now;
		}
		if (killed && now >= killed_at + LINGER_S) {
			/* SIGKILL went out a while ago; whatever is left cannot hold us. */
			if (!shell_done) {
				int st;
				pid_t r;
				while ((r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
					;
				code = r == pid ? exit_code_of(st) : -1;
				shell_done = 1;
			}
			reap(pid, pid, &shell_done, &code);
			break;
		}

		double wait = 3600;
		if (!shell_done) {
			if (fd >= 0)
				wait = TICK_MS / 1000.0;
			else	/* EOF came: the exit is due any moment */
				wait = (1u << (quiet < 6 ? quiet : 6)) / 1000.0, quiet++;
			if (!term_sent && timeout_s > 0 && deadline - now < wait)
				wait = deadline - now;
		} else if (fd >= 0) {
			wait = exit_at + LINGER_S - now;
		} else {
			wait = 0.01;	/* waiting for the rest of the group to go */
		}
		if (term_sent && !killed && kill_at - now < wait)
			wait = kill_at - now;
		if (killed && killed_at + LINGER_S - now < wait)
			wait = killed_at + LINGER_S - now;
		int ms = wait <= 0 ? 0 : (int)(wait * 1000.0 + 0.999);

		struct pollfd pfd = { fd, POLLIN, 0 };
		int pr = poll(&pfd, fd >= 0 ? 1 : 0, ms);
		if (pr < 0 && errno != EINTR)
			sleep_s(0.01);	/* cannot happen with one valid fd; never spin */
		if (pr <= 0 || fd < 0)
			continue;
		for (;;) {
			char chunk[65536];
			ssize_t n = read(fd, chunk, sizeof chunk);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)	/* EAGAIN: drained for now */
				break;
			if (n == 0) {
				close_noeintr(fd);
				fd = -1;
				break;
			}
			total += (size_t)n;
			if (keep.len < cap) {
				size_t room = cap - keep.len;
				buf_append(&keep, chunk, (size_t)n < room ? (size_t)n : room);
			}
		}
	}
	close_noeintr(fd);

	out->output_len = keep.len;
	out->output = buf_detach(&keep);
	out->total_len = total;
	out->truncated = total > out->output_len;
	out->exit_code = code;
	out->duration_s = clock_mono_s() - start;
	return 0;
}
