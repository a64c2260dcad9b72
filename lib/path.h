#ifndef BLLM_PATH_H
#define BLLM_PATH_H
/*
 * Path confinement: every path a tool touches must resolve inside the
 * workspace root.
 *
 * path is relative to root, or absolute. The deepest existing ancestor is
 * resolved with realpath(3) (so symlinks are followed, wherever they sit
 * in the path); the remaining, not yet existing components are appended
 * and must not be "." or "..". The result must be root itself or below it.
 * A symlink inside the root that points outside is therefore refused, and
 * so is "../x", "/etc/passwd" or "sub/../../x".
 */
#include <stdbool.h>

/*
 * root must already be canonical (absolute, from realpath). On success
 * returns 0 and sets *out to the canonical absolute path (malloc'd).
 * On refusal returns -1 and sets *err to a one-line reason naming the
 * path (malloc'd), e.g. `path "../x" is outside the workspace /w`.
 */
int path_confine(const char *root, const char *path, char **out, char **err);

/* The part of abs below root ("" for root itself); abs must be inside root. */
const char *path_relative(const char *root, const char *abs);

#endif
