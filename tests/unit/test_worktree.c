/* Worktrees and the merge gate (lib/worktree.c) on a real temporary git repository. */
#define _DEFAULT_SOURCE
#include "worktree.h"
#include "unit.h"

#include "buf.h"
#include "cmd.h"
#include "sandbox.h"

static char root[PATH_MAX];

static void sh(const char *fmt, const char *arg)
{
	char *cmd = xasprintf(fmt, arg, arg, arg);
	if (system(cmd) != 0) {
		fprintf(stdout, "# failed: %s\n", cmd);
		unit_failed_now = 1;
	}
	free(cmd);
}

/* The content of root/rel ("" when missing), static storage. */
static const char *file(const char *dir, const char *rel)
{
	static char out[256];
	char *p = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(p, "r");
	size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
	out[n] = '\0';
	if (f)
		fclose(f);
	free(p);
	return out;
}

static void put(const char *dir, const char *rel, const char *content)
{
	char *p = xasprintf("%s/%s", dir, rel);
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(content, f);
		fclose(f);
	}
	free(p);
}

static char *git_out(const char *dir, const char *a1, const char *a2)
{
	struct buf b = BUF_INIT;
	cmd_run(dir, &b, "git", a1, a2, NULL);
	cmd_chomp(&b);
	return buf_detach(&b);
}

static void gate(void)
{
	const char *why;
	char *err = NULL, *snap = NULL;
	CHECK(worktree_usable(root, &why));
	char *head = git_out(root, "rev-parse", "HEAD");
	put(root, "wip.txt", "uncommitted\n");
	CHECK(worktree_snapshot(root, &snap, &err) == 0);
	CHECK(snap && strlen(snap) == 40);
	char *status_before = git_out(root, "status", "--porcelain");

	char *w1 = xasprintf("%s/.git/bllm-test/1", root), *w2 = xasprintf("%s/.git/bllm-test/2", root);
	CHECK(worktree_add(root, snap, "bllm/t/1", w1, &err) == 0);
	CHECK(worktree_add(root, snap, "bllm/t/2", w2, &err) == 0);
	/* the worktrees start from the workspace as it is, uncommitted file included */
	CHECK_STR(file(w1, "wip.txt"), "uncommitted\n");
	put(w1, "a.txt", "from one\n");
	put(w1, "f.txt", "one\nkeep\n");
	put(w2, "f.txt", "two\nkeep\n");
	CHECK(worktree_commit(w1, "one", &err) == 0);
	CHECK(worktree_commit(w2, "two", &err) == 0);

	char *base = xstrdup(snap);
	bool merged;
	jv conflicts;
	CHECK(worktree_merge(root, &base, "bllm/t/1", &merged, &conflicts, &err) == 0);
	CHECK(merged);
	CHECK(jv_array_length(conflicts) == 0);
	CHECK_STR(file(root, "a.txt"), "from one\n");
	CHECK_STR(file(root, "f.txt"), "one\nkeep\n");
	CHECK(strcmp(base, snap) != 0);

	CHECK(worktree_merge(root, &base, "bllm/t/2", &merged, &conflicts, &err) == 0);
	CHECK(!merged);
	jv_array_foreach(conflicts, i, f) {
		CHECK_STR(jv_string_value(f), "f.txt");
		jv_free(f);
	}
	CHECK(jv_array_length(jv_copy(conflicts)) == 1);
	jv_free(conflicts);
	/* the conflict left the workspace as the first merge made it */
	CHECK_STR(file(root, "f.txt"), "one\nkeep\n");

	/* HEAD and the index are untouched: only the files changed */
	char *head_after = git_out(root, "rev-parse", "HEAD");
	CHECK_STR(head_after, head);
	char *staged = git_out(root, "diff", "--cached");
	CHECK_STR(staged, "");
	CHECK(strstr(status_before, "wip.txt") != NULL);

	CHECK(worktree_remove(root, w1, "bllm/t/1", &err) == 0);
	CHECK(worktree_remove(root, w2, "bllm/t/2", &err) == 0);
	char *branches = git_out(root, "branch", "--list");
	CHECK(strstr(branches, "bllm/") == NULL);
	if (err)
		fprintf(stdout, "# %s\n", err);
	free(err);
	free(branches);
	free(staged);
	free(head_after);
	free(status_before);
	free(head);
	free(base);
	free(snap);
	free(w1);
	free(w2);
}

/* A linked worktree's git paths are added to a sandbox policy; hooks are not; other workspaces add nothing. */
static void sandbox_paths(void)
{
	char *err = NULL, *snap = NULL;
	CHECK(worktree_snapshot(root, &snap, &err) == 0);
	char *w = xasprintf("%s/.git/bllm-test/s", root);
	CHECK(worktree_add(root, snap, "bllm/t/s", w, &err) == 0);
	struct sandbox_policy p = { 0 };
	worktree_sandbox_paths(w, &p);
	char *git = realpath(root, NULL);
	char *want_rw[] = { xasprintf("%s/.git/worktrees/s", git), xasprintf("%s/.git/objects", git),
			    xasprintf("%s/.git/refs", git), xasprintf("%s/.git/logs", git) };
	CHECK(p.n_read_write == 4);
	for (size_t i = 0; i < p.n_read_write && i < 4; i++)
		CHECK_STR(p.read_write[i], want_rw[i]);
	bool config = false;
	for (size_t i = 0; i < p.n_read_only; i++) {
		config = config || strstr(p.read_only[i], "/.git/config") != NULL;
		CHECK(!strstr(p.read_only[i], "hooks"));
	}
	CHECK(config);
	sandbox_policy_free(&p);
	/* the main workspace is not a linked worktree */
	worktree_sandbox_paths(root, &p);
	CHECK(p.n_read_write == 0 && p.n_read_only == 0);
	sandbox_policy_free(&p);
	for (int i = 0; i < 4; i++)
		free(want_rw[i]);
	free(git);
	CHECK(worktree_remove(root, w, "bllm/t/s", &err) == 0);
	free(w);
	free(snap);
}

static void unusable(void)
{
	const char *why;
	char *sub = xasprintf("%s/sub", root);
	sh("mkdir -p '%s/sub'", root);
	CHECK(!worktree_usable(sub, &why));
	CHECK(why && strstr(why, "not at its top"));
	CHECK(!worktree_usable("/", &why));
	free(sub);
}

int main(void)
{
	char tmpl[] = "/tmp/bllm-unit-worktree-XXXXXX";
	if (!mkdtemp(tmpl))
		return 2;
	snprintf(root, sizeof root, "%s", tmpl);
	sh("cd '%s' && git init -q && printf 'line\\nkeep\\n' >f.txt && git add f.txt && "
	   "git -c user.name=t -c user.email=t@t commit -qm base", root);
	UNIT_RUN(gate);
	UNIT_RUN(sandbox_paths);
	UNIT_RUN(unusable);
	unit_rm_rf(root);
	return unit_done();
}
