/*
 * What crosses files inside fake-anthropic (see main.c for what the program
 * is). Private to tools/fake-anthropic/: it shares nothing with lib/ but buf.
 *   scenario.c  loading and checking a scenario file; small jv helpers
 *   http.c      reading requests and writing responses (HTTP/1.1)
 *   cache.c     what rules match on, and the prompt-cache model
 *   sse.c       the reply message, streamed as SSE or sent whole, faults applied
 *   main.c      options, routing, connections, the request log
 */
#ifndef FAKE_ANTHROPIC_FAKE_H
#define FAKE_ANTHROPIC_FAKE_H

#include "buf.h"

#include <jv.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#ifndef BLLM_VERSION
#define BLLM_VERSION "0.1.0"
#endif

#define PROG "fake-anthropic"
#define MAX_HEADER (64 * 1024)
#define MAX_BODY (64UL * 1024 * 1024)
#define TEXT_PIECE 16		/* bytes per text_delta, at most */
#define JSON_PIECE 12		/* bytes per input_json_delta, at most */
#define RESET_PAUSE_MS 50	/* lets the client read what came before a reset */
#define CACHE_LOOKBACK 20	/* blocks a cache lookup covers, as in the API */
#define NOW_TOKEN "@@NOW_US@@"	/* in reply text: the send time, for latency benchmarks */

enum fault { F_NONE, F_RESET, F_TRUNCATE, F_CUT_TOOL_JSON, F_HANG, F_ERROR_EVENT, F_BAD_JSON };


struct rule {
	size_t index;
	char *name;			/* NULL: the log shows the index */
	char *m_system, *m_last_user, *m_body, *m_tool;
	long m_turn;			/* -1: any */
	long times;			/* -1: unlimited */
	long used;			/* under lock */
	int status;			/* 0: a reply, not an error */
	char *error_type, *message, *retry_after;
	char *reply;			/* compact JSON of "reply", or NULL */
	enum fault fault;
	long drip_ms, delay_ms;
};

struct header {
	char *name;		/* lowercased */
	char *value;
};

struct request {
	char *method, *target;
	struct header *h;
	size_t nh;
	struct buf body;
	int keep_alive;
};

struct conn {
	int fd;
	struct buf in;
};

enum { RQ_OK = 1, RQ_EOF = 0, RQ_BAD = -1, RQ_TOO_BIG = -2 };
enum { ACT_KEEP, ACT_CLOSE, ACT_RESET };

/* Facts about a Messages request that rules match on, and its prompt's cache breakpoints. */
struct info {
	struct buf system, last_user;
	long turn;
	char **tools;
	size_t ntools;
	uint64_t *blk_hash;	/* per prompt block: hash of the prefix ending with it */
	long *blk_tokens;	/* per prompt block: token estimate of that prefix */
	size_t nblk, blk_cap;
	size_t *bp;		/* indexes of the blocks that are cache breakpoints */
	size_t nbp;
	long total_tokens;
	uint64_t h;		/* running hash of the prompt so far */
	size_t bytes;		/* running size of the prompt so far */
};

/* main.c */
extern atomic_int stopping;

/* scenario.c */
extern struct rule *rules;
extern size_t nrules;
void sleep_ms(long ms);
long tokens_of(size_t bytes);
/* Borrows obj. */
jv member(jv obj, const char *key);
/* Borrows s. */
const char *str_bytes(jv s, size_t *len);
/* Consumes bad. */
char *parse_error(jv bad);
/* Consumes v. */
char *dump(jv v);
/* Borrows v. */
int kind_is(jv v, jv_kind k);
/* Borrows v. */
int is_str(jv v, const char *s);
char *find_bytes(const char *hay, size_t len, const char *needle, size_t n);
uint64_t fnv(uint64_t h, const void *p, size_t n);
/* Borrows v. */
int as_long(jv v, long lo, long hi, long *out);
void rules_free(struct rule *rs, size_t n);
int load_scenario(const char *path, char **err);

/* http.c */
void request_free(struct request *rq);
int send_all(int fd, const char *p, size_t n);
ssize_t conn_read(struct conn *c);
int read_request(struct conn *c, struct request *rq);
void head_start(struct buf *b, int status, const char *ctype, unsigned long n);
int send_body(int fd, int status, const char *ctype, unsigned long n, const char *extra,
	      const char *body, size_t len, int keep_alive);
int send_error(int fd, int status, const char *type, const char *message, unsigned long n,
	       const char *extra, int keep_alive);

/* cache.c */
extern uint64_t *cache_set;
void info_free(struct info *inf);
/* Borrows body. */
void info_build(struct info *inf, jv body);
int rule_matches(const struct rule *r, const struct info *inf, const struct request *rq);
void cache_account(const struct info *inf, long *input, long *create, long *read_);

/* sse.c */
/* Borrows body; consumes usage. */
jv build_message(const struct rule *r, jv body, unsigned long n, jv usage);
/* Consumes msg. */
int stream_reply(struct conn *c, const struct rule *r, jv msg, unsigned long n);
/* Consumes msg. */
int plain_reply(struct conn *c, const struct request *rq, const struct rule *r, jv msg,
		unsigned long n);
void hang(struct conn *c);

#endif
