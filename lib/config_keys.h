#ifndef BLLM_CONFIG_KEYS_H
#define BLLM_CONFIG_KEYS_H
/*
 * Every key of system_config.json and every environment variable that
 * sets a value, declared once with its type and allowed range. The
 * defaults are the shipped config/system_config.json, compiled in
 * (docs/decisions.md). Pure: the checks take values and return messages.
 *
 * jv ownership: every jv argument is borrowed.
 */
#include <stdbool.h>
#include <jv.h>

enum config_type { CK_INT, CK_NUMBER, CK_BOOL, CK_STRING, CK_OBJECT };

struct config_key {
	const char *key;		/* dotted; "timeouts.*" matches any one name */
	enum config_type type;
	double min, max;		/* CK_INT and CK_NUMBER: allowed range */
	bool min_open;			/* min itself is not allowed (durations > 0) */
	const char *const *words;	/* CK_STRING: allowed values (case-insensitive), or NULL */
};

extern const struct config_key config_keys[];

/* The declaration of a dotted key, or NULL when the key is unknown. */
const struct config_key *config_key_find(const char *dotted);

/*
 * Checks v against k. Returns NULL, or (malloc'd) "expected a whole number
 * from 1 to 1000000, got 1.5" (the caller names the file and the key).
 */
char *config_key_check(const struct config_key *k, jv v);

/*
 * Checks a whole system config (merged over the defaults): out-of-range
 * values are an error (-1, *err naming path, key, value and range);
 * unknown keys (outside "pricing") are added to *warnings as
 * "PATH: unknown key \"x.y\" (ignored)" through add (user is passed on).
 */
int config_keys_check(jv system, const char *path, void (*add)(void *user, char *msg), void *user,
		      char **err);

/*
 * Checks the environment variables that set values: WORKER_TIMEOUT_*,
 * BLLM_API_TIMEOUT, LOG_LEVEL, LOG_FORMAT. -1 with *err naming the
 * variable, its value and what is allowed.
 */
int config_env_check(char **err);

#endif
