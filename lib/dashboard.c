#define _DEFAULT_SOURCE	/* kill, strncasecmp */
#include "dashboard.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

static const struct {
	const char *path;
	enum dash_route route;
} routes[] = {
	{ "/", DASH_PAGE },
	{ "/index.html", DASH_PAGE },
	{ "/app.js", DASH_SCRIPT },
	{ "/app.css", DASH_STYLE },
	{ "/api/sessions", DASH_API_SESSIONS },
	{ "/api/session", DASH_API_SESSION },
	{ "/api/events", DASH_API_EVENTS },
	{ "/api/stats", DASH_API_STATS },
	{ "/api/search", DASH_API_SEARCH },
	{ "/api/live", DASH_SSE_LIVE },
	{ "/api/stream", DASH_SSE_SESSION },
};

enum dash_route dash_route(const char *path)
{
	for (size_t i = 0; path && i < sizeof routes / sizeof routes[0]; i++)
		if (strcmp(path, routes[i].path) == 0)
			return routes[i].route;
	return DASH_NOT_FOUND;
}

int dash_refusal(const struct dash_request_facts *r)
{
	if (r->url_len > DASH_MAX_URL)
		return 414;
	if (r->header_count > DASH_MAX_HEADERS)
		return 431;
	if (!r->method || (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0))
		return 405;
	if (r->has_body)
		return 413;
	if (!r->token_ok)
		return 401;
	return 0;
}

/* Equal strings, in time that depends only on the lengths. */
static bool same(const char *a, const char *b, size_t blen)
{
	size_t alen = strlen(a);
	unsigned char diff = alen != blen;
	for (size_t i = 0; i < alen; i++)
		diff |= (unsigned char)(a[i] ^ (i < blen ? b[i] : 0));
	return diff == 0;
}

bool dash_token_ok(const char *token, const char *query_token, const char *cookie_header)
{
	if (!token || !*token)
		return false;
	if (query_token && same(token, query_token, strlen(query_token)))
		return true;
	for (const char *c = cookie_header; c && *c;) {
		while (*c == ' ' || *c == ';')
			c++;
		size_t len = strcspn(c, ";");
		if (len > 11 && strncmp(c, "bllm_token=", 11) == 0 && same(token, c + 11, len - 11))
			return true;
		c += len;
	}
	return false;
}

char *dash_new_token(void)
{
	unsigned char raw[16];
	if (getrandom(raw, sizeof raw, 0) != (ssize_t)sizeof raw)
		return NULL;
	char *t = xmalloc(33);
	for (int i = 0; i < 16; i++)
		snprintf(t + 2 * i, 3, "%02x", raw[i]);
	return t;
}

void dash_sse_message(struct buf *out, const char *event, const char *id, const char *data)
{
	if (id)
		buf_printf(out, "id: %s\n", id);
	if (event)
		buf_printf(out, "event: %s\n", event);
	const char *p = data ? data : "";
	do {
		size_t len = strcspn(p, "\r\n");
		buf_appends(out, "data: ");
		buf_append(out, p, len);
		buf_appendc(out, '\n');
		p += len;
		if (*p == '\r' && p[1] == '\n')
			p++;
		if (*p)
			p++;
	} while (*p);
	buf_appendc(out, '\n');
}

int dash_parse_listen(const char *s, char addr[64], int *port)
{
	const char *colon = s ? strrchr(s, ':') : NULL;
	if (!colon || colon == s || (size_t)(colon - s) >= 64 || !colon[1])
		return -1;
	char *end;
	long p = strtol(colon + 1, &end, 10);
	if (*end || p < 0 || p > 65535)
		return -1;
	memcpy(addr, s, (size_t)(colon - s));
	addr[colon - s] = '\0';
	unsigned a, b, c, d;
	char extra;
	if (sscanf(addr, "%u.%u.%u.%u%c", &a, &b, &c, &d, &extra) != 4 || a > 255 || b > 255 ||
	    c > 255 || d > 255)
		return -1;
	*port = (int)p;
	return 0;
}

int dash_spawn(const char *sessions_dir, pid_t *pid, char **url, char **err)
{
	char *prog = cli_sibling_program("bllm-dashboard");
	char parent[32];
	snprintf(parent, sizeof parent, "%ld", (long)getpid());
	int fds[2];
	if (pipe(fds) < 0 || fcntl(fds[0], F_SETFD, FD_CLOEXEC) < 0) {
		*err = xasprintf("cannot start %s: %s", prog, strerror(errno));
		free(prog);
		return -1;
	}
	pid_t child = fork();
	if (child < 0) {
		*err = xasprintf("cannot start %s: %s", prog, strerror(errno));
		close(fds[0]);
		close(fds[1]);
		free(prog);
		return -1;
	}
	if (child == 0) {
		dup2(fds[1], 1);
		close(fds[1]);
		int devnull = open("/dev/null", O_RDONLY);
		if (devnull >= 0)
			dup2(devnull, 0);
		unsetenv("ANTHROPIC_API_KEY");	/* it reads the history, never the API */
		unsetenv("CLAUDE_CODE_OAUTH_TOKEN");
		execl(prog, "bllm-dashboard", "--listen", "127.0.0.1:0", "--sessions-dir", sessions_dir,
		      "--exit-with", parent, (char *)NULL);
		_exit(127);
	}
	close(fds[1]);
	/* The URL line, within 10 s. */
	struct buf line = BUF_INIT;
	struct pollfd pfd = { .fd = fds[0], .events = POLLIN };
	char c;
	while (poll(&pfd, 1, 10000) > 0 && read(fds[0], &c, 1) == 1 && c != '\n')
		buf_appendc(&line, c);
	close(fds[0]);
	if (strncmp(buf_str(&line), "http://", 7) != 0) {
		*err = xasprintf("%s did not start (see its message above)", prog);
		buf_free(&line);
		free(prog);
		dash_spawn_stop(child);
		return -1;
	}
	free(prog);
	*pid = child;
	*url = buf_detach(&line);
	return 0;
}

void dash_spawn_stop(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		usleep(20000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
