#ifndef BLLM_WORKTREE_H
#define BLLM_WORKTREE_H
/*
 * Git worktrees for workers that write, and the merge gate that brings
 * their work back, without touching the workspace's HEAD, branch or index:
 *
 *   snapshot   a commit of the workspace as it is (HEAD plus every
 *              uncommitted change, untracked files too, ignored ones not)
 *   add        a worktree on a new branch at the snapshot
 *   commit     everything the worker changed, as one commit on its branch
 *   merge      three-way merge of a branch with what was merged before it
 *              (git merge-tree); clean: the difference is applied to the
 *              workspace's files; conflict: the files are left as they were
 *   remove     the worktree and its branch
 *
 * Every function returns 0, or -1 with *err (malloc'd, one line).
 */
#include <stdbool.h>
#include <jv.h>

/* True when root is the top of a git work tree with a commit; else *why (static). */
bool worktree_usable(const char *root, const char **why);

/* The absolute git directory shared by root's worktrees (malloc'd), or NULL. */
char *worktree_common_dir(const char *root);

/* The snapshot commit of root's files (*commit: 40 hex digits, malloc'd). */
int worktree_snapshot(const char *root, char **commit, char **err);

int worktree_add(const char *root, const char *commit, const char *branch, const char *path, char **err);

/* Commits everything changed in the worktree at path (nothing changed: no commit). */
int worktree_commit(const char *path, const char *message, char **err);

/*
 * The merge gate for one branch. *base is the commit whose files the
 * workspace holds now (the snapshot at first); a clean merge applies the
 * branch's changes to root's files and moves *base (malloc'd, replaced)
 * to the merge, sets *merged. A conflict sets *merged false and
 * *conflicts (a new array of paths) and changes nothing.
 */
int worktree_merge(const char *root, char **base, const char *branch, bool *merged, jv *conflicts,
		   char **err);

/* Removes the worktree (even with changes) and deletes its branch. */
int worktree_remove(const char *root, const char *path, const char *branch, char **err);

struct sandbox_policy;

/*
 * When root is a linked worktree (its .git a file naming its git
 * directory), what git needs beside it to commit from inside the command
 * sandbox (lib/sandbox.h), added to p: read-write its own git directory
 * (GIT-DIR/worktrees/N) and the repository's objects, refs and logs;
 * read-only its config, packed-refs and info. The hooks and the rest of
 * the repository's git directory stay out of sight: a command cannot plant
 * a hook or a config that git would run outside the sandbox later. Paths
 * that do not exist are left out. Nothing changes for other workspaces.
 */
void worktree_sandbox_paths(const char *root, struct sandbox_policy *p);

#endif
