/* Pure decisions of config and scrub: workspace names, the .env credential rule, scrubbing. */
#include "config.h"
#include "scrub.h"
#include "unit.h"

static void test_workspace_name(void)
{
	char *a = config_workspace_name("/home/me/src/wordcount");
	char *b = config_workspace_name("/tmp/wordcount");
	char *c = config_workspace_name("/");
	char *d = config_workspace_name("/x/.hidden dir");
	CHECK(strncmp(a, "wordcount-", 10) == 0 && strlen(a) == 18);
	CHECK(strcmp(a, b) != 0);	/* same base name, different paths */
	CHECK(strncmp(c, "root-", 5) == 0);
	CHECK(strncmp(d, "_hidden_dir-", 12) == 0);
	char *a2 = config_workspace_name("/home/me/src/wordcount");
	CHECK_STR(a, a2);
	free(a);
	free(a2);
	free(b);
	free(c);
	free(d);
}

static void test_dotenv_conflict(void)
{
	/* url_from_file, key_from_file, key_elsewhere */
	CHECK(config_dotenv_conflict(true, false, true) != NULL);
	CHECK(strstr(config_dotenv_conflict(true, false, true), "environment"));
	CHECK(config_dotenv_conflict(true, true, false) == NULL);
	CHECK(config_dotenv_conflict(true, true, true) == NULL);
	CHECK(config_dotenv_conflict(false, false, true) == NULL);
	CHECK(config_dotenv_conflict(true, false, false) == NULL);
}

static void test_scrub(void)
{
	const char *secrets[] = { "sk-ant-0123456789", "short" };
	char *s = scrub_with("bad key sk-ant-0123456789, again sk-ant-0123456789!", secrets, 2);
	CHECK_STR(s, "bad key [REDACTED], again [REDACTED]!");
	free(s);
	s = scrub_with("a short word stays", secrets, 2);
	CHECK_STR(s, "a short word stays");
	free(s);
	s = scrub_with("", secrets, 2);
	CHECK_STR(s, "");
	free(s);
	setenv("ANTHROPIC_API_KEY", "sk-test-unit-key-1", 1);
	jv v = scrub_jv(jv_parse("{\"error\":{\"message\":\"key sk-test-unit-key-1 is bad\"},\"n\":[1]}"));
	jv m = jv_getpath(jv_copy(v), jv_parse("[\"error\",\"message\"]"));
	CHECK_STR(jv_string_value(m), "key [REDACTED] is bad");
	jv_free(m);
	jv_free(v);
	unsetenv("ANTHROPIC_API_KEY");
}

int main(void)
{
	UNIT_RUN(test_workspace_name);
	UNIT_RUN(test_dotenv_conflict);
	UNIT_RUN(test_scrub);
	return unit_done();
}
