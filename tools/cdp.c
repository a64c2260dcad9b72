/*
 * cdp: drives headless Chromium over the DevTools protocol on a pipe
 * (--remote-debugging-pipe: NUL-ended JSON messages on fds 3 and 4), so a
 * test can keep one page open while a run goes on and watch it change
 * without a reload. For tests and the README's screenshot; not installed.
 *
 *   cdp [--width W] [--height H] [--timeout S] [--watch JS]... [--until JS]
 *       [--then JS] [--dump] [--screenshot FILE] URL
 *
 * Opens URL; every 200 ms evaluates each --watch expression and prints
 * "watch N: VALUE" whenever its value changes; stops when --until is true
 * (or at once without one, after the page loaded), runs --then (say, a
 * click) and waits half a second, then prints the DOM
 * (--dump) and/or writes a PNG (--screenshot). Every page error (an
 * uncaught exception, console.error, a failed load) is printed as
 * "page error: ...". Exit: 0 done, 1 --until not true within --timeout
 * (default 20 s), 2 usage, 3 Chromium failed. $CHROMIUM overrides
 * /usr/bin/chromium.
 */
#define _DEFAULT_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"

static int to_chrome = -1, from_chrome = -1;
static struct buf inbox = BUF_INIT;
static int next_id = 1;
static char *session_id;

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Sends a command (params consumed); returns its id. */
static int send_cmd(const char *method, jv params)
{
	jv m = jv_object_set(jv_object(), jv_string("id"), jv_number(next_id));
	m = jv_object_set(m, jv_string("method"), jv_string(method));
	m = jv_object_set(m, jv_string("params"), params);
	if (session_id)
		m = jv_object_set(m, jv_string("sessionId"), jv_string(session_id));
	jv s = jv_dump_string(m, 0);
	const char *p = jv_string_value(s);
	size_t n = strlen(p) + 1;	/* with the NUL */
	while (n > 0) {
		ssize_t w = write(to_chrome, p, n);
		if (w <= 0)
			break;
		p += w;
		n -= (size_t)w;
	}
	jv_free(s);
	return next_id++;
}

/* Prints what a protocol event says about a page error. */
static void note_event(jv m)
{
	const char *method = json_str(m, "method");
	if (!method)
		return;
	jv params = json_get(m, "params");
	if (strcmp(method, "Runtime.exceptionThrown") == 0) {
		jv d = json_get(params, "exceptionDetails");
		jv ex = json_get(d, "exception");
		const char *desc = json_str(ex, "description");
		printf("page error: %s\n", desc ? desc : json_str(d, "text") ? json_str(d, "text") : "exception");
		jv_free(ex);
		jv_free(d);
	} else if (strcmp(method, "Runtime.consoleAPICalled") == 0 && json_str(params, "type") &&
		   strcmp(json_str(params, "type"), "error") == 0) {
		jv args = json_get(params, "args");
		jv first = jv_array_get(args, 0);
		printf("page error: console.error: %s\n", json_str(first, "value") ? json_str(first, "value") : "?");
		jv_free(first);
	} else if (strcmp(method, "Log.entryAdded") == 0) {
		jv e = json_get(params, "entry");
		if (json_str(e, "level") && strcmp(json_str(e, "level"), "error") == 0)
			printf("page error: %s: %s\n", json_str(e, "url") ? json_str(e, "url") : "",
			       json_str(e, "text") ? json_str(e, "text") : "?");
		jv_free(e);
	}
	fflush(stdout);
	jv_free(params);
}

/* Waits for the reply to command id (events meanwhile noted). Returns its "result", or invalid. */
static jv wait_reply(int id, double timeout_s)
{
	double end = now_s() + timeout_s;
	for (;;) {
		char *nul;
		while ((nul = memchr(inbox.data ? inbox.data : "", '\0', inbox.len))) {
			jv m = jv_parse_sized(inbox.data, (int)(nul - inbox.data));
			buf_consume(&inbox, (size_t)(nul - inbox.data) + 1);
			if (!jv_is_valid(m)) {
				jv_free(m);
				continue;
			}
			if (json_num(m, "id", -1) == id) {
				jv r = json_get(m, "result");
				jv e = json_get(m, "error");
				if (jv_get_kind(e) != JV_KIND_NULL) {
					fprintf(stderr, "cdp: %s\n", json_str(e, "message") ? json_str(e, "message") : "error");
					jv_free(r);
					r = jv_invalid();
				}
				jv_free(e);
				jv_free(m);
				return r;
			}
			note_event(m);
			jv_free(m);
		}
		double left = end - now_s();
		if (left <= 0)
			return jv_invalid();
		struct pollfd p = { .fd = from_chrome, .events = POLLIN };
		if (poll(&p, 1, (int)(left * 1000) + 1) <= 0)
			continue;
		char chunk[65536];
		ssize_t n = read(from_chrome, chunk, sizeof chunk);
		if (n <= 0)
			return jv_invalid();
		buf_append(&inbox, chunk, (size_t)n);
	}
}

static jv call(const char *method, jv params)
{
	return wait_reply(send_cmd(method, params), 30);
}

/* The value of a JS expression in the page, as JSON text (malloc'd). */
static char *evaluate(const char *expr)
{
	jv p = jv_object_set(jv_object(), jv_string("expression"), jv_string(expr));
	p = jv_object_set(p, jv_string("returnByValue"), jv_true());
	jv r = call("Runtime.evaluate", p);
	jv res = json_get(r, "result");
	jv v = json_get(res, "value");
	jv s = jv_dump_string(v, 0);
	char *out = xstrdup(jv_string_value(s));
	jv_free(s);
	jv_free(res);
	jv_free(r);
	return out;
}

static int b64(int c)
{
	if (c >= 'A' && c <= 'Z') return c - 'A';
	if (c >= 'a' && c <= 'z') return c - 'a' + 26;
	if (c >= '0' && c <= '9') return c - '0' + 52;
	if (c == '+') return 62;
	if (c == '/') return 63;
	return -1;
}

static int write_png(const char *path, const char *data)
{
	FILE *f = fopen(path, "wb");
	if (!f)
		return -1;
	unsigned acc = 0;
	int bits = 0;
	for (const char *p = data; *p; p++) {
		int v = b64((unsigned char)*p);
		if (v < 0)
			continue;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			fputc((int)((acc >> bits) & 0xff), f);
		}
	}
	return fclose(f);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "width", required_argument, NULL, 'w' }, { "height", required_argument, NULL, 'H' },
		{ "timeout", required_argument, NULL, 't' }, { "watch", required_argument, NULL, 'W' },
		{ "until", required_argument, NULL, 'u' }, { "dump", no_argument, NULL, 'd' },
		{ "screenshot", required_argument, NULL, 's' }, { "then", required_argument, NULL, 'T' },
		{ NULL, 0, NULL, 0 },
	};
	int width = 1200, height = 800, ch, nwatch = 0;
	double timeout = 20;
	const char *until = NULL, *shot = NULL, *then = NULL, *watch[16];
	bool dump = false;
	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'w': width = atoi(optarg); break;
		case 'H': height = atoi(optarg); break;
		case 't': timeout = atof(optarg); break;
		case 'W': if (nwatch < 16) watch[nwatch++] = optarg; break;
		case 'u': until = optarg; break;
		case 'd': dump = true; break;
		case 's': shot = optarg; break;
		case 'T': then = optarg; break;
		default: fprintf(stderr, "usage: cdp [--watch JS] [--until JS] [--dump] [--screenshot F] URL\n"); return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "cdp: expected one URL\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	char profile[] = "/tmp/bllm-cdp.XXXXXX";
	if (!mkdtemp(profile))
		return 3;
	int in[2], out[2];	/* in: we write, chrome reads on 3; out: chrome writes on 4 */
	if (pipe(in) < 0 || pipe(out) < 0)
		return 3;
	const char *chrome = getenv("CHROMIUM") ? getenv("CHROMIUM") : "/usr/bin/chromium";
	char *datadir = xasprintf("--user-data-dir=%s", profile);
	char *size = xasprintf("--window-size=%d,%d", width, height);
	pid_t pid = fork();
	if (pid == 0) {
		dup2(in[0], 3);
		dup2(out[1], 4);
		for (int fd = 5; fd < 256; fd++)
			close(fd);
		int devnull = open("/dev/null", O_RDWR);
		dup2(devnull, 0);
		dup2(devnull, 1);
		dup2(devnull, 2);
		execl(chrome, chrome, "--headless", "--no-sandbox", "--disable-gpu",
		      "--disable-background-networking", "--disable-component-update", "--disable-sync",
		      "--no-first-run", "--hide-scrollbars", "--remote-debugging-pipe", datadir, size,
		      "about:blank", (char *)NULL);
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	to_chrome = in[1];
	from_chrome = out[0];
	int rc = 3;
	jv p = jv_object_set(jv_object(), jv_string("url"), jv_string("about:blank"));
	jv r = call("Target.createTarget", p);
	const char *target = json_str(r, "targetId");
	if (!target) {
		fprintf(stderr, "cdp: %s did not start\n", chrome);
		jv_free(r);
		goto out;
	}
	p = jv_object_set(jv_object(), jv_string("targetId"), jv_string(target));
	p = jv_object_set(p, jv_string("flatten"), jv_true());
	jv a = call("Target.attachToTarget", p);
	jv_free(r);
	session_id = json_str(a, "sessionId") ? xstrdup(json_str(a, "sessionId")) : NULL;
	jv_free(a);
	jv_free(call("Runtime.enable", jv_object()));
	jv_free(call("Log.enable", jv_object()));
	jv_free(call("Page.enable", jv_object()));
	p = jv_object_set(jv_object(), jv_string("width"), jv_number(width));
	p = jv_object_set(p, jv_string("height"), jv_number(height));
	p = jv_object_set(p, jv_string("deviceScaleFactor"), jv_number(1));
	p = jv_object_set(p, jv_string("mobile"), jv_false());
	jv_free(call("Emulation.setDeviceMetricsOverride", p));
	jv_free(call("Page.navigate", jv_object_set(jv_object(), jv_string("url"), jv_string(argv[optind]))));
	char *last[16] = { 0 };
	double end = now_s() + timeout;
	rc = 1;
	for (;;) {
		for (int i = 0; i < nwatch; i++) {
			char *v = evaluate(watch[i]);
			if (!last[i] || strcmp(v, last[i]) != 0) {
				printf("watch %d: %s\n", i + 1, v);
				fflush(stdout);
				free(last[i]);
				last[i] = v;
			} else {
				free(v);
			}
		}
		char *done = evaluate(until ? until : "document.readyState === 'complete'");
		bool ok = strcmp(done, "true") == 0;
		free(done);
		if (ok) {
			rc = 0;
			break;
		}
		if (now_s() > end)
			break;
		jv_free(wait_reply(-1, 0.2));	/* events only: a pause that still listens */
	}
	if (rc == 0 && then) {
		free(evaluate(then));
		jv_free(wait_reply(-1, 0.5));
	}
	if (rc == 0 && dump) {
		char *html = evaluate("document.documentElement.outerHTML");
		jv s = jv_parse(html);
		puts(jv_get_kind(s) == JV_KIND_STRING ? jv_string_value(s) : html);
		jv_free(s);
		free(html);
	}
	if (rc == 0 && shot) {
		jv png = call("Page.captureScreenshot", jv_object_set(jv_object(), jv_string("format"), jv_string("png")));
		if (!json_str(png, "data") || write_png(shot, json_str(png, "data")) < 0) {
			fprintf(stderr, "cdp: cannot write %s\n", shot);
			rc = 3;
		}
		jv_free(png);
	}
	if (rc == 1)
		fprintf(stderr, "cdp: not true within %gs: %s\n", timeout, until ? until : "page loaded");
	for (int i = 0; i < nwatch; i++)
		free(last[i]);
out:
	close(to_chrome);	/* Chromium ends when its pipe closes; SIGTERM if it does not */
	for (int i = 0; i < 50 && waitpid(pid, NULL, WNOHANG) == 0; i++)
		usleep(100000);
	if (waitpid(pid, NULL, WNOHANG) == 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
	char *rm = xasprintf("rm -rf '%s'", profile);
	if (system(rm) != 0)
		fprintf(stderr, "cdp: could not remove %s\n", profile);
	free(rm);
	free(datadir);
	free(size);
	free(session_id);
	buf_free(&inbox);
	return rc;
}
