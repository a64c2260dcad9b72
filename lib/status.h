#ifndef BLLM_STATUS_H
#define BLLM_STATUS_H
/*
 * The run statuses and the exit codes of every bllm program, in one place
 * (docs/protocol.md's tables; tests/unit/test_status.c checks the doc
 * against status_exit_table). Pure.
 */
#include <stdbool.h>

enum run_status {
	ST_COMPLETED,
	ST_FAILED,
	ST_ERROR,
	ST_SKIPPED,
	ST_LIMIT,
	ST_TIMEOUT,
	ST_INTERRUPTED,
	ST_COUNT
};

enum exit_code {
	EXIT_OK = 0,		/* done, verified where verification applies */
	EXIT_FAILED = 1,	/* the agent finished but the task failed */
	EXIT_USAGE = 2,		/* bad flag, bad config value, malformed input line */
	EXIT_UPSTREAM = 3,	/* upstream stage failed, nothing attempted */
	EXIT_API = 4,		/* API failed after retries */
	EXIT_CONFIG = 5,	/* authentication or configuration missing */
	EXIT_LIMIT = 6,		/* turns, cycles, tokens, cost, loops */
	EXIT_TIMEOUT = 124,	/* a worker or tool timed out */
	EXIT_INTERRUPTED = 130	/* SIGINT/SIGTERM */
};

/* "completed", "failed", ...; "error" for an out-of-range value. */
const char *status_name(enum run_status s);
/* The status named by word; ST_ERROR (and false) for NULL or an unknown word. */
bool status_parse(const char *word, enum run_status *s);
/* Whether word (may be NULL) is the name of s. */
bool status_is(const char *word, enum run_status s);
/* The exit code a status gives when nothing more specific is known. */
int status_exit_code(enum run_status s);

struct exit_code_row {
	int code;
	const char *meaning;
};
/* The exit-code table, in order, ending with {-1, NULL}. */
extern const struct exit_code_row status_exit_table[];

#endif
