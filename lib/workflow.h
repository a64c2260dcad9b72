#ifndef BLLM_WORKFLOW_H
#define BLLM_WORKFLOW_H
/*
 * The workflow's rules, pure (no I/O, no processes, no clock): which
 * worker call starts which rework cycle and when a limit refuses it, loop
 * detection, what a run's commands verified, the run's final status and
 * exit code, the budget check before each API call (with reservations for
 * calls made side by side), and resume's replay matching. lib/manager.c
 * and lib/agent.c do the processes and the events around these decisions;
 * tests/unit/test_workflow.c pins each rule.
 *
 * jv ownership: "borrows" means the caller keeps the reference; functions
 * returning jv return a new reference.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

#include "anthropic.h"
#include "status.h"

enum wf_cycle_kind {
	WF_CYCLE_NONE,
	WF_CYCLE_REVIEW,	/* coder after reviewer */
	WF_CYCLE_TEST,		/* coder after tester */
	WF_CYCLE_CODER_RETRY,	/* coder after a coder that did not complete */
	WF_CYCLE_KINDS
};

/* One rework cycle a worker call would start. */
struct wf_cycle {
	enum wf_cycle_kind kind;	/* WF_CYCLE_NONE: the call starts no cycle */
	const char *name;		/* "review", "test", "coder_retry" (the cycle event's kind) */
	const char *label;		/* "Review", "Test", "Coder retry" */
	const char *setting;		/* "max_review_iterations", ... (workflow_limits.*) */
	int n;				/* the number this call would be */
	int max;
	bool refused;			/* n > max: the limit refuses the call */
};

/* A worker call's outcome as the workflow sees it. */
struct wf_stop {
	enum run_status status;
	int exit_code;
	char *reason;			/* malloc'd */
};

struct workflow {
	int count[WF_CYCLE_KINDS];
	int max[WF_CYCLE_KINDS];
	char last_worker[32];		/* "" before the first worker call */
	enum run_status last_status;
	char *last_call;		/* worker and task of the last call */
	char *last_outcome;		/* its status and text */
	bool changed;			/* some worker changed a file */
	bool commands_ran;		/* some worker ran a command */
	bool pending;			/* files changed after the last passing check */
	jv verification;		/* the latest verification with commands, or null */
	bool stopped;
	struct wf_stop stop;		/* the first stop decided, when stopped */
};

/* A fresh run with the limits of workflow_limits (max_review_iterations,
 * max_retry_cycles, max_coder_retries). */
void workflow_init(struct workflow *w, int max_review, int max_test, int max_coder_retries);
void workflow_free(struct workflow *w);

/*
 * The cycle a call of worker would start, from the previous worker call
 * alone (never from the words of its verdict): coder after reviewer is a
 * review cycle, coder after tester a test cycle, coder after a coder that
 * did not complete a coder retry. refused when it would pass the limit.
 */
struct wf_cycle workflow_cycle(const struct workflow *w, const char *worker);
/* Counts the cycle (the caller announces it with a `cycle` event). */
void workflow_cycle_start(struct workflow *w, const struct wf_cycle *c);
/*
 * A call of worker was admitted beside the next calls of its turn (they
 * run at the same time): those see it as the previous worker call, and as
 * finished, as if the calls were made one after another in the order
 * asked (siblings are not retries of one another). workflow_record then
 * records what really happened, in the same order.
 */
void workflow_call_admitted(struct workflow *w, const char *worker);
/* A person allowed one more cycle of c's kind past the limit. */
void workflow_allow_one_more(struct workflow *w, const struct wf_cycle *c);
/* "Review cycle limit reached: 3 of 3 cycles (workflow_limits.max_review_iterations)" (malloc'd). */
char *workflow_cycle_refusal(const struct wf_cycle *c);

/*
 * Takes a finished worker call (result borrowed: a result event) into the
 * run: the cycle state, the verification state, and loop detection.
 * Returns NULL, or (malloc'd) the message naming the repetition when the
 * manager called the same worker with the same task twice in a row and it
 * finished the same way both times (the run must stop: limit, exit 6).
 */
char *workflow_record(struct workflow *w, const char *worker, const char *task, jv result);

/* Records the run's first stop (reason consumed); later ones are dropped. */
void workflow_set_stop(struct workflow *w, enum run_status status, int exit_code, char *reason);

/* True when the changes were checked by passing commands made after them. */
bool workflow_verified(const struct workflow *w);
/*
 * The run's verification (new reference): the latest verification with
 * commands, with "verified" for the whole run; {"verified": null,
 * "reason": "nothing to verify"} when no file changed and nothing ran.
 */
jv workflow_verification(const struct workflow *w);

struct wf_outcome {
	enum run_status status;
	int exit_code;
	char *error;			/* malloc'd, or NULL when completed */
};

/*
 * The run's final word from the manager agent's own outcome (status,
 * exit code, error or NULL) and the workflow: a stop decided by the
 * workflow wins over a completed manager; a completed run is completed
 * (exit 0) when its changes were verified or there was nothing to verify,
 * and failed (exit 1, naming why) when changes went unchecked or the last
 * checks failed.
 */
void workflow_judge(const struct workflow *w, enum run_status status, int exit_code,
		    const char *error, struct wf_outcome *out);

/*
 * What one agent run's commands verified. Commands and file changes are
 * noted in the order they happened.
 */
struct wf_checks {
	jv commands;			/* [{command, exit_code, passed[, timed_out]}] */
	int after_change;		/* commands since the last file change */
	int after_change_passed;
	bool changed;
};
void wf_checks_init(struct wf_checks *c);
void wf_checks_free(struct wf_checks *c);
void wf_checks_command(struct wf_checks *c, const char *command, int exit_code, bool timed_out);
/* files (borrowed) are the paths a tool changed; an empty array changes nothing. */
void wf_checks_change(struct wf_checks *c, jv files);
/*
 * {"commands", "verified", "tests_passed", "tests_failed"} (new
 * reference), or null when no command ran and always is false. verified is
 * true when commands ran after the last change (all of them, when nothing
 * changed) and all of those passed.
 */
jv wf_checks_verification(const struct wf_checks *c, bool always);

/* Same tool call (name, case-insensitive, and input) made again and again. */
#define WF_REPEAT_LIMIT 3
struct wf_repeat {
	char *key;
	int count;
};
/* Notes a tool call (input borrowed); returns how many times in a row it was made. */
int wf_repeat_note(struct wf_repeat *r, const char *name, jv input);
void wf_repeat_free(struct wf_repeat *r);

/*
 * Usage shared by a tree of runs (the manager and its workers, or calls
 * made side by side): each call reserves its worst case before it starts
 * and settles what it really spent when it ends.
 */
struct agent_budget {
	int max_turns;		/* 0 = no limit */
	long max_tokens;	/* 0 = no limit */
	double max_cost_usd;	/* 0 = no limit */
	int turns;
	long tokens;
	double cost_usd;
	int reserved_turns;	/* calls started and not yet settled */
	long reserved_tokens;
	double reserved_cost_usd;
};

/* The smallest reply worth asking for when a budget lowers max_tokens. */
#define WF_MIN_REPLY_TOKENS 1024

/* A call's worst case, as the budget check planned it. */
struct wf_call_plan {
	long max_tokens;	/* the call's max_tokens (lowered when the budget asked) */
	long tokens;		/* input estimate + max_tokens */
	double cost_usd;	/* the worst case of those tokens at the model's price */
	int turns;		/* turns it may take: 0 or 1 for an API call, a worker's
				 * whole --max-turns for a worker call (lib/parallel.h) */
};

enum wf_call_verdict { WF_CALL_OK, WF_CALL_LOWERED, WF_CALL_REFUSED };

/* A request of this many bytes holds at most this many input tokens
 * (two bytes a token: below any real tokenizer's average). */
long wf_input_tokens_estimate(size_t request_bytes);

/*
 * The budget check before an API call of input_tokens (an estimate) and
 * max_tokens, priced at price (NULL: the model has no price). Fills *plan.
 * OK: it fits. LOWERED: plan->max_tokens is what the remainder pays for
 * (at least WF_MIN_REPLY_TOKENS). REFUSED: *why (malloc'd) names the
 * budget and what is left. b's reservations count as spent.
 */
enum wf_call_verdict wf_budget_plan(const struct agent_budget *b, const struct anth_price *price,
				    long input_tokens, long max_tokens, struct wf_call_plan *plan,
				    char **why);
/* Holds a planned call's worst case (its turns too) until wf_budget_settle or release. */
void wf_budget_reserve(struct agent_budget *b, const struct wf_call_plan *plan);
/* Releases the reservation and adds what the call really spent. */
void wf_budget_settle(struct agent_budget *b, const struct wf_call_plan *plan, long tokens,
		      double cost_usd);
/* Releases the reservation of a call that spent nothing (it failed). */
void wf_budget_release(struct agent_budget *b, const struct wf_call_plan *plan);
/* True, with *why (malloc'd) set, when a limit of b is already reached. */
bool wf_budget_spent(const struct agent_budget *b, char **why);

/*
 * Resume: true when a journaled worker result (borrowed: a result event)
 * may stand for a call of worker with task. Only the worker must be the
 * same: a resumed manager model words its tasks anew, so requiring the
 * same task would rerun every finished worker.
 */
bool wf_replay_matches(jv entry, const char *worker, const char *task);

#endif
