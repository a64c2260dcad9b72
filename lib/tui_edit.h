#ifndef BLLM_TUI_EDIT_H
#define BLLM_TUI_EDIT_H
/*
 * The interactive bllm's terminal side: a line editor over libedit (emacs
 * keys, history kept in a file, Tab completion as lib/tui.h decides,
 * Ctrl-N and Ctrl-C reported to the caller).
 * It writes only to the streams it is given. Only bllm links it (libedit).
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct tui_edit;

struct tui_edit_opts {
	const char *prog;
	const char *history_path;	/* loaded at start, saved by tui_edit_free; or NULL */
	const char *const *agents;	/* names @ completes (borrowed, for the editor's life) */
	size_t n_agents;
	const char *root;		/* relative file names complete from here */
	volatile sig_atomic_t *signals;	/* SIGINT/SIGTERM count (cli_install_signals) */
};

struct tui_edit *tui_edit_new(FILE *in, FILE *out, const struct tui_edit_opts *o);
/* Saves the history. A NULL e is allowed. */
void tui_edit_free(struct tui_edit *e);

enum tui_read {
	TUI_READ_LINE,		/* *line is the line typed (malloc'd, no newline) */
	TUI_READ_EOF,		/* Ctrl-D on an empty line, or the input ended */
	TUI_READ_NEW,		/* Ctrl-N */
	TUI_READ_INTERRUPT,	/* Ctrl-C; *line_empty says whether the line had text */
};

/*
 * Reads one line at prompt. A line with text is added to the history
 * when add_history is set.
 */
enum tui_read tui_edit_read(struct tui_edit *e, const char *prompt, bool add_history, char **line,
			    bool *line_empty);

#endif
