#ifndef BLLM_RENDER_H
#define BLLM_RENDER_H
/*
 * Readable, optionally coloured text for an event stream: an agent header
 * per run, the text it writes (streamed when text_delta events come), one
 * line per tool call and per tool result, retries and warnings, a cycle
 * counter, and a summary line per result. Used by bllm-render and by
 * bllm-manage's live view.
 */
#include <stdbool.h>
#include <stdio.h>
#include <jv.h>

struct render;

struct render *render_new(FILE *out, bool color, bool verbose);
/* Writes the lines for one event (borrowed). Unknown types are ignored. */
void render_event(struct render *r, jv ev);
/* Finishes a partly written line. A NULL r is allowed (nothing to do). */
void render_flush(struct render *r);
/* Where r writes. */
FILE *render_file(const struct render *r);
void render_free(struct render *r);

/* "12.3k" style token counts for summaries (into buf, returns buf). */
const char *render_tokens(long n, char buf[32]);

#endif
