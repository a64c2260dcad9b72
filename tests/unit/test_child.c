/* lib/child.c: long-lived children with pipes, timeouts, stops, reaping. */
#define _DEFAULT_SOURCE
#include "child.h"
#include "unit.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>

#include "buf.h"

static struct buf lines = BUF_INIT;

static void collect(const char *line, size_t len, void *user)
{
	(*(int *)user)++;
	buf_append(&lines, line, len);
	buf_appendc(&lines, '|');
}

/*
 * True when no process of group pgid is alive (zombies do not count),
 * read from /proc/PID/stat (state is field 3, the group field 5, after the
 * command name in parentheses). `ps -g` would select sessions, not groups.
 */
static bool group_gone(pid_t pgid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	bool alive = false;
	while (d && !alive && (de = readdir(d)) != NULL) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		char path[300], line[1024];
		snprintf(path, sizeof path, "/proc/%s/stat", de->d_name);
		FILE *f = fopen(path, "r");
		if (!f)
			continue;
		size_t n = fread(line, 1, sizeof line - 1, f);
		fclose(f);
		line[n] = '\0';
		char *end = strrchr(line, ')');
		char state;
		int ppid, pgrp;
		if (end && sscanf(end + 1, " %c %d %d", &state, &ppid, &pgrp) == 3)
			alive = pgrp == (int)pgid && state != 'Z';
	}
	if (d)
		closedir(d);
	return !alive;
}

/*
 * SIGKILL is delivered asynchronously: a killed process may still show in
 * /proc for a moment. Gone means gone within 2 s.
 */
static bool group_gone_soon(pid_t pgid)
{
	for (int i = 0; i < 200; i++) {
		if (group_gone(pgid))
			return true;
		nanosleep(&(struct timespec){ 0, 10 * 1000 * 1000 }, NULL);
	}
	return false;
}

/* The checker itself: a live group is not gone, an unused one is. */
static void test_group_gone_sees_groups(void)
{
	CHECK(!group_gone(getpgrp()));
	char *argv[] = { "/bin/sh", "-c", "sleep 30", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	CHECK(!group_gone(c.pid));	/* the child leads a group of its own */
	child_stop(&c, 0, NULL, NULL, NULL);
	CHECK(group_gone_soon(c.pid));
	child_free(&c);
}

static void test_lines_stream_and_reap(void)
{
	char *argv[] = { "/bin/sh", "-c", "cat; printf 'b\\nlast-without-newline'; exit 3", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	CHECK(child_write(&c, "a\n", 2) == 0);
	child_close_stdin(&c);
	int n = 0;
	buf_reset(&lines);
	CHECK(child_stream(&c, child_now() + 10, NULL, collect, &n) == CHILD_EXITED);
	CHECK(n == 3);
	CHECK_STR(buf_str(&lines), "a|b|last-without-newline|");
	CHECK(c.reaped && c.exit_code == 3);
	child_free(&c);
}

static void test_exec_failure_is_reported(void)
{
	char *argv[] = { "/nonexistent/program", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == -1);
	CHECK(err && strstr(err, "cannot run /nonexistent/program") != NULL);
	free(err);
}

static void test_timeout_then_stop_kills_the_group(void)
{
	/* The child ignores SIGTERM, and so does the grandchild it leaves. */
	char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30 & echo started; wait", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	child_close_stdin(&c);
	int n = 0;
	double t0 = child_now();
	CHECK(child_stream(&c, t0 + 0.5, NULL, collect, &n) == CHILD_TIMEOUT);
	CHECK(n == 1);
	double t1 = child_now();
	child_stop(&c, 0.3, NULL, collect, &n);
	double took = child_now() - t1;
	CHECK(took >= 0.25 && took < 3.0);	/* the grace, then SIGKILL */
	CHECK(c.reaped && c.exit_code == 128 + SIGKILL);
	CHECK(group_gone_soon(c.pid));
	child_free(&c);
}

static void test_interrupt_flag_stops_waiting(void)
{
	char *argv[] = { "/bin/sh", "-c", "sleep 30", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	volatile sig_atomic_t flag = 1;
	int n = 0;
	CHECK(child_stream(&c, 0, &flag, collect, &n) == CHILD_INTERRUPTED);
	child_stop(&c, 2.0, NULL, NULL, NULL);	/* sleep dies on SIGTERM: no need to wait */
	CHECK(c.reaped && c.exit_code == 128 + SIGTERM);
	child_free(&c);
}

static void test_second_signal_cuts_the_grace(void)
{
	char *argv[] = { "/bin/sh", "-c", "trap '' TERM; sleep 30", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	volatile sig_atomic_t signals = 2;
	double t0 = child_now();
	child_stop(&c, 10.0, &signals, NULL, NULL);
	CHECK(child_now() - t0 < 2.0);
	CHECK(c.reaped && group_gone_soon(c.pid));
	child_free(&c);
}

static void test_descendant_groups_are_killed(void)
{
	/* A grandchild in a process group of its own, ignoring SIGTERM, as a
	 * worker's Bash command is: stopping the child must not leave it. */
	char *argv[] = { "/bin/sh", "-c",
			 "trap '' TERM; setsid sh -c 'trap \"\" TERM; sleep 31' & echo $!; wait", NULL };
	struct child c;
	char *err = NULL;
	CHECK(child_spawn(&c, argv, NULL, &err) == 0);
	int n = 0;
	buf_reset(&lines);
	child_stream(&c, child_now() + 0.5, NULL, collect, &n);
	pid_t grandchild = (pid_t)atoi(buf_str(&lines));
	CHECK(grandchild > 0);
	child_stop(&c, 0.2, NULL, NULL, NULL);
	struct timespec ts = { 0, 200 * 1000000 };
	nanosleep(&ts, NULL);
	CHECK(group_gone(grandchild));
	child_free(&c);
}

int main(void)
{
	UNIT_RUN(test_group_gone_sees_groups);
	UNIT_RUN(test_lines_stream_and_reap);
	UNIT_RUN(test_exec_failure_is_reported);
	UNIT_RUN(test_timeout_then_stop_kills_the_group);
	UNIT_RUN(test_interrupt_flag_stops_waiting);
	UNIT_RUN(test_second_signal_cuts_the_grace);
	UNIT_RUN(test_descendant_groups_are_killed);
	buf_free(&lines);
	return unit_done();
}
