#ifndef BLLM_DASHBOARD_H
#define BLLM_DASHBOARD_H
/*
 * bllm-dashboard: a read-only web view of the history (lib/history.h) and
 * the journals (lib/session.h). This header holds the decisions (routes,
 * the token check, limits, Server-Sent Events framing) as pure functions,
 * and the server (lib/dashboard_http.c, over libmicrohttpd).
 *
 * Security: the server listens on 127.0.0.1 unless told otherwise; every
 * request needs the token (the query's token=, then the bllm_token cookie
 * the server sets); the paths it serves are a fixed table (no part of a
 * request names a file); only GET and HEAD; the request size, header
 * count, connections and Server-Sent Events clients are bounded.
 *
 * jv ownership: every jv argument is borrowed.
 */
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"

enum dash_route {
	DASH_NOT_FOUND, DASH_PAGE, DASH_SCRIPT, DASH_STYLE, DASH_API_SESSIONS, DASH_API_SESSION,
	DASH_API_EVENTS, DASH_API_STATS, DASH_API_SEARCH, DASH_SSE_LIVE, DASH_SSE_SESSION,
};

/* The route of a request path (without its query), from the fixed table. */
enum dash_route dash_route(const char *path);

/* The HTTP status a request gets before its route is served: 0 when none. */
struct dash_request_facts {
	const char *method;
	size_t url_len;
	int header_count;
	bool has_body;
	bool token_ok;
};
int dash_refusal(const struct dash_request_facts *r);

enum { DASH_MAX_URL = 2048, DASH_MAX_HEADERS = 64, DASH_MAX_REQUEST = 32768,
       DASH_MAX_CONNECTIONS = 200, DASH_MAX_SSE_CLIENTS = 100 };

/*
 * Whether the request carries token: as query_token (the token= query
 * argument) or in cookie_header (a Cookie: header, bllm_token=...). Each
 * may be NULL. Compared in constant time.
 */
bool dash_token_ok(const char *token, const char *query_token, const char *cookie_header);

/* A new random token: 32 hex digits (malloc'd), or NULL without randomness. */
char *dash_new_token(void);

/*
 * One Server-Sent Events message appended to out: "id: ID" (when id),
 * "event: EVENT" (when event), a "data: " line per line of data, a blank line.
 */
void dash_sse_message(struct buf *out, const char *event, const char *id, const char *data);

/* Parses ADDR:PORT (ADDR an IPv4 address, PORT 0-65535; 0 picks one). -1 when invalid. */
int dash_parse_listen(const char *s, char addr[64], int *port);

struct dash_opts {
	const char *addr;		/* listen address, e.g. 127.0.0.1 */
	int port;			/* 0: any free port */
	const char *db_path;		/* the history database */
	const char *token;		/* the access token */
	int max_sse_clients;		/* 0: DASH_MAX_SSE_CLIENTS */
};

struct dash_server;

/*
 * Starts serving (in threads of its own). *port gets the port bound.
 * -1 with *err naming the address and the reason.
 */
int dash_start(const struct dash_opts *o, struct dash_server **s, int *port, char **err);
/* Ends the Server-Sent Events streams, then the server. */
void dash_stop(struct dash_server *s);

/*
 * For bllm-manage --dashboard: starts bllm-dashboard (found beside the
 * running program) on 127.0.0.1, port 0, stopping when this process ends,
 * and gives its URL (the first line it prints). -1 with *err.
 */
int dash_spawn(const char *sessions_dir, pid_t *pid, char **url, char **err);
/* Stops a dashboard dash_spawn started. */
void dash_spawn_stop(pid_t pid);

#endif
