/*
 * Structured logging (log.h). This module keeps process-global state: a
 * process logs with one configuration and one identity, and log_write is
 * called from everywhere without a handle. The state is not thread-safe;
 * bllm processes are single-threaded.
 */
#define _DEFAULT_SOURCE
#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"

/* How long a writer waits for the lock before dropping its record. */
#define LOCK_WAIT_NS 200000000L
#define LOCK_STEP_NS 1000000L

enum { F_MAIN, F_ERROR, F_DEBUG, F_COUNT };

struct log_file {
	char *path;
	int fd;			/* -1 until opened; reopened when the path's inode changes */
	long max_bytes;
	int backup_count;
	bool on;
};

static struct {
	bool open;
	enum log_level level;
	bool json;
	char *lock_path;
	int lock_fd;
	pid_t lock_pid;		/* the process that opened lock_fd (see lock_acquire) */
	struct log_file files[F_COUNT];
	char *session_id, *run_id, *worker_name, *role, *model;
	unsigned long dropped;
} L = { .lock_fd = -1, .files = { { .fd = -1 }, { .fd = -1 }, { .fd = -1 } } };

int log_parse_level(const char *s, enum log_level *out)
{
	static const struct { const char *name; enum log_level level; } names[] = {
		{ "DEBUG", LOG_DEBUG }, { "INFO", LOG_INFO }, { "WARNING", LOG_WARNING },
		{ "WARN", LOG_WARNING }, { "ERROR", LOG_ERROR }, { "CRITICAL", LOG_CRITICAL },
	};
	if (!s)
		return -1;
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
		if (strcasecmp(s, names[i].name) == 0) {
			*out = names[i].level;
			return 0;
		}
	}
	return -1;
}

const char *log_level_name(enum log_level level)
{
	switch (level) {
	case LOG_DEBUG: return "DEBUG";
	case LOG_INFO: return "INFO";
	case LOG_WARNING: return "WARNING";
	case LOG_ERROR: return "ERROR";
	case LOG_CRITICAL: return "CRITICAL";
	}
	return "UNKNOWN";
}

unsigned long log_dropped(void)
{
	return L.dropped;
}


static int open_append(const char *path)
{
	/* 0600: records hold tool inputs and error output from the user's code. */
	return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
}

static void set_str(char **slot, const char *s)
{
	free(*slot);
	*slot = s ? xstrdup(s) : NULL;
}

static void close_files(void);

int log_open(const struct log_config *cfg, char **err)
{
	close_files();
	const char *dir = cfg->dir && *cfg->dir ? cfg->dir : "logs";
	if (io_mkdirs(dir, 0755) < 0) {
		if (err)
			*err = xasprintf("log directory %s: cannot create: %s (set LOG_DIR or "
					 "logging.dir to a writable directory)",
					 dir, strerror(errno));
		return -1;
	}
	L.level = cfg->level;
	L.json = cfg->json;
	L.lock_path = xasprintf("%s/.lock", dir);
	static const char *const names[F_COUNT] = {
		"better-llm.log", "better-llm-error.log", "better-llm-debug.log",
	};
	const long max[F_COUNT] = { cfg->max_bytes, cfg->error_max_bytes, cfg->debug_max_bytes };
	const int backups[F_COUNT] = {
		cfg->backup_count, cfg->error_backup_count, cfg->debug_backup_count,
	};
	for (int i = 0; i < F_COUNT; i++) {
		struct log_file *f = &L.files[i];
		f->path = xasprintf("%s/%s", dir, names[i]);
		f->max_bytes = max[i];
		f->backup_count = backups[i];
		f->on = i != F_DEBUG || cfg->level <= LOG_DEBUG;
		f->fd = f->on ? open_append(f->path) : -1;
		if (f->on && f->fd < 0) {
			if (err)
				*err = xasprintf("log directory %s: cannot open %s: %s (set "
						 "LOG_DIR or logging.dir to a writable "
						 "directory)", dir, names[i], strerror(errno));
			close_files();
			return -1;
		}
	}
	L.open = true;
	return 0;
}

void log_set_context(const char *session_id, const char *run_id, const char *worker_name,
		     const char *role, const char *model)
{
	set_str(&L.session_id, session_id);
	set_str(&L.run_id, run_id);
	set_str(&L.worker_name, worker_name);
	set_str(&L.role, role);
	set_str(&L.model, model);
}

/*
 * flock(2) locks belong to the open file description, which a forked
 * child shares with its parent: the two would not exclude each other. So
 * a process that did not open lock_fd itself opens its own.
 */
static bool lock_acquire(void)
{
	if (L.lock_fd >= 0 && L.lock_pid != getpid()) {
		close(L.lock_fd);
		L.lock_fd = -1;
	}
	if (L.lock_fd < 0) {
		L.lock_fd = open(L.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (L.lock_fd < 0)
			return false;
		L.lock_pid = getpid();
	}
	struct timespec step = { 0, LOCK_STEP_NS };
	for (long waited = 0; ; waited += LOCK_STEP_NS) {
		if (flock(L.lock_fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= LOCK_WAIT_NS)
			return false;
		nanosleep(&step, NULL);
	}
}

/* Python's RotatingFileHandler: FILE.N-1 -> FILE.N, ..., FILE -> FILE.1. Under the lock. */
static void rotate(struct log_file *f)
{
	struct buf from = BUF_INIT, to = BUF_INIT;
	for (int i = f->backup_count - 1; i >= 1; i--) {
		buf_reset(&from);
		buf_reset(&to);
		buf_printf(&from, "%s.%d", f->path, i);
		buf_printf(&to, "%s.%d", f->path, i + 1);
		rename(from.data, to.data);
	}
	buf_reset(&to);
	buf_printf(&to, "%s.1", f->path);
	rename(f->path, to.data);
	buf_free(&from);
	buf_free(&to);
	close(f->fd);
	f->fd = open_append(f->path);
}

/* Appends one whole line to f. Under the lock. */
static void file_append(struct log_file *f, const char *line, size_t len)
{
	struct stat path_st, fd_st;
	/* Another process may have rotated the file: follow the path. */
	if (f->fd >= 0 && (stat(f->path, &path_st) < 0 || fstat(f->fd, &fd_st) < 0 ||
			   path_st.st_ino != fd_st.st_ino || path_st.st_dev != fd_st.st_dev)) {
		close(f->fd);
		f->fd = -1;
	}
	if (f->fd < 0 && (f->fd = open_append(f->path)) < 0)
		return;
	/* No rollover when either limit is zero, as in Python. */
	if (f->max_bytes > 0 && f->backup_count > 0 && fstat(f->fd, &fd_st) == 0 &&
	    fd_st.st_size > 0 && fd_st.st_size + (off_t)len > f->max_bytes) {
		rotate(f);
		if (f->fd < 0)
			return;
	}
	io_write_all(f->fd, line, len);
}

static jv str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}

static void timestamps(char iso[32], char console[32])
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	long ms = ts.tv_nsec / 1000000;
	size_t n = strftime(iso, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(iso + n, 32 - n, ".%03ldZ", ms);
	n = strftime(console, 32, "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(console + n, 32 - n, ".%03ld", ms);
}

static void json_line(struct buf *out, enum log_level level, const char *event, const char *file,
		      int line, const char *func, jv extra, const char *iso, const char *msg)
{
	jv rec = jv_object();
	rec = jv_object_set(rec, jv_string("event"), str_or_null(event));
	rec = jv_object_set(rec, jv_string("level"), jv_string(log_level_name(level)));
	rec = jv_object_set(rec, jv_string("timestamp"), jv_string(iso));
	rec = jv_object_set(rec, jv_string("message"), jv_string(msg));
	rec = jv_object_set(rec, jv_string("session_id"), str_or_null(L.session_id));
	rec = jv_object_set(rec, jv_string("run_id"), str_or_null(L.run_id));
	rec = jv_object_set(rec, jv_string("worker_name"), str_or_null(L.worker_name));
	rec = jv_object_set(rec, jv_string("role"), str_or_null(L.role));
	rec = jv_object_set(rec, jv_string("model"), str_or_null(L.model));
	rec = jv_object_set(rec, jv_string("pid"), jv_number(getpid()));
	rec = jv_object_set(rec, jv_string("pathname"), str_or_null(file));
	rec = jv_object_set(rec, jv_string("func_name"), str_or_null(func));
	rec = jv_object_set(rec, jv_string("lineno"), jv_number(line));
	if (jv_get_kind(extra) == JV_KIND_OBJECT) {
		/* Extras may refine the context fields but never the record's own. */
		rec = jv_object_merge(rec, extra);
		rec = jv_object_set(rec, jv_string("event"), str_or_null(event));
		rec = jv_object_set(rec, jv_string("level"), jv_string(log_level_name(level)));
		rec = jv_object_set(rec, jv_string("timestamp"), jv_string(iso));
		rec = jv_object_set(rec, jv_string("message"), jv_string(msg));
		rec = jv_object_set(rec, jv_string("pid"), jv_number(getpid()));
	} else if (jv_get_kind(extra) != JV_KIND_NULL && jv_is_valid(extra)) {
		rec = jv_object_set(rec, jv_string("extra"), extra);
	} else {
		jv_free(extra);
	}
	jv s = jv_dump_string(rec, 0);
	buf_appends(out, jv_string_value(s));
	jv_free(s);
}

/* key=value, with JSON quoting for strings that would not read back as one word. */
static void console_value(struct buf *out, jv v)
{
	if (jv_get_kind(v) == JV_KIND_STRING) {
		const char *s = jv_string_value(v);
		if (*s && strcspn(s, " \t\r\n\"=\\") == strlen(s)) {
			buf_appends(out, s);
			jv_free(v);
			return;
		}
	}
	jv d = jv_dump_string(v, 0);
	buf_appends(out, jv_string_value(d));
	jv_free(d);
}

static void console_line(struct buf *out, enum log_level level, const char *event, jv extra,
			 const char *stamp, const char *msg)
{
	buf_printf(out, "%s %-5s ", stamp, log_level_name(level));
	const char *who = L.worker_name ? L.worker_name : L.role;
	if (who)
		buf_printf(out, "[%s] ", who);
	/* One record is one line: newlines in the message are escaped. */
	for (const char *p = msg; *p; p++) {
		if (*p == '\n')
			buf_appends(out, "\\n");
		else if (*p != '\r')
			buf_appendc(out, *p);
	}
	if (event) {
		buf_appends(out, " event=");
		console_value(out, jv_string(event));
	}
	if (jv_get_kind(extra) == JV_KIND_OBJECT) {
		jv_object_foreach(extra, k, v) {
			buf_printf(out, " %s=", jv_string_value(k));
			console_value(out, v);
			jv_free(k);
		}
	} else if (jv_get_kind(extra) != JV_KIND_NULL && jv_is_valid(extra)) {
		buf_appends(out, " extra=");
		console_value(out, jv_copy(extra));
	}
	jv_free(extra);
}

void log_write(enum log_level level, const char *event, const char *file, int line,
	       const char *func, jv extra, const char *fmt, ...)
{
	/* The main log keeps INFO and up; the debug file (at LOG_LEVEL=DEBUG) holds
	 * only what the main log does not, so nothing is written twice. */
	bool to_main = L.open && level >= L.level && level >= LOG_INFO && L.files[F_MAIN].on;
	bool to_error = L.open && level >= L.level && level >= LOG_ERROR;
	bool to_debug = L.open && L.files[F_DEBUG].on && level < LOG_INFO;
	if (!to_main && !to_error && !to_debug) {
		jv_free(extra);
		return;
	}
	struct buf msg = BUF_INIT, out = BUF_INIT;
	va_list ap;
	va_start(ap, fmt);
	buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	char iso[32], stamp[32];
	timestamps(iso, stamp);
	if (L.json)
		json_line(&out, level, event, file, line, func, extra, iso, buf_str(&msg));
	else
		console_line(&out, level, event, extra, stamp, buf_str(&msg));
	buf_appendc(&out, '\n');
	if (lock_acquire()) {
		if (to_main)
			file_append(&L.files[F_MAIN], out.data, out.len);
		if (to_error)
			file_append(&L.files[F_ERROR], out.data, out.len);
		if (to_debug)
			file_append(&L.files[F_DEBUG], out.data, out.len);
		flock(L.lock_fd, LOCK_UN);
	} else {
		L.dropped++;
	}
	buf_free(&msg);
	buf_free(&out);
}

/* Closes the files but keeps the identity, which may be set before log_open. */
static void close_files(void)
{
	for (int i = 0; i < F_COUNT; i++) {
		struct log_file *f = &L.files[i];
		if (f->fd >= 0)
			close(f->fd);
		free(f->path);
		memset(f, 0, sizeof *f);
		f->fd = -1;
	}
	if (L.lock_fd >= 0)
		close(L.lock_fd);
	L.lock_fd = -1;
	free(L.lock_path);
	L.lock_path = NULL;
	L.open = false;
}

void log_close(void)
{
	close_files();
	set_str(&L.session_id, NULL);
	set_str(&L.run_id, NULL);
	set_str(&L.worker_name, NULL);
	set_str(&L.role, NULL);
	set_str(&L.model, NULL);
}
