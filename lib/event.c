#include "event.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

char *event_new_id(const char *prefix)
{
	unsigned char raw[8];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
	if (fd >= 0)
		close(fd);
	if (got != (ssize_t)sizeof raw) {
		/* No urandom (a chroot): time and pid still make ids unique enough. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		unsigned long long x = (unsigned long long)ts.tv_nsec ^
				       ((unsigned long long)ts.tv_sec << 20) ^
				       ((unsigned long long)getpid() << 40);
		memcpy(raw, &x, sizeof raw);
	}
	struct buf b = BUF_INIT;
	buf_appends(&b, prefix);
	for (size_t i = 0; i < sizeof raw; i++)
		buf_printf(&b, "%02x", raw[i]);
	return buf_detach(&b);
}

void event_ctx_init(struct event_ctx *ctx, const char *agent, const char *parent_id,
		    const char *session_id, int fd)
{
	memset(ctx, 0, sizeof *ctx);
	ctx->agent = xstrdup(agent);
	ctx->run_id = event_new_id("run_");
	ctx->parent_id = parent_id ? xstrdup(parent_id) : NULL;
	ctx->session_id = session_id ? xstrdup(session_id) : NULL;
	ctx->fd = fd;
}

void event_ctx_free(struct event_ctx *ctx)
{
	free(ctx->agent);
	free(ctx->run_id);
	free(ctx->parent_id);
	free(ctx->session_id);
	memset(ctx, 0, sizeof *ctx);
}

void event_timestamp(char out[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + n, 32 - n, ".%03ldZ", ts.tv_nsec / 1000000);
}

static jv str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

jv event_new(const struct event_ctx *ctx, const char *type)
{
	char ts[32];
	event_timestamp(ts);
	jv ev = jv_object();
	ev = jv_object_set(ev, jv_string("v"), jv_number(1));
	ev = jv_object_set(ev, jv_string("type"), jv_string(type));
	ev = jv_object_set(ev, jv_string("agent"), str_or_null(ctx->agent));
	ev = jv_object_set(ev, jv_string("run_id"), str_or_null(ctx->run_id));
	ev = jv_object_set(ev, jv_string("parent_id"), str_or_null(ctx->parent_id));
	ev = jv_object_set(ev, jv_string("session_id"), str_or_null(ctx->session_id));
	ev = jv_object_set(ev, jv_string("ts"), jv_string(ts));
	return ev;
}

int event_emit(struct event_ctx *ctx, jv ev)
{
	if (ctx->tap)
		ctx->tap(ctx->tap_user, ev);
	if (ctx->fd < 0) {
		jv_free(ev);
		return 0;
	}
	if (ctx->closed) {
		jv_free(ev);
		return -1;
	}
	int rc = io_write_json_line(ctx->fd, ev);
	jv_free(ev);
	if (rc < 0) {
		if (errno == EPIPE)
			ctx->closed = true;
		return -1;
	}
	ctx->emitted++;
	return 0;
}

int event_log(struct event_ctx *ctx, const char *level, const char *message)
{
	jv ev = event_new(ctx, "log");
	ev = jv_object_set(ev, jv_string("level"), jv_string(level));
	ev = jv_object_set(ev, jv_string("message"), jv_string(message));
	return event_emit(ctx, ev);
}

const char *event_type(jv ev)
{
	if (jv_get_kind(ev) != JV_KIND_OBJECT)
		return NULL;
	jv t = jv_object_get(jv_copy(ev), jv_string("type"));
	const char *s = NULL;
	/* The string stays alive inside ev after t is freed. */
	if (jv_get_kind(t) == JV_KIND_STRING)
		s = jv_string_value(t);
	jv_free(t);
	return s;
}

static bool field_kind(jv ev, const char *name, jv_kind a, jv_kind b)
{
	jv f = jv_object_get(jv_copy(ev), jv_string(name));
	jv_kind k = jv_get_kind(f);
	jv_free(f);
	return k == a || k == b;
}

bool event_is_valid(jv ev, bool strict, char **err)
{
	const char *why = NULL;
	if (jv_get_kind(ev) != JV_KIND_OBJECT)
		why = "an event must be a JSON object";
	else if (!field_kind(ev, "type", JV_KIND_STRING, JV_KIND_STRING))
		why = "an event needs a string \"type\"";
	else if (strict && !field_kind(ev, "v", JV_KIND_NUMBER, JV_KIND_NUMBER))
		why = "an event needs \"v\": 1";
	else if (strict && !field_kind(ev, "agent", JV_KIND_STRING, JV_KIND_NULL))
		why = "\"agent\" must be a string";
	else if (strict && !field_kind(ev, "run_id", JV_KIND_STRING, JV_KIND_STRING))
		why = "an event needs a string \"run_id\"";
	else if (strict && !field_kind(ev, "parent_id", JV_KIND_STRING, JV_KIND_NULL))
		why = "\"parent_id\" must be a string or null";
	else if (strict && !field_kind(ev, "session_id", JV_KIND_STRING, JV_KIND_NULL))
		why = "\"session_id\" must be a string or null";
	else if (strict && !field_kind(ev, "ts", JV_KIND_STRING, JV_KIND_STRING))
		why = "an event needs a string \"ts\"";
	if (why && err)
		*err = xstrdup(why);
	return why == NULL;
}
