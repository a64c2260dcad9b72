#ifndef BLLM_TREESTATE_H
#define BLLM_TREESTATE_H
/*
 * What a shell command changed in the workspace, found by comparing the
 * tree's state before and after it (the Bash tool's files_changed).
 *
 * A snapshot is a JSON object {path: signature}: paths relative to the
 * workspace root, signatures "MTIME_NS:SIZE" (or "-" for a path that does
 * not exist). In a git work tree it holds the paths `git status
 * --porcelain` lists as changed or untracked (under the root), so a build
 * that writes ignored files (objects, caches) is not counted; elsewhere it
 * holds every regular file and symlink under the root except .git/.
 *
 * jv ownership: treestate_snapshot returns a new reference and borrows
 * also; treestate_changed borrows both and returns a new reference.
 */
#include <jv.h>

/* Files a snapshot walks at most outside git; past it, no snapshot (null). */
#define TREESTATE_MAX_FILES 20000

/*
 * The state of the tree under root, or jv_null() when it cannot be taken
 * (unreadable, or too many files). Every path of also (an earlier snapshot,
 * or null) is in the result too, so a path that went back to clean in git
 * is compared by its own signature.
 */
jv treestate_snapshot(const char *root, jv also);

/*
 * The sorted paths whose signature differs between before and after (a
 * path missing from one side differs unless both say "-"). Pure. An empty
 * array when either side is null.
 */
jv treestate_changed(jv before, jv after);

#endif
