/* Worktrees for writing workers and the merge gate (see worktree.h). */
#define _DEFAULT_SOURCE	/* realpath */
#include "worktree.h"

#include <limits.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cmd.h"
#include "sandbox.h"

/* Without a configured identity git cannot commit: these stand in. */
#define IDENTITY "git config user.email >/dev/null 2>&1 || export GIT_AUTHOR_NAME=bllm " \
	"GIT_AUTHOR_EMAIL=bllm@localhost GIT_COMMITTER_NAME=bllm GIT_COMMITTER_EMAIL=bllm@localhost; "

bool worktree_usable(const char *root, const char **why)
{
	struct buf top = BUF_INIT;
	bool ok = false;
	*why = NULL;
	if (cmd_run_sh("cd \"$1\" && git rev-parse --show-toplevel 2>/dev/null", -1, &top, root, NULL) != 0) {
		*why = "not a git repository";
	} else {
		cmd_chomp(&top);
		char *a = realpath(buf_str(&top), NULL), *b = realpath(root, NULL);
		if (!a || !b || strcmp(a, b) != 0)
			*why = "the workspace is inside a git repository but not at its top";
		else if (cmd_run(root, NULL, "git", "rev-parse", "--verify", "-q", "HEAD^{commit}", NULL) != 0)
			*why = "the git repository has no commit yet";
		else
			ok = true;
		free(a);
		free(b);
	}
	buf_free(&top);
	return ok;
}

char *worktree_common_dir(const char *root)
{
	struct buf b = BUF_INIT;
	if (cmd_run(root, &b, "git", "rev-parse", "--path-format=absolute", "--git-common-dir", NULL) != 0) {
		buf_free(&b);
		return NULL;
	}
	cmd_chomp(&b);
	return buf_detach(&b);
}

/* The output of a script as one line (malloc'd), or NULL with *err. */
static char *script_line(const char *script, const char *a1, const char *a2, const char *what, char **err)
{
	struct buf b = BUF_INIT;
	int rc = cmd_run_sh(script, -1, &b, a1, a2);
	cmd_chomp(&b);
	if (rc != 0 || b.len == 0) {
		*err = xasprintf("%s failed (git exit %d)", what, rc);
		buf_free(&b);
		return NULL;
	}
	return buf_detach(&b);
}

int worktree_snapshot(const char *root, char **commit, char **err)
{
	/* A throwaway index, so the workspace's own index is not touched. */
	static const char script[] =
		"set -e; cd \"$1\"; " IDENTITY
		"idx=$(mktemp); trap 'rm -f \"$idx\"' EXIT; "
		"cp \"$(git rev-parse --git-path index)\" \"$idx\" 2>/dev/null || rm -f \"$idx\"; "
		"GIT_INDEX_FILE=$idx git add -A; "
		"tree=$(GIT_INDEX_FILE=$idx git write-tree); "
		"git commit-tree \"$tree\" -p HEAD -m 'bllm: the workspace before parallel workers'";
	*commit = script_line(script, root, NULL, "snapshot of the workspace", err);
	return *commit ? 0 : -1;
}

int worktree_add(const char *root, const char *commit, const char *branch, const char *path, char **err)
{
	char *common = worktree_common_dir(root);
	char *argv[] = { "git", "worktree", "add", "-q", "-b", (char *)branch, (char *)path, (char *)commit, NULL };
	int rc = common ? cmd_run_locked(common, argv, root) : -1;
	free(common);
	if (rc != 0) {
		*err = xasprintf("git worktree add %s on branch %s failed (exit %d)", path, branch, rc);
		return -1;
	}
	return 0;
}

int worktree_commit(const char *path, const char *message, char **err)
{
	static const char script[] = "set -e; cd \"$1\"; " IDENTITY "git add -A; "
				     "git diff --cached --quiet || git commit -q --no-verify -m \"$2\"";
	int rc = cmd_run_sh(script, -1, NULL, path, message);
	if (rc != 0) {
		*err = xasprintf("%s: committing the worker's changes failed (exit %d)", path, rc);
		return -1;
	}
	return 0;
}

/* The lines of s as a JSON array of strings. */
static jv lines_of(const char *s)
{
	jv a = jv_array();
	while (*s) {
		size_t n = strcspn(s, "\n");
		if (n)
			a = jv_array_append(a, jv_string_sized(s, (int)n));
		s += n + (s[n] ? 1 : 0);
	}
	return a;
}

int worktree_merge(const char *root, char **base, const char *branch, bool *merged, jv *conflicts,
		   char **err)
{
	*merged = false;
	*conflicts = jv_array();
	struct buf out = BUF_INIT;
	int rc = cmd_run(root, &out, "git", "merge-tree", "--write-tree", "--name-only", "--no-messages",
			 *base, branch, NULL);
	if (rc == 1) {
		/* The tree, then the conflicted files. */
		const char *nl = strchr(buf_str(&out), '\n');
		jv_free(*conflicts);
		*conflicts = lines_of(nl ? nl + 1 : "");
		buf_free(&out);
		return 0;
	}
	if (rc != 0) {
		*err = xasprintf("git merge-tree %s %s failed (exit %d; git 2.38 or later is needed)", *base,
				 branch, rc);
		buf_free(&out);
		return -1;
	}
	cmd_chomp(&out);
	char *args = xasprintf("%s %s %s", *base, branch, buf_str(&out));
	buf_free(&out);
	char *merge = script_line("set -e; cd \"$1\"; " IDENTITY "set -- $2; "
				  "git commit-tree \"$3\" -p \"$1\" -p \"$2\" -m 'bllm: merge gate'",
				  root, args, "recording the merge", err);
	free(args);
	if (!merge)
		return -1;
	/* The workspace's files hold *base: apply base..merge to them (all or nothing). */
	args = xasprintf("%s %s", *base, merge);
	rc = cmd_run_sh("cd \"$1\" && set -- $2 && git diff --binary \"$1\" \"$2\" | "
			"git apply --whitespace=nowarn", -1, NULL, root, args);
	if (rc != 0) {
		/* Someone changed those files meanwhile: leave them, report the branch's files. */
		struct buf names = BUF_INIT;
		cmd_run_sh("cd \"$1\" && set -- $2 && git diff --name-only \"$1\" \"$2\"", -1, &names, root, args);
		jv_free(*conflicts);
		*conflicts = lines_of(buf_str(&names));
		buf_free(&names);
		free(merge);
	} else {
		free(*base);
		*base = merge;
		*merged = true;
	}
	free(args);
	return 0;
}

int worktree_remove(const char *root, const char *path, const char *branch, char **err)
{
	char *common = worktree_common_dir(root);
	char *argv[] = { "git", "worktree", "remove", "--force", (char *)path, NULL };
	int rc = common ? cmd_run_locked(common, argv, root) : -1;
	free(common);
	if (rc == 0)
		rc = cmd_run(root, NULL, "git", "branch", "-q", "-D", branch, NULL);
	if (rc != 0) {
		*err = xasprintf("removing worktree %s (branch %s) failed (exit %d)", path, branch, rc);
		return -1;
	}
	return 0;
}

/* The first line of a small file (malloc'd), or NULL. */
static char *first_line(const char *path)
{
	FILE *f = fopen(path, "r");
	if (!f)
		return NULL;
	char line[PATH_MAX + 16];
	char *got = fgets(line, sizeof line, f);
	fclose(f);
	if (!got)
		return NULL;
	line[strcspn(line, "\r\n")] = '\0';
	return xstrdup(line);
}

/* Appends dir/name (when it exists) to a policy's list of paths. */
static void add_path(const char ***list, size_t *n, const char *dir, const char *name)
{
	char *path = name ? xasprintf("%s/%s", dir, name) : xstrdup(dir);
	char *real = realpath(path, NULL);
	free(path);
	if (!real)
		return;
	*list = xrealloc((void *)*list, (*n + 1) * sizeof **list);
	(*list)[(*n)++] = real;
}

void worktree_sandbox_paths(const char *root, struct sandbox_policy *p)
{
	char *dotgit = xasprintf("%s/.git", root);
	struct stat st;
	char *line = stat(dotgit, &st) == 0 && S_ISREG(st.st_mode) ? first_line(dotgit) : NULL;
	free(dotgit);
	if (!line || strncmp(line, "gitdir: ", 8) != 0) {
		free(line);
		return;
	}
	const char *gitdir = line + 8;
	char *cfile = xasprintf("%s/commondir", gitdir);
	char *rel = first_line(cfile);
	free(cfile);
	char *common = !rel ? NULL : rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", gitdir, rel);
	free(rel);
	if (common) {
		const char **rw = (const char **)p->read_write, **ro = (const char **)p->read_only;
		add_path(&rw, &p->n_read_write, gitdir, NULL);
		static const char *const writable[] = { "objects", "refs", "logs" };
		for (size_t i = 0; i < sizeof writable / sizeof *writable; i++)
			add_path(&rw, &p->n_read_write, common, writable[i]);
		static const char *const readable[] = { "config", "packed-refs", "info" };
		for (size_t i = 0; i < sizeof readable / sizeof *readable; i++)
			add_path(&ro, &p->n_read_only, common, readable[i]);
		p->read_write = rw;
		p->read_only = ro;
	}
	free(common);
	free(line);
}
