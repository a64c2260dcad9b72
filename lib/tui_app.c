#include "tui_app.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cli.h"
#include "conversation.h"
#include "diff.h"
#include "json.h"
#include "observe.h"
#include "session.h"
#include "tui_edit.h"

/* How many sessions the /resume picker offers. */
#define PICKER_MAX 10

static void set_session(struct tui_app *a, const char *id)
{
	char *copy = id ? xstrdup(id) : NULL;
	free(a->session_id);
	a->session_id = copy;
}

/*
 * Runs the manager on request (or resumes). The earlier turns of the
 * current session (all of them, or all but the last when that one is
 * resumed) become the manager's context.
 */
static void run(struct tui_app *a, const char *request, const char *resume_id)
{
	char *context = NULL;
	if (a->session_id) {
		jv summary;
		char *err = NULL;
		if (session_get(a->mo->sessions_dir, a->session_id, &summary, &err) == 0) {
			jv turns = conversation_turns(summary);
			int n = jv_array_length(jv_copy(turns));
			if (resume_id)
				turns = jv_array_slice(turns, 0, n > 0 ? n - 1 : 0);
			context = conversation_context(turns, TUI_CONTEXT_MAX_CHARS);
			jv_free(turns);
			jv_free(summary);
		} else {
			fprintf(a->out, "bllm: %s; starting a new session\n", err);
			free(err);
			set_session(a, NULL);
		}
	}
	a->mo->model = a->model;
	a->mo->resume_id = resume_id;
	a->mo->continue_id = resume_id ? NULL : a->session_id;
	a->mo->context = context;
	if (a->mo->signals)
		*a->mo->signals = 0;
	fflush(a->out);
	struct manager_outcome res;
	manager_run(a->mo, request, &res);
	if (res.error && !res.shown)
		fprintf(stderr, "bllm: %s\n", res.error);
	if (res.session_id)
		set_session(a, res.session_id);
	manager_outcome_free(&res);
	if (a->mo->signals)
		*a->mo->signals = 0;
	a->mo->context = NULL;
	a->mo->continue_id = NULL;
	a->mo->resume_id = NULL;
	free(context);
}

void tui_app_task(struct tui_app *a, const char *task)
{
	run(a, task, NULL);
}

void tui_app_new_session(struct tui_app *a)
{
	set_session(a, NULL);
	fprintf(a->out, "new session: the next task starts a new conversation\n");
}

static void help(struct tui_app *a)
{
	size_t n;
	const struct tui_command *c = tui_commands(&n);
	fprintf(a->out, "  %-16s %s\n  %-16s %s\n", "TASK", "run the task with the manager; the next task continues the conversation",
		"@AGENT TASK", "run one worker directly, e.g. @coder add a refund() function");
	for (size_t i = 0; i < n; i++) {
		char name[32];
		snprintf(name, sizeof name, "%s%s%s", c[i].name, *c[i].args ? " " : "", c[i].args);
		fprintf(a->out, "  %-16s %s\n", name, c[i].help);
	}
	fprintf(a->out, "  Keys: Tab completes /commands, @agents and paths (./ / ~/ dir/); Ctrl-N new session;\n"
			"  Ctrl-C stops a run (saved), clears the line, twice on an empty line exits; Ctrl-D exits.\n");
}

/* Makes id (a unique prefix) the conversation; runs its last request again when it was cut short. */
static void resume(struct tui_app *a, const char *given)
{
	char *id = NULL, *err = NULL;
	jv summary;
	if (session_resolve_id(a->mo->sessions_dir, given, &id, &err) < 0 ||
	    session_get(a->mo->sessions_dir, id, &summary, &err) < 0) {
		fprintf(a->out, "bllm: %s\n", err);
		free(err);
		free(id);
		return;
	}
	set_session(a, id);
	jv result = json_get(summary, "result");
	const char *status = json_str(result, "status");
	jv turns = conversation_turns(summary);
	int n = jv_array_length(turns);
	if (tui_resume_reruns(status)) {
		fprintf(a->out, "resuming session %s: its last request ended %s\n", id, status ? status : "-");
		run(a, "", id);
	} else {
		fprintf(a->out, "session %s (%d request%s, the last %s): the next task continues it\n", id, n,
			n == 1 ? "" : "s", status ? status : "-");
	}
	jv_free(result);
	jv_free(summary);
	free(id);
}

/* /resume without an ID: the recent sessions, numbered, and a question. */
static void pick(struct tui_app *a)
{
	jv list;
	char *err = NULL;
	if (session_list(a->mo->sessions_dir, &list, &err) < 0) {
		fprintf(a->out, "bllm: %s\n", err);
		free(err);
		return;
	}
	struct buf b = BUF_INIT;
	int shown = tui_format_resume_list(&b, list, time(NULL), PICKER_MAX, a->width > 40 ? a->width : 80);
	if (shown == 0) {
		fprintf(a->out, "no saved sessions yet\n");
	} else {
		fprintf(a->out, "%s", b.data);
		char *line = NULL;
		bool empty;
		char question[64];
		snprintf(question, sizeof question, "resume which? [1-%d, Enter: none] ", shown);
		fflush(a->out);
		if (tui_edit_read(a->edit, question, false, &line, &empty) == TUI_READ_LINE && !empty) {
			char *id = tui_pick_session(list, PICKER_MAX, line);
			if (id)
				resume(a, id);
			else
				fprintf(a->out, "no session numbered \"%s\"; /resume shows the list again\n", line);
			free(id);
		}
		free(line);
	}
	buf_free(&b);
	jv_free(list);
}

static void diff(struct tui_app *a)
{
	jv events;
	char *err = NULL;
	if (!a->session_id) {
		fprintf(a->out, "no run yet in this session\n");
		return;
	}
	if (session_read_journal(a->mo->sessions_dir, a->session_id, &events, &err) < 0) {
		fprintf(a->out, "bllm: %s\n", err);
		free(err);
		return;
	}
	jv diffs, files;
	tui_last_run_changes(events, &diffs, &files);
	jv_array_foreach(diffs, i, d) {
		struct buf b = BUF_INIT;
		diff_render(json_str(d, "path"), json_str(d, "diff"), a->mo->color, 0, &b);
		fputs(buf_str(&b), a->out);
		buf_free(&b);
		jv_free(d);
	}
	if (jv_array_length(jv_copy(diffs)) == 0) {
		struct buf b = BUF_INIT;
		jv_array_foreach(files, i, f) {
			buf_printf(&b, "%s%s", i ? ", " : "", jv_string_value(f));
			jv_free(f);
		}
		fprintf(a->out, b.len ? "files changed by the last run: %s\n" : "the last run changed no files%s\n",
			buf_str(&b));
		buf_free(&b);
	}
	jv_free(diffs);
	jv_free(files);
	jv_free(events);
}

static void cost(struct tui_app *a)
{
	jv summary;
	char *err = NULL;
	if (!a->session_id) {
		fprintf(a->out, "no run yet in this session\n");
		return;
	}
	if (session_get(a->mo->sessions_dir, a->session_id, &summary, &err) < 0) {
		fprintf(a->out, "bllm: %s\n", err);
		free(err);
		return;
	}
	struct buf b = BUF_INIT;
	tui_format_ledger(&b, summary);
	jv turns = conversation_turns(summary);
	int n = jv_array_length(turns);
	fprintf(a->out, "session %s, %d request%s:\n%s", a->session_id, n, n == 1 ? "" : "s", b.data);
	buf_free(&b);
	jv_free(summary);
}

/* Runs bllm-stats (a sibling program) with args, and waits for it. */
static void stats_program(const struct config *cfg, const char *command)
{
	char *prog = cli_sibling_program("bllm-stats");
	pid_t pid = fork();
	if (pid == 0) {
		if (command)
			execl(prog, prog, command, "--log-dir", observe_log_dir(cfg), (char *)NULL);
		else
			execl(prog, prog, "--log-dir", observe_log_dir(cfg), (char *)NULL);
		perror(prog);
		_exit(127);
	}
	if (pid < 0)
		perror("bllm: fork");
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(prog);
}

static void sessions(struct tui_app *a)
{
	jv list;
	char *err = NULL;
	if (session_list(a->mo->sessions_dir, &list, &err) < 0) {
		fprintf(a->out, "bllm: %s\n", err);
		free(err);
		return;
	}
	struct buf b = BUF_INIT;
	session_format_list(&b, list, a->mo->color);
	fputs(b.len ? b.data : "  no sessions yet\n", a->out);
	buf_free(&b);
	jv_free(list);
}

bool tui_app_command(struct tui_app *a, enum tui_kind kind, const char *arg)
{
	switch (kind) {
	case TUI_QUIT:
		return false;
	case TUI_NEW:
		tui_app_new_session(a);
		break;
	case TUI_RESUME:
		if (*arg)
			resume(a, arg);
		else
			pick(a);
		break;
	case TUI_MODEL:
		if (*arg) {
			free(a->model);
			a->model = xstrndup(arg, strcspn(arg, " \t"));
			fprintf(a->out, "model for the next runs: %s\n", a->model);
		} else {
			const struct agent_def *m = config_agent(a->cfg, "manager");
			fprintf(a->out, "model: %s\n", a->model ? a->model : m && m->model ? m->model
					: config_string(a->cfg, "api.model", "claude-sonnet-4-5"));
		}
		break;
	case TUI_DIFF:
		diff(a);
		break;
	case TUI_COST:
		cost(a);
		break;
	case TUI_STATS:
		fflush(a->out);
		stats_program(a->cfg, NULL);
		stats_program(a->cfg, "errors");
		break;
	case TUI_AGENTS:
		for (int i = 0; i < a->cfg->n_agents; i++)
			fprintf(a->out, "  %-10s %s\n", a->cfg->agents[i].name, a->cfg->agents[i].role);
		break;
	case TUI_SESSIONS:
		sessions(a);
		break;
	case TUI_HELP:
		help(a);
		break;
	case TUI_UNKNOWN:
		fprintf(a->out, "unknown command %.*s; /help lists them\n", (int)strcspn(arg, " \t"), arg);
		break;
	case TUI_TASK:
		tui_app_task(a, arg);
		break;
	case TUI_EMPTY:
		break;
	}
	fflush(a->out);
	return true;
}

void tui_app_free(struct tui_app *a)
{
	free(a->session_id);
	free(a->model);
	a->session_id = a->model = NULL;
}
