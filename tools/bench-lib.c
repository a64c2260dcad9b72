/*
 * bench-lib: in-process micro-benchmarks of lib/, one JSON line on stdout.
 *
 * sse: a synthetic streamed reply of about --sse-mb megabytes (10^6 bytes)
 *   in the API's wire format (as tests/fixtures/anthropic-sse/ and
 *   fake-anthropic send it): message_start, ping, then alternating text
 *   blocks (text_delta pieces of at most 16 bytes: prose, code, escapes,
 *   UTF-8) and tool_use blocks (input_json_delta pieces of at most 12
 *   bytes of an Edit call's input), message_delta, message_stop. It is fed
 *   in --chunk byte pieces (as a network read delivers them) to
 *   - the SSE parser alone (lib/sse.h), and
 *   - the whole response assembly (lib/anthropic.h: parser, JSON of every
 *     event, text and tool input joined, the final message object built).
 *   Throughput is bytes / median time over --reps runs. The assembled
 *   message is checked against what was generated.
 *
 * session: a long session's summary (--session-messages worker results of
 *   1-4 KB each: plans, code, reviews, test reports written from a
 *   vocabulary so they compress like real text, plus ledger and
 *   verification) saved with session_write_summary as .json.gz and as
 *   .json (each write is the real one: temporary file, fsync, rename,
 *   directory fsync) in --dir; median time and the file sizes.
 *
 * Exit status: 0, 1 when a check failed, 2 for bad arguments.
 */
#define _DEFAULT_SOURCE	/* mkdtemp */
#include <jv.h>

#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "anthropic.h"
#include "buf.h"
#include "session.h"
#include "sse.h"

#define PROG "bench-lib"
#define TEXT_PIECE 16
#define JSON_PIECE 12

static double mono_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static double round3(double x)
{
	return (double)(long long)(x * 1000.0 + 0.5) / 1000.0;
}

static const char *const prose[] = {
	"I'll read the parser first, then change the option handling. ",
	"The test for -l fails because the flag is rejected as unknown. ",
	"Plan:\n1. Accept -l beside -w.\n2. Count '\\n' while reading.\n3. Print lines or words.\n",
	"Résumé of the change — naïve counting is fine here ✓. ",
	"Running `make test`: \"3 passed, 0 failed\"\n",
	("\tstatic int count_lines(FILE *f)\n\t{\n\t\tint c, n = 0;\n"
	 "\t\twhile ((c = getc(f)) != EOF)\n\t\t\tn += c == '\\n';\n\t\treturn n;\n\t}\n"),
};

/* The largest UTF-8 character boundary at or before at, past from when possible. */
static size_t utf8_cut(const char *s, size_t len, size_t from, size_t at)
{
	if (at >= len)
		return len;
	size_t e = at;
	while (e > from && ((unsigned char)s[e] & 0xC0) == 0x80)
		e--;
	if (e == from) {
		e = at;
		while (e < len && ((unsigned char)s[e] & 0xC0) == 0x80)
			e++;
	}
	return e;
}

/* Appends s as the contents of a JSON string (no quotes). */
static void json_escape(struct buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		switch (c) {
		case '"': buf_appends(b, "\\\""); break;
		case '\\': buf_appends(b, "\\\\"); break;
		case '\n': buf_appends(b, "\\n"); break;
		case '\t': buf_appends(b, "\\t"); break;
		case '\r': buf_appends(b, "\\r"); break;
		default:
			if (c < 0x20)
				buf_printf(b, "\\u%04x", c);
			else
				buf_appendc(b, (char)c);
		}
	}
}

static void delta_event(struct buf *b, int idx, const char *dtype, const char *field,
			const char *s, size_t n)
{
	buf_printf(b, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
		   "\"index\":%d,\"delta\":{\"type\":\"%s\",\"%s\":\"", idx, dtype, field);
	json_escape(b, s, n);
	buf_appends(b, "\"}}\n\n");
}

struct stream {
	struct buf bytes;
	unsigned long events;
	int blocks;
	char *first_text;	/* block 0's whole text, for the check */
	char *last_input;	/* the last tool_use block's input JSON */
	int last_tool;
};

/*
 * About target bytes of SSE. Each block carries `payload` bytes of text or
 * tool input; the assembler allows 4096 blocks, so big streams get big
 * blocks, as a long reply has.
 */
static void make_stream(struct stream *st, size_t target)
{
	memset(st, 0, sizeof *st);
	st->last_tool = -1;
	size_t payload = target / 2000;	/* ~8 bytes of SSE per payload byte: ~250 blocks */
	if (payload < 512)
		payload = 512;
	struct buf *b = &st->bytes;
	buf_appends(b, "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
		    "{\"id\":\"msg_bench_1\",\"type\":\"message\",\"role\":\"assistant\","
		    "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
		    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":1200,"
		    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":4096,"
		    "\"output_tokens\":1}}}\n\n");
	st->events++;
	size_t np = sizeof prose / sizeof prose[0], k = 0;
	for (int i = 0; b->len < target && i < 4000; i++) {
		struct buf text = BUF_INIT;
		if (i % 2 == 0) {
			while (text.len < payload)
				buf_appends(&text, prose[k++ % np]);
			buf_printf(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
				   "\"index\":%d,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n", i);
		} else {
			struct buf code = BUF_INIT;
			while (code.len < payload / 2)
				buf_appends(&code, prose[k++ % np]);
			jv in = jv_object();
			in = jv_object_set(in, jv_string("file_path"), jv_string_fmt("src/part%d.c", i));
			in = jv_object_set(in, jv_string("old_string"), jv_string(buf_str(&code)));
			buf_printf(&code, "/* revised %d */\n", i);
			in = jv_object_set(in, jv_string("new_string"), jv_string(buf_str(&code)));
			buf_free(&code);
			jv js = jv_dump_string(in, 0);
			buf_appends(&text, jv_string_value(js));
			jv_free(js);
			buf_printf(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\","
				   "\"index\":%d,\"content_block\":{\"type\":\"tool_use\","
				   "\"id\":\"toolu_bench_%d\",\"name\":\"Edit\",\"input\":{}}}\n\n", i, i);
		}
		st->events++;
		if (i == 0) {
			buf_appends(b, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
			st->events++;
		}
		const char *s = buf_str(&text);
		if (i % 2 == 1) {
			delta_event(b, i, "input_json_delta", "partial_json", "", 0);
			st->events++;
		}
		for (size_t pos = 0; pos < text.len;) {
			size_t end = utf8_cut(s, text.len, pos,
					      pos + (i % 2 ? JSON_PIECE : TEXT_PIECE));
			if (i % 2)
				delta_event(b, i, "input_json_delta", "partial_json", s + pos,
					    end - pos);
			else
				delta_event(b, i, "text_delta", "text", s + pos, end - pos);
			st->events++;
			pos = end;
		}
		buf_printf(b, "event: content_block_stop\ndata: {\"type\":\"content_block_stop\","
			   "\"index\":%d}\n\n", i);
		st->events++;
		if (i == 0) {
			st->first_text = buf_detach(&text);
		} else if (i % 2) {
			free(st->last_input);
			st->last_input = buf_detach(&text);
			st->last_tool = i;
		}
		buf_free(&text);
		st->blocks = i + 1;
	}
	buf_appends(b, "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":"
		    "{\"stop_reason\":\"tool_use\",\"stop_sequence\":null},\"usage\":"
		    "{\"output_tokens\":99999}}\n\n");
	buf_appends(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
	st->events += 2;
}

static void stream_free(struct stream *st)
{
	buf_free(&st->bytes);
	free(st->first_text);
	free(st->last_input);
}

struct count {
	unsigned long events;
	size_t data;
};

static int on_event(const struct sse_event *ev, void *user)
{
	struct count *c = user;
	c->events++;
	c->data += ev->data_len + (unsigned char)ev->event[0];
	return 0;
}

static void on_text(const char *text, size_t len, void *user)
{
	(void)text;
	*(size_t *)user += len;
}

/* One parse of the stream; returns ms, or -1 when the count is wrong. */
static double run_parse(const struct stream *st, size_t chunk)
{
	struct count c = { 0, 0 };
	double t0 = mono_ms();
	struct sse_parser *p = sse_parser_new(on_event, &c);
	for (size_t pos = 0; pos < st->bytes.len; pos += chunk) {
		size_t n = st->bytes.len - pos < chunk ? st->bytes.len - pos : chunk;
		sse_feed(p, st->bytes.data + pos, n);
	}
	sse_finish(p);
	sse_parser_free(p);
	double t = mono_ms() - t0;
	if (c.events != st->events) {
		fprintf(stderr, "%s: sse: parsed %lu events, generated %lu\n", PROG, c.events,
			st->events);
		return -1;
	}
	return t;
}

static bool str_eq(jv v, const char *s)
{
	return jv_get_kind(v) == JV_KIND_STRING && s && strcmp(jv_string_value(v), s) == 0;
}

/* One assembly of the stream, message object included; ms, or -1 when it is wrong. */
static double run_assemble(const struct stream *st, size_t chunk)
{
	size_t text_bytes = 0;
	double t0 = mono_ms();
	struct anth_assembler *a = anth_assembler_new(on_text, &text_bytes);
	int rc = 0;
	for (size_t pos = 0; rc == 0 && pos < st->bytes.len; pos += chunk) {
		size_t n = st->bytes.len - pos < chunk ? st->bytes.len - pos : chunk;
		rc = anth_assembler_feed(a, st->bytes.data + pos, n);
	}
	if (rc == 0)
		rc = anth_assembler_finish(a);
	jv msg = anth_assembler_message(a);
	double t = mono_ms() - t0;

	const char *why = NULL;
	jv content = jv_object_get(jv_copy(msg), jv_string("content"));
	if (rc != 0 || !anth_assembler_complete(a))
		why = anth_assembler_error(a) ? anth_assembler_error(a) : "stream not complete";
	else if (jv_get_kind(content) != JV_KIND_ARRAY ||
		 jv_array_length(jv_copy(content)) != st->blocks)
		why = "wrong number of content blocks";
	if (!why) {
		jv first = jv_array_get(jv_copy(content), 0);
		jv text = jv_object_get(first, jv_string("text"));
		if (!str_eq(text, st->first_text))
			why = "block 0's text differs from the one sent";
		jv_free(text);
	}
	if (!why && st->last_tool >= 0) {
		jv blk = jv_array_get(jv_copy(content), st->last_tool);
		jv in = jv_object_get(blk, jv_string("input"));
		jv want = jv_parse(st->last_input);
		if (!jv_equal(in, want))
			why = "the last tool_use input differs from the one sent";
	}
	jv_free(content);
	jv_free(msg);
	anth_assembler_free(a);
	if (why) {
		fprintf(stderr, "%s: assembly: %s\n", PROG, why);
		return -1;
	}
	return t;
}

static const char *const agents[] = { "planner", "coder", "reviewer", "tester", "coder",
				      "reviewer" };

/* Words of the prose agents write, so the summary compresses like real text. */
static const char *const words[] = {
	"the", "a", "to", "of", "and", "in", "is", "for", "that", "it", "with", "on", "as", "not",
	"when", "this", "be", "are", "from", "by", "or", "an", "which", "each", "now", "then",
	"function", "file", "test", "tests", "flag", "option", "value", "error", "return", "code",
	"parser", "input", "output", "line", "lines", "buffer", "string", "pointer", "length",
	"read", "write", "call", "calls", "change", "changes", "fix", "build", "passes", "fails",
	"empty", "missing", "invalid", "default", "usage", "message", "header", "struct", "field",
	"argument", "arguments", "loop", "case", "branch", "check", "checks", "handle", "handles",
	"keeps", "moves", "adds", "removes", "renames", "splits", "parses", "counts", "prints",
	"stream", "event", "events", "request", "response", "session", "summary", "cache", "limit",
	"timeout", "retry", "signal", "child", "process", "exit", "status", "path", "directory",
	"workspace", "config", "model", "token", "tokens", "cost", "budget", "review", "reviewer",
	"coder", "planner", "tester", "step", "steps", "plan", "risk", "risks", "edge", "newline",
	"trailing", "leading", "whitespace", "unicode", "bytes", "offset", "index", "array",
	"object", "number", "integer", "overflow", "negative", "zero", "first", "last", "next",
	"previous", "old", "new", "same", "different", "only", "also", "still", "already",
	"because", "so", "but", "if", "unless", "after", "before", "while", "until", "once",
	"cli.c", "main.c", "parse.c", "io.c", "test_cli.sh", "Makefile", "README", "--json",
	"--quiet", "-l", "-w", "argv", "argc", "stdin", "stdout", "stderr", "errno", "NULL",
	"strtol()", "fopen()", "getc()", "parse_args()", "usage()", "main()", "free()", "malloc()",
};

static unsigned long long rng_state = 0x9E3779B97F4A7C15ULL;

static unsigned rnd(unsigned n)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return (unsigned)(rng_state % n);
}

/* About n bytes of sentences. */
static void sentences(struct buf *b, size_t n)
{
	size_t nw = sizeof words / sizeof words[0], end = b->len + n;
	while (b->len < end) {
		int len = 6 + (int)rnd(14);
		for (int k = 0; k < len; k++) {
			const char *w = words[rnd((unsigned)nw)];
			if (k == 0)
				buf_printf(b, "%c%s", w[0] >= 'a' && w[0] <= 'z' ? w[0] - 32 : w[0],
					   w + 1);
			else
				buf_printf(b, " %s", w);
		}
		buf_appends(b, rnd(4) ? ". " : ".\n\n");
	}
}

/* The text of worker result i: 1-4 KB, as agents write them. */
static char *result_text(int i)
{
	struct buf b = BUF_INIT;
	const char *agent = agents[i % 6];
	size_t size = 1000 + rnd(3000);
	if (strcmp(agent, "planner") == 0) {
		buf_printf(&b, "Goal: step %d of the refactor: move option parsing out of main() "
			   "into parse_args() and add a --json flag.\n\nSteps:\n", i);
		for (int k = 1; b.len < size; k++) {
			buf_printf(&b, "%d. ", k);
			sentences(&b, 120 + rnd(200));
			buf_appendc(&b, '\n');
		}
		buf_appends(&b, "\nTests: `make test` must pass.");
	} else if (strcmp(agent, "coder") == 0) {
		sentences(&b, 200 + rnd(300));
		buf_appends(&b, "\n\n```c\n");
		while (b.len < size) {
			unsigned k = rnd(1000), v = rnd(64);
			buf_printf(&b, "static int opt_%u(const char *arg, struct opts *o)\n{\n"
				   "\tif (!arg || !*arg) {\n\t\tfprintf(stderr, \"missing value "
				   "for --opt-%u\\n\");\n\t\treturn -1;\n\t}\n\to->v%u = "
				   "strtol(arg, NULL, %u);\n\treturn 0;\n}\n\n", k, k, v,
				   rnd(2) ? 10 : 16);
		}
		buf_appends(&b, "```\n\nRan `make && make test`: built without warnings, all "
			    "tests passed.");
	} else if (strcmp(agent, "reviewer") == 0) {
		buf_appends(&b, "Summary: ");
		sentences(&b, 300);
		buf_appends(&b, "\n\nMust fix: none.\n\nSuggestions:\n");
		while (b.len < size) {
			buf_printf(&b, "- src/cli.c:%u: ", 10 + rnd(900));
			sentences(&b, 100 + rnd(150));
			buf_appendc(&b, '\n');
		}
		buf_appends(&b, "\nVERDICT: APPROVED");
	} else {
		buf_appends(&b, "Commands:\n- `make`: exit 0\n- `make test`: exit 0, PASSED\n\n");
		int k = 0;
		while (b.len < size) {
			k++;
			buf_printf(&b, "ok %d - cli: --opt-%u accepts %u and rejects '%c%u'\n", k,
				   rnd(1000), rnd(100000), 'a' + (char)rnd(26), rnd(1000));
		}
		buf_printf(&b, "\nTests: %d passed, 0 failed.\n\nTESTS: PASSED", k);
	}
	return buf_detach(&b);
}

static jv make_summary(int nmsg)
{
	jv msgs = jv_array();
	msgs = jv_array_append(msgs, JV_OBJECT(jv_string("role"), jv_string("user"),
					       jv_string("content"),
					       jv_string("refactor the option parsing of the CLI "
							 "and add a --json flag")));
	for (int i = 0; i < nmsg; i++) {
		char *t = result_text(i);
		jv m = jv_object();
		m = jv_object_set(m, jv_string("role"), jv_string("assistant"));
		m = jv_object_set(m, jv_string("agent"), jv_string(agents[i % 6]));
		m = jv_object_set(m, jv_string("status"), jv_string("completed"));
		m = jv_object_set(m, jv_string("content"), jv_string(t));
		msgs = jv_array_append(msgs, m);
		free(t);
	}
	jv ledger = jv_object();
	const char *names[] = { "manager", "planner", "coder", "reviewer", "tester" };
	for (int k = 0; k < 5; k++) {
		jv e = jv_object();
		e = jv_object_set(e, jv_string("turns"), jv_number(nmsg * 3 + k));
		e = jv_object_set(e, jv_string("input_tokens"), jv_number(120000.0 * (k + 1)));
		e = jv_object_set(e, jv_string("output_tokens"), jv_number(9000.0 * (k + 1)));
		e = jv_object_set(e, jv_string("cache_read_input_tokens"), jv_number(800000.0));
		e = jv_object_set(e, jv_string("cache_creation_input_tokens"), jv_number(40000.0));
		e = jv_object_set(e, jv_string("cost_usd"), jv_number(0.5 + k * 0.1234));
		e = jv_object_set(e, jv_string("calls"), jv_number(nmsg / 5 + 1));
		ledger = jv_object_set(ledger, jv_string(names[k]), e);
	}
	jv cmds = jv_array();
	cmds = jv_array_append(cmds, JV_OBJECT(jv_string("command"), jv_string("make test"),
					       jv_string("exit_code"), jv_number(0),
					       jv_string("passed"), jv_true()));
	jv s = jv_object();
	s = jv_object_set(s, jv_string("session_id"), jv_string("20261125-203000-4f9a1c"));
	s = jv_object_set(s, jv_string("created_at"), jv_string("2026-11-25T20:30:00.120Z"));
	s = jv_object_set(s, jv_string("completed_at"), jv_string("2026-11-25T21:42:10.512Z"));
	s = jv_object_set(s, jv_string("user_request"),
			  jv_string("refactor the option parsing of the CLI and add a --json flag"));
	s = jv_object_set(s, jv_string("total_turns"), jv_number(nmsg * 3));
	s = jv_object_set(s, jv_string("agents_used"),
			  JV_ARRAY(jv_string("planner"), jv_string("coder"), jv_string("reviewer"),
				   jv_string("tester")));
	s = jv_object_set(s, jv_string("messages"), msgs);
	s = jv_object_set(s, jv_string("result"),
			  JV_OBJECT(jv_string("status"), jv_string("completed"),
				    jv_string("tests_passed"), jv_true(),
				    jv_string("exit_code"), jv_number(0),
				    jv_string("text"), jv_string("Done: parse_args() and --json.")));
	s = jv_object_set(s, jv_string("usage"),
			  JV_OBJECT(jv_string("input_tokens"), jv_number(1800000),
				    jv_string("output_tokens"), jv_number(135000)));
	s = jv_object_set(s, jv_string("total_cost_usd"), jv_number(3.734));
	s = jv_object_set(s, jv_string("ledger"), ledger);
	s = jv_object_set(s, jv_string("verification"),
			  JV_OBJECT(jv_string("commands"), cmds, jv_string("verified"), jv_true(),
				    jv_string("tests_passed"), jv_number(1),
				    jv_string("tests_failed"), jv_number(0)));
	return s;
}

/* Saves summary reps times; *ms the median time, *bytes the file size. -1 on error. */
static int run_save(const char *dir, jv summary, bool compress, int reps, double *ms,
		    long *bytes)
{
	double *t = xcalloc((size_t)reps, sizeof *t);
	int rc = 0;
	for (int r = 0; r < reps && rc == 0; r++) {
		struct session s;
		char *err = NULL;
		if (session_open(&s, dir, NULL, compress, &err) < 0) {
			fprintf(stderr, "%s: %s\n", PROG, err);
			free(err);
			rc = -1;
			break;
		}
		double t0 = mono_ms();
		if (session_write_summary(&s, summary, &err) < 0) {
			fprintf(stderr, "%s: %s\n", PROG, err);
			free(err);
			rc = -1;
		}
		t[r] = mono_ms() - t0;
		char *path = xasprintf("%s/%s%s", dir, s.id, compress ? ".json.gz" : ".json");
		struct stat st;
		if (rc == 0 && stat(path, &st) < 0) {
			fprintf(stderr, "%s: %s: %s\n", PROG, path, strerror(errno));
			rc = -1;
		} else if (rc == 0) {
			*bytes = (long)st.st_size;
		}
		unlink(path);
		free(path);
		unlink(s.journal_path);
		session_close(&s);
	}
	if (rc == 0)
		*ms = median(t, reps);
	free(t);
	return rc;
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: %s [OPTION]...\n"
		"Micro-benchmarks of lib/: SSE parsing and response assembly throughput on a\n"
		"synthetic stream, and saving a large session summary as .json.gz and .json.\n"
		"Prints one JSON object on stdout.\n\n"
		"Options:\n"
		"  --sse-mb N             size of the synthetic stream in MB (default 32)\n"
		"  --chunk BYTES          bytes per feed call (default 16384)\n"
		"  --session-messages N   worker results in the summary (default 400)\n"
		"  --reps N               runs of each measurement; the median is kept (default 5)\n"
		"  --dir DIR              where summaries are written (default: a new\n"
		"                         directory under $TMPDIR, removed at the end)\n"
		"  -h, --help             show this help and exit\n", PROG);
}

int main(int argc, char **argv)
{
	double sse_mb = 32;
	long chunk = 16384, nmsg = 400, reps = 5;
	const char *dir = NULL;
	static const struct option opts[] = {
		{ "sse-mb", required_argument, NULL, 'm' },
		{ "chunk", required_argument, NULL, 'k' },
		{ "session-messages", required_argument, NULL, 's' },
		{ "reps", required_argument, NULL, 'r' },
		{ "dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int o;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		char *end = NULL;
		errno = 0;
		switch (o) {
		case 'm': sse_mb = strtod(optarg, &end); break;
		case 'k': chunk = strtol(optarg, &end, 10); break;
		case 's': nmsg = strtol(optarg, &end, 10); break;
		case 'r': reps = strtol(optarg, &end, 10); break;
		case 'd': dir = optarg; break;
		case 'h': usage(stdout); return 0;
		default:
			fprintf(stderr, "Try '%s --help'.\n", PROG);
			return 2;
		}
		if (end && (errno || end == optarg || *end || sse_mb <= 0 || sse_mb > 4096 ||
			    chunk < 1 || nmsg < 0 || nmsg > 1000000 || reps < 1 || reps > 1000)) {
			fprintf(stderr, "%s: bad value '%s'\nTry '%s --help'.\n", PROG, optarg, PROG);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", PROG,
			argv[optind], PROG);
		return 2;
	}

	int status = 0;
	struct stream st;
	make_stream(&st, (size_t)(sse_mb * 1e6));
	double *tp = xcalloc((size_t)reps, sizeof *tp), *ta = xcalloc((size_t)reps, sizeof *ta);
	for (long r = 0; r < reps; r++) {
		tp[r] = run_parse(&st, (size_t)chunk);
		ta[r] = run_assemble(&st, (size_t)chunk);
		if (tp[r] < 0 || ta[r] < 0)
			status = 1;
	}
	double mb = (double)st.bytes.len / 1e6;
	double parse_ms = median(tp, (int)reps), asm_ms = median(ta, (int)reps);
	jv sse = jv_object();
	sse = jv_object_set(sse, jv_string("bytes"), jv_number((double)st.bytes.len));
	sse = jv_object_set(sse, jv_string("events"), jv_number((double)st.events));
	sse = jv_object_set(sse, jv_string("blocks"), jv_number(st.blocks));
	sse = jv_object_set(sse, jv_string("chunk_bytes"), jv_number((double)chunk));
	sse = jv_object_set(sse, jv_string("reps"), jv_number((double)reps));
	sse = jv_object_set(sse, jv_string("parse_ms"), jv_number(round3(parse_ms)));
	sse = jv_object_set(sse, jv_string("parse_mb_s"),
			    jv_number(round3(parse_ms > 0 ? mb / (parse_ms / 1e3) : 0)));
	sse = jv_object_set(sse, jv_string("assemble_ms"), jv_number(round3(asm_ms)));
	sse = jv_object_set(sse, jv_string("assemble_mb_s"),
			    jv_number(round3(asm_ms > 0 ? mb / (asm_ms / 1e3) : 0)));
	free(tp);
	free(ta);
	stream_free(&st);

	char *made = NULL;
	if (!dir) {
		const char *tmp = getenv("TMPDIR");
		made = xasprintf("%s/bench-lib.XXXXXX", tmp && *tmp ? tmp : "/tmp");
		if (!mkdtemp(made)) {
			fprintf(stderr, "%s: %s: %s\n", PROG, made, strerror(errno));
			free(made);
			return 1;
		}
		dir = made;
	}
	jv summary = make_summary((int)nmsg);
	jv plain = jv_dump_string(jv_copy(summary), 0);
	double gz_ms = 0, json_ms = 0;
	long gz_bytes = 0, json_bytes = 0;
	if (run_save(dir, summary, true, (int)reps, &gz_ms, &gz_bytes) < 0 ||
	    run_save(dir, summary, false, (int)reps, &json_ms, &json_bytes) < 0)
		status = 1;
	jv ses = jv_object();
	ses = jv_object_set(ses, jv_string("messages"), jv_number((double)nmsg));
	ses = jv_object_set(ses, jv_string("compact_json_bytes"),
			    jv_number(jv_string_length_bytes(plain)));
	ses = jv_object_set(ses, jv_string("reps"), jv_number((double)reps));
	ses = jv_object_set(ses, jv_string("json_bytes"), jv_number((double)json_bytes));
	ses = jv_object_set(ses, jv_string("json_ms"), jv_number(round3(json_ms)));
	ses = jv_object_set(ses, jv_string("gz_bytes"), jv_number((double)gz_bytes));
	ses = jv_object_set(ses, jv_string("gz_ms"), jv_number(round3(gz_ms)));
	jv_free(summary);
	if (made) {
		rmdir(made);	/* empty: every file was removed */
		free(made);
	}

	jv out = jv_object();
	out = jv_object_set(out, jv_string("sse"), sse);
	out = jv_object_set(out, jv_string("session"), ses);
	jv d = jv_dump_string(out, 0);
	printf("%s\n", jv_string_value(d));
	jv_free(d);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}
