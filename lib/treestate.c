#define _DEFAULT_SOURCE	/* lstat, DT_* */
#include "treestate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

static jv signature(const char *root, const char *rel)
{
	char *path = xasprintf("%s/%s", root, rel);
	struct stat st;
	jv sig = lstat(path, &st) < 0 ? jv_string("-")
		: jv_string_fmt("%lld%09ld:%lld", (long long)st.st_mtim.tv_sec, st.st_mtim.tv_nsec,
				(long long)st.st_size);
	free(path);
	return sig;
}

/* Runs git with args in dir, its stdout into out. Returns its exit status, or -1. */
static int run_git(const char *dir, const char *const *args, struct buf *out)
{
	int p[2];
	if (pipe(p) < 0)
		return -1;
	pid_t pid = fork();
	if (pid < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		int null = open("/dev/null", O_RDWR);
		dup2(null, 0);
		dup2(p[1], 1);
		dup2(null, 2);
		close(p[0]);
		if (chdir(dir) < 0)
			_exit(127);
		char *argv[16];
		int n = 0;
		argv[n++] = "git";
		for (; args[n - 1] && n < 15; n++)
			argv[n] = (char *)args[n - 1];
		argv[n] = NULL;
		execvp("git", argv);
		_exit(127);
	}
	close(p[1]);
	io_read_all(p[0], out);
	close(p[0]);
	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* The git way: changed and untracked paths under root. Returns -1 when root is not in git. */
static int git_paths(const char *root, jv *snap)
{
	static const char *const prefix_args[] = { "rev-parse", "--show-prefix", NULL };
	static const char *const status_args[] = { "status", "--porcelain", "-z", "--untracked-files=all",
						   "--", ".", NULL };
	struct buf prefix = BUF_INIT, st = BUF_INIT;
	int rc = -1;
	if (run_git(root, prefix_args, &prefix) != 0 || run_git(root, status_args, &st) != 0)
		goto out;
	size_t plen = strcspn(buf_str(&prefix), "\n");
	for (size_t i = 0; i < st.len;) {
		const char *entry = st.data + i;
		size_t n = strlen(entry);
		i += n + 1;
		if (n < 4)
			continue;
		const char *path = entry + 3;
		bool renamed = entry[0] == 'R' || entry[0] == 'C';
		for (int k = 0; k < (renamed ? 2 : 1); k++) {
			if (strncmp(path, prefix.data ? prefix.data : "", plen) == 0 && path[plen])
				*snap = jv_object_set(*snap, jv_string(path + plen), jv_null());
			if (renamed && k == 0) {
				if (i >= st.len)
					break;
				path = st.data + i;	/* the original path of a rename */
				i += strlen(path) + 1;
			}
		}
	}
	rc = 0;
out:
	buf_free(&prefix);
	buf_free(&st);
	return rc;
}

/* Every file under root/rel (rel "" for the root), except .git. Returns -1 past the limit. */
static int walk(const char *root, const char *rel, jv *snap, int *count)
{
	char *dir = *rel ? xasprintf("%s/%s", root, rel) : xstrdup(root);
	DIR *d = opendir(dir);
	free(dir);
	if (!d)
		return 0;
	int rc = 0;
	struct dirent *de;
	while (rc == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, ".git") == 0)
			continue;
		char *sub = *rel ? xasprintf("%s/%s", rel, de->d_name) : xstrdup(de->d_name);
		unsigned char type = de->d_type;
		if (type == DT_UNKNOWN) {
			char *full = xasprintf("%s/%s", root, sub);
			struct stat st;
			type = lstat(full, &st) == 0 && S_ISDIR(st.st_mode) ? DT_DIR : DT_REG;
			free(full);
		}
		if (++*count > TREESTATE_MAX_FILES)
			rc = -1;
		else if (type == DT_DIR)
			rc = walk(root, sub, snap, count);
		else
			*snap = jv_object_set(*snap, jv_string(sub), jv_null());
		free(sub);
	}
	closedir(d);
	return rc;
}

jv treestate_snapshot(const char *root, jv also)
{
	jv snap = jv_object();
	int count = 0;
	if (git_paths(root, &snap) < 0) {
		jv_free(snap);
		snap = jv_object();
		if (walk(root, "", &snap, &count) < 0) {
			jv_free(snap);
			return jv_null();
		}
	}
	if (jv_get_kind(also) == JV_KIND_OBJECT) {
		jv_object_foreach(also, k, v) {
			snap = jv_object_set(snap, k, jv_null());
			jv_free(v);
		}
	}
	jv out = jv_object();
	jv_object_foreach(snap, k, v) {
		jv sig = signature(root, jv_string_value(k));
		out = jv_object_set(out, k, sig);
		jv_free(v);
	}
	jv_free(snap);
	return out;
}

static bool differs(jv from, jv to, jv key)
{
	jv a = jv_object_get(jv_copy(from), jv_copy(key));
	jv b = jv_object_get(jv_copy(to), jv_copy(key));
	const char *sa = jv_get_kind(a) == JV_KIND_STRING ? jv_string_value(a) : "-";
	const char *sb = jv_get_kind(b) == JV_KIND_STRING ? jv_string_value(b) : "-";
	bool d = strcmp(sa, sb) != 0;
	jv_free(a);
	jv_free(b);
	return d;
}

jv treestate_changed(jv before, jv after)
{
	if (jv_get_kind(before) != JV_KIND_OBJECT || jv_get_kind(after) != JV_KIND_OBJECT)
		return jv_array();
	jv changed = jv_object();
	jv sides[2] = { before, after };
	for (int i = 0; i < 2; i++) {
		jv_object_foreach(sides[i], k, v) {
			if (differs(before, after, k))
				changed = jv_object_set(changed, jv_copy(k), jv_true());
			jv_free(k);
			jv_free(v);
		}
	}
	return jv_keys(changed);	/* consumes changed; sorted */
}
