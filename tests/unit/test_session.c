/* Saved sessions: lib/session.c against real files in a temporary directory. */
#define _DEFAULT_SOURCE
#include "session.h"
#include "unit.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char base[PATH_MAX];

static char *at(const char *rel)
{
	static char bufs[4][PATH_MAX * 2];
	static int i;
	char *b = bufs[i++ % 4];
	snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
	return b;
}

static void put(const char *path, const void *data, size_t n)
{
	FILE *f = fopen(path, "wb");
	if (!f) {
		perror(path);
		exit(2);
	}
	fwrite(data, 1, n, f);
	fclose(f);
}

static void puts_file(const char *path, const char *s)
{
	put(path, s, strlen(s));
}

static void put_gz(const char *path, const char *s, size_t n)
{
	gzFile gz = gzopen(path, "wb");
	if (!gz || gzwrite(gz, s, (unsigned)n) != (int)n || gzclose(gz) != Z_OK) {
		fprintf(stderr, "%s: cannot write gzip\n", path);
		exit(2);
	}
}

static int mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) < 0 ? -1 : (int)(st.st_mode & 07777);
}

/* Names in dir, sorted, joined by spaces (static buffer). */
static const char *names_in(const char *dir)
{
	static char out[4096];
	char *names[64];
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL && n < 64)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			names[n++] = strdup(de->d_name);
	if (d)
		closedir(d);
	for (int i = 0; i < n; i++)
		for (int j = i + 1; j < n; j++)
			if (strcmp(names[j], names[i]) < 0) {
				char *t = names[i];
				names[i] = names[j];
				names[j] = t;
			}
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (i)
			strcat(out, " ");
		strncat(out, names[i], sizeof out - strlen(out) - 2);
		free(names[i]);
	}
	return out;
}

/* A one-line error that names what it should. */
static void check_err(char *err, const char *needle)
{
	CHECK(err != NULL);
	if (!err)
		return;
	CHECK(strchr(err, '\n') == NULL);
	if (needle && !strstr(err, needle)) {
		printf("# error \"%s\" lacks \"%s\"\n", err, needle);
		unit_failed_now = 1;
	}
	free(err);
}

static const char SUMMARY[] =
	"{\"session_id\":\"S\",\"created_at\":\"2026-11-25T20:30:00.120Z\","
	"\"completed_at\":\"2026-11-25T20:41:12.004Z\",\"user_request\":\"add a -l flag\","
	"\"total_turns\":12,\"agents_used\":[\"planner\",\"coder\"],"
	"\"messages\":[{\"role\":\"user\",\"content\":\"add a -l flag\"}],"
	"\"result\":{\"status\":\"completed\",\"tests_passed\":true,\"exit_code\":0,\"text\":\"done \u00e9\"},"
	"\"usage\":{\"input_tokens\":1203,\"output_tokens\":88},\"total_cost_usd\":0.00504,"
	"\"ledger\":{\"planner\":{\"turns\":2,\"input_tokens\":1203,\"output_tokens\":88,"
	"\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0,\"cost_usd\":0.00504,"
	"\"calls\":1}},\"verification\":{\"verified\":true,\"tests_passed\":1,\"tests_failed\":0}}";

static void test_new_id(void)
{
	char *prev = NULL;
	for (int i = 0; i < 2000; i++) {
		char *id = session_new_id();
		CHECK(strlen(id) == 22);
		for (int k = 0; k < 22; k++) {
			char c = id[k];
			if (k == 8 || k == 15)
				CHECK(c == '-');
			else if (k < 15)
				CHECK(c >= '0' && c <= '9');
			else
				CHECK((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'));
		}
		/* Strictly increasing: sorted by time and never repeated. */
		if (prev)
			CHECK(strcmp(prev, id) < 0);
		free(prev);
		prev = id;
	}
	free(prev);
}

static void test_open_append_sync(void)
{
	struct session s;
	char *err = NULL;
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("deep/er/sessions"));
	CHECK(session_open(&s, dir, NULL, true, &err) == 0);
	CHECK(err == NULL);
	CHECK(s.journal_fd >= 0);
	CHECK(mode_of(dir) == 0700);
	CHECK(mode_of(s.journal_path) == 0600);
	CHECK(strstr(s.journal_path, s.id) != NULL);
	char *id = strdup(s.id);
	for (int i = 0; i < 3; i++) {
		jv ev = jv_parse("{\"v\":1,\"type\":\"text\",\"agent\":\"coder\",\"text\":\"line\\nbreak\"}");
		ev = jv_object_set(ev, jv_string("n"), jv_number(i));
		CHECK(session_append(&s, ev, i == 1) == 0);
		jv_free(ev);
	}
	CHECK(session_append(&s, jv_invalid(), false) == -1);
	session_close(&s);
	CHECK(s.journal_fd == -1);
	CHECK(session_append(&s, jv_null(), false) == -1);

	/* Opening the same ID again appends. */
	CHECK(session_open(&s, dir, id, true, &err) == 0);
	jv ev = jv_parse("{\"type\":\"result\",\"n\":3}");
	CHECK(session_append(&s, ev, true) == 0);
	jv_free(ev);
	session_close(&s);

	jv events;
	CHECK(session_read_journal(dir, id, &events, &err) == 0);
	CHECK(jv_array_length(jv_copy(events)) == 4);
	jv_array_foreach(events, i, e) {
		jv n = jv_object_get(e, jv_string("n"));
		CHECK(jv_get_kind(n) == JV_KIND_NUMBER && jv_number_value(n) == i);
		jv_free(n);
	}
	jv second = jv_array_get(jv_copy(events), 1);
	jv text = jv_object_get(second, jv_string("text"));
	CHECK_STR(jv_string_value(text), "line\nbreak");
	jv_free(text);
	jv_free(events);

	/* Bad IDs never become paths. */
	CHECK(session_open(&s, dir, "../escape", true, &err) == -1);
	check_err(err, "../escape");
	free(id);
}

static void roundtrip(bool compress)
{
	struct session s;
	char *err = NULL;
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at(compress ? "rt-gz" : "rt-plain"));
	CHECK(session_open(&s, dir, "20261125-203000-4f9a1c", compress, &err) == 0);
	jv summary = jv_parse(SUMMARY);
	CHECK(jv_is_valid(summary));
	CHECK(session_write_summary(&s, summary, &err) == 0);
	const char *path = at(compress ? "rt-gz/20261125-203000-4f9a1c.json.gz"
				       : "rt-plain/20261125-203000-4f9a1c.json");
	CHECK(mode_of(path) == 0600);
	unsigned char magic[2] = { 0, 0 };
	FILE *f = fopen(path, "rb");
	CHECK(f && fread(magic, 1, 2, f) == 2);
	if (f)
		fclose(f);
	CHECK((magic[0] == 0x1f && magic[1] == 0x8b) == compress);

	jv back;
	CHECK(session_load_summary(dir, s.id, &back, &err) == 0);
	CHECK(jv_equal(jv_copy(summary), jv_copy(back)));
	jv_free(back);
	CHECK(session_get(dir, s.id, &back, &err) == 0);
	CHECK(jv_equal(jv_copy(summary), back));
	jv_free(summary);
	session_close(&s);
}

static void test_summary_gz_roundtrip(void)
{
	roundtrip(true);
}

static void test_summary_plain_roundtrip(void)
{
	roundtrip(false);
}

static void test_atomic_replace(void)
{
	struct session s;
	char *err = NULL;
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("atomic"));
	CHECK(session_open(&s, dir, "20261125-203000-aaaaaa", true, &err) == 0);
	/* A large first summary, then a small one: the file holds the second whole. */
	jv big = jv_parse(SUMMARY);
	jv msgs = jv_array();
	for (int i = 0; i < 2000; i++)
		msgs = jv_array_append(msgs, jv_string_fmt("message %d with some text in it", i));
	big = jv_object_set(big, jv_string("messages"), msgs);
	CHECK(session_write_summary(&s, big, &err) == 0);
	jv small = jv_parse("{\"session_id\":\"20261125-203000-aaaaaa\",\"result\":{\"status\":\"failed\"}}");
	CHECK(session_write_summary(&s, small, &err) == 0);
	jv back;
	CHECK(session_load_summary(dir, s.id, &back, &err) == 0);
	CHECK(jv_equal(jv_copy(small), back));
	CHECK_STR(names_in(dir), "20261125-203000-aaaaaa.json.gz 20261125-203000-aaaaaa.ndjson");

	/* Switching compression off replaces the .json.gz with a .json. */
	s.compress = false;
	CHECK(session_write_summary(&s, big, &err) == 0);
	CHECK_STR(names_in(dir), "20261125-203000-aaaaaa.json 20261125-203000-aaaaaa.ndjson");
	CHECK(session_load_summary(dir, s.id, &back, &err) == 0);
	CHECK(jv_equal(jv_copy(big), back));
	CHECK(mode_of(at("atomic/20261125-203000-aaaaaa.json")) == 0600);
	jv_free(big);
	jv_free(small);
	session_close(&s);

	/* A session that is not open has nowhere to write. */
	CHECK(session_write_summary(&s, jv_null(), &err) == -1);
	check_err(err, "not open");
}

static void test_resolve_id(void)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("resolve"));
	mkdir(dir, 0700);
	puts_file(at("resolve/20261125-203000-4f9a1c.ndjson"), "");
	puts_file(at("resolve/20261125-203000-4f9a1c.json.gz"), "");
	puts_file(at("resolve/20261125-210000-0b1234.json"), "{}");
	puts_file(at("resolve/20261126-080000-77aa00.ndjson"), "");
	puts_file(at("resolve/abc.json"), "{}");
	puts_file(at("resolve/abcd.json"), "{}");
	puts_file(at("resolve/.abcde.json.gz.Xy12zz"), "");
	puts_file(at("resolve/notes.txt"), "");
	char *full = NULL, *err = NULL;

	CHECK(session_resolve_id(dir, "20261125-203000-4f9a1c", &full, &err) == 0);
	CHECK_STR(full, "20261125-203000-4f9a1c");
	free(full);
	CHECK(session_resolve_id(dir, "20261126", &full, &err) == 0);
	CHECK_STR(full, "20261126-080000-77aa00");
	free(full);
	CHECK(session_resolve_id(dir, "20261125-21", &full, &err) == 0);
	CHECK_STR(full, "20261125-210000-0b1234");
	free(full);
	/* An exact ID wins over the longer IDs it begins. */
	CHECK(session_resolve_id(dir, "abc", &full, &err) == 0);
	CHECK_STR(full, "abc");
	free(full);

	full = NULL;
	CHECK(session_resolve_id(dir, "20261125", &full, &err) == -1);
	CHECK(full == NULL);
	check_err(err, "ambiguous");
	CHECK(session_resolve_id(dir, "2026", &full, &err) == -1);
	check_err(err, "and 1 more");
	CHECK(session_resolve_id(dir, "2027", &full, &err) == -1);
	check_err(err, "\"2027\"");
	CHECK(session_resolve_id(dir, "abcde", &full, &err) == -1);
	check_err(err, "no session");
	CHECK(session_resolve_id(dir, "notes", &full, &err) == -1);
	check_err(err, "no session");
	CHECK(session_resolve_id(dir, "", &full, &err) == -1);
	check_err(err, "invalid");
	CHECK(session_resolve_id(dir, "../resolve/abc", &full, &err) == -1);
	check_err(err, "invalid");
	CHECK(session_resolve_id(at("nowhere"), "abc", &full, &err) == -1);
	check_err(err, "nowhere");
}

static void test_torn_journal(void)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("torn"));
	mkdir(dir, 0700);
	puts_file(at("torn/T.ndjson"),
		  "{\"type\":\"init\",\"n\":0}\n"
		  "not json at all\n"
		  "[1,2]\n"
		  "{\"no_type\":true}\n"
		  "\n"
		  "{\"type\":\"text\",\"n\":1}\r\n"
		  "{\"type\":\"text\",\"te");
	jv events;
	char *err = NULL;
	CHECK(session_read_journal(dir, "T", &events, &err) == 0);
	CHECK(jv_array_length(jv_copy(events)) == 2);
	jv_free(events);

	/* Appending after a torn line keeps the new event whole. */
	struct session s;
	CHECK(session_open(&s, dir, "T", false, &err) == 0);
	jv ev = jv_parse("{\"type\":\"result\",\"n\":2}");
	CHECK(session_append(&s, ev, true) == 0);
	jv_free(ev);
	session_close(&s);
	CHECK(session_read_journal(dir, "T", &events, &err) == 0);
	CHECK(jv_array_length(jv_copy(events)) == 3);
	jv last = jv_array_get(events, 2);
	jv n = jv_object_get(last, jv_string("n"));
	CHECK(jv_get_kind(n) == JV_KIND_NUMBER && jv_number_value(n) == 2);
	jv_free(n);

	CHECK(session_read_journal(dir, "missing", &events, &err) == -1);
	check_err(err, "missing.ndjson");
}

/* A string field of obj (borrowed), or "" when absent (never an assertion in jv). */
static const char *str_at(jv obj, const char *k1, const char *k2)
{
	static char out[256];
	jv v = jv_get_kind(obj) == JV_KIND_OBJECT ? jv_object_get(jv_copy(obj), jv_string(k1))
						   : jv_null();
	if (k2 && jv_get_kind(v) == JV_KIND_OBJECT)
		v = jv_object_get(v, jv_string(k2));
	snprintf(out, sizeof out, "%s", jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "");
	jv_free(v);
	return out;
}

static double num_at(jv obj, const char *k1, const char *k2)
{
	jv v = jv_get_kind(obj) == JV_KIND_OBJECT ? jv_object_get(jv_copy(obj), jv_string(k1))
						   : jv_null();
	if (k2 && jv_get_kind(v) == JV_KIND_OBJECT)
		v = jv_object_get(v, jv_string(k2));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : -1;
	jv_free(v);
	return d;
}

static void test_list_mixed(void)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("list"));
	mkdir(dir, 0700);
	/* Out of order on purpose: list sorts by ID. */
	puts_file(at("list/20261126-080000-77aa00.ndjson"),
		  "{\"type\":\"init\",\"agent\":\"manager\",\"ts\":\"2026-11-26T08:00:00.000Z\"}\n"
		  "{\"type\":\"task\",\"agent\":\"manager\",\"ts\":\"2026-11-26T08:00:00.100Z\",\"text\":\"fix it\"}\n"
		  "{\"type\":\"usage\",\"agent\":\"manager\",\"input_tokens\":100,\"output_tokens\":10,\"cost_usd\":0.25}\n"
		  "{\"type\":\"worker_start\",\"agent\":\"manager\",\"worker\":\"coder\"}\n"
		  "{\"type\":\"usage\",\"agent\":\"coder\",\"input_tokens\":200,\"output_tokens\":20,\"cost_usd\":0.5}\n"
		  "{\"type\":\"usage\",\"agent\":\"coder\",\"input_tokens\":1,\"output_tokens\":2,\"cost_usd\":null}\n"
		  "{\"type\":\"task\",\"agent\":\"coder\",\"text\":\"not the request\"}\n");
	put_gz(at("list/20261125-203000-4f9a1c.json.gz"), SUMMARY, strlen(SUMMARY));
	puts_file(at("list/20261125-203000-4f9a1c.ndjson"), "{\"type\":\"init\"}\n");
	puts_file(at("list/20261125-210000-0b1234.json"),
		  "{\"session_id\":\"20261125-210000-0b1234\",\"result\":{\"status\":\"failed\"}}");
	puts_file(at("list/20261127-000000-000000.ndjson"), "");
	puts_file(at("list/.20261128-000000-000000.json.gz.abcdef"), "junk");

	jv all;
	char *err = NULL;
	CHECK(session_list(dir, &all, &err) == 0);
	CHECK(jv_array_length(jv_copy(all)) == 4);
	if (jv_array_length(jv_copy(all)) != 4) {
		jv_free(all);
		return;
	}
	jv a = jv_array_get(jv_copy(all), 0), b = jv_array_get(jv_copy(all), 1);
	jv c = jv_array_get(jv_copy(all), 2), d = jv_array_get(jv_copy(all), 3);
	CHECK_STR(str_at(a, "session_id", NULL), "S");	/* the saved summary, as saved */
	CHECK_STR(str_at(a, "result", "status"), "completed");
	CHECK_STR(str_at(b, "result", "status"), "failed");
	CHECK_STR(str_at(c, "session_id", NULL), "20261126-080000-77aa00");
	CHECK_STR(str_at(c, "result", "status"), "incomplete");
	CHECK_STR(str_at(c, "user_request", NULL), "fix it");
	CHECK_STR(str_at(c, "created_at", NULL), "2026-11-26T08:00:00.000Z");
	CHECK(num_at(c, "total_turns", NULL) == 3);
	CHECK(num_at(c, "total_cost_usd", NULL) == 0.75);
	CHECK(num_at(c, "usage", "input_tokens") == 301);
	jv ledger = jv_object_get(jv_copy(c), jv_string("ledger"));
	CHECK(num_at(ledger, "coder", "turns") == 2);
	CHECK(num_at(ledger, "coder", "calls") == 1);
	CHECK(num_at(ledger, "coder", "output_tokens") == 22);
	CHECK(num_at(ledger, "manager", "cost_usd") == 0.25);
	jv_free(ledger);
	jv used = jv_object_get(jv_copy(c), jv_string("agents_used"));
	CHECK(jv_equal(used, JV_ARRAY(jv_string("coder"))));
	/* An empty journal: created_at from the ID. */
	CHECK_STR(str_at(d, "result", "status"), "incomplete");
	CHECK_STR(str_at(d, "created_at", NULL), "2026-11-27T00:00:00Z");
	jv none = jv_object_get(jv_copy(d), jv_string("user_request"));
	CHECK(jv_get_kind(none) == JV_KIND_NULL);
	jv_free(none);

	/* The text table: one header and a row per session, request cut. */
	struct buf out = BUF_INIT;
	session_format_list(&out, all, false);
	const char *t = buf_str(&out);
	CHECK(strncmp(t, "ID ", 3) == 0);
	CHECK(strstr(t, "CREATED") && strstr(t, "STATUS") && strstr(t, "TURNS") &&
	      strstr(t, "COST") && strstr(t, "REQUEST"));
	CHECK(strstr(t, "incomplete") != NULL);
	CHECK(strstr(t, "$0.7500") != NULL);
	CHECK(strstr(t, "2026-11-26 08:00") != NULL);
	CHECK(strchr(t, '\033') == NULL);
	int lines = 0;
	for (const char *p = t; *p; p++)
		lines += *p == '\n';
	CHECK(lines == 5);
	buf_free(&out);
	session_format_list(&out, all, true);
	CHECK(strchr(buf_str(&out), '\033') != NULL);
	buf_free(&out);

	jv_free(a);
	jv_free(b);
	jv_free(c);
	jv_free(d);
	jv_free(all);

	/* No directory: no sessions, not an error. */
	CHECK(session_list(at("nowhere"), &all, &err) == 0);
	CHECK(jv_get_kind(all) == JV_KIND_ARRAY && jv_array_length(jv_copy(all)) == 0);
	jv_free(all);
}

static void test_corrupt_summary(void)
{
	char dir[PATH_MAX * 2];
	snprintf(dir, sizeof dir, "%s", at("corrupt"));
	mkdir(dir, 0700);
	char good[4096];
	put_gz(at("corrupt/tmp.json.gz"), SUMMARY, strlen(SUMMARY));
	FILE *f = fopen(at("corrupt/tmp.json.gz"), "rb");
	size_t n = f ? fread(good, 1, sizeof good, f) : 0;
	if (f)
		fclose(f);
	unlink(at("corrupt/tmp.json.gz"));
	CHECK(n > 40);

	put(at("corrupt/trunc.json.gz"), good, n / 2);
	put(at("corrupt/junk.json.gz"), "\x1f\x8b\x08\x00garbage-garbage-garbage", 27);
	good[n / 2] ^= 0x55;
	put(at("corrupt/flip.json.gz"), good, n);
	puts_file(at("corrupt/plain.json.gz"), SUMMARY);
	puts_file(at("corrupt/empty.json"), "");
	put_gz(at("corrupt/badjson.json.gz"), "{\"a\":\n\x01", 7);
	put_gz(at("corrupt/array.json.gz"), "[1,2]", 5);
	static const char *const names[] = { "trunc", "junk", "flip", "plain", "empty",
					     "badjson", "array" };
	jv v;
	char *err = NULL;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		CHECK(session_load_summary(dir, names[i], &v, &err) == -1);
		check_err(err, names[i]);
		CHECK(session_get(dir, names[i], &v, &err) == -1);
		check_err(err, names[i]);
	}
	CHECK(session_load_summary(dir, "absent", &v, &err) == -1);
	check_err(err, "no summary");
	CHECK(session_get(dir, "absent", &v, &err) == -1);
	check_err(err, "no session");

	/* list keeps going: damaged sessions are "unreadable" with their error. */
	puts_file(at("corrupt/trunc.ndjson"), "{\"type\":\"task\",\"text\":\"the request\"}\n");
	jv all;
	CHECK(session_list(dir, &all, &err) == 0);
	CHECK(jv_array_length(jv_copy(all)) == 7);
	jv_array_foreach(all, i, s) {
		CHECK_STR(str_at(s, "result", "status"), "unreadable");
		char id[256];
		snprintf(id, sizeof id, "%s", str_at(s, "session_id", NULL));
		CHECK(id[0] && strstr(str_at(s, "error", NULL), id) != NULL);
		if (strcmp(id, "trunc") == 0)
			CHECK_STR(str_at(s, "user_request", NULL), "the request");
		jv_free(s);
	}
	jv_free(all);
}

static void test_format_show(void)
{
	jv s = jv_parse(SUMMARY);
	struct buf out = BUF_INIT;
	session_format_show(&out, s, false);
	const char *t = buf_str(&out);
	CHECK(strstr(t, "completed (exit 0)") != NULL);
	CHECK(strstr(t, "verified (1 passed, 0 failed)") != NULL);
	CHECK(strstr(t, "1203 in, 88 out") != NULL);
	CHECK(strstr(t, "$0.0050") != NULL);
	CHECK(strstr(t, "planner ") != NULL);
	CHECK(strstr(t, "  add a -l flag\n") != NULL);
	CHECK(strstr(t, "  done \u00e9\n") != NULL);
	jv_free(s);
	buf_free(&out);

	/* Wrong types and terminal escapes: shown as "-" and made harmless. */
	s = jv_parse("{\"session_id\":7,\"result\":\"x\",\"ledger\":{\"a\":5,\"b\":{\"turns\":\"x\"}},"
		     "\"agents_used\":[1,\"zzz\"],\"usage\":[],\"verification\":3,"
		     "\"user_request\":\"hi\\u001b[2Jthere\",\"total_turns\":\"many\"}");
	session_format_show(&out, s, true);
	CHECK(strstr(buf_str(&out), "\033[2J") == NULL);
	buf_free(&out);
	jv list = JV_ARRAY(jv_copy(s), jv_null(), jv_number(3));
	session_format_list(&out, list, false);
	CHECK(strstr(buf_str(&out), "hi [2Jthere") != NULL);
	buf_free(&out);
	session_format_list(&out, jv_null(), false);
	CHECK(out.len == 0);
	jv_free(list);
	jv_free(s);
}

int main(void)
{
	snprintf(base, sizeof base, "%s/bllm-test-session.XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base)) {
		perror(base);
		return 2;
	}
	umask(022);
	setenv("BLLM_HISTORY_DB", "off", 1);	/* the history has its own tests */
	UNIT_RUN(test_new_id);
	UNIT_RUN(test_open_append_sync);
	UNIT_RUN(test_summary_gz_roundtrip);
	UNIT_RUN(test_summary_plain_roundtrip);
	UNIT_RUN(test_atomic_replace);
	UNIT_RUN(test_resolve_id);
	UNIT_RUN(test_torn_journal);
	UNIT_RUN(test_list_mixed);
	UNIT_RUN(test_corrupt_summary);
	UNIT_RUN(test_format_show);
	unit_rm_rf(base);
	return unit_done();
}
