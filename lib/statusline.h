#ifndef BLLM_STATUSLINE_H
#define BLLM_STATUSLINE_H
/*
 * The status line of a run: who is working, the rework cycle, turns,
 * tokens, cost and elapsed time, and a spinner ("planner thinking… 3s")
 * while an agent waits for the first token of a reply. Used by the live
 * view (lib/render.c) and the terminal UI.
 *
 * Pure: statusline_update folds one event at a time into a struct statusline, and
 * statusline_format turns it into one line of text. No I/O, no clock of its
 * own: callers pass `now` (seconds, any monotonic origin), so both are
 * unit-tested with made-up times. Drawing the line (keeping it at the
 * bottom of the terminal, redrawing it every tick) is render.c's job.
 */
#include <stdbool.h>
#include <jv.h>

#include "buf.h"

struct statusline {
	bool active;		/* a run has started (init) and not ended (top-level result) */
	char agent[32];		/* the agent working now */
	char cycle[48];		/* "Review 1/3", or "" before any cycle */
	bool waiting;		/* a model call is out and no token of it came yet */
	double waiting_since;	/* when that call went out */
	double started;		/* when the run began */
	int turns;		/* model calls made, the whole tree */
	long tokens;		/* input + output + cache tokens, the whole tree */
	double cost_usd;	/* the whole tree */
};

/* An inactive status (nothing to show until an init event comes). */
void statusline_init(struct statusline *s);

/*
 * Folds one event (borrowed) seen at time now into s: init starts the run
 * (or a worker's part of it) and a wait for the model; text, text_delta
 * and tool_use end the wait; tool_result starts the next wait; usage adds
 * a turn, its tokens and cost; worker_start hands the line to the worker,
 * worker_end back to the manager; cycle sets the cycle; the result of the
 * top-level run (parent_id null) ends it.
 */
void statusline_update(struct statusline *s, jv ev, double now);

/*
 * Appends the line for s at time now, at most width display columns
 * (no newline; nothing for an inactive status). With color, the spinner
 * and the agent are styled and the rest dimmed; without, no escapes.
 * Example: "⠹ planner thinking… 3s · Review 1/3 · 4 turns · 12.3k tokens · $0.0123 · 1m05s"
 */
void statusline_format(const struct statusline *s, double now, int width, bool color, struct buf *out);

/* "42s", "1m05s", "2h03m": elapsed time for people (into buf, returns buf). */
const char *statusline_elapsed(double seconds, char buf[32]);

#endif
