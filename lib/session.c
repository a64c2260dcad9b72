#include "session.h"
#include "json.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "buf.h"
#include "history.h"
#include "io.h"
#include "md.h"
#include "status.h"
#include "usage.h"

static const char JOURNAL_EXT[] = ".ndjson";
static const char GZ_EXT[] = ".json.gz";
static const char PLAIN_EXT[] = ".json";

static char *session_path(const char *dir, const char *id, const char *ext)
{
	return xasprintf("%s/%s%s", dir, id, ext);
}

/* IDs become file names: no separators, no hidden or temporary names. */
static bool valid_id(const char *id)
{
	return id[0] != '\0' && id[0] != '.' && !strchr(id, '/');
}

static char *invalid_id_error(const char *id)
{
	return xasprintf("invalid session ID \"%s\": IDs look like 20261125-203000-4f9a1c", id);
}

char *session_new_id(void)
{
	static time_t last_sec;
	static unsigned last_suffix;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);

	unsigned char raw[2];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	ssize_t got = fd >= 0 ? read(fd, raw, sizeof raw) : -1;
	if (fd >= 0)
		close(fd);
	unsigned rnd = got == (ssize_t)sizeof raw ? (unsigned)raw[0] << 8 | raw[1]
						  : (unsigned)(ts.tv_nsec ^ getpid());
	time_t sec = ts.tv_sec;
	unsigned suffix = (unsigned)(ts.tv_nsec / 1000000) << 14 | (rnd & 0x3fff);
	/* Same millisecond, or the clock went back: keep the order anyway. */
	if (sec < last_sec || (sec == last_sec && suffix <= last_suffix)) {
		sec = last_sec;
		suffix = last_suffix + 1;
		if (suffix > 0xffffff) {
			sec++;
			suffix = 0;
		}
	}
	last_sec = sec;
	last_suffix = suffix;

	struct tm tm;
	char stamp[32];
	gmtime_r(&sec, &tm);
	strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
	return xasprintf("%s-%06x", stamp, suffix);
}

/* mkdir -p with mode 0700: sessions hold the user's code and requests. */
static int make_dirs(const char *dir, char **err)
{
	if (io_mkdirs(dir, 0700) == 0)
		return 0;
	*err = xasprintf("%s: cannot create the sessions directory: %s", dir, strerror(errno));
	return -1;
}

/* A journal torn by a crash mid-line gets its newline before new lines follow. */
static int end_torn_line(int fd)
{
	struct stat st;
	char c;
	if (fstat(fd, &st) < 0)
		return -1;
	if (st.st_size == 0)
		return 0;
	if (pread(fd, &c, 1, st.st_size - 1) != 1)
		return -1;
	return c == '\n' ? 0 : io_write_all(fd, "\n", 1);
}

int session_open(struct session *s, const char *dir, const char *id, bool compress, char **err)
{
	memset(s, 0, sizeof *s);
	s->journal_fd = -1;
	if (id && !valid_id(id)) {
		*err = invalid_id_error(id);
		return -1;
	}
	if (make_dirs(dir, err) < 0)
		return -1;
	for (int tries = 0;; tries++) {
		char *sid = id ? xstrdup(id) : session_new_id();
		char *path = session_path(dir, sid, JOURNAL_EXT);
		int flags = O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC | (id ? 0 : O_EXCL);
		int fd = open(path, flags, 0600);
		if (fd >= 0) {
			s->id = sid;
			s->journal_path = path;
			s->journal_fd = fd;
			break;
		}
		int saved = errno;
		if (!id && saved == EEXIST && tries < 100) {
			free(sid);
			free(path);
			continue;
		}
		*err = xasprintf("%s: cannot open the session journal: %s", path, strerror(saved));
		free(sid);
		free(path);
		return -1;
	}
	if (end_torn_line(s->journal_fd) < 0) {
		*err = xasprintf("%s: cannot repair the journal's last line: %s", s->journal_path,
				 strerror(errno));
		session_close(s);
		return -1;
	}
	s->dir = xstrdup(dir);
	s->compress = compress;
	return 0;
}

int session_append(struct session *s, jv ev, bool sync)
{
	if (s->journal_fd < 0) {
		errno = EBADF;
		return -1;
	}
	if (!jv_is_valid(ev)) {
		errno = EINVAL;
		return -1;
	}
	/* One write(2) of the whole line: O_APPEND keeps it in one piece. */
	if (io_write_json_line(s->journal_fd, ev) < 0)
		return -1;
	if (sync && fsync(s->journal_fd) < 0)
		return -1;
	if (!s->history)
		s->history = history_recorder_new(NULL, s->dir, s->id);
	history_recorder_event(s->history, ev);
	return 0;
}

/* Compresses data into fd (left open). -1 with *why. */
static int write_gz(int fd, const char *data, size_t len, char **why)
{
	int fd2 = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (fd2 < 0) {
		*why = xstrdup(strerror(errno));
		return -1;
	}
	gzFile gz = gzdopen(fd2, "wb");
	if (!gz) {
		*why = xstrdup("cannot start compression (out of memory)");
		close(fd2);
		return -1;
	}
	while (len > 0) {
		unsigned n = len > (1u << 30) ? 1u << 30 : (unsigned)len;
		int w = gzwrite(gz, data, n);
		if (w <= 0) {
			int errnum;
			const char *msg = gzerror(gz, &errnum);
			*why = xstrdup(errnum == Z_ERRNO ? strerror(errno) : msg);
			gzclose(gz);
			return -1;
		}
		data += w;
		len -= (size_t)w;
	}
	int rc = gzclose(gz);
	if (rc != Z_OK) {
		*why = rc == Z_ERRNO ? xstrdup(strerror(errno))
				     : xasprintf("compression failed (zlib error %d)", rc);
		return -1;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/* Some file systems cannot sync a directory; the rename is all we can do there. */
	int rc = fsync(fd) < 0 && errno != EINVAL ? -1 : 0;
	int saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

/* A temporary of a save older than this was left by a killed process. */
#define STALE_TEMP_S 60

void session_clean_temporaries(const char *dir)
{
	DIR *d = opendir(dir);
	if (!d)
		return;
	time_t now = time(NULL);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		/* .ID.json.XXXXXX or .ID.json.gz.XXXXXX, as session_write_summary makes them */
		const char *n = de->d_name;
		size_t len = strlen(n);
		if (n[0] != '.' || len < 8 || !strstr(n, ".json") || n[len - 7] != '.')
			continue;
		struct stat st;
		if (fstatat(dirfd(d), n, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
		    now - st.st_mtime > STALE_TEMP_S)
			unlinkat(dirfd(d), n, 0);
	}
	closedir(d);
}

int session_write_summary(struct session *s, jv summary, char **err)
{
	if (!s->dir || !s->id) {
		*err = xstrdup("cannot write a session summary: the session is not open");
		return -1;
	}
	const char *ext = s->compress ? GZ_EXT : PLAIN_EXT;
	char *path = session_path(s->dir, s->id, ext);
	char *stale = session_path(s->dir, s->id, s->compress ? PLAIN_EXT : GZ_EXT);
	char *tmp = xasprintf("%s/.%s%s.XXXXXX", s->dir, s->id, ext);
	char *why = NULL;
	int rc = -1;

	jv text = jv_dump_string(jv_copy(summary), JV_PRINT_INDENT_FLAGS(2));
	struct buf b = BUF_INIT;
	buf_appends(&b, jv_string_value(text));
	buf_appendc(&b, '\n');
	jv_free(text);

	session_clean_temporaries(s->dir);
	int fd = mkstemp(tmp);
	if (fd < 0) {
		*err = xasprintf("%s: cannot create a temporary file: %s", tmp, strerror(errno));
		goto out;
	}
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || fchmod(fd, 0600) < 0)
		why = xstrdup(strerror(errno));
	else if (s->compress)
		write_gz(fd, b.data, b.len, &why);
	else if (io_write_all(fd, b.data, b.len) < 0)
		why = xstrdup(strerror(errno));
	if (!why && fsync(fd) < 0)
		why = xstrdup(strerror(errno));
	if (close(fd) < 0 && !why)
		why = xstrdup(strerror(errno));
	if (why) {
		*err = xasprintf("%s: cannot write the session summary: %s", tmp, why);
		unlink(tmp);
		goto out;
	}
	if (rename(tmp, path) < 0) {
		*err = xasprintf("%s: cannot save the session summary: %s", path, strerror(errno));
		unlink(tmp);
		goto out;
	}
	/* The other form would shadow or outlive this one. */
	if (unlink(stale) < 0 && errno != ENOENT) {
		*err = xasprintf("%s: cannot remove the old summary: %s", stale, strerror(errno));
		goto out;
	}
	if (fsync_dir(s->dir) < 0) {
		*err = xasprintf("%s: cannot sync the sessions directory: %s", s->dir,
				 strerror(errno));
		goto out;
	}
	rc = 0;
	if (!s->history)
		s->history = history_recorder_new(NULL, s->dir, s->id);
	history_recorder_summary(s->history, summary);
out:
	free(why);
	buf_free(&b);
	free(tmp);
	free(stale);
	free(path);
	return rc;
}

void session_close(struct session *s)
{
	if (s->journal_fd >= 0)
		close(s->journal_fd);
	history_recorder_free(s->history);
	free(s->dir);
	free(s->id);
	free(s->journal_path);
	memset(s, 0, sizeof *s);
	s->journal_fd = -1;
}

struct idlist {
	char **v;
	size_t n, cap;
};

static void idlist_free(struct idlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool ends_with(const char *s, size_t len, const char *suffix)
{
	size_t n = strlen(suffix);
	return len > n && memcmp(s + len - n, suffix, n) == 0;
}

/* The IDs that have a journal or a summary in dir, sorted, once each. */
static int collect_ids(const char *dir, struct idlist *l, char **err)
{
	memset(l, 0, sizeof *l);
	DIR *d = opendir(dir);
	if (!d) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("%s: cannot read the sessions directory: %s", dir, strerror(errno));
		return -1;
	}
	for (;;) {
		errno = 0;
		struct dirent *e = readdir(d);
		if (!e)
			break;
		const char *name = e->d_name;
		size_t len = strlen(name), stem;
		if (name[0] == '.')
			continue;	/* ., .., and temporary files of atomic writes */
		if (ends_with(name, len, JOURNAL_EXT))
			stem = len - strlen(JOURNAL_EXT);
		else if (ends_with(name, len, GZ_EXT))
			stem = len - strlen(GZ_EXT);
		else if (ends_with(name, len, PLAIN_EXT))
			stem = len - strlen(PLAIN_EXT);
		else
			continue;
		if (l->n == l->cap) {
			l->cap = l->cap ? 2 * l->cap : 16;
			l->v = xrealloc(l->v, l->cap * sizeof *l->v);
		}
		l->v[l->n++] = xstrndup(name, stem);
	}
	int saved = errno;
	closedir(d);
	if (saved) {
		*err = xasprintf("%s: cannot read the sessions directory: %s", dir, strerror(saved));
		idlist_free(l);
		memset(l, 0, sizeof *l);
		return -1;
	}
	if (l->n)
		qsort(l->v, l->n, sizeof *l->v, cmp_str);
	size_t out = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (out && strcmp(l->v[out - 1], l->v[i]) == 0)
			free(l->v[i]);
		else
			l->v[out++] = l->v[i];
	}
	l->n = out;
	return 0;
}

int session_resolve_id(const char *dir, const char *id, char **full, char **err)
{
	if (!valid_id(id)) {
		*err = invalid_id_error(id);
		return -1;
	}
	struct idlist l;
	if (collect_ids(dir, &l, err) < 0)
		return -1;
	size_t idlen = strlen(id), matches = 0, first = 0;
	int rc = -1;
	for (size_t i = 0; i < l.n; i++) {
		if (strcmp(l.v[i], id) == 0) {
			matches = 1;
			first = i;
			break;
		}
		if (strncmp(l.v[i], id, idlen) == 0 && matches++ == 0)
			first = i;
	}
	if (matches == 1) {
		*full = xstrdup(l.v[first]);
		rc = 0;
	} else if (matches == 0) {
		*err = xasprintf("no session \"%s\" in %s", id, dir);
	} else {
		struct buf b = BUF_INIT;
		buf_printf(&b, "session ID \"%s\" is ambiguous: it matches %s, %s", id, l.v[first],
			   l.v[first + 1]);
		if (matches > 2)
			buf_printf(&b, " and %zu more", matches - 2);
		buf_appends(&b, "; give more of the ID");
		*err = buf_detach(&b);
	}
	idlist_free(&l);
	return rc;
}

int session_read_journal(const char *dir, const char *id, jv *events, char **err)
{
	char *path = session_path(dir, id, JOURNAL_EXT);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		free(path);
		return -1;
	}
	struct line_reader r;
	line_reader_init(&r, fd);
	jv all = jv_array();
	char *line;
	size_t len;
	int rc;
	while ((rc = line_reader_next(&r, &line, &len)) > 0) {
		/* A torn last line, or any line that is not an event, is skipped. */
		if (len > INT_MAX || !io_looks_like_json(line, len))
			continue;
		jv ev = jv_parse_sized(line, (int)len);
		jv type = jv_get_kind(ev) == JV_KIND_OBJECT
				  ? jv_object_get(jv_copy(ev), jv_string("type")) : jv_invalid();
		if (jv_get_kind(type) == JV_KIND_STRING)
			all = jv_array_append(all, ev);
		else
			jv_free(ev);
		jv_free(type);
	}
	if (rc < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		jv_free(all);
	} else {
		*events = all;
	}
	line_reader_free(&r);
	close(fd);
	free(path);
	return rc < 0 ? -1 : 0;
}

/* zlib's message without the "<fd:N>: " that gzdopen streams put first. */
static const char *gz_message(gzFile gz, int *errnum)
{
	const char *msg = gzerror(gz, errnum);
	const char *sep = strncmp(msg, "<fd:", 4) == 0 ? strstr(msg, ": ") : NULL;
	return sep ? sep + 2 : msg;
}

/* Decompresses fd (consumed) into b. -1 with *why. */
static int read_gz(int fd, struct buf *b, char **why)
{
	gzFile gz = gzdopen(fd, "rb");
	if (!gz) {
		close(fd);
		*why = xstrdup("cannot start decompression (out of memory)");
		return -1;
	}
	if (gzdirect(gz)) {
		gzclose(gz);
		*why = xstrdup("not gzip data (a damaged or renamed file?)");
		return -1;
	}
	char chunk[65536];
	int n, errnum;
	while ((n = gzread(gz, chunk, sizeof chunk)) > 0)
		buf_append(b, chunk, (size_t)n);
	const char *msg = gz_message(gz, &errnum);
	if (n < 0 || errnum != Z_OK) {
		*why = xasprintf("corrupt gzip data: %s", errnum == Z_ERRNO ? strerror(errno) : msg);
		gzclose(gz);
		return -1;
	}
	int rc = gzclose(gz);
	if (rc != Z_OK) {
		*why = rc == Z_BUF_ERROR ? xstrdup("corrupt gzip data: truncated")
			 : rc == Z_ERRNO ? xstrdup(strerror(errno))
			 : xasprintf("corrupt gzip data (zlib error %d)", rc);
		return -1;
	}
	return 0;
}

/* 0 with *summary, 1 when there is no summary, -1 with *err. */
static int load_summary(const char *dir, const char *id, jv *summary, char **err)
{
	char *path = session_path(dir, id, GZ_EXT);
	struct buf b = BUF_INIT;
	char *why = NULL;
	int rc = -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		read_gz(fd, &b, &why);
	} else if (errno == ENOENT) {
		free(path);
		path = session_path(dir, id, PLAIN_EXT);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT) {
			rc = 1;
			goto out;
		}
		if (fd >= 0 && io_read_all(fd, &b) < 0)
			why = xstrdup(strerror(errno));
		else if (fd < 0)
			why = xstrdup(strerror(errno));
		if (fd >= 0)
			close(fd);
	} else {
		why = xstrdup(strerror(errno));
	}
	if (!why && b.len > INT_MAX)
		why = xstrdup("too large to be a session summary");
	if (why) {
		*err = xasprintf("%s: %s", path, why);
		goto out;
	}
	if (b.len == 0) {
		*err = xasprintf("%s: empty file, not a session summary", path);
		goto out;
	}
	jv v = jv_parse_sized(buf_str(&b), (int)b.len);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		/* jq quotes the whole input after "(while parsing": keep one clean line. */
		char *m = xstrdup(jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "?");
		char *quote = strstr(m, " (while parsing");
		if (quote)
			*quote = '\0';
		for (char *p = m; *p; p++)
			if ((unsigned char)*p < 0x20)
				*p = ' ';
		*err = xasprintf("%s: invalid JSON: %s", path, m);
		free(m);
		jv_free(msg);
	} else if (jv_get_kind(v) != JV_KIND_OBJECT) {
		*err = xasprintf("%s: not a session summary (expected a JSON object)", path);
		jv_free(v);
	} else {
		*summary = v;
		rc = 0;
	}
out:
	free(why);
	buf_free(&b);
	free(path);
	return rc;
}

int session_load_summary(const char *dir, const char *id, jv *summary, char **err)
{
	int rc = load_summary(dir, id, summary, err);
	if (rc == 1)
		*err = xasprintf("no summary of session \"%s\" in %s (neither %s%s nor %s%s)", id,
				 dir, id, GZ_EXT, id, PLAIN_EXT);
	return rc == 0 ? 0 : -1;
}


static bool nget(jv obj, const char *key, double *out)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return false;
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	bool ok = jv_get_kind(v) == JV_KIND_NUMBER;
	if (ok)
		*out = jv_number_value(v);
	jv_free(v);
	return ok;
}


/* Adds n to obj[key] (consumed, returned); a null or missing total becomes n. */
static jv add_number(jv obj, const char *key, double n)
{
	double have = 0;
	nget(obj, key, &have);
	return jv_object_set(obj, jv_string(key), jv_number(have + n));
}

static jv usage_add(jv totals, jv ev)
{
	return usage_json_add(totals, ev);
}

static jv new_ledger_entry(void)
{
	jv e = jv_object();
	e = jv_object_set(e, jv_string("turns"), jv_number(0));
	for (size_t k = 0; usage_keys[k]; k++)
		e = jv_object_set(e, jv_string(usage_keys[k]), jv_number(0));
	e = jv_object_set(e, jv_string("cost_usd"), jv_null());
	return jv_object_set(e, jv_string("calls"), jv_number(0));
}

/* ledger (consumed) with entry agent changed by fn(entry, ev). */
static jv ledger_update(jv ledger, const char *agent, jv ev, jv (*fn)(jv, jv))
{
	jv e = jv_object_get(jv_copy(ledger), jv_string(agent));
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		e = new_ledger_entry();
	}
	return jv_object_set(ledger, jv_string(agent), fn(e, ev));
}

static jv ledger_add_usage(jv e, jv ev)
{
	double cost;
	e = add_number(usage_add(e, ev), "turns", 1);
	return nget(ev, "cost_usd", &cost) ? add_number(e, "cost_usd", cost) : e;
}

static jv ledger_add_call(jv e, jv ev)
{
	(void)ev;
	return add_number(e, "calls", 1);
}

/* Whether arr (borrowed) holds the string s. */
static bool array_has(jv arr, const char *s)
{
	bool found = false;
	jv_array_foreach(arr, i, v) {
		if (jv_get_kind(v) == JV_KIND_STRING && strcmp(jv_string_value(v), s) == 0)
			found = true;
		jv_free(v);
	}
	return found;
}

/* "20261125-203000-..." gives "2026-11-25T20:30:00Z"; anything else null. */
static jv time_from_id(const char *id)
{
	for (int i = 0; i < 15; i++)
		if (i == 8 ? id[i] != '-' : (id[i] < '0' || id[i] > '9'))
			return jv_null();
	return jv_string_fmt("%.4s-%.2s-%.2sT%.2s:%.2s:%.2sZ", id, id + 4, id + 6, id + 9,
			     id + 11, id + 13);
}

/* events is consumed. */
static jv summary_from_journal(const char *id, jv events)
{
	jv created = jv_null(), request = jv_null(), cost = jv_null();
	jv usage = jv_object(), ledger = jv_object(), agents = jv_array();
	double turns = 0, n;
	for (size_t k = 0; usage_keys[k]; k++)
		usage = jv_object_set(usage, jv_string(usage_keys[k]), jv_number(0));
	jv_array_foreach(events, i, ev) {
		const char *type = json_str(ev, "type"), *agent = json_str(ev, "agent");
		const char *ts = json_str(ev, "ts"), *text = json_str(ev, "text");
		const char *worker = json_str(ev, "worker");
		if (jv_get_kind(created) == JV_KIND_NULL && ts) {
			jv_free(created);
			created = jv_string(ts);
		}
		if (type && strcmp(type, "task") == 0 && text && jv_get_kind(request) == JV_KIND_NULL) {
			jv_free(request);
			request = jv_string(text);
		} else if (type && strcmp(type, "usage") == 0) {
			turns++;
			usage = usage_add(usage, ev);
			if (nget(ev, "cost_usd", &n)) {
				double have = jv_get_kind(cost) == JV_KIND_NUMBER ? jv_number_value(cost) : 0;
				jv_free(cost);
				cost = jv_number(have + n);
			}
			if (agent)
				ledger = ledger_update(ledger, agent, ev, ledger_add_usage);
		} else if (type && strcmp(type, "worker_start") == 0 && worker) {
			ledger = ledger_update(ledger, worker, ev, ledger_add_call);
			if (!array_has(agents, worker))
				agents = jv_array_append(agents, jv_string(worker));
		}
		jv_free(ev);
	}
	jv_free(events);
	if (jv_get_kind(created) == JV_KIND_NULL) {
		jv_free(created);
		created = time_from_id(id);
	}
	jv result = jv_object();
	result = jv_object_set(result, jv_string("status"), jv_string("incomplete"));
	result = jv_object_set(result, jv_string("tests_passed"), jv_null());
	result = jv_object_set(result, jv_string("exit_code"), jv_null());
	result = jv_object_set(result, jv_string("text"), jv_null());

	jv s = jv_object();
	s = jv_object_set(s, jv_string("session_id"), jv_string(id));
	s = jv_object_set(s, jv_string("created_at"), created);
	s = jv_object_set(s, jv_string("completed_at"), jv_null());
	s = jv_object_set(s, jv_string("user_request"), request);
	s = jv_object_set(s, jv_string("total_turns"), jv_number(turns));
	s = jv_object_set(s, jv_string("agents_used"), agents);
	s = jv_object_set(s, jv_string("messages"), jv_array());
	s = jv_object_set(s, jv_string("result"), result);
	s = jv_object_set(s, jv_string("usage"), usage);
	s = jv_object_set(s, jv_string("total_cost_usd"), cost);
	s = jv_object_set(s, jv_string("ledger"), ledger);
	return jv_object_set(s, jv_string("verification"), jv_null());
}

int session_get(const char *dir, const char *id, jv *summary, char **err)
{
	int rc = load_summary(dir, id, summary, err);
	if (rc <= 0)
		return rc;
	char *path = session_path(dir, id, JOURNAL_EXT);
	jv events;
	char *jerr = NULL;
	if (session_read_journal(dir, id, &events, &jerr) < 0) {
		if (access(path, F_OK) < 0 && errno == ENOENT) {
			*err = xasprintf("no session \"%s\" in %s", id, dir);
			free(jerr);
		} else {
			*err = jerr;
		}
		free(path);
		return -1;
	}
	free(path);
	*summary = summary_from_journal(id, events);
	return 0;
}

int session_list(const char *dir, jv *sessions, char **err)
{
	session_clean_temporaries(dir);
	struct idlist l;
	if (collect_ids(dir, &l, err) < 0)
		return -1;
	jv all = jv_array();
	for (size_t i = 0; i < l.n; i++) {
		jv s;
		char *why = NULL;
		if (session_get(dir, l.v[i], &s, &why) < 0) {
			jv events;
			char *jerr = NULL;
			if (session_read_journal(dir, l.v[i], &events, &jerr) < 0) {
				free(jerr);
				events = jv_array();
			}
			s = summary_from_journal(l.v[i], events);
			jv result = jv_object_get(jv_copy(s), jv_string("result"));
			result = jv_object_set(result, jv_string("status"), jv_string("unreadable"));
			s = jv_object_set(s, jv_string("result"), result);
			s = jv_object_set(s, jv_string("error"), jv_string(why));
			free(why);
		}
		all = jv_array_append(all, s);
	}
	idlist_free(&l);
	*sessions = all;
	return 0;
}

#define C_BOLD "\033[1m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_DIM "\033[2m"
#define C_OFF "\033[0m"

static const char *status_color(const char *status)
{
	if (!status)
		return C_YELLOW;
	if (status_is(status, ST_COMPLETED))
		return C_GREEN;
	if (status_is(status, ST_FAILED) || status_is(status, ST_ERROR) ||
	    strcmp(status, "unreadable") == 0)
		return C_RED;
	return C_YELLOW;
}

/*
 * Appends s with control characters made harmless (no terminal escapes
 * from saved model text); with one_line, newlines and tabs become spaces
 * and at most max characters (UTF-8 code points) are kept, "..." marking a cut.
 */
static void append_clean(struct buf *out, const char *s, bool one_line, size_t max)
{
	size_t chars = 0, total = 0;
	for (const char *p = s; *p; p++)
		total += ((unsigned char)*p & 0xc0) != 0x80;
	bool cut = one_line && total > max;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		if ((*p & 0xc0) != 0x80 && cut && chars++ == max - 3) {
			buf_appends(out, "...");
			return;
		}
		if (*p == '\n' || *p == '\t')
			buf_appendc(out, one_line ? ' ' : (char)*p);
		else if (*p < 0x20 || *p == 0x7f)
			buf_appendc(out, ' ');
		else
			buf_appendc(out, (char)*p);
	}
}

/* Appends the cell padded to width (left-aligned unless right). */
static void cell(struct buf *out, const char *text, int width, bool right, const char *color)
{
	if (color)
		buf_appends(out, color);
	buf_printf(out, right ? "%*s" : "%-*s", width, text);
	if (color)
		buf_appends(out, C_OFF);
}

static void format_cost(char *out, size_t n, jv obj, const char *key)
{
	double c;
	if (nget(obj, key, &c))
		snprintf(out, n, "$%.4f", c);
	else
		snprintf(out, n, "-");
}

static void format_count(char *out, size_t n, jv obj, const char *key)
{
	double v;
	if (nget(obj, key, &v))
		snprintf(out, n, "%.0f", v);
	else
		snprintf(out, n, "-");
}

/* "2026-11-25T20:30:00.120Z" shows as "2026-11-25 20:30". */
static void format_created(char *out, size_t n, const char *ts)
{
	if (!ts) {
		snprintf(out, n, "-");
		return;
	}
	snprintf(out, n, "%.16s", ts);
	if (strlen(out) > 10 && out[10] == 'T')
		out[10] = ' ';
	for (char *p = out; *p; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
}

void session_format_list(struct buf *out, jv sessions, bool color)
{
	int idw = 2;
	if (jv_get_kind(sessions) != JV_KIND_ARRAY)
		return;
	jv_array_foreach(sessions, i, s) {
		const char *id = json_str(s, "session_id");
		int len = id ? (int)strlen(id) : 1;
		if (len > idw && len < 64)
			idw = len;
		jv_free(s);
	}
	const char *bold = color ? C_BOLD : NULL;
	cell(out, "ID", idw, false, bold);
	buf_appends(out, "  ");
	cell(out, "CREATED", 16, false, bold);
	buf_appends(out, "  ");
	cell(out, "STATUS", 11, false, bold);
	buf_appends(out, "  ");
	cell(out, "TURNS", 5, true, bold);
	buf_appends(out, "  ");
	cell(out, "COST", 9, true, bold);
	buf_appends(out, "  ");
	cell(out, "REQUEST", 0, false, bold);
	buf_appendc(out, '\n');
	jv_array_foreach(sessions, j, s) {
		jv result = json_get(s, "result");
		const char *id = json_str(s, "session_id"), *status = json_str(result, "status");
		const char *request = json_str(s, "user_request");
		char created[32], turns[32], cost[32];
		format_created(created, sizeof created, json_str(s, "created_at"));
		format_count(turns, sizeof turns, s, "total_turns");
		format_cost(cost, sizeof cost, s, "total_cost_usd");
		struct buf idb = BUF_INIT, st = BUF_INIT;
		append_clean(&idb, id ? id : "-", true, 63);
		append_clean(&st, status ? status : "-", true, 20);
		cell(out, buf_str(&idb), idw, false, NULL);
		buf_appends(out, "  ");
		cell(out, created, 16, false, NULL);
		buf_appends(out, "  ");
		cell(out, buf_str(&st), 11, false, color ? status_color(status) : NULL);
		buf_appends(out, "  ");
		cell(out, turns, 5, true, NULL);
		buf_appends(out, "  ");
		cell(out, cost, 9, true, NULL);
		buf_appends(out, "  ");
		append_clean(out, request ? request : "-", true, 60);
		buf_appendc(out, '\n');
		buf_free(&idb);
		buf_free(&st);
		jv_free(result);
		jv_free(s);
	}
}

static void field_line(struct buf *out, const char *name, const char *value, const char *color)
{
	buf_printf(out, "%-14s", name);
	if (color)
		buf_appends(out, color);
	append_clean(out, value ? value : "-", true, 200);
	if (color)
		buf_appends(out, C_OFF);
	buf_appendc(out, '\n');
}

static void format_verification(char *out, size_t n, jv v)
{
	double passed = 0, failed = 0;
	bool have_p = nget(v, "tests_passed", &passed), have_f = nget(v, "tests_failed", &failed);
	if (jv_get_kind(v) != JV_KIND_OBJECT) {
		snprintf(out, n, "none");
		return;
	}
	jv verified = json_get(v, "verified");
	const char *word = jv_get_kind(verified) == JV_KIND_TRUE ? "verified" : "not verified";
	jv_free(verified);
	if (have_p || have_f)
		snprintf(out, n, "%s (%.0f passed, %.0f failed)", word, passed, failed);
	else
		snprintf(out, n, "%s", word);
}

/* The ledger's agents: the manager, agents_used in order, then the others sorted. */
static jv ledger_order(jv summary, jv ledger)
{
	jv order = jv_array();
	if (jv_object_has(jv_copy(ledger), jv_string("manager")))
		order = jv_array_append(order, jv_string("manager"));
	jv used = json_get(summary, "agents_used");
	if (jv_get_kind(used) == JV_KIND_ARRAY) {
		jv_array_foreach(used, i, a) {
			if (jv_get_kind(a) == JV_KIND_STRING) {
				if (jv_object_has(jv_copy(ledger), jv_copy(a)) &&
				    !array_has(order, jv_string_value(a)))
					order = jv_array_append(order, jv_copy(a));
			}
			jv_free(a);
		}
	}
	jv_free(used);
	jv keys = jv_keys(jv_copy(ledger));
	jv_array_foreach(keys, j, k) {
		if (!array_has(order, jv_string_value(k)))
			order = jv_array_append(order, jv_copy(k));
		jv_free(k);
	}
	jv_free(keys);
	return order;
}

static void format_ledger(struct buf *out, jv summary, bool color)
{
	jv ledger = json_get(summary, "ledger");
	if (jv_get_kind(ledger) != JV_KIND_OBJECT || jv_object_length(jv_copy(ledger)) == 0) {
		jv_free(ledger);
		return;
	}
	static const char *const heads[] = { "TURNS", "CALLS", "IN TOKENS", "OUT TOKENS", "COST" };
	static const char *const keys[] = { "turns", "calls", USAGE_INPUT, USAGE_OUTPUT,
					    "cost_usd" };
	buf_appendc(out, '\n');
	cell(out, "AGENT", 12, false, color ? C_BOLD : NULL);
	for (size_t c = 0; c < 5; c++) {
		buf_appends(out, "  ");
		cell(out, heads[c], 10, true, color ? C_BOLD : NULL);
	}
	buf_appendc(out, '\n');
	jv order = ledger_order(summary, ledger);
	jv_array_foreach(order, i, agent) {
		jv e = jv_object_get(jv_copy(ledger), jv_copy(agent));
		struct buf name = BUF_INIT;
		append_clean(&name, jv_string_value(agent), true, 30);
		cell(out, buf_str(&name), 12, false, NULL);
		for (size_t c = 0; c < 5; c++) {
			char v[32];
			if (c == 4)
				format_cost(v, sizeof v, e, keys[c]);
			else
				format_count(v, sizeof v, e, keys[c]);
			buf_appends(out, "  ");
			cell(out, v, 10, true, NULL);
		}
		buf_appendc(out, '\n');
		buf_free(&name);
		jv_free(e);
		jv_free(agent);
	}
	jv_free(order);
	jv_free(ledger);
}

static void text_block(struct buf *out, const char *title, const char *text, bool color,
		       bool markdown)
{
	buf_printf(out, "\n%s%s%s\n", color ? C_BOLD : "", title, color ? C_OFF : "");
	if (!text || !*text) {
		buf_appends(out, "  -\n");
		return;
	}
	struct buf clean = BUF_INIT, md = BUF_INIT;
	append_clean(&clean, text, false, 0);
	const char *p = buf_str(&clean);
	if (markdown) {
		/* Agent text is Markdown: shown rendered, as the live view shows it. */
		struct md_opts o = { .width = 78, .color = color };
		md_render(clean.data ? clean.data : "", clean.len, &o, &md);
		p = buf_str(&md);
	}
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		buf_appends(out, "  ");
		buf_append(out, p, n);
		buf_appendc(out, '\n');
		p += n + (nl ? 1 : 0);
	}
	buf_free(&clean);
	buf_free(&md);
}

void session_format_show(struct buf *out, jv summary, bool color)
{
	jv result = json_get(summary, "result"), usage = json_get(summary, "usage");
	jv verification = json_get(summary, "verification");
	const char *status = json_str(result, "status");
	char tmp[192], a[32], b[32], c[32], d[32];
	double code;

	field_line(out, "session", json_str(summary, "session_id"), NULL);
	field_line(out, "created", json_str(summary, "created_at"), NULL);
	field_line(out, "completed", json_str(summary, "completed_at"), NULL);
	if (status && nget(result, "exit_code", &code))
		snprintf(tmp, sizeof tmp, "%.40s (exit %.0f)", status, code);
	else
		snprintf(tmp, sizeof tmp, "%.40s", status ? status : "-");
	field_line(out, "status", tmp, color ? status_color(status) : NULL);
	const char *error = json_str(summary, "error");
	if (error)
		field_line(out, "error", error, color ? C_RED : NULL);
	format_verification(tmp, sizeof tmp, verification);
	field_line(out, "verification", tmp, NULL);
	format_count(tmp, sizeof tmp, summary, "total_turns");
	field_line(out, "turns", tmp, NULL);
	format_count(a, sizeof a, usage, USAGE_INPUT);
	format_count(b, sizeof b, usage, USAGE_OUTPUT);
	format_count(c, sizeof c, usage, USAGE_CACHE_READ);
	format_count(d, sizeof d, usage, USAGE_CACHE_CREATION);
	snprintf(tmp, sizeof tmp, "%s in, %s out, %s cache read, %s cache write", a, b, c, d);
	field_line(out, "tokens", tmp, NULL);
	format_cost(tmp, sizeof tmp, summary, "total_cost_usd");
	field_line(out, "cost", tmp, NULL);
	format_ledger(out, summary, color);
	text_block(out, "request", json_str(summary, "user_request"), color, false);
	text_block(out, "result", json_str(result, "text"), color, true);
	jv_free(verification);
	jv_free(usage);
	jv_free(result);
}
