#ifndef BLLM_ANTHROPIC_H
#define BLLM_ANTHROPIC_H
/*
 * The Anthropic Messages API: streaming response assembly, request
 * building, usage and cost, error classification and retry delays.
 * This file is pure (no I/O); lib/client.h does the HTTP calls.
 *
 * jv ownership: "consumes" means the function takes the reference,
 * "borrows" means the caller keeps it.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

struct anth_usage {
	long input_tokens;
	long output_tokens;
	long cache_creation_input_tokens;
	long cache_read_input_tokens;
};

/* Called with each text_delta as it arrives (not NUL-terminated). */
typedef void (*anth_text_fn)(const char *text, size_t len, void *user);

/*
 * Assembles one streamed reply from its SSE bytes into a message object
 * shaped like the API's non-streaming reply:
 *
 *   {"id", "model", "role":"assistant", "content":[...], "stop_reason",
 *    "stop_sequence", "usage":{"input_tokens","output_tokens",
 *    "cache_creation_input_tokens","cache_read_input_tokens"}}
 *
 * content holds text blocks {"type":"text","text"} and tool_use blocks
 * {"type":"tool_use","id","name","input"} in index order; empty text
 * blocks are left out (the API rejects them in a request). Block types the
 * assembler does not know (e.g. "fallback", "thinking") are left out, as
 * are unknown event kinds and unknown fields. A tool_use whose
 * input_json_delta pieces do not join into a complete JSON object (the
 * stream stopped at max_tokens, or was cut) gets "input": null and
 * "partial_json": the raw text received, so it is never executed.
 * usage takes message_start's figures, updated by each message_delta.
 */
struct anth_assembler;

struct anth_assembler *anth_assembler_new(anth_text_fn on_text, void *user);
/*
 * Feeds raw response bytes (any chunking). Returns 0, or -1 when the
 * stream is unusable: an SSE "error" event (its message is kept, see
 * anth_assembler_error), a data line that is not a JSON object, or a
 * content_block_* event without a usable "index". After -1 the assembler
 * stays failed: later calls return -1 and change nothing.
 */
int anth_assembler_feed(struct anth_assembler *a, const char *bytes, size_t n);
/* End of the byte stream. Returns 0 or -1 as above. */
int anth_assembler_finish(struct anth_assembler *a);
/* True once message_stop has been seen. */
bool anth_assembler_complete(const struct anth_assembler *a);
/* The stream's error message, or NULL. For an API "error" event, the
 * error's type is in anth_assembler_error_type (e.g. "overloaded_error"). */
const char *anth_assembler_error(const struct anth_assembler *a);
const char *anth_assembler_error_type(const struct anth_assembler *a);
/* The message so far (a new reference). Valid at any point. */
jv anth_assembler_message(const struct anth_assembler *a);
struct anth_usage anth_assembler_usage(const struct anth_assembler *a);
void anth_assembler_free(struct anth_assembler *a);

/* Reads a usage object ({"input_tokens",...}; borrows u); missing = 0. */
struct anth_usage anth_usage_from_json(jv u);
jv anth_usage_to_json(const struct anth_usage *u);
void anth_usage_add(struct anth_usage *sum, const struct anth_usage *u);

/*
 * Cost in US dollars from a price table (borrows prices):
 *   {"MODEL": {"input": $/Mtok, "output": .., "cache_write": .., "cache_read": ..}}
 * A model is found by exact name, then by the longest key that is a
 * prefix of it ("claude-sonnet-4" prices "claude-sonnet-4-5-20250929").
 * Returns false (and *cost = 0) when the model is not in the table.
 */
bool anth_cost_usd(jv prices, const char *model, const struct anth_usage *u, double *cost);

/* A model's prices in $ per million tokens. */
struct anth_price {
	double input, output, cache_write, cache_read;
};
/* The model's prices from the table (borrowed), found as anth_cost_usd
 * finds them; false (and *p zeroed) when the model has no price. */
bool anth_price(jv prices, const char *model, struct anth_price *p);

struct retry_policy {
	int max_attempts;	/* total attempts, >= 1 (worker_retry_max_attempts) */
	double base_delay_s;	/* worker_retry_base_delay */
	double max_delay_s;	/* worker_retry_max_delay */
	double jitter;		/* worker_retry_jitter: +-fraction of the delay */
	bool exponential;	/* worker_retry_exponential */
	double retry_after_max_s;	/* retry_after_max: the longest Retry-After honoured (0: max_delay_s) */
};

/* True for the HTTP statuses worth retrying: 408, 409, 429, 5xx (529 too). */
bool anth_status_retryable(long http_status);

/*
 * Milliseconds to wait before attempt number `attempt` + 1 (attempt counts
 * from 1). base * 2^(attempt-1) when exponential (else base), capped at
 * max, spread by jitter using rand01 in [0,1). A Retry-After of
 * retry_after_ms >= 0 takes precedence, capped at retry_after_max_s (at
 * max_delay_s when that is lower or 0).
 */
long anth_retry_delay_ms(const struct retry_policy *p, int attempt, long retry_after_ms, double rand01);

/*
 * Builds a request body (consumes system, tools and messages):
 * {"model","max_tokens","system":[{"type":"text","text"}],"tools","messages","stream"}.
 * tools may be jv_null() or an empty array (left out). With cache_control,
 * the system block, the last tool and the last content block of the last
 * message carry {"cache_control":{"type":"ephemeral"}} so each turn reads
 * the stable prefix from the provider's prompt cache.
 */
jv anth_request_new(const char *model, long max_tokens, jv system, jv tools, jv messages,
		    bool stream, bool cache_control);

#endif
