/* bllm-dashboard: a live web view of the sessions, from the history database and the journals. */
#define _DEFAULT_SOURCE	/* usleep, kill */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "dashboard.h"
#include "history.h"

static void usage(void)
{
	puts("Usage: bllm-dashboard [OPTION]...\n"
	     "Serve a web page of bllm's sessions: the list (running ones on top, with their\n"
	     "current agent, review cycle, tokens, cost and time, updated live), one session's\n"
	     "timeline (a row per agent, a bar per worker run coloured by status; click one for\n"
	     "its task, text, tool calls, diffs and verification), per-agent charts (latency\n"
	     "p50/p95, tokens, cost, cache hit rate, errors by type) and full-text search.\n\n"
	     "The first line printed is the URL to open, with the access token:\n"
	     "  http://127.0.0.1:PORT/?token=...\n"
	     "Every request needs the token (then a cookie holds it); without it, 401.\n"
	     "Read-only; everything the page needs is built in (works offline).\n\n"
	     "  -l, --listen ADDR:PORT   where to listen (default 127.0.0.1:8377; port 0 picks\n"
	     "                           a free one). Another address than 127.0.0.1 lets\n"
	     "                           other machines in: anyone with the URL sees the sessions\n"
	     "  -d, --sessions-dir DIR   index this directory's sessions first, when the history\n"
	     "                           lacks them (default: $BLLM_SESSIONS_DIR, else ./sessions)\n"
	     "      --max-streams N      live streams (SSE) served at once (default 100)\n"
	     "      --exit-with PID      stop when process PID ends (bllm-manage --dashboard)\n"
	     "  -h, --help               show this help and exit\n"
	     "      --version            show the version and exit\n\n"
	     "The history is $BLLM_HISTORY_DB, else $BLLM_STATE_DIR/history.db (see bllm-session).\n"
	     "Runs until interrupted (Ctrl-C, SIGTERM).\n"
	     "Exit status: 0 stopped by a signal; 1 the history cannot be read or the\n"
	     "address cannot be used; 2 usage error.");
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	signal(SIGPIPE, SIG_IGN);
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "sessions-dir", required_argument, NULL, 'd' },
		{ "max-streams", required_argument, NULL, 'm' },
		{ "exit-with", required_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct dash_opts o = { .addr = "127.0.0.1", .port = 8377 };
	char addr[64];
	const char *dir = getenv("BLLM_SESSIONS_DIR");
	long max_streams = 0, exit_with = 0;
	int ch;
	if (!dir || !*dir)
		dir = "./sessions";
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:d:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'l':
			if (dash_parse_listen(optarg, addr, &o.port) < 0)
				return cli_usage_error(prog, "--listen '%s': expected ADDR:PORT, e.g. "
						       "127.0.0.1:8377 (port 0 picks one)", optarg);
			o.addr = addr;
			break;
		case 'd': dir = optarg; break;
		case 'm':
			if (cli_parse_long(optarg, 1, 10000, &max_streams) < 0)
				return cli_usage_error(prog, "--max-streams '%s': expected 1 to 10000", optarg);
			break;
		case 'e':
			if (cli_parse_long(optarg, 1, 1L << 30, &exit_with) < 0)
				return cli_usage_error(prog, "--exit-with '%s': expected a process ID", optarg);
			break;
		case 'h': usage(); return 0;
		case 'V': printf("bllm-dashboard %s\n", BLLM_VERSION); return 0;
		case ':':
			return cli_usage_error(prog, "option '%s' needs an argument", argv[optind - 1]);
		default:
			if (optopt)
				return cli_usage_error(prog, "unknown option '-%c'", optopt);
			return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(prog, "unexpected argument '%s'", argv[optind]);
	o.max_sse_clients = (int)max_streams;

	char *err = NULL, *token = dash_new_token(), *path = history_default_path();
	struct history *h = NULL;
	if (!token) {
		cli_error(prog, "cannot make a random token: %s", strerror(errno));
		return 1;
	}
	if (!path || history_open_synced(&h, dir, &err) < 0) {
		cli_error(prog, "%s", err ? err : "no history database (BLLM_HISTORY_DB is off, or "
			  "no state directory: set BLLM_STATE_DIR)");
		return 1;
	}
	history_close(h);
	o.db_path = path;
	o.token = token;
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	struct dash_server *srv;
	int port;
	if (dash_start(&o, &srv, &port, &err) < 0) {
		cli_error(prog, "%s", err);
		return 1;
	}
	printf("http://%s:%d/?token=%s\n", o.addr, port, token);
	if (fflush(stdout) != 0)
		stop = 1;
	while (!stop && (!exit_with || kill((pid_t)exit_with, 0) == 0 || errno == EPERM))
		usleep(200000);
	dash_stop(srv);
	free(token);
	free(path);
	return 0;
}
