#define _DEFAULT_SOURCE	/* realpath */
/*
 * The Glob/Grep walk (lib/tools.c, static, so built in here): a directory
 * swapped for a symlink out of the workspace while the walk runs is not
 * followed, and .env files and hidden paths are skipped.
 */
#include "../../lib/tools.c"
#include "unit.h"

static char base[PATH_MAX], ws[PATH_MAX + 8], outside[PATH_MAX + 16];
static int seen_secret, seen_env, seen_hidden;

static void touch(const char *dir, const char *name)
{
	char p[PATH_MAX * 2];
	snprintf(p, sizeof p, "%s/%s", dir, name);
	FILE *f = fopen(p, "w");
	if (f)
		fclose(f);
}

/* On reaching ws/a, swaps it for a symlink to the outside, then asks to descend. */
static int swap_visit(void *arg, const char *abs, char *const *segs, size_t n, const struct stat *st)
{
	(void)arg;
	(void)st;
	if (strcmp(segs[n - 1], "secret") == 0)
		seen_secret = 1;
	if (strcmp(segs[n - 1], ".env") == 0)
		seen_env = 1;
	if (strcmp(segs[n - 1], "state") == 0)
		seen_hidden = 1;
	if (n == 1 && strcmp(segs[0], "a") == 0) {
		char old[PATH_MAX * 2];
		snprintf(old, sizeof old, "%s.old", abs);
		if (rename(abs, old) < 0 || symlink(outside, abs) < 0)
			perror("swap");
	}
	return 1;
}

static void test_swap_mid_walk(void)
{
	snprintf(ws, sizeof ws, "%s/ws", base);
	snprintf(outside, sizeof outside, "%s/outside", base);
	mkdir(ws, 0755);
	mkdir(outside, 0755);
	touch(outside, "secret");
	char a[PATH_MAX * 2], state[PATH_MAX * 2];
	snprintf(a, sizeof a, "%s/a", ws);
	mkdir(a, 0755);
	touch(a, "inside");
	touch(ws, ".env");
	snprintf(state, sizeof state, "%s/state", ws);
	mkdir(state, 0755);
	const char *hidden[] = { state };
	struct tool_ctx ctx = { .root = ws, .hidden = hidden, .n_hidden = 1 };
	struct strv segs = { NULL, 0 };
	walk(&ctx, ws, &segs, swap_visit, NULL);
	free(segs.v);
	CHECK(!seen_secret);
	CHECK(!seen_env);
	CHECK(!seen_hidden);
}

int main(void)
{
	char tmpl[] = "/tmp/bllm-unit-walk-XXXXXX";
	if (!mkdtemp(tmpl) || !realpath(tmpl, base))
		return 2;
	UNIT_RUN(test_swap_mid_walk);
	unit_rm_rf(base);
	return unit_done();
}
