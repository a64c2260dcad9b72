#ifndef BLLM_CONVERSATION_H
#define BLLM_CONVERSATION_H
/*
 * A session as a conversation: several requests, one after the other, in
 * one session (the TUI's follow-up tasks). The manager sees the earlier
 * requests and their results as text before the new request
 * (manager_opts.context), and the session's summary keeps one entry per
 * request in "turns", with the totals (ledger, usage, cost, turns,
 * messages) summed over them.
 *
 * A turn, as stored in summary.turns:
 *   {"request", "status", "exit_code", "text", "created_at",
 *    "completed_at", "total_turns", "total_cost_usd", "usage", "ledger",
 *    "agents_used", "first_message"}
 * first_message is the index in summary.messages where the turn's
 * messages start.
 *
 * Everything here is pure. jv ownership is written on each function.
 */
#include <stddef.h>
#include <jv.h>

/* How much of the earlier turns a new request carries, in bytes. */
#define CONVERSATION_CONTEXT_MAX_CHARS 32000

/*
 * The turns of a session summary (borrowed): its "turns" array, or for a
 * summary saved without one, a single turn made from the summary itself.
 * A new reference; [] when summary is not an object.
 */
jv conversation_turns(jv summary);

/*
 * The text put before a new request so the manager knows the earlier
 * turns (borrowed): each turn's request and result, oldest first. When
 * they do not all fit in max_chars, the newest turns are kept and a line
 * says how many earlier ones were left out; one long request or result
 * is cut (its start kept). Ends with a heading for the new request, so
 * the caller appends the request itself. NULL (nothing to say) when
 * there are no turns. malloc'd.
 */
char *conversation_context(jv turns, size_t max_chars);

/*
 * The summary of a session that goes on: current (consumed) is the
 * summary of the run that just ended, previous (consumed; null or
 * invalid when there was none) the session's summary before it. The
 * current run becomes turn number at (0-based) and turns from at on in
 * previous are dropped (a resumed turn replaces its earlier attempt);
 * at < 0 appends. The result is current with turns, messages, totals,
 * agents_used, created_at and user_request (the first request) covering
 * every turn. New reference.
 */
jv conversation_merge_summary(jv previous, jv current, int at);

#endif
