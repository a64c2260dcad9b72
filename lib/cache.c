/*
 * The response cache (see cache.h).
 *
 * Concurrency: writers never modify an entry in place (temporary file,
 * then rename), so readers need no lock. Only eviction takes DIR/.lock,
 * so that two processes never both decide to remove "the oldest N" from
 * the same listing. Every file may vanish under us at any moment (another
 * process evicting or expiring it): ENOENT is never an error here.
 */
#define _DEFAULT_SOURCE
#include "cache.h"
#include "clock.h"
#include "sha256.h"
#include "buf.h"
#include "config.h"
#include "io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* A temporary file older than this is a leftover of a killed writer. */
#define STALE_TEMP_S 600
#define TEMP_PREFIX ".tmp-"

struct cache {
	char *dir;
	double ttl_s;
	int max_entries;
};


char *cache_default_dir(void)
{
	char *state = config_state_dir();
	char *dir = state ? xasprintf("%s/cache", state) : NULL;
	free(state);
	return dir;
}

/* mkdir -p with mode 0700 for every directory created. */
static int mkdirs(const char *dir, char **err)
{
	if (io_mkdirs(dir, 0700) == 0)
		return 0;
	*err = xasprintf("cannot create cache directory %s: %s (set BLLM_STATE_DIR to a writable "
			 "directory)", dir, strerror(errno));
	return -1;
}

struct cache *cache_open(const char *dir, double ttl_s, int max_entries, char **err)
{
	if (!dir || !*dir) {
		*err = xstrdup("no cache directory (set BLLM_STATE_DIR or HOME)");
		return NULL;
	}
	if (mkdirs(dir, err) < 0)
		return NULL;
	struct stat st;
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		*err = xasprintf("cache directory %s is not a directory (remove it or set "
				 "BLLM_STATE_DIR elsewhere)", dir);
		return NULL;
	}
	if (access(dir, W_OK | X_OK) < 0) {
		*err = xasprintf("cache directory %s is not writable: %s (fix its permissions "
				 "or set BLLM_STATE_DIR elsewhere)", dir, strerror(errno));
		return NULL;
	}
	struct cache *c = xcalloc(1, sizeof *c);
	c->dir = xstrdup(dir);
	c->ttl_s = ttl_s;
	c->max_entries = max_entries;
	return c;
}

void cache_close(struct cache *c)
{
	if (!c)
		return;
	free(c->dir);
	free(c);
}

static bool dropped(const char *name, bool top)
{
	if (strcmp(name, "cache_control") == 0)
		return true;
	return top && (strcmp(name, "stream") == 0 || strcmp(name, "metadata") == 0);
}

/*
 * Consumes v; returns it without "cache_control" keys at any depth and,
 * at the top level, without "stream" and "metadata".
 */
static jv strip(jv v, bool top)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_OBJECT: {
		jv out = jv_object();
		jv_object_foreach(v, k, x) {
			if (dropped(jv_string_value(k), top)) {
				jv_free(k);
				jv_free(x);
				continue;
			}
			out = jv_object_set(out, k, strip(x, false));
		}
		jv_free(v);
		return out;
	}
	case JV_KIND_ARRAY: {
		jv out = jv_array();
		jv_array_foreach(v, i, x)
			out = jv_array_append(out, strip(x, false));
		jv_free(v);
		return out;
	}
	default:
		return v;
	}
}

char *cache_key(jv request)
{
	/* JV_PRINT_SORTED sorts the keys of every object, at any depth. */
	jv s = jv_dump_string(strip(jv_copy(request), true), JV_PRINT_SORTED);
	char *key = xmalloc(65);
	sha256_hex(jv_string_value(s), strlen(jv_string_value(s)), key);
	jv_free(s);
	return key;
}

/*
 * Keys come from cache_key (hex), but anything that stays a plain file
 * name inside the directory, and cannot collide with the temporary and
 * lock files, is accepted.
 */
static bool key_ok(const char *key)
{
	size_t n = key ? strlen(key) : 0;
	if (n == 0 || n > 128 || key[0] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char ch = key[i];
		if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'z') ||
		      (ch >= 'A' && ch <= 'Z') || ch == '-' || ch == '_' || ch == '.'))
			return false;
	}
	return true;
}

static bool is_entry_name(const char *name)
{
	size_t n = strlen(name);
	return name[0] != '.' && n > 5 && strcmp(name + n - 5, ".json") == 0;
}

/*
 * Removes path only if it is still the file fd reads: a writer may have
 * renamed a fresh entry over the stale one since we opened it.
 */
static void remove_if_same(const char *path, int fd)
{
	struct stat a, b;
	if (fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		unlink(path);
}

int cache_get(struct cache *c, const char *key, jv *message)
{
	if (!key_ok(key))
		return 0;
	char *path = xasprintf("%s/%s.json", c->dir, key);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		free(path);
		return 0;
	}
	struct buf b = BUF_INIT;
	int hit = 0;
	if (io_read_all(fd, &b) < 0)
		goto out;	/* unreadable now is not proof of corruption */
	jv entry = b.len > 0 && b.len < INT_MAX ? jv_parse_sized(b.data, (int)b.len)
						: jv_invalid();
	jv created = jv_get_kind(entry) == JV_KIND_OBJECT ?
		jv_object_get(jv_copy(entry), jv_string("created")) : jv_invalid();
	jv msg = jv_get_kind(entry) == JV_KIND_OBJECT ?
		jv_object_get(jv_copy(entry), jv_string("message")) : jv_invalid();
	if (jv_get_kind(created) != JV_KIND_NUMBER || !jv_is_valid(msg)) {
		remove_if_same(path, fd);	/* corrupt */
		jv_free(msg);
	} else if (c->ttl_s > 0 && clock_real_s() - jv_number_value(created) > c->ttl_s) {
		remove_if_same(path, fd);	/* expired */
		jv_free(msg);
	} else {
		/* The LRU clock; the entry may have gone meanwhile, which is fine. */
		futimens(fd, NULL);
		*message = msg;
		hit = 1;
	}
	jv_free(created);
	jv_free(entry);
out:
	buf_free(&b);
	close(fd);
	free(path);
	return hit;
}

/* Entries now, counted without the lock; -1 if the directory is unreadable. */
static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL)
		if (is_entry_name(de->d_name))
			n++;
	closedir(d);
	return n;
}

struct victim {
	char *name;
	struct timespec mtime;
};

static int victim_cmp(const void *pa, const void *pb)
{
	const struct victim *a = pa, *b = pb;
	if (a->mtime.tv_sec != b->mtime.tv_sec)
		return a->mtime.tv_sec < b->mtime.tv_sec ? -1 : 1;
	if (a->mtime.tv_nsec != b->mtime.tv_nsec)
		return a->mtime.tv_nsec < b->mtime.tv_nsec ? -1 : 1;
	return strcmp(a->name, b->name);
}

/*
 * Removes the least recently used entries beyond max_entries, and stale
 * temporary files, under the directory lock. Returns the number of
 * entries removed. The lock file is opened afresh each time: flock locks
 * belong to the open file description, which a forked child would share.
 */
static int evict(struct cache *c)
{
	char *lockpath = xasprintf("%s/.lock", c->dir);
	int lfd = open(lockpath, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	free(lockpath);
	if (lfd < 0)
		return 0;
	while (flock(lfd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			close(lfd);
			return 0;
		}
	}

	DIR *d = opendir(c->dir);
	if (!d) {
		close(lfd);
		return 0;
	}
	struct victim *v = NULL;
	size_t n = 0, cap = 0;
	double now = clock_real_s();
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		bool entry = is_entry_name(de->d_name);
		bool temp = strncmp(de->d_name, TEMP_PREFIX, strlen(TEMP_PREFIX)) == 0;
		if (!entry && !temp)
			continue;
		char *path = xasprintf("%s/%s", c->dir, de->d_name);
		struct stat st;
		if (stat(path, &st) < 0) {
			free(path);	/* gone meanwhile */
			continue;
		}
		if (temp) {
			if (now - (double)st.st_mtim.tv_sec > STALE_TEMP_S)
				unlink(path);
			free(path);
			continue;
		}
		free(path);
		if (n == cap) {
			cap = cap ? cap * 2 : 64;
			v = xrealloc(v, cap * sizeof *v);
		}
		v[n].name = xstrdup(de->d_name);
		v[n].mtime = st.st_mtim;
		n++;
	}
	closedir(d);

	int removed = 0;
	if (n > (size_t)c->max_entries) {
		qsort(v, n, sizeof *v, victim_cmp);
		for (size_t i = 0; i < n - (size_t)c->max_entries; i++) {
			char *path = xasprintf("%s/%s", c->dir, v[i].name);
			if (unlink(path) == 0)
				removed++;
			free(path);
		}
	}
	for (size_t i = 0; i < n; i++)
		free(v[i].name);
	free(v);
	close(lfd);
	return removed;
}

int cache_put(struct cache *c, const char *key, jv message)
{
	if (!key_ok(key) || !jv_is_valid(message)) {
		errno = EINVAL;
		return -1;
	}
	jv entry = jv_object_set(jv_object(), jv_string("created"), jv_number(clock_real_s()));
	entry = jv_object_set(entry, jv_string("message"), jv_copy(message));
	jv s = jv_dump_string(entry, 0);
	struct buf b = BUF_INIT;
	buf_appends(&b, jv_string_value(s));
	buf_appendc(&b, '\n');
	jv_free(s);

	char *tmp = xasprintf("%s/" TEMP_PREFIX "XXXXXX", c->dir);
	char *path = xasprintf("%s/%s.json", c->dir, key);
	int rc = -1;
	int fd = mkstemp(tmp);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		int wrc = io_write_all(fd, b.data, b.len);
		if (close(fd) == 0 && wrc == 0 && rename(tmp, path) == 0)
			rc = 0;
		else {
			int saved = errno;
			unlink(tmp);
			errno = saved;
		}
	}
	free(tmp);
	free(path);
	buf_free(&b);
	if (rc < 0)
		return -1;

	/*
	 * The unlocked count is exact for every entry that outlives it, so
	 * whichever put comes last sees any excess and evicts it.
	 */
	if (c->max_entries > 0 && count_entries(c->dir) > c->max_entries)
		return evict(c);
	return 0;
}

int cache_size(struct cache *c)
{
	return count_entries(c->dir);
}
