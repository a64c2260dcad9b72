/*
 * fake-anthropic: a scripted Anthropic Messages API server on a loopback port.
 *
 * Every test and the offline demo talk to this instead of the real API. A
 * scenario file (tests/scenarios/README.md) says which reply answers which
 * request, and which faults to inject. Replies follow the API's wire format
 * (as in the recorded streams of tests/fixtures/anthropic-sse/), and
 * usage figures, prompt caching included, behave like the API's.
 *
 * Threads: one detached thread per connection. Scenario rules are loaded
 * once and only read afterwards, except their use counters, which live
 * under `lock` together with the request counter, the prompt-cache set and
 * the request log. jv values are never shared between threads (jq 1.6
 * reference counts are not atomic): a rule's reply is kept as JSON text and
 * parsed afresh by each request.
 */
#define _DEFAULT_SOURCE
#include "fake.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
atomic_int stopping;
static int sig_pipe[2] = { -1, -1 };
/* All below under lock. */
static unsigned long request_count;
static int log_fd = -1;
static int *conn_fds;
static size_t nconns, conns_cap;
static size_t nthreads;


/* A malloc'd replacement for a secret header's value, or NULL to log it as sent. */
static char *redact(const char *name, const char *value)
{
	if (!strcmp(name, "x-api-key") || !strcmp(name, "cookie"))
		return xstrdup("[redacted]");
	if (!strcmp(name, "authorization") || !strcmp(name, "proxy-authorization")) {
		size_t scheme = strcspn(value, " \t");
		if (scheme && value[scheme])
			return xasprintf("%.*s [redacted]", (int)scheme, value);
		return xstrdup("[redacted]");
	}
	return NULL;
}

static jv headers_json(const struct request *rq)
{
	jv o = jv_object();
	for (size_t i = 0; i < rq->nh; i++) {
		char *red = redact(rq->h[i].name, rq->h[i].value);
		jv key = jv_string(rq->h[i].name);
		jv val = jv_string(red ? red : rq->h[i].value);
		jv prev = jv_object_get(jv_copy(o), jv_copy(key));
		if (jv_is_valid(prev))
			val = jv_string_concat(jv_string_concat(prev, jv_string(", ")), val);
		else
			jv_free(prev);
		o = jv_object_set(o, key, val);
		free(red);
	}
	return o;
}

/* Consumes entry. Called under lock, so lines never interleave. */
static void log_write(jv entry)
{
	if (log_fd < 0) {
		jv_free(entry);
		return;
	}
	struct buf b = BUF_INIT;
	jv s = jv_dump_string(entry, 0);
	size_t len;
	const char *p = str_bytes(s, &len);
	buf_append(&b, p, len);
	buf_appendc(&b, '\n');
	jv_free(s);
	for (size_t off = 0; off < b.len;) {
		ssize_t w = write(log_fd, b.data + off, b.len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			break;
		off += (size_t)w;
	}
	buf_free(&b);
}
enum { R_NOT_FOUND, R_MESSAGES, R_COUNT, R_HEALTH };

static int route_of(const struct request *rq)
{
	size_t n = strcspn(rq->target, "?");
	const char *t = rq->target;
	int post = strcmp(rq->method, "POST") == 0;
	if (post && n == 12 && strncmp(t, "/v1/messages", n) == 0)
		return R_MESSAGES;
	if (post && n == 25 && strncmp(t, "/v1/messages/count_tokens", n) == 0)
		return R_COUNT;
	if (!strcmp(rq->method, "GET") && n == 7 && strncmp(t, "/health", n) == 0)
		return R_HEALTH;
	return R_NOT_FOUND;
}

/* Borrows body. NULL when body is a usable Messages request, else why not (malloc'd). */
static char *check_request(int route, const struct request *rq, jv body, const char *parse_err)
{
	if (!rq->body.len)
		return xstrdup("fake-anthropic: request body is empty; send a JSON object");
	if (parse_err)
		return xasprintf("fake-anthropic: request body is not valid JSON: %s", parse_err);
	if (!kind_is(body, JV_KIND_OBJECT))
		return xstrdup("fake-anthropic: request body must be a JSON object");
	if (route != R_MESSAGES)
		return NULL;
	jv model = member(body, "model"), mt = member(body, "max_tokens");
	jv msgs = member(body, "messages");
	long max_tokens;
	char *why = NULL;
	if (!kind_is(model, JV_KIND_STRING))
		why = xstrdup("model: field required, a string");
	else if (as_long(mt, 1, LONG_MAX / 2, &max_tokens) < 0)
		why = xstrdup("max_tokens: field required, a positive integer");
	else if (!kind_is(msgs, JV_KIND_ARRAY))
		why = xstrdup("messages: field required, an array");
	jv_free(model);
	jv_free(mt);
	jv_free(msgs);
	return why;
}

/* Borrows body; consumes usage, the input side of the usage figures. */
static int answer(struct conn *c, const struct request *rq, const struct rule *r, jv body,
		  unsigned long n, jv usage)
{
	int act;
	if (r->fault == F_HANG) {
		jv_free(usage);
		hang(c);
		return ACT_CLOSE;
	}
	sleep_ms(r->delay_ms);
	if (r->status) {
		jv_free(usage);
		char *extra = r->retry_after ? xasprintf("Retry-After: %s\r\n", r->retry_after)
			: NULL;
		char *m = r->message ? NULL : xasprintf("fake-anthropic: scripted error %d (rule %zu)",
							r->status, r->index);
		int rc = send_error(c->fd, r->status, r->error_type, r->message ? r->message : m, n,
				    extra, rq->keep_alive);
		free(m);
		free(extra);
		return rc == 0 && rq->keep_alive ? ACT_KEEP : ACT_CLOSE;
	}
	jv msg = build_message(r, body, n, usage);
	jv stream = member(body, "stream");
	if (kind_is(stream, JV_KIND_TRUE))
		act = stream_reply(c, r, msg, n);
	else
		act = plain_reply(c, rq, r, msg, n);
	jv_free(stream);
	return act;
}

static int handle(struct conn *c, const struct request *rq)
{
	int route = route_of(rq);
	jv body = jv_invalid();
	char *parse_err = NULL;
	if (rq->body.len) {
		if (rq->body.len <= INT_MAX)
			body = jv_parse_sized(rq->body.data, (int)rq->body.len);
		if (!jv_is_valid(body)) {
			parse_err = parse_error(body);
			body = jv_invalid();
		}
	}
	char *bad = NULL;
	if (route == R_MESSAGES || route == R_COUNT)
		bad = check_request(route, rq, body, parse_err);
	struct info inf;
	int is_msg = route == R_MESSAGES && !bad;
	if (is_msg)
		info_build(&inf, body);

	jv logged_body = jv_null();
	if (jv_is_valid(body))
		logged_body = jv_copy(body);
	else if (rq->body.len)
		logged_body = jv_string_sized(rq->body.data,
					      rq->body.len > INT_MAX ? INT_MAX : (int)rq->body.len);
	jv entry = jv_object();
	jv headers = headers_json(rq);

	const struct rule *rule = NULL;
	long input = 0, create = 0, read_ = 0;
	pthread_mutex_lock(&lock);
	unsigned long n = ++request_count;
	if (is_msg) {
		for (size_t i = 0; i < nrules && !rule; i++) {
			struct rule *r = &rules[i];
			if ((r->times < 0 || r->used < r->times) && rule_matches(r, &inf, rq)) {
				r->used++;
				rule = r;
			}
		}
		if (rule && !rule->status && rule->fault != F_HANG)
			cache_account(&inf, &input, &create, &read_);
	}
	entry = jv_object_set(entry, jv_string("n"), jv_number((double)n));
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	entry = jv_object_set(entry, jv_string("t_ms"),
			      jv_number((double)now.tv_sec * 1000.0 + (double)(now.tv_nsec / 1000000)));
	entry = jv_object_set(entry, jv_string("method"), jv_string(rq->method));
	entry = jv_object_set(entry, jv_string("path"), jv_string(rq->target));
	entry = jv_object_set(entry, jv_string("headers"), headers);
	entry = jv_object_set(entry, jv_string("body"), logged_body);
	entry = jv_object_set(entry, jv_string("rule"),
			      !rule ? jv_null()
			      : rule->name ? jv_string(rule->name)
			      : jv_number((double)rule->index));
	log_write(entry);
	pthread_mutex_unlock(&lock);

	int keep = rq->keep_alive, rc = 0, act = -1;
	if (bad) {
		rc = send_error(c->fd, 400, NULL, bad, n, NULL, keep);
	} else if (route == R_HEALTH) {
		rc = send_body(c->fd, 200, "text/plain", n, NULL, "ok", 2, keep);
	} else if (route == R_NOT_FOUND) {
		char *m = xasprintf("fake-anthropic: no route for %s %s; it serves POST /v1/messages, "
				    "POST /v1/messages/count_tokens and GET /health",
				    rq->method, rq->target);
		rc = send_error(c->fd, 404, NULL, m, n, NULL, keep);
		free(m);
	} else if (route == R_COUNT) {
		char *m = xasprintf("{\"input_tokens\":%ld}", tokens_of(rq->body.len));
		rc = send_body(c->fd, 200, "application/json", n, NULL, m, strlen(m), keep);
		free(m);
	} else if (!rule) {
		char *m = xasprintf("fake-anthropic: no rule matches request %lu", n);
		rc = send_error(c->fd, 500, "api_error", m, n, NULL, keep);
		free(m);
	} else {
		jv usage = jv_object();
		usage = jv_object_set(usage, jv_string("input_tokens"), jv_number((double)input));
		usage = jv_object_set(usage, jv_string("cache_creation_input_tokens"),
				      jv_number((double)create));
		usage = jv_object_set(usage, jv_string("cache_read_input_tokens"),
				      jv_number((double)read_));
		act = answer(c, rq, rule, body, n, usage);
	}
	if (act < 0)
		act = rc == 0 && keep ? ACT_KEEP : ACT_CLOSE;
	if (is_msg)
		info_free(&inf);
	free(bad);
	free(parse_err);
	jv_free(body);
	return act;
}

static void *conn_main(void *arg)
{
	struct conn *c = arg;
	int act = ACT_CLOSE;
	for (;;) {
		struct request rq;
		int rc = read_request(c, &rq);
		if (rc == RQ_OK)
			act = handle(c, &rq);
		else if (rc == RQ_BAD)
			send_error(c->fd, 400, NULL, "fake-anthropic: malformed HTTP request", 0,
				   NULL, 0);
		else if (rc == RQ_TOO_BIG)
			send_error(c->fd, 413, NULL, "fake-anthropic: request too large", 0, NULL, 0);
		request_free(&rq);
		if (rc != RQ_OK || act != ACT_KEEP)
			break;
	}
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nconns; i++)
		if (conn_fds[i] == c->fd) {
			conn_fds[i] = conn_fds[--nconns];
			break;
		}
	pthread_mutex_unlock(&lock);
	if (act == ACT_RESET) {
		/* Close with RST instead of FIN, so the client sees ECONNRESET. */
		struct linger lg = { 1, 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(c->fd);
	buf_free(&c->in);
	free(c);
	pthread_mutex_lock(&lock);
	if (--nthreads == 0)
		pthread_cond_broadcast(&idle_cond);
	pthread_mutex_unlock(&lock);
	return NULL;
}

static void start_conn(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	struct conn *c = xcalloc(1, sizeof *c);
	c->fd = fd;
	pthread_mutex_lock(&lock);
	if (nconns == conns_cap) {
		conns_cap = conns_cap ? conns_cap * 2 : 16;
		conn_fds = xrealloc(conn_fds, conns_cap * sizeof *conn_fds);
	}
	conn_fds[nconns++] = fd;
	nthreads++;
	pthread_mutex_unlock(&lock);

	/* Workers leave SIGTERM and SIGINT to the main thread. */
	sigset_t block, old;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	pthread_attr_t attr;
	pthread_t t;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	int err = pthread_create(&t, &attr, conn_main, c);
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		pthread_mutex_lock(&lock);
		conn_fds[--nconns] = -1;
		nthreads--;
		pthread_mutex_unlock(&lock);
		close(fd);
		free(c);
	}
}

static void on_signal(int sig)
{
	int saved = errno;
	char ch = (char)sig;
	if (write(sig_pipe[1], &ch, 1) < 0) {
		/* The pipe is full, so a wake-up is already pending. */
	}
	errno = saved;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: fake-anthropic --scenario FILE [--log FILE] [--port N] [--port-file FILE]\n"
		"       fake-anthropic --scenario FILE --check\n"
		"\n"
		"A scripted Anthropic Messages API server on 127.0.0.1 for tests and the demo.\n"
		"Prints the port it listens on, then serves until SIGTERM or SIGINT.\n"
		"\n"
		"  --scenario FILE   the rules saying which reply answers which request\n"
		"                    (format: tests/scenarios/README.md)\n"
		"  --log FILE        append one JSON line per request (secrets redacted)\n"
		"  --port N          port to listen on (default 0: any free port)\n"
		"  --port-file FILE  also write the port there, atomically\n"
		"  --check           validate the scenario file and exit\n"
		"  --help            show this help\n"
		"  --version         show the version\n"
		"\n"
		"Exit status: 0 ok, 1 cannot serve (port, log file), 2 bad flags or scenario.\n");
}

static int usage_error(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": %s%s%s\nTry '" PROG " --help'.\n", what, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

static int write_port_file(const char *path, int port)
{
	char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int ok = f && fprintf(f, "%d\n", port) > 0;
	if (f && fclose(f) != 0)
		ok = 0;
	if (ok && rename(tmp, path) != 0)
		ok = 0;
	if (!ok) {
		fprintf(stderr, PROG ": cannot write port file %s: %s\n", path, strerror(errno));
		unlink(tmp);
	}
	free(tmp);
	return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "scenario", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "port", required_argument, NULL, 'p' },
		{ "port-file", required_argument, NULL, 'f' },
		{ "check", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *scenario = NULL, *log_path = NULL, *port_file = NULL;
	long port = 0;
	int check = 0, o;
	opterr = 0;
	while ((o = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		char *end;
		switch (o) {
		case 's': scenario = optarg; break;
		case 'l': log_path = optarg; break;
		case 'f': port_file = optarg; break;
		case 'c': check = 1; break;
		case 'p':
			errno = 0;
			port = strtol(optarg, &end, 10);
			if (!*optarg || *end || errno || port < 0 || port > 65535)
				return usage_error("--port: expected a number from 0 to 65535, got",
						   optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf(PROG " " BLLM_VERSION "\n");
			return 0;
		case ':':
			return usage_error("option needs a value:", argv[optind - 1]);
		default:
			return usage_error("unknown option", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (!scenario)
		return usage_error("--scenario FILE is required", NULL);

	char *err = NULL;
	if (load_scenario(scenario, &err) < 0) {
		fprintf(stderr, PROG ": %s\n", err);
		free(err);
		return 2;
	}
	if (check) {
		rules_free(rules, nrules);
		return 0;
	}
	int status = 1, lfd = -1;
	if (log_path) {
		log_fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (log_fd < 0) {
			fprintf(stderr, PROG ": cannot open log %s: %s\n", log_path, strerror(errno));
			goto out;
		}
	}
	if (pipe(sig_pipe) < 0) {
		fprintf(stderr, PROG ": pipe: %s\n", strerror(errno));
		goto out;
	}
	fcntl(sig_pipe[1], F_SETFL, O_NONBLOCK);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);

	struct sockaddr_in addr;
	socklen_t alen = sizeof addr;
	int one = 1;
	memset(&addr, 0, sizeof addr);
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
	    bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(lfd, 128) < 0 ||
	    getsockname(lfd, (struct sockaddr *)&addr, &alen) < 0) {
		fprintf(stderr, PROG ": cannot listen on 127.0.0.1:%ld: %s\n", port,
			strerror(errno));
		goto out;
	}
	int bound = ntohs(addr.sin_port);
	printf("%d\n", bound);
	fflush(stdout);
	if (port_file && write_port_file(port_file, bound) < 0)
		goto out;

	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { sig_pipe[0], POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, PROG ": poll: %s\n", strerror(errno));
			goto out;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLIN) {
			int fd = accept(lfd, NULL, NULL);
			if (fd >= 0)
				start_conn(fd);
			else if (errno == EMFILE || errno == ENFILE)
				sleep_ms(50);
		}
	}
	status = 0;
out:
	atomic_store(&stopping, 1);
	if (lfd >= 0)
		close(lfd);
	/* Wake every connection thread and give them a moment to finish. */
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < nconns; i++)
		shutdown(conn_fds[i], SHUT_RDWR);
	struct timespec deadline;
	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 3;
	while (nthreads > 0 &&
	       pthread_cond_timedwait(&idle_cond, &lock, &deadline) == 0)
		;
	int drained = nthreads == 0;
	pthread_mutex_unlock(&lock);
	if (drained) {
		rules_free(rules, nrules);
		free(conn_fds);
		free(cache_set);
	}
	if (log_fd >= 0)
		close(log_fd);
	return status;
}

