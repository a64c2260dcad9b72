#ifndef BLLM_LOG_H
#define BLLM_LOG_H
/*
 * Structured logging to rotating files, shared safely by every process of
 * a run (the manager and its workers write the same files at once).
 *
 * Files in the log directory, as the original better-llm had them:
 *   better-llm.log        records at the configured level and above
 *                         (rotated at max_bytes, backup_count kept)
 *   better-llm-error.log  ERROR and CRITICAL only (error_max_bytes, error_backup_count)
 *   better-llm-debug.log  everything, only when the level is DEBUG
 *                         (debug_max_bytes, debug_backup_count)
 * Rotation renames FILE.N-1 to FILE.N ... FILE to FILE.1, like Python's
 * RotatingFileHandler.
 *
 * Safety across processes: each record is one whole line written with a
 * single write(2) on an O_APPEND descriptor while holding an flock(2) on
 * LOGDIR/.lock; the size check and the rotation happen under the same
 * lock, and a process whose file was rotated by another reopens it (it
 * compares the inode of its descriptor with the path's). So no line is
 * torn, interleaved or lost across a rotation. Logging never writes to
 * stdout; a failing log write is dropped silently (never fatal), and a
 * lock that cannot be had within ~200 ms is skipped rather than blocking
 * the agent.
 *
 * Formats: json (one object per line with the fields event, level,
 * timestamp (RFC 3339 UTC, ms), message, session_id, run_id, worker_name,
 * role, model, pid, pathname, func_name, lineno, plus any extra fields), or
 * console ("2026-11-25 20:30:00.123 INFO  [coder] message key=value ...").
 * UTF-8 throughout.
 */
#include <stdbool.h>
#include <jv.h>

enum log_level { LOG_DEBUG = 10, LOG_INFO = 20, LOG_WARNING = 30, LOG_ERROR = 40, LOG_CRITICAL = 50 };

struct log_config {
	enum log_level level;		/* default INFO */
	bool json;			/* default true */
	const char *dir;		/* default "logs" */
	long max_bytes;			/* 10 MB */
	int backup_count;		/* 5 */
	long error_max_bytes;		/* 5 MB */
	int error_backup_count;		/* 3 */
	long debug_max_bytes;		/* 20 MB */
	int debug_backup_count;		/* 3 */
};

/* Parses DEBUG, INFO, WARNING (or WARN), ERROR, CRITICAL, any case. -1 if unknown. */
int log_parse_level(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * Starts logging for this process (creates dir). Returns 0, or -1 with
 * *err naming the directory; logging is then off and log_write does nothing.
 */
int log_open(const struct log_config *cfg, char **err);
/* The identity stamped on every record (strings copied; NULL allowed). */
void log_set_context(const char *session_id, const char *run_id, const char *worker_name,
		     const char *role, const char *model);
/*
 * Writes one record. event is a short snake_case name ("api_call",
 * "tool_result", ...); extra (consumed) is an object of further fields or
 * jv_null(). Records below the level go nowhere (debug file aside).
 */
void log_write(enum log_level level, const char *event, const char *file, int line,
	       const char *func, jv extra, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));
void log_close(void);
/* Records this process dropped because the lock could not be had in time. */
unsigned long log_dropped(void);

#define LOG(level, event, extra, ...) \
	log_write((level), (event), __FILE__, __LINE__, __func__, (extra), __VA_ARGS__)

#endif
