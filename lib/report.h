#ifndef BLLM_REPORT_H
#define BLLM_REPORT_H
/*
 * A run's report in Markdown (`bllm-render --format markdown`), for a CI
 * job summary: a heading with the outcome, the task, the per-agent ledger
 * (calls, turns, tokens, cost), the verification commands with their exit
 * codes, and the files changed. Pure: events in, text out.
 */
#include <jv.h>

#include "buf.h"

struct report;

struct report *report_new(void);

/*
 * Takes in one event (borrowed). Uses the first task, the top-level
 * result (parent_id null; the last one wins), every result's
 * files_changed, and the workers' results (for a stream without a
 * manager ledger or verification). Other events are ignored.
 */
void report_add(struct report *r, jv event);

/* Appends the Markdown report of what was taken in so far to out. */
void report_markdown(const struct report *r, struct buf *out);

void report_free(struct report *r);

#endif
