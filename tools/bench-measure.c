/*
 * bench-measure: runs one command and prints what it cost, as one JSON line:
 *
 *   {"wall_ms", "cpu_ms", "user_ms", "sys_ms", "maxrss_kb", "exit_code", "timed_out"}
 *
 * wall_ms is CLOCK_MONOTONIC from just before fork to just after the
 * command was reaped. cpu_ms (user_ms + sys_ms) is the growth of
 * getrusage(RUSAGE_CHILDREN) over the run, so it covers every descendant
 * that was waited for (sh -c "a | b" counts a and b). maxrss_kb is that
 * rusage's ru_maxrss: the largest peak RSS of any single descendant (this
 * process runs one command, so no earlier child can have set it).
 *
 * The command runs in its own process group. On timeout, or when this
 * program gets SIGINT, SIGTERM or SIGHUP, the group gets SIGTERM, then
 * SIGKILL a second later; once the command ends, anything it left in its
 * group is killed too, so a benchmark never leaves processes behind.
 *
 * Exit status: the command's (128+N when killed by signal N), 124 on
 * timeout, 125 when this program failed, 127 when the command could not
 * be run. The JSON is printed whenever the command ran.
 */
#define _DEFAULT_SOURCE	/* wait4 */
#include <jv.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PROG "bench-measure"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTION]... -c COMMAND\n"
		"       %s [OPTION]... [--] PROGRAM [ARG]...\n"
		"Runs COMMAND (with sh -c) or PROGRAM and prints its cost as JSON on stdout:\n"
		"wall_ms, cpu_ms (user+sys of all its descendants), user_ms, sys_ms, maxrss_kb\n"
		"(the largest peak RSS of any descendant), exit_code, timed_out.\n\n"
		"Options:\n"
		"  -c COMMAND  run COMMAND with /bin/sh -c\n"
		"  -t SECONDS  kill the command (its whole process group) after SECONDS\n"
		"              (default 120; 0: no limit)\n"
		"  -i FILE     the command's stdin (default /dev/null)\n"
		"  -o FILE     the command's stdout (default /dev/null)\n"
		"  -e FILE     the command's stderr (default: this program's stderr)\n"
		"  -C DIR      run the command in DIR\n"
		"  -h          show this help and exit\n\n"
		"Exit status: the command's (128+N when killed by signal N), 124 timeout,\n"
		"125 failure of %s itself, 127 the command could not be run.\n",
		PROG, PROG, PROG);
}

static double ms_of(struct timeval tv)
{
	return (double)tv.tv_sec * 1e3 + (double)tv.tv_usec / 1e3;
}

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Opens path on fd (in the child). Returns -1 after saying why. */
static int redirect(int fd, const char *path, int flags)
{
	int f = open(path, flags, 0644);
	if (f < 0) {
		fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
		return -1;
	}
	if (f != fd) {
		if (dup2(f, fd) < 0)
			return -1;
		close(f);
	}
	return 0;
}

static double round3(double x)
{
	return (double)(long long)(x * 1000.0 + 0.5) / 1000.0;
}

int main(int argc, char **argv)
{
	const char *cmd = NULL, *in = "/dev/null", *out = "/dev/null", *errf = NULL, *dir = NULL;
	double limit_s = 120;
	int opt;
	while ((opt = getopt(argc, argv, "+c:t:i:o:e:C:h")) != -1) {
		switch (opt) {
		case 'c': cmd = optarg; break;
		case 't': {
			char *end;
			errno = 0;
			limit_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || limit_s < 0 || limit_s > 86400) {
				fprintf(stderr, "%s: -t %s: expected seconds from 0 to 86400\n",
					PROG, optarg);
				return 125;
			}
			break;
		}
		case 'i': in = optarg; break;
		case 'o': out = optarg; break;
		case 'e': errf = optarg; break;
		case 'C': dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try '%s -h'.\n", PROG);
			return 125;
		}
	}
	if ((cmd != NULL) == (optind < argc)) {
		fprintf(stderr, "%s: give either -c COMMAND or PROGRAM [ARG]...\nTry '%s -h'.\n",
			PROG, PROG);
		return 125;
	}

	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigprocmask(SIG_BLOCK, &set, &old);

	struct rusage before, after, self;
	memset(&self, 0, sizeof self);
	getrusage(RUSAGE_CHILDREN, &before);
	fflush(NULL);
	double t0 = mono_ms();
	pid_t pid = fork();
	if (pid < 0) {
		fprintf(stderr, "%s: fork: %s\n", PROG, strerror(errno));
		return 125;
	}
	if (pid == 0) {
		setpgid(0, 0);
		sigprocmask(SIG_SETMASK, &old, NULL);
		if (redirect(0, in, O_RDONLY) < 0 ||
		    redirect(1, out, O_WRONLY | O_CREAT | O_TRUNC) < 0 ||
		    (errf && redirect(2, errf, O_WRONLY | O_CREAT | O_TRUNC) < 0))
			_exit(127);
		if (dir && chdir(dir) < 0) {
			fprintf(stderr, "%s: %s: %s\n", PROG, dir, strerror(errno));
			_exit(127);
		}
		if (cmd)
			execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		else
			execvp(argv[optind], argv + optind);
		fprintf(stderr, "%s: %s: %s\n", PROG, cmd ? "/bin/sh" : argv[optind],
			strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);	/* also here, so a kill right away finds the group */

	int status = 0;
	bool timed_out = false, killed = false;
	double kill_at = 0;	/* after SIGTERM: when SIGKILL follows */
	for (;;) {
		pid_t w = wait4(pid, &status, WNOHANG, &self);
		if (w == pid)
			break;
		if (w < 0 && errno != EINTR) {
			fprintf(stderr, "%s: wait: %s\n", PROG, strerror(errno));
			kill(-pid, SIGKILL);
			return 125;
		}
		double now = mono_ms(), until;
		if (killed)
			until = kill_at;
		else if (limit_s > 0)
			until = t0 + limit_s * 1e3;
		else
			until = now + 3600e3;
		if (now >= until) {
			if (killed) {
				kill(-pid, SIGKILL);
				until = now + 3600e3;
			} else {
				timed_out = true;
				killed = true;
				kill(-pid, SIGTERM);
				kill_at = now + 1000;
				continue;
			}
		}
		long long ns = (long long)((until - now) * 1e6);
		struct timespec ts = { (time_t)(ns / 1000000000LL), (long)(ns % 1000000000LL) };
		int sig = sigtimedwait(&set, NULL, &ts);
		if ((sig == SIGINT || sig == SIGTERM || sig == SIGHUP) && !killed) {
			killed = true;
			kill(-pid, SIGTERM);
			kill_at = mono_ms() + 1000;
		}
	}
	double t1 = mono_ms();
	kill(-pid, SIGKILL);	/* whatever the command left behind in its group */
	getrusage(RUSAGE_CHILDREN, &after);

	int code;
	if (WIFEXITED(status))
		code = WEXITSTATUS(status);
	else if (WIFSIGNALED(status))
		code = 128 + WTERMSIG(status);
	else
		code = 125;
	double user = ms_of(after.ru_utime) - ms_of(before.ru_utime);
	double sys = ms_of(after.ru_stime) - ms_of(before.ru_stime);
	long rss = after.ru_maxrss > self.ru_maxrss ? after.ru_maxrss : self.ru_maxrss;

	jv o = jv_object();
	o = jv_object_set(o, jv_string("wall_ms"), jv_number(round3(t1 - t0)));
	o = jv_object_set(o, jv_string("cpu_ms"), jv_number(round3(user + sys)));
	o = jv_object_set(o, jv_string("user_ms"), jv_number(round3(user)));
	o = jv_object_set(o, jv_string("sys_ms"), jv_number(round3(sys)));
	o = jv_object_set(o, jv_string("maxrss_kb"), jv_number((double)rss));
	o = jv_object_set(o, jv_string("exit_code"), jv_number(code));
	o = jv_object_set(o, jv_string("timed_out"), jv_bool(timed_out));
	jv s = jv_dump_string(o, 0);
	printf("%s\n", jv_string_value(s));
	jv_free(s);
	if (fflush(stdout) != 0)
		return 125;
	if (timed_out) {
		fprintf(stderr, "%s: timed out after %g s: %s\n", PROG, limit_s,
			cmd ? cmd : argv[optind]);
		return 124;
	}
	return code;
}
