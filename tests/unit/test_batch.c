/* bllm-batch's decisions (lib/batch.c): task lines, ids, outcomes, exit codes, the table. */
#include "batch.h"
#include "unit.h"

#include "json.h"

/* The parsed line as compact JSON, or "skip", or "error: ..." (static storage). */
static const char *parse(const char *line)
{
	static char out[512];
	jv task;
	char *err;
	int rc = batch_parse_task_line(line, strlen(line), "7", &task, &err);
	if (rc < 0) {
		snprintf(out, sizeof out, "error: %s", err);
		free(err);
	} else if (rc == 0) {
		snprintf(out, sizeof out, "skip");
	} else {
		jv s = jv_dump_string(task, JV_PRINT_SORTED);
		snprintf(out, sizeof out, "%s", jv_string_value(s));
		jv_free(s);
	}
	return out;
}

static void task_lines(void)
{
	CHECK_STR(parse("add a --json flag"), "{\"id\":\"7\",\"task\":\"add a --json flag\"}");
	CHECK_STR(parse("  fix the bug \r"), "{\"id\":\"7\",\"task\":\"fix the bug\"}");
	CHECK_STR(parse(""), "skip");
	CHECK_STR(parse("   "), "skip");
	CHECK_STR(parse("# a comment"), "skip");
	CHECK_STR(parse("{\"task\":\"t\",\"id\":\"json-flag\"}"), "{\"id\":\"json-flag\",\"task\":\"t\"}");
	CHECK_STR(parse("{\"task\":\"t\",\"id\":12}"), "{\"id\":\"12\",\"task\":\"t\"}");
	CHECK_STR(parse("{\"task\":\"t\"}"), "{\"id\":\"7\",\"task\":\"t\"}");
	CHECK(strncmp(parse("{\"task\":\"\"}"), "error: field \"task\"", 19) == 0);
	CHECK(strncmp(parse("{\"id\":\"x\"}"), "error: field \"task\"", 19) == 0);
	CHECK(strncmp(parse("{\"task\":\"t\",\"id\":1.5}"), "error: field \"id\"", 17) == 0);
	CHECK(strncmp(parse("{\"task\":\"t\",\"id\":\"a b\"}"), "error: field \"id\": \"a b\" cannot", 30) == 0);
	CHECK(strncmp(parse("{\"task\": oops"), "error: not a JSON object", 24) == 0);
	CHECK(strncmp(parse("[1,2]"), "skip", 4) != 0);	/* a plain task that looks odd is still a task */
}

static void ids(void)
{
	CHECK(batch_id_valid("1"));
	CHECK(batch_id_valid("json-flag_2.x"));
	CHECK(!batch_id_valid(""));
	CHECK(!batch_id_valid(".hidden"));
	CHECK(!batch_id_valid("-flag"));
	CHECK(!batch_id_valid("a..b"));
	CHECK(!batch_id_valid("a.lock"));
	CHECK(!batch_id_valid("a."));
	CHECK(!batch_id_valid("a/b"));
	CHECK(!batch_id_valid("a b"));
	CHECK(!batch_id_valid("x~1"));
	CHECK(!batch_id_valid("0123456789012345678901234567890123456789012345678901234567890123456789"));
}

static void worse_exit(void)
{
	CHECK(batch_worse_exit(0, 1) == 1);
	CHECK(batch_worse_exit(1, 0) == 1);
	CHECK(batch_worse_exit(1, 6) == 6);
	CHECK(batch_worse_exit(6, 124) == 124);
	CHECK(batch_worse_exit(124, 4) == 4);
	CHECK(batch_worse_exit(4, 5) == 5);
	CHECK(batch_worse_exit(5, 2) == 2);
	CHECK(batch_worse_exit(2, 130) == 130);
	CHECK(batch_worse_exit(130, 1) == 130);
	CHECK(batch_worse_exit(3, 1) == 3);
	CHECK(batch_worse_exit(0, 255) == 1);	/* outside the table: failed */
	CHECK(batch_worse_exit(255, 6) == 6);
}

static jv outcome(const char *id, const char *result_json, int code)
{
	jv task = jv_parse("{\"id\":\"x\",\"task\":\"do it\"}");
	task = jv_object_set(task, jv_string("id"), jv_string(id));
	jv result = result_json ? jv_parse(result_json) : jv_null();
	jv o = batch_outcome(task, result, code, jv_parse("[\"a.c\",\"b.c\"]"));
	jv_free(task);
	jv_free(result);
	return o;
}

static void outcomes(void)
{
	jv o = outcome("t1", "{\"status\":\"completed\",\"exit_code\":0,\"verification\":{\"verified\":true},"
			     "\"total_cost_usd\":0.25,\"summary_path\":\"/s/1.json\"}", 0);
	CHECK_STR(json_str(o, "status"), "completed");
	CHECK_STR(json_str(o, "branch"), "bllm/batch/t1");
	CHECK_STR(json_str(o, "session"), "/s/1.json");
	CHECK_STR(json_str(o, "task"), "do it");
	CHECK(json_num(o, "cost_usd", -1) == 0.25);
	CHECK(json_num(o, "exit_code", -1) == 0);
	jv v = json_get(o, "verified");
	CHECK(jv_get_kind(v) == JV_KIND_TRUE);
	jv_free(v);
	jv f = json_get(o, "files_changed");
	CHECK(jv_array_length(f) == 2);
	CHECK(json_str(o, "error") == NULL);
	jv_free(o);

	o = outcome("t2", "{\"status\":\"failed\",\"error\":\"not verified\",\"total_cost_usd\":null}", 1);
	CHECK_STR(json_str(o, "status"), "failed");
	CHECK_STR(json_str(o, "error"), "not verified");
	v = json_get(o, "cost_usd");
	CHECK(jv_get_kind(v) == JV_KIND_NULL);
	jv_free(v);
	v = json_get(o, "verified");
	CHECK(jv_get_kind(v) == JV_KIND_FALSE);
	jv_free(v);
	jv_free(o);

	o = outcome("t3", NULL, 130);
	CHECK_STR(json_str(o, "status"), "interrupted");
	CHECK(json_num(o, "exit_code", -1) == 130);
	jv_free(o);
	o = outcome("t4", NULL, 0);	/* exited 0 without a result: not done */
	CHECK_STR(json_str(o, "status"), "error");
	CHECK(json_num(o, "exit_code", -1) == 1);
	CHECK(json_str(o, "error") != NULL);
	jv_free(o);
}

static void batch_codes(void)
{
	jv all = jv_array();
	CHECK(batch_exit_code(all) == 0);
	all = jv_array_append(all, jv_parse("{\"status\":\"completed\",\"verified\":true,\"exit_code\":0}"));
	CHECK(batch_exit_code(all) == 0);
	jv unverified = jv_array_append(jv_copy(all),
		jv_parse("{\"status\":\"completed\",\"verified\":false,\"exit_code\":0}"));
	CHECK(batch_exit_code(unverified) == 1);
	jv_free(unverified);
	all = jv_array_append(all, jv_parse("{\"status\":\"limit\",\"verified\":false,\"exit_code\":6}"));
	all = jv_array_append(all, jv_parse("{\"status\":\"failed\",\"verified\":false,\"exit_code\":1}"));
	CHECK(batch_exit_code(all) == 6);
	all = jv_array_append(all, jv_parse("{\"status\":\"interrupted\",\"verified\":false,\"exit_code\":130}"));
	CHECK(batch_exit_code(all) == 130);
	jv_free(all);
}

static void table(void)
{
	jv all = jv_array();
	all = jv_array_append(all, jv_parse("{\"id\":\"json-flag\",\"status\":\"completed\",\"verified\":true,"
		"\"exit_code\":0,\"files_changed\":[\"a\"],\"cost_usd\":0.5,\"branch\":\"bllm/batch/json-flag\"}"));
	all = jv_array_append(all, jv_parse("{\"id\":\"2\",\"status\":\"failed\",\"verified\":false,"
		"\"exit_code\":1,\"files_changed\":[],\"cost_usd\":0.25,\"branch\":\"bllm/batch/2\"}"));
	struct buf b = BUF_INIT;
	batch_format_table(all, &b);
	CHECK_STR(buf_str(&b),
		"ID         STATUS      EXIT FILES      COST  BRANCH\n"
		"json-flag  completed      0     1   $0.5000  bllm/batch/json-flag\n"
		"2          failed         1     0   $0.2500  bllm/batch/2\n"
		"1 of 2 tasks completed and verified; cost $0.7500\n");
	buf_free(&b);
	jv_free(all);
}

static void shell_quote(void)
{
	struct buf b = BUF_INIT;
	batch_shell_quote("it's $HOME", &b);
	CHECK_STR(buf_str(&b), "'it'\\''s $HOME'");
	buf_free(&b);
}

int main(void)
{
	UNIT_RUN(task_lines);
	UNIT_RUN(ids);
	UNIT_RUN(worse_exit);
	UNIT_RUN(outcomes);
	UNIT_RUN(batch_codes);
	UNIT_RUN(table);
	UNIT_RUN(shell_quote);
	return unit_done();
}
