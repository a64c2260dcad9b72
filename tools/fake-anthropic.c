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
#include "buf.h"

#include <jv.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef BLLM_VERSION
#define BLLM_VERSION "0.1.0"
#endif

#define PROG "fake-anthropic"
#define MAX_HEADER (64 * 1024)
#define MAX_BODY (64UL * 1024 * 1024)
#define TEXT_PIECE 16		/* bytes per text_delta, at most */
#define JSON_PIECE 12		/* bytes per input_json_delta, at most */
#define RESET_PAUSE_MS 50	/* lets the client read what came before a reset */
#define CACHE_LOOKBACK 20	/* blocks a cache lookup covers, as in the API */
#define NOW_TOKEN "@@NOW_US@@"	/* in reply text: the send time, for latency benchmarks */

enum fault { F_NONE, F_RESET, F_TRUNCATE, F_CUT_TOOL_JSON, F_HANG, F_ERROR_EVENT, F_BAD_JSON };

static const char *const fault_names[] = {
	"", "reset", "truncate", "cut_tool_json", "hang", "error_event", "bad_json",
};

struct rule {
	size_t index;
	char *name;			/* NULL: the log shows the index */
	char *m_system, *m_last_user, *m_body, *m_tool;
	long m_turn;			/* -1: any */
	long times;			/* -1: unlimited */
	long used;			/* under lock */
	int status;			/* 0: a reply, not an error */
	char *error_type, *message, *retry_after;
	char *reply;			/* compact JSON of "reply", or NULL */
	enum fault fault;
	long drip_ms, delay_ms;
};

static struct rule *rules;
static size_t nrules;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t idle_cond = PTHREAD_COND_INITIALIZER;
static atomic_int stopping;
static int sig_pipe[2] = { -1, -1 };
/* All below under lock. */
static unsigned long request_count;
static int log_fd = -1;
static int *conn_fds;
static size_t nconns, conns_cap;
static size_t nthreads;
static uint64_t *cache_set;	/* open addressing; 0 marks a free slot */
static size_t cache_cap, cache_len;

static void sleep_ms(long ms)
{
	while (ms > 0 && !atomic_load(&stopping)) {
		long step = ms < 20 ? ms : 20;
		struct timespec ts = { 0, step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

static long tokens_of(size_t bytes)
{
	return (long)((bytes + 3) / 4);
}

/* Borrows obj. A new reference to obj[key], or jv_invalid() when absent or obj is no object. */
static jv member(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

/* Borrows s, a string. Its bytes, which may hold NULs, and their count. */
static const char *str_bytes(jv s, size_t *len)
{
	*len = (size_t)jv_string_length_bytes(jv_copy(s));
	return jv_string_value(s);
}

/* Consumes bad, an invalid value from jv_parse. Its message without the input it quotes. */
static char *parse_error(jv bad)
{
	jv msg = jv_invalid_get_msg(bad);
	char *s = xstrdup(jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
			  : "parse error");
	char *quote = strstr(s, " (while parsing '");
	if (quote)
		*quote = '\0';
	jv_free(msg);
	return s;
}

/* Consumes v. Compact JSON text, malloc'd. */
static char *dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *r = xstrdup(jv_string_value(s));
	jv_free(s);
	return r;
}

static int kind_is(jv v, jv_kind k)
{
	return jv_get_kind(v) == k;
}

static int is_str(jv v, const char *s)
{
	return kind_is(v, JV_KIND_STRING) && strcmp(jv_string_value(v), s) == 0;
}

/* memmem(3), which glibc 2.36 declares only under _GNU_SOURCE. */
static char *find_bytes(const char *hay, size_t len, const char *needle, size_t n)
{
	const char *end = hay + len;
	if (n == 0)
		return (char *)hay;
	while ((size_t)(end - hay) >= n) {
		const char *p = memchr(hay, needle[0], (size_t)(end - hay) - n + 1);
		if (!p)
			return NULL;
		if (memcmp(p, needle, n) == 0)
			return (char *)p;
		hay = p + 1;
	}
	return NULL;
}

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int fail(char **err, const char *where, const char *what)
{
	*err = xasprintf("%s: %s", where, what);
	return -1;
}

/* Borrows obj. Keys starting with '_' are comments and always allowed. */
static int check_keys(jv obj, const char *const *allowed, const char *where, char **err)
{
	for (int it = jv_object_iter(obj); jv_object_iter_valid(obj, it);
	     it = jv_object_iter_next(obj, it)) {
		jv k = jv_object_iter_key(obj, it);
		const char *key = jv_string_value(k);
		int ok = key[0] == '_';
		for (size_t i = 0; !ok && allowed[i]; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "%s%s%s: unknown field (known: ", where, *where ? "." : "",
				   key);
			for (size_t i = 0; allowed[i]; i++)
				buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
			buf_appends(&b, ")");
			*err = buf_detach(&b);
			jv_free(k);
			return -1;
		}
		jv_free(k);
	}
	return 0;
}

/* Borrows obj. *out is NULL when the field is absent. */
static int get_string(jv obj, const char *key, const char *where, char **out, char **err)
{
	jv v = member(obj, key);
	*out = NULL;
	if (!jv_is_valid(v))
		return 0;
	if (!kind_is(v, JV_KIND_STRING)) {
		char *w = xasprintf("%s.%s", where, key);
		fail(err, w, "expected a string");
		free(w);
		jv_free(v);
		return -1;
	}
	*out = xstrdup(jv_string_value(v));
	jv_free(v);
	return 0;
}

/* Borrows v. */
static int as_long(jv v, long lo, long hi, long *out)
{
	if (!kind_is(v, JV_KIND_NUMBER))
		return -1;
	double d = jv_number_value(v);
	if (d != (double)(long)d || d < (double)lo || d > (double)hi)
		return -1;
	*out = (long)d;
	return 0;
}

/* Borrows obj. *out keeps its value when the field is absent. */
static int get_long(jv obj, const char *key, long lo, long hi, const char *where, long *out,
		    char **err)
{
	jv v = member(obj, key);
	if (!jv_is_valid(v))
		return 0;
	int r = as_long(v, lo, hi, out);
	jv_free(v);
	if (r < 0) {
		char *w = xasprintf("%s.%s", where, key);
		char *what = hi < INT_MAX ? xasprintf("expected an integer from %ld to %ld", lo, hi)
			: lo == 0 ? xstrdup("expected a non-negative integer")
			: xasprintf("expected an integer of at least %ld", lo);
		fail(err, w, what);
		free(w);
		free(what);
	}
	return r;
}

static int check_match(jv m, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = { "system", "turn", "last_user", "body", "tool", NULL };
	if (!kind_is(m, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(m, keys, where, err) < 0 ||
	    get_string(m, "system", where, &r->m_system, err) < 0 ||
	    get_string(m, "last_user", where, &r->m_last_user, err) < 0 ||
	    get_string(m, "body", where, &r->m_body, err) < 0 ||
	    get_string(m, "tool", where, &r->m_tool, err) < 0 ||
	    get_long(m, "turn", 0, INT_MAX, where, &r->m_turn, err) < 0)
		return -1;
	return 0;
}

static int check_block(jv b, const char *where, char **err)
{
	static const char *const text_keys[] = { "type", "text", NULL };
	static const char *const tool_keys[] = { "type", "id", "name", "input", NULL };
	if (!kind_is(b, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	jv type = member(b, "type");
	int text = is_str(type, "text"), tool = is_str(type, "tool_use");
	jv_free(type);
	if (!text && !tool)
		return fail(err, where, "field \"type\" must be \"text\" or \"tool_use\"");
	if (check_keys(b, text ? text_keys : tool_keys, where, err) < 0)
		return -1;
	const char *need = text ? "text" : "name";
	jv v = member(b, need);
	int ok = kind_is(v, JV_KIND_STRING);
	jv_free(v);
	if (!ok) {
		char *w = xasprintf("%s.%s", where, need);
		fail(err, w, "expected a string");
		free(w);
		return -1;
	}
	if (tool) {
		jv id = member(b, "id"), input = member(b, "input");
		int bad_id = jv_is_valid(id) && !kind_is(id, JV_KIND_STRING);
		int bad_input = jv_is_valid(input) && !kind_is(input, JV_KIND_OBJECT);
		jv_free(id);
		jv_free(input);
		if (bad_id || bad_input) {
			char *w = xasprintf("%s.%s", where, bad_id ? "id" : "input");
			fail(err, w, bad_id ? "expected a string" : "expected an object");
			free(w);
			return -1;
		}
	}
	return 0;
}

static int check_reply(jv reply, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = { "content", "stop_reason", "model", "usage", NULL };
	static const char *const counts[] = {
		"input_tokens", "output_tokens", "cache_creation_input_tokens",
		"cache_read_input_tokens", NULL,
	};
	if (!kind_is(reply, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(reply, keys, where, err) < 0)
		return -1;
	char *w = xasprintf("%s.content", where);
	jv content = member(reply, "content");
	int rc = 0;
	if (!kind_is(content, JV_KIND_ARRAY)) {
		rc = fail(err, w, "expected an array of content blocks");
	} else {
		for (int i = 0; rc == 0 && i < jv_array_length(jv_copy(content)); i++) {
			char *wi = xasprintf("%s[%d]", w, i);
			jv b = jv_array_get(jv_copy(content), i);
			rc = check_block(b, wi, err);
			jv_free(b);
			free(wi);
		}
	}
	jv_free(content);
	free(w);
	if (rc < 0)
		return -1;
	char *s = NULL;
	if (get_string(reply, "stop_reason", where, &s, err) < 0)
		return -1;
	free(s);
	if (get_string(reply, "model", where, &s, err) < 0)
		return -1;
	free(s);
	jv usage = member(reply, "usage");
	if (jv_is_valid(usage)) {
		w = xasprintf("%s.usage", where);
		if (!kind_is(usage, JV_KIND_OBJECT))
			rc = fail(err, w, "expected an object");
		for (size_t i = 0; rc == 0 && counts[i]; i++) {
			long n = 0;
			rc = get_long(usage, counts[i], 0, LONG_MAX / 2, w, &n, err);
		}
		free(w);
	}
	jv_free(usage);
	if (rc < 0)
		return -1;
	r->reply = dump(jv_copy(reply));
	return 0;
}

static int check_rule(jv rj, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = {
		"name", "match", "times", "status", "error_type", "message", "retry_after",
		"reply", "fault", "drip_ms", "delay_ms", NULL,
	};
	long status = 0;
	if (!kind_is(rj, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(rj, keys, where, err) < 0 ||
	    get_string(rj, "name", where, &r->name, err) < 0 ||
	    get_long(rj, "times", 0, LONG_MAX / 2, where, &r->times, err) < 0 ||
	    get_long(rj, "status", 400, 599, where, &status, err) < 0 ||
	    get_string(rj, "error_type", where, &r->error_type, err) < 0 ||
	    get_string(rj, "message", where, &r->message, err) < 0 ||
	    get_long(rj, "drip_ms", 0, 600000, where, &r->drip_ms, err) < 0 ||
	    get_long(rj, "delay_ms", 0, 600000, where, &r->delay_ms, err) < 0)
		return -1;
	r->status = (int)status;

	char *w = NULL;
	int rc = 0;
	jv ra = member(rj, "retry_after");
	if (jv_is_valid(ra)) {
		long secs;
		if (kind_is(ra, JV_KIND_STRING) && !strpbrk(jv_string_value(ra), "\r\n"))
			r->retry_after = xstrdup(jv_string_value(ra));
		else if (as_long(ra, 0, LONG_MAX, &secs) == 0)
			r->retry_after = xasprintf("%ld", secs);
		else if (kind_is(ra, JV_KIND_NUMBER) && jv_number_value(ra) >= 0)
			r->retry_after = dump(jv_copy(ra));
		else
			rc = fail(err, w = xasprintf("%s.retry_after", where),
				  "expected a string or a non-negative number of seconds");
	}
	jv_free(ra);
	free(w);
	if (rc < 0)
		return -1;

	jv f = member(rj, "fault");
	if (jv_is_valid(f)) {
		for (size_t i = 1; i < sizeof fault_names / sizeof *fault_names; i++)
			if (is_str(f, fault_names[i]))
				r->fault = (enum fault)i;
		if (r->fault == F_NONE)
			rc = fail(err, w = xasprintf("%s.fault", where),
				  "expected one of reset, truncate, cut_tool_json, hang, "
				  "error_event, bad_json");
	}
	jv_free(f);
	free(w);
	if (rc < 0)
		return -1;

	jv m = member(rj, "match");
	if (jv_is_valid(m))
		rc = check_match(m, r, w = xasprintf("%s.match", where), err);
	jv_free(m);
	free(w);
	w = NULL;
	if (rc < 0)
		return -1;

	jv reply = member(rj, "reply");
	if (jv_is_valid(reply))
		rc = check_reply(reply, r, w = xasprintf("%s.reply", where), err);
	jv_free(reply);
	free(w);
	if (rc < 0)
		return -1;

	if (r->status && (r->reply || r->fault))
		return fail(err, where, "\"status\" answers with an error, so it takes no "
			    "\"reply\" or \"fault\"; split it into two rules");
	if (!r->status && (r->error_type || r->message || r->retry_after))
		return fail(err, where, "\"error_type\", \"message\" and \"retry_after\" "
			    "need \"status\"");
	if (!r->status && !r->reply && !r->fault)
		return fail(err, where, "needs \"reply\", \"status\" or \"fault\"");
	return 0;
}

static void rules_free(struct rule *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rule *r = &rs[i];
		free(r->name);
		free(r->m_system);
		free(r->m_last_user);
		free(r->m_body);
		free(r->m_tool);
		free(r->error_type);
		free(r->message);
		free(r->retry_after);
		free(r->reply);
	}
	free(rs);
}

static char *slurp(const char *path, size_t *len, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*err = xasprintf("cannot open it: %s", strerror(errno));
		return NULL;
	}
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		*err = xstrdup("cannot read it");
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return buf_detach(&b);
}

/* On success sets rules/nrules. *err gets "FILE: where: problem". */
static int load_scenario(const char *path, char **err)
{
	char *e = NULL;
	size_t len = 0;
	char *text = slurp(path, &len, &e);
	if (!text)
		goto bad;
	if (len > INT_MAX) {
		free(text);
		e = xstrdup("file too large");
		goto bad;
	}
	jv doc = jv_parse_sized(text, (int)len);
	free(text);
	if (!jv_is_valid(doc)) {
		char *why = parse_error(doc);
		e = xasprintf("not valid JSON: %s", why);
		free(why);
		goto bad;
	}
	static const char *const top_keys[] = { "rules", NULL };
	jv rs = member(doc, "rules");
	struct rule *out = NULL;
	int n = 0, rc = 0;
	if (!kind_is(doc, JV_KIND_OBJECT))
		rc = fail(&e, "top level", "expected an object {\"rules\": [...]}");
	else if (check_keys(doc, top_keys, "", &e) < 0)
		rc = -1;
	else if (!kind_is(rs, JV_KIND_ARRAY))
		rc = fail(&e, "rules", "field required, expected an array of rules");
	if (rc == 0) {
		n = jv_array_length(jv_copy(rs));
		out = xcalloc((size_t)n, sizeof *out);
		for (int i = 0; rc == 0 && i < n; i++) {
			struct rule *r = &out[i];
			r->index = (size_t)i;
			r->m_turn = -1;
			r->times = -1;
			char *where = xasprintf("rules[%d]", i);
			jv rj = jv_array_get(jv_copy(rs), i);
			rc = check_rule(rj, r, where, &e);
			jv_free(rj);
			free(where);
		}
	}
	jv_free(rs);
	jv_free(doc);
	if (rc < 0) {
		rules_free(out, (size_t)n);
		goto bad;
	}
	rules = out;
	nrules = (size_t)n;
	return 0;
bad:
	*err = xasprintf("%s: %s", path, e);
	free(e);
	return -1;
}

struct header {
	char *name;		/* lowercased */
	char *value;
};

struct request {
	char *method, *target;
	struct header *h;
	size_t nh;
	struct buf body;
	int keep_alive;
};

struct conn {
	int fd;
	struct buf in;
};

enum { RQ_OK = 1, RQ_EOF = 0, RQ_BAD = -1, RQ_TOO_BIG = -2 };
enum { ACT_KEEP, ACT_CLOSE, ACT_RESET };

static void request_free(struct request *rq)
{
	free(rq->method);
	free(rq->target);
	for (size_t i = 0; i < rq->nh; i++) {
		free(rq->h[i].name);
		free(rq->h[i].value);
	}
	free(rq->h);
	buf_free(&rq->body);
}

static const char *header(const struct request *rq, const char *name)
{
	for (size_t i = 0; i < rq->nh; i++)
		if (strcmp(rq->h[i].name, name) == 0)
			return rq->h[i].value;
	return NULL;
}

static int has_token(const char *value, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = value; p && *p; p++)
		if (strncasecmp(p, token, n) == 0)
			return 1;
	return 0;
}

static int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads what is available: >0 bytes, 0 at end of stream, -1 on error or shutdown. */
static ssize_t conn_read(struct conn *c)
{
	char tmp[16384];
	for (;;) {
		if (atomic_load(&stopping))
			return -1;
		struct pollfd p = { c->fd, POLLIN, 0 };
		int r = poll(&p, 1, 100);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		ssize_t n = read(c->fd, tmp, sizeof tmp);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n > 0)
			buf_append(&c->in, tmp, (size_t)n);
		return n;
	}
}

static int need_bytes(struct conn *c, size_t n)
{
	while (c->in.len < n)
		if (conn_read(c) <= 0)
			return -1;
	return 0;
}

/* Offset of the next CR LF in the input, reading more as needed; -1 if none comes. */
static long find_crlf(struct conn *c)
{
	for (;;) {
		char *p = c->in.len ? find_bytes(c->in.data, c->in.len, "\r\n", 2) : NULL;
		if (p)
			return p - c->in.data;
		if (c->in.len > 8192 || conn_read(c) <= 0)
			return -1;
	}
}

static int read_chunked(struct conn *c, struct request *rq)
{
	for (;;) {
		long e = find_crlf(c);
		if (e < 0)
			return RQ_BAD;
		char *end;
		if (!isxdigit((unsigned char)c->in.data[0]))
			return RQ_BAD;
		unsigned long size = strtoul(c->in.data, &end, 16);
		if (end != c->in.data + e && *end != ';' && *end != ' ' && *end != '\t')
			return RQ_BAD;
		buf_consume(&c->in, (size_t)e + 2);
		if (size == 0)
			break;
		if (size > MAX_BODY || rq->body.len + size > MAX_BODY)
			return RQ_TOO_BIG;
		if (need_bytes(c, size + 2) < 0 || memcmp(c->in.data + size, "\r\n", 2) != 0)
			return RQ_BAD;
		buf_append(&rq->body, c->in.data, size);
		buf_consume(&c->in, size + 2);
	}
	for (;;) {	/* trailer fields, then the empty line */
		long e = find_crlf(c);
		if (e < 0)
			return RQ_BAD;
		buf_consume(&c->in, (size_t)e + 2);
		if (e == 0)
			return RQ_OK;
	}
}

static int parse_head(char *head, struct request *rq)
{
	char *line = head, *next = strstr(line, "\r\n");
	if (next)
		*next = '\0';
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return RQ_BAD;
	rq->method = xstrndup(line, (size_t)(sp1 - line));
	rq->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	int http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
	size_t cap = 0;
	while (next) {
		line = next + 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return RQ_BAD;
		if (rq->nh == cap) {
			cap = cap ? cap * 2 : 16;
			rq->h = xrealloc(rq->h, cap * sizeof *rq->h);
		}
		struct header *h = &rq->h[rq->nh++];
		h->name = xstrndup(line, (size_t)(colon - line));
		for (char *p = h->name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		char *v = colon + 1, *ve = v + strlen(v);
		while (*v == ' ' || *v == '\t')
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		h->value = xstrndup(v, (size_t)(ve - v));
	}
	const char *conn = header(rq, "connection");
	rq->keep_alive = http10 ? has_token(conn, "keep-alive") : !has_token(conn, "close");
	return RQ_OK;
}

static int read_request(struct conn *c, struct request *rq)
{
	memset(rq, 0, sizeof *rq);
	char *end;
	for (;;) {
		while (c->in.len >= 2 && memcmp(c->in.data, "\r\n", 2) == 0)
			buf_consume(&c->in, 2);
		end = c->in.len ? find_bytes(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		if (c->in.len > MAX_HEADER)
			return RQ_TOO_BIG;
		if (conn_read(c) <= 0)
			return RQ_EOF;
	}
	size_t hlen = (size_t)(end - c->in.data);
	char *head = xstrndup(c->in.data, hlen);
	buf_consume(&c->in, hlen + 4);
	int rc = parse_head(head, rq);
	free(head);
	if (rc != RQ_OK)
		return rc;

	const char *te = header(rq, "transfer-encoding");
	const char *cl = header(rq, "content-length");
	const char *expect = header(rq, "expect");
	int chunked = te && has_token(te, "chunked");
	unsigned long clen = 0;
	if (!chunked && cl) {
		char *e;
		if (!*cl || strspn(cl, "0123456789") != strlen(cl))
			return RQ_BAD;
		clen = strtoul(cl, &e, 10);
		if (clen > MAX_BODY)
			return RQ_TOO_BIG;
	}
	if (expect && has_token(expect, "100-continue") && (chunked || clen > c->in.len)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send_all(c->fd, cont, sizeof cont - 1) < 0)
			return RQ_EOF;
	}
	if (chunked)
		return read_chunked(c, rq);
	if (need_bytes(c, clen) < 0)
		return RQ_EOF;
	buf_append(&rq->body, c->in.data ? c->in.data : "", clen);
	buf_consume(&c->in, clen);
	return RQ_OK;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default: return status < 500 ? "Client Error" : "Server Error";
	}
}

static void head_start(struct buf *b, int status, const char *ctype, unsigned long n)
{
	buf_printf(b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, reason(status), ctype);
	if (n)
		buf_printf(b, "request-id: req_fake_%lu\r\n", n);
}

/* A complete response with a body; extra is more header lines (each ending in CR LF) or NULL. */
static int send_body(int fd, int status, const char *ctype, unsigned long n, const char *extra,
		     const char *body, size_t len, int keep_alive)
{
	struct buf b = BUF_INIT;
	head_start(&b, status, ctype, n);
	buf_printf(&b, "Content-Length: %zu\r\nConnection: %s\r\n%s\r\n", len,
		   keep_alive ? "keep-alive" : "close", extra ? extra : "");
	buf_append(&b, body, len);
	int rc = send_all(fd, b.data, b.len);
	buf_free(&b);
	return rc;
}

static const char *default_error_type(int status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 529: return "overloaded_error";
	default: return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

static int send_error(int fd, int status, const char *type, const char *message, unsigned long n,
		      const char *extra, int keep_alive)
{
	jv e = jv_object();
	e = jv_object_set(e, jv_string("type"), jv_string("error"));
	jv inner = jv_object();
	inner = jv_object_set(inner, jv_string("type"),
			      jv_string(type ? type : default_error_type(status)));
	inner = jv_object_set(inner, jv_string("message"), jv_string(message));
	e = jv_object_set(e, jv_string("error"), inner);
	char *body = dump(e);
	int rc = send_body(fd, status, "application/json", n, extra, body, strlen(body),
			   keep_alive);
	free(body);
	return rc;
}

/* Facts about a Messages request that rules match on, and its prompt's cache breakpoints. */
struct info {
	struct buf system, last_user;
	long turn;
	char **tools;
	size_t ntools;
	uint64_t *blk_hash;	/* per prompt block: hash of the prefix ending with it */
	long *blk_tokens;	/* per prompt block: token estimate of that prefix */
	size_t nblk, blk_cap;
	size_t *bp;		/* indexes of the blocks that are cache breakpoints */
	size_t nbp;
	long total_tokens;
	uint64_t h;		/* running hash of the prompt so far */
	size_t bytes;		/* running size of the prompt so far */
};

static void info_free(struct info *inf)
{
	buf_free(&inf->system);
	buf_free(&inf->last_user);
	for (size_t i = 0; i < inf->ntools; i++)
		free(inf->tools[i]);
	free(inf->tools);
	free(inf->blk_hash);
	free(inf->blk_tokens);
	free(inf->bp);
}

static void append_sep(struct buf *b, const char *p, size_t n)
{
	if (b->len)
		buf_appendc(b, '\n');
	buf_append(b, p, n);
}

/*
 * Borrows v: a string, or an array of content blocks. Appends the texts of
 * its text blocks and, with tool_results, of its tool_result blocks' content.
 */
static void append_texts(struct buf *b, jv v, int tool_results)
{
	size_t n;
	const char *p;
	if (kind_is(v, JV_KIND_STRING)) {
		p = str_bytes(v, &n);
		append_sep(b, p, n);
		return;
	}
	if (!kind_is(v, JV_KIND_ARRAY))
		return;
	int len = jv_array_length(jv_copy(v));
	for (int i = 0; i < len; i++) {
		jv blk = jv_array_get(jv_copy(v), i);
		jv type = member(blk, "type");
		if (is_str(type, "text")) {
			jv t = member(blk, "text");
			if (kind_is(t, JV_KIND_STRING)) {
				p = str_bytes(t, &n);
				append_sep(b, p, n);
			}
			jv_free(t);
		} else if (tool_results && is_str(type, "tool_result")) {
			jv c = member(blk, "content");
			append_texts(b, c, 0);
			jv_free(c);
		}
		jv_free(type);
		jv_free(blk);
	}
}

/* Marks the last block scanned as a cache breakpoint. */
static void add_breakpoint(struct info *inf)
{
	if (!inf->nblk || (inf->nbp && inf->bp[inf->nbp - 1] == inf->nblk - 1))
		return;
	inf->bp = xrealloc(inf->bp, (inf->nbp + 1) * sizeof *inf->bp);
	inf->bp[inf->nbp++] = inf->nblk - 1;
}

/*
 * Borrows blk, one block of the prompt. The prefix hash covers the block as
 * serialized without its cache_control, so moving a breakpoint does not
 * change what is cached.
 */
static void scan_block(struct info *inf, jv blk)
{
	int bp = 0;
	jv clean = jv_copy(blk);
	if (kind_is(blk, JV_KIND_OBJECT)) {
		jv cc = member(blk, "cache_control");
		bp = jv_is_valid(cc) && !kind_is(cc, JV_KIND_NULL);
		jv_free(cc);
		clean = jv_object_delete(clean, jv_string("cache_control"));
	}
	jv text = jv_dump_string(clean, 0);
	size_t len;
	const char *p = str_bytes(text, &len);
	inf->h = fnv(fnv(inf->h, p, len), "\x1e", 1);
	inf->bytes += len;
	jv_free(text);
	if (inf->nblk == inf->blk_cap) {
		inf->blk_cap = inf->blk_cap ? inf->blk_cap * 2 : 16;
		inf->blk_hash = xrealloc(inf->blk_hash, inf->blk_cap * sizeof *inf->blk_hash);
		inf->blk_tokens = xrealloc(inf->blk_tokens, inf->blk_cap * sizeof *inf->blk_tokens);
	}
	inf->blk_hash[inf->nblk] = inf->h;
	inf->blk_tokens[inf->nblk++] = tokens_of(inf->bytes);
	if (bp)
		add_breakpoint(inf);
}

/* Borrows v: a string (taken as one text block) or an array of blocks. */
static void scan_blocks(struct info *inf, jv v)
{
	if (kind_is(v, JV_KIND_STRING)) {
		jv t = jv_object();
		t = jv_object_set(t, jv_string("type"), jv_string("text"));
		t = jv_object_set(t, jv_string("text"), jv_copy(v));
		scan_block(inf, t);
		jv_free(t);
	} else if (kind_is(v, JV_KIND_ARRAY)) {
		int n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++) {
			jv b = jv_array_get(jv_copy(v), i);
			scan_block(inf, b);
			jv_free(b);
		}
	}
}

static void mark(struct info *inf, const char *what)
{
	inf->h = fnv(fnv(inf->h, "\x1d", 1), what, strlen(what));
}

/* Borrows body, a validated Messages request. */
static void info_build(struct info *inf, jv body)
{
	memset(inf, 0, sizeof *inf);
	jv sys = member(body, "system");
	jv msgs = member(body, "messages");
	jv tools = member(body, "tools");
	jv model = member(body, "model");
	jv autocache = member(body, "cache_control");
	append_texts(&inf->system, sys, 0);

	int nm = jv_array_length(jv_copy(msgs)), last_user = -1;
	for (int i = 0; i < nm; i++) {
		jv m = jv_array_get(jv_copy(msgs), i);
		jv role = member(m, "role");
		if (is_str(role, "assistant"))
			inf->turn++;
		if (is_str(role, "user"))
			last_user = i;
		jv_free(role);
		jv_free(m);
	}
	if (last_user >= 0) {
		jv m = jv_array_get(jv_copy(msgs), last_user);
		jv c = member(m, "content");
		append_texts(&inf->last_user, c, 1);
		jv_free(c);
		jv_free(m);
	}
	if (kind_is(tools, JV_KIND_ARRAY)) {
		int nt = jv_array_length(jv_copy(tools));
		inf->tools = xcalloc((size_t)nt, sizeof *inf->tools);
		for (int i = 0; i < nt; i++) {
			jv t = jv_array_get(jv_copy(tools), i);
			jv name = member(t, "name");
			if (kind_is(name, JV_KIND_STRING))
				inf->tools[inf->ntools++] = xstrdup(jv_string_value(name));
			jv_free(name);
			jv_free(t);
		}
	}

	/* The prompt in the API's cache order: tools, system, messages. */
	inf->h = 14695981039346656037ULL;
	mark(inf, jv_string_value(model));
	mark(inf, "tools");
	if (kind_is(tools, JV_KIND_ARRAY))
		scan_blocks(inf, tools);
	mark(inf, "system");
	scan_blocks(inf, sys);
	mark(inf, "messages");
	for (int i = 0; i < nm; i++) {
		jv m = jv_array_get(jv_copy(msgs), i);
		jv role = member(m, "role");
		jv c = member(m, "content");
		mark(inf, kind_is(role, JV_KIND_STRING) ? jv_string_value(role) : "?");
		scan_blocks(inf, c);
		jv_free(c);
		jv_free(role);
		jv_free(m);
	}
	/* Automatic caching: a top-level cache_control marks the last block. */
	if (jv_is_valid(autocache) && !kind_is(autocache, JV_KIND_NULL))
		add_breakpoint(inf);
	inf->total_tokens = tokens_of(inf->bytes);
	jv_free(autocache);
	jv_free(model);
	jv_free(tools);
	jv_free(msgs);
	jv_free(sys);
}

static int contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	return n == 0 || (len >= n && find_bytes(hay, len, needle, n) != NULL);
}

static int rule_matches(const struct rule *r, const struct info *inf, const struct request *rq)
{
	if (r->m_system && !contains(buf_str(&inf->system), inf->system.len, r->m_system))
		return 0;
	if (r->m_turn >= 0 && inf->turn != r->m_turn)
		return 0;
	if (r->m_last_user &&
	    !contains(buf_str(&inf->last_user), inf->last_user.len, r->m_last_user))
		return 0;
	if (r->m_body && !contains(buf_str(&rq->body), rq->body.len, r->m_body))
		return 0;
	if (r->m_tool) {
		size_t i;
		for (i = 0; i < inf->ntools; i++)
			if (strcmp(inf->tools[i], r->m_tool) == 0)
				break;
		if (i == inf->ntools)
			return 0;
	}
	return 1;
}

static int cache_has(uint64_t h)
{
	h = h ? h : 1;
	if (!cache_cap)
		return 0;
	for (size_t i = h & (cache_cap - 1); cache_set[i]; i = (i + 1) & (cache_cap - 1))
		if (cache_set[i] == h)
			return 1;
	return 0;
}

static void cache_insert(uint64_t *set, size_t cap, uint64_t h)
{
	size_t i = h & (cap - 1);
	while (set[i] && set[i] != h)
		i = (i + 1) & (cap - 1);
	set[i] = h;
}

static void cache_add(uint64_t h)
{
	h = h ? h : 1;
	if (cache_has(h))
		return;
	if ((cache_len + 1) * 2 > cache_cap) {
		size_t cap = cache_cap ? cache_cap * 2 : 256;
		uint64_t *set = xcalloc(cap, sizeof *set);
		for (size_t i = 0; i < cache_cap; i++)
			if (cache_set[i])
				cache_insert(set, cap, cache_set[i]);
		free(cache_set);
		cache_set = set;
		cache_cap = cap;
	}
	cache_insert(cache_set, cache_cap, h);
	cache_len++;
}

/*
 * The API's split of the prompt into uncached, cache-write and cache-read
 * tokens. Like the API, a lookup from a breakpoint also tries the prefixes
 * ending at up to CACHE_LOOKBACK - 1 blocks before it, so a conversation that
 * moves its breakpoint to the newest message still reads the older prefix.
 * Only breakpoint prefixes are written.
 */
static void cache_account(const struct info *inf, long *input, long *create, long *read_)
{
	*create = *read_ = 0;
	if (inf->nbp) {
		int hit = 0;
		for (size_t b = inf->nbp; b-- > 0 && !hit;) {
			size_t lo = inf->bp[b] + 1 > CACHE_LOOKBACK ? inf->bp[b] + 1 - CACHE_LOOKBACK : 0;
			for (size_t j = inf->bp[b] + 1; j-- > lo && !hit;)
				if (cache_has(inf->blk_hash[j])) {
					*read_ = inf->blk_tokens[j];
					hit = 1;
				}
		}
		size_t last = inf->bp[inf->nbp - 1];
		if (!cache_has(inf->blk_hash[last]))
			*create = inf->blk_tokens[last] - *read_;
		for (size_t b = 0; b < inf->nbp; b++)
			cache_add(inf->blk_hash[inf->bp[b]]);
	}
	*input = inf->total_tokens - *read_ - *create;
	if (*input < 0)
		*input = 0;
}

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

/*
 * Borrows body; consumes usage, which holds the input figures. The whole
 * message object the API would return.
 */
static jv build_message(const struct rule *r, jv body, unsigned long n, jv usage)
{
	jv reply = jv_parse(r->reply ? r->reply : "{\"content\":[]}");
	jv content = member(reply, "content");
	jv out = jv_array();
	int any_tool = 0;
	int len = jv_array_length(jv_copy(content));
	for (int i = 0; i < len; i++) {
		jv b = jv_array_get(jv_copy(content), i);
		jv type = member(b, "type");
		jv o = jv_object();
		o = jv_object_set(o, jv_string("type"), jv_copy(type));
		if (is_str(type, "tool_use")) {
			any_tool = 1;
			jv id = member(b, "id"), input_ = member(b, "input");
			if (!jv_is_valid(id))
				id = jv_string_fmt("toolu_fake_%lu_%d", n, i);
			if (!jv_is_valid(input_))
				input_ = jv_object();
			o = jv_object_set(o, jv_string("id"), id);
			o = jv_object_set(o, jv_string("name"), member(b, "name"));
			o = jv_object_set(o, jv_string("input"), input_);
		} else {
			o = jv_object_set(o, jv_string("text"), member(b, "text"));
		}
		out = jv_array_append(out, o);
		jv_free(type);
		jv_free(b);
	}
	jv_free(content);

	jv stop = member(reply, "stop_reason");
	if (!kind_is(stop, JV_KIND_STRING)) {
		jv_free(stop);
		stop = jv_string(any_tool ? "tool_use" : "end_turn");
	}
	jv model = member(reply, "model");
	if (!kind_is(model, JV_KIND_STRING)) {
		jv_free(model);
		model = member(body, "model");
	}
	jv ctext = jv_dump_string(jv_copy(out), 0);
	long output = tokens_of((size_t)jv_string_length_bytes(ctext));
	usage = jv_object_set(usage, jv_string("output_tokens"), jv_number((double)output));
	jv over = member(reply, "usage");
	if (kind_is(over, JV_KIND_OBJECT))
		usage = jv_object_merge(usage, over);
	else
		jv_free(over);
	jv_free(reply);

	jv m = jv_object();
	m = jv_object_set(m, jv_string("id"), jv_string_fmt("msg_fake_%lu", n));
	m = jv_object_set(m, jv_string("type"), jv_string("message"));
	m = jv_object_set(m, jv_string("role"), jv_string("assistant"));
	m = jv_object_set(m, jv_string("model"), model);
	m = jv_object_set(m, jv_string("content"), out);
	m = jv_object_set(m, jv_string("stop_reason"), stop);
	m = jv_object_set(m, jv_string("stop_sequence"), jv_null());
	m = jv_object_set(m, jv_string("usage"), usage);
	return m;
}

enum { EV_START, EV_CONTENT, EV_END };

struct events {
	char **text;		/* each a whole "event: ...\ndata: ...\n\n" */
	int *kind;
	int *now;		/* >= 0: a NOW_TOKEN text_delta of this block, made when sent */
	size_t n, cap;
};

static void ev_add_raw(struct events *e, int kind, const char *name, const char *data)
{
	if (e->n == e->cap) {
		e->cap = e->cap ? e->cap * 2 : 32;
		e->text = xrealloc(e->text, e->cap * sizeof *e->text);
		e->kind = xrealloc(e->kind, e->cap * sizeof *e->kind);
		e->now = xrealloc(e->now, e->cap * sizeof *e->now);
	}
	e->text[e->n] = xasprintf("event: %s\ndata: %s\n\n", name, data);
	e->now[e->n] = -1;
	e->kind[e->n++] = kind;
}

/* Consumes data. */
static void ev_add(struct events *e, int kind, const char *name, jv data)
{
	char *s = dump(data);
	ev_add_raw(e, kind, name, s);
	free(s);
}

static void events_free(struct events *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->text[i]);
	free(e->text);
	free(e->kind);
	free(e->now);
}

/* CLOCK_REALTIME in microseconds, as decimal text. */
static char *now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return xasprintf("%lld", (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000);
}

/* The text_delta event of block idx whose text is the time now. */
static char *now_event(int idx)
{
	char *t = now_us();
	char *s = xasprintf("event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
			    "\"index\":%d,\"delta\":{\"type\":\"text_delta\",\"text\":\"%s\"}}\n\n",
			    idx, t);
	free(t);
	return s;
}

/* Replaces each NOW_TOKEN in s (consumed) by the time now. */
static char *fill_now(char *s)
{
	char *p = strstr(s, NOW_TOKEN);
	if (!p)
		return s;
	char *t = now_us();
	struct buf b = BUF_INIT;
	const char *from = s;
	for (; p; p = strstr(from, NOW_TOKEN)) {
		buf_append(&b, from, (size_t)(p - from));
		buf_appends(&b, t);
		from = p + strlen(NOW_TOKEN);
	}
	buf_appends(&b, from);
	free(t);
	free(s);
	return buf_detach(&b);
}

/* The largest UTF-8 character boundary at or before at, but past from when possible. */
static size_t utf8_cut(const char *s, size_t len, size_t from, size_t at)
{
	if (at >= len)
		return len;
	size_t e = at;
	while (e > from && ((unsigned char)s[e] & 0xC0) == 0x80)
		e--;
	if (e == from) {	/* no boundary in range: take the whole character */
		e = at;
		while (e < len && ((unsigned char)s[e] & 0xC0) == 0x80)
			e++;
	}
	return e;
}

static jv block_event(const char *type, int idx)
{
	jv d = jv_object();
	d = jv_object_set(d, jv_string("type"), jv_string(type));
	return jv_object_set(d, jv_string("index"), jv_number(idx));
}

static void delta_events(struct events *e, int idx, const char *dtype, const char *field,
			 const char *s, size_t len, size_t piece)
{
	for (size_t pos = 0; pos < len;) {
		size_t end = utf8_cut(s, len, pos, pos + piece);
		jv delta = jv_object();
		delta = jv_object_set(delta, jv_string("type"), jv_string(dtype));
		delta = jv_object_set(delta, jv_string(field),
				      jv_string_sized(s + pos, (int)(end - pos)));
		ev_add(e, EV_CONTENT, "content_block_delta",
		       jv_object_set(block_event("content_block_delta", idx), jv_string("delta"),
				     delta));
		pos = end;
	}
}

/* A text block's deltas: each NOW_TOKEN becomes its own delta, made when sent. */
static void text_events(struct events *e, int idx, const char *s, size_t len)
{
	size_t tn = strlen(NOW_TOKEN);
	for (;;) {
		const char *p = find_bytes(s, len, NOW_TOKEN, tn);
		if (!p)
			break;
		delta_events(e, idx, "text_delta", "text", s, (size_t)(p - s), TEXT_PIECE);
		ev_add_raw(e, EV_CONTENT, "content_block_delta", "{}");
		e->now[e->n - 1] = idx;
		len -= (size_t)(p - s) + tn;
		s = p + tn;
	}
	delta_events(e, idx, "text_delta", "text", s, len, TEXT_PIECE);
}

/*
 * Borrows msg. The API's event sequence for it. With cut, the first tool_use
 * block's input stops half way and the message ends there with max_tokens,
 * as when the API runs out of output tokens inside a tool call.
 */
static void gen_events(jv msg, int cut, struct events *e)
{
	jv usage = member(msg, "usage");
	jv out_tokens = member(usage, "output_tokens");
	jv start = jv_copy(msg);
	start = jv_object_set(start, jv_string("content"), jv_array());
	start = jv_object_set(start, jv_string("stop_reason"), jv_null());
	start = jv_object_set(start, jv_string("usage"),
			      jv_object_set(usage, jv_string("output_tokens"), jv_number(1)));
	jv d = jv_object();
	d = jv_object_set(d, jv_string("type"), jv_string("message_start"));
	ev_add(e, EV_START, "message_start", jv_object_set(d, jv_string("message"), start));

	jv content = member(msg, "content");
	jv stop = member(msg, "stop_reason");
	int len = jv_array_length(jv_copy(content));
	for (int i = 0; i < len; i++) {
		jv b = jv_array_get(jv_copy(content), i);
		jv type = member(b, "type");
		int tool = is_str(type, "tool_use");
		jv cb = jv_copy(b);
		if (tool)
			cb = jv_object_set(cb, jv_string("input"), jv_object());
		else
			cb = jv_object_set(cb, jv_string("text"), jv_string(""));
		ev_add(e, EV_CONTENT, "content_block_start",
		       jv_object_set(block_event("content_block_start", i),
				     jv_string("content_block"), cb));
		if (i == 0)
			ev_add_raw(e, EV_CONTENT, "ping", "{\"type\": \"ping\"}");
		int was_cut = 0;
		if (tool) {
			jv js = jv_dump_string(member(b, "input"), 0);
			size_t n;
			const char *s = str_bytes(js, &n);
			if (cut) {
				n = utf8_cut(s, n, 0, n / 2);
				was_cut = 1;
			}
			jv first = jv_object();
			first = jv_object_set(first, jv_string("type"), jv_string("input_json_delta"));
			first = jv_object_set(first, jv_string("partial_json"), jv_string(""));
			ev_add(e, EV_CONTENT, "content_block_delta",
			       jv_object_set(block_event("content_block_delta", i),
					     jv_string("delta"), first));
			delta_events(e, i, "input_json_delta", "partial_json", s, n, JSON_PIECE);
			jv_free(js);
		} else {
			jv t = member(b, "text");
			size_t n;
			const char *s = str_bytes(t, &n);
			text_events(e, i, s, n);
			jv_free(t);
		}
		jv_free(type);
		jv_free(b);
		if (was_cut) {
			jv_free(stop);
			stop = jv_string("max_tokens");
			break;
		}
		ev_add(e, EV_CONTENT, "content_block_stop", block_event("content_block_stop", i));
	}
	jv_free(content);

	jv delta = jv_object();
	delta = jv_object_set(delta, jv_string("stop_reason"), stop);
	delta = jv_object_set(delta, jv_string("stop_sequence"), jv_null());
	jv u = jv_object_set(jv_object(), jv_string("output_tokens"), out_tokens);
	d = jv_object();
	d = jv_object_set(d, jv_string("type"), jv_string("message_delta"));
	d = jv_object_set(d, jv_string("delta"), delta);
	ev_add(e, EV_END, "message_delta", jv_object_set(d, jv_string("usage"), u));
	ev_add(e, EV_END, "message_stop",
	       jv_object_set(jv_object(), jv_string("type"), jv_string("message_stop")));
}

/* Consumes msg. */
static int stream_reply(struct conn *c, const struct rule *r, jv msg, unsigned long n)
{
	struct events ev = { NULL, NULL, NULL, 0, 0 };
	gen_events(msg, r->fault == F_CUT_TOOL_JSON, &ev);
	jv_free(msg);

	struct buf h = BUF_INIT;
	head_start(&h, 200, "text/event-stream", n);
	buf_appends(&h, "Cache-Control: no-cache\r\nConnection: close\r\n\r\n");
	int rc = send_all(c->fd, h.data, h.len);
	buf_free(&h);

	size_t ncontent = 0, sent = 0;
	for (size_t i = 0; i < ev.n; i++)
		ncontent += ev.kind[i] == EV_CONTENT;
	int act = ACT_CLOSE;
	for (size_t i = 0; rc == 0 && i < ev.n; i++) {
		int k = ev.kind[i];
		const char *text = ev.text[i];
		if (r->fault == F_TRUNCATE && k == EV_END)
			break;
		if (r->fault == F_RESET && k != EV_START && sent >= ncontent / 2) {
			act = ACT_RESET;
			break;
		}
		if (r->fault == F_ERROR_EVENT && k != EV_START)
			text = "event: error\ndata: {\"type\":\"error\",\"error\":"
			       "{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n";
		if (r->fault == F_BAD_JSON && k != EV_START)
			text = "event: content_block_start\ndata: {\"type\":\"content_block_start\","
			       "\"index\":0,\"content_block\":{\"type\":\n\n";
		sleep_ms(r->drip_ms);
		if (text == ev.text[i] && ev.now[i] >= 0) {
			free(ev.text[i]);
			text = ev.text[i] = now_event(ev.now[i]);
		}
		rc = send_all(c->fd, text, strlen(text));
		sent += k == EV_CONTENT;
		if (text != ev.text[i])
			break;
	}
	events_free(&ev);
	if (act == ACT_RESET)
		sleep_ms(RESET_PAUSE_MS);
	return act;
}

/* Consumes msg: keeps the blocks up to the first tool_use, whose input is lost. */
static jv cut_message(jv msg)
{
	jv content = member(msg, "content");
	int len = jv_array_length(jv_copy(content));
	for (int i = 0; i < len; i++) {
		jv b = jv_array_get(jv_copy(content), i);
		jv type = member(b, "type");
		int tool = is_str(type, "tool_use");
		jv_free(type);
		if (tool) {
			b = jv_object_set(b, jv_string("input"), jv_object());
			content = jv_array_set(jv_array_slice(content, 0, i), i, b);
			msg = jv_object_set(msg, jv_string("content"), content);
			return jv_object_set(msg, jv_string("stop_reason"), jv_string("max_tokens"));
		}
		jv_free(b);
	}
	jv_free(content);
	return msg;
}

/* Consumes msg. The non-streaming answer, with the rule's fault applied. */
static int plain_reply(struct conn *c, const struct request *rq, const struct rule *r, jv msg,
		       unsigned long n)
{
	int keep = rq->keep_alive;
	if (r->fault == F_ERROR_EVENT) {
		jv_free(msg);
		int rc = send_error(c->fd, 529, "overloaded_error", "Overloaded", n, NULL, keep);
		return rc == 0 && keep ? ACT_KEEP : ACT_CLOSE;
	}
	if (r->fault == F_CUT_TOOL_JSON)
		msg = cut_message(msg);
	char *body = fill_now(dump(msg));
	size_t len = strlen(body);
	int rc, act = keep ? ACT_KEEP : ACT_CLOSE;
	if (r->fault == F_BAD_JSON) {
		rc = send_body(c->fd, 200, "application/json", n, NULL, body, len / 2, keep);
	} else if (r->fault == F_TRUNCATE || r->fault == F_RESET) {
		struct buf b = BUF_INIT;
		head_start(&b, 200, "application/json", n);
		buf_printf(&b, "Content-Length: %zu\r\nConnection: close\r\n\r\n", len);
		buf_append(&b, body, len / 2);
		rc = send_all(c->fd, b.data, b.len);
		buf_free(&b);
		act = r->fault == F_RESET ? ACT_RESET : ACT_CLOSE;
		if (act == ACT_RESET)
			sleep_ms(RESET_PAUSE_MS);
	} else {
		rc = send_body(c->fd, 200, "application/json", n, NULL, body, len, keep);
	}
	free(body);
	return rc < 0 ? ACT_CLOSE : act;
}

/* Holds the connection open, answering nothing, until the client leaves or we stop. */
static void hang(struct conn *c)
{
	while (conn_read(c) > 0)
		buf_reset(&c->in);
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
