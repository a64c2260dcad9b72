#ifndef BLLM_OBSERVE_H
#define BLLM_OBSERVE_H
/*
 * Observability for a run: turns the run's own events into structured log
 * records (lib/log.h), metrics and error records (lib/stats.h). A program
 * opens it once and passes every event it emits to observe_event (an
 * event_tap_fn), so the agent loop itself carries no logging code.
 *
 * Log settings: LOG_LEVEL, LOG_FORMAT (json|console) and LOG_DIR from the
 * environment (or .env), else system_config "logging" (level, format, dir,
 * max_bytes, backup_count, error_*, debug_*), else INFO, json, "logs".
 * Metrics flush every performance.metrics_flush_interval seconds or
 * metrics_buffer_size records.
 *
 * jv ownership: observe_event borrows ev.
 */
#include <stdbool.h>
#include <jv.h>

#include "config.h"

/*
 * Starts logging and metrics for this process. cfg may be NULL (the
 * configuration could not be loaded: environment and defaults only).
 * Returns 0, or -1 with *err when the log directory cannot be used
 * (the run goes on without logs).
 */
int observe_open(const struct config *cfg, char **err);

/* The identity stamped on records (copied; NULL allowed). */
void observe_set_context(const char *session_id, const char *run_id, const char *agent,
			 const char *role, const char *model);

/*
 * Records what an event means: api_call (usage), tool_call (tool_result,
 * timed from its tool_use), worker (worker_end), errors (failed results,
 * error tool results, retries, warnings). Only events of this process's
 * run (run_id as set by observe_set_context) are recorded; forwarded
 * events of other processes are theirs to record. Matches event_tap_fn.
 */
void observe_event(void *unused, jv ev);

/* A config or usage error found before any event could be written. */
void observe_error(const char *error_type, const char *message);

/* Flushes and closes the log and the metrics. */
void observe_close(void);

/* The log directory in use (LOG_DIR, config, or "logs"); for bllm-stats. */
const char *observe_log_dir(const struct config *cfg);

#endif
