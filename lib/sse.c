/*
 * Incremental text/event-stream parser after the WHATWG HTML standard,
 * section "Parsing an event stream", with one deliberate
 * difference stated in sse.h: sse_finish() dispatches an event whose
 * stream ended without the final blank line.
 *
 * Lines complete inside one chunk are handled in place; only the
 * unterminated tail of a chunk is copied into p->line, so the cost is
 * linear in the input however it is cut.
 */
#include "sse.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

struct sse_parser {
	sse_event_fn fn;
	void *user;
	struct buf line;	/* the current line when it spans chunks */
	bool after_cr;		/* the last chunk ended in CR: skip one leading LF */
	bool first_line;	/* a UTF-8 BOM may start the stream */
	struct buf data;	/* data lines, each followed by LF */
	struct buf event;	/* event type; empty means "message" */
	struct buf id;		/* last event ID; persists across events */
	long retry_ms;		/* last valid retry field, or -1 */
	unsigned long count;
	int stopped;		/* the callback's non-zero return; sticky */
};

struct sse_parser *sse_parser_new(sse_event_fn fn, void *user)
{
	struct sse_parser *p = xcalloc(1, sizeof(*p));
	p->fn = fn;
	p->user = user;
	p->first_line = true;
	p->retry_ms = -1;
	return p;
}

void sse_parser_free(struct sse_parser *p)
{
	if (!p)
		return;
	buf_free(&p->line);
	buf_free(&p->data);
	buf_free(&p->event);
	buf_free(&p->id);
	free(p);
}

unsigned long sse_event_count(const struct sse_parser *p)
{
	return p->count;
}

long sse_retry_ms(const struct sse_parser *p)
{
	return p->retry_ms;
}

/* Dispatches the pending event (if it has data) and clears it. */
static int dispatch(struct sse_parser *p)
{
	if (p->data.len == 0) {
		buf_reset(&p->event);
		return 0;
	}
	p->data.data[--p->data.len] = '\0';	/* the LF after the last data line */
	struct sse_event ev = {
		.event = p->event.len ? p->event.data : "message",
		.data = p->data.data,
		.data_len = p->data.len,
		.id = buf_str(&p->id),
	};
	p->count++;
	int rc = p->fn ? p->fn(&ev, p->user) : 0;
	buf_reset(&p->data);
	buf_reset(&p->event);
	if (rc)
		p->stopped = rc;
	return rc;
}

static bool field_is(const char *name, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(name, want, len) == 0;
}

/* Handles one line, without its terminator. Returns the callback's value. */
static int process_line(struct sse_parser *p, const char *s, size_t n)
{
	if (p->first_line) {
		p->first_line = false;
		if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) {
			s += 3;
			n -= 3;
		}
	}
	if (n == 0)
		return dispatch(p);
	if (s[0] == ':')
		return 0;

	const char *colon = memchr(s, ':', n);
	size_t name_len = colon ? (size_t)(colon - s) : n;
	const char *val = colon ? colon + 1 : s + n;
	size_t val_len = n - (size_t)(val - s);
	if (val_len && val[0] == ' ') {
		val++;
		val_len--;
	}

	if (field_is(s, name_len, "data")) {
		buf_append(&p->data, val, val_len);
		buf_appendc(&p->data, '\n');
	} else if (field_is(s, name_len, "event")) {
		buf_reset(&p->event);
		buf_append(&p->event, val, val_len);
	} else if (field_is(s, name_len, "id")) {
		if (!memchr(val, '\0', val_len)) {
			buf_reset(&p->id);
			buf_append(&p->id, val, val_len);
		}
	} else if (field_is(s, name_len, "retry")) {
		long ms = 0;	/* absurdly long values saturate near 10^13 */
		size_t i;
		for (i = 0; i < val_len && val[i] >= '0' && val[i] <= '9'; i++)
			ms = ms > (1L << 40) ? ms : ms * 10 + (val[i] - '0');
		if (val_len && i == val_len)
			p->retry_ms = ms;
	}
	return 0;
}

/* Position of the first c in s[from, n), or n. */
static size_t find(const char *s, size_t from, size_t n, char c)
{
	const char *q = memchr(s + from, c, n - from);
	return q ? (size_t)(q - s) : n;
}

int sse_feed(struct sse_parser *p, const char *bytes, size_t n)
{
	if (p->stopped)
		return p->stopped;
	if (n == 0)
		return 0;
	size_t i = 0;
	if (p->after_cr) {
		p->after_cr = false;
		if (bytes[0] == '\n')
			i = 1;
	}
	/*
	 * lf and cr are the next LF and CR at or after i (n when none): each
	 * is searched again only once i has passed it, so every byte is
	 * scanned at most once per kind even when one kind never occurs.
	 */
	size_t lf = find(bytes, i, n, '\n'), cr = find(bytes, i, n, '\r');
	while (i < n) {
		if (lf < i)
			lf = find(bytes, i, n, '\n');
		if (cr < i)
			cr = find(bytes, i, n, '\r');
		size_t eol = lf < cr ? lf : cr;
		if (eol == n) {
			buf_append(&p->line, bytes + i, n - i);
			break;
		}
		int rc;
		if (p->line.len) {
			buf_append(&p->line, bytes + i, eol - i);
			rc = process_line(p, p->line.data, p->line.len);
			buf_reset(&p->line);
		} else {
			rc = process_line(p, bytes + i, eol - i);
		}
		if (rc)
			return rc;
		i = eol + 1;
		if (bytes[eol] == '\r') {
			if (i == n)
				p->after_cr = true;
			else if (bytes[i] == '\n')
				i++;
		}
	}
	return 0;
}

int sse_finish(struct sse_parser *p)
{
	if (p->stopped)
		return p->stopped;
	p->after_cr = false;
	if (p->line.len) {
		int rc = process_line(p, p->line.data, p->line.len);
		buf_reset(&p->line);
		if (rc)
			return rc;
	}
	return dispatch(p);
}
