/* Metrics: lib/stats.c recording into a temporary directory, and the aggregation. */
#define _DEFAULT_SOURCE
#include "stats.h"
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

static char base[PATH_MAX];

static const char *fresh_dir(const char *name)
{
	static char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s/%s", base, name);
	unit_rm_rf(dir);
	return dir;
}

static void put(const char *dir, const char *name, const char *content)
{
	mkdir(dir, 0755);
	char *path = xasprintf("%s/%s", dir, name);
	FILE *f = fopen(path, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
	free(path);
}

/* The lines of DIR/metrics.ndjson parsed as JSON ([] when the file is missing). */
static jv written(const char *dir)
{
	char *path = xasprintf("%s/metrics.ndjson", dir);
	jv out = jv_array();
	int fd = open(path, O_RDONLY);
	free(path);
	if (fd < 0)
		return out;
	struct line_reader r;
	line_reader_init(&r, fd);
	char *line;
	size_t len;
	while (line_reader_next(&r, &line, &len) > 0)
		out = jv_array_append(out, jv_parse_sized(line, (int)len));
	line_reader_free(&r);
	close(fd);
	return out;
}

static int written_count(const char *dir)
{
	return jv_array_length(written(dir));
}

static double num_of(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : NAN;
	jv_free(v);
	return d;
}

static bool is_null(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	bool n = jv_get_kind(v) == JV_KIND_NULL;
	jv_free(v);
	return n;
}

static const char *str_of(jv obj, const char *key)
{
	static char bufs[4][512];
	static int k;
	char *b = bufs[k++ % 4];
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	snprintf(b, sizeof bufs[0], "%s",
		 jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
	return b;
}

/* obj[key] (borrowed obj), a new reference. */
static jv get(jv obj, const char *key)
{
	return jv_object_get(jv_copy(obj), jv_string(key));
}

static jv item(jv arr, int i)
{
	return jv_array_get(jv_copy(arr), i);
}

static jv api_call(double latency)
{
	jv r = jv_object_set(jv_object(), jv_string("kind"), jv_string("api_call"));
	r = jv_object_set(r, jv_string("latency_ms"), jv_number(latency));
	return r;
}

static struct stats_config config(const char *dir, double interval, int size)
{
	struct stats_config c = { .dir = dir, .flush_interval_s = interval, .buffer_size = size };
	return c;
}

static void test_parse_since(void)
{
	const long long now = 1795638600000LL;
	long long t = 0;
	CHECK(stats_parse_since("90s", now, &t) == 0 && t == now - 90000);
	CHECK(stats_parse_since("30m", now, &t) == 0 && t == now - 1800000);
	CHECK(stats_parse_since("2h", now, &t) == 0 && t == now - 7200000);
	CHECK(stats_parse_since("7d", now, &t) == 0 && t == now - 7 * 86400000LL);
	CHECK(stats_parse_since("1.5h", now, &t) == 0 && t == now - 5400000);
	CHECK(stats_parse_since("0s", now, &t) == 0 && t == now);
	CHECK(stats_parse_since("2026-11-25T20:30:00Z", 0, &t) == 0 && t == 1795638600000LL);
	CHECK(stats_parse_since("2026-11-25T20:30:00.123Z", 0, &t) == 0 &&
	      t == 1795638600123LL);
	CHECK(stats_parse_since("2026-11-25T20:30:00.5Z", 0, &t) == 0 && t == 1795638600500LL);
	CHECK(stats_parse_since("2026-11-25T22:30:00+02:00", 0, &t) == 0 &&
	      t == 1795638600000LL);
	CHECK(stats_parse_since("2024-02-29T00:00:00Z", 0, &t) == 0 && t == 1709164800000LL);
	CHECK(stats_parse_since("2026-11-25", 0, &t) == 0 && t == 1795564800000LL);
	t = 42;
	const char *bad[] = {
		"", "h", "10", "10x", "-5m", "5 m", "5mm", "1.h", "yesterday",
		"2026-11-25T20:30:00", "2026-13-01T00:00:00Z", "2026-02-29T00:00:00Z",
		"2026-11-25T24:00:00Z", "2026-11-25T20:30:00.Z", "2026-11-25T20:30:00Zjunk",
		"2026-11-5", "99999999999999999999d",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (stats_parse_since(bad[i], now, &t) != -1)
			fprintf(stdout, "# accepted %s\n", bad[i]);
		CHECK(stats_parse_since(bad[i], now, &t) == -1);
	}
	CHECK(t == 42);
}

static void test_buffering(void)
{
	const char *dir = fresh_dir("buffer");
	struct stats_config c = config(dir, 3600, 3);
	char *err = NULL;
	CHECK(stats_open(&c, &err) == 0 && err == NULL);
	stats_record(api_call(1));
	stats_record(api_call(2));
	CHECK(written_count(dir) == 0);
	stats_record(api_call(3));
	CHECK(written_count(dir) == 3);
	stats_record(api_call(4));
	CHECK(written_count(dir) == 3);
	stats_flush();
	CHECK(written_count(dir) == 4);
	stats_flush();
	CHECK(written_count(dir) == 4);
	stats_record(api_call(5));
	stats_record(jv_string("not an object"));
	stats_close();
	jv recs = written(dir);
	CHECK(jv_array_length(jv_copy(recs)) == 5);
	for (int i = 0; i < 5; i++) {
		jv r = item(recs, i);
		CHECK(num_of(r, "latency_ms") == i + 1);
		jv_free(r);
	}
	jv_free(recs);
	/* Closed: records go nowhere. */
	stats_record(api_call(6));
	stats_error("api", "x", jv_null());
	CHECK(written_count(dir) == 5);
}

static void test_interval(void)
{
	const char *dir = fresh_dir("interval");
	struct stats_config c = config(dir, 0, 100);
	CHECK(stats_open(&c, NULL) == 0);
	stats_record(api_call(1));
	CHECK(written_count(dir) == 1);
	stats_close();
}

static void test_envelope(void)
{
	const char *dir = fresh_dir("envelope");
	struct stats_config c = config(dir, 3600, 100);
	CHECK(stats_open(&c, NULL) == 0);
	stats_set_context("sess-1", "run_00000000000000aa", "coder");
	jv rec = jv_object_set(api_call(12), jv_string("model"), jv_string("claude-x"));
	stats_record(rec);
	stats_set_context(NULL, NULL, NULL);
	rec = jv_object_set(jv_object(), jv_string("kind"), jv_string("worker"));
	rec = jv_object_set(rec, jv_string("agent"), jv_string("manager"));
	stats_record(rec);
	stats_close();
	jv recs = written(dir);
	CHECK(jv_array_length(jv_copy(recs)) == 2);
	jv a = item(recs, 0), b = item(recs, 1);
	CHECK_STR(str_of(a, "kind"), "api_call");
	const char *ts = str_of(a, "ts");
	CHECK(strlen(ts) == 24 && ts[10] == 'T' && ts[23] == 'Z');
	CHECK_STR(str_of(a, "session_id"), "sess-1");
	CHECK_STR(str_of(a, "run_id"), "run_00000000000000aa");
	CHECK_STR(str_of(a, "agent"), "coder");
	CHECK(num_of(a, "pid") == getpid());
	CHECK_STR(str_of(a, "model"), "claude-x");
	CHECK(num_of(a, "latency_ms") == 12);
	CHECK(is_null(b, "session_id") && is_null(b, "run_id"));
	CHECK_STR(str_of(b, "agent"), "manager");	/* the caller's field wins */
	jv_free(a);
	jv_free(b);
	jv_free(recs);
}

static void test_error_at_once(void)
{
	const char *dir = fresh_dir("errors");
	struct stats_config c = config(dir, 3600, 100);
	CHECK(stats_open(&c, NULL) == 0);
	stats_set_context("s", "r", "tester");
	stats_record(api_call(1));
	CHECK(written_count(dir) == 0);
	jv ctx = jv_object_set(jv_object(), jv_string("tool"), jv_string("Bash"));
	stats_error("timeout", "Bash timed out after 120 s", ctx);
	jv recs = written(dir);
	CHECK(jv_array_length(jv_copy(recs)) == 2);
	jv a = item(recs, 0), e = item(recs, 1);
	CHECK_STR(str_of(a, "kind"), "api_call");
	CHECK_STR(str_of(e, "kind"), "error");
	CHECK_STR(str_of(e, "error_type"), "timeout");
	CHECK_STR(str_of(e, "message"), "Bash timed out after 120 s");
	CHECK_STR(str_of(e, "agent"), "tester");
	jv got = get(e, "context");
	CHECK_STR(str_of(got, "tool"), "Bash");
	jv_free(got);
	jv_free(a);
	jv_free(e);
	jv_free(recs);
	stats_error("config", "no key", jv_null());
	recs = written(dir);
	e = item(recs, 2);
	got = get(e, "context");
	CHECK(jv_get_kind(got) == JV_KIND_OBJECT && jv_object_length(jv_copy(got)) == 0);
	jv_free(got);
	jv_free(e);
	jv_free(recs);
	stats_close();
}

/* A forked child does not write the records its parent had pending. */
static void test_fork_pending(void)
{
	const char *dir = fresh_dir("fork");
	struct stats_config c = config(dir, 3600, 100);
	CHECK(stats_open(&c, NULL) == 0);
	stats_record(api_call(1));
	fflush(stdout);
	pid_t kid = fork();
	if (kid == 0) {
		stats_record(api_call(2));
		stats_close();
		_exit(0);
	}
	int status = -1;
	waitpid(kid, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	jv recs = written(dir);
	CHECK(jv_array_length(jv_copy(recs)) == 1);
	jv r = item(recs, 0);
	CHECK(num_of(r, "latency_ms") == 2 && num_of(r, "pid") == kid);
	jv_free(r);
	jv_free(recs);
	stats_close();
	CHECK(written_count(dir) == 2);
}

static void test_concurrent_flushes(void)
{
	const char *dir = fresh_dir("concurrent");
	struct stats_config c = config(dir, 3600, 7);
	CHECK(stats_open(&c, NULL) == 0);
	fflush(stdout);
	pid_t kids[4];
	for (int w = 0; w < 4; w++) {
		kids[w] = fork();
		if (kids[w] == 0) {
			for (int i = 0; i < 200; i++)
				stats_record(jv_object_set(api_call(w), jv_string("seq"),
							   jv_number(i)));
			stats_close();
			_exit(0);
		}
	}
	for (int w = 0; w < 4; w++)
		waitpid(kids[w], NULL, 0);
	stats_close();
	jv recs = written(dir);
	int per[4] = { 0 }, bad = 0;
	jv_array_foreach(recs, i, r) {
		double w = num_of(r, "latency_ms");
		if (jv_get_kind(r) != JV_KIND_OBJECT || !(w >= 0 && w < 4))
			bad++;
		else
			per[(int)w]++;
		jv_free(r);
	}
	jv_free(recs);
	CHECK(bad == 0);
	for (int w = 0; w < 4; w++)
		CHECK(per[w] == 200);
}

static void test_load(void)
{
	const char *dir = fresh_dir("load");
	jv recs;
	char *err = NULL;
	CHECK(stats_load(dir, &recs, &err) == 0 && err == NULL);
	CHECK(jv_get_kind(recs) == JV_KIND_ARRAY && jv_array_length(jv_copy(recs)) == 0);
	jv_free(recs);
	put(dir, "metrics.ndjson",
	    "{\"kind\":\"api_call\",\"n\":2}\n"
	    "not json\n"
	    "{\"kind\":\"api_call\",\"n\":\n"
	    "[1,2]\n"
	    "{\"no_kind\":1}\n"
	    "\n"
	    "{\"kind\":\"error\",\"n\":3}");
	put(dir, "metrics.ndjson.1", "{\"kind\":\"cache\",\"n\":1}\n");
	CHECK(stats_load(dir, &recs, &err) == 0);
	CHECK(jv_array_length(jv_copy(recs)) == 3);
	for (int i = 0; i < 3; i++) {
		jv r = item(recs, i);
		CHECK(num_of(r, "n") == i + 1);
		jv_free(r);
	}
	jv_free(recs);

	dir = fresh_dir("load-bad");
	mkdir(dir, 0755);
	char *path = xasprintf("%s/metrics.ndjson", dir);
	mkdir(path, 0755);	/* a directory cannot be read as lines */
	CHECK(stats_load(dir, &recs, &err) == -1);
	CHECK(err && strstr(err, path) != NULL);
	free(err);
	free(path);
}

static void test_open_error(void)
{
	const char *dir = fresh_dir("blocked");
	put(base, "blocked", "a file, not a directory");
	struct stats_config c = config(dir, 5, 100);
	char *err = NULL;
	CHECK(stats_open(&c, &err) == -1);
	CHECK(err && strstr(err, dir) != NULL);
	free(err);
	stats_record(api_call(1));
	stats_close();
}

static jv parse(const char *text)
{
	jv v = jv_parse(text);
	CHECK(jv_is_valid(v));
	return v;
}

static void test_by_agent(void)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "[");
	/* coder: latencies 100..2000 in a shuffled order, 20 calls. */
	for (int i = 0; i < 20; i++)
		buf_printf(&b, "{\"kind\":\"api_call\",\"agent\":\"coder\",\"latency_ms\":%d,"
			   "\"input_tokens\":10,\"output_tokens\":5,"
			   "\"cache_read_input_tokens\":30,\"cache_creation_input_tokens\":%d,"
			   "\"cost_usd\":0.1,\"status\":\"ok\"},",
			   ((i * 7) % 20 + 1) * 100, i == 0 ? 20 : 0);
	buf_appends(&b,
		    "{\"kind\":\"api_call\",\"agent\":\"planner\",\"latency_ms\":40,"
		    "\"cost_usd\":null},"
		    "{\"kind\":\"api_call\",\"agent\":\"planner\",\"latency_ms\":10},"
		    "{\"kind\":\"api_call\",\"agent\":\"planner\",\"latency_ms\":30},"
		    "{\"kind\":\"api_call\",\"agent\":\"planner\",\"latency_ms\":20},"
		    "{\"kind\":\"tool_call\",\"agent\":\"coder\",\"name\":\"Bash\"},"
		    "{\"kind\":\"tool_call\",\"agent\":\"coder\",\"name\":\"Read\"},"
		    "{\"kind\":\"error\",\"agent\":\"coder\",\"error_type\":\"tool\"},"
		    "{\"kind\":\"tool_call\",\"agent\":\"tester\",\"name\":\"Bash\"},"
		    "{\"kind\":\"api_call\",\"latency_ms\":7},"
		    "{\"kind\":\"cache\",\"agent\":\"cacheonly\",\"event\":\"hit\"},"
		    "{\"kind\":\"worker\",\"agent\":\"manager\",\"worker\":\"coder\"}]");
	jv recs = parse(b.data);
	buf_free(&b);
	jv agents = stats_by_agent(recs);
	CHECK(jv_object_length(jv_copy(agents)) == 4);	/* coder, planner, tester, unknown */
	jv coder = get(agents, "coder");
	CHECK(num_of(coder, "calls") == 20);
	CHECK(num_of(coder, "latency_p50_ms") == 1000);
	CHECK(num_of(coder, "latency_p95_ms") == 1900);
	CHECK(num_of(coder, "input_tokens") == 200);
	CHECK(num_of(coder, "output_tokens") == 100);
	CHECK(num_of(coder, "cache_read_input_tokens") == 600);
	CHECK(num_of(coder, "cache_creation_input_tokens") == 20);
	CHECK(fabs(num_of(coder, "cost_usd") - 2.0) < 1e-9);
	CHECK(fabs(num_of(coder, "cache_hit_rate") - 600.0 / 820.0) < 1e-9);
	CHECK(num_of(coder, "tool_calls") == 2);
	CHECK(num_of(coder, "errors") == 1);
	jv planner = get(agents, "planner");
	CHECK(num_of(planner, "calls") == 4);
	CHECK(num_of(planner, "latency_p50_ms") == 20);	/* rank ceil(0.5 * 4) = 2 */
	CHECK(num_of(planner, "latency_p95_ms") == 40);	/* rank ceil(0.95 * 4) = 4 */
	CHECK(num_of(planner, "cost_usd") == 0);
	CHECK(num_of(planner, "cache_hit_rate") == 0);
	jv tester = get(agents, "tester");
	CHECK(num_of(tester, "calls") == 0 && num_of(tester, "tool_calls") == 1);
	CHECK(is_null(tester, "latency_p50_ms") && is_null(tester, "latency_p95_ms"));
	jv unknown = get(agents, "unknown");
	CHECK(num_of(unknown, "latency_p50_ms") == 7);
	jv_free(coder);
	jv_free(planner);
	jv_free(tester);
	jv_free(unknown);
	jv_free(agents);
	jv_free(recs);

	jv empty = stats_by_agent(jv_null());
	CHECK(jv_get_kind(empty) == JV_KIND_OBJECT && jv_object_length(empty) == 0);
}

static void test_errors(void)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "[{\"kind\":\"api_call\",\"ts\":\"2026-11-25T20:59:00.000Z\"},");
	static const char *types[] = { "api", "network", "tool" };
	for (int i = 0; i < 25; i++)
		buf_printf(&b, "{\"kind\":\"error\",\"ts\":\"2026-11-25T20:%02d:00.000Z\","
			   "\"error_type\":\"%s\",\"message\":\"e%d\",\"agent\":\"coder\"},",
			   (i * 11) % 25 + 10, types[i % 3], (i * 11) % 25);
	/* Same time as the newest: later in the file counts as newer. */
	buf_appends(&b, "{\"kind\":\"error\",\"ts\":\"2026-11-25T20:34:00.000Z\","
		    "\"message\":\"tie\"}]");
	jv recs = parse(b.data);
	buf_free(&b);
	jv sum = stats_errors(recs);
	CHECK(num_of(sum, "total_errors") == 26);
	jv counts = get(sum, "error_counts");
	CHECK(num_of(counts, "api") == 9 && num_of(counts, "network") == 8 &&
	      num_of(counts, "tool") == 8 && num_of(counts, "unknown") == 1);
	jv recent = get(sum, "recent_errors");
	CHECK(jv_array_length(jv_copy(recent)) == 20);
	jv first = item(recent, 0), second = item(recent, 1), last = item(recent, 19);
	CHECK_STR(str_of(first, "message"), "tie");
	CHECK_STR(str_of(second, "message"), "e24");
	CHECK_STR(str_of(last, "message"), "e6");
	CHECK_STR(str_of(second, "kind"), "error");
	jv_free(first);
	jv_free(second);
	jv_free(last);
	jv_free(recent);
	jv_free(counts);
	jv_free(sum);
	jv_free(recs);

	jv empty = jv_array();
	sum = stats_errors(empty);	/* borrows */
	jv_free(empty);
	CHECK(num_of(sum, "total_errors") == 0);
	recent = get(sum, "recent_errors");
	CHECK(jv_array_length(recent) == 0);
	jv_free(sum);
}

static void test_cache(void)
{
#define AT(s) "\"ts\":\"2026-11-25T20:30:" s ".000Z\""
	jv recs = parse(
		"[{\"kind\":\"cache\",\"event\":\"hit\",\"size\":5," AT("02") "},"
		" {\"kind\":\"cache\",\"event\":\"hit\",\"size\":9," AT("09") "},"
		" {\"kind\":\"cache\",\"event\":\"miss\",\"size\":4," AT("01") "},"
		" {\"kind\":\"cache\",\"event\":\"hit\"," AT("10") "},"
		" {\"kind\":\"cache\",\"event\":\"store\",\"size\":6," AT("03") "},"
		" {\"kind\":\"cache\",\"event\":\"evict\",\"count\":3,\"size\":3},"
		" {\"kind\":\"cache\",\"event\":\"evict\"},"
		" {\"kind\":\"api_call\",\"cached\":true}]");
#undef AT
	jv c = stats_cache(recs);
	CHECK(num_of(c, "hits") == 3);
	CHECK(num_of(c, "misses") == 1);
	CHECK(num_of(c, "hit_rate") == 0.75);
	CHECK(num_of(c, "stores") == 1);
	CHECK(num_of(c, "evictions") == 4);
	CHECK(num_of(c, "size") == 9);	/* the newest report, not the last line */
	jv_free(c);
	jv_free(recs);
	jv empty = jv_array();
	c = stats_cache(empty);
	jv_free(empty);
	CHECK(num_of(c, "hits") == 0 && num_of(c, "hit_rate") == 0 && num_of(c, "size") == 0);
	jv_free(c);
}

static void test_filter(void)
{
	jv recs = parse(
		"[{\"kind\":\"api_call\",\"session_id\":\"a\",\"ts\":\"2026-11-25T20:00:00.000Z\"},"
		" {\"kind\":\"api_call\",\"session_id\":\"b\",\"ts\":\"2026-11-25T20:30:00.000Z\"},"
		" {\"kind\":\"api_call\",\"session_id\":\"a\",\"ts\":\"2026-11-25T21:00:00.000Z\"},"
		" {\"kind\":\"api_call\",\"session_id\":null,\"ts\":\"2026-11-25T21:00:00.000Z\"},"
		" {\"kind\":\"api_call\",\"session_id\":\"a\"}]");
	jv all = stats_filter(recs, NULL, 0);
	CHECK(jv_equal(jv_copy(all), jv_copy(recs)));
	jv_free(all);
	jv a = stats_filter(recs, "a", 0);
	CHECK(jv_array_length(a) == 3);
	jv since = stats_filter(recs, NULL, 1795638600000LL);	/* 20:30 */
	CHECK(jv_array_length(since) == 3);
	jv both = stats_filter(recs, "a", 1795638600000LL);
	CHECK(jv_array_length(jv_copy(both)) == 1);
	jv r = item(both, 0);
	CHECK_STR(str_of(r, "ts"), "2026-11-25T21:00:00.000Z");
	jv_free(r);
	jv_free(both);
	jv none = stats_filter(recs, "zzz", 0);
	CHECK(jv_array_length(none) == 0);
	jv_free(recs);
	jv odd = stats_filter(jv_null(), NULL, 0);
	CHECK(jv_get_kind(odd) == JV_KIND_ARRAY);
	jv_free(odd);
}

int main(void)
{
	snprintf(base, sizeof base, "%s/bllm-test-stats-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 2;
	}
	UNIT_RUN(test_parse_since);
	UNIT_RUN(test_buffering);
	UNIT_RUN(test_interval);
	UNIT_RUN(test_envelope);
	UNIT_RUN(test_error_at_once);
	UNIT_RUN(test_fork_pending);
	UNIT_RUN(test_concurrent_flushes);
	UNIT_RUN(test_load);
	UNIT_RUN(test_open_error);
	UNIT_RUN(test_by_agent);
	UNIT_RUN(test_errors);
	UNIT_RUN(test_cache);
	UNIT_RUN(test_filter);
	unit_rm_rf(base);
	return unit_done();
}
