#include "anthropic.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "sse.h"
#include "json.h"

/* Block indexes beyond this are treated as a broken stream, not allocated. */
#define MAX_BLOCKS 4096

/* Small jv helpers; all borrow obj. */

static bool has(jv obj, const char *key)
{
	return jv_get_kind(obj) == JV_KIND_OBJECT && jv_object_has(jv_copy(obj), jv_string(key));
}


/* Stores obj[key] in *out when it is a number that fits a long. */
static bool long_field(jv obj, const char *key, long *out)
{
	jv v = json_get(obj, key);
	bool ok = false;
	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d >= (double)LONG_MIN && d < (double)LONG_MAX) {
			*out = (long)d;
			ok = true;
		}
	}
	jv_free(v);
	return ok;
}


/* {"type":"text","text":text} (consumes text). */
static jv text_block(jv text)
{
	return JV_OBJECT(jv_string("type"), jv_string("text"), jv_string("text"), text);
}

/* Overwrites the fields of *u that usage (borrowed) gives as numbers. */
static void usage_update(struct anth_usage *u, jv usage)
{
	long_field(usage, "input_tokens", &u->input_tokens);
	long_field(usage, "output_tokens", &u->output_tokens);
	long_field(usage, "cache_creation_input_tokens", &u->cache_creation_input_tokens);
	long_field(usage, "cache_read_input_tokens", &u->cache_read_input_tokens);
}

struct anth_usage anth_usage_from_json(jv u)
{
	struct anth_usage r = { 0, 0, 0, 0 };
	usage_update(&r, u);
	return r;
}

jv anth_usage_to_json(const struct anth_usage *u)
{
	return JV_OBJECT(jv_string("input_tokens"), jv_number((double)u->input_tokens),
			 jv_string("output_tokens"), jv_number((double)u->output_tokens),
			 jv_string("cache_creation_input_tokens"),
			 jv_number((double)u->cache_creation_input_tokens),
			 jv_string("cache_read_input_tokens"),
			 jv_number((double)u->cache_read_input_tokens));
}

void anth_usage_add(struct anth_usage *sum, const struct anth_usage *u)
{
	sum->input_tokens += u->input_tokens;
	sum->output_tokens += u->output_tokens;
	sum->cache_creation_input_tokens += u->cache_creation_input_tokens;
	sum->cache_read_input_tokens += u->cache_read_input_tokens;
}

/* A price missing from the model's entry counts as 0. The exact name is
 * the longest possible prefix, so one longest-prefix search covers both. */
bool anth_price(jv prices, const char *model, struct anth_price *p)
{
	memset(p, 0, sizeof *p);
	if (!model || jv_get_kind(prices) != JV_KIND_OBJECT)
		return false;
	jv best = jv_invalid();
	size_t best_len = 0;
	jv_object_foreach(prices, key, val) {
		const char *k = jv_string_value(key);
		size_t len = strlen(k);
		if (jv_get_kind(val) == JV_KIND_OBJECT && strncmp(model, k, len) == 0 &&
		    (!jv_is_valid(best) || len > best_len)) {
			jv_free(best);
			best = jv_copy(val);
			best_len = len;
		}
		jv_free(key);
		jv_free(val);
	}
	if (!jv_is_valid(best)) {
		jv_free(best);
		return false;
	}
	p->input = json_num(best, "input", 0);
	p->output = json_num(best, "output", 0);
	p->cache_write = json_num(best, "cache_write", 0);
	p->cache_read = json_num(best, "cache_read", 0);
	jv_free(best);
	return true;
}

bool anth_cost_usd(jv prices, const char *model, const struct anth_usage *u, double *cost)
{
	struct anth_price p;
	*cost = 0;
	if (!anth_price(prices, model, &p))
		return false;
	*cost = ((double)u->input_tokens * p.input + (double)u->output_tokens * p.output +
		 (double)u->cache_creation_input_tokens * p.cache_write +
		 (double)u->cache_read_input_tokens * p.cache_read) / 1e6;
	return true;
}

bool anth_status_retryable(long http_status)
{
	return http_status == 408 || http_status == 409 || http_status == 429 ||
	       (http_status >= 500 && http_status <= 599);
}

/* The server's Retry-After is used as given (capped), without jitter. */
long anth_retry_delay_ms(const struct retry_policy *p, int attempt, long retry_after_ms, double rand01)
{
	double max_ms = p->max_delay_s * 1000;
	double d;
	if (retry_after_ms >= 0) {
		/* The server knows how long it needs: honour it up to the configured maximum. */
		d = fmin((double)retry_after_ms, fmax(max_ms, p->retry_after_max_s * 1000));
	} else {
		d = p->base_delay_s * 1000;
		if (p->exponential && attempt > 1)
			d = ldexp(d, attempt > 2000 ? 2000 : attempt - 1);	/* inf is fine */
		d = fmin(d, max_ms);
		d *= 1 + p->jitter * (2 * rand01 - 1);
	}
	if (!(d > 0))
		return 0;
	return d >= (double)LONG_MAX ? LONG_MAX : lround(d);
}

/* Marks the last element of arr (an array, consumed) as a cache breakpoint
 * when that element is an object. */
static jv mark_last(jv arr)
{
	int n = jv_array_length(jv_copy(arr));
	if (n == 0)
		return arr;
	jv last = jv_array_get(jv_copy(arr), n - 1);
	if (jv_get_kind(last) != JV_KIND_OBJECT) {
		jv_free(last);
		return arr;
	}
	last = jv_object_set(last, jv_string("cache_control"),
			     JV_OBJECT(jv_string("type"), jv_string("ephemeral")));
	return jv_array_set(arr, n - 1, last);
}

static bool nonempty_array(jv v)
{
	return jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) > 0;
}

/*
 * A string system prompt becomes one text block; an array is kept. A null
 * or empty system (or tools) is left out, since the API rejects empty
 * text blocks. messages is passed through as given apart from the cache
 * breakpoint on its last message.
 */
jv anth_request_new(const char *model, long max_tokens, jv system, jv tools, jv messages,
		    bool stream, bool cache_control)
{
	jv req = JV_OBJECT(jv_string("model"), model ? jv_string(model) : jv_null(),
			   jv_string("max_tokens"), jv_number((double)max_tokens));

	if (jv_get_kind(system) == JV_KIND_STRING) {
		if (jv_string_length_bytes(jv_copy(system)) > 0) {
			system = JV_ARRAY(text_block(system));
		} else {
			jv_free(system);
			system = jv_null();
		}
	}
	if (nonempty_array(system))
		req = jv_object_set(req, jv_string("system"),
				    cache_control ? mark_last(system) : system);
	else
		jv_free(system);

	if (nonempty_array(tools))
		req = jv_object_set(req, jv_string("tools"), cache_control ? mark_last(tools) : tools);
	else
		jv_free(tools);

	if (cache_control && nonempty_array(messages)) {
		int n = jv_array_length(jv_copy(messages));
		jv last = jv_array_get(jv_copy(messages), n - 1);
		jv content = json_get(last, "content");
		if (jv_get_kind(content) == JV_KIND_STRING)
			content = JV_ARRAY(text_block(content));
		if (jv_get_kind(content) == JV_KIND_ARRAY) {
			last = jv_object_set(last, jv_string("content"), mark_last(content));
			messages = jv_array_set(messages, n - 1, last);
		} else {
			jv_free(content);
			jv_free(last);
		}
	}
	req = jv_object_set(req, jv_string("messages"), messages);
	return jv_object_set(req, jv_string("stream"), jv_bool(stream));
}

enum block_kind { BLOCK_NONE, BLOCK_TEXT, BLOCK_TOOL };

struct block {
	enum block_kind kind;	/* BLOCK_NONE: never started, or a type we skip */
	bool open;		/* started and not yet stopped */
	struct buf text;	/* the text, or a tool_use's input_json_delta pieces */
	jv id, name;		/* tool_use; owned */
	jv input;		/* tool_use: the parsed input object once stopped complete,
				 * else jv_null(); owned */
};

struct anth_assembler {
	struct sse_parser *sse;
	anth_text_fn on_text;
	void *user;
	jv id, model, stop_reason, stop_sequence;	/* owned */
	struct anth_usage usage;
	struct block *blocks;	/* indexed by the stream's content block index */
	size_t nblocks;
	bool complete;
	char *err, *err_type;
};

static void block_clear(struct block *b)
{
	b->kind = BLOCK_NONE;
	b->open = false;
	buf_reset(&b->text);
	jv_free(b->id);
	jv_free(b->name);
	jv_free(b->input);
	b->id = b->name = b->input = jv_null();
}

/* The block with index idx (read from d, borrowed), growing the table as
 * needed, or NULL when the index is missing or out of range. */
static struct block *block_at(struct anth_assembler *a, jv d)
{
	long idx;
	if (!long_field(d, "index", &idx) || idx < 0 || idx >= MAX_BLOCKS)
		return NULL;
	if ((size_t)idx >= a->nblocks) {
		size_t n = (size_t)idx + 1;
		a->blocks = xrealloc(a->blocks, n * sizeof(*a->blocks));
		for (size_t i = a->nblocks; i < n; i++) {
			struct block *b = &a->blocks[i];
			*b = (struct block){ .kind = BLOCK_NONE, .text = BUF_INIT };
			b->id = b->name = b->input = jv_null();
		}
		a->nblocks = n;
	}
	return &a->blocks[idx];
}

/* Records a stream failure; returns -1 for the SSE callback. */
static int fail(struct anth_assembler *a, char *msg, const char *type)
{
	if (!a->err) {
		a->err = msg;
		a->err_type = type ? xstrdup(type) : NULL;
	} else {
		free(msg);
	}
	return -1;
}

/* Appends text to b and, for text blocks, passes it on (text borrowed). */
static int block_append(struct anth_assembler *a, struct block *b, jv text)
{
	if (jv_get_kind(text) != JV_KIND_STRING)
		return 0;
	size_t len = (size_t)jv_string_length_bytes(jv_copy(text));
	if (b->text.len + len > INT_MAX)
		return fail(a, xstrdup("anthropic stream: a content block exceeds 2 GiB"), NULL);
	buf_append(&b->text, jv_string_value(text), len);
	if (b->kind == BLOCK_TEXT && a->on_text && len)
		a->on_text(jv_string_value(text), len, a->user);
	return 0;
}

/* A stopped tool_use gets its input: empty pieces mean {}; anything that
 * is not one complete JSON object leaves input null (see the header). */
static void tool_stop(struct block *b)
{
	b->open = false;
	jv in = b->text.len ? jv_parse_sized(b->text.data, (int)b->text.len) : jv_object();
	if (jv_get_kind(in) != JV_KIND_OBJECT) {
		jv_free(in);
		in = jv_null();
	}
	jv_free(b->input);
	b->input = in;
}

static int content_block_start(struct anth_assembler *a, struct block *b, jv d)
{
	jv cb = json_get(d, "content_block");
	const char *type = json_str(cb, "type");
	int rc = 0;
	block_clear(b);
	if (type && strcmp(type, "text") == 0) {
		b->kind = BLOCK_TEXT;
		b->open = true;
		jv text = json_get(cb, "text");
		rc = block_append(a, b, text);
		jv_free(text);
	} else if (type && strcmp(type, "tool_use") == 0) {
		b->kind = BLOCK_TOOL;
		b->open = true;
		b->id = json_get(cb, "id");
		b->name = json_get(cb, "name");
	}
	jv_free(cb);
	return rc;
}

static int content_block_delta(struct anth_assembler *a, struct block *b, jv d)
{
	jv delta = json_get(d, "delta");
	const char *type = json_str(delta, "type");
	int rc = 0;
	if (!b->open || !type) {
		/* deltas of skipped or finished blocks are ignored */
	} else if (b->kind == BLOCK_TEXT && strcmp(type, "text_delta") == 0) {
		jv text = json_get(delta, "text");
		rc = block_append(a, b, text);
		jv_free(text);
	} else if (b->kind == BLOCK_TOOL && strcmp(type, "input_json_delta") == 0) {
		jv piece = json_get(delta, "partial_json");
		rc = block_append(a, b, piece);
		jv_free(piece);
	}
	jv_free(delta);
	return rc;
}

static void message_start(struct anth_assembler *a, jv d)
{
	jv m = json_get(d, "message");
	jv_free(a->id);
	jv_free(a->model);
	jv_free(a->stop_reason);
	jv_free(a->stop_sequence);
	a->id = json_get(m, "id");
	a->model = json_get(m, "model");
	a->stop_reason = json_get(m, "stop_reason");
	a->stop_sequence = json_get(m, "stop_sequence");
	jv u = json_get(m, "usage");
	a->usage = anth_usage_from_json(u);
	jv_free(u);
	jv_free(m);
}

static void message_delta(struct anth_assembler *a, jv d)
{
	jv delta = json_get(d, "delta");
	if (has(delta, "stop_reason")) {
		jv_free(a->stop_reason);
		a->stop_reason = json_get(delta, "stop_reason");
	}
	if (has(delta, "stop_sequence")) {
		jv_free(a->stop_sequence);
		a->stop_sequence = json_get(delta, "stop_sequence");
	}
	jv_free(delta);
	jv u = json_get(d, "usage");
	usage_update(&a->usage, u);
	jv_free(u);
}

/* jq's parse errors end in " (while parsing '<the whole input>')". */
static char *parse_error(jv invalid)
{
	jv msg = jv_invalid_get_msg(invalid);
	const char *s = jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "invalid JSON";
	const char *cut = strstr(s, " (while parsing");
	char *r = xstrndup(s, cut ? (size_t)(cut - s) : strlen(s));
	jv_free(msg);
	return r;
}

/* Dispatches on the data's "type" (the SSE event name when it has none). */
static int on_event(const struct sse_event *ev, void *user)
{
	struct anth_assembler *a = user;
	if (ev->data_len > INT_MAX)
		return fail(a, xasprintf("anthropic stream: %s event data exceeds 2 GiB", ev->event),
			    NULL);
	jv d = jv_parse_sized(ev->data, (int)ev->data_len);
	if (!jv_is_valid(d)) {
		char *why = parse_error(d);
		int rc = fail(a, xasprintf("anthropic stream: %s event data is not JSON (%s)",
					   ev->event, why), NULL);
		free(why);
		return rc;
	}
	if (jv_get_kind(d) != JV_KIND_OBJECT) {
		jv_free(d);
		return fail(a, xasprintf("anthropic stream: %s event data is not a JSON object",
					 ev->event), NULL);
	}
	const char *type = json_str(d, "type");
	if (!type)
		type = ev->event;

	int rc = 0;
	if (strcmp(type, "message_start") == 0) {
		message_start(a, d);
	} else if (strcmp(type, "message_delta") == 0) {
		message_delta(a, d);
	} else if (strcmp(type, "message_stop") == 0) {
		a->complete = true;
	} else if (strncmp(type, "content_block_", 14) == 0) {
		const char *what = type + 14;
		if (strcmp(what, "start") && strcmp(what, "delta") && strcmp(what, "stop")) {
			/* an unknown content_block_* event: ignored */
		} else {
			struct block *b = block_at(a, d);
			if (!b)
				rc = fail(a, xasprintf("anthropic stream: %s without a valid index "
						       "(0 to %d)", type, MAX_BLOCKS - 1), NULL);
			else if (strcmp(what, "start") == 0)
				rc = content_block_start(a, b, d);
			else if (strcmp(what, "delta") == 0)
				rc = content_block_delta(a, b, d);
			else if (b->kind == BLOCK_TOOL)
				tool_stop(b);
			else
				b->open = false;
		}
	} else if (strcmp(type, "error") == 0) {
		jv e = json_get(d, "error");
		const char *msg = json_str(e, "message");
		rc = fail(a, xstrdup(msg ? msg : "anthropic stream: error event without a message"),
			  json_str(e, "type"));
		jv_free(e);
	}
	jv_free(d);
	return rc;
}

struct anth_assembler *anth_assembler_new(anth_text_fn on_text, void *user)
{
	struct anth_assembler *a = xcalloc(1, sizeof(*a));
	a->sse = sse_parser_new(on_event, a);
	a->on_text = on_text;
	a->user = user;
	a->id = jv_null();
	a->model = jv_null();
	a->stop_reason = jv_null();
	a->stop_sequence = jv_null();
	return a;
}

void anth_assembler_free(struct anth_assembler *a)
{
	if (!a)
		return;
	sse_parser_free(a->sse);
	for (size_t i = 0; i < a->nblocks; i++) {
		block_clear(&a->blocks[i]);
		buf_free(&a->blocks[i].text);
	}
	free(a->blocks);
	jv_free(a->id);
	jv_free(a->model);
	jv_free(a->stop_reason);
	jv_free(a->stop_sequence);
	free(a->err);
	free(a->err_type);
	free(a);
}

int anth_assembler_feed(struct anth_assembler *a, const char *bytes, size_t n)
{
	if (a->err)
		return -1;
	return sse_feed(a->sse, bytes, n) ? -1 : 0;
}

/* Tool blocks still open here never got content_block_stop: their input
 * stays null, with what arrived kept as partial_json. */
int anth_assembler_finish(struct anth_assembler *a)
{
	if (a->err)
		return -1;
	int rc = sse_finish(a->sse);
	for (size_t i = 0; i < a->nblocks; i++)
		a->blocks[i].open = false;
	return rc ? -1 : 0;
}

bool anth_assembler_complete(const struct anth_assembler *a)
{
	return a->complete;
}

const char *anth_assembler_error(const struct anth_assembler *a)
{
	return a->err;
}

const char *anth_assembler_error_type(const struct anth_assembler *a)
{
	return a->err_type;
}

struct anth_usage anth_assembler_usage(const struct anth_assembler *a)
{
	return a->usage;
}

jv anth_assembler_message(const struct anth_assembler *a)
{
	jv content = jv_array();
	for (size_t i = 0; i < a->nblocks; i++) {
		const struct block *b = &a->blocks[i];
		/* An empty text block (a refusal has one) is left out: the API
		 * rejects it when the message is sent back in the history. */
		if (b->kind == BLOCK_NONE || (b->kind == BLOCK_TEXT && b->text.len == 0))
			continue;
		jv text = jv_string_sized(buf_str(&b->text), (int)b->text.len);
		if (b->kind == BLOCK_TEXT) {
			content = jv_array_append(content, text_block(text));
			continue;
		}
		jv t = JV_OBJECT(jv_string("type"), jv_string("tool_use"),
				 jv_string("id"), jv_copy(b->id),
				 jv_string("name"), jv_copy(b->name),
				 jv_string("input"), jv_copy(b->input));
		if (jv_get_kind(b->input) == JV_KIND_OBJECT)
			jv_free(text);
		else
			t = jv_object_set(t, jv_string("partial_json"), text);
		content = jv_array_append(content, t);
	}
	return JV_OBJECT(jv_string("id"), jv_copy(a->id),
			 jv_string("model"), jv_copy(a->model),
			 jv_string("role"), jv_string("assistant"),
			 jv_string("content"), content,
			 jv_string("stop_reason"), jv_copy(a->stop_reason),
			 jv_string("stop_sequence"), jv_copy(a->stop_sequence),
			 jv_string("usage"), anth_usage_to_json(&a->usage));
}
