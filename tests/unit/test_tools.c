/*
 * The local tools (lib/tools.c) and the process runner under them
 * (lib/proc.c), against a temporary workspace with a secret file beside it.
 */
#define _DEFAULT_SOURCE
#include "proc.h"
#include "tools.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

/* base/w is the workspace; base/outside holds the secret; base/w2 is a sibling. */
static char base[PATH_MAX], root[PATH_MAX + 8];
static const char SECRET[] = "top secret\n";

#define ALL_TOOLS (TOOL_BIT(TOOL_READ) | TOOL_BIT(TOOL_WRITE) | TOOL_BIT(TOOL_EDIT) | \
		   TOOL_BIT(TOOL_GLOB) | TOOL_BIT(TOOL_GREP) | TOOL_BIT(TOOL_BASH))

static struct tool_ctx ctx_all(void)
{
	struct tool_ctx c = { .root = root, .allowed = ALL_TOOLS, .bash_timeout_s = 120,
			      .search_timeout_s = 30 };
	return c;
}

/* base/rel (rel may be "w/..."); a few rotating buffers. */
static char *at(const char *rel)
{
	static char bufs[8][PATH_MAX * 2];
	static int i;
	char *b = bufs[i++ % 8];
	snprintf(b, sizeof bufs[0], "%s/%s", base, rel);
	return b;
}

static void put(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
}

/* The file's content (malloc'd), or NULL when it cannot be read. */
static char *slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char *s = NULL;
	size_t n = 0;
	FILE *m = open_memstream(&s, &n);
	int c;
	while ((c = fgetc(f)) != EOF)
		fputc(c, m);
	fclose(f);
	fclose(m);
	return s;
}

static int file_is(const char *path, const char *want)
{
	char *s = slurp(path);
	int ok = s && strcmp(s, want) == 0;
	if (!ok)
		fprintf(stdout, "# %s holds \"%s\", wanted \"%s\"\n", path, s ? s : "(none)", want);
	free(s);
	return ok;
}

static int exists(const char *path)
{
	struct stat st;
	return lstat(path, &st) == 0;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct tool_result run(const struct tool_ctx *ctx, const char *name, const char *json)
{
	jv in = jv_parse(json);
	if (!jv_is_valid(in)) {
		fprintf(stdout, "# bad test JSON: %s\n", json);
		exit(2);
	}
	struct tool_result r = tool_run(ctx, name, in);
	jv_free(in);
	return r;
}

static const char *text(const struct tool_result *r)
{
	return jv_get_kind(r->content) == JV_KIND_STRING ? jv_string_value(r->content) : "(none)";
}

static int changed_is(const struct tool_result *r, const char *rel)
{
	jv fc = r->files_changed;
	if (jv_get_kind(fc) != JV_KIND_ARRAY)
		return 0;
	if (!rel)
		return jv_array_length(jv_copy(fc)) == 0;
	if (jv_array_length(jv_copy(fc)) != 1)
		return 0;
	jv s = jv_array_get(jv_copy(fc), 0);
	int ok = jv_get_kind(s) == JV_KIND_STRING && strcmp(jv_string_value(s), rel) == 0;
	jv_free(s);
	return ok;
}

/* Runs a call that must fail with exactly msg. */
static void expect_error(const struct tool_ctx *ctx, const char *name, const char *json,
			 const char *msg)
{
	struct tool_result r = run(ctx, name, json);
	CHECK(r.is_error);
	CHECK_STR(text(&r), msg);
	CHECK(changed_is(&r, NULL));
	tool_result_free(&r);
}

/* Runs a call that must fail with a message containing part. */
static void expect_error_has(const struct tool_ctx *ctx, const char *name, const char *json,
			     const char *part)
{
	struct tool_result r = run(ctx, name, json);
	CHECK(r.is_error);
	if (!strstr(text(&r), part))
		fprintf(stdout, "# \"%s\" lacks \"%s\"\n", text(&r), part);
	CHECK(strstr(text(&r), part) != NULL);
	CHECK(changed_is(&r, NULL));
	tool_result_free(&r);
}

static void expect_ok(const struct tool_ctx *ctx, const char *name, const char *json,
		      const char *want)
{
	struct tool_result r = run(ctx, name, json);
	CHECK(!r.is_error);
	CHECK_STR(text(&r), want);
	tool_result_free(&r);
}

static void set_mtime(const char *path, time_t t)
{
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	if (utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW) < 0)
		perror(path);
}

static void setup(void)
{
	snprintf(base, sizeof base, "%s/bllm-tools-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		exit(2);
	}
	char *real = realpath(base, NULL);
	snprintf(base, sizeof base, "%s", real);
	free(real);
	snprintf(root, sizeof root, "%s/w", base);
	mkdir(root, 0755);
	mkdir(at("w/sub"), 0755);
	mkdir(at("outside"), 0755);
	mkdir(at("w2"), 0755);
	put(at("outside/secret.txt"), SECRET);
	put(at("w2/x.txt"), "sibling\n");
	if (symlink("../outside", at("w/link_out")) < 0 ||
	    symlink("../outside/secret.txt", at("w/secret_link")) < 0) {
		perror("symlink");
		exit(2);
	}
}

static void test_lookup(void)
{
	CHECK(tool_lookup("Read") == TOOL_READ);
	CHECK(tool_lookup("read") == TOOL_READ);
	CHECK(tool_lookup("BASH") == TOOL_BASH);
	CHECK(tool_lookup("gLoB") == TOOL_GLOB);
	CHECK(tool_lookup("Reader") == -1);
	CHECK(tool_lookup("") == -1);
	CHECK(tool_lookup(NULL) == -1);
	CHECK_STR(tool_name(TOOL_WRITE), "Write");
	CHECK_STR(tool_name(TOOL_EDIT), "Edit");
	CHECK_STR(tool_name(TOOL_GREP), "Grep");
	for (int i = 0; i < TOOL_COUNT; i++)
		CHECK(tool_lookup(tool_name((enum tool_id)i)) == i);
}

/* Whether the definition's schema lists exactly these required fields. */
static int required_is(jv def, const char *const *want, int n)
{
	jv req = jv_getpath(jv_copy(def), jv_parse("[\"input_schema\",\"required\"]"));
	int ok = jv_get_kind(req) == JV_KIND_ARRAY && jv_array_length(jv_copy(req)) == n;
	for (int i = 0; ok && i < n; i++) {
		jv s = jv_array_get(jv_copy(req), i);
		ok = jv_get_kind(s) == JV_KIND_STRING && strcmp(jv_string_value(s), want[i]) == 0;
		jv_free(s);
		/* Every required field is described in properties. */
		jv p = jv_getpath(jv_copy(def), jv_array_append(jv_array_append(jv_array_append(
			jv_array(), jv_string("input_schema")), jv_string("properties")),
			jv_string(want[i])));
		ok = ok && jv_get_kind(p) == JV_KIND_OBJECT;
		jv_free(p);
	}
	jv_free(req);
	return ok;
}

static void test_definitions(void)
{
	static const char *const req[TOOL_COUNT][3] = {
		[TOOL_READ] = { "file_path" },
		[TOOL_WRITE] = { "file_path", "content" },
		[TOOL_EDIT] = { "file_path", "old_string", "new_string" },
		[TOOL_GLOB] = { "pattern" },
		[TOOL_GREP] = { "pattern" },
		[TOOL_BASH] = { "command" },
	};
	static const int nreq[TOOL_COUNT] = { 1, 2, 3, 1, 1, 1 };
	for (int i = 0; i < TOOL_COUNT; i++) {
		jv d = tool_definition((enum tool_id)i);
		CHECK(jv_get_kind(d) == JV_KIND_OBJECT);
		jv name = jv_object_get(jv_copy(d), jv_string("name"));
		CHECK(jv_get_kind(name) == JV_KIND_STRING &&
		      strcmp(jv_string_value(name), tool_name((enum tool_id)i)) == 0);
		jv_free(name);
		jv desc = jv_object_get(jv_copy(d), jv_string("description"));
		CHECK(jv_get_kind(desc) == JV_KIND_STRING && strlen(jv_string_value(desc)) > 40);
		jv_free(desc);
		jv type = jv_getpath(jv_copy(d), jv_parse("[\"input_schema\",\"type\"]"));
		CHECK(jv_get_kind(type) == JV_KIND_STRING &&
		      strcmp(jv_string_value(type), "object") == 0);
		jv_free(type);
		CHECK(required_is(d, req[i], nreq[i]));
		jv_free(d);
	}
	/* Optional fields are described but not required. */
	jv d = tool_definition(TOOL_EDIT);
	jv t = jv_getpath(d, jv_parse("[\"input_schema\",\"properties\",\"replace_all\",\"type\"]"));
	CHECK(jv_get_kind(t) == JV_KIND_STRING && strcmp(jv_string_value(t), "boolean") == 0);
	jv_free(t);
}

static void test_dispatch_errors(void)
{
	struct tool_ctx c = ctx_all();
	c.allowed = TOOL_BIT(TOOL_READ) | TOOL_BIT(TOOL_GLOB) | TOOL_BIT(TOOL_GREP);
	expect_error(&c, "Bash", "{\"command\":\"touch pwned\"}",
		     "tool \"Bash\" is not available to this agent (it has: Read, Glob, Grep)");
	expect_error(&c, "write", "{\"file_path\":\"pwned\",\"content\":\"x\"}",
		     "tool \"Write\" is not available to this agent (it has: Read, Glob, Grep)");
	CHECK(!exists(at("w/pwned")));
	expect_error(&c, "Frobnicate", "{}",
		     "unknown tool \"Frobnicate\" (this agent has: Read, Glob, Grep)");
	c.allowed = 0;
	expect_error(&c, "Read", "{\"file_path\":\"x\"}",
		     "tool \"Read\" is not available to this agent (it has: no tools)");
	c = ctx_all();
	expect_error(&c, "Read", "[1]", "Read: the input must be a JSON object, not array");
	/* Lookup is case-insensitive in tool_run too. */
	struct tool_result r = run(&c, "glob", "{\"pattern\":\"nothing-*-here\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "no files found");
	CHECK(r.exit_code == -1 && !r.timed_out);
	tool_result_free(&r);
}

static void test_argument_errors(void)
{
	struct tool_ctx c = ctx_all();
	expect_error(&c, "Read", "{}", "Read: \"file_path\" must be a string");
	expect_error(&c, "Read", "{\"file_path\":7}", "Read: \"file_path\" must be a string");
	expect_error(&c, "Read", "{\"file_path\":\"a\",\"offset\":\"2\"}",
		     "Read: \"offset\" must be a number");
	expect_error(&c, "Read", "{\"file_path\":\"a\",\"offset\":-1}",
		     "Read: \"offset\" must be a whole number of at least 0");
	expect_error(&c, "Read", "{\"file_path\":\"a\",\"limit\":0}",
		     "Read: \"limit\" must be a whole number of at least 1");
	expect_error(&c, "Read", "{\"file_path\":\"a\",\"limit\":1.5}",
		     "Read: \"limit\" must be a whole number of at least 1");
	expect_error(&c, "Write", "{\"file_path\":\"a\"}", "Write: \"content\" must be a string");
	expect_error(&c, "Write", "{\"file_path\":\"a\",\"content\":[\"x\"]}",
		     "Write: \"content\" must be a string");
	CHECK(!exists(at("w/a")));
	expect_error(&c, "Edit", "{\"file_path\":\"a\",\"old_string\":1,\"new_string\":\"b\"}",
		     "Edit: \"old_string\" must be a string");
	expect_error(&c, "Edit", "{\"file_path\":\"a\",\"old_string\":\"x\"}",
		     "Edit: \"new_string\" must be a string");
	expect_error(&c, "Edit",
		     "{\"file_path\":\"a\",\"old_string\":\"x\",\"new_string\":\"y\","
		     "\"replace_all\":\"yes\"}",
		     "Edit: \"replace_all\" must be a boolean (true or false)");
	expect_error(&c, "Glob", "{\"path\":\".\"}", "Glob: \"pattern\" must be a string");
	expect_error(&c, "Glob", "{\"pattern\":\"*\",\"path\":false}",
		     "Glob: \"path\" must be a string");
	expect_error(&c, "Grep", "{\"pattern\":3}", "Grep: \"pattern\" must be a string");
	expect_error(&c, "Grep", "{\"pattern\":\"x\",\"glob\":{}}",
		     "Grep: \"glob\" must be a string");
	expect_error(&c, "Bash", "{\"cmd\":\"ls\"}", "Bash: \"command\" must be a string");
	expect_error(&c, "Bash", "{\"command\":\"ls\",\"timeout\":\"5000\"}",
		     "Bash: \"timeout\" must be a number");
	expect_error(&c, "Bash", "{\"command\":\"ls\",\"timeout\":0}",
		     "Bash: \"timeout\" must be a positive number of milliseconds");
	expect_error(&c, "Bash", "{\"command\":\"  \"}",
		     "Bash: \"command\" is empty; give a shell command to run");
	/* null counts as absent for optional fields. */
	put(at("w/nullopt.txt"), "x\n");
	expect_ok(&c, "Read", "{\"file_path\":\"nullopt.txt\",\"offset\":null}", "     1\tx\n");
}

static void test_read(void)
{
	struct tool_ctx c = ctx_all();
	put(at("w/a.txt"), "alpha\nbeta\ngamma\n");
	put(at("w/nonl.txt"), "one\ntwo");
	put(at("w/empty.txt"), "");
	mkdir(at("w/dir"), 0755);

	struct tool_result r = run(&c, "Read", "{\"file_path\":\"a.txt\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "     1\talpha\n     2\tbeta\n     3\tgamma\n");
	CHECK(r.exit_code == -1);
	CHECK(changed_is(&r, NULL));
	tool_result_free(&r);

	char json[PATH_MAX * 3];
	snprintf(json, sizeof json, "{\"file_path\":\"%s/a.txt\",\"offset\":3}", root);
	expect_ok(&c, "Read", json, "     3\tgamma\n");
	expect_ok(&c, "Read", "{\"file_path\":\"a.txt\",\"offset\":2,\"limit\":1}",
		  "     2\tbeta\n[lines 2-2 of 3 shown; use offset and limit to read more]");
	expect_ok(&c, "Read", "{\"file_path\":\"a.txt\",\"offset\":0,\"limit\":1}",
		  "     1\talpha\n[lines 1-1 of 3 shown; use offset and limit to read more]");
	expect_ok(&c, "Read", "{\"file_path\":\"./nonl.txt\"}", "     1\tone\n     2\ttwo\n");
	expect_ok(&c, "Read", "{\"file_path\":\"empty.txt\"}", "\"empty.txt\" is empty");
	expect_error(&c, "Read", "{\"file_path\":\"a.txt\",\"offset\":4}",
		     "Read: offset 4 is past the end of \"a.txt\" (3 lines)");
	expect_error(&c, "Read", "{\"file_path\":\"dir\"}",
		     "Read: \"dir\" is a directory; use Glob to list its files");
	expect_error(&c, "Read", "{\"file_path\":\".\"}",
		     "Read: \".\" is a directory; use Glob to list its files");
	expect_error(&c, "Read", "{\"file_path\":\"missing.txt\"}",
		     "Read: \"missing.txt\" does not exist; use Glob to find files");

	FILE *f = fopen(at("w/bin.dat"), "w");
	fwrite("ab\0cd", 1, 5, f);
	fclose(f);
	expect_error(&c, "Read", "{\"file_path\":\"bin.dat\"}",
		     "Read: \"bin.dat\" is a binary file (5 bytes); it cannot be shown as text");

	/* Lines past 2000 characters are cut. */
	char *longline = malloc(3002);
	memset(longline, 'x', 3000);
	longline[3000] = '\n';
	longline[3001] = '\0';
	put(at("w/long.txt"), longline);
	r = run(&c, "Read", "{\"file_path\":\"long.txt\"}");
	CHECK(!r.is_error);
	char *want = malloc(2100);
	snprintf(want, 2100, "     1\t%.2000s [line cut at 2000 of 3000 bytes]\n", longline);
	CHECK_STR(text(&r), want);
	tool_result_free(&r);
	free(want);
	free(longline);

	/* 2500 lines: the default limit is 2000. */
	f = fopen(at("w/many.txt"), "w");
	for (int i = 1; i <= 2500; i++)
		fprintf(f, "l%d\n", i);
	fclose(f);
	r = run(&c, "Read", "{\"file_path\":\"many.txt\"}");
	CHECK(!r.is_error);
	CHECK(strstr(text(&r), "  2000\tl2000\n[lines 1-2000 of 2500 shown;") != NULL);
	CHECK(strstr(text(&r), "l2001") == NULL);
	tool_result_free(&r);
}

static void test_read_cap(void)
{
	struct tool_ctx c = ctx_all();
	c.output_cap = 20;
	put(at("w/cap.txt"), "alpha\nbeta\ngamma\n");
	/* Lines of 13, 12 and 13 bytes: 38 in all, cut to the first 20. */
	expect_ok(&c, "Read", "{\"file_path\":\"cap.txt\"}",
		  "     1\talpha\n     2\t\n[output truncated: 38 bytes total, first 20 shown]");
}

static mode_t mode_of(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 ? st.st_mode & 07777 : (mode_t)-1;
}

/* Whether dir holds a leftover temporary file of an atomic write. */
static int has_temp(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int found = 0;
	while (d && (de = readdir(d)) != NULL)
		if (strstr(de->d_name, ".bllm-"))
			found = 1;
	if (d)
		closedir(d);
	return found;
}

static void test_write(void)
{
	struct tool_ctx c = ctx_all();
	struct tool_result r = run(&c, "Write",
				   "{\"file_path\":\"new/deep/f.txt\",\"content\":\"hello\\n\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "wrote 6 bytes to new/deep/f.txt");
	CHECK(changed_is(&r, "new/deep/f.txt"));
	CHECK(r.exit_code == -1);
	tool_result_free(&r);
	CHECK(file_is(at("w/new/deep/f.txt"), "hello\n"));
	CHECK(mode_of(at("w/new/deep/f.txt")) == 0644);
	CHECK(!has_temp(at("w/new/deep")));

	/* Overwriting keeps the mode; an absolute path works the same. */
	put(at("w/script.sh"), "old\n");
	chmod(at("w/script.sh"), 0750);
	char json[PATH_MAX * 3];
	snprintf(json, sizeof json, "{\"file_path\":\"%s/script.sh\",\"content\":\"#!/bin/sh\\n\"}",
		 root);
	r = run(&c, "Write", json);
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "wrote 10 bytes to script.sh");
	CHECK(changed_is(&r, "script.sh"));
	tool_result_free(&r);
	CHECK(file_is(at("w/script.sh"), "#!/bin/sh\n"));
	CHECK(mode_of(at("w/script.sh")) == 0750);
	CHECK(!has_temp(root));

	/* Empty content makes an empty file. */
	expect_ok(&c, "Write", "{\"file_path\":\"empty2.txt\",\"content\":\"\"}",
		  "wrote 0 bytes to empty2.txt");
	CHECK(file_is(at("w/empty2.txt"), ""));

	mkdir(at("w/adir"), 0755);
	expect_error(&c, "Write", "{\"file_path\":\"adir\",\"content\":\"x\"}",
		     "Write: \"adir\" is a directory; give a file path");
	put(at("w/plain"), "p\n");
	expect_error_has(&c, "Write", "{\"file_path\":\"plain/x.txt\",\"content\":\"x\"}",
			 "Write: cannot create directory \"plain\"");
	CHECK(file_is(at("w/plain"), "p\n"));
}

static void test_edit(void)
{
	struct tool_ctx c = ctx_all();
	put(at("w/e.txt"), "one two three two\n");
	chmod(at("w/e.txt"), 0600);

	struct tool_result r = run(&c, "Edit",
				   "{\"file_path\":\"e.txt\",\"old_string\":\"one\","
				   "\"new_string\":\"1\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "edited e.txt: 1 replacement");
	CHECK(changed_is(&r, "e.txt"));
	tool_result_free(&r);
	CHECK(file_is(at("w/e.txt"), "1 two three two\n"));
	CHECK(mode_of(at("w/e.txt")) == 0600);
	CHECK(!has_temp(root));

	expect_error(&c, "Edit",
		     "{\"file_path\":\"e.txt\",\"old_string\":\"two\",\"new_string\":\"2\"}",
		     "Edit: \"old_string\" found 2 times in \"e.txt\"; give more context or set "
		     "replace_all");
	CHECK(file_is(at("w/e.txt"), "1 two three two\n"));
	expect_error(&c, "Edit",
		     "{\"file_path\":\"e.txt\",\"old_string\":\"four\",\"new_string\":\"4\"}",
		     "Edit: \"old_string\" not found in \"e.txt\"; Read the file and copy the "
		     "text exactly, with its whitespace");
	expect_error(&c, "Edit",
		     "{\"file_path\":\"e.txt\",\"old_string\":\"\",\"new_string\":\"4\"}",
		     "Edit: \"old_string\" is empty; give the exact text to replace (use Write "
		     "to create or overwrite a whole file)");
	expect_error(&c, "Edit",
		     "{\"file_path\":\"e.txt\",\"old_string\":\"two\",\"new_string\":\"two\"}",
		     "Edit: \"old_string\" and \"new_string\" are the same; nothing would change");
	expect_error(&c, "Edit",
		     "{\"file_path\":\"nope.txt\",\"old_string\":\"a\",\"new_string\":\"b\"}",
		     "Edit: \"nope.txt\" does not exist; use Write to create it");
	CHECK(!exists(at("w/nope.txt")));
	CHECK(file_is(at("w/e.txt"), "1 two three two\n"));

	r = run(&c, "Edit", "{\"file_path\":\"e.txt\",\"old_string\":\"two\","
			    "\"new_string\":\"deux\",\"replace_all\":true}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "edited e.txt: 2 replacements");
	CHECK(changed_is(&r, "e.txt"));
	tool_result_free(&r);
	CHECK(file_is(at("w/e.txt"), "1 deux three deux\n"));

	/* Multi-line text, and a replacement that contains the old text. */
	put(at("w/m.txt"), "a\n\tb\nc\n");
	expect_ok(&c, "Edit",
		  "{\"file_path\":\"m.txt\",\"old_string\":\"a\\n\\tb\\n\",\"new_string\":"
		  "\"a\\n\\tb\\n\\tb2\\n\"}",
		  "edited m.txt: 1 replacement");
	CHECK(file_is(at("w/m.txt"), "a\n\tb\n\tb2\nc\n"));
	expect_ok(&c, "Edit",
		  "{\"file_path\":\"m.txt\",\"old_string\":\"b\",\"new_string\":\"bb\","
		  "\"replace_all\":true}",
		  "edited m.txt: 2 replacements");
	CHECK(file_is(at("w/m.txt"), "a\n\tbb\n\tbb2\nc\n"));
}

static void test_confinement(void)
{
	struct tool_ctx c = ctx_all();
	const char *outside = "outside the workspace";
	expect_error_has(&c, "Read", "{\"file_path\":\"../outside/secret.txt\"}", outside);
	expect_error_has(&c, "Read", "{\"file_path\":\"link_out/secret.txt\"}", outside);
	expect_error_has(&c, "Read", "{\"file_path\":\"secret_link\"}", outside);
	char json[PATH_MAX * 3];
	snprintf(json, sizeof json, "{\"file_path\":\"%s\"}", at("outside/secret.txt"));
	expect_error_has(&c, "Read", json, outside);
	snprintf(json, sizeof json, "{\"file_path\":\"%s\"}", at("w2/x.txt"));
	expect_error_has(&c, "Read", json, outside);
	expect_error_has(&c, "Read", "{\"file_path\":\"/etc/passwd\"}", outside);
	expect_error_has(&c, "Read", "{\"file_path\":\"sub/../../outside/secret.txt\"}", outside);

	expect_error_has(&c, "Write", "{\"file_path\":\"secret_link\",\"content\":\"pwned\"}",
			 outside);
	expect_error_has(&c, "Write",
			 "{\"file_path\":\"link_out/secret.txt\",\"content\":\"pwned\"}", outside);
	expect_error_has(&c, "Write", "{\"file_path\":\"link_out/new.txt\",\"content\":\"x\"}",
			 outside);
	expect_error_has(&c, "Write",
			 "{\"file_path\":\"link_out/newdir/new.txt\",\"content\":\"x\"}", outside);
	expect_error_has(&c, "Write", "{\"file_path\":\"../escape.txt\",\"content\":\"x\"}",
			 outside);
	snprintf(json, sizeof json, "{\"file_path\":\"%s\",\"content\":\"x\"}", at("w2/x.txt"));
	expect_error_has(&c, "Write", json, outside);
	expect_error_has(&c, "Edit",
			 "{\"file_path\":\"secret_link\",\"old_string\":\"top\","
			 "\"new_string\":\"pwned\"}", outside);
	expect_error_has(&c, "Edit",
			 "{\"file_path\":\"link_out/secret.txt\",\"old_string\":\"top\","
			 "\"new_string\":\"pwned\",\"replace_all\":true}", outside);

	CHECK(file_is(at("outside/secret.txt"), SECRET));
	CHECK(file_is(at("w2/x.txt"), "sibling\n"));
	CHECK(!exists(at("outside/new.txt")));
	CHECK(!exists(at("outside/newdir")));
	CHECK(!exists(at("escape.txt")));
	/* The links themselves are still links, untouched. */
	struct stat st;
	CHECK(lstat(at("w/secret_link"), &st) == 0 && S_ISLNK(st.st_mode));
	CHECK(lstat(at("w/link_out"), &st) == 0 && S_ISLNK(st.st_mode));

	expect_error_has(&c, "Glob", "{\"pattern\":\"*\",\"path\":\"../outside\"}", outside);
	expect_error_has(&c, "Glob", "{\"pattern\":\"*\",\"path\":\"link_out\"}", outside);
	expect_error_has(&c, "Glob", "{\"pattern\":\"../outside/*\"}", "\"..\"");
	snprintf(json, sizeof json, "{\"pattern\":\"%s/*\"}", at("outside"));
	expect_error_has(&c, "Glob", json, "is not under");
	expect_error_has(&c, "Grep", "{\"pattern\":\"secret\",\"path\":\"link_out\"}", outside);
	expect_error_has(&c, "Grep", "{\"pattern\":\"secret\",\"path\":\"secret_link\"}",
			 outside);
	expect_error_has(&c, "Grep", "{\"pattern\":\"secret\",\"path\":\"..\"}", outside);

	/* Walks never follow the links out. */
	struct tool_result r = run(&c, "Glob", "{\"pattern\":\"**/secret*\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "secret_link\n");
	tool_result_free(&r);
	r = run(&c, "Grep", "{\"pattern\":\"top secret\"}");
	CHECK(!r.is_error);
	CHECK_STR(text(&r), "no matches");
	tool_result_free(&r);
}

static void test_glob(void)
{
	struct tool_ctx c = ctx_all();
	mkdir(at("w/g"), 0755);
	mkdir(at("w/g/sub"), 0755);
	mkdir(at("w/g/sub/deep"), 0755);
	mkdir(at("w/g/.git"), 0755);
	put(at("w/g/a.c"), "a");
	put(at("w/g/sub/b.c"), "b");
	put(at("w/g/sub/deep/c.c"), "c");
	put(at("w/g/d.h"), "d");
	put(at("w/g/.git/x.c"), "x");
	put(at("w/g/.hidden.c"), "h");
	set_mtime(at("w/g/a.c"), 1000000);
	set_mtime(at("w/g/sub/b.c"), 3000000);
	set_mtime(at("w/g/sub/deep/c.c"), 2000000);
	set_mtime(at("w/g/d.h"), 500000);
	set_mtime(at("w/g/.hidden.c"), 400000);

	expect_ok(&c, "Glob", "{\"pattern\":\"**/*.c\",\"path\":\"g\"}",
		  "g/sub/b.c\ng/sub/deep/c.c\ng/a.c\ng/.hidden.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"*.c\",\"path\":\"g\"}", "g/a.c\ng/.hidden.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"sub/*.c\",\"path\":\"g\"}", "g/sub/b.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"g/**/deep/?.c\"}", "g/sub/deep/c.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"g/[ad].*\"}", "g/a.c\ng/d.h\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"g/*.{h,c}\"}", "g/a.c\ng/d.h\ng/.hidden.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"g/**\"}",
		  "g/sub/b.c\ng/sub/deep/c.c\ng/a.c\ng/d.h\ng/.hidden.c\n");
	char json[PATH_MAX * 3];
	snprintf(json, sizeof json, "{\"pattern\":\"%s/g/sub/**/*.c\"}", root);
	expect_ok(&c, "Glob", json, "g/sub/b.c\ng/sub/deep/c.c\n");
	expect_ok(&c, "Glob", "{\"pattern\":\"**/*.rs\",\"path\":\"g\"}", "no files found");
	expect_error(&c, "Glob", "{\"pattern\":\"*\",\"path\":\"g/a.c\"}",
		     "Glob: path \"g/a.c\" is not a directory");
	expect_error(&c, "Glob", "{\"pattern\":\"*\",\"path\":\"nowhere\"}",
		     "Glob: path \"nowhere\" does not exist");
	expect_error(&c, "Glob", "{\"pattern\":\"\"}",
		     "Glob: \"pattern\" is empty; give one such as \"**/*.c\"");

	/* More than 1000 matches: the newest 1000, and a note. */
	mkdir(at("w/many"), 0755);
	for (int i = 0; i < 1005; i++) {
		char rel[64];
		snprintf(rel, sizeof rel, "w/many/f%04d.txt", i);
		put(at(rel), "");
		set_mtime(at(rel), 1000000 + i);
	}
	struct tool_result r = run(&c, "Glob", "{\"pattern\":\"many/*.txt\"}");
	CHECK(!r.is_error);
	const char *t = text(&r);
	CHECK(strncmp(t, "many/f1004.txt\nmany/f1003.txt\n", 30) == 0);
	CHECK(strstr(t, "many/f0005.txt\n[1005 files matched; the 1000 most recently modified "
			"are shown: narrow the pattern or path]") != NULL);
	CHECK(strstr(t, "f0004") == NULL);
	int lines = 0;
	for (const char *p = t; *p; p++)
		lines += *p == '\n';
	CHECK(lines == 1000);
	tool_result_free(&r);
}

static void test_grep(void)
{
	struct tool_ctx c = ctx_all();
	mkdir(at("w/gr"), 0755);
	mkdir(at("w/gr/src"), 0755);
	mkdir(at("w/gr/.git"), 0755);
	put(at("w/gr/src/a.c"), "int main(void)\n{\n\treturn 0;\n}\n");
	put(at("w/gr/src/b.h"), "int x;\nextern int y;\n");
	put(at("w/gr/notes.txt"), "int in text\nno match here\n");
	put(at("w/gr/.git/config"), "int in git\n");
	FILE *f = fopen(at("w/gr/bin.dat"), "w");
	fwrite("int\0binary\n", 1, 11, f);
	fclose(f);

	expect_ok(&c, "Grep", "{\"pattern\":\"^int\",\"path\":\"gr\"}",
		  "gr/notes.txt:1:int in text\ngr/src/a.c:1:int main(void)\ngr/src/b.h:1:int x;\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"int\",\"path\":\"gr\",\"glob\":\"*.c\"}",
		  "gr/src/a.c:1:int main(void)\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"int\",\"path\":\"gr\",\"glob\":\"*.{c,h}\"}",
		  "gr/src/a.c:1:int main(void)\ngr/src/b.h:1:int x;\ngr/src/b.h:2:extern int y;\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"int\",\"glob\":\"gr/src/*.h\"}",
		  "gr/src/b.h:1:int x;\ngr/src/b.h:2:extern int y;\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"int\",\"glob\":\"gr/**/*.txt\"}",
		  "gr/notes.txt:1:int in text\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"ret(urn)+ [0-9]+;$\",\"path\":\"gr/src/a.c\"}",
		  "gr/src/a.c:3:\treturn 0;\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"^(extern|static) \",\"path\":\"gr\"}",
		  "gr/src/b.h:2:extern int y;\n");
	expect_ok(&c, "Grep", "{\"pattern\":\"zebra\",\"path\":\"gr\"}", "no matches");
	expect_error(&c, "Grep", "{\"pattern\":\"x\",\"path\":\"gr/none\"}",
		     "Grep: path \"gr/none\" does not exist");

	/* The message is regerror()'s for this very pattern. */
	regex_t re;
	int rc = regcomp(&re, "a(b", REG_EXTENDED | REG_NEWLINE);
	CHECK(rc != 0);
	char msg[256], want[512];
	regerror(rc, &re, msg, sizeof msg);
	snprintf(want, sizeof want, "Grep: invalid regular expression \"a(b\": %s (POSIX "
		 "extended syntax, as for grep -E)", msg);
	expect_error(&c, "Grep", "{\"pattern\":\"a(b\"}", want);

	/* Output is capped like every result. */
	c.output_cap = 30;
	expect_ok(&c, "Grep", "{\"pattern\":\"int\",\"path\":\"gr/src\"}",
		  "gr/src/a.c:1:int main(void)\ngr\n"
		  "[output truncated: 75 bytes total, first 30 shown]");
}

static void test_bash(void)
{
	struct tool_ctx c = ctx_all();
	struct tool_result r = run(&c, "Bash", "{\"command\":\"echo hi; echo err >&2; exit 3\"}");
	CHECK(r.is_error);
	CHECK(r.exit_code == 3);
	CHECK(!r.timed_out);
	CHECK_STR(text(&r), "hi\nerr\n[exit code 3]");
	CHECK(changed_is(&r, NULL));
	tool_result_free(&r);

	r = run(&c, "bash", "{\"command\":\"printf abc\"}");
	CHECK(!r.is_error);
	CHECK(r.exit_code == 0);
	CHECK_STR(text(&r), "abc\n[exit code 0]");
	tool_result_free(&r);

	expect_ok(&c, "Bash", "{\"command\":\"true\"}", "[exit code 0]");
	char want[PATH_MAX * 2];
	snprintf(want, sizeof want, "%s\n[exit code 0]", root);
	expect_ok(&c, "Bash", "{\"command\":\"pwd\"}", want);
	/* stdin is /dev/null: cat ends at once. */
	expect_ok(&c, "Bash", "{\"command\":\"cat; echo done\"}", "done\n[exit code 0]");

	r = run(&c, "Bash", "{\"command\":\"kill -9 $$\"}");
	CHECK(r.is_error);
	CHECK(r.exit_code == 137);
	CHECK_STR(text(&r), "[exit code 137]");
	tool_result_free(&r);

	/* A background job that outlives the shell: its late output is kept. */
	expect_ok(&c, "Bash", "{\"command\":\"(sleep 0.2; echo late) & echo now\"}",
		  "now\nlate\n[exit code 0]");
}

static void test_bash_truncation(void)
{
	struct tool_ctx c = ctx_all();
	c.output_cap = 100;
	struct tool_result r = run(&c, "Bash",
				   "{\"command\":\"head -c 5000 /dev/zero | tr '\\\\0' x\"}");
	CHECK(!r.is_error);
	char want[256];
	snprintf(want, sizeof want, "%.100s\n[output truncated: 5000 bytes total, first 100 "
		 "shown]\n[exit code 0]",
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
		 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
	CHECK_STR(text(&r), want);
	tool_result_free(&r);

	/* The default cap is 30000. */
	c.output_cap = 0;
	r = run(&c, "Bash", "{\"command\":\"head -c 51234 /dev/zero | tr '\\\\0' y\"}");
	CHECK(strstr(text(&r), "\n[output truncated: 51234 bytes total, first 30000 shown]\n"
			       "[exit code 0]") != NULL);
	CHECK(strspn(text(&r), "y") == 30000);
	tool_result_free(&r);

	/* Never cut inside a UTF-8 character: "a" then a 2-byte "é", cap 2. */
	c.output_cap = 2;
	expect_ok(&c, "Bash", "{\"command\":\"printf 'a\\\\303\\\\251'\"}",
		  "a\n[output truncated: 3 bytes total, first 1 shown]\n[exit code 0]");
}

static void test_bash_timeout(void)
{
	struct tool_ctx c = ctx_all();
	double t0 = now_s();
	struct tool_result r = run(&c, "Bash",
				   "{\"command\":\"echo started; sleep 30 & sleep 30\","
				   "\"timeout\":300}");
	double took = now_s() - t0;
	CHECK(r.is_error);
	CHECK(r.timed_out);
	CHECK(r.exit_code == 128 + SIGTERM);
	CHECK_STR(text(&r), "started\n[timed out after 0.3 s]");
	CHECK(took >= 0.3 && took < 3.0);
	tool_result_free(&r);

	/* The agent's default timeout applies when the call gives none. */
	c.bash_timeout_s = 0.4;
	t0 = now_s();
	r = run(&c, "Bash", "{\"command\":\"sleep 20\"}");
	took = now_s() - t0;
	CHECK(r.timed_out && r.is_error);
	CHECK_STR(text(&r), "[timed out after 0.4 s]");
	CHECK(took >= 0.4 && took < 3.0);
	tool_result_free(&r);

	/* A background job holding the output pipe does not hold the call. */
	c = ctx_all();
	t0 = now_s();
	r = run(&c, "Bash", "{\"command\":\"sleep 30 & echo bg\"}");
	took = now_s() - t0;
	CHECK(!r.is_error && !r.timed_out);
	CHECK_STR(text(&r), "bg\n[exit code 0]");
	CHECK(took < 3.0);
	tool_result_free(&r);
}

static void test_bash_cannot_start(void)
{
	struct tool_ctx c = ctx_all();
	c.root = "/nonexistent-bllm-dir";
	struct tool_result r = run(&c, "Bash", "{\"command\":\"true\"}");
	CHECK(r.is_error);
	CHECK(r.exit_code == -1);
	CHECK_STR(text(&r), "Bash: cannot run the command in /nonexistent-bllm-dir: no such file "
			    "or directory");
	tool_result_free(&r);
}

static void test_proc_group_killed(void)
{
	struct proc_capture pc;
	char *err = NULL;
	double t0 = now_s();
	int rc = proc_run_shell("sleep 30 & sleep 30", root, 0.3, 2.0, 1000, &pc, &err);
	double took = now_s() - t0;
	CHECK(rc == 0);
	CHECK(err == NULL);
	CHECK(pc.timed_out);
	CHECK(pc.exit_code == 128 + SIGTERM);
	CHECK(took < 3.0);
	CHECK(pc.duration_s >= 0.3 && pc.duration_s < 3.0);
	CHECK(pc.pgid > 1);
	/* Nothing of the group is left, not even a zombie. */
	errno = 0;
	CHECK(kill(-pc.pgid, 0) == -1 && errno == ESRCH);
	proc_capture_free(&pc);
	CHECK(pc.output == NULL);

	/* A member that ignores SIGTERM gets SIGKILL after the grace period. */
	t0 = now_s();
	rc = proc_run_shell("trap '' TERM; sleep 30 & sleep 30", root, 0.3, 0.5, 1000, &pc,
			    &err);
	took = now_s() - t0;
	CHECK(rc == 0);
	CHECK(pc.timed_out);
	CHECK(pc.exit_code == 128 + SIGKILL);
	CHECK(took >= 0.8 && took < 4.0);
	errno = 0;
	CHECK(kill(-pc.pgid, 0) == -1 && errno == ESRCH);
	proc_capture_free(&pc);
}

static void test_proc_capture(void)
{
	struct proc_capture pc;
	char *err = NULL;
	CHECK(proc_run_shell("head -c 100000 /dev/zero; echo tail >&2; exit 4", root, 10, 1, 10,
			     &pc, &err) == 0);
	CHECK(pc.output_len == 10);
	CHECK(pc.total_len == 100005);
	CHECK(pc.truncated);
	CHECK(pc.exit_code == 4);
	CHECK(!pc.timed_out);
	CHECK(pc.output && pc.output[10] == '\0');
	proc_capture_free(&pc);

	CHECK(proc_run_shell("printf 'x\\0y'", root, 0, 1, 100, &pc, &err) == 0);
	CHECK(pc.output_len == 3 && memcmp(pc.output, "x\0y", 4) == 0);
	CHECK(!pc.truncated && pc.total_len == 3);
	CHECK(pc.exit_code == 0);
	proc_capture_free(&pc);

	/* Background members that outlive the shell are ended with it. */
	CHECK(proc_run_shell("sleep 30 >/dev/null 2>&1 & echo $!", root, 10, 1, 100, &pc,
			     &err) == 0);
	CHECK(pc.exit_code == 0 && !pc.timed_out);
	long bg = strtol(pc.output, NULL, 10);
	CHECK(bg > 1);
	errno = 0;
	CHECK(bg > 1 && kill((pid_t)bg, 0) == -1 && errno == ESRCH);
	CHECK(kill(-pc.pgid, 0) == -1 && errno == ESRCH);
	proc_capture_free(&pc);
}

static void test_proc_exec_failure(void)
{
	struct proc_capture pc;
	char *err = NULL;
	int rc = proc_run_shell("true", "/nonexistent-bllm-dir/sub", 5, 1, 100, &pc, &err);
	CHECK(rc == -1);
	CHECK_STR(err, "cannot run the command in /nonexistent-bllm-dir/sub: no such file or "
		       "directory");
	free(err);
	/* No child is left behind, reaped or not. */
	CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD);
}

static void test_proc_kill_group(void)
{
	pid_t pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", "trap '' TERM; sleep 30 & sleep 30", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	usleep(200000);
	double t0 = now_s();
	proc_kill_group(pid, 0.3);
	double took = now_s() - t0;
	CHECK(took >= 0.3 && took < 2.0);
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
	/* The orphaned sleeps came to us (a subreaper): reap them too. */
	while (waitpid(-pid, NULL, 0) > 0)
		;
	errno = 0;
	CHECK(kill(-pid, 0) == -1 && errno == ESRCH);

	/* A group that goes on SIGTERM does not wait out the grace period. */
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sleep", "sleep", "30", (char *)NULL);
		_exit(127);
	}
	setpgid(pid, pid);
	usleep(100000);
	t0 = now_s();
	proc_kill_group(pid, 5.0);
	took = now_s() - t0;
	CHECK(took < 2.0);
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGTERM);
}

int main(void)
{
#ifdef __linux__
	/*
	 * Orphans of the commands come to us, not to PID 1 (which in some
	 * containers never reaps), so "no process of the group is left" can
	 * be checked down to zombies.
	 */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
#endif
	setup();
	UNIT_RUN(test_lookup);
	UNIT_RUN(test_definitions);
	UNIT_RUN(test_dispatch_errors);
	UNIT_RUN(test_argument_errors);
	UNIT_RUN(test_read);
	UNIT_RUN(test_read_cap);
	UNIT_RUN(test_write);
	UNIT_RUN(test_edit);
	UNIT_RUN(test_confinement);
	UNIT_RUN(test_glob);
	UNIT_RUN(test_grep);
	UNIT_RUN(test_bash);
	UNIT_RUN(test_bash_truncation);
	UNIT_RUN(test_bash_timeout);
	UNIT_RUN(test_bash_cannot_start);
	UNIT_RUN(test_proc_group_killed);
	UNIT_RUN(test_proc_capture);
	UNIT_RUN(test_proc_exec_failure);
	UNIT_RUN(test_proc_kill_group);
	unit_rm_rf(base);
	if (exists(base))
		fprintf(stdout, "# could not remove %s\n", base);
	return unit_done();
}
