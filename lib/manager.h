#ifndef BLLM_MANAGER_H
#define BLLM_MANAGER_H
/*
 * The orchestrated run behind bllm-manage: a manager agent whose tools are
 * the worker agents, each run as a separate process (bllm-agent NAME) that
 * the manager forks and pipes events through.
 *
 * The program, not the prompt, enforces the limits: review cycles
 * (reviewer -> coder), test cycles (tester -> coder), coder retries, the
 * per-worker timeouts, and the tree's budget of turns, tokens and cost.
 * Every event goes to the output, the session journal and (optionally) a
 * live view for people; the session summary is saved however the run
 * ends. The final status is completed only when the work was verified.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>

#include "agent.h"
#include "config.h"

struct cache;

struct manager_opts {
	const struct config *cfg;
	const char *config_path;	/* absolute path of the agent config, for the workers */
	const char *root;		/* canonical workspace root */
	const char *worker_program;	/* path of bllm-agent */
	const char *model;		/* the manager's model, or NULL for its config's */
	struct agent_budget budget;	/* limits of the whole tree (the counts start at 0) */
	int max_turns;			/* the manager's own turns (workflow_limits.max_turns) */
	int max_parallel;		/* workers run at once (workflow_limits.max_parallel_workers) */
	/*
	 * A person at a terminal, or NULL: shows prompt, waits up to timeout_s
	 * for a line, and returns true with it in answer (without its newline),
	 * false when nobody answered. cli_ask is the terminal's.
	 */
	bool (*ask)(const char *prompt, double timeout_s, char *answer, size_t size);
	double intervention_wait_s;
	bool live_view;			/* readable progress on view_out */
	FILE *view_out;			/* where the live view goes: NULL means stderr */
	bool color;
	bool verbose;
	bool stream_deltas;
	const char *sessions_dir;
	bool compress;			/* summary as .json.gz */
	const char *resume_id;		/* continue this session, or NULL */
	/*
	 * A conversation (lib/conversation.h): continue_id makes this run the
	 * next request of that saved session (its journal and summary grow;
	 * NULL: a new session); context, when not NULL, is put before the
	 * request the manager model sees (the earlier turns, as
	 * conversation_context writes them). Both borrowed.
	 */
	const char *continue_id;
	const char *context;
	int out_fd;			/* the event stream, or -1 for none */
	volatile sig_atomic_t *signals;	/* SIGINT/SIGTERM count */
	struct cache *cache;		/* the manager's response cache, or NULL */
	bool no_cache;			/* and the workers are told not to use theirs */
	const char *sandbox;		/* --sandbox MODE passed on to every worker, or NULL */
	/* Told at once of a failure the run cannot record (a journal write), or NULL. */
	void (*notice)(const char *message);
};

struct manager_outcome {
	int exit_code;
	char *status;			/* completed, failed, ... */
	char *error;			/* one line when not completed, or NULL */
	char *session_id;
	char *summary_path;		/* where the summary was saved, or NULL */
	bool shown;			/* the live view already told the person */
};

/*
 * Fills the fields that come from the config: cfg, max_turns, the
 * intervention wait, sessions_dir (unless already set) and compress.
 */
void manager_opts_configure(struct manager_opts *o, const struct config *cfg);

/* Runs the request (or resumes). Fills *out; returns out->exit_code. */
int manager_run(const struct manager_opts *o, const char *request, struct manager_outcome *out);
void manager_outcome_free(struct manager_outcome *out);

#endif
