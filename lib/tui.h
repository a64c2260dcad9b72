#ifndef BLLM_TUI_H
#define BLLM_TUI_H
/*
 * The interactive bllm's decisions, as pure functions: which command a
 * line is, what Tab completes, what Ctrl-C at the prompt does, how the
 * /resume picker, the /cost ledger and the /diff of the last run read.
 * bin/bllm.c and lib/tui_edit.c do the terminal I/O around them.
 *
 * jv ownership: every jv argument is borrowed; jv results are new
 * references owned by the caller.
 */
#include <stdbool.h>
#include <stddef.h>
#include <time.h>
#include <jv.h>

#include "buf.h"

enum tui_kind {
	TUI_EMPTY,	/* nothing but blanks */
	TUI_TASK,	/* a task for the manager, or "@agent task" */
	TUI_NEW, TUI_RESUME, TUI_MODEL, TUI_DIFF, TUI_COST, TUI_STATS, TUI_AGENTS,
	TUI_SESSIONS, TUI_HELP, TUI_QUIT,
	TUI_UNKNOWN,	/* a /word that is no command */
};

struct tui_command {
	const char *name;	/* "/resume" */
	enum tui_kind kind;
	const char *args;	/* "[ID]", or "" */
	const char *help;	/* one line */
};

/* The slash commands, in the order /help lists them; *n is their count. */
const struct tui_command *tui_commands(size_t *n);

/*
 * What a typed line is. *arg is set to the text after the command (blanks
 * skipped; "" when none) or, for a task, to the whole line without its
 * leading blanks. A command is recognised only as the whole first word
 * ("/resumex" is unknown); "/exit" is /quit.
 */
enum tui_kind tui_parse_line(const char *line, const char **arg);

enum tui_complete_kind { TUI_COMPLETE_NONE, TUI_COMPLETE_COMMANDS, TUI_COMPLETE_AGENTS,
			 TUI_COMPLETE_FILES };

/*
 * What Tab completes for the line up to the cursor (line[0..cursor)):
 * the word under the cursor is *word_start.. cursor. /commands when the
 * word is the line's first and starts with '/' (and has no other '/');
 * @agents when the first word starts with '@'; file names only when the
 * word looks like a path: it starts with ./, ../, /, ~/ or holds a '/'.
 * Anything else: nothing (a plain word is not a file name).
 */
enum tui_complete_kind tui_complete_kind(const char *line, size_t cursor, size_t *word_start);

/*
 * The completions of word among names (each matching name that starts
 * with word, in order, as a new array of strings). For agents, names are
 * the bare agent names and word starts with '@': the candidates keep the
 * '@'. *common (malloc'd) is the longest prefix shared by every
 * candidate (word itself when there are none).
 */
jv tui_complete_names(const char *word, const char *const *names, size_t n, char **common);

/*
 * Ctrl-C at the prompt. A line with text is dropped (CLEAR). On an empty
 * line the first Ctrl-C shows a hint (HINT) and a second one within
 * TUI_EXIT_WINDOW_S of it exits (EXIT). *last_hint holds the time of the
 * latest hint (0: none); now is a monotonic time in seconds.
 */
#define TUI_EXIT_WINDOW_S 2.0
enum tui_interrupt { TUI_INT_CLEAR, TUI_INT_HINT, TUI_INT_EXIT };
enum tui_interrupt tui_on_interrupt(bool line_empty, double now, double *last_hint);

/*
 * "42s ago", "5m ago", "3h ago", "2d ago" for an age in seconds
 * ("just now" under 5 s, "in the future" below 0). Into buf, returns buf.
 */
const char *tui_format_age(double seconds, char buf[32]);

/* Parses an RFC 3339 UTC time ("2026-11-25T20:30:00.123Z"). -1 when it is not one. */
int tui_parse_time(const char *s, time_t *out);

/*
 * The /resume picker: the newest max sessions (sessions: an array of
 * summaries, oldest first, as session_list gives), numbered from 1:
 * "  1  ID  AGE  STATUS  REQUEST" with the request on one line, cut to fit
 * width. now is the current time. Returns how many were listed.
 */
int tui_format_resume_list(struct buf *out, jv sessions, time_t now, int max, int width);

/*
 * The session ID a picker answer names (malloc'd): a number from 1 to the
 * count listed (of the same sessions and max), else NULL.
 */
char *tui_pick_session(jv sessions, int max, const char *answer);

/*
 * Whether /resume ID runs the session's last request again (it was cut
 * short: interrupted, timeout, limit, error, incomplete) rather than only
 * making it the current conversation (completed or failed).
 */
bool tui_resume_reruns(const char *status);

/*
 * The /cost view of a session summary's ledger: one row per agent with
 * calls, input, output, cache-read tokens and cost, then a total.
 */
void tui_format_ledger(struct buf *out, jv summary);

/*
 * What the last request of a session changed, from its journal (events,
 * an array): the diffs of its Write and Edit results, in order, as
 * {"path", "diff"} (their "diff" field, the path their files_changed
 * names first, else "") and the files they and the run's results name in files_changed
 * (each once). The last request starts at the journal's last top-level
 * manager "task" event. Sets *diffs and *files (new arrays of strings).
 */
void tui_last_run_changes(jv events, jv *diffs, jv *files);

/*
 * The intervention prompt at a moment of its countdown: the number in its
 * "(continuing in Ns)" replaced by seconds (malloc'd; an unchanged copy
 * when the prompt has no countdown).
 */
char *tui_countdown_prompt(const char *prompt, long seconds);

#endif
