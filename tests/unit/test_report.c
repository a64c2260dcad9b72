/* The Markdown report (lib/report.c): outcome, ledger, verification, files. */
#include "report.h"
#include "unit.h"

/* The report of these events (JSON lines in one string), in static storage. */
static const char *markdown(const char *lines)
{
	static char out[8192];
	struct report *r = report_new();
	const char *s = lines;
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		jv ev = jv_parse_sized(s, (int)n);
		report_add(r, ev);
		jv_free(ev);
		s += n + (nl ? 1 : 0);
	}
	struct buf b = BUF_INIT;
	report_markdown(r, &b);
	snprintf(out, sizeof out, "%s", buf_str(&b));
	buf_free(&b);
	report_free(r);
	return out;
}

static void manager_run(void)
{
	const char *md = markdown(
		"{\"type\":\"task\",\"agent\":\"manager\",\"parent_id\":null,\"text\":\"add a | flag\"}\n"
		"{\"type\":\"text\",\"agent\":\"manager\",\"parent_id\":null,\"text\":\"ignored\"}\n"
		"{\"type\":\"task\",\"agent\":\"coder\",\"parent_id\":\"m\",\"text\":\"not the task\"}\n"
		"{\"type\":\"result\",\"agent\":\"coder\",\"parent_id\":\"m\",\"files_changed\":[\"b.c\",\"a.c\"]}\n"
		"{\"type\":\"result\",\"agent\":\"coder\",\"parent_id\":\"m\",\"files_changed\":[\"a.c\"]}\n"
		"{\"type\":\"result\",\"agent\":\"manager\",\"parent_id\":null,\"session_id\":\"S1\",\"status\":\"completed\","
		"\"exit_code\":0,\"num_turns\":5,\"duration_ms\":2500,\"total_cost_usd\":0.5,\"files_changed\":[],"
		"\"verification\":{\"commands\":[{\"command\":\"make `x` test\",\"exit_code\":0,\"passed\":true},"
		"{\"command\":\"./t.sh\",\"exit_code\":2,\"passed\":false}],\"verified\":true,\"tests_passed\":1,\"tests_failed\":1},"
		"\"ledger\":{\"tester\":{\"calls\":1,\"turns\":1,\"cost_usd\":0.1},\"coder\":{\"calls\":2,\"turns\":3,"
		"\"input_tokens\":10,\"output_tokens\":20,\"cost_usd\":0.3},\"manager\":{\"calls\":1,\"turns\":1,\"cost_usd\":0.1}}}\n");
	CHECK_STR(md,
		"# bllm: completed, verified (exit 0)\n"
		"\n**Task:** add a \\| flag\n"
		"\n| | |\n|---|---|\n| agent | manager |\n| session | `S1` |\n| turns | 5 |\n| duration | 2.5 s |\n| cost | $0.5000 |\n"
		"\n## Agents\n\n"
		"| agent | calls | turns | input tokens | output tokens | cache read | cache write | cost |\n"
		"|---|--:|--:|--:|--:|--:|--:|--:|\n"
		"| manager | 1 | 1 | 0 | 0 | 0 | 0 | $0.1000 |\n"
		"| coder | 2 | 3 | 10 | 20 | 0 | 0 | $0.3000 |\n"
		"| tester | 1 | 1 | 0 | 0 | 0 | 0 | $0.1000 |\n"
		"| **total** | 4 | 5 | 10 | 20 | 0 | 0 | $0.5000 |\n"
		"\n## Verification\n\n"
		"| command | exit code | |\n|---|--:|---|\n"
		"| `` make `x` test `` | 0 | passed |\n"
		"| `./t.sh` | 2 | **failed** |\n"
		"\nVerified: **yes** (1 passed, 1 failed)\n"
		"\n## Files changed\n\n- `b.c`\n- `a.c`\n");
}

static void worker_pipeline(void)
{
	/* bllm-code | bllm-test: no ledger; the top result is the tester's, the coder's is upstream. */
	const char *md = markdown(
		"{\"type\":\"task\",\"agent\":\"coder\",\"parent_id\":null,\"text\":\"fix it\"}\n"
		"{\"type\":\"result\",\"agent\":\"coder\",\"parent_id\":\"up\",\"num_turns\":2,\"total_cost_usd\":0.25,"
		"\"usage\":{\"input_tokens\":100,\"output_tokens\":5},\"files_changed\":[\"x.c\"]}\n"
		"{\"type\":\"result\",\"agent\":\"tester\",\"parent_id\":null,\"status\":\"failed\",\"exit_code\":1,"
		"\"error\":\"tests fail\",\"num_turns\":1,\"duration_ms\":100,\"total_cost_usd\":null,"
		"\"verification\":{\"commands\":[{\"command\":\"make test\",\"exit_code\":1,\"passed\":false}],\"verified\":false}}\n");
	CHECK(strstr(md, "# bllm: failed (exit 1)\n") == md);
	CHECK(strstr(md, "| cost | unknown (no price for a model) |\n") != NULL);
	CHECK(strstr(md, "\n> **Why:** tests fail\n") != NULL);
	CHECK(strstr(md, "| coder | 1 | 2 | 100 | 5 | 0 | 0 | $0.2500 |\n") != NULL);
	CHECK(strstr(md, "| tester | 1 | 1 | 0 | 0 | 0 | 0 | $0.0000 |\n") != NULL);
	CHECK(strstr(md, "| `make test` | 1 | **failed** |\n\nVerified: **no**\n") != NULL);
	CHECK(strstr(md, "- `x.c`\n") != NULL);
}

static void unfinished(void)
{
	const char *md = markdown("{\"type\":\"task\",\"agent\":\"manager\",\"parent_id\":null,\"text\":\"t\"}\n");
	CHECK(strstr(md, "# bllm: no result\n") == md);
	CHECK(strstr(md, "No agent made a call.\n") != NULL);
	CHECK(strstr(md, "No command was run to check the work: it is not verified.\n") != NULL);
	CHECK(strstr(md, "No files changed.\n") != NULL);
	md = markdown("{\"type\":\"result\",\"agent\":\"manager\",\"parent_id\":null,\"status\":\"completed\",\"exit_code\":1}\n");
	CHECK(strstr(md, "# bllm: completed, not verified (exit 1)\n") == md);
}

int main(void)
{
	UNIT_RUN(manager_run);
	UNIT_RUN(worker_pipeline);
	UNIT_RUN(unfinished);
	return unit_done();
}
