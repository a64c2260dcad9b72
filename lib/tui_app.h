#ifndef BLLM_TUI_APP_H
#define BLLM_TUI_APP_H
/*
 * The interactive bllm's conversation and commands: the current session
 * (each task continues it, with the earlier turns as the manager's
 * context), and what /new, /resume, /model, /diff, /cost, /stats,
 * /agents, /sessions and /help do. Text for people goes to the stream
 * the caller gives (bllm: stdout); the run itself shows on the live view.
 */
#include <stdio.h>

#include "conversation.h"
#include "manager.h"
#include "tui.h"

struct tui_edit;

/* The longest conversation context (bytes) put before a new request. */
#define TUI_CONTEXT_MAX_CHARS CONVERSATION_CONTEXT_MAX_CHARS

struct tui_app {
	struct manager_opts *mo;	/* configured; its model and ids change here */
	const struct config *cfg;
	struct tui_edit *edit;		/* for the /resume picker's question */
	FILE *out;
	char *session_id;		/* the conversation going on, or NULL */
	char *model;			/* set by /model (malloc'd), or NULL */
	int width;			/* terminal columns, for the picker */
};

/* Runs a task (or "@agent task") as the next request of the conversation. */
void tui_app_task(struct tui_app *a, const char *task);

/*
 * Does a slash command (kind from tui_parse_line, arg its argument).
 * Returns false for /quit.
 */
bool tui_app_command(struct tui_app *a, enum tui_kind kind, const char *arg);

/* Forgets the current session: the next task starts a new one. */
void tui_app_new_session(struct tui_app *a);

void tui_app_free(struct tui_app *a);

#endif
