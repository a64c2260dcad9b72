/* Unit tests for lib/sse.c: line ends, fields, dispatch rules, chunking,
 * and the recorded Anthropic streams in the shared fixtures. */
#include <dirent.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "sse.h"
#include "unit.h"

/* Events are logged as "event|id|data_len|data\n". */
struct log {
	struct buf text;
	int stop_after;		/* return 7 from this event on (1-based); 0 = never */
	int seen;
};

static int log_event(const struct sse_event *ev, void *user)
{
	struct log *l = user;
	buf_printf(&l->text, "%s|%s|%zu|", ev->event, ev->id, ev->data_len);
	buf_append(&l->text, ev->data, ev->data_len);
	buf_appendc(&l->text, '\n');
	if (ev->data[ev->data_len] != '\0')
		buf_appends(&l->text, "<data not NUL-terminated>\n");
	l->seen++;
	return l->stop_after && l->seen >= l->stop_after ? 7 : 0;
}

/* xorshift: the same chunkings on every run. */
static unsigned rnd(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

enum { WHOLE = 0, BYTES = -1 };	/* else: a seed for random chunk sizes 1..max */

/*
 * Parses in[0..n) cut as `how` says, then calls sse_finish when `finish`.
 * Returns the log (caller frees) and stores the event count in *count.
 */
static char *parse(const char *in, size_t n, int how, size_t max, int finish, unsigned long *count)
{
	struct log l = { BUF_INIT, 0, 0 };
	struct sse_parser *p = sse_parser_new(log_event, &l);
	unsigned seed = (unsigned)how;
	size_t i = 0;
	while (i < n) {
		size_t k = how == WHOLE ? n - i : how == BYTES ? 1 : 1 + rnd(&seed) % max;
		if (k > n - i)
			k = n - i;
		CHECK(sse_feed(p, in + i, k) == 0);
		i += k;
	}
	if (finish)
		CHECK(sse_finish(p) == 0);
	if (count)
		*count = sse_event_count(p);
	sse_parser_free(p);
	return buf_detach(&l.text);
}

/* Checks that in (a C string) gives want, whole, byte by byte, random-cut,
 * and split in two at every position. */
static void expect(const char *in, int finish, const char *want)
{
	size_t n = strlen(in);
	char *got = parse(in, n, WHOLE, 0, finish, NULL);
	CHECK_STR(got, want);
	free(got);
	got = parse(in, n, BYTES, 0, finish, NULL);
	CHECK_STR(got, want);
	free(got);
	for (int seed = 1; seed <= 5; seed++) {
		got = parse(in, n, seed, 7, finish, NULL);
		CHECK_STR(got, want);
		free(got);
	}
	for (size_t cut = 1; cut < n; cut++) {
		struct log l = { BUF_INIT, 0, 0 };
		struct sse_parser *p = sse_parser_new(log_event, &l);
		CHECK(sse_feed(p, in, cut) == 0);
		CHECK(sse_feed(p, in + cut, n - cut) == 0);
		if (finish)
			CHECK(sse_finish(p) == 0);
		if (strcmp(buf_str(&l.text), want) != 0) {
			printf("# split at %zu:\n", cut);
			CHECK_STR(buf_str(&l.text), want);
		}
		sse_parser_free(p);
		buf_free(&l.text);
	}
}

static void test_lf(void)
{
	expect("event: a\ndata: x\n\ndata: y\n\n", 0, "a||1|x\nmessage||1|y\n");
}

static void test_crlf(void)
{
	expect("event: a\r\ndata: x\r\n\r\ndata: y\r\n\r\n", 0, "a||1|x\nmessage||1|y\n");
}

static void test_cr(void)
{
	expect("event: a\rdata: x\r\rdata: y\r\r", 0, "a||1|x\nmessage||1|y\n");
}

static void test_mixed_line_ends(void)
{
	expect("data: a\rdata: b\r\ndata: c\n\r\n\rdata: d\n\n", 0,
	       "message||5|a\nb\nc\nmessage||1|d\n");
}

/* A CR ending one chunk and the LF starting the next are one line end:
 * read as two, the LF would make a blank line and split the event. */
static void test_crlf_split_between_chunks(void)
{
	struct log l = { BUF_INIT, 0, 0 };
	struct sse_parser *p = sse_parser_new(log_event, &l);
	CHECK(sse_feed(p, "data: a\r", 8) == 0);
	CHECK(sse_feed(p, "", 0) == 0);	/* an empty chunk changes nothing */
	CHECK(sse_feed(p, "\ndata: b\r", 9) == 0);
	CHECK(sse_feed(p, "\n", 1) == 0);
	CHECK(sse_event_count(p) == 0);
	CHECK(sse_feed(p, "\r", 1) == 0);	/* a blank line */
	CHECK(sse_event_count(p) == 1);
	CHECK(sse_feed(p, "\ndata: c\n\n", 10) == 0);
	CHECK_STR(buf_str(&l.text), "message||3|a\nb\nmessage||1|c\n");
	CHECK(sse_event_count(p) == 2);
	sse_parser_free(p);
	buf_free(&l.text);
}

static void test_comments(void)
{
	expect(": hello\ndata: x\n:another: one\n\n:only a comment\n\n", 0, "message||1|x\n");
}

static void test_multiline_data(void)
{
	expect("data: a\ndata:b\ndata:  c\ndata\ndata:\n\n", 0, "message||8|a\nb\n c\n\n\n");
}

static void test_leading_space(void)
{
	/* exactly one space after the colon is dropped, tabs are kept */
	expect("data:x\n\ndata:  x\n\ndata:\tx\n\n", 0,
	       "message||1|x\nmessage||2| x\nmessage||2|\tx\n");
}

static void test_event_type(void)
{
	/* no event field, an empty one, and no carry-over to the next event */
	expect("data: 1\n\nevent:\ndata: 2\n\nevent: x\ndata: 3\n\ndata: 4\n\n", 0,
	       "message||1|1\nmessage||1|2\nx||1|3\nmessage||1|4\n");
	/* the last event field wins */
	expect("event: a\nevent: b\ndata: 1\n\n", 0, "b||1|1\n");
}

static void test_no_data_no_dispatch(void)
{
	unsigned long count = 99;
	const char *in = "event: x\n\nid: 3\n\n\n\n: c\n\n";
	char *got = parse(in, strlen(in), WHOLE, 0, 1, &count);
	CHECK_STR(got, "");
	CHECK(count == 0);
	free(got);
	/* the dropped event's type does not leak into the next one */
	expect("event: x\n\ndata: y\n\n", 0, "message||1|y\n");
	/* but a data line with an empty value is data */
	expect("data\n\ndata:\n\n", 0, "message||0|\nmessage||0|\n");
}

static void test_unknown_fields(void)
{
	expect("foo: bar\nDATA: no\ndata : no\nevents: no\ndata: x\nnocolon\n\n", 0,
	       "message||1|x\n");
}

static void test_id(void)
{
	/* the last event ID persists across events until changed */
	expect("id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n", 0,
	       "message|7|1|a\nmessage|7|1|b\nmessage||1|c\n");
	/* an id containing NUL is ignored */
	static const char in[] = "id: 1\ndata: a\n\nid: 2\0x\ndata: b\n\n";
	char *got = parse(in, sizeof(in) - 1, BYTES, 0, 0, NULL);
	CHECK_STR(got, "message|1|1|a\nmessage|1|1|b\n");
	free(got);
}

static void test_retry(void)
{
	struct log l = { BUF_INIT, 0, 0 };
	struct sse_parser *p = sse_parser_new(log_event, &l);
	CHECK(sse_retry_ms(p) == -1);
	const char *in = "retry: 1500\n";
	CHECK(sse_feed(p, in, strlen(in)) == 0);
	CHECK(sse_retry_ms(p) == 1500);
	in = "retry: 15x\nretry:\nretry: -3\nretry: 2 \n";
	CHECK(sse_feed(p, in, strlen(in)) == 0);
	CHECK(sse_retry_ms(p) == 1500);
	in = "retry:0\n\n";
	CHECK(sse_feed(p, in, strlen(in)) == 0);
	CHECK(sse_retry_ms(p) == 0);
	CHECK(sse_event_count(p) == 0);
	sse_parser_free(p);
	buf_free(&l.text);
}

static void test_nul_in_data(void)
{
	static const char in[] = "data: a\0b\n\n";
	char *got = parse(in, sizeof(in) - 1, BYTES, 0, 0, NULL);
	CHECK(memcmp(got, "message||3|a\0b\n", 16) == 0);
	free(got);
}

static void test_bom(void)
{
	expect("\xEF\xBB\xBF" "data: x\n\n", 0, "message||1|x\n");
	/* only at the very start */
	expect("\n\xEF\xBB\xBF" "data: x\ndata: y\n\n", 0, "message||1|y\n");
}

static void test_finish(void)
{
	/* no final newline, no final blank line, or complete: one event each */
	expect("data: x", 1, "message||1|x\n");
	expect("event: e\ndata: x\ndata: y\n", 1, "e||3|x\ny\n");
	expect("data: x\r", 1, "message||1|x\n");
	expect("data: x\n\n", 1, "message||1|x\n");
	/* nothing pending, or a pending event without data: nothing */
	expect("event: e\n", 1, "");
	expect("event: e", 1, "");
	expect("", 1, "");
	/* without sse_finish the unfinished event is not dispatched */
	expect("data: x\n", 0, "");

	struct log l = { BUF_INIT, 0, 0 };
	struct sse_parser *p = sse_parser_new(log_event, &l);
	CHECK(sse_feed(p, "data: x", 7) == 0);
	CHECK(sse_event_count(p) == 0);
	CHECK(sse_finish(p) == 0);
	CHECK(sse_event_count(p) == 1);
	CHECK(sse_finish(p) == 0);	/* a second finish dispatches nothing */
	CHECK(sse_event_count(p) == 1);
	CHECK_STR(buf_str(&l.text), "message||1|x\n");
	sse_parser_free(p);
	buf_free(&l.text);
}

static void test_callback_stops(void)
{
	struct log l = { BUF_INIT, 2, 0 };
	struct sse_parser *p = sse_parser_new(log_event, &l);
	const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
	CHECK(sse_feed(p, in, strlen(in)) == 7);
	CHECK(sse_event_count(p) == 2);
	CHECK(sse_feed(p, in, strlen(in)) == 7);
	CHECK(sse_finish(p) == 7);
	CHECK(sse_event_count(p) == 2);
	CHECK_STR(buf_str(&l.text), "message||1|1\nmessage||1|2\n");
	sse_parser_free(p);
	buf_free(&l.text);

	/* the pending event dispatched by sse_finish can stop too */
	struct log l2 = { BUF_INIT, 1, 0 };
	p = sse_parser_new(log_event, &l2);
	CHECK(sse_feed(p, "data: x", 7) == 0);
	CHECK(sse_finish(p) == 7);
	sse_parser_free(p);
	buf_free(&l2.text);
}

static int count_only(const struct sse_event *ev, void *user)
{
	*(size_t *)user += ev->data_len;
	return 0;
}

/*
 * Linear time: one 8 MB chunk of CR-only lines (a scan for LF restarted
 * at every line would be quadratic), and one 4 MB line fed in 3-byte
 * chunks (a copy of the whole line per chunk would be too).
 */
static void test_linear(void)
{
	size_t lines = 1 << 20, n = lines * 8;
	char *in = xmalloc(n);
	for (size_t i = 0; i < lines; i++)
		memcpy(in + i * 8, "data: x\r", 8);
	clock_t t0 = clock();
	size_t total = 0;
	struct sse_parser *p = sse_parser_new(count_only, &total);
	CHECK(sse_feed(p, in, n) == 0);
	CHECK(sse_finish(p) == 0);
	CHECK(sse_event_count(p) == 1);
	CHECK(total == lines * 2 - 1);
	sse_parser_free(p);

	memset(in, 'y', n);
	memcpy(in, "data:", 5);
	n /= 2;
	total = 0;
	p = sse_parser_new(count_only, &total);
	for (size_t i = 0; i < n; i += 3)
		CHECK(sse_feed(p, in + i, n - i < 3 ? n - i : 3) == 0);
	CHECK(sse_feed(p, "\n\n", 2) == 0);
	CHECK(sse_event_count(p) == 1);
	CHECK(total == n - 5);
	sse_parser_free(p);
	double secs = (double)(clock() - t0) / CLOCKS_PER_SEC;
	printf("# linear: %.2f s\n", secs);
	CHECK(secs < 10);
	free(in);
}

static int read_file(const char *path, struct buf *out)
{
	FILE *fp = fopen(path, "rb");
	if (!fp)
		return -1;
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_append(out, tmp, k);
	fclose(fp);
	return 0;
}

/* Every "event: NAME" line of a fixture starts an event whose data begins
 * {"type":"NAME" (with or without a space). */
static char *expected_events(const char *text)
{
	struct buf want = BUF_INIT;
	for (const char *s = strstr(text, "event: "); s; s = strstr(s + 1, "\nevent: ")) {
		const char *name = strchr(s, ' ') + 1;
		size_t len = strcspn(name, "\r\n");
		buf_append(&want, name, len);
		buf_appendc(&want, '\n');
	}
	return buf_detach(&want);
}

static void test_fixtures(void)
{
	const char *dir = unit_fixture_dir();
	CHECK(dir != NULL);
	if (!dir)
		return;
	DIR *d = opendir(dir);
	CHECK(d != NULL);
	if (!d)
		return;
	int files = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".sse") != 0)
			continue;
		files++;
		struct buf path = BUF_INIT, in = BUF_INIT;
		buf_printf(&path, "%s/%s", dir, de->d_name);
		CHECK(read_file(path.data, &in) == 0);
		printf("# %s: %zu bytes\n", de->d_name, in.len);

		unsigned long count = 0;
		char *whole = parse(in.data, in.len, WHOLE, 0, 1, &count);
		char *want = expected_events(buf_str(&in));
		/* the log's event names, one a line, must be the fixture's */
		struct buf names = BUF_INIT;
		for (const char *s = whole; *s; s = strchr(s, '\n') + 1) {
			buf_append(&names, s, strcspn(s, "|"));
			buf_appendc(&names, '\n');
			const char *data = strchr(strchr(strchr(s, '|') + 1, '|') + 1, '|') + 1;
			const char *name = s;
			size_t nlen = strcspn(s, "|");
			char *t1 = xasprintf("{\"type\":\"%.*s\"", (int)nlen, name);
			char *t2 = xasprintf("{\"type\": \"%.*s\"", (int)nlen, name);
			CHECK(strncmp(data, t1, strlen(t1)) == 0 || strncmp(data, t2, strlen(t2)) == 0);
			free(t1);
			free(t2);
		}
		CHECK_STR(names.data, want);
		CHECK(count >= 5);
		CHECK(strstr(whole, "message_stop||") != NULL);

		char *got = parse(in.data, in.len, BYTES, 0, 1, NULL);
		CHECK_STR(got, whole);
		free(got);
		for (int seed = 1; seed <= 8; seed++) {
			got = parse(in.data, in.len, seed, seed <= 4 ? 16 : 300, 1, NULL);
			CHECK_STR(got, whole);
			free(got);
		}
		free(whole);
		free(want);
		buf_free(&names);
		buf_free(&path);
		buf_free(&in);
	}
	closedir(d);
	CHECK(files >= 5);
}

/* basic_response.sse ends without a newline after its last data line:
 * message_stop comes only from sse_finish. */
static void test_fixture_without_final_newline(void)
{
	const char *dir = unit_fixture_dir();
	CHECK(dir != NULL);
	if (!dir)
		return;
	struct buf path = BUF_INIT, in = BUF_INIT;
	buf_printf(&path, "%s/basic_response.sse", dir);
	CHECK(read_file(path.data, &in) == 0);
	CHECK(in.len > 0 && in.data[in.len - 1] == '}');
	unsigned long before = 0, after = 0;
	char *a = parse(in.data, in.len, WHOLE, 0, 0, &before);
	char *b = parse(in.data, in.len, WHOLE, 0, 1, &after);
	CHECK(before == 8);
	CHECK(after == 9);
	CHECK(strstr(a, "message_stop") == NULL);
	CHECK(strstr(b, "message_stop||23|{\"type\":\"message_stop\"}\n") != NULL);
	free(a);
	free(b);
	buf_free(&path);
	buf_free(&in);
}

int main(void)
{
	UNIT_RUN(test_lf);
	UNIT_RUN(test_crlf);
	UNIT_RUN(test_cr);
	UNIT_RUN(test_mixed_line_ends);
	UNIT_RUN(test_crlf_split_between_chunks);
	UNIT_RUN(test_comments);
	UNIT_RUN(test_multiline_data);
	UNIT_RUN(test_leading_space);
	UNIT_RUN(test_event_type);
	UNIT_RUN(test_no_data_no_dispatch);
	UNIT_RUN(test_unknown_fields);
	UNIT_RUN(test_id);
	UNIT_RUN(test_retry);
	UNIT_RUN(test_nul_in_data);
	UNIT_RUN(test_bom);
	UNIT_RUN(test_finish);
	UNIT_RUN(test_callback_stops);
	UNIT_RUN(test_linear);
	UNIT_RUN(test_fixtures);
	UNIT_RUN(test_fixture_without_final_newline);
	return unit_done();
}
