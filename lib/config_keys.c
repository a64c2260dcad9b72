#define _DEFAULT_SOURCE	/* strcasecmp */
#include "config_keys.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"

extern char **environ;

static const char *const levels[] = { "DEBUG", "INFO", "WARNING", "WARN", "ERROR", "CRITICAL", NULL };
static const char *const formats[] = { "json", "console", NULL };
static const char *const sandbox_modes[] = { "sandbox", "off", NULL };

#define BIG 1e12

const struct config_key config_keys[] = {
	{ "workflow_limits", CK_OBJECT, 0, 0, false, NULL },
	{ "workflow_limits.max_review_iterations", CK_INT, 0, 1000, false, NULL },
	{ "workflow_limits.max_coder_retries", CK_INT, 0, 1000, false, NULL },
	{ "workflow_limits.max_retry_cycles", CK_INT, 0, 1000, false, NULL },
	{ "workflow_limits.max_turns", CK_INT, 1, 1000000, false, NULL },
	{ "workflow_limits.max_context_messages", CK_INT, 3, 1000000, false, NULL },
	{ "workflow_limits.max_parallel_workers", CK_INT, 1, 16, false, NULL },
	{ "performance", CK_OBJECT, 0, 0, false, NULL },
	{ "performance.enable_caching", CK_BOOL, 0, 0, false, NULL },
	{ "performance.cache_ttl_seconds", CK_NUMBER, 0, BIG, false, NULL },
	{ "performance.cache_max_size", CK_INT, 0, BIG, false, NULL },
	{ "performance.enable_prompt_caching", CK_BOOL, 0, 0, false, NULL },
	{ "performance.enable_session_compression", CK_BOOL, 0, 0, false, NULL },
	{ "performance.worker_retry_enabled", CK_BOOL, 0, 0, false, NULL },
	{ "performance.worker_retry_max_attempts", CK_INT, 1, 100, false, NULL },
	{ "performance.worker_retry_base_delay", CK_NUMBER, 0, 3600, false, NULL },
	{ "performance.worker_retry_max_delay", CK_NUMBER, 0, 3600, false, NULL },
	{ "performance.worker_retry_jitter", CK_NUMBER, 0, 1, false, NULL },
	{ "performance.worker_retry_exponential", CK_BOOL, 0, 0, false, NULL },
	{ "performance.retry_after_max", CK_NUMBER, 0, 86400, false, NULL },
	{ "performance.metrics_flush_interval", CK_NUMBER, 0, 86400, false, NULL },
	{ "performance.metrics_buffer_size", CK_INT, 1, 1000000, false, NULL },
	{ "timeouts", CK_OBJECT, 0, 0, false, NULL },
	{ "timeouts.*", CK_NUMBER, 0, 1e7, true, NULL },
	{ "api", CK_OBJECT, 0, 0, false, NULL },
	{ "api.model", CK_STRING, 0, 0, false, NULL },
	{ "api.max_tokens", CK_INT, 1, 10000000, false, NULL },
	{ "sandbox", CK_OBJECT, 0, 0, false, NULL },
	{ "sandbox.mode", CK_STRING, 0, 0, false, sandbox_modes },
	{ "sandbox.network", CK_BOOL, 0, 0, false, NULL },
	/* Arrays of absolute paths: their shape is checked by lib/sandbox.c. */
	{ "sandbox.read_only_paths", CK_STRING, 0, 0, false, NULL },
	{ "sandbox.read_write_paths", CK_STRING, 0, 0, false, NULL },
	{ "sandbox.limits", CK_OBJECT, 0, 0, false, NULL },
	{ "sandbox.limits.cpu_seconds", CK_NUMBER, 0, BIG, false, NULL },
	{ "sandbox.limits.memory_bytes", CK_NUMBER, 0, 1e18, false, NULL },
	{ "sandbox.limits.processes", CK_INT, 0, 1e9, false, NULL },
	{ "sandbox.limits.file_size_bytes", CK_NUMBER, 0, 1e18, false, NULL },
	{ "sessions_dir", CK_STRING, 0, 0, false, NULL },
	{ "intervention_wait_seconds", CK_NUMBER, 0, 86400, false, NULL },
	{ "logging", CK_OBJECT, 0, 0, false, NULL },
	{ "logging.level", CK_STRING, 0, 0, false, levels },
	{ "logging.format", CK_STRING, 0, 0, false, formats },
	{ "logging.dir", CK_STRING, 0, 0, false, NULL },
	{ "logging.max_bytes", CK_INT, 0, BIG, false, NULL },
	{ "logging.backup_count", CK_INT, 0, 1000, false, NULL },
	{ "logging.error_max_bytes", CK_INT, 0, BIG, false, NULL },
	{ "logging.error_backup_count", CK_INT, 0, 1000, false, NULL },
	{ "logging.debug_max_bytes", CK_INT, 0, BIG, false, NULL },
	{ "logging.debug_backup_count", CK_INT, 0, 1000, false, NULL },
	{ "pricing", CK_OBJECT, 0, 0, false, NULL },
	{ NULL, CK_OBJECT, 0, 0, false, NULL },
};

const struct config_key *config_key_find(const char *dotted)
{
	for (const struct config_key *k = config_keys; k->key; k++) {
		size_t n = strlen(k->key);
		if (strcmp(k->key, dotted) == 0)
			return k;
		/* "timeouts.*": any one name under timeouts */
		if (n >= 2 && strcmp(k->key + n - 2, ".*") == 0 && strncmp(dotted, k->key, n - 1) == 0 &&
		    !strchr(dotted + n - 1, '.') && dotted[n - 1])
			return k;
	}
	return NULL;
}

static char *range_text(const struct config_key *k)
{
	const char *what = k->type == CK_INT ? "a whole number" : "a number";
	if (k->min_open)
		return xasprintf("%s above %.15g, at most %.15g", what, k->min, k->max);
	return xasprintf("%s from %.15g to %.15g", what, k->min, k->max);
}

static char *value_text(jv v)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	char *t = xstrdup(jv_string_value(s));
	jv_free(s);
	return t;
}

/* "DEBUG, INFO, ..." (malloc'd) */
static char *words_text(const char *const *words)
{
	struct buf b = BUF_INIT;
	for (int i = 0; words[i]; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", words[i]);
	return buf_detach(&b);
}

static bool number_fits(const struct config_key *k, double d)
{
	if (!isfinite(d) || d > k->max || d < k->min || (k->min_open && d <= k->min))
		return false;
	return k->type != CK_INT || d == floor(d);
}

char *config_key_check(const struct config_key *k, jv v)
{
	jv_kind kind = jv_get_kind(v);
	if ((k->type == CK_INT || k->type == CK_NUMBER) && kind == JV_KIND_NUMBER &&
	    !number_fits(k, jv_number_value(v))) {
		char *r = range_text(k), *val = value_text(v);
		char *msg = xasprintf("expected %s, got %s", r, val);
		free(r);
		free(val);
		return msg;
	}
	if (k->type == CK_STRING && k->words && kind == JV_KIND_STRING) {
		for (int i = 0; k->words[i]; i++)
			if (strcasecmp(k->words[i], jv_string_value(v)) == 0)
				return NULL;
		char *w = words_text(k->words);
		char *msg = xasprintf("expected one of %s, got \"%s\"", w, jv_string_value(v));
		free(w);
		return msg;
	}
	return NULL;
}

static int check_object(jv obj, const char *prefix, const char *path,
			void (*add)(void *, char *), void *user, char **err)
{
	int rc = 0;
	jv_object_foreach(obj, key, val) {
		char *name = prefix ? xasprintf("%s.%s", prefix, jv_string_value(key))
				    : xstrdup(jv_string_value(key));
		const struct config_key *k = config_key_find(name);
		char *why = k ? config_key_check(k, val) : NULL;
		if (rc == 0 && !k && add)
			add(user, xasprintf("%s: unknown key \"%s\" (ignored)", path, name));
		if (rc == 0 && why) {
			*err = xasprintf("%s: field \"%s\": %s", path, name, why);
			rc = -1;
		}
		if (rc == 0 && k && k->type == CK_OBJECT && strcmp(name, "pricing") != 0 &&
		    jv_get_kind(val) == JV_KIND_OBJECT)
			rc = check_object(val, name, path, add, user, err);
		free(why);
		free(name);
		jv_free(key);
		jv_free(val);
	}
	return rc;
}

int config_keys_check(jv system, const char *path, void (*add)(void *user, char *msg), void *user,
		      char **err)
{
	if (jv_get_kind(system) != JV_KIND_OBJECT)
		return 0;
	return check_object(system, NULL, path ? path : "system_config.json", add, user, err);
}

/* name=value checked as the key k's value. */
static int check_env_number(const char *name, const char *value, const struct config_key *k,
			    char **err)
{
	char *end;
	double d = strtod(value, &end);
	if (end != value && *end == '\0' && number_fits(k, d))
		return 0;
	char *r = range_text(k);
	*err = xasprintf("%s=%s: expected %s (seconds)", name, value, r);
	free(r);
	return -1;
}

int config_env_check(char **err)
{
	const struct config_key *timeout = config_key_find("timeouts.x");
	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		if (!eq || strncmp(*e, "WORKER_TIMEOUT_", 15) != 0 || !eq[1])
			continue;
		char *name = xstrndup(*e, (size_t)(eq - *e));
		int rc = check_env_number(name, eq + 1, timeout, err);
		free(name);
		if (rc < 0)
			return -1;
	}
	const char *api = getenv("BLLM_API_TIMEOUT");
	if (api && *api && check_env_number("BLLM_API_TIMEOUT", api, timeout, err) < 0)
		return -1;
	static const struct { const char *env, *key; } words[] = {
		{ "LOG_LEVEL", "logging.level" }, { "LOG_FORMAT", "logging.format" },
	};
	for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
		const char *v = getenv(words[i].env);
		if (!v || !*v)
			continue;
		jv s = jv_string(v);
		char *why = config_key_check(config_key_find(words[i].key), s);
		jv_free(s);
		if (why) {
			*err = xasprintf("%s: %s", words[i].env, why);
			free(why);
			return -1;
		}
	}
	return 0;
}
