/* fake-anthropic: the reply message, streamed as SSE or sent whole, its fault applied. */
#define _DEFAULT_SOURCE
#include "fake.h"

/*
 * Borrows body; consumes usage, which holds the input figures. The whole
 * message object the API would return.
 */
jv build_message(const struct rule *r, jv body, unsigned long n, jv usage)
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
int stream_reply(struct conn *c, const struct rule *r, jv msg, unsigned long n)
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
int plain_reply(struct conn *c, const struct request *rq, const struct rule *r, jv msg,
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
void hang(struct conn *c)
{
	while (conn_read(c) > 0)
		buf_reset(&c->in);
}

