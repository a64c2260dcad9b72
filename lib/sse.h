#ifndef BLLM_SSE_H
#define BLLM_SSE_H
/*
 * A pure parser for server-sent events (the text/event-stream format of
 * the WHATWG HTML standard): bytes in, events out, no I/O, no globals.
 *
 * Bytes may arrive in chunks of any size, split anywhere (inside a field
 * name, a UTF-8 sequence, a CR LF pair); the events produced are the same
 * however the input is cut. Lines end in LF, CR LF or CR. Lines starting
 * with ':' are comments. Fields other than event, data, id and retry are
 * ignored. Several data lines join with LF. An event is dispatched at a
 * blank line when it has data; sse_finish() also dispatches an event whose
 * stream ended without the final blank line (some servers and recordings
 * end that way).
 */
#include <stddef.h>

struct sse_event {
	const char *event;	/* "message" when the stream gave no event field */
	const char *data;	/* NUL-terminated; may hold NULs only if the input did */
	size_t data_len;
	const char *id;		/* "" when none was given */
};

/*
 * Called once per event; the pointers are valid only during the call.
 * A non-zero return stops the parse and is returned by sse_feed/sse_finish
 * (and by every later call, which then does nothing).
 */
typedef int (*sse_event_fn)(const struct sse_event *ev, void *user);

struct sse_parser;

struct sse_parser *sse_parser_new(sse_event_fn fn, void *user);
/* Returns 0, or the first non-zero value returned by the callback. */
int sse_feed(struct sse_parser *p, const char *bytes, size_t n);
/* End of input: dispatches a pending event as described above. */
int sse_finish(struct sse_parser *p);
/* Number of complete events dispatched so far. */
unsigned long sse_event_count(const struct sse_parser *p);
/* The last valid "retry" field (reconnection time, ms), or -1 if none. */
long sse_retry_ms(const struct sse_parser *p);
void sse_parser_free(struct sse_parser *p);

#endif
