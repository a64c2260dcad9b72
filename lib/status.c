#include "status.h"

#include <stddef.h>
#include <string.h>

static const struct {
	const char *name;
	int code;
} statuses[ST_COUNT] = {
	[ST_COMPLETED] = { "completed", EXIT_OK },
	[ST_FAILED] = { "failed", EXIT_FAILED },
	[ST_ERROR] = { "error", EXIT_API },
	[ST_SKIPPED] = { "skipped", EXIT_UPSTREAM },
	[ST_LIMIT] = { "limit", EXIT_LIMIT },
	[ST_TIMEOUT] = { "timeout", EXIT_TIMEOUT },
	[ST_INTERRUPTED] = { "interrupted", EXIT_INTERRUPTED },
};

const struct exit_code_row status_exit_table[] = {
	{ EXIT_OK, "the work is done and verified where verification applies" },
	{ EXIT_FAILED, "the agent finished but the task failed (tests fail, review rejects)" },
	{ EXIT_USAGE, "usage error (bad flag, bad config value, malformed input line)" },
	{ EXIT_UPSTREAM, "upstream stage failed, nothing was attempted" },
	{ EXIT_API, "API failed after retries (network, 5xx, overloaded)" },
	{ EXIT_CONFIG, "authentication or configuration missing (no key, config not found)" },
	{ EXIT_LIMIT, "a limit was reached (turns, review cycles, tokens, cost, a loop)" },
	{ EXIT_TIMEOUT, "a worker or tool timed out" },
	{ EXIT_INTERRUPTED, "interrupted (SIGINT/SIGTERM)" },
	{ -1, NULL },
};

const char *status_name(enum run_status s)
{
	return (unsigned)s < ST_COUNT ? statuses[s].name : "error";
}

bool status_parse(const char *word, enum run_status *s)
{
	for (int i = 0; word && i < ST_COUNT; i++)
		if (strcmp(word, statuses[i].name) == 0) {
			*s = (enum run_status)i;
			return true;
		}
	*s = ST_ERROR;
	return false;
}

bool status_is(const char *word, enum run_status s)
{
	return word && strcmp(word, status_name(s)) == 0;
}

int status_exit_code(enum run_status s)
{
	return (unsigned)s < ST_COUNT ? statuses[s].code : EXIT_API;
}
