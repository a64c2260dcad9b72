/* Config keys declared once (lib/config_keys.c): types, ranges, unknown keys, environment values. */
#include "config_keys.h"
#include "unit.h"

#include "buf.h"

static char *check(const char *key, const char *json)
{
	jv v = jv_parse(json);
	char *why = config_key_check(config_key_find(key), v);
	jv_free(v);
	return why;
}

static void test_ranges(void)
{
	const char *bad[][2] = {
		{ "workflow_limits.max_turns", "-1" }, { "workflow_limits.max_turns", "0" },
		{ "workflow_limits.max_turns", "1e300" }, { "workflow_limits.max_turns", "1.5" },
		{ "timeouts.coder", "-5" }, { "timeouts.coder", "0" }, { "api.max_tokens", "-1" },
		{ "logging.format", "\"xml\"" }, { "logging.level", "\"LOUD\"" },
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *why = check(bad[i][0], bad[i][1]);
		if (!why)
			printf("# %s = %s accepted\n", bad[i][0], bad[i][1]);
		CHECK(why != NULL);
		free(why);
	}
	char *why = check("workflow_limits.max_turns", "1.5");
	CHECK_STR(why, "expected a whole number from 1 to 1000000, got 1.5");
	free(why);
	why = check("logging.format", "\"xml\"");
	CHECK_STR(why, "expected one of json, console, got \"xml\"");
	free(why);
	CHECK(check("workflow_limits.max_turns", "50") == NULL);
	CHECK(check("timeouts.my_agent", "0.5") == NULL);
	CHECK(check("logging.level", "\"debug\"") == NULL);
}

static void add(void *user, char *msg)
{
	int *n = user;
	(*n)++;
	CHECK(strstr(msg, "unknown key") != NULL);
	printf("# %s\n", msg);
	free(msg);
}

static void test_unknown_keys_warn(void)
{
	jv sys = jv_parse("{\"workflow_limits\":{\"max_turnz\":3},\"colour\":true,"
			  "\"pricing\":{\"my-model\":{\"input\":1}},\"timeouts\":{\"helper\":9}}");
	int n = 0;
	char *err = NULL;
	CHECK(config_keys_check(sys, "s.json", add, &n, &err) == 0);
	CHECK(n == 2);
	jv_free(sys);
	sys = jv_parse("{\"workflow_limits\":{\"max_turns\":0}}");
	CHECK(config_keys_check(sys, "s.json", NULL, NULL, &err) == -1);
	CHECK_STR(err, "s.json: field \"workflow_limits.max_turns\": expected a whole number from 1 to 1000000, got 0");
	free(err);
	jv_free(sys);
}


static void test_environment(void)
{
	char *err = NULL;
	CHECK(config_env_check(&err) == 0);
	setenv("WORKER_TIMEOUT_CODER", "abc", 1);
	CHECK(config_env_check(&err) == -1);
	CHECK(err && strstr(err, "WORKER_TIMEOUT_CODER=abc"));
	free(err);
	unsetenv("WORKER_TIMEOUT_CODER");
	setenv("BLLM_API_TIMEOUT", "-3", 1);
	CHECK(config_env_check(&err) == -1);
	CHECK(err && strstr(err, "BLLM_API_TIMEOUT=-3"));
	free(err);
	unsetenv("BLLM_API_TIMEOUT");
	setenv("LOG_FORMAT", "xml", 1);
	CHECK(config_env_check(&err) == -1);
	CHECK_STR(err, "LOG_FORMAT: expected one of json, console, got \"xml\"");
	free(err);
	unsetenv("LOG_FORMAT");
	setenv("LOG_LEVEL", "LOUD", 1);
	CHECK(config_env_check(&err) == -1);
	CHECK(err && strstr(err, "DEBUG, INFO, WARNING"));
	free(err);
	unsetenv("LOG_LEVEL");
}

int main(void)
{
	unsetenv("WORKER_TIMEOUT_CODER");
	unsetenv("BLLM_API_TIMEOUT");
	unsetenv("LOG_FORMAT");
	unsetenv("LOG_LEVEL");
	UNIT_RUN(test_ranges);
	UNIT_RUN(test_unknown_keys_warn);
	UNIT_RUN(test_environment);
	return unit_done();
}
