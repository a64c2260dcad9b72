/* The history database: lib/history.c's pure parts, and recording against a real file. */
#define _DEFAULT_SOURCE
#include "history.h"
#include "session.h"
#include "unit.h"

#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

static char base[PATH_MAX];

static void test_fts_query(void)
{
	char *q = history_fts_query("parser.c");
	CHECK_STR(q, "\"parser.c\"");
	free(q);
	q = history_fts_query("  add  \"-l\"\tflag ");
	CHECK_STR(q, "\"add\" \"\"\"-l\"\"\" \"flag\"");
	free(q);
	CHECK(history_fts_query("   ") == NULL);
	CHECK(history_fts_query("") == NULL);
}

static void test_filter_sql(void)
{
	struct history_filter f = { 0 };
	struct buf w = BUF_INIT;
	jv params = jv_array();
	history_filter_sql(&f, &w, &params);
	CHECK_STR(buf_str(&w), "");
	CHECK(jv_array_length(jv_copy(params)) == 0);
	f.since = "2026-11-25T00:00:00.000Z";
	f.status = "failed";
	f.agent = "coder'; DROP TABLE sessions; --";
	f.workspace = "/w";
	history_filter_sql(&f, &w, &params);
	CHECK_STR(buf_str(&w), " WHERE s.created_at >= ? AND s.status = ? AND EXISTS (SELECT 1 FROM "
		  "worker_runs w WHERE w.session_id = s.id AND w.agent = ?) AND s.workspace = ?");
	CHECK(jv_array_length(jv_copy(params)) == 4);
	jv third = jv_array_get(jv_copy(params), 2);
	CHECK_STR(jv_string_value(third), f.agent);	/* a parameter, never SQL text */
	jv_free(third);
	jv_free(params);
	buf_free(&w);
}

static void test_percentile_and_time(void)
{
	double v[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 100 };
	CHECK(history_percentile(v, 20, 50) == 10);
	CHECK(history_percentile(v, 20, 95) == 19);
	CHECK(history_percentile(v, 1, 95) == 1);
	CHECK(history_percentile(v, 0, 50) == 0);
	char t[32];
	history_time_string(1764030600123LL, t);
	CHECK_STR(t, "2025-11-25T00:30:00.123Z");
}

/* A small run's journal, as bllm-manage writes it. */
static const char *const journal[] = {
	"{\"v\":1,\"type\":\"init\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:00.000Z\",\"cwd\":\"/w\"}",
	"{\"v\":1,\"type\":\"task\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:00.001Z\",\"text\":\"fix parser.c\"}",
	"{\"v\":1,\"type\":\"usage\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:01.000Z\",\"input_tokens\":10,\"output_tokens\":5,\"cost_usd\":0.5,\"latency_ms\":100}",
	"{\"v\":1,\"type\":\"tool_use\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:01.100Z\",\"name\":\"coder\",\"input\":{\"task\":\"edit the tokenizer\"}}",
	"{\"v\":1,\"type\":\"worker_start\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:01.200Z\",\"worker\":\"coder\"}",
	"{\"v\":1,\"type\":\"init\",\"agent\":\"coder\",\"run_id\":\"c1\",\"parent_id\":\"m\",\"ts\":\"2026-11-25T20:30:01.300Z\"}",
	"{\"v\":1,\"type\":\"usage\",\"agent\":\"coder\",\"run_id\":\"c1\",\"parent_id\":\"m\",\"ts\":\"2026-11-25T20:30:02.000Z\",\"input_tokens\":20,\"output_tokens\":7,\"cost_usd\":0.25,\"latency_ms\":300}",
	"{\"v\":1,\"type\":\"tool_result\",\"agent\":\"coder\",\"run_id\":\"c1\",\"parent_id\":\"m\",\"ts\":\"2026-11-25T20:30:02.100Z\",\"name\":\"Edit\",\"is_error\":true,\"content\":\"no such text\",\"files_changed\":[\"parser.c\"]}",
	"{\"v\":1,\"type\":\"text\",\"agent\":\"coder\",\"run_id\":\"c1\",\"parent_id\":\"m\",\"ts\":\"2026-11-25T20:30:02.200Z\",\"text\":\"The tokenizer in parser.c now skips comments.\"}",
	"{\"v\":1,\"type\":\"result\",\"agent\":\"coder\",\"run_id\":\"c1\",\"parent_id\":\"m\",\"ts\":\"2026-11-25T20:30:03.000Z\",\"status\":\"completed\",\"exit_code\":0,\"num_turns\":1,\"total_cost_usd\":0.25,\"usage\":{\"input_tokens\":20,\"output_tokens\":7},\"duration_ms\":1700}",
	"{\"v\":1,\"type\":\"worker_end\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:03.100Z\",\"worker\":\"coder\",\"worker_run_id\":\"c1\",\"status\":\"completed\",\"exit_code\":0,\"duration_ms\":1800}",
	"{\"v\":1,\"type\":\"result\",\"agent\":\"manager\",\"run_id\":\"m\",\"parent_id\":null,\"ts\":\"2026-11-25T20:30:04.000Z\",\"status\":\"failed\",\"exit_code\":1,\"error\":\"not verified\",\"num_turns\":2,\"total_cost_usd\":0.75,\"usage\":{\"input_tokens\":30,\"output_tokens\":12}}",
	NULL,
};

static jv one_session(struct history *h, const char *id)
{
	jv out = jv_null();
	char *err = NULL;
	CHECK(history_session(h, id, &out, &err) == 0);
	free(err);
	return out;
}

static void test_record_and_reindex(void)
{
	char db[PATH_MAX + 32], sdir[PATH_MAX + 32];
	snprintf(db, sizeof db, "%s/history.db", base);
	snprintf(sdir, sizeof sdir, "%s/sessions", base);
	setenv("BLLM_HISTORY_DB", db, 1);
	const char *id = "20261125-203000-aaaaaa";
	struct session s;
	char *err = NULL;
	CHECK(session_open(&s, sdir, id, false, &err) == 0);
	for (int i = 0; journal[i]; i++) {
		jv ev = jv_parse(journal[i]);
		/* Halfway, the session is there and running. */
		if (i == 6) {
			struct history *h;
			CHECK(history_open(&h, db, true, &err) == 0);
			jv o = one_session(h, id);
			jv st = jv_getpath(jv_copy(o), JV_ARRAY(jv_string("session"), jv_string("status")));
			CHECK_STR(jv_string_value(st), "running");
			jv_free(st);
			jv_free(o);
			history_close(h);
		}
		CHECK(session_append(&s, ev, false) == 0);
		jv_free(ev);
	}
	CHECK(history_recorder_warning(s.history) == NULL);
	session_close(&s);

	struct history *h;
	CHECK(history_open(&h, db, false, &err) == 0);
	jv live = one_session(h, id);
	jv dump = jv_dump_string(jv_copy(live), 0);
	const char *text = jv_string_value(dump);
	CHECK(strstr(text, "\"status\":\"failed\"") != NULL);
	CHECK(strstr(text, "\"task\":\"edit the tokenizer\"") != NULL);
	CHECK(strstr(text, "\"files_changed\":[\"parser.c\"]") != NULL);
	CHECK(strstr(text, "\"cost_usd\":0.75") != NULL);
	CHECK(strstr(text, "\"type\":\"tool\"") != NULL);
	jv_free(dump);

	jv found;
	CHECK(history_search(h, "parser.c", 10, &found, &err) == 0);
	CHECK(jv_array_length(jv_copy(found)) == 2);
	jv_free(found);

	jv stats;
	struct history_filter f = { .agent = "coder" };
	CHECK(history_stats(h, &f, &stats, &err) == 0);
	jv calls = jv_getpath(jv_copy(stats), JV_ARRAY(jv_string("agents"), jv_string("coder"),
						       jv_string("calls")));
	CHECK(jv_get_kind(calls) == JV_KIND_NUMBER && jv_number_value(calls) == 1);
	jv_free(calls);
	jv_free(stats);

	int n = 0;
	CHECK(history_reindex(h, sdir, false, &n, &err) == 0);
	CHECK(n == 1);
	jv again = one_session(h, id);
	CHECK(jv_equal(jv_copy(live), jv_copy(again)));
	jv_free(again);
	jv_free(live);
	history_close(h);
	free(err);
}

/* A file that is not a database: the run's appends still succeed, one warning. */
static void test_corrupt_database(void)
{
	char db[PATH_MAX + 32], sdir[PATH_MAX + 32];
	snprintf(db, sizeof db, "%s/corrupt.db", base);
	snprintf(sdir, sizeof sdir, "%s/sessions2", base);
	FILE *fp = fopen(db, "w");
	fputs("this is not an SQLite database, just text long enough to have a header.......\n", fp);
	fclose(fp);
	setenv("BLLM_HISTORY_DB", db, 1);
	struct session s;
	char *err = NULL;
	CHECK(session_open(&s, sdir, "20261125-203000-bbbbbb", false, &err) == 0);
	for (int i = 0; journal[i]; i++) {
		jv ev = jv_parse(journal[i]);
		CHECK(session_append(&s, ev, false) == 0);
		jv_free(ev);
	}
	const char *w = history_recorder_warning(s.history);
	CHECK(w && strstr(w, "corrupt.db") && strstr(w, "bllm-session reindex"));
	session_close(&s);
	jv events;
	CHECK(session_read_journal(sdir, "20261125-203000-bbbbbb", &events, &err) == 0);
	CHECK(jv_array_length(events) == 12);
	struct history *h = NULL;
	CHECK(history_open(&h, db, false, &err) == -1);
	free(err);
	err = NULL;
	CHECK(history_recreate(&h, db, &err) == 0);
	history_close(h);
}

int main(void)
{
	snprintf(base, sizeof base, "%s/bllm-test-history.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base)) {
		perror(base);
		return 2;
	}
	UNIT_RUN(test_fts_query);
	UNIT_RUN(test_filter_sql);
	UNIT_RUN(test_percentile_and_time);
	UNIT_RUN(test_record_and_reindex);
	UNIT_RUN(test_corrupt_database);
	unit_rm_rf(base);
	return unit_done();
}
