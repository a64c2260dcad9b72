#include "client.h"
#include "scrub.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "cache.h"
#include "config.h"
#include "http.h"

struct client {
	char *url;
	char *auth_header;
	bool oauth;
	struct retry_policy retry;
	volatile sig_atomic_t *interrupted;
	struct http *http;
	unsigned int seed;
	struct cache *cache;
};

int client_opts_from_env(struct client_opts *opts, char **err)
{
	const char *key = getenv("ANTHROPIC_API_KEY");
	const char *token = getenv("CLAUDE_CODE_OAUTH_TOKEN");
	const char *base = getenv("ANTHROPIC_BASE_URL");
	opts->api_key = key && *key ? key : NULL;
	opts->oauth_token = token && *token ? token : NULL;
	opts->base_url = base && *base ? base : "https://api.anthropic.com";
	if (!opts->api_key && !opts->oauth_token) {
		*err = xstrdup("no API credentials: set ANTHROPIC_API_KEY (or CLAUDE_CODE_OAUTH_TOKEN), "
			       "in the environment or in .env");
		return -1;
	}
	return 0;
}

int client_opts_configure(struct client_opts *opts, const struct config *cfg,
			  volatile sig_atomic_t *interrupted, char **err)
{
	memset(opts, 0, sizeof *opts);
	opts->retry = config_retry_policy(cfg);
	opts->interrupted = interrupted;
	opts->connect_timeout_s = config_number(cfg, "timeouts.api_connect", 30);
	opts->idle_timeout_s = config_number(cfg, "timeouts.api_idle", 300);
	const char *t = getenv("BLLM_API_TIMEOUT");
	char *end;
	double v = t ? strtod(t, &end) : 0;
	if (t && end != t && *end == '\0' && v >= 0.1 && v <= 86400)
		opts->idle_timeout_s = v;
	if (client_opts_from_env(opts, err) < 0)
		return -1;
	http_global_init();
	return 0;
}

struct client *client_new(const struct client_opts *opts)
{
	struct client *c = xcalloc(1, sizeof *c);
	const char *base = opts->base_url ? opts->base_url : "https://api.anthropic.com";
	size_t n = strlen(base);
	while (n > 0 && base[n - 1] == '/')
		n--;
	c->url = xasprintf("%.*s/v1/messages", (int)n, base);
	if (opts->api_key) {
		c->auth_header = xasprintf("x-api-key: %s", opts->api_key);
	} else if (opts->oauth_token) {
		c->auth_header = xasprintf("Authorization: Bearer %s", opts->oauth_token);
		c->oauth = true;
	}
	c->retry = opts->retry;
	if (c->retry.max_attempts < 1)
		c->retry.max_attempts = 1;
	c->interrupted = opts->interrupted;
	c->cache = opts->cache;
	c->http = http_new(opts->connect_timeout_s, opts->idle_timeout_s, opts->interrupted);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	c->seed = (unsigned int)(ts.tv_nsec ^ ts.tv_sec);
	return c;
}

void client_free(struct client *c)
{
	if (!c)
		return;
	http_free(c->http);
	if (c->auth_header) {
		/* Do not leave the key lying in freed memory. */
		memset(c->auth_header, 0, strlen(c->auth_header));
		free(c->auth_header);
	}
	free(c->url);
	free(c);
}

void client_call_free(struct client_call *call)
{
	jv_free(call->message);
	call->message = jv_null();
}

/* "HTTP 529 overloaded_error: Overloaded" from an API error body. */
static char *describe_http_error(long status, const struct buf *body)
{
	jv v = jv_parse_sized(buf_str(body), (int)body->len);
	char *msg = NULL;
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv e = jv_object_get(jv_copy(v), jv_string("error"));
		if (jv_get_kind(e) == JV_KIND_OBJECT) {
			jv type = jv_object_get(jv_copy(e), jv_string("type"));
			jv text = jv_object_get(jv_copy(e), jv_string("message"));
			msg = xasprintf("HTTP %ld %s: %s", status,
					jv_get_kind(type) == JV_KIND_STRING ? jv_string_value(type) : "error",
					jv_get_kind(text) == JV_KIND_STRING ? jv_string_value(text) : "");
			jv_free(type);
			jv_free(text);
		}
		jv_free(e);
	}
	jv_free(v);
	return msg ? msg : xasprintf("HTTP %ld", status);
}

/* A reply whose tool input was cut short (max_tokens) is not worth keeping. */
static bool has_cut_tool_input(jv message)
{
	bool cut = false;
	jv content = jv_object_get(jv_copy(message), jv_string("content"));
	if (jv_get_kind(content) == JV_KIND_ARRAY) {
		jv_array_foreach(content, i, block) {
			jv input = jv_object_get(jv_copy(block), jv_string("input"));
			jv type = jv_object_get(block, jv_string("type"));
			cut = cut || (jv_get_kind(type) == JV_KIND_STRING &&
				      strcmp(jv_string_value(type), "tool_use") == 0 &&
				      jv_get_kind(input) != JV_KIND_OBJECT);
			jv_free(type);
			jv_free(input);
		}
	}
	jv_free(content);
	return cut;
}

static int feed_assembler(const char *p, size_t n, void *user)
{
	/* Keep reading after an assembler error: the error is checked at the end. */
	anth_assembler_feed(user, p, n);
	return 0;
}

/* Sleeps ms milliseconds unless interrupted. Returns -1 when interrupted. */
static int sleep_ms(struct client *c, long ms)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	end.tv_sec += ms / 1000;
	end.tv_nsec += (ms % 1000) * 1000000;
	if (end.tv_nsec >= 1000000000) {
		end.tv_sec++;
		end.tv_nsec -= 1000000000;
	}
	while (!(c->interrupted && *c->interrupted)) {
		if (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &end, NULL) == 0)
			return 0;
		if (errno != EINTR)
			return 0;
	}
	return -1;
}

enum client_status client_messages(struct client *c, jv request, anth_text_fn on_text,
				   client_retry_fn on_retry, void *user, struct client_call *out,
				   char **err)
{
	memset(out, 0, sizeof *out);
	out->message = jv_null();
	char *key = NULL;
	if (c->cache) {
		key = cache_key(request);
		jv hit;
		if (cache_get(c->cache, key, &hit) == 1) {
			out->message = hit;
			out->cache = "hit";
			out->cache_size = cache_size(c->cache);
			free(key);
			return CLIENT_OK;
		}
		out->cache = "miss";
	}
	jv body = jv_dump_string(jv_copy(request), 0);
	const char *headers[] = {
		"Content-Type: application/json",
		"Accept: text/event-stream",
		"anthropic-version: 2023-06-01",
		c->auth_header,
		c->oauth ? "anthropic-beta: oauth-2025-04-20" : NULL,
		NULL,
	};
	enum client_status status = CLIENT_API;
	struct http_response resp;
	memset(&resp, 0, sizeof resp);

	for (int attempt = 1; attempt <= c->retry.max_attempts; attempt++) {
		struct anth_assembler *a = anth_assembler_new(on_text, user);
		char *why = NULL;
		bool retryable = true;
		int rc = http_post(c->http, c->url, headers, jv_string_value(body),
				   (size_t)jv_string_length_bytes(jv_copy(body)), feed_assembler, a,
				   &resp, &why);
		out->attempts = attempt;
		out->http_status = resp.status;
		why = scrub_secrets(why);
		if (c->interrupted && *c->interrupted) {
			free(why);
			anth_assembler_free(a);
			*err = xstrdup("interrupted");
			status = CLIENT_INTERRUPTED;
			break;
		}
		if (rc == 0 && resp.status >= 200 && resp.status < 300) {
			anth_assembler_finish(a);
			if (anth_assembler_error(a))
				why = scrub_secrets(xasprintf("stream error: %s", anth_assembler_error(a)));
			else if (!anth_assembler_complete(a))
				why = xstrdup("the stream ended before message_stop");
		} else if (rc == 0) {
			why = scrub_secrets(describe_http_error(resp.status, &resp.error_body));
			if (resp.status == 401 || resp.status == 403) {
				status = CLIENT_AUTH;
				retryable = false;
			} else if (!anth_status_retryable(resp.status)) {
				status = CLIENT_REQUEST;
				retryable = false;
			}
		}
		if (!why) {
			out->message = scrub_jv(anth_assembler_message(a));
			out->usage = anth_assembler_usage(a);
			out->latency_ms = resp.total_ms;
			out->ttfb_ms = resp.ttfb_ms;
			memcpy(out->request_id, resp.request_id, sizeof out->request_id);
			anth_assembler_free(a);
			status = CLIENT_OK;
			if (key && !has_cut_tool_input(out->message)) {
				/* Only whole, successful replies reach this point. */
				int evicted = cache_put(c->cache, key, out->message);
				out->cache_stored = evicted >= 0;
				out->cache_evicted = evicted > 0 ? evicted : 0;
				out->cache_size = cache_size(c->cache);
			}
			break;
		}
		anth_assembler_free(a);
		if (!retryable || attempt == c->retry.max_attempts) {
			if (retryable && c->retry.max_attempts > 1)
				*err = xasprintf("%s (gave up after %d attempts)", why, attempt);
			else
				*err = xstrdup(why);
			free(why);
			if (retryable)
				status = CLIENT_API;
			break;
		}
		long delay = anth_retry_delay_ms(&c->retry, attempt, resp.retry_after_ms,
						 (double)rand_r(&c->seed) / ((double)RAND_MAX + 1.0));
		if (on_retry) {
			struct client_retry_info info = {
				.attempt = attempt, .max_attempts = c->retry.max_attempts,
				.delay_ms = delay, .http_status = rc == 0 ? resp.status : 0, .error = why,
			};
			on_retry(&info, user);
		}
		free(why);
		if (sleep_ms(c, delay) < 0) {
			*err = xstrdup("interrupted");
			status = CLIENT_INTERRUPTED;
			break;
		}
	}
	http_response_free(&resp);
	jv_free(body);
	free(key);
	return status;
}
