#ifndef BLLM_EVENT_H
#define BLLM_EVENT_H
/*
 * Events of the bllm protocol (docs/protocol.md): building them with the
 * envelope every event carries, and writing them as JSON lines.
 *
 * The envelope lives here only: {"v":1, "type", "agent", "run_id",
 * "parent_id", "session_id", "ts"}.  ts is RFC 3339 UTC with milliseconds.
 *
 * jv ownership: event_new returns a new reference; event_emit consumes ev;
 * event_is_valid borrows.
 */
#include <stdbool.h>
#include <jv.h>

/* Sees every event as it is emitted (borrowed), e.g. for a journal or a live view. */
typedef void (*event_tap_fn)(void *user, jv ev);

struct event_ctx {
	char *agent;		/* the agent's name, e.g. "coder" */
	char *run_id;		/* this run, "run_" + 16 hex digits */
	char *parent_id;	/* the run that started this one, or NULL */
	char *session_id;	/* or NULL */
	int fd;			/* where events go, normally 1 */
	bool closed;		/* the reader went away (EPIPE): later emits are dropped */
	unsigned long emitted;	/* lines written */
	event_tap_fn tap;	/* optional */
	void *tap_user;
};

/* A fresh random id: prefix + 16 lowercase hex digits (malloc'd). */
char *event_new_id(const char *prefix);

/* Sets up ctx (copies the strings; parent_id and session_id may be NULL). */
void event_ctx_init(struct event_ctx *ctx, const char *agent, const char *parent_id,
		    const char *session_id, int fd);
void event_ctx_free(struct event_ctx *ctx);

/* Writes the current time as RFC 3339 UTC with milliseconds into out. */
void event_timestamp(char out[32]);

/* A new event object of the given type with the envelope filled in. */
jv event_new(const struct event_ctx *ctx, const char *type);

/*
 * Writes ev (consumed) as one line and flushes it (after showing it to
 * the tap, if any; fd -1 means the tap only). Returns 0, or -1 when
 * the reader has gone away (ctx->closed is then set and later calls do
 * nothing) or on another write error.
 */
int event_emit(struct event_ctx *ctx, jv ev);

/* Convenience: a `log` event with level and message. */
int event_log(struct event_ctx *ctx, const char *level, const char *message);

/*
 * True when ev (borrowed) is an object with a string "type". With strict,
 * the whole envelope must be present and typed. On false, *err (if given)
 * gets a malloc'd reason.
 */
bool event_is_valid(jv ev, bool strict, char **err);

/* The event's type, or NULL (borrowed from ev, valid while ev lives). */
const char *event_type(jv ev);

#endif
