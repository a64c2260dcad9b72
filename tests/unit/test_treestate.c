/* What a command changed (lib/treestate.h): the pure comparison, and snapshots of real trees. */
#define _DEFAULT_SOURCE
#include "treestate.h"
#include "unit.h"

#include <stdio.h>

static char base[PATH_MAX];

static void put(const char *rel, const char *text)
{
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/%s", base, rel);
	FILE *f = fopen(path, "w");
	fputs(text, f);
	fclose(f);
}

static char *dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *out = strdup(jv_string_value(s));
	jv_free(s);
	return out;
}

static void check_changed(const char *before, const char *after, const char *want)
{
	jv a = jv_parse(before), b = jv_parse(after);
	char *got = dump(treestate_changed(a, b));
	CHECK_STR(got, want);
	free(got);
	jv_free(a);
	jv_free(b);
}

static void comparison(void)
{
	check_changed("{}", "{}", "[]");
	check_changed("{\"a\":\"1:2\"}", "{\"a\":\"1:2\"}", "[]");
	check_changed("{\"a\":\"1:2\"}", "{\"a\":\"1:3\"}", "[\"a\"]");
	check_changed("{\"b\":\"1:2\"}", "{\"a\":\"1:2\",\"b\":\"1:2\"}", "[\"a\"]");
	check_changed("{\"z\":\"1:2\",\"a\":\"5:5\"}", "{\"z\":\"-\"}", "[\"a\",\"z\"]");
	check_changed("{\"gone\":\"-\"}", "{}", "[]");
	check_changed("null", "{\"a\":\"1:2\"}", "[]");
}

static void plain_tree(void)
{
	mkdir(base, 0700);
	char sub[PATH_MAX + 8];
	snprintf(sub, sizeof sub, "%s/src", base);
	mkdir(sub, 0700);
	snprintf(sub, sizeof sub, "%s/.git", base);
	mkdir(sub, 0700);
	put("a.txt", "one\n");
	put("src/b.c", "int b;\n");
	put(".git/HEAD", "x\n");
	jv before = treestate_snapshot(base, jv_null());
	CHECK(jv_get_kind(before) == JV_KIND_OBJECT);
	put("src/b.c", "int b = 1;\n");
	put("new.txt", "n\n");
	put(".git/HEAD", "y\n");
	char path[PATH_MAX * 2];
	snprintf(path, sizeof path, "%s/a.txt", base);
	unlink(path);
	jv after = treestate_snapshot(base, before);
	char *got = dump(treestate_changed(before, after));
	CHECK_STR(got, "[\"a.txt\",\"new.txt\",\"src/b.c\"]");
	free(got);
	jv_free(before);
	jv_free(after);
	unit_rm_rf(base);
}

static void git_tree(void)
{
	if (system("git --version >/dev/null 2>&1") != 0)
		return;
	mkdir(base, 0700);
	char cmd[PATH_MAX * 2];
	snprintf(cmd, sizeof cmd, "cd '%s' && git init -q && mkdir ws && echo x >ws/kept && "
		 "echo 'out/' >.gitignore && git add . && git -c user.name=t -c user.email=t@t "
		 "commit -qm init", base);
	CHECK(system(cmd) == 0);
	char ws[PATH_MAX + 8];
	snprintf(ws, sizeof ws, "%s/ws", base);
	jv before = treestate_snapshot(ws, jv_null());
	CHECK(jv_get_kind(before) == JV_KIND_OBJECT);
	snprintf(cmd, sizeof cmd, "cd '%s' && mkdir -p out && echo o >out/obj && echo y >>kept && "
		 "echo n >new && echo top >../top", ws);
	CHECK(system(cmd) == 0);
	jv after = treestate_snapshot(ws, before);
	char *got = dump(treestate_changed(before, after));
	/* ignored files and paths outside the workspace are not counted */
	CHECK_STR(got, "[\"kept\",\"new\"]");
	free(got);
	/* committing changes no file */
	snprintf(cmd, sizeof cmd, "cd '%s' && git add -A && git -c user.name=t -c user.email=t@t "
		 "commit -qm two", ws);
	CHECK(system(cmd) == 0);
	jv committed = treestate_snapshot(ws, after);
	got = dump(treestate_changed(after, committed));
	CHECK_STR(got, "[]");
	free(got);
	jv_free(before);
	jv_free(after);
	jv_free(committed);
	unit_rm_rf(base);
}

int main(void)
{
	snprintf(base, sizeof base, "/tmp/bllm-treestate-%d", (int)getpid());
	UNIT_RUN(comparison);
	UNIT_RUN(plain_tree);
	UNIT_RUN(git_tree);
	return unit_done();
}
