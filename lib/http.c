#define _DEFAULT_SOURCE	/* timegm */
#define _XOPEN_SOURCE 700	/* strptime */
#include "http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

struct http {
	CURL *curl;
	double connect_timeout_s;
	double idle_timeout_s;
	volatile sig_atomic_t *interrupted;
};

struct transfer {
	struct http *h;
	struct http_response *resp;
	http_body_fn on_body;
	void *user;
	struct timespec start;
	long last_data_ms;	/* since start: when the server last sent anything */
	bool got_first_byte;
	bool idle;		/* abandoned for sending nothing too long */
};

static long ms_since(const struct timespec *t0)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t0->tv_sec) * 1000 + (now.tv_nsec - t0->tv_nsec) / 1000000;
}

int http_global_init(void)
{
	return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

struct http *http_new(double connect_timeout_s, double idle_timeout_s,
		      volatile sig_atomic_t *interrupted)
{
	struct http *h = xcalloc(1, sizeof *h);
	h->curl = curl_easy_init();
	h->connect_timeout_s = connect_timeout_s > 0 ? connect_timeout_s : 30;
	h->idle_timeout_s = idle_timeout_s > 0 ? idle_timeout_s : 300;
	h->interrupted = interrupted;
	return h;
}

void http_free(struct http *h)
{
	if (!h)
		return;
	curl_easy_cleanup(h->curl);
	free(h);
}

long http_parse_retry_after(const char *value)
{
	while (isspace((unsigned char)*value))
		value++;
	char *end;
	double secs = strtod(value, &end);
	if (end != value) {
		while (isspace((unsigned char)*end))
			end++;
		if (*end == '\0' && secs >= 0)
			return secs < 86400.0 ? (long)(secs * 1000) : 86400000L;	/* a day at most */
	}
	struct tm tm;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	if (!rest)
		return -1;
	time_t when = timegm(&tm), now = time(NULL);
	return when > now ? (long)(when - now) * 1000 : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * n;
	t->last_data_ms = ms_since(&t->start);
	char line[512];
	size_t m = len < sizeof line - 1 ? len : sizeof line - 1;
	memcpy(line, p, m);
	line[m] = '\0';
	char *colon = strchr(line, ':');
	if (strncmp(line, "HTTP/", 5) == 0) {
		/* A new status line (after a 100 Continue, say): forget older headers. */
		t->resp->retry_after_ms = -1;
		t->resp->request_id[0] = '\0';
	} else if (colon) {
		*colon = '\0';
		char *val = colon + 1;
		while (*val == ' ' || *val == '\t')
			val++;
		val[strcspn(val, "\r\n")] = '\0';
		if (strcasecmp(line, "retry-after") == 0)
			t->resp->retry_after_ms = http_parse_retry_after(val);
		else if (strcasecmp(line, "request-id") == 0)
			snprintf(t->resp->request_id, sizeof t->resp->request_id, "%s", val);
	}
	return len;
}

static size_t on_write(char *p, size_t size, size_t n, void *userp)
{
	struct transfer *t = userp;
	size_t len = size * n;
	t->last_data_ms = ms_since(&t->start);
	if (!t->got_first_byte) {
		t->got_first_byte = true;
		t->resp->ttfb_ms = ms_since(&t->start);
		curl_easy_getinfo(t->h->curl, CURLINFO_RESPONSE_CODE, &t->resp->status);
	}
	if (t->resp->status < 200 || t->resp->status >= 300) {
		/* Error bodies are small JSON objects; keep a bounded amount. */
		if (t->resp->error_body.len < 65536)
			buf_append(&t->resp->error_body, p, len);
		return len;
	}
	if (t->on_body && t->on_body(p, len, t->user) != 0) {
		t->resp->aborted = true;
		return 0;
	}
	return len;
}

static int on_progress(void *userp, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	struct transfer *t = userp;
	if (t->h->interrupted && *t->h->interrupted) {
		t->resp->aborted = true;
		return 1;
	}
	/* The idle timeout is ours: curl's low-speed check averages over
	 * seconds and counts the upload, so it fires late. */
	if (ms_since(&t->start) - t->last_data_ms > (long)(t->h->idle_timeout_s * 1000)) {
		t->idle = true;
		return 1;
	}
	return 0;
}

int http_post(struct http *h, const char *url, const char *const *headers, const char *body,
	      size_t body_len, http_body_fn on_body, void *user, struct http_response *resp,
	      char **err)
{
	struct transfer t = { .h = h, .resp = resp, .on_body = on_body, .user = user };
	CURL *c = h->curl;
	struct curl_slist *hl = NULL;
	for (const char *const *hp = headers; hp && *hp; hp++)
		hl = curl_slist_append(hl, *hp);
	hl = curl_slist_append(hl, "Expect:");

	resp->status = 0;
	resp->retry_after_ms = -1;
	resp->request_id[0] = '\0';
	buf_reset(&resp->error_body);
	resp->aborted = false;

	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_POST, 1L);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "bllm/" BLLM_VERSION);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)(h->connect_timeout_s * 1000));
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, &t);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
	const char *ca = getenv("CURL_CA_BUNDLE");
	if (!ca || !*ca)
		ca = getenv("SSL_CERT_FILE");
	if (ca && *ca)
		curl_easy_setopt(c, CURLOPT_CAINFO, ca);

	clock_gettime(CLOCK_MONOTONIC, &t.start);
	CURLcode rc = curl_easy_perform(c);
	resp->total_ms = ms_since(&t.start);
	curl_slist_free_all(hl);
	if (!t.got_first_byte)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp->status);
	if (rc == CURLE_OK)
		return 0;
	if (resp->aborted && h->interrupted && *h->interrupted)
		*err = xstrdup("interrupted");
	else if (t.idle || rc == CURLE_OPERATION_TIMEDOUT)
		*err = xasprintf("no data from the server for %.0f s (timed out)", h->idle_timeout_s);
	else
		*err = xasprintf("%s", curl_easy_strerror(rc));
	return -1;
}

void http_response_free(struct http_response *resp)
{
	buf_free(&resp->error_body);
}
