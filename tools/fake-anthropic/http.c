/* fake-anthropic: reading HTTP/1.1 requests off a connection and writing responses. */
#define _DEFAULT_SOURCE
#include "fake.h"

void request_free(struct request *rq)
{
	free(rq->method);
	free(rq->target);
	for (size_t i = 0; i < rq->nh; i++) {
		free(rq->h[i].name);
		free(rq->h[i].value);
	}
	free(rq->h);
	buf_free(&rq->body);
}

static const char *header(const struct request *rq, const char *name)
{
	for (size_t i = 0; i < rq->nh; i++)
		if (strcmp(rq->h[i].name, name) == 0)
			return rq->h[i].value;
	return NULL;
}

static int has_token(const char *value, const char *token)
{
	size_t n = strlen(token);
	for (const char *p = value; p && *p; p++)
		if (strncasecmp(p, token, n) == 0)
			return 1;
	return 0;
}

int send_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Reads what is available: >0 bytes, 0 at end of stream, -1 on error or shutdown. */
ssize_t conn_read(struct conn *c)
{
	char tmp[16384];
	for (;;) {
		if (atomic_load(&stopping))
			return -1;
		struct pollfd p = { c->fd, POLLIN, 0 };
		int r = poll(&p, 1, 100);
		if (r < 0 && errno != EINTR)
			return -1;
		if (r <= 0)
			continue;
		ssize_t n = read(c->fd, tmp, sizeof tmp);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n > 0)
			buf_append(&c->in, tmp, (size_t)n);
		return n;
	}
}

static int need_bytes(struct conn *c, size_t n)
{
	while (c->in.len < n)
		if (conn_read(c) <= 0)
			return -1;
	return 0;
}

/* Offset of the next CR LF in the input, reading more as needed; -1 if none comes. */
static long find_crlf(struct conn *c)
{
	for (;;) {
		char *p = c->in.len ? find_bytes(c->in.data, c->in.len, "\r\n", 2) : NULL;
		if (p)
			return p - c->in.data;
		if (c->in.len > 8192 || conn_read(c) <= 0)
			return -1;
	}
}

static int read_chunked(struct conn *c, struct request *rq)
{
	for (;;) {
		long e = find_crlf(c);
		if (e < 0)
			return RQ_BAD;
		char *end;
		if (!isxdigit((unsigned char)c->in.data[0]))
			return RQ_BAD;
		unsigned long size = strtoul(c->in.data, &end, 16);
		if (end != c->in.data + e && *end != ';' && *end != ' ' && *end != '\t')
			return RQ_BAD;
		buf_consume(&c->in, (size_t)e + 2);
		if (size == 0)
			break;
		if (size > MAX_BODY || rq->body.len + size > MAX_BODY)
			return RQ_TOO_BIG;
		if (need_bytes(c, size + 2) < 0 || memcmp(c->in.data + size, "\r\n", 2) != 0)
			return RQ_BAD;
		buf_append(&rq->body, c->in.data, size);
		buf_consume(&c->in, size + 2);
	}
	for (;;) {	/* trailer fields, then the empty line */
		long e = find_crlf(c);
		if (e < 0)
			return RQ_BAD;
		buf_consume(&c->in, (size_t)e + 2);
		if (e == 0)
			return RQ_OK;
	}
}

static int parse_head(char *head, struct request *rq)
{
	char *line = head, *next = strstr(line, "\r\n");
	if (next)
		*next = '\0';
	char *sp1 = strchr(line, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || sp1 == line || sp2 == sp1 + 1 || strncmp(sp2 + 1, "HTTP/1.", 7) != 0)
		return RQ_BAD;
	rq->method = xstrndup(line, (size_t)(sp1 - line));
	rq->target = xstrndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	int http10 = strcmp(sp2 + 1, "HTTP/1.0") == 0;
	size_t cap = 0;
	while (next) {
		line = next + 2;
		next = strstr(line, "\r\n");
		if (next)
			*next = '\0';
		char *colon = strchr(line, ':');
		if (!colon || colon == line)
			return RQ_BAD;
		if (rq->nh == cap) {
			cap = cap ? cap * 2 : 16;
			rq->h = xrealloc(rq->h, cap * sizeof *rq->h);
		}
		struct header *h = &rq->h[rq->nh++];
		h->name = xstrndup(line, (size_t)(colon - line));
		for (char *p = h->name; *p; p++)
			if (*p >= 'A' && *p <= 'Z')
				*p = (char)(*p - 'A' + 'a');
		char *v = colon + 1, *ve = v + strlen(v);
		while (*v == ' ' || *v == '\t')
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		h->value = xstrndup(v, (size_t)(ve - v));
	}
	const char *conn = header(rq, "connection");
	rq->keep_alive = http10 ? has_token(conn, "keep-alive") : !has_token(conn, "close");
	return RQ_OK;
}

int read_request(struct conn *c, struct request *rq)
{
	memset(rq, 0, sizeof *rq);
	char *end;
	for (;;) {
		while (c->in.len >= 2 && memcmp(c->in.data, "\r\n", 2) == 0)
			buf_consume(&c->in, 2);
		end = c->in.len ? find_bytes(c->in.data, c->in.len, "\r\n\r\n", 4) : NULL;
		if (end)
			break;
		if (c->in.len > MAX_HEADER)
			return RQ_TOO_BIG;
		if (conn_read(c) <= 0)
			return RQ_EOF;
	}
	size_t hlen = (size_t)(end - c->in.data);
	char *head = xstrndup(c->in.data, hlen);
	buf_consume(&c->in, hlen + 4);
	int rc = parse_head(head, rq);
	free(head);
	if (rc != RQ_OK)
		return rc;

	const char *te = header(rq, "transfer-encoding");
	const char *cl = header(rq, "content-length");
	const char *expect = header(rq, "expect");
	int chunked = te && has_token(te, "chunked");
	unsigned long clen = 0;
	if (!chunked && cl) {
		char *e;
		if (!*cl || strspn(cl, "0123456789") != strlen(cl))
			return RQ_BAD;
		clen = strtoul(cl, &e, 10);
		if (clen > MAX_BODY)
			return RQ_TOO_BIG;
	}
	if (expect && has_token(expect, "100-continue") && (chunked || clen > c->in.len)) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		if (send_all(c->fd, cont, sizeof cont - 1) < 0)
			return RQ_EOF;
	}
	if (chunked)
		return read_chunked(c, rq);
	if (need_bytes(c, clen) < 0)
		return RQ_EOF;
	buf_append(&rq->body, c->in.data ? c->in.data : "", clen);
	buf_consume(&c->in, clen);
	return RQ_OK;
}

static const char *reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 529: return "Overloaded";
	default: return status < 500 ? "Client Error" : "Server Error";
	}
}

void head_start(struct buf *b, int status, const char *ctype, unsigned long n)
{
	buf_printf(b, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\n", status, reason(status), ctype);
	if (n)
		buf_printf(b, "request-id: req_fake_%lu\r\n", n);
}

/* A complete response with a body; extra is more header lines (each ending in CR LF) or NULL. */
int send_body(int fd, int status, const char *ctype, unsigned long n, const char *extra,
	      const char *body, size_t len, int keep_alive)
{
	struct buf b = BUF_INIT;
	head_start(&b, status, ctype, n);
	buf_printf(&b, "Content-Length: %zu\r\nConnection: %s\r\n%s\r\n", len,
		   keep_alive ? "keep-alive" : "close", extra ? extra : "");
	buf_append(&b, body, len);
	int rc = send_all(fd, b.data, b.len);
	buf_free(&b);
	return rc;
}

static const char *default_error_type(int status)
{
	switch (status) {
	case 400: return "invalid_request_error";
	case 401: return "authentication_error";
	case 403: return "permission_error";
	case 404: return "not_found_error";
	case 413: return "request_too_large";
	case 429: return "rate_limit_error";
	case 529: return "overloaded_error";
	default: return status >= 500 ? "api_error" : "invalid_request_error";
	}
}

int send_error(int fd, int status, const char *type, const char *message, unsigned long n,
	       const char *extra, int keep_alive)
{
	jv e = jv_object();
	e = jv_object_set(e, jv_string("type"), jv_string("error"));
	jv inner = jv_object();
	inner = jv_object_set(inner, jv_string("type"),
			      jv_string(type ? type : default_error_type(status)));
	inner = jv_object_set(inner, jv_string("message"), jv_string(message));
	e = jv_object_set(e, jv_string("error"), inner);
	char *body = dump(e);
	int rc = send_body(fd, status, "application/json", n, extra, body, strlen(body),
			   keep_alive);
	free(body);
	return rc;
}
