/* realpath(3) is XSI, outside the POSIX base. */
#define _DEFAULT_SOURCE
#include "path.h"
#include "buf.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* strerror() text with a lowercase first letter, as our messages are. */

/* Component-wise: "/w/x" and "/w" are inside "/w", "/w2" is not. */
static int inside(const char *root, const char *abs)
{
	size_t rl = strlen(root);
	if (rl == 1 && root[0] == '/')
		return abs[0] == '/';
	return strncmp(abs, root, rl) == 0 && (abs[rl] == '\0' || abs[rl] == '/');
}

static void strip_trailing_slashes(char *s)
{
	size_t n = strlen(s);
	while (n > 1 && s[n - 1] == '/')
		s[--n] = '\0';
}

/*
 * The caller's path may not exist yet (Write creates files and their
 * directories), so realpath() cannot resolve it whole: the deepest
 * existing ancestor is resolved, and the rest must be plain names so
 * nothing unresolved can climb back out.
 */
int path_confine(const char *root, const char *path, char **out, char **err)
{
	*out = NULL;
	if (!path || !*path) {
		*err = xstrdup("path is empty; give a file path inside the workspace");
		return -1;
	}
	char *full = path[0] == '/' ? xstrdup(path) : xasprintf("%s/%s", root, path);
	strip_trailing_slashes(full);

	/* Components cut off the end, last first. */
	char **rest = NULL;
	size_t nrest = 0;
	char *resolved = NULL;
	int rc = -1;

	for (;;) {
		resolved = realpath(full, NULL);
		if (resolved)
			break;
		int e = errno;
		struct stat st;
		if (e != ENOENT && e != ENOTDIR) {
			char *why = xstrerror(e);
			*err = xasprintf("path \"%s\" cannot be resolved: %s", path, why);
			free(why);
			goto out;
		}
		if (lstat(full, &st) == 0) {
			/* It exists, yet cannot be resolved: a dangling symlink. */
			*err = xasprintf("path \"%s\" goes through a symlink whose target does not "
					 "exist; give the real path inside the workspace %s", path, root);
			goto out;
		}
		char *slash = strrchr(full, '/');
		if (!slash) {		/* cannot happen: full is absolute */
			*err = xasprintf("path \"%s\" cannot be resolved", path);
			goto out;
		}
		if (slash[1]) {
			rest = xrealloc(rest, (nrest + 1) * sizeof *rest);
			rest[nrest++] = xstrdup(slash + 1);
		}
		if (slash == full)
			slash[1] = '\0';
		else
			*slash = '\0';
		strip_trailing_slashes(full);
	}

	struct buf b = BUF_INIT;
	buf_appends(&b, resolved);
	for (size_t i = nrest; i-- > 0;) {
		if (strcmp(rest[i], ".") == 0 || strcmp(rest[i], "..") == 0) {
			*err = xasprintf("path \"%s\" has \"%s\" after a directory that does not "
					 "exist; give a plain path inside the workspace %s",
					 path, rest[i], root);
			buf_free(&b);
			goto out;
		}
		if (b.len != 1)
			buf_appendc(&b, '/');
		buf_appends(&b, rest[i]);
	}
	if (!inside(root, buf_str(&b))) {
		*err = xasprintf("path \"%s\" is outside the workspace %s", path, root);
		buf_free(&b);
		goto out;
	}
	*out = buf_detach(&b);
	rc = 0;
out:
	for (size_t i = 0; i < nrest; i++)
		free(rest[i]);
	free(rest);
	free(resolved);
	free(full);
	return rc;
}

const char *path_relative(const char *root, const char *abs)
{
	size_t rl = strlen(root);
	if (rl == 1 && root[0] == '/')
		return abs[0] == '/' ? abs + 1 : abs;
	if (strncmp(abs, root, rl) != 0)
		return abs;
	if (abs[rl] == '/')
		return abs + rl + 1;
	if (abs[rl] == '\0')
		return abs + rl;
	return abs;
}
