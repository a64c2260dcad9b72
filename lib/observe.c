#include "observe.h"
#include "clock.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "event.h"
#include "log.h"
#include "stats.h"
#include "status.h"
#include "usage.h"
#include "json.h"

/* Process-wide, like the log and metrics files it feeds. */
static struct {
	char *run_id;
	struct buf dir;
	jv tool_started;	/* {tool_use_id: monotonic ms} */
	bool open;
} obs = { .tool_started = { 0 } };


const char *observe_log_dir(const struct config *cfg)
{
	return config_log_dir(cfg);
}

static long setting(const struct config *cfg, const char *key, long def)
{
	return cfg ? (long)config_number(cfg, key, (double)def) : def;
}

int observe_open(const struct config *cfg, char **err)
{
	struct log_config lc = {
		.level = LOG_INFO,
		.json = true,
		.dir = observe_log_dir(cfg),
		.max_bytes = setting(cfg, "logging.max_bytes", 10485760),
		.backup_count = (int)setting(cfg, "logging.backup_count", 5),
		.error_max_bytes = setting(cfg, "logging.error_max_bytes", 5242880),
		.error_backup_count = (int)setting(cfg, "logging.error_backup_count", 3),
		.debug_max_bytes = setting(cfg, "logging.debug_max_bytes", 20971520),
		.debug_backup_count = (int)setting(cfg, "logging.debug_backup_count", 3),
	};
	const char *level = getenv("LOG_LEVEL");
	if (!level || !*level)
		level = cfg ? config_string(cfg, "logging.level", "INFO") : "INFO";
	log_parse_level(level, &lc.level);
	const char *format = getenv("LOG_FORMAT");
	if (!format || !*format)
		format = cfg ? config_string(cfg, "logging.format", "json") : "json";
	lc.json = strcmp(format, "console") != 0;
	buf_reset(&obs.dir);
	buf_appends(&obs.dir, lc.dir);
	lc.dir = obs.dir.data;
	obs.tool_started = jv_object();
	obs.open = true;
	if (log_open(&lc, err) < 0)
		return -1;
	struct stats_config sc = {
		.dir = obs.dir.data,
		.flush_interval_s = cfg ? config_number(cfg, "performance.metrics_flush_interval", 5) : 5,
		.buffer_size = (int)setting(cfg, "performance.metrics_buffer_size", 100),
		.max_bytes = lc.max_bytes,
		.backup_count = lc.backup_count,
	};
	return stats_open(&sc, err);
}

void observe_set_context(const char *session_id, const char *run_id, const char *agent,
			 const char *role, const char *model)
{
	free(obs.run_id);
	obs.run_id = run_id ? xstrdup(run_id) : NULL;
	log_set_context(session_id, run_id, agent, role, model);
	stats_set_context(session_id, run_id, agent);
}

/* The fields of ev named in keys, as a new object. */
static jv pick(jv ev, const char *const *keys)
{
	jv o = jv_object();
	for (; *keys; keys++)
		o = jv_object_set(o, jv_string(*keys), json_get(ev, *keys));
	return o;
}

/* The error type of a result that is not completed: its own, else from its exit code. */
static const char *result_error_type(jv ev)
{
	const char *given = json_str(ev, "error_type");
	if (given)
		return given;
	jv code = json_get(ev, "exit_code");
	int c = jv_get_kind(code) == JV_KIND_NUMBER ? (int)jv_number_value(code) : EXIT_FAILED;
	jv_free(code);
	switch (c) {
	case EXIT_USAGE: return "input";
	case EXIT_UPSTREAM: return "upstream";
	case EXIT_API: return "api";
	case EXIT_CONFIG: return "config";
	case EXIT_LIMIT: return status_name(ST_LIMIT);
	case EXIT_TIMEOUT: return status_name(ST_TIMEOUT);
	case EXIT_INTERRUPTED: return status_name(ST_INTERRUPTED);
	default: return "task";
	}
}

static void on_usage(jv ev)
{
	static const char *const keys[] = { "model", "latency_ms", "ttfb_ms", USAGE_INPUT,
					    USAGE_OUTPUT, USAGE_CACHE_CREATION,
					    USAGE_CACHE_READ, "cost_usd", "response_cache", NULL };
	jv rec = pick(ev, keys);
	const char *rc = json_str(ev, "response_cache");
	rec = jv_object_set(rec, jv_string("kind"), jv_string("api_call"));
	rec = jv_object_set(rec, jv_string("status"), jv_string("ok"));
	rec = jv_object_set(rec, jv_string("cached"), jv_bool(rc && strcmp(rc, "hit") == 0));
	LOG(LOG_INFO, "api_call", jv_copy(rec), "model call: %s", json_str(ev, "model"));
	stats_record(rec);
	if (rc) {
		static const char *const events[] = { "hit", "miss", "store", "evict" };
		for (size_t i = 0; i < sizeof events / sizeof events[0]; i++) {
			bool happened = strcmp(rc, events[i]) == 0;
			jv count = jv_null();
			if (i == 2) {
				jv stored = json_get(ev, "response_cache_stored");
				happened = jv_get_kind(stored) == JV_KIND_TRUE;
				jv_free(stored);
			} else if (i == 3) {
				count = json_get(ev, "response_cache_evicted");
				happened = jv_get_kind(count) == JV_KIND_NUMBER && jv_number_value(count) > 0;
			}
			if (!happened) {
				jv_free(count);
				continue;
			}
			jv c = jv_object_set(jv_object(), jv_string("kind"), jv_string("cache"));
			c = jv_object_set(c, jv_string("event"), jv_string(events[i]));
			c = jv_object_set(c, jv_string("size"), json_get(ev, "response_cache_size"));
			if (i == 3)
				c = jv_object_set(c, jv_string("count"), count);
			else
				jv_free(count);
			stats_record(c);
		}
	}
}

static void on_tool_result(jv ev)
{
	const char *id = json_str(ev, "tool_use_id");
	double duration = 0;
	if (id) {
		jv t = jv_object_get(jv_copy(obs.tool_started), jv_string(id));
		if (jv_get_kind(t) == JV_KIND_NUMBER)
			duration = clock_mono_ms() - jv_number_value(t);
		jv_free(t);
		obs.tool_started = jv_object_delete(obs.tool_started, jv_string(id));
	}
	jv is_error = json_get(ev, "is_error");
	bool err = jv_get_kind(is_error) == JV_KIND_TRUE;
	jv_free(is_error);
	jv rec = jv_object_set(jv_object(), jv_string("kind"), jv_string("tool_call"));
	rec = jv_object_set(rec, jv_string("name"), json_get(ev, "name"));
	rec = jv_object_set(rec, jv_string("duration_ms"), jv_number(duration));
	rec = jv_object_set(rec, jv_string("exit_code"), json_get(ev, "exit_code"));
	rec = jv_object_set(rec, jv_string("is_error"), jv_bool(err));
	LOG(err ? LOG_WARNING : LOG_INFO, "tool_call", jv_copy(rec), "tool %s%s",
	    json_str(ev, "name") ? json_str(ev, "name") : "?", err ? " failed" : "");
	stats_record(rec);
	if (err) {
		const char *content = json_str(ev, "content");
		struct buf b = BUF_INIT;
		buf_printf(&b, "%s: %.300s", json_str(ev, "name") ? json_str(ev, "name") : "tool",
			   content ? content : "");
		stats_error("tool", b.data, pick(ev, (const char *const[]){ "tool_use_id", "name", NULL }));
		buf_free(&b);
	}
}

void observe_event(void *unused, jv ev)
{
	(void)unused;
	if (!obs.open)
		return;
	const char *run = json_str(ev, "run_id");
	if (obs.run_id && (!run || strcmp(run, obs.run_id) != 0))
		return;
	const char *type = json_str(ev, "type");
	if (!type)
		return;
	if (strcmp(type, "usage") == 0) {
		on_usage(ev);
	} else if (strcmp(type, "tool_use") == 0) {
		const char *id = json_str(ev, "tool_use_id");
		if (id)
			obs.tool_started = jv_object_set(obs.tool_started, jv_string(id), jv_number(clock_mono_ms()));
		LOG(LOG_DEBUG, "tool_use", pick(ev, (const char *const[]){ "name", "input", NULL }),
		    "tool call %s", json_str(ev, "name") ? json_str(ev, "name") : "?");
	} else if (strcmp(type, "tool_result") == 0) {
		on_tool_result(ev);
	} else if (strcmp(type, "retry") == 0) {
		jv status = json_get(ev, "http_status");
		bool network = jv_get_kind(status) != JV_KIND_NUMBER;
		jv_free(status);
		jv ctx = pick(ev, (const char *const[]){ "attempt", "max_attempts", "delay_ms", "http_status", NULL });
		LOG(LOG_WARNING, "retry", jv_copy(ctx), "retrying: %s", json_str(ev, "error"));
		stats_error(network ? "network" : "api", json_str(ev, "error") ? json_str(ev, "error") : "", ctx);
	} else if (strcmp(type, "worker_end") == 0) {
		jv rec = pick(ev, (const char *const[]){ "worker", "duration_ms", "status", "exit_code", NULL });
		rec = jv_object_set(rec, jv_string("kind"), jv_string("worker"));
		LOG(LOG_INFO, "worker_end", jv_copy(rec), "worker %s: %s", json_str(ev, "worker"),
		    json_str(ev, "status"));
		stats_record(rec);
	} else if (strcmp(type, "log") == 0) {
		const char *level = json_str(ev, "level");
		enum log_level l = LOG_WARNING;
		if (level)
			log_parse_level(level, &l);
		LOG(l, "log", jv_null(), "%s", json_str(ev, "message") ? json_str(ev, "message") : "");
		if (l >= LOG_ERROR)
			stats_error("internal", json_str(ev, "message") ? json_str(ev, "message") : "", jv_null());
	} else if (strcmp(type, "init") == 0) {
		LOG(LOG_INFO, "run_start", pick(ev, (const char *const[]){ "cwd", "tools", "limits", NULL }),
		    "run started");
	} else if (strcmp(type, "result") == 0) {
		const char *status = json_str(ev, "status");
		bool ok = status_is(status, ST_COMPLETED);
		jv rec = pick(ev, (const char *const[]){ "status", "exit_code", "num_turns", "duration_ms",
							 "total_cost_usd", "error", NULL });
		LOG(ok ? LOG_INFO : LOG_ERROR, "run_end", rec, "run ended: %s", status ? status : "?");
		if (!ok && status && !status_is(status, ST_SKIPPED))
			stats_error(result_error_type(ev), json_str(ev, "error") ? json_str(ev, "error") : status,
				    pick(ev, (const char *const[]){ "status", "exit_code", NULL }));
	}
}

void observe_error(const char *error_type, const char *message)
{
	if (!obs.open)
		return;
	LOG(LOG_ERROR, "error", jv_null(), "%s", message);
	stats_error(error_type, message, jv_null());
}

void observe_close(void)
{
	if (!obs.open)
		return;
	stats_close();
	log_close();
	jv_free(obs.tool_started);
	free(obs.run_id);
	buf_free(&obs.dir);
	memset(&obs, 0, sizeof obs);
}
