#ifndef BLLM_RENDER_H
#define BLLM_RENDER_H
/*
 * Readable, optionally coloured text for an event stream: an agent header
 * per run, the text it writes (streamed when text_delta events come), one
 * line per tool call and per tool result, retries and warnings, a cycle
 * counter, and a summary line per result. Used by bllm-render, the live
 * view of bllm-manage and of the workers on a terminal, and the TUI.
 *
 * Text is shown by whole lines (streamed text is held until its line
 * ends), without the workflow's control words (lib/control.h).
 *
 * Thread safety: render writes under the FILE's lock (flockfile), so with
 * a status line on, only render_* and code holding that lock may write to
 * the same FILE; call render_flush before writing to it (or to the same
 * terminal through another FILE) without the renderer.
 */
#include <stdbool.h>
#include <stdio.h>
#include <jv.h>

struct render;

struct render *render_new(FILE *out, bool color, bool verbose);
/* Writes the lines for one event (borrowed). Unknown types are ignored. */
void render_event(struct render *r, jv ev);
/*
 * Takes the status line off the screen until the next event and flushes,
 * so the caller may write (a prompt, a summary). A NULL r is allowed.
 */
void render_flush(struct render *r);
/*
 * Turns on the status line (lib/statusline.h) at the bottom of the view, when
 * r writes to a terminal (otherwise nothing happens): redrawn in place
 * after every event and a few times a second by a thread of its own, never
 * part of the record, and gone at render_flush and render_free.
 */
void render_status_line(struct render *r, bool on);
/* The terminal's width in columns, asked at every call (80 when not a terminal). */
int render_width(const struct render *r);
/* Where r writes. */
FILE *render_file(const struct render *r);
/* Stops the status line (clearing it) and frees r. A NULL r is allowed. */
void render_free(struct render *r);

/* A blank line, then "files changed: a.c, b/c.h" (or "none") for a run's summary (files borrowed). */
void render_files_changed(struct render *r, jv files);

/* "12.3k" style token counts for summaries (into buf, returns buf). */
const char *render_tokens(long n, char buf[32]);

#endif
