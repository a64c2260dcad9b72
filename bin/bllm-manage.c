/* bllm-manage "task": the manager agent drives the workers (see --help). */
#define _DEFAULT_SOURCE	/* realpath */
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "cli.h"
#include "status.h"
#include "config.h"
#include "dashboard.h"
#include "io.h"
#include "manager.h"
#include "observe.h"
#include "term.h"

static void usage(const char *prog)
{
	printf("Usage: %s [OPTION]... TASK...\n", prog);
	puts("Run a task with the manager agent: it calls the worker agents (planner, coder,\n"
	     "reviewer, tester, committer, and any custom agent), each a separate process,\n"
	     "streams their events on stdout (docs/protocol.md) and saves the session.\n"
	     "\"@coder TASK\" runs one worker directly, without the manager model.\n"
	     "When stdout is a terminal (and neither -o nor --json is given) it shows the\n"
	     "readable view there instead of the events, with a status line at the bottom;\n"
	     "otherwise, with stderr a terminal, the view goes to stderr.\n"
	     "Workers asked for in one turn run at the same time (max_parallel_workers),\n"
	     "those that write each in a git worktree, merged back in the order asked.\n\n"
	     "Options:\n"
	     "  -C, --workdir DIR      workspace root the workers' tools are confined to\n"
	     "      --config FILE      agent config (default ./config/agent_config.json)\n"
	     "      --model MODEL      the model of every agent, the manager included\n"
	     "      --max-turns N      turns of the whole run (manager and workers)\n"
	     "      --max-tokens N     tokens of the whole run\n"
	     "      --max-cost-usd X   US dollars of the whole run\n"
	     "      --sessions-dir DIR where sessions are saved (default: sessions_dir of\n"
	     "                         system_config.json, else sessions/NAME in the state\n"
	     "                         directory: $BLLM_STATE_DIR, $XDG_STATE_HOME/bllm or\n"
	     "                         ~/.local/state/bllm; NAME comes from the workspace)\n"
	     "      --resume ID        continue a stopped session; finished workers are not rerun\n"
	     "                         (a completed one only with a new TASK)\n"
	     "  -o, --output FILE      write the event stream to FILE instead of stdout\n"
	     "      --json             write the event stream on stdout even to a terminal\n"
	     "      --progress         show the live view even when stderr is not a terminal\n"
	     "  -q, --quiet            no live view\n"
	     "  -v, --verbose          more detail in the live view (tasks, usage per call)\n"
	     "      --no-interactive   never wait for a person between workers\n"
	     "      --stream-deltas    also write text_delta events\n"
	     "      --no-cache         no response cache for this run\n"
	     "      --dashboard        serve a live web view of the run (bllm-dashboard on\n"
	     "                         127.0.0.1, a free port) and print its URL on stderr\n"
	     "      --sandbox MODE     sandbox (default) or off: the workers' commands run\n"
	     "                         unconfined (docs/security.md)\n"
	     "      --color WHEN       auto (default), always, never\n"
	     "  -h, --help             show this help and exit\n"
	     "      --version          show the version and exit\n\n"
	     "In a terminal, after each worker you have 5 s to press Enter (continue),\n"
	     "type /pause (add a note for the manager) or /stop or Ctrl-C (stop and save).\n"
	     "Ctrl-C stops the workers, saves the session and exits 130; twice: at once.\n\n"
	     "Environment: as for the workers (see bllm-plan --help), and\n"
	     "WORKER_TIMEOUT_PLANNER, _CODER, _REVIEWER, _TESTER, _COMMITTER (seconds),\n"
	     "BLLM_MANAGER_MODEL (the manager's model; BLLM_MODEL sets every agent's).\n\n"
	     "Exit status: 0 done and verified (or nothing to verify), 1 failed or\n"
	     "unverified, 2 usage error, 4 API failed, 5 no key or config (or no price\n"
	     "with --max-cost-usd), 6 limit reached or loop caught, 124 worker timed out,\n"
	     "130 interrupted.");
}

static const char *progname = "bllm-manage";

static void notice(const char *message)
{
	cli_error(progname, "error: %s", message);
}

/* bllm-manage --dashboard: bllm-dashboard for this run; its URL on stderr. 0 when none. */
static pid_t start_dashboard(const char *prog, const char *sessions_dir)
{
	pid_t pid = 0;
	char *url = NULL, *err = NULL;
	if (dash_spawn(sessions_dir, &pid, &url, &err) < 0) {
		cli_error(prog, "warning: no dashboard: %s", err);
		free(err);
		return 0;
	}
	fprintf(stderr, "%s: dashboard: %s\n", prog, url);
	free(url);
	return pid;
}

int main(int argc, char **argv)
{
	static volatile sig_atomic_t signals;
	const char *prog = cli_progname(argv[0]);
	enum { O_CONFIG = 256, O_MODEL, O_TURNS, O_TOKENS, O_COST, O_SESSIONS, O_RESUME, O_PROGRESS,
	       O_NO_INTERACTIVE, O_DELTAS, O_COLOR, O_VERSION, O_NO_CACHE, O_SANDBOX, O_DASHBOARD, O_JSON };
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'C' }, { "config", required_argument, NULL, O_CONFIG },
		{ "model", required_argument, NULL, O_MODEL }, { "max-turns", required_argument, NULL, O_TURNS },
		{ "max-tokens", required_argument, NULL, O_TOKENS },
		{ "max-cost-usd", required_argument, NULL, O_COST },
		{ "sessions-dir", required_argument, NULL, O_SESSIONS },
		{ "resume", required_argument, NULL, O_RESUME }, { "output", required_argument, NULL, 'o' },
		{ "progress", no_argument, NULL, O_PROGRESS }, { "quiet", no_argument, NULL, 'q' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "no-interactive", no_argument, NULL, O_NO_INTERACTIVE },
		{ "no-cache", no_argument, NULL, O_NO_CACHE },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "dashboard", no_argument, NULL, O_DASHBOARD },
		{ "json", no_argument, NULL, O_JSON },
		{ "stream-deltas", no_argument, NULL, O_DELTAS }, { "color", required_argument, NULL, O_COLOR },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_file = NULL, *workdir = ".", *output = NULL, *sessions_dir = NULL;
	struct manager_opts mo = { .out_fd = 1, .signals = &signals };
	bool quiet = false, progress = false, no_interactive = false, dashboard = false, json = false;
	pid_t dash_pid = 0;
	enum color_mode color = COLOR_AUTO;
	long l;
	int c;
	opterr = 0;
	/* "+": stop at the first operand, so a task may contain words like "-v". */
	while ((c = getopt_long(argc, argv, "+:C:o:qvh", opts, NULL)) != -1) {
		switch (c) {
		case 'C': workdir = optarg; break;
		case O_CONFIG: config_file = optarg; break;
		case O_MODEL: mo.model = optarg; break;
		case O_TURNS:
			if (cli_parse_long(optarg, 1, CLI_MAX_TURNS, &l) < 0)
				return cli_usage_error(prog, "--max-turns: expected a whole number from 1, got \"%s\"", optarg);
			mo.budget.max_turns = (int)l;
			break;
		case O_TOKENS:
			if (cli_parse_long(optarg, 1, LONG_MAX, &mo.budget.max_tokens) < 0)
				return cli_usage_error(prog, "--max-tokens: expected a positive number, got \"%s\"", optarg);
			break;
		case O_COST:
			if (cli_parse_double(optarg, 1e-12, 1e9, &mo.budget.max_cost_usd) < 0)
				return cli_usage_error(prog, "--max-cost-usd: expected a positive amount, got \"%s\"", optarg);
			break;
		case O_SESSIONS: sessions_dir = optarg; break;
		case O_RESUME: mo.resume_id = optarg; break;
		case 'o': output = optarg; break;
		case O_PROGRESS: progress = true; break;
		case 'q': quiet = true; break;
		case O_DASHBOARD: dashboard = true; break;
		case 'v': mo.verbose = true; break;
		case O_NO_INTERACTIVE: no_interactive = true; break;
		case O_NO_CACHE: mo.no_cache = true; break;
		case O_SANDBOX:
			if (strcmp(optarg, "sandbox") != 0 && strcmp(optarg, "off") != 0)
				return cli_usage_error(prog, "--sandbox: expected \"sandbox\" or \"off\", got \"%s\"", optarg);
			mo.sandbox = optarg;
			break;
		case O_JSON: json = true; break;
		case O_DELTAS: mo.stream_deltas = true; break;
		case O_COLOR:
			if (term_parse_color_mode(optarg, &color) < 0)
				return cli_usage_error(prog, "--color: expected auto, always or never");
			break;
		case 'h': usage(prog); return 0;
		case O_VERSION: printf("%s %s\n", prog, BLLM_VERSION); return 0;
		case ':': return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt && strncmp(argv[optind - 1], "--", 2) != 0)
				return cli_usage_error(prog, "unknown option '-%c'", optopt);
			return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	struct buf task = BUF_INIT;
	for (int i = optind; i < argc; i++)
		buf_printf(&task, "%s%s", task.len ? " " : "", argv[i]);
	if (!task.len && !mo.resume_id && !isatty(0)) {
		io_read_all(0, &task);
		while (task.len && (task.data[task.len - 1] == '\n' || task.data[task.len - 1] == ' '))
			task.data[--task.len] = '\0';
	}
	if (!task.len && !mo.resume_id)
		return cli_usage_error(prog, "no task: give it as an argument (or --resume ID)");
	cli_install_signals(&signals);
	cli_protect_secrets();

	char *err = NULL;
	int code;
	struct config cfg;
	code = EXIT_USAGE;
	if (config_load_dotenv(".env", &err) < 0 || config_load(&cfg, config_file, &err, &code) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		buf_free(&task);
		return code;
	}
	cli_start_observing(&cfg, NULL, prog);
	for (int i = 0; i < cfg.n_warnings; i++)
		if (strstr(cfg.warnings[i], "unknown key"))
			cli_error(prog, "warning: %s", cfg.warnings[i]);
	if (!mo.no_cache && config_bool(&cfg, "performance.enable_caching", true))
		mo.cache = cli_open_cache(&cfg, NULL, prog);
	char *root = realpath(workdir, NULL);
	char *cfg_path = realpath(cfg.agent_config_path, NULL);
	char *worker = cli_sibling_program("bllm-agent");
	code = EXIT_OK;
	if (!root) {
		code = cli_usage_error(prog, "--workdir %s: no such directory", workdir);
	}
	if (code == EXIT_OK && output) {
		mo.out_fd = open(output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (mo.out_fd < 0) {
			cli_error(prog, "--output %s: cannot create the file", output);
			code = EXIT_USAGE;
		}
	}
	if (code == EXIT_OK) {
		mo.config_path = cfg_path;
		mo.root = root;
		mo.worker_program = worker;
		if (!no_interactive && isatty(0) && isatty(2))
			mo.ask = cli_ask;
		if (!output && !json && isatty(1)) {
			/* A person reads stdout: the view, never raw events. */
			mo.out_fd = -1;
			mo.view_out = stdout;
			mo.live_view = !quiet;
			mo.color = term_use_color(1, color);
		} else {
			mo.live_view = !quiet && (progress || isatty(2));
			mo.color = term_use_color(2, color);
		}
		mo.sessions_dir = sessions_dir;
		progname = prog;
		mo.notice = notice;
		manager_opts_configure(&mo, &cfg);
		if (dashboard)
			dash_pid = start_dashboard(prog, mo.sessions_dir);
		struct manager_outcome res;
		code = manager_run(&mo, task.data ? task.data : "", &res);
		if (dash_pid > 0) {
			sleep(1);	/* the page shows the end before it goes */
			dash_spawn_stop(dash_pid);
		}
		if (res.error && !res.shown)
			cli_error(prog, "%s", res.error);
		manager_outcome_free(&res);
	}
	if (mo.out_fd > 1)
		close(mo.out_fd);
	cache_close(mo.cache);
	observe_close();
	free(root);
	free(cfg_path);
	free(worker);
	buf_free(&task);
	config_free(&cfg);
	if (fclose(stdout) != 0 && code == EXIT_OK)
		code = EXIT_FAILED;
	return code;
}
