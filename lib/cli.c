#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "ask.h"
#include "buf.h"
#include "cache.h"
#include "config.h"
#include "event.h"
#include "io.h"
#include "observe.h"

const char *cli_progname(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	return slash ? slash + 1 : argv0;
}

void cli_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const char *prog, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "%s: ", prog);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry '%s --help'.\n", prog);
	return 2;
}

int cli_parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

int cli_parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static volatile sig_atomic_t *signal_count;

static void on_signal(int sig)
{
	(void)sig;
	if (signal_count)
		(*signal_count)++;
}

void cli_install_signals(volatile sig_atomic_t *count)
{
	signal_count = count;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);	/* a closed terminal stops a run like SIGTERM */
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	/* A file-size limit is a write error to report (EFBIG), not a crash. */
	sigaction(SIGXFSZ, &sa, NULL);
}

/* Logs and metrics for this run; a problem with them is a warning, not a failure. */
void cli_start_observing(const struct config *cfg, struct event_ctx *ev, const char *prog)
{
	char *err = NULL;
	if (observe_open(cfg, &err) < 0) {
		cli_error(prog, "warning: logging is off: %s", err);
		free(err);
	}
	if (ev)
		observe_set_context(ev->session_id, ev->run_id, ev->agent, NULL, NULL);
}

/* The response cache, or NULL (with a warning) when it cannot be opened. */
struct cache *cli_open_cache(const struct config *cfg, struct event_ctx *ev, const char *prog)
{
	char *dir = cache_default_dir(), *err = NULL;
	struct cache *c = dir ? cache_open(dir, config_number(cfg, "performance.cache_ttl_seconds", 3600),
					   (int)config_number(cfg, "performance.cache_max_size", 100), &err)
			      : NULL;
	if (!c && err) {
		char *msg = xasprintf("response cache off: %s", err);
		cli_error(prog, "warning: %s", msg);
		if (ev)
			event_log(ev, "warning", msg);
		free(msg);
	}
	free(err);
	free(dir);
	return c;
}

char *cli_sibling_program(const char *name)
{
	char self[4096];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return xstrdup(name);
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	*slash = '\0';
	return xasprintf("%s/%s", self, name);
}

char *cli_state_path(const char *name)
{
	char *dir = config_state_dir();
	if (!dir || io_mkdirs(dir, 0700) < 0) {
		free(dir);
		return NULL;
	}
	char *path = xasprintf("%s/%s", dir, name);
	free(dir);
	return path;
}

bool cli_ask(const char *prompt, double timeout_s, char *answer, size_t size)
{
	return ask_countdown(prompt, timeout_s, answer, size, signal_count);
}

/*
 * Takes NAME=VALUE lines from the descriptor BLLM_CREDENTIALS_FD names (the
 * manager hands a worker its credentials that way, never in the
 * environment it starts with) into the environment, which now lives on the
 * heap, out of /proc/PID/environ. Only the credentials' names are taken.
 */
static void take_credentials_fd(void)
{
	const char *fdname = getenv("BLLM_CREDENTIALS_FD");
	long fd;
	if (!fdname || cli_parse_long(fdname, 3, 1024, &fd) < 0)
		return;
	unsetenv("BLLM_CREDENTIALS_FD");
	struct buf b = BUF_INIT;
	if (io_read_all((int)fd, &b) < 0) {
		buf_free(&b);
		close((int)fd);
		return;
	}
	close((int)fd);
	static const char *const names[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
					     "ANTHROPIC_AUTH_TOKEN" };
	for (char *line = b.data, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		char *eq = strchr(line, '=');
		if (!eq)
			continue;
		*eq = '\0';
		for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(line, names[i]) == 0)
				setenv(line, eq + 1, 1);
	}
	if (b.data)
		memset(b.data, 0, b.len);
	buf_free(&b);
}

void cli_protect_secrets(void)
{
	take_credentials_fd();
#ifdef __linux__
	/* Not dumpable: other processes of the same user (a command an agent
	 * runs) cannot read /proc/PID/environ nor attach a debugger. */
	prctl(PR_SET_DUMPABLE, 0);
#endif
	/*
	 * /proc/PID/environ shows the environment block the process started
	 * with, to root whatever the above says. Move the credentials out of
	 * it: wipe them there and set them again, which copies them to the
	 * heap, where getenv and child processes still find them.
	 */
	static const char *const names[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
					     "ANTHROPIC_AUTH_TOKEN" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		char *value = getenv(names[i]);
		if (!value)
			continue;
		char *copy = xstrdup(value);
		memset(value, 0, strlen(value));
		setenv(names[i], copy, 1);
		memset(copy, 0, strlen(copy));
		free(copy);
	}
}
