/* The dashboard's decisions: routes, refusals, the token, SSE framing, --listen. */
#include "dashboard.h"
#include "unit.h"

static void test_routes(void)
{
	CHECK(dash_route("/") == DASH_PAGE);
	CHECK(dash_route("/app.js") == DASH_SCRIPT);
	CHECK(dash_route("/api/stream") == DASH_SSE_SESSION);
	CHECK(dash_route("/api/live") == DASH_SSE_LIVE);
	CHECK(dash_route("/../etc/passwd") == DASH_NOT_FOUND);
	CHECK(dash_route("/app.js/../../etc/passwd") == DASH_NOT_FOUND);
	CHECK(dash_route("/web/app.js") == DASH_NOT_FOUND);
	CHECK(dash_route("/API/sessions") == DASH_NOT_FOUND);
	CHECK(dash_route("") == DASH_NOT_FOUND);
	CHECK(dash_route(NULL) == DASH_NOT_FOUND);
}

static void test_refusals(void)
{
	struct dash_request_facts r = { .method = "GET", .url_len = 10, .header_count = 5, .token_ok = true };
	CHECK(dash_refusal(&r) == 0);
	r.method = "HEAD";
	CHECK(dash_refusal(&r) == 0);
	r.token_ok = false;
	CHECK(dash_refusal(&r) == 401);
	r.method = "POST";
	CHECK(dash_refusal(&r) == 405);	/* read-only, whoever asks */
	r.method = "GET";
	r.has_body = true;
	CHECK(dash_refusal(&r) == 413);
	r.header_count = DASH_MAX_HEADERS + 1;
	CHECK(dash_refusal(&r) == 431);
	r.url_len = DASH_MAX_URL + 1;
	CHECK(dash_refusal(&r) == 414);
	r = (struct dash_request_facts){ .method = "GET", .url_len = DASH_MAX_URL,
					 .header_count = DASH_MAX_HEADERS, .token_ok = true };
	CHECK(dash_refusal(&r) == 0);
}

static void test_token(void)
{
	const char *t = "0123456789abcdef0123456789abcdef";
	CHECK(dash_token_ok(t, t, NULL));
	CHECK(dash_token_ok(t, NULL, "bllm_token=0123456789abcdef0123456789abcdef"));
	CHECK(dash_token_ok(t, NULL, "a=b; bllm_token=0123456789abcdef0123456789abcdef; c=d"));
	CHECK(!dash_token_ok(t, NULL, NULL));
	CHECK(!dash_token_ok(t, "", NULL));
	CHECK(!dash_token_ok(t, "0123456789abcdef0123456789abcde", NULL));	/* a prefix */
	CHECK(!dash_token_ok(t, "0123456789abcdef0123456789abcdef0", NULL));	/* longer */
	CHECK(!dash_token_ok(t, NULL, "xbllm_token=0123456789abcdef0123456789abcdef"));
	CHECK(!dash_token_ok(t, NULL, "bllm_token="));
	CHECK(!dash_token_ok("", "", ""));
	char *a = dash_new_token(), *b = dash_new_token();
	CHECK(a && strlen(a) == 32 && strspn(a, "0123456789abcdef") == 32);
	CHECK(a && b && strcmp(a, b) != 0);
	free(a);
	free(b);
}

static void test_sse(void)
{
	struct buf b = BUF_INIT;
	dash_sse_message(&b, "event", "42", "{\"a\":1}");
	CHECK_STR(buf_str(&b), "id: 42\nevent: event\ndata: {\"a\":1}\n\n");
	buf_reset(&b);
	dash_sse_message(&b, NULL, NULL, "one\ntwo\r\nthree");
	CHECK_STR(buf_str(&b), "data: one\ndata: two\ndata: three\n\n");
	buf_reset(&b);
	dash_sse_message(&b, "end", NULL, "");
	CHECK_STR(buf_str(&b), "event: end\ndata: \n\n");
	buf_free(&b);
}

static void test_listen(void)
{
	char addr[64];
	int port = -1;
	CHECK(dash_parse_listen("127.0.0.1:0", addr, &port) == 0);
	CHECK_STR(addr, "127.0.0.1");
	CHECK(port == 0);
	CHECK(dash_parse_listen("0.0.0.0:8377", addr, &port) == 0 && port == 8377);
	CHECK(dash_parse_listen("localhost:80", addr, &port) == -1);
	CHECK(dash_parse_listen("127.0.0.1", addr, &port) == -1);
	CHECK(dash_parse_listen("127.0.0.1:", addr, &port) == -1);
	CHECK(dash_parse_listen(":80", addr, &port) == -1);
	CHECK(dash_parse_listen("127.0.0.1:65536", addr, &port) == -1);
	CHECK(dash_parse_listen("127.0.0.1:-1", addr, &port) == -1);
	CHECK(dash_parse_listen("256.0.0.1:80", addr, &port) == -1);
	CHECK(dash_parse_listen("1.2.3.4x:80", addr, &port) == -1);
}

int main(void)
{
	UNIT_RUN(test_routes);
	UNIT_RUN(test_refusals);
	UNIT_RUN(test_token);
	UNIT_RUN(test_sse);
	UNIT_RUN(test_listen);
	return unit_done();
}
