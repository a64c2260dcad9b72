/* The TUI's decisions: lib/tui.c. */
#include "tui.h"
#include "unit.h"

static void test_parse_commands(void)
{
	const char *arg;
	CHECK(tui_parse_line("", &arg) == TUI_EMPTY);
	CHECK(tui_parse_line("  \t ", &arg) == TUI_EMPTY);
	CHECK(tui_parse_line("/new", &arg) == TUI_NEW);
	CHECK_STR(arg, "");
	CHECK(tui_parse_line("  /resume   2026 ", &arg) == TUI_RESUME);
	CHECK_STR(arg, "2026 ");
	CHECK(tui_parse_line("/resume", &arg) == TUI_RESUME);
	CHECK_STR(arg, "");
	CHECK(tui_parse_line("/model claude-haiku-4-5", &arg) == TUI_MODEL);
	CHECK_STR(arg, "claude-haiku-4-5");
	CHECK(tui_parse_line("/diff", &arg) == TUI_DIFF);
	CHECK(tui_parse_line("/cost", &arg) == TUI_COST);
	CHECK(tui_parse_line("/stats", &arg) == TUI_STATS);
	CHECK(tui_parse_line("/help", &arg) == TUI_HELP);
	CHECK(tui_parse_line("/agents", &arg) == TUI_AGENTS);
	CHECK(tui_parse_line("/sessions", &arg) == TUI_SESSIONS);
	CHECK(tui_parse_line("/quit", &arg) == TUI_QUIT);
	CHECK(tui_parse_line("/exit", &arg) == TUI_QUIT);
}

static void test_parse_tasks_and_unknown(void)
{
	const char *arg;
	CHECK(tui_parse_line("  fix the bug", &arg) == TUI_TASK);
	CHECK_STR(arg, "fix the bug");
	CHECK(tui_parse_line("@coder add x", &arg) == TUI_TASK);
	CHECK_STR(arg, "@coder add x");
	CHECK(tui_parse_line("/resumex 1", &arg) == TUI_UNKNOWN);
	CHECK_STR(arg, "/resumex 1");
	CHECK(tui_parse_line("/ne", &arg) == TUI_UNKNOWN);
	CHECK(tui_parse_line("/", &arg) == TUI_UNKNOWN);
}

static void test_help_lists_every_command(void)
{
	size_t n;
	const struct tui_command *c = tui_commands(&n);
	CHECK(n == 10);
	for (size_t i = 0; i < n; i++) {
		const char *arg;
		CHECK(tui_parse_line(c[i].name, &arg) == c[i].kind);
		CHECK(c[i].help && *c[i].help);
	}
}

static void test_complete_kind(void)
{
	size_t ws;
	CHECK(tui_complete_kind("/re", 3, &ws) == TUI_COMPLETE_COMMANDS);
	CHECK(ws == 0);
	CHECK(tui_complete_kind("  /re", 5, &ws) == TUI_COMPLETE_COMMANDS);
	CHECK(ws == 2);
	CHECK(tui_complete_kind("@co", 3, &ws) == TUI_COMPLETE_AGENTS);
	CHECK(tui_complete_kind("@co fix", 3, &ws) == TUI_COMPLETE_AGENTS);
	/* a plain word is not a file name, nor is a later @word or /word an agent or command */
	CHECK(tui_complete_kind("fix wor", 7, &ws) == TUI_COMPLETE_NONE);
	CHECK(ws == 4);
	CHECK(tui_complete_kind("", 0, &ws) == TUI_COMPLETE_NONE);
	CHECK(tui_complete_kind("tell @co", 8, &ws) == TUI_COMPLETE_NONE);
	/* path-like words */
	CHECK(tui_complete_kind("fix ./wo", 8, &ws) == TUI_COMPLETE_FILES);
	CHECK(ws == 4);
	CHECK(tui_complete_kind("fix ../x", 8, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("fix src/ma", 10, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("fix ~/pro", 9, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("fix /etc/pa", 11, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("/usr/li", 7, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("@coder edit lib/x", 17, &ws) == TUI_COMPLETE_FILES);
	CHECK(tui_complete_kind("fix ~x", 6, &ws) == TUI_COMPLETE_NONE);
}

static void test_complete_names(void)
{
	const char *agents[] = { "planner", "coder", "reviewer", "committer" };
	char *common;
	jv c = tui_complete_names("@co", agents, 4, &common);
	CHECK(jv_array_length(jv_copy(c)) == 2);
	CHECK_STR(common, "@co");
	jv first = jv_array_get(jv_copy(c), 0);
	CHECK_STR(jv_string_value(first), "@coder");
	jv_free(first);
	jv_free(c);
	free(common);

	c = tui_complete_names("@cod", agents, 4, &common);
	CHECK(jv_array_length(jv_copy(c)) == 1);
	CHECK_STR(common, "@coder");
	jv_free(c);
	free(common);

	const char *cmds[] = { "/new", "/resume", "/model", "/quit" };
	c = tui_complete_names("/re", cmds, 4, &common);
	CHECK(jv_array_length(jv_copy(c)) == 1);
	CHECK_STR(common, "/resume");
	jv_free(c);
	free(common);

	c = tui_complete_names("/x", cmds, 4, &common);
	CHECK(jv_array_length(jv_copy(c)) == 0);
	CHECK_STR(common, "/x");
	jv_free(c);
	free(common);
}

static void test_interrupt_timing(void)
{
	double last = 0;
	CHECK(tui_on_interrupt(false, 10.0, &last) == TUI_INT_CLEAR);
	CHECK(tui_on_interrupt(true, 10.0, &last) == TUI_INT_HINT);
	CHECK(last == 10.0);
	CHECK(tui_on_interrupt(true, 11.9, &last) == TUI_INT_EXIT);
	/* too late: a new hint */
	last = 0;
	CHECK(tui_on_interrupt(true, 20.0, &last) == TUI_INT_HINT);
	CHECK(tui_on_interrupt(true, 22.5, &last) == TUI_INT_HINT);
	CHECK(last == 22.5);
	CHECK(tui_on_interrupt(true, 24.5, &last) == TUI_INT_EXIT);
	/* typing in between starts over */
	last = 0;
	CHECK(tui_on_interrupt(true, 30.0, &last) == TUI_INT_HINT);
	CHECK(tui_on_interrupt(false, 30.5, &last) == TUI_INT_CLEAR);
	CHECK(tui_on_interrupt(true, 31.0, &last) == TUI_INT_HINT);
}

static void test_age_and_time(void)
{
	char b[32];
	CHECK_STR(tui_format_age(2, b), "just now");
	CHECK_STR(tui_format_age(42, b), "42s ago");
	CHECK_STR(tui_format_age(5 * 60 + 30, b), "5m ago");
	CHECK_STR(tui_format_age(3 * 3600 + 59, b), "3h ago");
	CHECK_STR(tui_format_age(2 * 86400 + 5, b), "2d ago");
	CHECK_STR(tui_format_age(-3, b), "in the future");
	time_t t;
	CHECK(tui_parse_time("1970-01-02T00:00:01.123Z", &t) == 0);
	CHECK(t == 86401);
	CHECK(tui_parse_time("2026-11-25T20:30:00Z", &t) == 0);
	CHECK(tui_parse_time("2026-11-25 20:30:00Z", &t) == -1);
	CHECK(tui_parse_time("2026-11-25T20:30:00+01:00", &t) == -1);
	CHECK(tui_parse_time(NULL, &t) == -1);
}

static jv sessions_fixture(void)
{
	return jv_parse("["
		"{\"session_id\":\"20261201-100000-aaaaaa\",\"created_at\":\"2026-12-01T10:00:00.000Z\","
		" \"user_request\":\"first\\nrequest\",\"result\":{\"status\":\"completed\"}},"
		"{\"session_id\":\"20261202-090000-bbbbbb\",\"created_at\":\"2026-12-02T09:00:00.000Z\","
		" \"user_request\":\"second request that is rather long indeed\","
		" \"result\":{\"status\":\"interrupted\"}, \"turns\":[{},{},{}]},"
		"{\"session_id\":\"20261202-095500-cccccc\",\"created_at\":\"2026-12-02T09:55:00.000Z\","
		" \"user_request\":\"third\",\"result\":{\"status\":\"incomplete\"}}]");
}

static void test_resume_list(void)
{
	jv s = sessions_fixture();
	time_t now;
	tui_parse_time("2026-12-02T10:00:00Z", &now);
	struct buf b = BUF_INIT;
	CHECK(tui_format_resume_list(&b, s, now, 2, 80) == 2);
	CHECK_STR(buf_str(&b),
		  "  1  20261202-095500-cccccc  5m ago     incomplete   third\n"
		  "  2  20261202-090000-bbbbbb  1h ago     interrupted  second request t… (+2 more)\n");
	buf_reset(&b);
	CHECK(tui_format_resume_list(&b, s, now, 10, 200) == 3);
	CHECK(strstr(buf_str(&b), "  3  20261201-100000-aaaaaa  1d ago     completed    first request\n"));
	buf_free(&b);
	char *id = tui_pick_session(s, 2, "2");
	CHECK_STR(id, "20261202-090000-bbbbbb");
	free(id);
	id = tui_pick_session(s, 2, " 1 ");
	CHECK_STR(id, "20261202-095500-cccccc");
	free(id);
	CHECK(tui_pick_session(s, 2, "1x") == NULL);
	CHECK(tui_pick_session(s, 2, "3") == NULL);
	CHECK(tui_pick_session(s, 2, "0") == NULL);
	CHECK(tui_pick_session(s, 2, "") == NULL);
	CHECK(tui_pick_session(s, 2, "x") == NULL);
	jv_free(s);
	struct buf e = BUF_INIT;
	jv none = jv_array();
	CHECK(tui_format_resume_list(&e, none, now, 10, 80) == 0);
	CHECK(e.len == 0);
	jv_free(none);
	buf_free(&e);
}

static void test_resume_reruns(void)
{
	CHECK(!tui_resume_reruns("completed"));
	CHECK(!tui_resume_reruns("failed"));
	CHECK(tui_resume_reruns("interrupted"));
	CHECK(tui_resume_reruns("incomplete"));
	CHECK(tui_resume_reruns("timeout"));
	CHECK(tui_resume_reruns(NULL));
}

static void test_ledger(void)
{
	jv s = jv_parse("{\"ledger\":{\"manager\":{\"calls\":1,\"input_tokens\":100,\"output_tokens\":20,"
			"\"cache_read_input_tokens\":0,\"cost_usd\":0.5},"
			"\"coder\":{\"calls\":2,\"input_tokens\":300,\"output_tokens\":40,"
			"\"cache_read_input_tokens\":50,\"cost_usd\":0.25}}}");
	struct buf b = BUF_INIT;
	tui_format_ledger(&b, s);
	CHECK_STR(buf_str(&b),
		  "  agent       calls      input     output cache read       cost\n"
		  "  manager         1        100         20          0     0.5000\n"
		  "  coder           2        300         40         50     0.2500\n"
		  "  total           3        400         60         50     0.7500\n");
	jv_free(s);
	buf_free(&b);
}

static void test_last_run_changes(void)
{
	jv ev = jv_parse("["
		"{\"type\":\"task\",\"agent\":\"manager\",\"parent_id\":null,\"text\":\"one\"},"
		"{\"type\":\"tool_result\",\"agent\":\"coder\",\"files_changed\":[\"old.c\"],\"diff\":\"@@ old\"},"
		"{\"type\":\"task\",\"agent\":\"manager\",\"parent_id\":null,\"text\":\"two\"},"
		"{\"type\":\"task\",\"agent\":\"coder\",\"parent_id\":\"r1\",\"text\":\"sub\"},"
		"{\"type\":\"tool_result\",\"agent\":\"coder\",\"files_changed\":[\"a.c\"],\"diff\":\"@@ -1 +1 @@\\n-x\\n+y\\n\"},"
		"{\"type\":\"tool_result\",\"agent\":\"coder\",\"files_changed\":[\"b.c\",\"a.c\"]},"
		"{\"type\":\"result\",\"agent\":\"manager\",\"parent_id\":null,\"files_changed\":[\"a.c\",\"c.c\"]}]");
	jv diffs, files;
	tui_last_run_changes(ev, &diffs, &files);
	jv want_files = jv_parse("[\"a.c\",\"b.c\",\"c.c\"]");
	CHECK(jv_equal(jv_copy(files), want_files));
	jv want_diffs = jv_parse("[{\"path\":\"a.c\",\"diff\":\"@@ -1 +1 @@\\n-x\\n+y\\n\"}]");
	CHECK(jv_equal(jv_copy(diffs), want_diffs));
	jv_free(diffs);
	jv_free(files);
	jv_free(ev);
	jv empty = jv_array();
	tui_last_run_changes(empty, &diffs, &files);
	CHECK(jv_array_length(jv_copy(diffs)) == 0 && jv_array_length(jv_copy(files)) == 0);
	jv_free(diffs);
	jv_free(files);
	jv_free(empty);
}

static void test_countdown_prompt(void)
{
	char *p = tui_countdown_prompt("[Enter] continue  (continuing in 5s) ", 3);
	CHECK_STR(p, "[Enter] continue  (continuing in 3s) ");
	free(p);
	p = tui_countdown_prompt("(continuing in 10s)", 0);
	CHECK_STR(p, "(continuing in 0s)");
	free(p);
	p = tui_countdown_prompt("Allow one more? [y/N] ", 3);
	CHECK_STR(p, "Allow one more? [y/N] ");
	free(p);
	p = tui_countdown_prompt("(continuing in xs)", 3);
	CHECK_STR(p, "(continuing in xs)");
	free(p);
}

int main(void)
{
	UNIT_RUN(test_countdown_prompt);
	UNIT_RUN(test_parse_commands);
	UNIT_RUN(test_parse_tasks_and_unknown);
	UNIT_RUN(test_help_lists_every_command);
	UNIT_RUN(test_complete_kind);
	UNIT_RUN(test_complete_names);
	UNIT_RUN(test_interrupt_timing);
	UNIT_RUN(test_age_and_time);
	UNIT_RUN(test_resume_list);
	UNIT_RUN(test_resume_reruns);
	UNIT_RUN(test_ledger);
	UNIT_RUN(test_last_run_changes);
	return unit_done();
}
