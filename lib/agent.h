#ifndef BLLM_AGENT_H
#define BLLM_AGENT_H
/*
 * The agent loop: call the model, run the tools it asks for, send the
 * results back, repeat until it answers without a tool call or a limit
 * is reached. Every step is written as an event (lib/event.h).
 *
 * The run's outcome maps onto the protocol's status words and the exit
 * code table: completed 0, failed 1 (tests failed, review rejected, the
 * model refused), error 4 (API) or 5 (authentication), limit 6,
 * interrupted 130.
 */
#include <signal.h>
#include <stdbool.h>
#include <jv.h>

#include "anthropic.h"
#include "client.h"
#include "config.h"
#include "event.h"
#include "tools.h"
#include "workflow.h"

struct agent_limits {
	int max_turns;			/* API calls; default 50 */
	long max_tokens;		/* input + output over the run; 0 = no limit */
	double max_cost_usd;		/* 0 = no limit */
	int max_context_messages;	/* older messages are trimmed, the task kept; default 50 */
};

/*
 * Runs a tool call other than the built-in tools (the manager's workers).
 * block is the tool_use block (borrowed). Fills *result as tool_run does.
 */
typedef void (*agent_tool_fn)(void *user, jv block, struct tool_result *result);

struct agent_stop {
	const char *status;	/* static */
	int exit_code;
	char *reason;		/* malloc'd */
};

struct agent_opts {
	const struct agent_def *def;
	const char *model;
	long max_output_tokens;		/* max_tokens of each request */
	struct agent_limits limits;
	bool stream_deltas;		/* emit text_delta events */
	/* Optional: sees each text_delta event (borrowed) when stream_deltas
	 * is off, so a live view streams text the record does not carry. */
	event_tap_fn view_delta;
	void *view_user;
	bool prompt_cache;		/* cache_control on system, tools and conversation */
	struct tool_ctx tools;
	struct client *client;
	struct event_ctx *ev;
	jv prices;			/* borrowed price table (system_config "pricing") */
	volatile sig_atomic_t *interrupted;
	/* Optional: tool definitions (borrowed) and their executor, instead of
	 * the built-in tools named by tools.allowed. */
	jv custom_tools;
	agent_tool_fn custom_tool;
	void *custom_user;
	/* Optional: called once per turn with the turn's content blocks
	 * (borrowed), after the tool_use events of all its tool calls and
	 * before custom_tool is called for each of them in order: the manager
	 * runs independent workers at the same time here. */
	void (*custom_batch)(void *user, jv content);
	/* Optional: the tree's budget, checked after every call. */
	struct agent_budget *budget;
	/* Optional: called after the tool results of each turn. May set *note
	 * (malloc'd) to a message added for the model; returns true to stop the
	 * run with the status, exit code and reason (malloc'd) it set in *stop. */
	bool (*after_tool)(void *user, char **note, struct agent_stop *stop);
};

struct agent_outcome {
	const char *status;		/* static: "completed", "failed", ... */
	int exit_code;
	char *text;			/* the model's last text, control words stripped (lib/control.h; malloc'd) */
	char *error;			/* why it did not complete, or NULL (malloc'd) */
	const char *error_type;		/* static: network, api, auth, limit, ... or NULL */
	struct anth_usage usage;
	double cost_usd;
	bool cost_known;		/* every call's model had a price */
	int turns;
	long tokens_saved;		/* tokens of the replies served from the response cache */
	long duration_ms;
	jv files_changed;		/* array of workspace-relative paths */
	jv verification;		/* {"commands":[{command, exit_code, passed}], "verified",
					 *  "tests_passed", "tests_failed"} */
	char *verdict;			/* reviewer: "approved" / "changes_requested", or NULL */
};

/* Runs the agent on the first user message (consumed; a string). Fills *out. */
void agent_run(const struct agent_opts *opts, jv user_content, struct agent_outcome *out);
void agent_outcome_free(struct agent_outcome *out);

/* Fills *out for a run that never started (bad input, skipped upstream...). */
void agent_outcome_set(struct agent_outcome *out, const char *status, int exit_code,
		       const char *error);

/* The `result` event for an outcome (new reference). */
jv agent_result_event(const struct event_ctx *ev, const struct agent_outcome *out);

/* input + output + cache tokens of one usage. */
long agent_usage_tokens(const struct anth_usage *u);

/* The tool definitions for an agent's tool bits (new reference, an array). */
jv agent_tool_definitions(unsigned tools);

#endif
