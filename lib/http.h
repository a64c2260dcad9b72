#ifndef BLLM_HTTP_H
#define BLLM_HTTP_H
/*
 * HTTP POST with a streamed response body, over libcurl.
 *
 * Proxies come from the usual environment variables (libcurl reads them);
 * a CA bundle from CURL_CA_BUNDLE or SSL_CERT_FILE. A connection that sends
 * nothing for idle_timeout_s seconds is abandoned. An interrupt flag, when
 * set (from a signal handler), aborts the transfer promptly.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct http;

/* Called with response body bytes of a 2xx reply. Non-zero aborts the transfer. */
typedef int (*http_body_fn)(const char *p, size_t n, void *user);

struct http_response {
	long status;		/* 0 when no response arrived */
	long retry_after_ms;	/* from Retry-After, -1 when absent */
	char request_id[128];	/* request-id header, "" when absent */
	struct buf error_body;	/* the body of a non-2xx reply */
	long ttfb_ms;		/* time to the first response byte */
	long total_ms;
	bool aborted;		/* the body callback or the interrupt flag stopped it */
};

/* Global libcurl set-up; call once at program start. */
int http_global_init(void);

struct http *http_new(double connect_timeout_s, double idle_timeout_s,
		      volatile sig_atomic_t *interrupted);
void http_free(struct http *h);

/*
 * POSTs body to url with headers (NULL-terminated "Name: value" strings).
 * Returns 0 when an HTTP response was received (any status, see
 * resp->status), or -1 on a transport failure (refused, reset, timeout,
 * aborted) with *err set to a one-line reason (malloc'd).
 * resp must be zero-initialised by the caller; http_response_free releases it.
 */
int http_post(struct http *h, const char *url, const char *const *headers, const char *body,
	      size_t body_len, http_body_fn on_body, void *user, struct http_response *resp,
	      char **err);
void http_response_free(struct http_response *resp);

/* Parses a Retry-After value (delta-seconds, possibly fractional, or an HTTP date). */
long http_parse_retry_after(const char *value);

#endif
