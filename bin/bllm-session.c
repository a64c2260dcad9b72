/* bllm-session: lists, shows, exports, replays, searches and reindexes the sessions of bllm-manage. */
#define _DEFAULT_SOURCE	/* realpath */
#include <errno.h>
#include <limits.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "cli.h"
#include "status.h"
#include "config.h"
#include "history.h"
#include "io.h"
#include "rundiff.h"
#include "session.h"
#include "stats.h"
#include "term.h"

static void usage(void)
{
	puts("Usage: bllm-session [OPTION]... COMMAND [ID]\n"
	     "List and inspect the sessions bllm-manage saved: each run's journal\n"
	     "(ID.ndjson, every event) and summary (ID.json.gz, or ID.json).\n\n"
	     "Commands:\n"
	     "  list           one line per session, oldest first: ID, CREATED, STATUS,\n"
	     "                 TURNS, COST, REQUEST; a run that never saved its summary\n"
	     "                 shows as \"incomplete\"\n"
	     "  show ID        the session's status, verification, turns, tokens, cost,\n"
	     "                 per-agent ledger, request and final text\n"
	     "  show --diff ID the whole run's diff: every Write and Edit in order, as a\n"
	     "                 unified diff (patch -p1), and the files commands changed\n"
	     "  export ID      the summary as JSON (decompressed)\n"
	     "  replay ID      the journal's events, as JSON lines: replay ID | bllm-render\n"
	     "  search TEXT    sessions whose request, tasks or agent texts hold every word\n"
	     "                 of TEXT (full-text, from the history database), best first:\n"
	     "                 ID, STATUS, AGENT/KIND and a snippet with [the match]\n"
	     "  reindex        rebuild the history database's rows of the sessions directory\n"
	     "                 from its journals and summaries (a damaged database is made anew)\n\n"
	     "ID may be any unique prefix of a session ID (e.g. 20261125-2030).\n\n"
	     "Options:\n"
	     "      --diff               show: the run's diff instead of the summary\n"
	     "      --json               list, show: print JSON instead of text (a list\n"
	     "                           prints an array of summaries)\n"
	     "      --sessions-dir DIR   where the sessions are (default: $BLLM_SESSIONS_DIR,\n"
	     "                           else the state directory's sessions/ for the\n"
	     "                           current directory as workspace)\n"
	     "      --color[=WHEN]       colour: auto (default), always, never\n\n"
	     "History filters (list reads the history database when one is given):\n"
	     "      --since WHEN         created since WHEN: 90s, 30m, 2h, 7d, 2026-11-25 or an\n"
	     "                           RFC 3339 time\n"
	     "      --status STATUS      running, completed, failed, error, limit, timeout, ...\n"
	     "      --agent NAME         sessions that ran this worker\n"
	     "      --workspace DIR      sessions run in this workspace (bllm-manage -C DIR)\n"
	     "      --limit N            the N newest (also for search; default 20 there)\n\n"
	     "The history database is $BLLM_HISTORY_DB, else $BLLM_STATE_DIR/history.db (else\n"
	     "$XDG_STATE_HOME/bllm, else ~/.local/state/bllm); bllm-manage writes it as it runs.\n"
	     "  -h, --help               show this help and exit\n"
	     "      --version            show the version and exit\n\n"
	     "Exit status: 0 done (also when there are no sessions); 1 a session could not\n"
	     "be read (damaged file), the history database could not be used, search found\n"
	     "nothing, or output failed; 2 usage error, unknown or ambiguous ID.");
}

/* Prints v (borrowed) as indented JSON on stdout. */
static void print_json(jv v)
{
	jv s = jv_dump_string(jv_copy(v), JV_PRINT_INDENT_FLAGS(2));
	puts(jv_string_value(s));
	jv_free(s);
}

static int cmd_list(const char *prog, const char *dir, struct history_filter *f, bool json, bool color)
{
	jv all;
	char *err = NULL;
	bool filtered = f->since || f->status || f->agent || f->workspace || f->limit;
	if ((filtered ? history_list_summaries(dir, f, &all, &err) : session_list(dir, &all, &err)) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		return 1;
	}
	int rc = 0, n = jv_array_length(jv_copy(all));
	if (n == 0)
		cli_error(prog, "no sessions in %s", dir);
	if (json) {
		print_json(all);
	} else if (n > 0) {
		struct buf b = BUF_INIT;
		session_format_list(&b, all, color);
		fputs(buf_str(&b), stdout);
		buf_free(&b);
	}
	/* Damaged sessions are listed, and reported once the others are out. */
	fflush(stdout);
	jv_array_foreach(all, i, s) {
		jv e = jv_object_get(jv_copy(s), jv_string("error"));
		if (jv_get_kind(e) == JV_KIND_STRING) {
			cli_error(prog, "%s", jv_string_value(e));
			rc = 1;
		}
		jv_free(e);
		jv_free(s);
	}
	jv_free(all);
	return rc;
}

static int cmd_search(const char *prog, const char *dir, const char *text, long limit, bool json,
		      bool color)
{
	struct history *h;
	char *err = NULL;
	jv found;
	if (history_open_synced(&h, dir, &err) < 0 || history_search(h, text, limit, &found, &err) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		history_close(h);
		return 1;
	}
	history_close(h);
	int n = jv_array_length(jv_copy(found));
	if (json) {
		print_json(found);
	} else {
		struct buf b = BUF_INIT;
		history_format_search(&b, found, color);
		fputs(buf_str(&b), stdout);
		buf_free(&b);
	}
	jv_free(found);
	if (n == 0)
		cli_error(prog, "no session mentions \"%s\"", text);
	return n ? 0 : 1;
}

static int cmd_reindex(const char *prog, const char *dir)
{
	char *path = NULL, *notice = NULL, *err = NULL;
	int n = 0, rc = history_reindex_default(dir, &n, &path, &notice, &err);
	if (notice)
		cli_error(prog, "%s", notice);
	if (rc < 0)
		cli_error(prog, "%s", err);
	else
		printf("indexed %d session%s of %s into %s\n", n, n == 1 ? "" : "s", dir, path);
	free(notice);
	free(err);
	free(path);
	return rc < 0 ? 1 : 0;
}

/* The command on session arg: show, export or replay. */
static int cmd_session(const char *prog, const char *dir, const char *cmd, const char *arg,
		       bool json, bool color, bool diff)
{
	char *id = NULL, *err = NULL;
	int rc = 0;
	if (session_resolve_id(dir, arg, &id, &err) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		return EXIT_USAGE;
	}
	jv v;
	if (diff) {
		if (session_read_journal(dir, id, &v, &err) < 0) {
			cli_error(prog, "session %s has no readable journal: %s", id, err);
			rc = 1;
			goto out;
		}
		struct buf b = BUF_INIT;
		if (rundiff_format(v, color, &b) == 0)
			cli_error(prog, "session %s changed no files", id);
		fputs(buf_str(&b), stdout);
		buf_free(&b);
	} else if (strcmp(cmd, "replay") == 0) {
		if (session_read_journal(dir, id, &v, &err) < 0) {
			cli_error(prog, "session %s has no readable journal: %s", id, err);
			rc = 1;
			goto out;
		}
		jv_array_foreach(v, i, ev) {
			if (rc == 0 && io_write_json_line(1, ev) < 0) {
				cli_error(prog, "write error: %s", strerror(errno));
				rc = 1;
			}
			jv_free(ev);
		}
	} else {
		if (session_get(dir, id, &v, &err) < 0) {
			cli_error(prog, "%s", err);
			rc = 1;
			goto out;
		}
		if (json || strcmp(cmd, "export") == 0) {
			print_json(v);
		} else {
			struct buf b = BUF_INIT;
			session_format_show(&b, v, color);
			fputs(buf_str(&b), stdout);
			buf_free(&b);
		}
	}
	jv_free(v);
out:
	free(err);
	free(id);
	return rc;
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	signal(SIGPIPE, SIG_IGN);	/* a closed reader is EPIPE: a quiet end */
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "diff", no_argument, NULL, 'D' },
		{ "sessions-dir", required_argument, NULL, 'd' },
		{ "color", optional_argument, NULL, 'c' },
		{ "since", required_argument, NULL, 'S' },
		{ "status", required_argument, NULL, 't' },
		{ "agent", required_argument, NULL, 'a' },
		{ "workspace", required_argument, NULL, 'w' },
		{ "limit", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = getenv("BLLM_SESSIONS_DIR");
	enum color_mode mode = COLOR_AUTO;
	bool json = false, diff = false;
	struct history_filter f = { 0 };
	char since[32];
	long long since_ms;
	char ws[PATH_MAX];
	int ch;
	if (!dir || !*dir) {
		char *cwd = realpath(".", NULL);
		dir = config_sessions_dir(NULL, cwd ? cwd : ".");	/* a copy: cwd may go */
		free(cwd);
	}
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (ch) {
		case 'j': json = true; break;
		case 'D': diff = true; break;
		case 'd':
			if (!*optarg)
				return cli_usage_error(prog, "--sessions-dir: expected a directory");
			dir = optarg;
			break;
		case 'c':
			if (term_parse_color_mode(optarg ? optarg : "always", &mode) < 0)
				return cli_usage_error(prog, "--color: expected auto, always or never");
			break;
		case 'S':
			if (stats_parse_since(optarg, history_now_ms(), &since_ms) < 0)
				return cli_usage_error(prog, "--since '%s': expected a duration (90s, 30m, "
						       "2h, 7d), a date or an RFC 3339 time", optarg);
			history_time_string(since_ms, since);
			f.since = since;
			break;
		case 't': f.status = optarg; break;
		case 'a': f.agent = optarg; break;
		case 'w': f.workspace = realpath(optarg, ws) ? ws : optarg; break;
		case 'l':
			if (cli_parse_long(optarg, 1, 1000000000, &f.limit) < 0)
				return cli_usage_error(prog, "--limit '%s': expected a positive number",
						       optarg);
			break;
		case 'h': usage(); return 0;
		case 'V': printf("bllm-session %s\n", BLLM_VERSION); return 0;
		case ':':
			return cli_usage_error(prog, "option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return cli_usage_error(prog, "unknown option '-%c'", optopt);
			return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		return cli_usage_error(prog, "missing command: list, show, export, replay, search or "
				       "reindex");
	const char *cmd = argv[optind++];
	int nargs = argc - optind, rc;
	bool color = term_use_color(1, mode);
	if (strcmp(cmd, "list") == 0) {
		if (nargs > 0)
			return cli_usage_error(prog, "list: unexpected argument '%s'", argv[optind]);
		rc = cmd_list(prog, dir, &f, json, color);
	} else if (strcmp(cmd, "search") == 0) {
		if (nargs != 1)
			return cli_usage_error(prog, "search: expected one TEXT (quote several words)");
		rc = cmd_search(prog, dir, argv[optind], f.limit, json, color);
	} else if (strcmp(cmd, "reindex") == 0) {
		if (nargs > 0)
			return cli_usage_error(prog, "reindex: unexpected argument '%s'", argv[optind]);
		rc = cmd_reindex(prog, dir);
	} else if (strcmp(cmd, "show") == 0 || strcmp(cmd, "export") == 0 ||
		   strcmp(cmd, "replay") == 0) {
		if (nargs != 1)
			return cli_usage_error(prog, "%s: expected one session ID, got %d", cmd,
					       nargs);
		if (diff && strcmp(cmd, "show") != 0)
			return cli_usage_error(prog, "--diff goes with show, not %s", cmd);
		rc = cmd_session(prog, dir, cmd, argv[optind], json, color, diff);
	} else {
		return cli_usage_error(prog, "unknown command '%s' (expected list, show, export, "
				       "replay, search or reindex)", cmd);
	}
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno == EPIPE)
			return rc;	/* the reader had enough */
		cli_error(prog, "write error: %s", strerror(errno));
		return 1;
	}
	return rc;
}
