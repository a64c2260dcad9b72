/* Path confinement: lib/path.c against a real temporary tree with symlinks. */
#define _DEFAULT_SOURCE
#include "path.h"
#include "unit.h"

#include <dirent.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* base/w is the workspace; base/outside and base/w2 lie beside it. */
static char base[PATH_MAX], root[PATH_MAX + 8];

static char *at(const char *rel)
{
	static char bufs[4][PATH_MAX * 2];
	static int i;
	char *b = bufs[i++ % 4];
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

/* 0 and *out, or -1 with an error message; checks the err/out contract. */
static int confine(const char *path, char **out, char **err)
{
	*out = *err = NULL;
	int rc = path_confine(root, path, out, err);
	if (rc == 0)
		CHECK(*out != NULL);
	else
		CHECK(*out == NULL && *err != NULL);
	return rc;
}

static void expect_inside(const char *path, const char *want_rel)
{
	char *out, *err, want[PATH_MAX * 2];
	if (*want_rel)
		snprintf(want, sizeof want, "%s/%s", root, want_rel);
	else
		snprintf(want, sizeof want, "%s", root);
	int rc = confine(path, &out, &err);
	if (rc != 0)
		fprintf(stdout, "# %s refused: %s\n", path, err);
	CHECK(rc == 0);
	CHECK_STR(out, want);
	if (out)
		CHECK_STR(path_relative(root, out), want_rel);
	free(out);
	free(err);
}

static void expect_refused(const char *path, const char *why)
{
	char *out, *err;
	int rc = confine(path, &out, &err);
	if (rc == 0)
		fprintf(stdout, "# %s accepted as %s\n", path, out);
	CHECK(rc == -1);
	if (err && !strstr(err, why))
		fprintf(stdout, "# error for %s: %s (wanted \"%s\")\n", path, err, why);
	CHECK(err && strstr(err, why));
	/* The message names the path as given. */
	CHECK(err && strstr(err, path));
	free(out);
	free(err);
}

static void setup(void)
{
	snprintf(base, sizeof base, "%s/bllm-path-XXXXXX",
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
	put(at("w/sub/file.txt"), "inside\n");
	put(at("outside/secret"), "secret\n");
	put(at("w2/x"), "sibling\n");
	if (symlink("../outside", at("w/link_out")) < 0 ||
	    symlink("../outside/secret", at("w/secret_link")) < 0 ||
	    symlink("sub", at("w/link_in")) < 0 ||
	    symlink("/nonexistent-bllm-target/x", at("w/dangling")) < 0 ||
	    symlink("loop", at("w/loop")) < 0) {
		perror("symlink");
		exit(2);
	}
}

static void test_relative_inside(void)
{
	expect_inside("sub/file.txt", "sub/file.txt");
	expect_inside("sub/new.txt", "sub/new.txt");
	expect_inside("newdir/a/b.txt", "newdir/a/b.txt");
	expect_inside("./sub/./file.txt", "sub/file.txt");
	expect_inside("sub/", "sub");
	expect_inside("sub//file.txt", "sub/file.txt");
	/* ".." that stays inside, through existing directories, is fine. */
	expect_inside("sub/../sub/file.txt", "sub/file.txt");
}

static void test_absolute_inside(void)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/sub/file.txt", root);
	expect_inside(p, "sub/file.txt");
	snprintf(p, sizeof p, "%s/brand/new", root);
	expect_inside(p, "brand/new");
}

static void test_root_itself(void)
{
	expect_inside(".", "");
	expect_inside(root, "");
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/", root);
	expect_inside(p, "");
	expect_inside("sub/..", "");
}

static void test_dotdot_refused(void)
{
	expect_refused("..", "outside the workspace");
	expect_refused("../x", "outside the workspace");
	expect_refused("sub/../../x", "outside the workspace");
	expect_refused("sub/../../outside/secret", "outside the workspace");
	/* ".." after a part that does not exist cannot be resolved safely. */
	expect_refused("nope/../sub/file.txt", "\"..\"");
	expect_refused("nope/./x", "\".\"");
}

static void test_absolute_outside(void)
{
	expect_refused("/etc/passwd", "outside the workspace");
	expect_refused("/", "outside the workspace");
	expect_refused(at("outside/secret"), "outside the workspace");
	expect_refused(at("outside/new-file"), "outside the workspace");
	expect_refused(base, "outside the workspace");
}

static void test_prefix_sibling(void)
{
	/* base/w2 starts with the string base/w, but is not below it. */
	expect_refused(at("w2/x"), "outside the workspace");
	expect_refused(at("w2"), "outside the workspace");
	expect_refused(at("w2/new"), "outside the workspace");
	expect_refused("../w2/x", "outside the workspace");
	CHECK_STR(path_relative("/w", "/w/a/b"), "a/b");
	CHECK_STR(path_relative("/w", "/w"), "");
	/* Not inside: handed back whole, never cut to "2/x". */
	CHECK_STR(path_relative("/w", "/w2/x"), "/w2/x");
	CHECK_STR(path_relative("/", "/etc/x"), "etc/x");
}

static void test_symlinks(void)
{
	expect_refused("link_out", "outside the workspace");
	expect_refused("link_out/secret", "outside the workspace");
	expect_refused("link_out/new-file", "outside the workspace");
	expect_refused("link_out/newdir/new-file", "outside the workspace");
	expect_refused("secret_link", "outside the workspace");
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/link_out/secret", root);
	expect_refused(p, "outside the workspace");
	/* A dangling link could be made to point anywhere later. */
	expect_refused("dangling", "symlink");
	expect_refused("dangling/x", "symlink");
	expect_refused("loop", "cannot be resolved");
	/* A link that stays inside resolves to its target. */
	expect_inside("link_in/file.txt", "sub/file.txt");
	expect_inside("link_in", "sub");
	expect_inside("link_in/new.txt", "sub/new.txt");
}

static void test_empty(void)
{
	char *out, *err;
	CHECK(confine("", &out, &err) == -1);
	CHECK(err && strstr(err, "empty"));
	free(out);
	free(err);
}

int main(void)
{
	setup();
	UNIT_RUN(test_relative_inside);
	UNIT_RUN(test_absolute_inside);
	UNIT_RUN(test_root_itself);
	UNIT_RUN(test_dotdot_refused);
	UNIT_RUN(test_absolute_outside);
	UNIT_RUN(test_prefix_sibling);
	UNIT_RUN(test_symlinks);
	UNIT_RUN(test_empty);
	unit_rm_rf(base);
	struct stat st;
	if (lstat(base, &st) == 0)
		fprintf(stdout, "# could not remove %s\n", base);
	return unit_done();
}
