#ifndef BLLM_USAGE_H
#define BLLM_USAGE_H
/*
 * Token usage as JSON, summed in one place: the four token counts of a
 * Messages API usage object, as the session summary, the ledger, the
 * metrics (stats), the logs (observe) and the live view (render) read
 * them. Pure.
 *
 * jv ownership: "consumes" means the function takes the reference,
 * "borrows" means the caller keeps it.
 */
#include <jv.h>

#include "anthropic.h"

#define USAGE_INPUT "input_tokens"
#define USAGE_OUTPUT "output_tokens"
#define USAGE_CACHE_CREATION "cache_creation_input_tokens"
#define USAGE_CACHE_READ "cache_read_input_tokens"

/* USAGE_INPUT, USAGE_OUTPUT, USAGE_CACHE_CREATION, USAGE_CACHE_READ, NULL. */
extern const char *const usage_keys[];

/* sum (consumed; an object) with each usage key of add (borrowed) added to it. */
jv usage_json_add(jv sum, jv add);
/* Every token of a usage object (borrowed): input, output and both cache counts. */
long usage_json_tokens(jv usage);
/* Every token of one call. */
long usage_tokens(const struct anth_usage *u);
/* The usage keys summed over the values of a ledger {AGENT: {...}} (borrowed). */
jv usage_ledger_total(jv ledger);

#endif
