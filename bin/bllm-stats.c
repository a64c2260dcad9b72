#define _DEFAULT_SOURCE	/* realpath */
/* bllm-stats: latency, tokens and cost per agent, cache hit rate, and errors, from metrics. */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "status.h"
#include "config.h"
#include "history.h"
#include "stats.h"
#include "term.h"
#include "usage.h"

static void usage(void)
{
	puts("Usage: bllm-stats [OPTION]...\n"
	     "       bllm-stats errors [OPTION]...\n"
	     "Summarise the metrics every bllm program appends to LOGDIR/metrics.ndjson.\n\n"
	     "Without a command: one row per agent with its API calls, latency (p50 and p95,\n"
	     "in ms), input, output and prompt-cache-read tokens, cost in USD and prompt\n"
	     "cache hit rate (the share of input tokens read from the cache), then a line\n"
	     "for the response cache (hits, misses, hit rate, entries stored).\n"
	     "errors: the total, the count per error type, and the 20 most recent errors.\n\n"
	     "  -j, --json           print JSON instead: {\"agents\": ..., \"cache\": ...}, or\n"
	     "                       {\"total_errors\", \"error_counts\", \"recent_errors\"} for errors\n"
	     "  -s, --session ID     only records of that session (a unique prefix will do)\n"
	     "      --since WHEN     only records since WHEN: a duration back from now\n"
	     "                       (90s, 30m, 2h, 7d) or an RFC 3339 time\n"
	     "                       (2026-11-25T20:30:00Z, 2026-11-25T20:30:00.123Z)\n"
	     "                       or a date (2026-11-25, midnight UTC)\n"
	     "  -d, --log-dir DIR    the log directory (default: $LOG_DIR, else STATE/logs)\n"
	     "      --history        read the history database that bllm-manage writes\n"
	     "                       ($BLLM_STATE_DIR/history.db) instead of the metrics: every\n"
	     "                       session's API calls, worker runs and errors by type\n"
	     "      --status STATUS  (history) only sessions that ended so (or are running)\n"
	     "      --agent NAME     (history) only this agent's calls\n"
	     "      --workspace DIR  (history) only sessions run in this workspace\n"
	     "  -h, --help           show this help and exit\n"
	     "      --version        show the version and exit\n\n"
	     "With no metrics yet, says so on stderr (or prints the empty JSON) and exits 0.\n"
	     "Exit status: 0 on success, 1 when the metrics cannot be read, 2 for usage errors.");
}

static double num(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;
	jv_free(v);
	return d;
}

/* A string field, borrowed from obj (alive while obj is), or "-". */
static const char *str(jv obj, const char *key)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(key));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "-";
	jv_free(v);
	return s;
}

/* A latency cell: "-" when the agent made no timed call. */
static const char *ms_cell(jv row, const char *key, char out[24])
{
	jv v = jv_object_get(jv_copy(row), jv_string(key));
	if (jv_get_kind(v) == JV_KIND_NUMBER)
		snprintf(out, 24, "%.0f", jv_number_value(v));
	else
		strcpy(out, "-");
	jv_free(v);
	return out;
}

static void print_table(jv agents, jv cache, bool color)
{
	jv names = jv_keys(jv_copy(agents));
	int w = 5;
	jv_array_foreach(names, i, name) {
		int len = jv_string_length_bytes(name);
		w = len > w ? len : w;
	}
	printf("%s%-*s %6s %8s %8s %11s %11s %11s %9s %10s%s\n", color ? "\033[1m" : "", w,
	       "AGENT", "CALLS", "P50_MS", "P95_MS", "IN_TOKENS", "OUT_TOKENS", "CACHE_READ",
	       "COST_USD", "CACHE_HIT%", color ? "\033[0m" : "");
	jv_array_foreach(names, i, name) {
		jv row = jv_object_get(jv_copy(agents), jv_copy(name));
		char p50[24], p95[24];
		printf("%-*s %6.0f %8s %8s %11.0f %11.0f %11.0f %9.4f %10.1f\n", w,
		       jv_string_value(name), num(row, "calls"),
		       ms_cell(row, "latency_p50_ms", p50), ms_cell(row, "latency_p95_ms", p95),
		       num(row, USAGE_INPUT),
		       num(row, USAGE_OUTPUT), num(row, USAGE_CACHE_READ),
		       num(row, "cost_usd"), 100 * num(row, "cache_hit_rate"));
		jv_free(row);
		jv_free(name);
	}
	jv_free(names);
	if (jv_get_kind(cache) != JV_KIND_OBJECT)
		return;	/* the history has no response cache records */
	printf("\nresponse cache: %.0f hits, %.0f misses, hit rate %.1f%%, size %.0f\n",
	       num(cache, "hits"), num(cache, "misses"), 100 * num(cache, "hit_rate"),
	       num(cache, "size"));
}

static void print_errors(jv summary)
{
	printf("total_errors: %.0f\n", num(summary, "total_errors"));
	jv counts = jv_object_get(jv_copy(summary), jv_string("error_counts"));
	jv recent = jv_object_get(jv_copy(summary), jv_string("recent_errors"));
	jv types = jv_keys(jv_copy(counts));
	jv_array_foreach(types, i, type) {
		printf("%s  %-10s %6.0f\n", i ? "" : "\nerror_counts:\n", jv_string_value(type),
		       num(counts, jv_string_value(type)));
		jv_free(type);
	}
	jv_array_foreach(recent, i, rec) {
		printf("%s  %-24s %-8s %-10s ", i ? "" : "\nrecent errors, newest first:\n",
		       str(rec, "ts"), str(rec, "error_type"), str(rec, "agent"));
		/* One line, whatever the message holds. */
		for (const char *m = str(rec, "message"); *m; m++)
			putchar(*m == '\n' || *m == '\r' || *m == '\t' ? ' ' : *m);
		putchar('\n');
		jv_free(rec);
	}
	jv_free(types);
	jv_free(counts);
	jv_free(recent);
}

/* Prints v (borrowed) as pretty JSON. */
static void print_json(jv v)
{
	jv s = jv_dump_string(jv_copy(v), JV_PRINT_PRETTY | JV_PRINT_SPACE1);
	puts(jv_string_value(s));
	jv_free(s);
}

/* bllm-stats --history: the same table (or errors by type) from the history database. */
static int history_stats_main(const char *prog, const struct history_filter *f, bool errors, bool json)
{
	struct history *h;
	char *err = NULL;
	jv st;
	if (history_open_synced(&h, NULL, &err) < 0 || history_stats(h, f, &st, &err) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		history_close(h);
		return 1;
	}
	history_close(h);
	jv agents = jv_object_get(jv_copy(st), jv_string("agents"));
	jv by_type = jv_object_get(jv_copy(st), jv_string("errors"));
	if (json) {
		print_json(errors ? by_type : st);
	} else if (errors) {
		double total = 0;
		jv_object_foreach(by_type, k, n) {
			total += jv_number_value(n);
			jv_free(k);
			jv_free(n);
		}
		jv s = jv_object_set(jv_object(), jv_string("total_errors"), jv_number(total));
		s = jv_object_set(s, jv_string("error_counts"), jv_copy(by_type));
		s = jv_object_set(s, jv_string("recent"), jv_array());
		print_errors(s);
		jv_free(s);
	} else if (jv_object_length(jv_copy(agents)) == 0) {
		fprintf(stderr, "%s: no API calls in the history match\n", prog);
	} else {
		print_table(agents, jv_null(), term_use_color(1, COLOR_AUTO));
	}
	jv_free(agents);
	jv_free(by_type);
	jv_free(st);
	return fclose(stdout) == 0 || errno == EPIPE ? 0 : 1;
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	signal(SIGPIPE, SIG_IGN);	/* a closed reader is EPIPE: a quiet end */
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "session", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "log-dir", required_argument, NULL, 'd' },
		{ "history", no_argument, NULL, 'H' },
		{ "status", required_argument, NULL, 't' },
		{ "agent", required_argument, NULL, 'a' },
		{ "workspace", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	bool json = false, history = false;
	struct history_filter f = { 0 };
	char ws[PATH_MAX], since_ts[32];
	const char *session = NULL, *since = NULL, *dir = NULL;
	int ch;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":js:d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 's': session = optarg; break;
		case 'S': since = optarg; break;
		case 'd': dir = optarg; break;
		case 'H': history = true; break;
		case 't': f.status = optarg; history = true; break;
		case 'a': f.agent = optarg; history = true; break;
		case 'w': f.workspace = realpath(optarg, ws) ? ws : optarg; history = true; break;
		case 'h': usage(); return 0;
		case 'V': printf("bllm-stats %s\n", BLLM_VERSION); return 0;
		case ':':
			return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error(prog, "unknown option '-%c'", optopt);
			return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	bool errors = false;
	if (optind < argc) {
		if (strcmp(argv[optind], "errors") != 0)
			return cli_usage_error(prog, "unknown command '%s' (the one command is "
					       "'errors')", argv[optind]);
		errors = true;
		if (++optind < argc)
			return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	}
	long long since_ms = 0;
	if (since) {
		struct timespec now;
		clock_gettime(CLOCK_REALTIME, &now);
		if (stats_parse_since(since, now.tv_sec * 1000LL + now.tv_nsec / 1000000,
				      &since_ms) < 0) {
			cli_error(prog, "--since '%s': expected a duration (90s, 30m, 2h, 7d), an "
				  "RFC 3339 time (2026-11-25T20:30:00Z) or a date (2026-11-25)",
				  since);
			return EXIT_USAGE;
		}
	}
	if (history) {
		if (session)
			return cli_usage_error(prog, "--session: not with --history (use bllm-session "
					       "show ID)");
		if (since) {
			history_time_string(since_ms, since_ts);
			f.since = since_ts;
		}
		return history_stats_main(prog, &f, errors, json);
	}
	if (!dir)
		dir = config_log_dir(NULL);

	jv all;
	char *err = NULL;
	if (stats_load(dir, &all, &err) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		return 1;
	}
	bool none = jv_array_length(jv_copy(all)) == 0;
	char *full = NULL;
	if (session && !none && stats_resolve_session(all, session, &full, &err) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		jv_free(all);
		return EXIT_USAGE;
	}
	jv records = stats_filter(all, full ? full : session, since_ms);
	free(full);
	bool matched = jv_array_length(jv_copy(records)) > 0;
	jv_free(all);
	if (!json && !matched) {
		if (none)
			fprintf(stderr, "%s: no metrics yet in %s/metrics.ndjson (bllm programs "
				"write them as they run)\n", prog, dir);
		else
			fprintf(stderr, "%s: no metrics match the --session/--since given\n", prog);
	} else if (errors) {
		jv summary = stats_errors(records);
		if (json)
			print_json(summary);
		else
			print_errors(summary);
		jv_free(summary);
	} else {
		jv agents = stats_by_agent(records), cache = stats_cache(records);
		if (json) {
			jv both = jv_object_set(jv_object(), jv_string("agents"), jv_copy(agents));
			both = jv_object_set(both, jv_string("cache"), jv_copy(cache));
			print_json(both);
			jv_free(both);
		} else {
			print_table(agents, cache, term_use_color(1, COLOR_AUTO));
		}
		jv_free(agents);
		jv_free(cache);
	}
	jv_free(records);
	return fclose(stdout) == 0 || errno == EPIPE ? 0 : 1;
}
