/* Unit tests for lib/anthropic.c: stream assembly over the recorded
 * fixtures and made-up streams, usage, cost, retries, request building. */
#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "buf.h"
#include "unit.h"

/* on_text calls, each logged as "[piece]". */
static void log_text(const char *text, size_t len, void *user)
{
	struct buf *b = user;
	buf_appendc(b, '[');
	buf_append(b, text, len);
	buf_appendc(b, ']');
}

static unsigned rnd(unsigned *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

enum { WHOLE = 0, BYTES = -1 };	/* else: a seed for random chunk sizes 1..max */

struct result {
	int feed_rc, finish_rc;	/* the first non-zero feed return, and finish's */
	bool complete;
	jv msg;			/* owned */
	char *dump;		/* jv_dump_string of msg, keys sorted */
	char *texts;		/* the on_text log */
	char *err, *err_type;
	struct anth_usage usage;
};

static struct result assemble(const char *in, size_t n, int how, size_t max)
{
	struct result r = { 0 };
	struct buf texts = BUF_INIT;
	struct anth_assembler *a = anth_assembler_new(log_text, &texts);
	unsigned seed = (unsigned)how;
	for (size_t i = 0; i < n;) {
		size_t k = how == WHOLE ? n - i : how == BYTES ? 1 : 1 + rnd(&seed) % max;
		if (k > n - i)
			k = n - i;
		int rc = anth_assembler_feed(a, in + i, k);
		if (rc && !r.feed_rc)
			r.feed_rc = rc;
		i += k;
	}
	r.finish_rc = anth_assembler_finish(a);
	r.complete = anth_assembler_complete(a);
	r.msg = anth_assembler_message(a);
	jv d = jv_dump_string(jv_copy(r.msg), JV_PRINT_SORTED);
	r.dump = xstrdup(jv_string_value(d));
	jv_free(d);
	r.texts = buf_detach(&texts);
	r.err = anth_assembler_error(a) ? xstrdup(anth_assembler_error(a)) : NULL;
	r.err_type = anth_assembler_error_type(a) ? xstrdup(anth_assembler_error_type(a)) : NULL;
	r.usage = anth_assembler_usage(a);
	anth_assembler_free(a);
	return r;
}

static struct result assemble_str(const char *in)
{
	return assemble(in, strlen(in), WHOLE, 0);
}

static void result_free(struct result *r)
{
	jv_free(r->msg);
	free(r->dump);
	free(r->texts);
	free(r->err);
	free(r->err_type);
}

/* v[path...] as a new reference, following object keys and array indexes
 * written as "#0", "#1", ...; jv_invalid() when absent (borrows v). */
static jv at(jv v, const char *path)
{
	char *copy = xstrdup(path), *save = NULL;
	v = jv_copy(v);
	for (char *k = strtok_r(copy, ".", &save); k; k = strtok_r(NULL, ".", &save)) {
		jv next = jv_invalid();
		if (k[0] == '#' && jv_get_kind(v) == JV_KIND_ARRAY) {
			int i = atoi(k + 1);
			if (i < jv_array_length(jv_copy(v)))
				next = jv_array_get(jv_copy(v), i);
		} else if (jv_get_kind(v) == JV_KIND_OBJECT) {
			next = jv_object_get(jv_copy(v), jv_string(k));
		}
		jv_free(v);
		v = next;
	}
	free(copy);
	return v;
}

/* The JSON text of v[path] (sorted keys), or "<absent>"; static storage. */
static const char *json_at(jv v, const char *path)
{
	static char out[4][4096];
	static int turn;
	char *o = out[turn++ % 4];
	jv x = at(v, path);
	if (!jv_is_valid(x)) {
		jv_free(x);
		return "<absent>";
	}
	jv d = jv_dump_string(x, JV_PRINT_SORTED);
	snprintf(o, 4096, "%s", jv_string_value(d));
	jv_free(d);
	return o;
}

/* A JSON text normalised like json_at (sorted keys, no spaces);
 * "<absent>" stays as it is. */
static const char *norm(const char *json)
{
	static char out[4][4096];
	static int turn;
	char *o = out[turn++ % 4];
	if (strcmp(json, "<absent>") == 0)
		return json;
	jv v = jv_parse(json);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return "<bad JSON in test>";
	}
	jv d = jv_dump_string(v, JV_PRINT_SORTED);
	snprintf(o, 4096, "%s", jv_string_value(d));
	jv_free(d);
	return o;
}

#define CHECK_JSON(v, path, json) CHECK_STR(json_at((v), (path)), norm(json))

static bool read_fixture(const char *name, struct buf *out)
{
	const char *dir = unit_fixture_dir();
	if (!dir)
		return false;
	char *path = xasprintf("%s/%s", dir, name);
	FILE *fp = fopen(path, "rb");
	if (!fp)
		printf("# cannot open %s\n", path);
	free(path);
	if (!fp)
		return false;
	char tmp[4096];
	size_t k;
	while ((k = fread(tmp, 1, sizeof(tmp), fp)) > 0)
		buf_append(out, tmp, k);
	fclose(fp);
	return true;
}

/*
 * Assembles fixture `name` whole, byte by byte and in random chunks,
 * checks that every way gives the same message and on_text log, and
 * returns the whole-input result (or feed_rc -99 when it is missing).
 */
static struct result fixture(const char *name)
{
	struct buf in = BUF_INIT;
	if (!read_fixture(name, &in)) {
		CHECK(!"fixture readable");
		struct result r = { .feed_rc = -99, .msg = jv_null() };
		return r;
	}
	struct result whole = assemble(in.data, in.len, WHOLE, 0);
	CHECK(whole.feed_rc == 0);
	CHECK(whole.finish_rc == 0);
	CHECK(whole.err == NULL);
	CHECK(whole.complete);
	int hows[] = { BYTES, 1, 2, 3, 4, 5, 6, 7, 8 };
	for (size_t i = 0; i < sizeof(hows) / sizeof(hows[0]); i++) {
		struct result r = assemble(in.data, in.len, hows[i], hows[i] <= 4 ? 13 : 257);
		CHECK_STR(r.dump, whole.dump);
		CHECK_STR(r.texts, whole.texts);
		CHECK(r.feed_rc == 0 && r.finish_rc == 0 && r.complete);
		result_free(&r);
	}
	buf_free(&in);
	return whole;
}

static void test_fixture_basic(void)
{
	struct result r = fixture("basic_response.sse");
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"Hello there!\"}]");
	CHECK_JSON(r.msg, "id", "\"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK\"");
	CHECK_JSON(r.msg, "model", "\"claude-3-opus-latest\"");
	CHECK_JSON(r.msg, "role", "\"assistant\"");
	CHECK_JSON(r.msg, "stop_reason", "\"end_turn\"");
	CHECK_JSON(r.msg, "stop_sequence", "null");
	CHECK_JSON(r.msg, "usage", "{\"input_tokens\":11,\"output_tokens\":6,"
		   "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}");
	CHECK(r.usage.input_tokens == 11 && r.usage.output_tokens == 6);
	/* the deltas in order, one call each */
	CHECK_STR(r.texts, "[Hello][ there][!]");
	/* exactly the keys of the header's shape */
	CHECK_STR(r.dump, norm("{\"id\":\"msg_4QpJur2dWWDjF6C758FbBw5vm12BaVipnK\","
			       "\"model\":\"claude-3-opus-latest\",\"role\":\"assistant\","
			       "\"content\":[{\"type\":\"text\",\"text\":\"Hello there!\"}],"
			       "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
			       "\"usage\":{\"input_tokens\":11,\"output_tokens\":6,"
			       "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":0}}"));
	result_free(&r);
}

static void test_fixture_tool_use(void)
{
	struct result r = fixture("tool_use_response.sse");
	CHECK_JSON(r.msg, "content",
		   "[{\"type\":\"text\",\"text\":\"I'll check the current weather in Paris for you.\"},"
		   "{\"type\":\"tool_use\",\"id\":\"toolu_01NRLabsLyVHZPKxbKvkfSMn\","
		   "\"name\":\"get_weather\",\"input\":{\"location\":\"Paris\"}}]");
	CHECK_JSON(r.msg, "stop_reason", "\"tool_use\"");
	CHECK_JSON(r.msg, "model", "\"claude-sonnet-4-20250514\"");
	CHECK(r.usage.input_tokens == 377);
	CHECK(r.usage.output_tokens == 65);
	CHECK(r.usage.cache_creation_input_tokens == 0 && r.usage.cache_read_input_tokens == 0);
	CHECK_STR(r.texts, "[I]['ll check the current weather in Paris for you.]");
	result_free(&r);
}

static void test_fixture_incomplete_partial_json(void)
{
	struct result r = fixture("incomplete_partial_json_response.sse");
	CHECK_JSON(r.msg, "content.#0", "{\"type\":\"text\",\"text\":\"I'll create a comprehensive "
		   "tax guide for someone with multiple W2s and save it in a file called "
		   "taxes.txt. Let me do that for you now.\"}");
	CHECK_JSON(r.msg, "content.#1.type", "\"tool_use\"");
	CHECK_JSON(r.msg, "content.#1.id", "\"toolu_01EKqbqmZrGRXy18eN7m9kvY\"");
	CHECK_JSON(r.msg, "content.#1.name", "\"make_file\"");
	CHECK_JSON(r.msg, "content.#1.input", "null");
	jv pj = at(r.msg, "content.#1.partial_json");
	CHECK(jv_get_kind(pj) == JV_KIND_STRING);
	if (jv_get_kind(pj) == JV_KIND_STRING) {
		const char *s = jv_string_value(pj);
		CHECK(strncmp(s, "{\"filename\": \"taxes.txt", 23) == 0);
		CHECK_STR(s, "{\"filename\": \"taxes.txt\", \"lines_of_text\": [\n"
			  "\"# COMPREHENSIVE TAX GUIDE FOR INDIVIDUALS WITH MULTIPLE W-2s\",\n"
			  "\"\",\n\"## INTRODUCTION\",\n\"\",\n\"Filing taxes");
	}
	jv_free(pj);
	CHECK_JSON(r.msg, "content.#2", "<absent>");
	CHECK_JSON(r.msg, "stop_reason", "\"max_tokens\"");
	CHECK(r.usage.input_tokens == 450 && r.usage.output_tokens == 124);
	result_free(&r);
}

/* The refusal's empty text block is left out (see anthropic.h). */
static void test_fixture_refusal(void)
{
	struct result r = fixture("refusal_response.sse");
	CHECK_JSON(r.msg, "stop_reason", "\"refusal\"");
	CHECK_JSON(r.msg, "content", "[]");
	CHECK_STR(r.texts, "");
	CHECK(r.usage.input_tokens == 20 && r.usage.output_tokens == 0);
	result_free(&r);
}

static void test_fixture_fallback(void)
{
	struct result r = fixture("fallback_response.sse");
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"Hello there!\"}]");
	CHECK_JSON(r.msg, "model", "\"claude-opus-4-7\"");
	CHECK_JSON(r.msg, "stop_reason", "\"end_turn\"");
	CHECK(r.usage.input_tokens == 25 && r.usage.output_tokens == 8);
	result_free(&r);
}

/* Every .sse file in the directory, including any added later, assembles
 * the same however it is cut. */
static void test_fixture_every_file(void)
{
	const char *dir = unit_fixture_dir();
	CHECK(dir != NULL);
	DIR *d = dir ? opendir(dir) : NULL;
	if (!d)
		return;
	int files = 0;
	struct dirent *de;
	while ((de = readdir(d))) {
		size_t len = strlen(de->d_name);
		if (len < 5 || strcmp(de->d_name + len - 4, ".sse") != 0)
			continue;
		files++;
		struct result r = fixture(de->d_name);
		CHECK(jv_array_length(at(r.msg, "content")) >= 0);
		result_free(&r);
	}
	closedir(d);
	CHECK(files >= 5);
}

#define EV(name, data) "event: " name "\ndata: " data "\n\n"
#define START EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m1\"," \
	"\"model\":\"x\",\"role\":\"assistant\",\"content\":[],\"stop_reason\":null," \
	"\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}}")
#define TEXT_START(i) EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" \
	#i ",\"content_block\":{\"type\":\"text\",\"text\":\"\"}}")
#define TEXT_DELTA(i, t) EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" \
	#i ",\"delta\":{\"type\":\"text_delta\",\"text\":\"" t "\"}}")
#define TOOL_START(i) EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":" \
	#i ",\"content_block\":{\"type\":\"tool_use\",\"id\":\"t" #i "\",\"name\":\"f\",\"input\":{}}}")
#define JSON_DELTA(i, j) EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":" \
	#i ",\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"" j "\"}}")
#define STOP(i) EV("content_block_stop", "{\"type\":\"content_block_stop\",\"index\":" #i "}")
#define MSG_STOP EV("message_stop", "{\"type\":\"message_stop\"}")

static void test_error_event(void)
{
	struct result r = assemble_str(START TEXT_START(0) TEXT_DELTA(0, "partial")
		EV("error", "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\","
		   "\"message\":\"Overloaded\"}}") TEXT_DELTA(0, " more"));
	CHECK(r.feed_rc == -1);
	CHECK(r.finish_rc == -1);
	CHECK(!r.complete);
	CHECK_STR(r.err, "Overloaded");
	CHECK_STR(r.err_type, "overloaded_error");
	/* what came before the error is kept, nothing after it */
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"partial\"}]");
	CHECK_STR(r.texts, "[partial]");
	result_free(&r);

	/* an error event without a message still fails, with some message */
	r = assemble_str(EV("error", "{\"type\":\"error\",\"error\":{}}"));
	CHECK(r.feed_rc == -1);
	CHECK(r.err != NULL && r.err[0] != '\0');
	CHECK(r.err_type == NULL);
	result_free(&r);
}

static void test_not_json(void)
{
	struct result r = assemble_str(START "event: content_block_start\ndata: {not json\n\n");
	CHECK(r.feed_rc == -1);
	CHECK(r.err != NULL && strstr(r.err, "content_block_start event data is not JSON"));
	CHECK(r.err_type == NULL);
	CHECK_JSON(r.msg, "id", "\"m1\"");
	result_free(&r);

	/* the last, unterminated event is checked at finish */
	r = assemble_str(START "data: [1,");
	CHECK(r.feed_rc == 0);
	CHECK(r.finish_rc == -1);
	CHECK(r.err != NULL && strstr(r.err, "message event data is not JSON"));
	result_free(&r);

	/* JSON that is not an object is no event either */
	r = assemble_str("data: [1]\n\n");
	CHECK(r.feed_rc == -1);
	CHECK(r.err != NULL && strstr(r.err, "not a JSON object"));
	result_free(&r);
}

static void test_bad_index(void)
{
	struct result r = assemble_str(START EV("content_block_start",
		"{\"type\":\"content_block_start\",\"index\":100000,\"content_block\":"
		"{\"type\":\"text\",\"text\":\"\"}}"));
	CHECK(r.feed_rc == -1);
	CHECK(r.err != NULL && strstr(r.err, "content_block_start without a valid index"));
	result_free(&r);
	r = assemble_str(START EV("content_block_stop", "{\"type\":\"content_block_stop\"}"));
	CHECK(r.feed_rc == -1);
	result_free(&r);
}

static void test_on_text_order(void)
{
	const char *in = START TEXT_START(0) TEXT_DELTA(0, "a") TEXT_DELTA(0, "bc")
		TOOL_START(1) JSON_DELTA(1, "{}") STOP(1) TEXT_START(2) TEXT_DELTA(2, "d")
		TEXT_DELTA(2, "\\u00e9\\n") STOP(2) MSG_STOP;
	struct result whole = assemble(in, strlen(in), WHOLE, 0);
	CHECK_STR(whole.texts, "[a][bc][d][\xc3\xa9\n]");
	CHECK_JSON(whole.msg, "content", "[{\"type\":\"text\",\"text\":\"abc\"},"
		   "{\"type\":\"tool_use\",\"id\":\"t1\",\"name\":\"f\",\"input\":{}},"
		   "{\"type\":\"text\",\"text\":\"d\\u00e9\\n\"}]");
	struct result bytes = assemble(in, strlen(in), BYTES, 0);
	CHECK_STR(bytes.texts, whole.texts);
	CHECK_STR(bytes.dump, whole.dump);
	result_free(&whole);
	result_free(&bytes);

	/* a NULL callback is allowed */
	struct anth_assembler *a = anth_assembler_new(NULL, NULL);
	CHECK(anth_assembler_feed(a, in, strlen(in)) == 0);
	CHECK(anth_assembler_finish(a) == 0);
	CHECK(anth_assembler_complete(a));
	anth_assembler_free(a);
}

/* A tool_use open at the end of the stream is incomplete even when its
 * pieces happen to form valid JSON; an unparsable or non-object input at
 * content_block_stop is incomplete too; no pieces at all means {}. */
static void test_tool_input_cases(void)
{
	struct result r = assemble_str(START TOOL_START(0) JSON_DELTA(0, "{\\\"a\\\":")
				       TEXT_DELTA(0, "not json") JSON_DELTA(0, "1}"));
	CHECK(r.feed_rc == 0 && r.finish_rc == 0);
	CHECK(!r.complete);
	CHECK_JSON(r.msg, "content", "[{\"type\":\"tool_use\",\"id\":\"t0\",\"name\":\"f\","
		   "\"input\":null,\"partial_json\":\"{\\\"a\\\":1}\"}]");
	result_free(&r);

	r = assemble_str(START TOOL_START(0) JSON_DELTA(0, "{\\\"a\\\":") JSON_DELTA(0, "1}")
			 STOP(0) MSG_STOP);
	CHECK(r.complete);
	CHECK_JSON(r.msg, "content.#0.input", "{\"a\":1}");
	CHECK_JSON(r.msg, "content.#0.partial_json", "<absent>");
	result_free(&r);

	r = assemble_str(START TOOL_START(0) STOP(0) MSG_STOP);
	CHECK_JSON(r.msg, "content.#0.input", "{}");
	result_free(&r);

	r = assemble_str(START TOOL_START(0) JSON_DELTA(0, "") STOP(0) MSG_STOP);
	CHECK_JSON(r.msg, "content.#0.input", "{}");
	result_free(&r);

	r = assemble_str(START TOOL_START(0) JSON_DELTA(0, "[1]") STOP(0) MSG_STOP);
	CHECK_JSON(r.msg, "content.#0.input", "null");
	CHECK_JSON(r.msg, "content.#0.partial_json", "\"[1]\"");
	result_free(&r);

	r = assemble_str(START TOOL_START(0) JSON_DELTA(0, "{} {}") STOP(0) MSG_STOP);
	CHECK_JSON(r.msg, "content.#0.input", "null");
	CHECK_JSON(r.msg, "content.#0.partial_json", "\"{} {}\"");
	result_free(&r);
}

static void test_message_delta_usage(void)
{
	struct result r = assemble_str(
		EV("message_start", "{\"type\":\"message_start\",\"message\":{\"id\":\"m\","
		   "\"usage\":{\"input_tokens\":5,\"output_tokens\":1,"
		   "\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":9}}}")
		EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
		   "\"stop_sequence\",\"stop_sequence\":\"END\"},\"usage\":{\"output_tokens\":30,"
		   "\"cache_read_input_tokens\":100,\"cache_creation_input_tokens\":null}}")
		EV("message_delta", "{\"type\":\"message_delta\",\"delta\":{},"
		   "\"usage\":{\"input_tokens\":6}}")
		MSG_STOP);
	CHECK(r.complete);
	CHECK(r.usage.input_tokens == 6);
	CHECK(r.usage.output_tokens == 30);
	CHECK(r.usage.cache_creation_input_tokens == 7);
	CHECK(r.usage.cache_read_input_tokens == 100);
	CHECK_JSON(r.msg, "usage", "{\"input_tokens\":6,\"output_tokens\":30,"
		   "\"cache_creation_input_tokens\":7,\"cache_read_input_tokens\":100}");
	/* a delta without stop_reason keeps the earlier one */
	CHECK_JSON(r.msg, "stop_reason", "\"stop_sequence\"");
	CHECK_JSON(r.msg, "stop_sequence", "\"END\"");
	result_free(&r);
}

static void test_ignored(void)
{
	struct result r = assemble_str(
		START ": comment\n\n" EV("ping", "{\"type\":\"ping\"}")
		EV("brand_new_event", "{\"type\":\"brand_new_event\",\"x\":1}")
		EV("content_block_start", "{\"type\":\"content_block_start\",\"index\":0,"
		   "\"content_block\":{\"type\":\"thinking\",\"thinking\":\"\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
		   "\"delta\":{\"type\":\"thinking_delta\",\"thinking\":\"hmm\"}}")
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":0,"
		   "\"delta\":{\"type\":\"text_delta\",\"text\":\"not text\"}}")
		STOP(0) TEXT_START(1)
		EV("content_block_delta", "{\"type\":\"content_block_delta\",\"index\":1,"
		   "\"delta\":{\"type\":\"citations_delta\",\"citation\":{}}}")
		TEXT_DELTA(1, "ok") JSON_DELTA(1, "{}")
		EV("content_block_whatever", "{\"type\":\"content_block_whatever\"}")
		STOP(1) TEXT_DELTA(1, "late") TEXT_DELTA(5, "nowhere") MSG_STOP);
	CHECK(r.feed_rc == 0 && r.finish_rc == 0 && r.complete);
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"ok\"}]");
	CHECK_STR(r.texts, "[ok]");
	result_free(&r);

	/* a block started again starts over */
	r = assemble_str(START TEXT_START(0) TEXT_DELTA(0, "a") TEXT_START(0) TEXT_DELTA(0, "b"));
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"b\"}]");
	CHECK_STR(r.texts, "[a][b]");
	result_free(&r);
}

/* Without an event: line the data's "type" decides. */
static void test_no_event_names(void)
{
	struct result r = assemble_str(
		"data: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"x\"}}\n\n"
		"data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
		"{\"type\":\"text\",\"text\":\"hi\"}}\n\n"
		"data: {\"type\":\"message_stop\"}\n\n");
	CHECK(r.complete);
	CHECK_JSON(r.msg, "content", "[{\"type\":\"text\",\"text\":\"hi\"}]");
	CHECK_STR(r.texts, "[hi]");
	result_free(&r);

	/* and without a "type" the event name does */
	r = assemble_str(EV("message_delta", "{\"delta\":{\"stop_reason\":\"end_turn\"}}")
			 EV("message_stop", "{}"));
	CHECK(r.complete);
	CHECK_JSON(r.msg, "stop_reason", "\"end_turn\"");
	result_free(&r);
}

static void test_message_so_far(void)
{
	struct anth_assembler *a = anth_assembler_new(NULL, NULL);
	jv m = anth_assembler_message(a);
	CHECK_STR(json_at(m, "content"), "[]");
	CHECK_STR(json_at(m, "id"), "null");
	CHECK_STR(json_at(m, "usage.input_tokens"), "0");
	jv_free(m);
	const char *in = START TOOL_START(0) JSON_DELTA(0, "{\\\"p\\\"");
	CHECK(anth_assembler_feed(a, in, strlen(in)) == 0);
	m = anth_assembler_message(a);
	CHECK_STR(json_at(m, "id"), "\"m1\"");
	CHECK_STR(json_at(m, "content.#0.input"), "null");
	CHECK_STR(json_at(m, "content.#0.partial_json"), norm("\"{\\\"p\\\"\""));
	jv_free(m);
	CHECK(!anth_assembler_complete(a));
	CHECK(anth_assembler_error(a) == NULL);
	anth_assembler_free(a);
}

static void test_usage_json(void)
{
	jv u = jv_parse("{\"input_tokens\":3,\"cache_read_input_tokens\":4,\"other\":\"x\"}");
	struct anth_usage a = anth_usage_from_json(u);
	CHECK(a.input_tokens == 3 && a.output_tokens == 0);
	CHECK(a.cache_creation_input_tokens == 0 && a.cache_read_input_tokens == 4);
	jv_free(u);	/* borrowed: still ours */

	struct anth_usage z = anth_usage_from_json(jv_null());
	CHECK(z.input_tokens == 0 && z.output_tokens == 0);

	struct anth_usage b = { 10, 20, 30, 40 };
	anth_usage_add(&b, &a);
	CHECK(b.input_tokens == 13 && b.output_tokens == 20);
	CHECK(b.cache_creation_input_tokens == 30 && b.cache_read_input_tokens == 44);

	jv j = anth_usage_to_json(&b);
	CHECK_JSON(j, "", "{\"input_tokens\":13,\"output_tokens\":20,"
		   "\"cache_creation_input_tokens\":30,\"cache_read_input_tokens\":44}");
	struct anth_usage back = anth_usage_from_json(j);
	CHECK(memcmp(&back, &b, sizeof(b)) == 0);
	jv_free(j);
}

static void test_cost(void)
{
	jv prices = jv_parse(
		"{\"claude-sonnet-4\":{\"input\":3,\"output\":15,\"cache_write\":3.75,\"cache_read\":0.3},"
		"\"claude-sonnet-4-5\":{\"input\":4,\"output\":20,\"cache_write\":5,\"cache_read\":0.5},"
		"\"claude-opus-4-1\":{\"input\":15,\"output\":75},"
		"\"claude-haiku\":\"not an object\"}");
	struct anth_usage u = { 1000000, 100000, 200000, 2000000 };
	double c = -1;
	/* exact name */
	CHECK(anth_cost_usd(prices, "claude-sonnet-4", &u, &c));
	CHECK(c > 3 + 1.5 + 0.75 + 0.6 - 1e-9 && c < 3 + 1.5 + 0.75 + 0.6 + 1e-9);
	/* the longest prefix wins over a shorter one */
	CHECK(anth_cost_usd(prices, "claude-sonnet-4-5-20250929", &u, &c));
	CHECK(c > 4 + 2 + 1 + 1 - 1e-9 && c < 4 + 2 + 1 + 1 + 1e-9);
	CHECK(anth_cost_usd(prices, "claude-sonnet-4-20250514", &u, &c));
	CHECK(c > 5.85 - 1e-9 && c < 5.85 + 1e-9);
	/* missing cache prices count as 0 */
	CHECK(anth_cost_usd(prices, "claude-opus-4-1-20250805", &u, &c));
	CHECK(c > 15 + 7.5 - 1e-9 && c < 15 + 7.5 + 1e-9);
	/* unknown, a key longer than the model, a non-object entry, no model */
	c = 99;
	CHECK(!anth_cost_usd(prices, "gpt-4", &u, &c));
	CHECK(c == 0);
	c = 99;
	CHECK(!anth_cost_usd(prices, "claude-sonnet", &u, &c));
	CHECK(c == 0);
	CHECK(!anth_cost_usd(prices, "claude-haiku-4-5", &u, &c));
	CHECK(!anth_cost_usd(prices, NULL, &u, &c));
	CHECK(!anth_cost_usd(jv_null(), "claude-sonnet-4", &u, &c));
	jv_free(prices);	/* borrowed: still ours */
}

static void test_retryable(void)
{
	long yes[] = { 408, 409, 429, 500, 502, 503, 504, 529, 599 };
	long no[] = { 200, 400, 401, 403, 404, 413, 422, 499, 600, 0, -1 };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (!anth_status_retryable(yes[i]))
			printf("# %ld should be retryable\n", yes[i]);
		CHECK(anth_status_retryable(yes[i]));
	}
	for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		if (anth_status_retryable(no[i]))
			printf("# %ld should not be retryable\n", no[i]);
		CHECK(!anth_status_retryable(no[i]));
	}
}

static void test_retry_delay(void)
{
	struct retry_policy p = { 5, 1.0, 30.0, 0.0, true, 0 };
	CHECK(anth_retry_delay_ms(&p, 1, -1, 0.5) == 1000);
	CHECK(anth_retry_delay_ms(&p, 2, -1, 0.5) == 2000);
	CHECK(anth_retry_delay_ms(&p, 3, -1, 0.5) == 4000);
	CHECK(anth_retry_delay_ms(&p, 5, -1, 0.5) == 16000);
	/* capped */
	CHECK(anth_retry_delay_ms(&p, 6, -1, 0.5) == 30000);
	CHECK(anth_retry_delay_ms(&p, 100, -1, 0.5) == 30000);
	CHECK(anth_retry_delay_ms(&p, INT_MAX, -1, 0.5) == 30000);
	/* not exponential: always the base */
	p.exponential = false;
	CHECK(anth_retry_delay_ms(&p, 1, -1, 0.5) == 1000);
	CHECK(anth_retry_delay_ms(&p, 4, -1, 0.5) == 1000);
	/* Retry-After takes precedence, capped, without jitter */
	p.exponential = true;
	p.jitter = 0.5;
	CHECK(anth_retry_delay_ms(&p, 3, 5000, 0.0) == 5000);
	CHECK(anth_retry_delay_ms(&p, 3, 5000, 0.99) == 5000);
	CHECK(anth_retry_delay_ms(&p, 1, 0, 0.9) == 0);
	/* without retry_after_max_s, capped at the backoff's max */
	CHECK(anth_retry_delay_ms(&p, 1, 100000, 0.5) == 30000);
	/* a Retry-After beyond the backoff cap is honoured up to retry_after_max_s */
	p.retry_after_max_s = 300;
	CHECK(anth_retry_delay_ms(&p, 1, 100000, 0.5) == 100000);
	CHECK(anth_retry_delay_ms(&p, 1, 900000, 0.5) == 300000);
}

static void test_retry_jitter(void)
{
	struct retry_policy p = { 5, 0.5, 30.0, 0.25, true, 0 };
	/* attempt 3: 2000 ms spread over [1500, 2500] */
	CHECK(anth_retry_delay_ms(&p, 3, -1, 0.0) == 1500);
	CHECK(anth_retry_delay_ms(&p, 3, -1, 0.5) == 2000);
	CHECK(anth_retry_delay_ms(&p, 3, -1, 0.75) == 2250);
	long lo = LONG_MAX, hi = 0;
	for (int i = 0; i < 1000; i++) {
		long d = anth_retry_delay_ms(&p, 3, -1, i / 1000.0);
		lo = d < lo ? d : lo;
		hi = d > hi ? d : hi;
	}
	CHECK(lo == 1500);
	CHECK(hi >= 2490 && hi <= 2500);
	/* the spread applies to the capped delay */
	CHECK(anth_retry_delay_ms(&p, 20, -1, 0.0) == 22500);
	CHECK(anth_retry_delay_ms(&p, 20, -1, 0.5) == 30000);
	/* never negative */
	p.jitter = 2;
	CHECK(anth_retry_delay_ms(&p, 1, -1, 0.0) == 0);
}

static const char *dump(jv v)
{
	static char out[8192];
	jv d = jv_dump_string(v, JV_PRINT_SORTED);
	snprintf(out, sizeof(out), "%s", jv_string_value(d));
	jv_free(d);
	return out;
}

static void test_request_plain(void)
{
	jv req = anth_request_new("claude-x", 1024, jv_string("be brief"),
				  jv_parse("[{\"name\":\"a\"},{\"name\":\"b\"}]"),
				  jv_parse("[{\"role\":\"user\",\"content\":\"hi\"}]"), true, false);
	CHECK_STR(dump(req), norm("{\"model\":\"claude-x\",\"max_tokens\":1024,"
				  "\"system\":[{\"type\":\"text\",\"text\":\"be brief\"}],"
				  "\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"}],"
				  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
				  "\"stream\":true}"));
	/* tools null or empty are left out; stream false is explicit */
	req = anth_request_new("m", 1, jv_string("s"), jv_null(),
			       jv_parse("[{\"role\":\"user\",\"content\":\"hi\"}]"), false, true);
	CHECK_STR(json_at(req, "tools"), "<absent>");
	CHECK_STR(json_at(req, "stream"), "false");
	jv_free(req);
	req = anth_request_new("m", 1, jv_string("s"), jv_array(), jv_array(), false, true);
	CHECK_STR(json_at(req, "tools"), "<absent>");
	CHECK_STR(json_at(req, "messages"), "[]");
	jv_free(req);
	/* a system that is already an array is kept as it is */
	req = anth_request_new("m", 1, jv_parse("[{\"type\":\"text\",\"text\":\"a\"}]"),
			       jv_null(), jv_array(), false, false);
	CHECK_STR(json_at(req, "system"), norm("[{\"type\":\"text\",\"text\":\"a\"}]"));
	jv_free(req);
	/* no system at all, or an empty one: left out */
	req = anth_request_new("m", 1, jv_null(), jv_null(), jv_array(), false, true);
	CHECK_STR(json_at(req, "system"), "<absent>");
	jv_free(req);
	req = anth_request_new("m", 1, jv_string(""), jv_null(), jv_array(), false, true);
	CHECK_STR(json_at(req, "system"), "<absent>");
	jv_free(req);
}

#define CC "\"cache_control\":{\"type\":\"ephemeral\"}"

static void test_request_cache_control(void)
{
	jv req = anth_request_new("claude-x", 1024, jv_string("be brief"),
				  jv_parse("[{\"name\":\"a\"},{\"name\":\"b\"}]"),
				  jv_parse("[{\"role\":\"user\",\"content\":\"hi\"},"
					   "{\"role\":\"assistant\",\"content\":\"yes\"},"
					   "{\"role\":\"user\",\"content\":\"go on\"}]"),
				  true, true);
	CHECK_STR(dump(req), norm("{\"model\":\"claude-x\",\"max_tokens\":1024,"
				  "\"system\":[{\"type\":\"text\",\"text\":\"be brief\"," CC "}],"
				  "\"tools\":[{\"name\":\"a\"},{\"name\":\"b\"," CC "}],"
				  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"},"
				  "{\"role\":\"assistant\",\"content\":\"yes\"},"
				  "{\"role\":\"user\",\"content\":[{\"type\":\"text\","
				  "\"text\":\"go on\"," CC "}]}],"
				  "\"stream\":true}"));

	/* block arrays: only the last block of system and of the last message */
	jv messages = jv_parse("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"q\"}]},"
			       "{\"role\":\"assistant\",\"content\":[{\"type\":\"tool_use\",\"id\":\"t\","
			       "\"name\":\"f\",\"input\":{}}]},"
			       "{\"role\":\"user\",\"content\":[{\"type\":\"tool_result\","
			       "\"tool_use_id\":\"t\",\"content\":\"ok\"},{\"type\":\"text\",\"text\":\"and\"}]}]");
	jv keep = jv_copy(messages);
	req = anth_request_new("m", 1, jv_parse("[{\"type\":\"text\",\"text\":\"a\"},"
						"{\"type\":\"text\",\"text\":\"b\"}]"),
			       jv_parse("[{\"name\":\"only\"}]"), messages, false, true);
	CHECK_STR(json_at(req, "system"), norm("[{\"type\":\"text\",\"text\":\"a\"},"
					       "{\"type\":\"text\",\"text\":\"b\"," CC "}]"));
	CHECK_STR(json_at(req, "tools"), norm("[{\"name\":\"only\"," CC "}]"));
	CHECK_STR(json_at(req, "messages.#0"), json_at(keep, "#0"));
	CHECK_STR(json_at(req, "messages.#1"), json_at(keep, "#1"));
	CHECK_STR(json_at(req, "messages.#2.content"),
		  norm("[{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":\"ok\"},"
		       "{\"type\":\"text\",\"text\":\"and\"," CC "}]"));
	/* the caller's copy of messages is unchanged */
	CHECK_STR(json_at(keep, "#2.content.#1.cache_control"), "<absent>");
	jv_free(keep);
	jv_free(req);
}

int main(void)
{
	UNIT_RUN(test_fixture_basic);
	UNIT_RUN(test_fixture_tool_use);
	UNIT_RUN(test_fixture_incomplete_partial_json);
	UNIT_RUN(test_fixture_refusal);
	UNIT_RUN(test_fixture_fallback);
	UNIT_RUN(test_fixture_every_file);
	UNIT_RUN(test_error_event);
	UNIT_RUN(test_not_json);
	UNIT_RUN(test_bad_index);
	UNIT_RUN(test_on_text_order);
	UNIT_RUN(test_tool_input_cases);
	UNIT_RUN(test_message_delta_usage);
	UNIT_RUN(test_ignored);
	UNIT_RUN(test_no_event_names);
	UNIT_RUN(test_message_so_far);
	UNIT_RUN(test_usage_json);
	UNIT_RUN(test_cost);
	UNIT_RUN(test_retryable);
	UNIT_RUN(test_retry_delay);
	UNIT_RUN(test_retry_jitter);
	UNIT_RUN(test_request_plain);
	UNIT_RUN(test_request_cache_control);
	return unit_done();
}
