/* The sandbox's pure parts: bwrap's argument vector, the policy from JSON, loosening, limit notes. */
#include "sandbox.h"
#include "unit.h"

#include <signal.h>

/* The index of the first s in argv at or after from, or -1. */
static int find(char **argv, const char *s, int from)
{
	for (int i = from; argv[i]; i++)
		if (strcmp(argv[i], s) == 0)
			return i;
	return -1;
}

/* The index where the triple a b c starts, or -1. */
static int find3(char **argv, const char *a, const char *b, const char *c)
{
	for (int i = 0; argv[i] && argv[i + 1] && argv[i + 2]; i++)
		if (strcmp(argv[i], a) == 0 && strcmp(argv[i + 1], b) == 0 && strcmp(argv[i + 2], c) == 0)
			return i;
	return -1;
}

static const struct sandbox_mount sys[] = { { "/usr", NULL }, { "/lib", "usr/lib" }, { "/etc", NULL } };

static void test_argv_default_policy(void)
{
	struct sandbox_policy p = { .enabled = true, .workspace = "/tmp/w" };
	struct sandbox_host h = { "/usr/bin/bwrap", sys, 3, NULL, 0 };
	char **a = sandbox_argv(&p, &h, "make check");
	CHECK_STR(a[0], "/usr/bin/bwrap");
	CHECK(find(a, "--unshare-all", 0) > 0);
	CHECK(find(a, "--disable-userns", 0) > 0);
	CHECK(find(a, "--cap-drop", 0) > 0 && strcmp(a[find(a, "--cap-drop", 0) + 1], "ALL") == 0);
	CHECK(find(a, "--share-net", 0) < 0);	/* no network by default */
	CHECK(find(a, "--die-with-parent", 0) > 0);
	CHECK(find(a, "--new-session", 0) > 0);
	CHECK(find3(a, "--ro-bind", "/usr", "/usr") > 0);
	CHECK(find3(a, "--symlink", "usr/lib", "/lib") > 0);
	CHECK(find3(a, "--bind", "/tmp/w", "/tmp/w") > 0);
	CHECK(find3(a, "--setenv", "HOME", SANDBOX_HOME) > 0);
	/* The workspace goes on top of the private /tmp it may lie in. */
	int tmp = find(a, "/tmp", 0), ws = find3(a, "--bind", "/tmp/w", "/tmp/w");
	CHECK(tmp > 0 && tmp < ws);
	CHECK(find(a, "--proc", 0) > 0);
	CHECK(find(a, "--dev", 0) > 0);
	/* The command comes last, after "--", whole. */
	int dd = find(a, "--", 0);
	CHECK(dd > 0);
	CHECK_STR(a[dd + 1], "/bin/sh");
	CHECK_STR(a[dd + 2], "-c");
	CHECK_STR(a[dd + 3], "make check");
	CHECK(a[dd + 4] == NULL);
	sandbox_argv_free(a);
}

static void test_argv_network_paths_masks(void)
{
	const char *ro[] = { "/data" }, *rw[] = { "/cache" };
	struct sandbox_policy p = { .enabled = true, .network = true, .workspace = "/w",
				    .read_only = ro, .n_read_only = 1, .read_write = rw, .n_read_write = 1 };
	struct sandbox_mask m[] = { { "/w/.env", false }, { "/w/sessions", true } };
	struct sandbox_host h = { "/bin/bwrap", sys, 3, m, 2 };
	char **a = sandbox_argv(&p, &h, "true");
	CHECK(find(a, "--share-net", 0) > 0);
	CHECK(find3(a, "--ro-bind", "/data", "/data") > 0);
	CHECK(find3(a, "--bind", "/cache", "/cache") > 0);
	int env = find3(a, "--ro-bind", "/dev/null", "/w/.env");
	int ws = find3(a, "--bind", "/w", "/w");
	CHECK(env > ws);	/* masks over the workspace, so after it */
	int ses = find(a, "/w/sessions", 0);
	CHECK(ses > ws);
	CHECK_STR(a[ses - 1], "--tmpfs");
	CHECK(find(a, "--remount-ro", ses) == ses + 1);
	sandbox_argv_free(a);
}

static void test_policy_from_json(void)
{
	jv sys_json = jv_parse("{\"mode\":\"sandbox\",\"network\":false,\"read_only_paths\":[],"
			       "\"limits\":{\"cpu_seconds\":10,\"processes\":64}}");
	jv agent = jv_parse("{\"network\":true,\"read_write_paths\":[\"/var/cache/x\"],"
			    "\"limits\":{\"processes\":8}}");
	struct sandbox_policy p;
	char *err = NULL;
	CHECK(sandbox_policy_from_json(sys_json, agent, NULL, &p, &err) == 0);
	CHECK(p.enabled);
	CHECK(p.network);	/* the agent's own setting wins */
	CHECK(p.n_read_write == 1 && strcmp(p.read_write[0], "/var/cache/x") == 0);
	CHECK(p.limits.cpu_seconds == 10);
	CHECK(p.limits.processes == 8);
	CHECK_STR(sandbox_mode_name(&p), "sandbox");
	sandbox_policy_free(&p);
	/* The command line's --sandbox off is above both. */
	CHECK(sandbox_policy_from_json(sys_json, agent, "off", &p, &err) == 0);
	CHECK(!p.enabled);
	CHECK_STR(sandbox_mode_name(&p), "off");
	sandbox_policy_free(&p);
	jv_free(sys_json);
	jv_free(agent);
}

static void test_policy_errors(void)
{
	const char *bad[] = { "{\"mode\":\"loose\"}", "{\"network\":1}",
			      "{\"read_only_paths\":[\"relative\"]}", "{\"read_write_paths\":\"/x\"}",
			      "{\"limits\":{\"processes\":-1}}", "{\"limits\":3}", "[]" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		jv j = jv_parse(bad[i]);
		struct sandbox_policy p;
		char *err = NULL;
		int rc = sandbox_policy_from_json(j, jv_null(), NULL, &p, &err);
		CHECK(rc == -1);
		CHECK(err && strstr(err, "sandbox"));
		if (rc == 0)
			sandbox_policy_free(&p);
		free(err);
		jv_free(j);
	}
}

static void test_loosens(void)
{
	const char *what = NULL;
	jv tight = jv_parse("{\"mode\":\"sandbox\",\"network\":false,\"read_only_paths\":[],"
			    "\"limits\":{\"processes\":99999}}");
	CHECK(!sandbox_json_loosens(tight, &what));
	jv_free(tight);
	CHECK(!sandbox_json_loosens(jv_null(), &what));
	static const struct {
		const char *json, *field;
	} loose[] = {
		{ "{\"mode\":\"off\"}", "mode" },
		{ "{\"network\":true}", "network" },
		{ "{\"read_only_paths\":[\"/home\"]}", "read_only_paths" },
		{ "{\"read_write_paths\":[\"/\"]}", "read_write_paths" },
	};
	for (size_t i = 0; i < sizeof loose / sizeof loose[0]; i++) {
		jv j = jv_parse(loose[i].json);
		what = NULL;
		CHECK(sandbox_json_loosens(j, &what));
		CHECK_STR(what, loose[i].field);
		jv_free(j);
	}
}

static void test_limit_notes(void)
{
	CHECK(strstr(sandbox_limit_note(128 + SIGXFSZ), "file-size"));
	CHECK(strstr(sandbox_limit_note(128 + SIGXCPU), "CPU-time"));
	CHECK(sandbox_limit_note(0) == NULL);
	CHECK(sandbox_limit_note(1) == NULL);
	CHECK(sandbox_limit_note(137) == NULL);
}

int main(void)
{
	UNIT_RUN(test_argv_default_policy);
	UNIT_RUN(test_argv_network_paths_masks);
	UNIT_RUN(test_policy_from_json);
	UNIT_RUN(test_policy_errors);
	UNIT_RUN(test_loosens);
	UNIT_RUN(test_limit_notes);
	return unit_done();
}
