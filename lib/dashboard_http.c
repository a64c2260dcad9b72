#define _DEFAULT_SOURCE	/* usleep */
#include "dashboard.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <microhttpd.h>

#include "history.h"
#include "json.h"
#include "session.h"
#include "stats.h"

/* web/index.html, web/app.js, web/app.css as byte arrays (the Makefile makes this). */
#include "web_assets.inc"

struct dash_server {
	struct MHD_Daemon *daemon;
	char *db_path;
	char *token;
	int max_sse;
	atomic_int sse_clients;
	atomic_bool stopping;
};

/* How often a stream looks for news, and sends a comment to keep the connection. */
/* A comment every 2 s also finds a client that went away, freeing its place. */
enum { SSE_TICK_MS = 100, SSE_KEEPALIVE_MS = 2000, MAX_EVENTS = 20000 };

static void common_headers(struct MHD_Response *r, const char *type)
{
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "X-Frame-Options", "DENY");
	MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
	MHD_add_response_header(r, "Content-Security-Policy",
				"default-src 'self'; img-src 'self' data:; style-src 'self'; "
				"script-src 'self'; connect-src 'self'; frame-ancestors 'none'");
}

static enum MHD_Result send_bytes(struct MHD_Connection *c, unsigned status, const char *type,
				  const void *data, size_t len, bool copy, const char *cookie)
{
	struct MHD_Response *r = MHD_create_response_from_buffer(
		len, (void *)(uintptr_t)data, copy ? MHD_RESPMEM_MUST_COPY : MHD_RESPMEM_PERSISTENT);
	if (!r)
		return MHD_NO;
	common_headers(r, type);
	if (cookie)
		MHD_add_response_header(r, "Set-Cookie", cookie);
	enum MHD_Result rc = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
	return send_bytes(c, status, "text/plain; charset=utf-8", text, strlen(text), true, NULL);
}

/* v consumed. */
static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, jv v)
{
	jv s = jv_dump_string(v, 0);
	enum MHD_Result rc = send_bytes(c, status, "application/json; charset=utf-8",
					jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)),
					true, NULL);
	jv_free(s);
	return rc;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg)
{
	return send_json(c, status, jv_object_set(jv_object(), jv_string("error"), jv_string(msg)));
}

static const char *arg(struct MHD_Connection *c, const char *name)
{
	const char *v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
	return v && *v ? v : NULL;
}

/* A session ID as bllm makes them (digits, letters, dashes), not a path. */
static bool plain_id(const char *id)
{
	if (!id || !*id || strlen(id) > 64)
		return false;
	for (const char *p = id; *p; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      *p == '-' || *p == '_'))
			return false;
	return true;
}

static void filter_from(struct MHD_Connection *c, struct history_filter *f, char since[32])
{
	memset(f, 0, sizeof *f);
	f->status = arg(c, "status");
	f->agent = arg(c, "agent");
	f->workspace = arg(c, "workspace");
	long long ms;
	if (arg(c, "since") && stats_parse_since(arg(c, "since"), history_now_ms(), &ms) == 0) {
		history_time_string(ms, since);
		f->since = since;
	}
	const char *limit = arg(c, "limit");
	f->limit = limit ? strtol(limit, NULL, 10) : 200;
	if (f->limit <= 0 || f->limit > 10000)
		f->limit = 200;
}

/* The sessions_dir of session id, from the history (malloc'd), or NULL. */
static char *session_dir(struct history *h, const char *id)
{
	jv o;
	char *err = NULL;
	if (history_session(h, id, &o, &err) < 0) {
		free(err);
		return NULL;
	}
	jv s = jv_object_get(o, jv_string("session"));
	const char *dir = json_str(s, "sessions_dir");
	char *out = dir ? xstrdup(dir) : NULL;
	jv_free(s);
	return out;
}

static enum MHD_Result serve_api(struct dash_server *srv, struct MHD_Connection *c, enum dash_route route)
{
	struct history *h;
	char *err = NULL;
	if (history_open(&h, srv->db_path, true, &err) < 0) {
		enum MHD_Result rc = send_error(c, 503, err);
		free(err);
		return rc;
	}
	struct history_filter f;
	char since[32];
	filter_from(c, &f, since);
	jv out = jv_invalid();
	int rc = 0;
	unsigned status = 200;
	const char *id = arg(c, "id");
	switch (route) {
	case DASH_API_SESSIONS: {
		jv rows;
		rc = history_sessions(h, &f, true, &rows, &err);
		if (rc == 0) {
			char now[32];
			history_time_string(history_now_ms(), now);
			out = jv_object_set(jv_object(), jv_string("now"), jv_string(now));
			out = jv_object_set(out, jv_string("sessions"), rows);
		}
		break;
	}
	case DASH_API_SESSION:
		if (!plain_id(id)) {
			status = 400;
			err = xstrdup("expected ?id=SESSION_ID");
			rc = -1;
		} else if ((rc = history_session(h, id, &out, &err)) < 0) {
			status = 404;
		}
		break;
	case DASH_API_EVENTS: {
		char *dir = plain_id(id) ? session_dir(h, id) : NULL;
		if (!dir) {
			status = 404;
			err = xstrdup("no such session in the history");
			rc = -1;
			break;
		}
		jv events;
		if (session_read_journal(dir, id, &events, &err) < 0) {
			status = 404;
			rc = -1;
		} else {
			int n = jv_array_length(jv_copy(events));
			out = n > MAX_EVENTS ? jv_array_slice(events, n - MAX_EVENTS, n) : events;
		}
		free(dir);
		break;
	}
	case DASH_API_STATS:
		rc = history_stats(h, &f, &out, &err);
		break;
	case DASH_API_SEARCH:
		rc = history_search(h, arg(c, "q") ? arg(c, "q") : "", f.limit > 100 ? 100 : f.limit,
				    &out, &err);
		break;
	default:
		status = 404;
		err = xstrdup("not found");
		rc = -1;
	}
	history_close(h);
	enum MHD_Result r;
	if (rc < 0) {
		r = send_error(c, status == 200 ? 500 : status, err ? err : "error");
		jv_free(out);
	} else {
		r = send_json(c, 200, out);
	}
	free(err);
	return r;
}

/* A Server-Sent Events stream: a journal tailed, or the session list watched. */
struct stream {
	struct dash_server *srv;
	struct buf out;		/* bytes not yet sent */
	size_t out_pos;
	int fd;			/* the journal, or -1 for the list stream */
	off_t off;
	struct buf partial;	/* a journal line still being written */
	struct history *h;	/* the list stream's connection */
	char *version;
	bool done;
	long idle_ms;
};

static void stream_free(void *cls)
{
	struct stream *s = cls;
	if (s->fd >= 0)
		close(s->fd);
	history_close(s->h);
	buf_free(&s->out);
	buf_free(&s->partial);
	free(s->version);
	atomic_fetch_sub(&s->srv->sse_clients, 1);
	free(s);
}

/* The journal's new whole lines, each an "event" message; the run's result ends the stream. */
static void poll_journal(struct stream *s)
{
	char chunk[65536];
	ssize_t n;
	while ((n = pread(s->fd, chunk, sizeof chunk, s->off)) > 0) {
		s->off += n;
		buf_append(&s->partial, chunk, (size_t)n);
	}
	char *start = s->partial.data, *nl;
	size_t used = 0;
	off_t line_end = s->off - (off_t)s->partial.len;
	while (start && (nl = memchr(start, '\n', s->partial.len - used))) {
		*nl = '\0';
		line_end += nl - start + 1;
		if (nl > start) {
			char id[32];
			snprintf(id, sizeof id, "%lld", (long long)line_end);
			dash_sse_message(&s->out, "event", id, start);
			jv ev = jv_parse(start);
			jv parent = json_get(ev, "parent_id");
			if (jv_is_valid(ev) && json_str(ev, "type") && strcmp(json_str(ev, "type"), "result") == 0 &&
			    jv_get_kind(parent) == JV_KIND_NULL)
				s->done = true;
			jv_free(parent);
			jv_free(ev);
		}
		used += (size_t)(nl - start) + 1;
		start = nl + 1;
	}
	buf_consume(&s->partial, used);
	if (s->done)
		dash_sse_message(&s->out, "end", NULL, "{}");
}

/* The session list again when the history changed. */
static void poll_list(struct stream *s)
{
	jv rows;
	char *err = NULL;
	if (history_version(s->h, &rows, &err) < 0) {
		free(err);
		return;
	}
	jv dump = jv_dump_string(rows, 0);
	const char *v = jv_string_value(dump);
	if (!s->version || strcmp(v, s->version) != 0) {
		free(s->version);
		s->version = xstrdup(v);
		struct history_filter f = { .limit = 200 };
		jv list;
		if (history_sessions(s->h, &f, true, &list, &err) == 0) {
			char now[32];
			history_time_string(history_now_ms(), now);
			jv o = jv_object_set(jv_object(), jv_string("now"), jv_string(now));
			o = jv_object_set(o, jv_string("sessions"), list);
			jv text = jv_dump_string(o, 0);
			dash_sse_message(&s->out, "sessions", NULL, jv_string_value(text));
			jv_free(text);
		}
		free(err);
	}
	jv_free(dump);
}

/* Blocks (this connection has a thread of its own) until there is something to send. */
static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	(void)pos;
	struct stream *s = cls;
	for (;;) {
		if (s->out_pos < s->out.len) {
			size_t n = s->out.len - s->out_pos;
			n = n < max ? n : max;
			memcpy(buf, s->out.data + s->out_pos, n);
			s->out_pos += n;
			if (s->out_pos == s->out.len) {
				buf_reset(&s->out);
				s->out_pos = 0;
			}
			s->idle_ms = 0;
			return (ssize_t)n;
		}
		if (s->done || atomic_load(&s->srv->stopping))
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (s->fd >= 0)
			poll_journal(s);
		else
			poll_list(s);
		if (s->out.len)
			continue;
		usleep(SSE_TICK_MS * 1000);
		s->idle_ms += SSE_TICK_MS;
		if (s->idle_ms >= SSE_KEEPALIVE_MS)
			buf_appends(&s->out, ": keep-alive\n\n");
	}
}

static enum MHD_Result serve_stream(struct dash_server *srv, struct MHD_Connection *c, enum dash_route route)
{
	if (atomic_fetch_add(&srv->sse_clients, 1) >= srv->max_sse) {
		atomic_fetch_sub(&srv->sse_clients, 1);
		return send_error(c, 503, "too many live streams open; close a dashboard tab");
	}
	struct stream *s = xcalloc(1, sizeof *s);
	s->srv = srv;
	s->fd = -1;
	char *err = NULL;
	struct history *h = NULL;
	if (history_open(&h, srv->db_path, true, &err) < 0) {
		enum MHD_Result rc = send_error(c, 503, err);
		free(err);
		stream_free(s);
		return rc;
	}
	if (route == DASH_SSE_SESSION) {
		const char *id = arg(c, "id");
		char *dir = plain_id(id) ? session_dir(h, id) : NULL;
		history_close(h);
		char *path = dir ? xasprintf("%s/%s.ndjson", dir, id) : NULL;
		s->fd = path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
		free(path);
		free(dir);
		if (s->fd < 0) {
			stream_free(s);
			return send_error(c, 404, "no journal for this session");
		}
		const char *last = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Last-Event-ID");
		if (last)
			s->off = (off_t)strtoll(last, NULL, 10);
	} else {
		s->h = h;
	}
	struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16384, stream_read,
								  s, stream_free);
	if (!r) {
		stream_free(s);
		return MHD_NO;
	}
	common_headers(r, "text/event-stream; charset=utf-8");
	enum MHD_Result rc = MHD_queue_response(c, 200, r);
	MHD_destroy_response(r);
	return rc;
}

/* Adds the length of one query argument to *cls (a size_t). */
static enum MHD_Result add_arg_length(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	(void)kind;
	*(size_t *)cls += strlen(key) + (value ? strlen(value) + 1 : 0) + 1;
	return MHD_YES;
}

static enum MHD_Result serve(void *cls, struct MHD_Connection *c, const char *url, const char *method,
			     const char *version, const char *upload_data, size_t *upload_data_size,
			     void **con_cls)
{
	(void)version;
	(void)upload_data;
	struct dash_server *srv = cls;
	static int first_call_marker;
	const char *length = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
	const char *chunked = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Transfer-Encoding");
	const char *qtoken = arg(c, "token");
	size_t url_len = strlen(url);
	MHD_get_connection_values(c, MHD_GET_ARGUMENT_KIND, add_arg_length, &url_len);
	struct dash_request_facts facts = {
		.method = method,
		.url_len = url_len,
		.header_count = MHD_get_connection_values(c, MHD_HEADER_KIND, NULL, NULL),
		.has_body = *upload_data_size > 0 || chunked || (length && strcmp(length, "0") != 0),
		.token_ok = dash_token_ok(srv->token, qtoken,
					  MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Cookie")),
	};
	if (!*con_cls) {
		*con_cls = &first_call_marker;
		/* Refused at once, before any body is read. */
		if (!dash_refusal(&facts))
			return MHD_YES;
	}
	if (*upload_data_size)
		*upload_data_size = 0;
	switch (dash_refusal(&facts)) {
	case 414: return send_text(c, 414, "414: the URL is too long\n");
	case 431: return send_text(c, 431, "431: too many header fields\n");
	case 405: return send_text(c, 405, "405: the dashboard is read-only: GET and HEAD only\n");
	case 413: return send_text(c, 413, "413: the dashboard takes no request body\n");
	case 401:
		return send_text(c, 401, "401: open the URL with ?token=... that bllm-dashboard printed\n");
	default: break;
	}
	enum dash_route route = dash_route(url);
	char *cookie = qtoken ? xasprintf("bllm_token=%s; Path=/; HttpOnly; SameSite=Strict", srv->token)
			      : NULL;
	enum MHD_Result rc;
	switch (route) {
	case DASH_PAGE:
		rc = send_bytes(c, 200, "text/html; charset=utf-8", web_index_html, sizeof web_index_html,
				false, cookie);
		break;
	case DASH_SCRIPT:
		rc = send_bytes(c, 200, "text/javascript; charset=utf-8", web_app_js, sizeof web_app_js,
				false, cookie);
		break;
	case DASH_STYLE:
		rc = send_bytes(c, 200, "text/css; charset=utf-8", web_app_css, sizeof web_app_css, false,
				cookie);
		break;
	case DASH_SSE_LIVE:
	case DASH_SSE_SESSION:
		rc = serve_stream(srv, c, route);
		break;
	case DASH_NOT_FOUND:
		rc = send_text(c, 404, "404: not a page of the dashboard\n");
		break;
	default:
		rc = serve_api(srv, c, route);
	}
	free(cookie);
	return rc;
}

int dash_start(const struct dash_opts *o, struct dash_server **out, int *port, char **err)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)o->port) };
	if (inet_pton(AF_INET, o->addr, &sa.sin_addr) != 1) {
		*err = xasprintf("--listen %s: not an IPv4 address", o->addr);
		return -1;
	}
	struct dash_server *s = xcalloc(1, sizeof *s);
	s->db_path = xstrdup(o->db_path);
	s->token = xstrdup(o->token);
	s->max_sse = o->max_sse_clients > 0 ? o->max_sse_clients : DASH_MAX_SSE_CLIENTS;
	s->daemon = MHD_start_daemon(
		MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL,
		0, NULL, NULL, serve, s,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
		MHD_OPTION_CONNECTION_LIMIT, (unsigned)DASH_MAX_CONNECTIONS,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)DASH_MAX_REQUEST,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)60,
		MHD_OPTION_END);
	if (!s->daemon) {
		*err = xasprintf("cannot listen on %s:%d: %s", o->addr, o->port,
				 errno ? strerror(errno) : "address in use or not allowed");
		free(s->db_path);
		free(s->token);
		free(s);
		return -1;
	}
	const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT);
	*port = info ? info->port : o->port;
	*out = s;
	return 0;
}

void dash_stop(struct dash_server *s)
{
	if (!s)
		return;
	atomic_store(&s->stopping, true);
	/* Streams see the flag within a tick and end; then the daemon joins their threads. */
	usleep(2 * SSE_TICK_MS * 1000);
	MHD_stop_daemon(s->daemon);
	free(s->db_path);
	free(s->token);
	free(s);
}
