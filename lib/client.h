#ifndef BLLM_CLIENT_H
#define BLLM_CLIENT_H
/*
 * A Messages API client: POST {base}/v1/messages with "stream": true,
 * assembles the streamed reply (lib/anthropic.h), and retries what is
 * worth retrying (408, 409, 429, 5xx, 529, connection errors, streams cut
 * before message_stop) with exponential backoff, jitter and Retry-After.
 * 401 and 403 are never retried. Keys never appear in errors.
 *
 * jv ownership: client_messages borrows the request; the reply's message
 * is owned by the caller (client_call_free).
 */
#include <signal.h>
#include <stdbool.h>
#include <jv.h>

#include "anthropic.h"

struct client_opts {
	const char *base_url;	/* default https://api.anthropic.com */
	const char *api_key;	/* x-api-key, or NULL */
	const char *oauth_token;	/* Authorization: Bearer, used when api_key is NULL */
	struct retry_policy retry;
	double connect_timeout_s;
	double idle_timeout_s;
	volatile sig_atomic_t *interrupted;	/* set by a signal handler: stop now */
	struct cache *cache;	/* response cache, or NULL (lib/cache.h) */
};

enum client_status {
	CLIENT_OK = 0,
	CLIENT_AUTH,		/* 401/403: the key is wrong or lacks access */
	CLIENT_API,		/* still failing after the last attempt */
	CLIENT_REQUEST,		/* the server refused the request (4xx); retrying will not help */
	CLIENT_INTERRUPTED,
};

struct client_retry_info {
	int attempt;		/* the attempt that failed, from 1 */
	int max_attempts;
	long delay_ms;		/* the wait before the next attempt */
	long http_status;	/* 0 for a transport error */
	const char *error;	/* one line */
};
typedef void (*client_retry_fn)(const struct client_retry_info *info, void *user);

struct client_call {
	jv message;		/* the assembled message (see anthropic.h) */
	struct anth_usage usage;
	long latency_ms;	/* the successful attempt, request to last byte */
	long ttfb_ms;
	int attempts;
	long http_status;	/* of the last attempt */
	char request_id[128];
	const char *cache;	/* "hit" or "miss" with a response cache, else NULL */
	bool cache_stored;	/* a miss whose reply was stored */
	int cache_evicted;	/* entries evicted to make room */
	int cache_size;		/* entries after this call */
};

struct client;
struct cache;

/*
 * Fills opts' credentials and base URL from the environment:
 * ANTHROPIC_API_KEY, else CLAUDE_CODE_OAUTH_TOKEN; ANTHROPIC_BASE_URL.
 * Returns -1 with *err when neither credential is set.
 */
int client_opts_from_env(struct client_opts *opts, char **err);

struct config;

/*
 * The whole set-up from the config and the environment: credentials and
 * base URL (as client_opts_from_env), retries (performance.worker_retry_*),
 * timeouts (timeouts.api_connect, timeouts.api_idle, or BLLM_API_TIMEOUT),
 * the interrupt flag; no cache. Also initialises libcurl. -1 with *err
 * when no credentials are set.
 */
int client_opts_configure(struct client_opts *opts, const struct config *cfg,
			  volatile sig_atomic_t *interrupted, char **err);

struct client *client_new(const struct client_opts *opts);
void client_free(struct client *c);

/*
 * Sends one request (borrowed) and waits for the whole reply, calling
 * on_text with text deltas as they stream and on_retry before each wait.
 * Returns CLIENT_OK with *out filled, or another status with *err set.
 */
enum client_status client_messages(struct client *c, jv request, anth_text_fn on_text,
				   client_retry_fn on_retry, void *user, struct client_call *out,
				   char **err);
void client_call_free(struct client_call *call);

#endif
