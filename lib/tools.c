#include "tools.h"
#include "clock.h"
#include "buf.h"
#include "path.h"
#include "treestate.h"
#include "diff.h"
#include "proc.h"
#include "sandbox.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <poll.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io.h"

#define DEFAULT_CAP 30000
#define DEFAULT_BASH_TIMEOUT_S 120.0
#define MAX_BASH_TIMEOUT_S 600.0
#define BASH_GRACE_S 5.0
#define READ_DEFAULT_LIMIT 2000
#define MAX_LINE 2000
#define GLOB_MAX 1000
#define BINARY_PROBE 8192
/* Larger files are not searched by Grep (nor read whole by Edit's peers). */
#define GREP_MAX_FILE (64u << 20)

static const char *const names[TOOL_COUNT] = {
	[TOOL_READ] = "Read", [TOOL_WRITE] = "Write", [TOOL_EDIT] = "Edit",
	[TOOL_GLOB] = "Glob", [TOOL_GREP] = "Grep", [TOOL_BASH] = "Bash",
};

int tool_lookup(const char *name)
{
	if (!name)
		return -1;
	for (int i = 0; i < TOOL_COUNT; i++)
		if (strcasecmp(name, names[i]) == 0)
			return i;
	return -1;
}

const char *tool_name(enum tool_id id)
{
	return (unsigned)id < TOOL_COUNT ? names[id] : "(unknown tool)";
}

static jv prop(const char *type, const char *description)
{
	jv p = jv_object_set(jv_object(), jv_string("type"), jv_string(type));
	return jv_object_set(p, jv_string("description"), jv_string(description));
}

static jv prop_min(const char *type, const char *description, double min)
{
	return jv_object_set(prop(type, description), jv_string("minimum"), jv_number(min));
}

/* Consumes props and required. */
static jv definition(enum tool_id id, const char *description, jv props, jv required)
{
	jv schema = jv_object_set(jv_object(), jv_string("type"), jv_string("object"));
	schema = jv_object_set(schema, jv_string("properties"), props);
	schema = jv_object_set(schema, jv_string("required"), required);
	schema = jv_object_set(schema, jv_string("additionalProperties"), jv_false());
	jv d = jv_object_set(jv_object(), jv_string("name"), jv_string(names[id]));
	d = jv_object_set(d, jv_string("description"), jv_string(description));
	return jv_object_set(d, jv_string("input_schema"), schema);
}

static jv req1(const char *a)
{
	return jv_array_append(jv_array(), jv_string(a));
}

static jv req2(const char *a, const char *b)
{
	return jv_array_append(req1(a), jv_string(b));
}

static jv req3(const char *a, const char *b, const char *c)
{
	return jv_array_append(req2(a, b), jv_string(c));
}

jv tool_definition(enum tool_id id)
{
	jv p = jv_object();
	switch (id) {
	case TOOL_READ:
		p = jv_object_set(p, jv_string("file_path"), prop("string",
			"The file to read: absolute, or relative to the workspace root."));
		p = jv_object_set(p, jv_string("offset"), prop_min("integer",
			"The line number to start reading from (1-based). Only give it for "
			"files too large to read at once.", 1));
		p = jv_object_set(p, jv_string("limit"), prop_min("integer",
			"The number of lines to read (default 2000).", 1));
		return definition(id,
			"Reads a file from the workspace. Returns its lines numbered like "
			"`cat -n`: the line number, a tab, then the line as it is in the file. "
			"Reads up to 2000 lines from the start of the file unless offset and "
			"limit say otherwise; lines longer than 2000 characters are cut. "
			"Read a file before editing it. A directory cannot be read (use Glob "
			"to list files), nor can a binary file.",
			p, req1("file_path"));
	case TOOL_WRITE:
		p = jv_object_set(p, jv_string("file_path"), prop("string",
			"The file to write: absolute, or relative to the workspace root."));
		p = jv_object_set(p, jv_string("content"), prop("string",
			"The whole new content of the file."));
		return definition(id,
			"Writes a file in the workspace, replacing it if it exists. Missing "
			"parent directories are created. The write is atomic, and an existing "
			"file keeps its permissions. Prefer Edit to change part of an existing "
			"file, and Read a file before overwriting it.",
			p, req2("file_path", "content"));
	case TOOL_EDIT:
		p = jv_object_set(p, jv_string("file_path"), prop("string",
			"The file to modify: absolute, or relative to the workspace root."));
		p = jv_object_set(p, jv_string("old_string"), prop("string",
			"The exact text to replace (not empty)."));
		p = jv_object_set(p, jv_string("new_string"), prop("string",
			"The text to replace it with (must differ from old_string)."));
		p = jv_object_set(p, jv_string("replace_all"), prop("boolean",
			"Replace every occurrence of old_string (default false)."));
		return definition(id,
			"Replaces exact text in a file. old_string must occur exactly once in "
			"the file (include enough surrounding lines to make it unique) unless "
			"replace_all is true, which replaces every occurrence. Match the file's "
			"text exactly, with its indentation and whitespace, as Read shows it "
			"after the line-number prefix (the line number and tab are not part of "
			"the file). Read the file first.",
			p, req3("file_path", "old_string", "new_string"));
	case TOOL_GLOB:
		p = jv_object_set(p, jv_string("pattern"), prop("string",
			"The pattern to match, e.g. \"**/*.c\" or \"src/*.{h,c}\"."));
		p = jv_object_set(p, jv_string("path"), prop("string",
			"The directory to search in (default the workspace root)."));
		return definition(id,
			"Finds files by name. In the pattern, * and ? match within one path "
			"component, [...] matches one of a set of characters, {a,b} gives "
			"alternatives, and ** matches any number of directories: \"*.c\" "
			"matches only in path itself, \"**/*.c\" at any depth. Returns paths "
			"relative to the workspace root, most recently modified first, at most "
			"1000. .git directories are skipped.",
			p, req1("pattern"));
	case TOOL_GREP:
		p = jv_object_set(p, jv_string("pattern"), prop("string",
			"A POSIX extended regular expression, as for grep -E."));
		p = jv_object_set(p, jv_string("path"), prop("string",
			"A file, or a directory searched recursively (default the workspace "
			"root)."));
		p = jv_object_set(p, jv_string("glob"), prop("string",
			"Only search files matching this glob, e.g. \"*.c\" or \"*.{c,h}\" "
			"(matched against file names) or \"src/**/*.h\" (matched against "
			"paths relative to the workspace root)."));
		return definition(id,
			"Searches file contents with a POSIX extended regular expression (like "
			"grep -E; no \\d or lookaround: use [0-9] and plain groups). Returns "
			"matching lines as path:line_number:text, paths relative to the "
			"workspace root. .git directories and binary files are skipped.",
			p, req1("pattern"));
	case TOOL_BASH:
		p = jv_object_set(p, jv_string("command"), prop("string",
			"The command to run."));
		p = jv_object_set(p, jv_string("timeout"), prop_min("number",
			"A time limit in milliseconds (default 120000, at most 600000).", 1));
		return definition(id,
			"Runs a shell command with /bin/sh -c in the workspace root, stdin from "
			"/dev/null, and returns stdout and stderr interleaved, then a line "
			"[exit code N]. On a timeout the command and everything it started are "
			"killed. Long output is cut with a note. Processes left in the "
			"background are killed when the command ends. Use Read, Edit, Write, "
			"Glob and Grep rather than cat, sed, echo >, find or grep.",
			p, req1("command"));
	default:
		break;
	}
	jv_free(p);
	return jv_invalid_with_msg(jv_string("unknown tool id"));
}

static size_t cap_of(const struct tool_ctx *ctx)
{
	return ctx->output_cap ? ctx->output_cap : DEFAULT_CAP;
}

/* The longest prefix of s[0..n) that does not end inside a UTF-8 sequence. */
static size_t utf8_cut(const char *s, size_t n)
{
	size_t i = n, back = 0;
	while (i > 0 && back < 3 && ((unsigned char)s[i - 1] & 0xC0) == 0x80) {
		i--;
		back++;
	}
	if (i == 0)
		return n;
	unsigned char lead = (unsigned char)s[i - 1];
	size_t len = lead < 0x80 ? 1 : (lead >> 5) == 0x6 ? 2 : (lead >> 4) == 0xE ? 3
		   : (lead >> 3) == 0x1E ? 4 : 1;
	return i - 1 + len > n ? i - 1 : n;
}

/* Output kept up to a cap, counting everything offered. */
struct out {
	struct buf b;
	size_t total;
	size_t cap;
};

static void out_add(struct out *o, const char *s, size_t n)
{
	o->total += n;
	if (o->b.len < o->cap) {
		size_t room = o->cap - o->b.len;
		buf_append(&o->b, s, n < room ? n : room);
	}
}

static void out_adds(struct out *o, const char *s)
{
	out_add(o, s, strlen(s));
}

static void out_printf(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out_printf(struct out *o, const char *fmt, ...)
{
	struct buf t = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&t, fmt, ap);
	va_end(ap);
	out_add(o, buf_str(&t), t.len);
	buf_free(&t);
}

/* Appends the "[output truncated: ...]" note when o was cut. */
static void finish_into(struct out *o, struct buf *dst)
{
	if (o->total <= o->cap) {
		buf_append(dst, buf_str(&o->b), o->b.len);
		return;
	}
	size_t shown = utf8_cut(buf_str(&o->b), o->b.len);
	buf_append(dst, buf_str(&o->b), shown);
	if (shown && o->b.data[shown - 1] != '\n')
		buf_appendc(dst, '\n');
	buf_printf(dst, "[output truncated: %zu bytes total, first %zu shown]", o->total, shown);
}

static jv buf_to_jv(struct buf *b)
{
	jv s = jv_string_sized(buf_str(b), (int)b->len);
	buf_free(b);
	return s;
}

/* o's text (capped, noted), then trailer if any; frees o. */
static jv out_finish(struct out *o, const char *trailer)
{
	struct buf b = BUF_INIT;
	finish_into(o, &b);
	buf_free(&o->b);
	if (trailer && *trailer) {
		if (b.len && b.data[b.len - 1] != '\n')
			buf_appendc(&b, '\n');
		buf_appends(&b, trailer);
	}
	return buf_to_jv(&b);
}

static void set_content(struct tool_result *r, jv content)
{
	jv_free(r->content);
	r->content = content;
}

static void fail(const struct tool_ctx *ctx, struct tool_result *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void fail(const struct tool_ctx *ctx, struct tool_result *r, const char *fmt, ...)
{
	struct out o = { BUF_INIT, 0, cap_of(ctx) };
	struct buf t = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&t, fmt, ap);
	va_end(ap);
	out_add(&o, buf_str(&t), t.len);
	buf_free(&t);
	set_content(r, out_finish(&o, NULL));
	r->is_error = true;
}


static void fail_errno(const struct tool_ctx *ctx, struct tool_result *r, const char *tool,
		       const char *what, const char *rel, int e)
{
	char *why = xstrerror(e);
	fail(ctx, r, "%s: cannot %s \"%s\": %s", tool, what, rel, why);
	free(why);
}

bool tool_path_hidden(const struct tool_ctx *ctx, const char *abs)
{
	const char *base = strrchr(abs, '/');
	base = base ? base + 1 : abs;
	if (strcmp(base, ".env") == 0)
		return true;
	for (size_t i = 0; i < ctx->n_hidden; i++) {
		size_t n = strlen(ctx->hidden[i]);
		if (strncmp(abs, ctx->hidden[i], n) == 0 && (abs[n] == '/' || abs[n] == '\0'))
			return true;
	}
	return false;
}

/* Fails r when abs is hidden from agents; returns true then. */
static bool refuse_hidden(const struct tool_ctx *ctx, struct tool_result *r, const char *tool,
			  const char *abs)
{
	if (!tool_path_hidden(ctx, abs))
		return false;
	const char *rel = path_relative(ctx->root, abs);
	fail(ctx, r, "%s: \"%s\" is not readable by agents (.env files and bllm's own state: "
	     "sessions, logs, caches)", tool, *rel ? rel : abs);
	return true;
}

enum arg_kind { ARG_STRING, ARG_NUMBER, ARG_BOOL };

/*
 * Fetches input[key] into *v (a new reference, or jv_null() when absent or
 * null). Returns 1 when present with the right kind, 0 when absent and
 * optional, -1 after failing r.
 */
static int arg(const struct tool_ctx *ctx, struct tool_result *r, const char *tool, jv input,
	       const char *key, enum arg_kind kind, int required, jv *v)
{
	*v = jv_object_get(jv_copy(input), jv_string(key));
	jv_kind k = jv_get_kind(*v);
	if (k == JV_KIND_INVALID || k == JV_KIND_NULL) {
		jv_free(*v);
		*v = jv_null();
		if (!required)
			return 0;
	} else if (kind == ARG_STRING && k == JV_KIND_STRING &&
		   (strcmp(key, "content") != 0 && strcmp(key, "old_string") != 0 &&
		    strcmp(key, "new_string") != 0) &&
		   strlen(jv_string_value(*v)) != (size_t)jv_string_length_bytes(jv_copy(*v))) {
		/* A C string would stop at the NUL: "ok\u0000/../../x" would write "ok". */
		fail(ctx, r, "%s: \"%s\" contains a NUL character; give it without one", tool, key);
		jv_free(*v);
		*v = jv_null();
		return -1;
	} else if ((kind == ARG_STRING && k == JV_KIND_STRING) ||
		   (kind == ARG_NUMBER && k == JV_KIND_NUMBER) ||
		   (kind == ARG_BOOL && (k == JV_KIND_TRUE || k == JV_KIND_FALSE))) {
		return 1;
	}
	static const char *const what[] = { "a string", "a number", "a boolean (true or false)" };
	fail(ctx, r, "%s: \"%s\" must be %s", tool, key, what[kind]);
	return -1;
}

/* A whole number in [min, INT_MAX], or -1 after failing r. */
static int arg_int(const struct tool_ctx *ctx, struct tool_result *r, const char *tool, jv v,
		   const char *key, int min, int dflt)
{
	if (jv_get_kind(v) != JV_KIND_NUMBER)
		return dflt;
	double d = jv_number_value(v);
	if (!(d >= min && d <= INT_MAX) || d != (double)(int)d) {
		fail(ctx, r, "%s: \"%s\" must be a whole number of at least %d", tool, key, min);
		return -1;
	}
	return (int)d;
}

/*
 * True when the file open on fd is inside root. path_confine checked the
 * name; this checks what was actually opened, so a directory swapped for
 * a symlink between the check and the open is caught (Linux: through
 * /proc/self/fd; where that cannot be read, the name's check stands).
 */
static bool fd_inside(int fd, const char *root)
{
	char link[64], real[PATH_MAX];
	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	ssize_t n = readlink(link, real, sizeof real - 1);
	if (n < 0)
		return true;
	real[n] = '\0';
	size_t rl = strlen(root);
	if (strcmp(root, "/") == 0)
		return true;
	return strncmp(real, root, rl) == 0 && (real[rl] == '/' || real[rl] == '\0');
}

static int read_all(const char *root, const char *abs, size_t max, char **data, size_t *len,
		    int *err)
{
	int fd;
	do
		fd = open(abs, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (!fd_inside(fd, root)) {
		*err = EACCES;
		close(fd);
		return -1;
	}
	struct stat st;
	if (fstat(fd, &st) < 0) {
		*err = errno;
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode)) {
		*err = S_ISDIR(st.st_mode) ? EISDIR : EINVAL;
		close(fd);
		return -1;
	}
	if ((size_t)st.st_size > max) {
		*err = EFBIG;
		close(fd);
		return -1;
	}
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	for (;;) {
		char chunk[65536];
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			*err = errno;
			buf_free(&b);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		if (b.len + (size_t)n > max) {
			*err = EFBIG;
			buf_free(&b);
			close(fd);
			return -1;
		}
		buf_append(&b, chunk, (size_t)n);
	}
	close(fd);
	*len = b.len;
	*data = buf_detach(&b);
	return 0;
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/*
 * Replaces abs with data through a temporary file in the same directory,
 * so readers see the old file or the new one, never a mix. -1 with errno.
 */
/*
 * Replaces abs with data: a temporary file beside it, fsync, rename, fsync
 * of the directory. Everything happens relative to the directory's
 * descriptor, which is checked to be inside root once open, so a directory
 * swapped for a symlink after the path check cannot redirect the write.
 */
static int write_atomic(const char *root, const char *abs, const char *data, size_t len,
			mode_t mode)
{
	const char *slash = strrchr(abs, '/');
	size_t dlen = slash == abs ? 1 : (size_t)(slash - abs);
	char *dir = xstrndup(abs, dlen);
	const char *base = slash + 1;
	char *tmp = NULL;
	int e = 0, fd = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		e = errno;
		goto out;
	}
	if (!fd_inside(dfd, root)) {
		e = EACCES;
		goto out;
	}
	static unsigned counter;
	for (int attempt = 0; attempt < 100 && fd < 0; attempt++) {
		free(tmp);
		tmp = xasprintf(".%s.bllm-%ld-%u", base, (long)getpid(), counter++);
		fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno != EEXIST) {
			e = errno;
			goto out;
		}
	}
	if (fd < 0) {
		e = EEXIST;
		goto out;
	}
	if (fchmod(fd, mode) < 0 || write_full(fd, data, len) < 0 || fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	if (close(fd) < 0 && errno != EINTR) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	if (renameat(dfd, tmp, dfd, base) < 0) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		goto out;
	}
	/* The rename itself is durable only once the directory is synced. */
	fsync(dfd);
out:
	if (dfd >= 0)
		close(dfd);
	free(tmp);
	free(dir);
	errno = e;
	return e ? -1 : 0;
}

struct strv {
	char **v;
	size_t n;
};

static void strv_push(struct strv *s, char *str)
{
	s->v = xrealloc(s->v, (s->n + 1) * sizeof *s->v);
	s->v[s->n++] = str;
}

static void strv_free(struct strv *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->v[i]);
	free(s->v);
	s->v = NULL;
	s->n = 0;
}

/*
 * Checks every component of rel fits (NAME_MAX) and the whole path fits
 * (PATH_MAX), so nothing is created for a path that cannot be written.
 * -1 with errno (ENAMETOOLONG) when it does not.
 */
static int path_fits(const char *abs, const char *rel)
{
	if (strlen(abs) >= PATH_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n > NAME_MAX) {
			errno = ENAMETOOLONG;
			return -1;
		}
		p += n;
		p += *p == '/';
	}
	return 0;
}

/*
 * Creates the missing parent directories of rel (relative to root) through
 * directory descriptors: each component is opened with O_NOFOLLOW relative
 * to its parent and made with mkdirat when missing, so no symlink swapped
 * in on the way is followed. The directories made are listed in *made
 * (relative names, deepest last) for remove_made. -1 with errno and *where.
 */
static int make_parents(const char *root, const char *rel, struct strv *made, char **where)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		*where = xstrdup(root);
		return -1;
	}
	char *path = xstrdup(rel);
	int rc = 0;
	for (char *s = strchr(path, '/'); s; s = strchr(s + 1, '/')) {
		*s = '\0';
		const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
		int sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sub < 0 && errno == ENOENT) {
			if (mkdirat(fd, name, 0755) == 0)
				strv_push(made, xstrdup(path));
			sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (sub < 0) {
			int e = errno == ELOOP ? ENOTDIR : errno;
			*where = xstrdup(path);
			errno = e;
			rc = -1;
			break;
		}
		close(fd);
		fd = sub;
		*s = '/';
	}
	int e = errno;
	close(fd);
	free(path);
	errno = e;
	return rc;
}

/* Removes the directories make_parents made, deepest first (they are empty). */
static void remove_made(const char *root, struct strv *made)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	for (size_t i = made->n; fd >= 0 && i > 0; i--)
		unlinkat(fd, made->v[i - 1], AT_REMOVEDIR);
	if (fd >= 0)
		close(fd);
	strv_free(made);
}

/*
 * Confines path and checks that it names an existing regular file: returns
 * its workspace-relative name (pointing into *abs, which path_confine
 * allocates) and fills *st; otherwise fails r with a reason for the model
 * (the hints say what to do instead) and returns NULL.
 */
static const char *regular_file(const struct tool_ctx *ctx, struct tool_result *r, const char *tool,
				const char *verb, const char *path, const char *missing_hint,
				const char *dir_hint, char **abs, struct stat *st)
{
	char *err = NULL;
	if (path_confine(ctx->root, path, abs, &err) < 0) {
		fail(ctx, r, "%s: %s", tool, err);
		free(err);
		return NULL;
	}
	if (refuse_hidden(ctx, r, tool, *abs))
		return NULL;
	const char *rel = *path_relative(ctx->root, *abs) ? path_relative(ctx->root, *abs) : ".";
	if (stat(*abs, st) < 0) {
		if (errno == ENOENT)
			fail(ctx, r, "%s: \"%s\" does not exist; %s", tool, rel, missing_hint);
		else
			fail_errno(ctx, r, tool, verb, rel, errno);
		return NULL;
	}
	if (S_ISDIR(st->st_mode)) {
		fail(ctx, r, "%s: \"%s\" is a directory; %s", tool, rel, dir_hint);
		return NULL;
	}
	if (!S_ISREG(st->st_mode)) {
		fail(ctx, r, "%s: \"%s\" is not a regular file", tool, rel);
		return NULL;
	}
	return rel;
}

/*
 * Reads one line of f keeping at most keep bytes of it in *b (without the
 * newline); returns the line's whole length without its newline, or -1 at
 * the end. Memory stays bounded however long the line is (a 1 GiB line
 * costs keep bytes, not a gigabyte).
 */
static long long read_line_capped(FILE *f, struct buf *b, size_t keep)
{
	b->len = 0;
	long long total = 0;
	int c, any = 0;
	while ((c = getc_unlocked(f)) != EOF) {
		any = 1;
		if (c == '\n')
			break;
		if (b->len < keep)
			buf_appendc(b, (char)c);
		total++;
	}
	buf_append(b, "", 0);
	return any ? total : -1;
}

static void tool_read(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv fp = jv_null(), off = jv_null(), lim = jv_null();
	char *abs = NULL, *err = NULL;
	FILE *f = NULL;
	char *line = NULL;

	if (arg(ctx, r, "Read", input, "file_path", ARG_STRING, 1, &fp) < 0 ||
	    arg(ctx, r, "Read", input, "offset", ARG_NUMBER, 0, &off) < 0 ||
	    arg(ctx, r, "Read", input, "limit", ARG_NUMBER, 0, &lim) < 0)
		goto out;
	/* offset 0 is taken as 1: models count both ways. */
	int offset = arg_int(ctx, r, "Read", off, "offset", 0, 1);
	if (offset < 0)
		goto out;
	int limit = arg_int(ctx, r, "Read", lim, "limit", 1, READ_DEFAULT_LIMIT);
	if (limit < 0)
		goto out;
	if (offset == 0)
		offset = 1;
	struct stat st;
	const char *rel = regular_file(ctx, r, "Read", "read", jv_string_value(fp),
				       "use Glob to find files", "use Glob to list its files", &abs, &st);
	if (!rel)
		goto out;
	int fd;
	do
		fd = open(abs, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0 && !fd_inside(fd, ctx->root)) {
		close(fd);
		fd = -1;
		errno = EACCES;
	}
	if (fd < 0 || !(f = fdopen(fd, "r"))) {
		int e = errno;
		if (fd >= 0)
			close(fd);
		fail_errno(ctx, r, "Read", "read", rel, e);
		goto out;
	}
	char probe[BINARY_PROBE];
	size_t np = fread(probe, 1, sizeof probe, f);
	if (memchr(probe, '\0', np)) {
		fail(ctx, r, "Read: \"%s\" is a binary file (%lld bytes); it cannot be shown as "
		     "text", rel, (long long)st.st_size);
		goto out;
	}
	rewind(f);

	struct out o = { BUF_INIT, 0, cap_of(ctx) };
	long long n = 0, last = (long long)offset + limit - 1;
	long long len;
	struct buf lb = BUF_INIT;
	while ((len = read_line_capped(f, &lb, MAX_LINE + 4)) >= 0) {
		n++;
		if (n < offset || n > last)
			continue;
		size_t l = (size_t)len;
		line = lb.data;
		out_printf(&o, "%6lld\t", n);
		if (l > MAX_LINE) {
			out_add(&o, line, utf8_cut(line, MAX_LINE));
			out_printf(&o, " [line cut at %d of %zu bytes]\n", MAX_LINE, l);
		} else {
			out_add(&o, line, l);
			out_adds(&o, "\n");
		}
		if (n == last)
			break;
	}
	line = NULL;
	buf_free(&lb);
	if (n == last) {
		/* The rest is only counted, in chunks: a huge file costs no memory. */
		char chunk[65536];
		size_t k;
		char end = '\n';
		while ((k = fread(chunk, 1, sizeof chunk, f)) > 0) {
			for (const char *p = chunk; (p = memchr(p, '\n', (size_t)(chunk + k - p))); p++)
				n++;
			end = chunk[k - 1];
		}
		if (end != '\n')
			n++;
	}
	if (ferror(f)) {
		buf_free(&o.b);
		fail_errno(ctx, r, "Read", "read", rel, errno);
		goto out;
	}
	if (n == 0) {
		buf_free(&o.b);
		set_content(r, jv_string_fmt("\"%s\" is empty", rel));
		goto out;
	}
	if (offset > n) {
		buf_free(&o.b);
		fail(ctx, r, "Read: offset %d is past the end of \"%s\" (%lld lines)", offset, rel, n);
		goto out;
	}
	char *trailer = NULL;
	if (last < n)
		trailer = xasprintf("[lines %d-%lld of %lld shown; use offset and limit to read "
				    "more]", offset, last, n);
	set_content(r, out_finish(&o, trailer));
	free(trailer);
out:
	if (f)
		fclose(f);
	free(line);
	free(abs);
	free(err);
	jv_free(fp);
	jv_free(off);
	jv_free(lim);
}

/*
 * What a Write or Edit changed, for people (tool_result's diff): unified
 * hunks cut at a line past TOOL_DIFF_CAP bytes with a note of what was
 * left out; nothing for files too large to diff.
 */
/* A file Write replaces is diffed only up to this size. */
#define WRITE_DIFF_MAX ((size_t)4 << 20)

static void set_diff(struct tool_result *r, const char *a, size_t alen, const char *b, size_t blen)
{
	struct buf d = BUF_INIT;
	struct diff_stat stat;
	if (diff_unified(a, alen, b, blen, 3, &d, &stat) < 0) {
		buf_free(&d);
		return;
	}
	if (d.len > TOOL_DIFF_CAP) {
		size_t cut = TOOL_DIFF_CAP;
		while (cut > 0 && d.data[cut - 1] != '\n')
			cut--;
		size_t left = d.len - cut;
		d.len = cut;
		d.data[cut] = '\0';
		buf_printf(&d, "… diff cut: %zu more bytes\n", left);
	}
	free(r->diff);
	r->diff = buf_detach(&d);
}

static void tool_write(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv fp = jv_null(), content = jv_null();
	char *abs = NULL, *err = NULL;
	struct strv made = { NULL, 0 };

	if (arg(ctx, r, "Write", input, "file_path", ARG_STRING, 1, &fp) < 0 ||
	    arg(ctx, r, "Write", input, "content", ARG_STRING, 1, &content) < 0)
		goto out;
	if (path_confine(ctx->root, jv_string_value(fp), &abs, &err) < 0) {
		fail(ctx, r, "Write: %s", err);
		goto out;
	}
	if (refuse_hidden(ctx, r, "Write", abs))
		goto out;
	const char *rel = path_relative(ctx->root, abs);
	mode_t mode = 0644;
	struct stat st;
	bool existed = stat(abs, &st) == 0;
	if (existed) {
		if (S_ISDIR(st.st_mode)) {
			fail(ctx, r, "Write: \"%s\" is a directory; give a file path",
			     *rel ? rel : ".");
			goto out;
		}
		if (!S_ISREG(st.st_mode)) {
			fail(ctx, r, "Write: \"%s\" is not a regular file", rel);
			goto out;
		}
		mode = st.st_mode & 07777;
	} else {
		char *where = NULL;
		if (path_fits(abs, rel) < 0) {
			fail_errno(ctx, r, "Write", "write", rel, errno);
			goto out;
		}
		if (make_parents(ctx->root, rel, &made, &where) < 0) {
			int e = errno;
			char *why = xstrerror(e);
			fail(ctx, r, "Write: cannot create directory \"%s\": %s", where, why);
			free(why);
			free(where);
			remove_made(ctx->root, &made);
			goto out;
		}
	}
	const char *data = jv_string_value(content);
	size_t len = (size_t)jv_string_length_bytes(jv_copy(content));
	char *before = NULL;
	size_t before_len = 0;
	int e;
	if (existed && read_all(ctx->root, abs, WRITE_DIFF_MAX, &before, &before_len, &e) < 0)
		before_len = (size_t)-1;	/* too large or unreadable: no diff */
	if (write_atomic(ctx->root, abs, data, len, mode) < 0) {
		int werr = errno;
		remove_made(ctx->root, &made);
		fail_errno(ctx, r, "Write", "write", rel, werr);
		free(before);
		goto out;
	}
	strv_free(&made);
	if (before_len != (size_t)-1)
		set_diff(r, before ? before : "", before_len, data, len);
	free(before);
	set_content(r, jv_string_fmt("wrote %zu bytes to %s", len, rel));
	r->files_changed = jv_array_append(r->files_changed, jv_string(rel));
out:
	free(abs);
	free(err);
	jv_free(fp);
	jv_free(content);
}

/* Like memmem(3) (GNU-only in glibc): the text may hold NUL bytes. */
static const char *find(const char *h, size_t hl, const char *n, size_t nl)
{
	while (hl >= nl) {
		const char *p = memchr(h, n[0], hl - nl + 1);
		if (!p)
			return NULL;
		if (memcmp(p, n, nl) == 0)
			return p;
		hl -= (size_t)(p - h) + 1;
		h = p + 1;
	}
	return NULL;
}

static void tool_edit(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv fp = jv_null(), olds = jv_null(), news = jv_null(), all = jv_null();
	char *abs = NULL, *err = NULL, *data = NULL;
	struct buf nb = BUF_INIT;

	if (arg(ctx, r, "Edit", input, "file_path", ARG_STRING, 1, &fp) < 0 ||
	    arg(ctx, r, "Edit", input, "old_string", ARG_STRING, 1, &olds) < 0 ||
	    arg(ctx, r, "Edit", input, "new_string", ARG_STRING, 1, &news) < 0 ||
	    arg(ctx, r, "Edit", input, "replace_all", ARG_BOOL, 0, &all) < 0)
		goto out;
	const char *o = jv_string_value(olds), *n = jv_string_value(news);
	size_t olen = (size_t)jv_string_length_bytes(jv_copy(olds));
	size_t nlen = (size_t)jv_string_length_bytes(jv_copy(news));
	int replace_all = jv_get_kind(all) == JV_KIND_TRUE;
	if (olen == 0) {
		fail(ctx, r, "Edit: \"old_string\" is empty; give the exact text to replace "
		     "(use Write to create or overwrite a whole file)");
		goto out;
	}
	if (olen == nlen && memcmp(o, n, olen) == 0) {
		fail(ctx, r, "Edit: \"old_string\" and \"new_string\" are the same; nothing would "
		     "change");
		goto out;
	}
	struct stat st;
	const char *rel = regular_file(ctx, r, "Edit", "edit", jv_string_value(fp),
				       "use Write to create it", "give a file path", &abs, &st);
	if (!rel)
		goto out;
	size_t len;
	int e;
	if (read_all(ctx->root, abs, (size_t)1 << 30, &data, &len, &e) < 0) {
		fail_errno(ctx, r, "Edit", "read", rel, e);
		goto out;
	}
	size_t count = 0;
	for (const char *p = data, *end = data + len;
	     (p = find(p, (size_t)(end - p), o, olen)) != NULL; p += olen)
		count++;
	if (count == 0) {
		fail(ctx, r, "Edit: \"old_string\" not found in \"%s\"; Read the file and copy the "
		     "text exactly, with its whitespace", rel);
		goto out;
	}
	if (count > 1 && !replace_all) {
		fail(ctx, r, "Edit: \"old_string\" found %zu times in \"%s\"; give more context or "
		     "set replace_all", count, rel);
		goto out;
	}
	/* The result must fit what Read and Edit accept: refuse before building it. */
	if (nlen > olen && count > (((size_t)1 << 30) - len) / (nlen - olen)) {
		fail(ctx, r, "Edit: replacing %zu occurrences would make \"%s\" larger than 1 GiB",
		     count, rel);
		goto out;
	}
	const char *p = data, *end = data + len, *hit;
	while ((hit = find(p, (size_t)(end - p), o, olen)) != NULL) {
		buf_append(&nb, p, (size_t)(hit - p));
		buf_append(&nb, n, nlen);
		p = hit + olen;
	}
	buf_append(&nb, p, (size_t)(end - p));
	if (write_atomic(ctx->root, abs, buf_str(&nb), nb.len, st.st_mode & 07777) < 0) {
		fail_errno(ctx, r, "Edit", "write", rel, errno);
		goto out;
	}
	set_content(r, jv_string_fmt("edited %s: %zu replacement%s", rel, count,
				     count == 1 ? "" : "s"));
	set_diff(r, data, len, nb.data ? nb.data : "", nb.len);
	r->files_changed = jv_array_append(r->files_changed, jv_string(rel));
out:
	buf_free(&nb);
	free(data);
	free(abs);
	free(err);
	jv_free(fp);
	jv_free(olds);
	jv_free(news);
	jv_free(all);
}

#define MAX_BRACE_EXPANSIONS 256

/* "a{b,c}d" -> "abd", "acd"; nested braces work, a lone brace is literal. */
static void brace_expand(const char *p, struct strv *out)
{
	const char *open = NULL, *close = NULL;
	for (const char *s = p; *s && !close; s++) {
		if (*s == '\\' && s[1]) {
			s++;
			continue;
		}
		if (*s != '{')
			continue;
		int depth = 0, comma = 0;
		const char *t;
		for (t = s; *t; t++) {
			if (*t == '\\' && t[1]) {
				t++;
				continue;
			}
			if (*t == '{')
				depth++;
			else if (*t == '}' && --depth == 0)
				break;
			else if (*t == ',' && depth == 1)
				comma = 1;
		}
		if (*t == '}' && comma) {
			open = s;
			close = t;
		}
	}
	if (!close || out->n >= MAX_BRACE_EXPANSIONS) {
		strv_push(out, xstrdup(p));
		return;
	}
	const char *alt = open + 1;
	int depth = 0;
	for (const char *t = open + 1; t <= close; t++) {
		if (*t == '\\' && t + 1 < close) {
			t++;
			continue;
		}
		if (*t == '{') {
			depth++;
		} else if (*t == '}' && depth > 0) {
			depth--;
		} else if ((*t == ',' && depth == 0) || t == close) {
			char *s = xasprintf("%.*s%.*s%s", (int)(open - p), p, (int)(t - alt), alt,
					    close + 1);
			brace_expand(s, out);
			free(s);
			alt = t + 1;
		}
	}
}

/* Splits on '/', dropping empty and "." components. */
static void split_path(const char *s, struct strv *out)
{
	while (*s) {
		const char *e = strchr(s, '/');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		if (n && !(n == 1 && s[0] == '.'))
			strv_push(out, xstrndup(s, n));
		s += n;
		if (*s == '/')
			s++;
	}
}

/* Whole-path match; "**" matches any number of components. */
static int segs_match(char *const *pat, size_t np, char *const *path, size_t nq)
{
	while (np > 0) {
		if (strcmp(pat[0], "**") == 0) {
			for (size_t i = 0; i <= nq; i++)
				if (segs_match(pat + 1, np - 1, path + i, nq - i))
					return 1;
			return 0;
		}
		if (nq == 0 || fnmatch(pat[0], path[0], 0) != 0)
			return 0;
		pat++, np--, path++, nq--;
	}
	return nq == 0;
}

/* Whether something below the directory path could still match. */
static int segs_prefix(char *const *pat, size_t np, char *const *path, size_t nq)
{
	while (nq > 0) {
		if (np == 0)
			return 0;
		if (strcmp(pat[0], "**") == 0)
			return 1;
		if (fnmatch(pat[0], path[0], 0) != 0)
			return 0;
		pat++, np--, path++, nq--;
	}
	return np > 0;
}

/* A glob pattern expanded into brace alternatives, each split into components. */
struct glob {
	struct strv *alts;
	size_t n;
};

static void glob_init(struct glob *g, const char *pattern)
{
	struct strv exp = { NULL, 0 };
	brace_expand(pattern, &exp);
	g->n = exp.n;
	g->alts = xcalloc(exp.n, sizeof *g->alts);
	for (size_t i = 0; i < exp.n; i++)
		split_path(exp.v[i], &g->alts[i]);
	strv_free(&exp);
}

static void glob_free(struct glob *g)
{
	for (size_t i = 0; i < g->n; i++)
		strv_free(&g->alts[i]);
	free(g->alts);
}

static int glob_has_dotdot(const struct glob *g)
{
	for (size_t i = 0; i < g->n; i++)
		for (size_t j = 0; j < g->alts[i].n; j++)
			if (strcmp(g->alts[i].v[j], "..") == 0)
				return 1;
	return 0;
}

static int glob_match(const struct glob *g, char *const *path, size_t n)
{
	for (size_t i = 0; i < g->n; i++)
		if (segs_match(g->alts[i].v, g->alts[i].n, path, n))
			return 1;
	return 0;
}

static int glob_prefix(const struct glob *g, char *const *path, size_t n)
{
	for (size_t i = 0; i < g->n; i++)
		if (segs_prefix(g->alts[i].v, g->alts[i].n, path, n))
			return 1;
	return 0;
}

/*
 * Called for each entry below the start directory, in name order, with the
 * path components relative to it; lstat() data, so symlinks are reported as
 * themselves and never followed (they may lead out of the workspace). For a
 * directory the return value says whether to descend.
 */
typedef int (*walk_fn)(void *arg, const char *abs, char *const *segs, size_t n,
		       const struct stat *st);

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Walks the directory open on dfd (taken over and closed). Every entry is
 * looked at and every subdirectory opened relative to its parent's
 * descriptor with O_NOFOLLOW, so a directory swapped for a symlink while
 * the walk runs is never followed out of the workspace. .env files and the
 * paths hidden from agents are skipped.
 */
static void walk_fd(const struct tool_ctx *ctx, int dfd, const char *dir, struct strv *segs,
		    walk_fn fn, void *arg)
{
	DIR *d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		return;
	}
	struct strv ents = { NULL, 0 };
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			strv_push(&ents, xstrdup(de->d_name));
	if (ents.n)
		qsort(ents.v, ents.n, sizeof *ents.v, cmp_str);
	for (size_t i = 0; i < ents.n; i++) {
		char *abs = xasprintf("%s/%s", strcmp(dir, "/") == 0 ? "" : dir, ents.v[i]);
		struct stat st;
		if (!tool_path_hidden(ctx, abs) &&
		    fstatat(dirfd(d), ents.v[i], &st, AT_SYMLINK_NOFOLLOW) == 0) {
			strv_push(segs, ents.v[i]);
			int is_dir = S_ISDIR(st.st_mode);
			if (is_dir && strcmp(ents.v[i], ".git") == 0)
				; /* never searched */
			else if (fn(arg, abs, segs->v, segs->n, &st) && is_dir) {
				int sub = openat(dirfd(d), ents.v[i],
						 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (sub >= 0)
					walk_fd(ctx, sub, abs, segs, fn, arg);
			}
			segs->n--;
		}
		free(abs);
	}
	closedir(d);
	strv_free(&ents);
}

static void walk(const struct tool_ctx *ctx, const char *dir, struct strv *segs, walk_fn fn,
		 void *arg)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	if (!fd_inside(fd, ctx->root)) {
		close(fd);
		return;
	}
	walk_fd(ctx, fd, dir, segs, fn, arg);
}

/* "a", "b/c" -> "a/b/c"; either may be "". */
static char *join_rel(const char *base, char *const *segs, size_t n)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, base);
	for (size_t i = 0; i < n; i++) {
		if (b.len)
			buf_appendc(&b, '/');
		buf_appends(&b, segs[i]);
	}
	return buf_detach(&b);
}

struct glob_hit {
	char *rel;
	struct timespec mtime;
};

struct glob_walk {
	const struct glob *g;
	const char *base_rel;
	struct glob_hit *hits;
	size_t n;
};

static int glob_visit(void *arg, const char *abs, char *const *segs, size_t n,
		      const struct stat *st)
{
	struct glob_walk *w = arg;
	(void)abs;
	if (S_ISDIR(st->st_mode))
		return glob_prefix(w->g, segs, n);
	if (glob_match(w->g, segs, n)) {
		w->hits = xrealloc(w->hits, (w->n + 1) * sizeof *w->hits);
		w->hits[w->n].rel = join_rel(w->base_rel, segs, n);
		w->hits[w->n].mtime = st->st_mtim;
		w->n++;
	}
	return 0;
}

static int cmp_hit(const void *a, const void *b)
{
	const struct glob_hit *x = a, *y = b;
	if (x->mtime.tv_sec != y->mtime.tv_sec)
		return x->mtime.tv_sec > y->mtime.tv_sec ? -1 : 1;
	if (x->mtime.tv_nsec != y->mtime.tv_nsec)
		return x->mtime.tv_nsec > y->mtime.tv_nsec ? -1 : 1;
	return strcmp(x->rel, y->rel);
}

/* The directory a search starts from: path confined, or the root. */
static char *search_base(const struct tool_ctx *ctx, struct tool_result *r, const char *tool,
			 jv path, struct stat *st)
{
	char *abs = NULL, *err = NULL;
	const char *p = jv_get_kind(path) == JV_KIND_STRING ? jv_string_value(path) : "";
	if (!*p) {
		abs = xstrdup(ctx->root);
	} else if (path_confine(ctx->root, p, &abs, &err) < 0) {
		fail(ctx, r, "%s: %s", tool, err);
		free(err);
		return NULL;
	}
	if (refuse_hidden(ctx, r, tool, abs)) {
		free(abs);
		return NULL;
	}
	if (stat(abs, st) < 0) {
		if (errno == ENOENT)
			fail(ctx, r, "%s: path \"%s\" does not exist", tool, p);
		else
			fail_errno(ctx, r, tool, "search", p, errno);
		free(abs);
		return NULL;
	}
	return abs;
}

static void tool_glob(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv pat = jv_null(), path = jv_null();
	char *base = NULL, *pattern = NULL;
	struct glob g = { NULL, 0 };
	struct glob_walk w = { &g, "", NULL, 0 };

	if (arg(ctx, r, "Glob", input, "pattern", ARG_STRING, 1, &pat) < 0 ||
	    arg(ctx, r, "Glob", input, "path", ARG_STRING, 0, &path) < 0)
		goto out;
	if (!*jv_string_value(pat)) {
		fail(ctx, r, "Glob: \"pattern\" is empty; give one such as \"**/*.c\"");
		goto out;
	}
	struct stat st;
	if (!(base = search_base(ctx, r, "Glob", path, &st)))
		goto out;
	if (!S_ISDIR(st.st_mode)) {
		fail(ctx, r, "Glob: path \"%s\" is not a directory", jv_string_value(path));
		goto out;
	}
	pattern = xstrdup(jv_string_value(pat));
	if (pattern[0] == '/') {
		/* An absolute pattern is accepted when it lies under path. */
		size_t bl = strcmp(base, "/") == 0 ? 0 : strlen(base);
		if (strncmp(pattern, base, bl) != 0 || pattern[bl] != '/') {
			fail(ctx, r, "Glob: pattern \"%s\" is not under %s; give a pattern relative "
			     "to path", pattern, base);
			goto out;
		}
		memmove(pattern, pattern + bl + 1, strlen(pattern + bl + 1) + 1);
	}
	glob_init(&g, pattern);
	if (glob_has_dotdot(&g)) {
		fail(ctx, r, "Glob: pattern \"%s\" has \"..\"; set path instead", pattern);
		goto out;
	}
	w.base_rel = path_relative(ctx->root, base);
	struct strv segs = { NULL, 0 };
	walk(ctx, base, &segs, glob_visit, &w);
	free(segs.v);
	if (w.n == 0) {
		set_content(r, jv_string("no files found"));
		goto out;
	}
	qsort(w.hits, w.n, sizeof *w.hits, cmp_hit);
	struct out o = { BUF_INIT, 0, cap_of(ctx) };
	for (size_t i = 0; i < w.n && i < GLOB_MAX; i++) {
		out_adds(&o, w.hits[i].rel);
		out_adds(&o, "\n");
	}
	char *trailer = NULL;
	if (w.n > GLOB_MAX)
		trailer = xasprintf("[%zu files matched; the %d most recently modified are "
				    "shown: narrow the pattern or path]", w.n, GLOB_MAX);
	set_content(r, out_finish(&o, trailer));
	free(trailer);
out:
	for (size_t i = 0; i < w.n; i++)
		free(w.hits[i].rel);
	free(w.hits);
	glob_free(&g);
	free(pattern);
	free(base);
	jv_free(pat);
	jv_free(path);
}

struct grep_walk {
	const struct tool_ctx *ctx;
	const regex_t *re;
	const struct glob *filter;	/* NULL: every file */
	int filter_on_path;		/* the filter has a '/': match root-relative paths */
	const char *base_rel;
	struct out *o;
	size_t matches;
};

static void grep_file(struct grep_walk *w, const char *abs, const char *rel)
{
	char *data;
	size_t len;
	int e;
	if (read_all(w->ctx->root, abs, GREP_MAX_FILE, &data, &len, &e) < 0)
		return;
	if (memchr(data, '\0', len)) {
		free(data);
		return;
	}
	long long lineno = 0;
	for (char *line = data; line < data + len;) {
		char *nl = memchr(line, '\n', (size_t)(data + len - line));
		char *next = nl ? nl + 1 : data + len;
		if (nl)
			*nl = '\0';
		lineno++;
		if (regexec(w->re, line, 0, NULL, 0) == 0) {
			size_t l = strlen(line);
			w->matches++;
			out_printf(w->o, "%s:%lld:", rel, lineno);
			if (l > MAX_LINE) {
				out_add(w->o, line, utf8_cut(line, MAX_LINE));
				out_printf(w->o, " [line cut at %d of %zu bytes]\n", MAX_LINE, l);
			} else {
				out_add(w->o, line, l);
				out_adds(w->o, "\n");
			}
		}
		line = next;
	}
	free(data);
}

static int grep_visit(void *arg, const char *abs, char *const *segs, size_t n,
		      const struct stat *st)
{
	struct grep_walk *w = arg;
	if (S_ISDIR(st->st_mode))
		return 1;
	if (!S_ISREG(st->st_mode))
		return 0;
	char *rel = join_rel(w->base_rel, segs, n);
	int want = 1;
	if (w->filter && w->filter_on_path) {
		struct strv rs = { NULL, 0 };
		split_path(rel, &rs);
		want = glob_match(w->filter, rs.v, rs.n);
		strv_free(&rs);
	} else if (w->filter) {
		want = glob_match(w->filter, &segs[n - 1], 1);
	}
	if (want)
		grep_file(w, abs, rel);
	free(rel);
	return 0;
}

static void tool_grep(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv pat = jv_null(), path = jv_null(), gl = jv_null();
	char *base = NULL;
	regex_t re;
	int have_re = 0;
	struct glob g = { NULL, 0 };
	struct out o = { BUF_INIT, 0, cap_of(ctx) };

	if (arg(ctx, r, "Grep", input, "pattern", ARG_STRING, 1, &pat) < 0 ||
	    arg(ctx, r, "Grep", input, "path", ARG_STRING, 0, &path) < 0 ||
	    arg(ctx, r, "Grep", input, "glob", ARG_STRING, 0, &gl) < 0)
		goto out;
	int rc = regcomp(&re, jv_string_value(pat), REG_EXTENDED | REG_NEWLINE);
	if (rc != 0) {
		char msg[256];
		regerror(rc, &re, msg, sizeof msg);
		fail(ctx, r, "Grep: invalid regular expression \"%s\": %s (POSIX extended "
		     "syntax, as for grep -E)", jv_string_value(pat), msg);
		goto out;
	}
	have_re = 1;
	struct stat st;
	if (!(base = search_base(ctx, r, "Grep", path, &st)))
		goto out;
	struct grep_walk w = { ctx, &re, NULL, 0, path_relative(ctx->root, base), &o, 0 };
	if (jv_get_kind(gl) == JV_KIND_STRING && *jv_string_value(gl)) {
		glob_init(&g, jv_string_value(gl));
		w.filter = &g;
		w.filter_on_path = strchr(jv_string_value(gl), '/') != NULL;
	}
	if (S_ISREG(st.st_mode)) {
		/* A file named outright is searched whatever the glob says. */
		grep_file(&w, base, w.base_rel);
	} else if (S_ISDIR(st.st_mode)) {
		struct strv segs = { NULL, 0 };
		walk(ctx, base, &segs, grep_visit, &w);
		free(segs.v);
	} else {
		fail(ctx, r, "Grep: path \"%s\" is not a file or directory", jv_string_value(path));
		goto out;
	}
	if (w.matches == 0) {
		set_content(r, jv_string("no matches"));
		goto out;
	}
	set_content(r, out_finish(&o, NULL));
out:
	buf_free(&o.b);
	if (have_re)
		regfree(&re);
	glob_free(&g);
	free(base);
	jv_free(pat);
	jv_free(path);
	jv_free(gl);
}

static void tool_bash(const struct tool_ctx *ctx, jv input, struct tool_result *r)
{
	jv cmd = jv_null(), to = jv_null();

	if (arg(ctx, r, "Bash", input, "command", ARG_STRING, 1, &cmd) < 0 ||
	    arg(ctx, r, "Bash", input, "timeout", ARG_NUMBER, 0, &to) < 0)
		goto out;
	const char *command = jv_string_value(cmd);
	if (!command[strspn(command, " \t\r\n")]) {
		fail(ctx, r, "Bash: \"command\" is empty; give a shell command to run");
		goto out;
	}
	double timeout = ctx->bash_timeout_s > 0 ? ctx->bash_timeout_s : DEFAULT_BASH_TIMEOUT_S;
	if (jv_get_kind(to) == JV_KIND_NUMBER) {
		double ms = jv_number_value(to);
		if (!(ms > 0)) {
			fail(ctx, r, "Bash: \"timeout\" must be a positive number of milliseconds");
			goto out;
		}
		timeout = ms / 1000.0;
	}
	if (timeout > MAX_BASH_TIMEOUT_S)
		timeout = MAX_BASH_TIMEOUT_S;

	struct proc_capture pc;
	char *err = NULL;
	/* files_changed: the tree's state before and after (lib/treestate.h). */
	jv before = treestate_snapshot(ctx->root, jv_null());
	int rc;
	if (ctx->sandbox && ctx->sandbox->enabled && ctx->sandbox_host) {
		const struct sandbox_limits *l = &ctx->sandbox->limits;
		char **argv = sandbox_argv(ctx->sandbox, ctx->sandbox_host, command);
		char *cgroup = NULL;
		int cg = sandbox_cgroup_make(l->processes, &cgroup);
		struct proc_cmd pcmd = { (const char *const *)argv, ctx->root, l->cpu_seconds,
					 l->memory_bytes, l->processes, l->file_size_bytes, cg };
		rc = proc_run(&pcmd, timeout, BASH_GRACE_S, cap_of(ctx), &pc, &err);
		if (cg >= 0)
			close(cg);
		sandbox_cgroup_remove(cgroup);
		sandbox_argv_free(argv);
	} else {
		rc = proc_run_shell(command, ctx->root, timeout, BASH_GRACE_S, cap_of(ctx), &pc, &err);
	}
	/* What the command left behind outside its group (setsid, daemons) goes too. */
	int orphans = proc_kill_orphans();
	jv after = treestate_snapshot(ctx->root, before);
	jv_free(r->files_changed);
	r->files_changed = treestate_changed(before, after);
	jv_free(before);
	jv_free(after);
	if (rc < 0) {
		fail(ctx, r, "Bash: %s", err);
		free(err);
		goto out;
	}
	struct buf b = BUF_INIT;
	size_t shown = pc.truncated ? utf8_cut(pc.output, pc.output_len) : pc.output_len;
	buf_append(&b, pc.output, shown);
	if (b.len && b.data[b.len - 1] != '\n')
		buf_appendc(&b, '\n');
	if (pc.truncated)
		buf_printf(&b, "[output truncated: %zu bytes total, first %zu shown]\n",
			   pc.total_len, shown);
	if (orphans > 0)
		buf_printf(&b, "[%d background process%s left running %s stopped]\n", orphans,
			   orphans == 1 ? "" : "es", orphans == 1 ? "was" : "were");
	const char *limit = ctx->sandbox && ctx->sandbox->enabled && !pc.timed_out
				    ? sandbox_limit_note(pc.exit_code) : NULL;
	if (limit)
		buf_printf(&b, "[%s]\n", limit);
	if (pc.timed_out)
		buf_printf(&b, "[timed out after %g s]", timeout);
	else if (pc.exit_code < 0)
		buf_appends(&b, "[exit code unknown]");
	else
		buf_printf(&b, "[exit code %d]", pc.exit_code);
	set_content(r, buf_to_jv(&b));
	r->exit_code = pc.exit_code;
	r->timed_out = pc.timed_out;
	r->is_error = pc.timed_out || pc.exit_code != 0;
	proc_capture_free(&pc);
out:
	jv_free(cmd);
	jv_free(to);
}

#define ISOLATED_DEFAULT_S 30
#define ISOLATED_MEMORY ((rlim_t)1 << 30)

typedef void (*tool_fn)(const struct tool_ctx *, jv, struct tool_result *);


/*
 * Runs a search tool in a child process with limits on CPU time, memory
 * and wall time, so a pattern the model wrote (a regex with nested
 * repetition or back-references, a Glob of many "**") cannot hang the
 * agent or exhaust the machine. The child sends the result back as JSON.
 */
static void run_isolated(const struct tool_ctx *ctx, jv input, struct tool_result *r, tool_fn fn,
			 const char *name)
{
	double limit_s = ctx->search_timeout_s > 0 ? ctx->search_timeout_s : ISOLATED_DEFAULT_S;
	int fds[2];
	if (pipe(fds) < 0) {
		fn(ctx, input, r);
		return;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		fn(ctx, input, r);
		return;
	}
	if (pid == 0) {
		close(fds[0]);
		rlim_t seconds = (rlim_t)(limit_s + 0.999);
		struct rlimit cpu = { seconds, seconds };
		setrlimit(RLIMIT_CPU, &cpu);
#ifndef __SANITIZE_ADDRESS__	/* ASan reserves terabytes of address space */
		struct rlimit mem = { ISOLATED_MEMORY, ISOLATED_MEMORY };
		setrlimit(RLIMIT_AS, &mem);
#endif
		struct tool_result cr = { jv_string(""), false, -1, false, jv_array(), NULL };
		fn(ctx, input, &cr);
		jv out = jv_object_set(jv_object(), jv_string("content"), cr.content);
		out = jv_object_set(out, jv_string("is_error"), jv_bool(cr.is_error));
		jv text = jv_dump_string(out, 0);
		int ok = io_write_all(fds[1], jv_string_value(text),
				      (size_t)jv_string_length_bytes(jv_copy(text)));
		_exit(ok == 0 ? 0 : 1);
	}
	close(fds[1]);
	struct buf b = BUF_INIT;
	double deadline = clock_mono_s() + limit_s;
	bool timed_out = false;
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int ready = poll(&p, 1, 100);
		if (ready < 0 && errno != EINTR)
			break;
		if (proc_cancelled() || clock_mono_s() > deadline) {
			timed_out = true;
			break;
		}
		if (ready <= 0)
			continue;
		char chunk[65536];
		ssize_t n = read(fds[0], chunk, sizeof chunk);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		buf_append(&b, chunk, (size_t)n);
	}
	close(fds[0]);
	if (timed_out)
		kill(pid, SIGKILL);
	int st = 0;
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	jv got = b.len ? jv_parse_sized(b.data, (int)b.len) : jv_invalid();
	buf_free(&b);
	jv content = jv_get_kind(got) == JV_KIND_OBJECT ? jv_object_get(jv_copy(got), jv_string("content"))
							: jv_invalid();
	if (!timed_out && WIFEXITED(st) && WEXITSTATUS(st) == 0 && jv_get_kind(content) == JV_KIND_STRING) {
		jv is_error = jv_object_get(jv_copy(got), jv_string("is_error"));
		set_content(r, content);
		r->is_error = jv_get_kind(is_error) == JV_KIND_TRUE;
		jv_free(is_error);
	} else {
		jv_free(content);
		fail(ctx, r, "%s: the search took too much time or memory and was stopped; use a "
		     "simpler pattern or a narrower path", name);
	}
	jv_free(got);
}

static char *tool_list(unsigned allowed)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < TOOL_COUNT; i++) {
		if (!(allowed & TOOL_BIT(i)))
			continue;
		if (b.len)
			buf_appends(&b, ", ");
		buf_appends(&b, names[i]);
	}
	if (!b.len)
		buf_appends(&b, "no tools");
	return buf_detach(&b);
}

struct tool_result tool_run(const struct tool_ctx *ctx, const char *name, jv input)
{
	struct tool_result r = { jv_string(""), false, -1, false, jv_array(), NULL };
	int id = tool_lookup(name);
	if (id < 0 || !(ctx->allowed & TOOL_BIT(id))) {
		char *has = tool_list(ctx->allowed);
		if (id < 0)
			fail(ctx, &r, "unknown tool \"%s\" (this agent has: %s)", name ? name : "",
			     has);
		else
			fail(ctx, &r, "tool \"%s\" is not available to this agent (it has: %s)",
			     names[id], has);
		free(has);
		return r;
	}
	if (jv_get_kind(input) != JV_KIND_OBJECT) {
		fail(ctx, &r, "%s: the input must be a JSON object, not %s", names[id],
		     jv_kind_name(jv_get_kind(input)));
		return r;
	}
	switch (id) {
	case TOOL_READ:
		tool_read(ctx, input, &r);
		break;
	case TOOL_WRITE:
		tool_write(ctx, input, &r);
		break;
	case TOOL_EDIT:
		tool_edit(ctx, input, &r);
		break;
	case TOOL_GLOB:
		run_isolated(ctx, input, &r, tool_glob, "Glob");
		break;
	case TOOL_GREP:
		run_isolated(ctx, input, &r, tool_grep, "Grep");
		break;
	case TOOL_BASH:
		tool_bash(ctx, input, &r);
		break;
	}
	return r;
}

void tool_result_free(struct tool_result *r)
{
	if (!r)
		return;
	jv_free(r->content);
	jv_free(r->files_changed);
	free(r->diff);
	r->content = jv_null();
	r->files_changed = jv_null();
	r->diff = NULL;
}
