/* Structured logging: lib/log.c against real files in a temporary directory. */
#define _DEFAULT_SOURCE
#include "log.h"
#include "unit.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

static char base[PATH_MAX];

/* A fresh log directory for one test (the name is static storage). */
static const char *fresh_dir(const char *name)
{
	static char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s/%s", base, name);
	unit_rm_rf(dir);
	return dir;
}

static char *file_in(const char *dir, const char *name)
{
	return xasprintf("%s/%s", dir, name);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

/* The lines of a file as an array of strings ([] when it is missing). */
static jv read_lines(const char *path)
{
	jv out = jv_array();
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return out;
	struct line_reader r;
	line_reader_init(&r, fd);
	char *line;
	size_t len;
	while (line_reader_next(&r, &line, &len) > 0)
		out = jv_array_append(out, jv_string_sized(line, (int)len));
	line_reader_free(&r);
	close(fd);
	return out;
}

/* Line i of lines (borrowed) parsed as JSON. */
static jv parse_line(jv lines, int i)
{
	jv l = jv_array_get(jv_copy(lines), i);
	jv rec = jv_get_kind(l) == JV_KIND_STRING ? jv_parse(jv_string_value(l)) : jv_invalid();
	jv_free(l);
	return rec;
}

static int count_lines(const char *dir, const char *name)
{
	char *path = file_in(dir, name);
	jv lines = read_lines(path);
	int n = jv_array_length(lines);
	free(path);
	return n;
}

/* Whether some line of the file contains needle. */
static bool file_has(const char *dir, const char *name, const char *needle)
{
	char *path = file_in(dir, name);
	jv lines = read_lines(path);
	bool found = false;
	jv_array_foreach(lines, i, l) {
		found = found || strstr(jv_string_value(l), needle) != NULL;
		jv_free(l);
	}
	jv_free(lines);
	free(path);
	return found;
}

static struct log_config config(const char *dir, enum log_level level, bool json)
{
	struct log_config c = {
		.level = level, .json = json, .dir = dir,
		.max_bytes = 10L << 20, .backup_count = 5,
		.error_max_bytes = 5L << 20, .error_backup_count = 3,
		.debug_max_bytes = 20L << 20, .debug_backup_count = 3,
	};
	return c;
}

static double num_of(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : -1;
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

/* The string field, copied into static storage ("" when absent or not a string). */
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

static void test_parse_level(void)
{
	enum log_level l = LOG_INFO;
	CHECK(log_parse_level("DEBUG", &l) == 0 && l == LOG_DEBUG);
	CHECK(log_parse_level("info", &l) == 0 && l == LOG_INFO);
	CHECK(log_parse_level("Warning", &l) == 0 && l == LOG_WARNING);
	CHECK(log_parse_level("warn", &l) == 0 && l == LOG_WARNING);
	CHECK(log_parse_level("ERROR", &l) == 0 && l == LOG_ERROR);
	CHECK(log_parse_level("critical", &l) == 0 && l == LOG_CRITICAL);
	l = LOG_INFO;
	CHECK(log_parse_level("verbose", &l) == -1 && l == LOG_INFO);
	CHECK(log_parse_level("", &l) == -1);
	CHECK(log_parse_level("INFO ", &l) == -1);
	CHECK(log_parse_level(NULL, &l) == -1);
	CHECK_STR(log_level_name(LOG_DEBUG), "DEBUG");
	CHECK_STR(log_level_name(LOG_WARNING), "WARNING");
	CHECK_STR(log_level_name(LOG_CRITICAL), "CRITICAL");
}

static void test_json_record(void)
{
	const char *dir = fresh_dir("json");
	struct log_config c = config(dir, LOG_INFO, true);
	char *err = NULL;
	CHECK(log_open(&c, &err) == 0);
	CHECK(err == NULL);
	log_set_context("20261125-203000-4f9a1c", "run_0123456789abcdef", "coder", "coder", NULL);
	jv extra = jv_object_set(jv_object(), jv_string("tokens"), jv_number(5));
	extra = jv_object_set(extra, jv_string("note"), jv_string("caf\xc3\xa9"));
	int line = __LINE__ + 1;
	LOG(LOG_WARNING, "api_call", extra, "hello %d \"%s\"", 42, "q");
	log_close();

	char *path = file_in(dir, "better-llm.log");
	jv lines = read_lines(path);
	free(path);
	CHECK(jv_array_length(jv_copy(lines)) == 1);
	jv rec = parse_line(lines, 0);
	CHECK(jv_get_kind(rec) == JV_KIND_OBJECT);
	if (jv_get_kind(rec) == JV_KIND_OBJECT) {
		CHECK_STR(str_of(rec, "event"), "api_call");
		CHECK_STR(str_of(rec, "level"), "WARNING");
		CHECK_STR(str_of(rec, "message"), "hello 42 \"q\"");
		const char *ts = str_of(rec, "timestamp");
		CHECK(strlen(ts) == 24 && ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
		      ts[23] == 'Z');
		CHECK_STR(str_of(rec, "session_id"), "20261125-203000-4f9a1c");
		CHECK_STR(str_of(rec, "run_id"), "run_0123456789abcdef");
		CHECK_STR(str_of(rec, "worker_name"), "coder");
		CHECK_STR(str_of(rec, "role"), "coder");
		CHECK(is_null(rec, "model"));
		CHECK(num_of(rec, "pid") == getpid());
		CHECK_STR(str_of(rec, "pathname"), __FILE__);
		CHECK_STR(str_of(rec, "func_name"), "test_json_record");
		CHECK(num_of(rec, "lineno") == line);
		CHECK(num_of(rec, "tokens") == 5);
		CHECK_STR(str_of(rec, "note"), "caf\xc3\xa9");
		CHECK(jv_object_length(jv_copy(rec)) == 15);
	}
	jv_free(rec);
	jv_free(lines);
}

/* Extras may not replace the record's own fields; a non-object extra is kept under "extra". */
static void test_json_extras(void)
{
	const char *dir = fresh_dir("extras");
	struct log_config c = config(dir, LOG_INFO, true);
	CHECK(log_open(&c, NULL) == 0);
	log_set_context(NULL, NULL, NULL, NULL, "claude-x");
	jv extra = jv_object_set(jv_object(), jv_string("event"), jv_string("forged"));
	extra = jv_object_set(extra, jv_string("level"), jv_string("DEBUG"));
	extra = jv_object_set(extra, jv_string("model"), jv_string("claude-y"));
	LOG(LOG_INFO, "real", extra, "m");
	LOG(LOG_INFO, "arr", jv_array_append(jv_array(), jv_number(1)), "m");
	LOG(LOG_INFO, "none", jv_null(), "%s", "");
	log_close();
	char *path = file_in(dir, "better-llm.log");
	jv lines = read_lines(path);
	free(path);
	CHECK(jv_array_length(jv_copy(lines)) == 3);
	jv a = parse_line(lines, 0), b = parse_line(lines, 1), n = parse_line(lines, 2);
	CHECK_STR(str_of(a, "event"), "real");
	CHECK_STR(str_of(a, "level"), "INFO");
	CHECK_STR(str_of(a, "model"), "claude-y");
	CHECK(is_null(a, "session_id"));
	jv arr = jv_object_get(jv_copy(b), jv_string("extra"));
	CHECK(jv_get_kind(arr) == JV_KIND_ARRAY);
	CHECK_STR(str_of(b, "model"), "claude-x");
	CHECK_STR(str_of(n, "message"), "");
	CHECK(jv_object_length(jv_copy(n)) == 13);
	jv_free(arr);
	jv_free(a);
	jv_free(b);
	jv_free(n);
	jv_free(lines);
}

static void test_console_format(void)
{
	const char *dir = fresh_dir("console");
	struct log_config c = config(dir, LOG_INFO, false);
	CHECK(log_open(&c, NULL) == 0);
	log_set_context("s1", "run_1", "coder", "coder", "m");
	jv extra = jv_object_set(jv_object(), jv_string("tool"), jv_string("Bash"));
	extra = jv_object_set(extra, jv_string("exit_code"), jv_number(2));
	extra = jv_object_set(extra, jv_string("cmd"), jv_string("make check"));
	LOG(LOG_INFO, "tool_result", extra, "tool finished\nsecond line");
	LOG(LOG_ERROR, "boom", jv_null(), "failed");
	log_set_context(NULL, NULL, NULL, NULL, NULL);
	LOG(LOG_WARNING, NULL, jv_null(), "anonymous");
	log_close();
	char *path = file_in(dir, "better-llm.log");
	jv lines = read_lines(path);
	free(path);
	CHECK(jv_array_length(jv_copy(lines)) == 3);
	jv l0 = jv_array_get(jv_copy(lines), 0), l1 = jv_array_get(jv_copy(lines), 1);
	jv l2 = jv_array_get(jv_copy(lines), 2);
	const char *s = jv_string_value(l0);
	/* "2026-11-25 20:30:00.123 INFO  [coder] message key=value ..." */
	CHECK(strlen(s) > 24 && s[4] == '-' && s[10] == ' ' && s[13] == ':' && s[19] == '.' &&
	      s[23] == ' ');
	CHECK_STR(s + 24, "INFO  [coder] tool finished\\nsecond line event=tool_result tool=Bash "
		  "exit_code=2 cmd=\"make check\"");
	CHECK_STR(jv_string_value(l1) + 24, "ERROR [coder] failed event=boom");
	CHECK_STR(jv_string_value(l2) + 24, "WARNING anonymous");
	jv_free(l0);
	jv_free(l1);
	jv_free(l2);
	jv_free(lines);
}

static void write_all_levels(void)
{
	LOG(LOG_DEBUG, "e", jv_null(), "at-debug");
	LOG(LOG_INFO, "e", jv_null(), "at-info");
	LOG(LOG_WARNING, "e", jv_null(), "at-warning");
	LOG(LOG_ERROR, "e", jv_null(), "at-error");
	LOG(LOG_CRITICAL, "e", jv_null(), "at-critical");
}

static void test_level_filtering(void)
{
	const char *dir = fresh_dir("levels-info");
	struct log_config c = config(dir, LOG_INFO, true);
	CHECK(log_open(&c, NULL) == 0);
	write_all_levels();
	log_close();
	CHECK(count_lines(dir, "better-llm.log") == 4);
	CHECK(!file_has(dir, "better-llm.log", "at-debug"));
	CHECK(file_has(dir, "better-llm.log", "at-info"));
	CHECK(file_has(dir, "better-llm.log", "at-error"));
	CHECK(count_lines(dir, "better-llm-error.log") == 2);
	CHECK(!file_has(dir, "better-llm-error.log", "at-info"));
	CHECK(!file_has(dir, "better-llm-error.log", "at-warning"));
	CHECK(file_has(dir, "better-llm-error.log", "at-error"));
	CHECK(file_has(dir, "better-llm-error.log", "at-critical"));
	char *debug = file_in(dir, "better-llm-debug.log");
	CHECK(!exists(debug));
	free(debug);

	dir = fresh_dir("levels-debug");
	c = config(dir, LOG_DEBUG, true);
	CHECK(log_open(&c, NULL) == 0);
	write_all_levels();
	log_close();
	/* the debug file holds only what the main log does not */
	CHECK(count_lines(dir, "better-llm-debug.log") == 1);
	CHECK(file_has(dir, "better-llm-debug.log", "at-debug"));
	CHECK(count_lines(dir, "better-llm.log") == 4);
	CHECK(!file_has(dir, "better-llm.log", "at-debug"));
	CHECK(count_lines(dir, "better-llm-error.log") == 2);

	dir = fresh_dir("levels-critical");
	c = config(dir, LOG_CRITICAL, true);
	CHECK(log_open(&c, NULL) == 0);
	write_all_levels();
	log_close();
	CHECK(count_lines(dir, "better-llm.log") == 1);
	CHECK(count_lines(dir, "better-llm-error.log") == 1);
	CHECK(file_has(dir, "better-llm-error.log", "at-critical"));
}

static void test_not_open(void)
{
	/* Before log_open (or after a failed one) records go nowhere and extras are freed. */
	LOG(LOG_ERROR, "e", jv_object_set(jv_object(), jv_string("k"), jv_string("v")), "x");
	const char *dir = fresh_dir("blocked");
	FILE *f = fopen(dir, "w");	/* a file where the directory should be */
	if (f)
		fclose(f);
	struct log_config c = config(dir, LOG_INFO, true);
	char *err = NULL;
	CHECK(log_open(&c, &err) == -1);
	CHECK(err && strstr(err, dir) != NULL);
	free(err);
	LOG(LOG_ERROR, "e", jv_object_set(jv_object(), jv_string("k"), jv_string("v")), "x");
	unlink(dir);
}

static void test_rotation(void)
{
	const char *dir = fresh_dir("rotate");
	struct log_config c = config(dir, LOG_INFO, true);
	c.max_bytes = 600;
	c.backup_count = 3;
	CHECK(log_open(&c, NULL) == 0);
	for (int i = 0; i < 100; i++)
		LOG(LOG_INFO, "tick", jv_null(), "record %d", i);
	log_close();
	for (int i = 0; i <= 4; i++) {
		char *path = i ? xasprintf("%s/better-llm.log.%d", dir, i) :
			     xasprintf("%s/better-llm.log", dir);
		struct stat st;
		if (i < 4) {
			CHECK(stat(path, &st) == 0);
			CHECK(st.st_size > 0 && st.st_size <= 600);
		} else {
			CHECK(!exists(path));
		}
		free(path);
	}
	/* The newest record is in the live file, older ones in .1, .2, .3 in order. */
	CHECK(file_has(dir, "better-llm.log", "record 99"));
	CHECK(!file_has(dir, "better-llm.log.3", "record 99"));
	CHECK(!file_has(dir, "better-llm.log", "\"record 0\""));

	/* A record larger than max_bytes still goes in whole, into a fresh file. */
	dir = fresh_dir("rotate-big");
	c = config(dir, LOG_INFO, true);
	c.max_bytes = 50;
	c.backup_count = 1;
	CHECK(log_open(&c, NULL) == 0);
	LOG(LOG_INFO, "big", jv_null(), "%0200d", 1);
	LOG(LOG_INFO, "big", jv_null(), "%0200d", 2);
	log_close();
	CHECK(count_lines(dir, "better-llm.log") == 1);
	CHECK(count_lines(dir, "better-llm.log.1") == 1);
}

#define WRITERS 4
#define PER_WRITER 500

/* Forked writers share the files through rotation: no line torn, none lost. */
static void test_concurrent_writers(void)
{
	const char *dir = fresh_dir("concurrent");
	struct log_config c = config(dir, LOG_INFO, true);
	c.max_bytes = 20000;
	c.backup_count = 200;	/* holds everything: nothing is rotated away */
	/* Opened and used before the fork: the children inherit the lock descriptor too. */
	CHECK(log_open(&c, NULL) == 0);
	LOG(LOG_INFO, "setup", jv_null(), "before the fork");
	fflush(stdout);
	pid_t kids[WRITERS];
	for (int w = 0; w < WRITERS; w++) {
		kids[w] = fork();
		if (kids[w] == 0) {
			for (int i = 0; i < PER_WRITER; i++) {
				jv extra = jv_object_set(jv_object(), jv_string("writer"),
							 jv_number(w));
				extra = jv_object_set(extra, jv_string("seq"), jv_number(i));
				LOG(LOG_INFO, "stress", extra, "writer-%d record %d %s", w, i,
				    "padding padding padding padding padding padding");
			}
			int dropped = (int)log_dropped();
			log_close();
			_exit(dropped ? 3 : 0);
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		int status = -1;
		waitpid(kids[w], &status, 0);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}
	log_close();

	int seen[WRITERS][PER_WRITER] = { { 0 } };
	int per_writer[WRITERS] = { 0 }, bad = 0, files = 0, longest = 0, setup_records = 0;
	long sizes[256] = { 0 };
	for (int i = 0; i <= c.backup_count + 1; i++) {
		char *path = i ? xasprintf("%s/better-llm.log.%d", dir, i) :
			     xasprintf("%s/better-llm.log", dir);
		struct stat st;
		if (stat(path, &st) == 0) {
			files++;
			sizes[i] = st.st_size;
			CHECK(i <= c.backup_count);
		}
		jv lines = read_lines(path);
		free(path);
		jv_array_foreach(lines, k, l) {
			int len = jv_string_length_bytes(jv_copy(l)) + 1;
			longest = len > longest ? len : longest;
			jv rec = jv_parse(jv_string_value(l));
			double w = num_of(rec, "writer"), s = num_of(rec, "seq");
			bool obj = jv_get_kind(rec) == JV_KIND_OBJECT;
			if (obj && strcmp(str_of(rec, "event"), "setup") == 0) {
				setup_records++;
			} else if (!obj || w < 0 || w >= WRITERS || s < 0 || s >= PER_WRITER) {
				bad++;
			} else {
				per_writer[(int)w]++;
				seen[(int)w][(int)s]++;
			}
			jv_free(rec);
			jv_free(l);
		}
		jv_free(lines);
	}
	CHECK(bad == 0);
	CHECK(setup_records == 1);
	CHECK(files > 10);	/* rotation happened during the run */
	/*
	 * A file is rotated only when the next record would not fit: one
	 * rotated early means two processes rotated at once, or one followed
	 * a stale descriptor.
	 */
	for (int i = 1; i < files; i++) {
		CHECK(sizes[i] <= c.max_bytes && sizes[i] > c.max_bytes - longest);
		if (sizes[i] <= c.max_bytes - longest) {
			fprintf(stdout, "# better-llm.log.%d has %ld bytes\n", i, sizes[i]);
			break;
		}
	}
	for (int w = 0; w < WRITERS; w++) {
		CHECK(per_writer[w] == PER_WRITER);
		for (int s = 0; s < PER_WRITER; s++)
			if (seen[w][s] != 1) {
				CHECK(seen[w][s] == 1);
				break;
			}
	}
	if (bad || files <= 10)
		fprintf(stdout, "# bad lines %d, files %d\n", bad, files);
}

/* A lock held elsewhere for longer than ~200 ms makes the writer drop its record. */
static void test_lock_timeout_drops(void)
{
	const char *dir = fresh_dir("locked");
	struct log_config c = config(dir, LOG_INFO, true);
	CHECK(log_open(&c, NULL) == 0);
	unsigned long before = log_dropped();
	char *lock_path = file_in(dir, ".lock");
	int fd = open(lock_path, O_RDWR | O_CREAT, 0644);
	CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	LOG(LOG_INFO, "e", jv_null(), "dropped");
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double waited = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
	CHECK(waited >= 0.15 && waited < 2.0);
	CHECK(log_dropped() == before + 1);
	flock(fd, LOCK_UN);
	close(fd);
	LOG(LOG_INFO, "e", jv_null(), "kept");
	log_close();
	CHECK(!file_has(dir, "better-llm.log", "dropped"));
	CHECK(file_has(dir, "better-llm.log", "kept"));
	free(lock_path);
}

int main(void)
{
	snprintf(base, sizeof base, "%s/bllm-test-log-XXXXXX",
		 getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return 2;
	}
	UNIT_RUN(test_parse_level);
	UNIT_RUN(test_json_record);
	UNIT_RUN(test_json_extras);
	UNIT_RUN(test_console_format);
	UNIT_RUN(test_level_filtering);
	UNIT_RUN(test_not_open);
	UNIT_RUN(test_rotation);
	UNIT_RUN(test_concurrent_writers);
	UNIT_RUN(test_lock_timeout_drops);
	unit_rm_rf(base);
	return unit_done();
}
