/* bllm: the interactive terminal UI over the manager (see bllm --help). */
#define _DEFAULT_SOURCE	/* realpath */
#include <getopt.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "cache.h"
#include "cli.h"
#include "status.h"
#include "config.h"
#include "manager.h"
#include "observe.h"
#include "term.h"
#include "tui.h"
#include "tui_app.h"
#include "tui_edit.h"

static volatile sig_atomic_t signals, terminated;

/* SIGTERM and SIGHUP (the terminal closed) stop a run like Ctrl-C, then quit. */
static void on_terminate(int sig)
{
	(void)sig;
	terminated = 1;
	signals++;
}

static void usage(const char *prog)
{
	printf("Usage: %s [OPTION]...\n", prog);
	puts("The interactive bllm: type a task and the manager runs the workers on it,\n"
	     "live; \"@coder TASK\" runs one worker. A task typed after another continues\n"
	     "the same session: the manager sees the earlier requests and results.\n\n"
	     "Options:\n"
	     "  -C, --workdir DIR      workspace root (default: .)\n"
	     "      --config FILE      agent config (default ./config/agent_config.json)\n"
	     "      --model MODEL      the manager's model\n"
	     "      --sessions-dir DIR where sessions are saved\n"
	     "      --no-cache         no response cache\n"
	     "      --sandbox MODE     sandbox (default) or off: the workers' commands run\n"
	     "                         unconfined (docs/security.md)\n"
	     "      --color WHEN       auto (default), always, never\n"
	     "  -h, --help             show this help and exit\n"
	     "      --version          show the version and exit\n\n"
	     "Commands at the prompt: /new, /resume [ID], /model [NAME], /diff, /cost,\n"
	     "/stats, /agents, /sessions, /help, /quit (/help says what each does).\n"
	     "Keys: Tab completes /commands, @agents and paths; Ctrl-N starts a new session;\n"
	     "Ctrl-C stops a run (and saves it), clears the line, and twice within 2 s on an\n"
	     "empty line quits; Ctrl-D quits. At the pause after each worker: Enter goes on,\n"
	     "/pause adds a note, /stop or Ctrl-C stops.\n"
	     "For scripts, CI and pipes use bllm-manage \"task\" instead.");
}

/* Columns of the terminal on fd, 80 when unknown. */
static int term_width(int fd)
{
	struct winsize ws;
	return ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0 ? ws.ws_col : 80;
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	enum { O_CONFIG = 256, O_MODEL, O_SESSIONS, O_NO_CACHE, O_SANDBOX, O_COLOR, O_VERSION };
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'C' }, { "config", required_argument, NULL, O_CONFIG },
		{ "model", required_argument, NULL, O_MODEL },
		{ "sessions-dir", required_argument, NULL, O_SESSIONS },
		{ "no-cache", no_argument, NULL, O_NO_CACHE }, { "color", required_argument, NULL, O_COLOR },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, O_VERSION },
		{ NULL, 0, NULL, 0 },
	};
	const char *config_file = NULL, *workdir = ".", *sessions_dir = NULL;
	struct manager_opts mo = { .out_fd = -1, .signals = &signals, .live_view = true };
	enum color_mode color = COLOR_AUTO;
	int c;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'C': workdir = optarg; break;
		case O_CONFIG: config_file = optarg; break;
		case O_MODEL: mo.model = optarg; break;
		case O_SESSIONS: sessions_dir = optarg; break;
		case O_NO_CACHE: mo.no_cache = true; break;
		case O_SANDBOX:
			if (strcmp(optarg, "sandbox") != 0 && strcmp(optarg, "off") != 0)
				return cli_usage_error(prog, "--sandbox: expected \"sandbox\" or \"off\", got \"%s\"", optarg);
			mo.sandbox = optarg;
			break;
		case O_COLOR:
			if (term_parse_color_mode(optarg, &color) < 0)
				return cli_usage_error(prog, "--color: expected auto, always or never");
			break;
		case 'h': usage(prog); return 0;
		case O_VERSION: printf("%s %s\n", prog, BLLM_VERSION); return 0;
		case ':': return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind < argc)
		return cli_usage_error(prog, "no arguments expected; for one task use bllm-manage \"task\"");
	if (!isatty(0) || !isatty(2)) {
		cli_error(prog, "needs a terminal; for scripts and pipes use bllm-manage \"task\"");
		return EXIT_USAGE;
	}
	setlocale(LC_CTYPE, "");
	char *err = NULL;
	int code = EXIT_USAGE;
	struct config cfg;
	if (config_load_dotenv(".env", &err) < 0 || config_load(&cfg, config_file, &err, &code) < 0) {
		cli_error(prog, "%s", err);
		free(err);
		return code;
	}
	char *root = realpath(workdir, NULL);
	if (!root) {
		config_free(&cfg);
		return cli_usage_error(prog, "--workdir %s: no such directory", workdir);
	}
	cli_install_signals(&signals);
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_terminate;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	cli_protect_secrets();
	cli_start_observing(&cfg, NULL, prog);
	if (!mo.no_cache && config_bool(&cfg, "performance.enable_caching", true))
		mo.cache = cli_open_cache(&cfg, NULL, prog);
	char *cfg_path = realpath(cfg.agent_config_path, NULL);
	char *worker = cli_sibling_program("bllm-agent");
	mo.config_path = cfg_path;
	mo.root = root;
	mo.worker_program = worker;
	mo.color = term_use_color(2, color);
	mo.sessions_dir = sessions_dir;
	manager_opts_configure(&mo, &cfg);

	const char **agents = xcalloc((size_t)cfg.n_agents + 1, sizeof *agents);
	size_t n_agents = 0;
	for (int i = 0; i < cfg.n_agents; i++)
		if (strcmp(cfg.agents[i].name, "manager") != 0)
			agents[n_agents++] = cfg.agents[i].name;
	char *history = cli_state_path("history");
	struct tui_edit_opts eo = { .prog = prog, .history_path = history, .agents = agents,
				    .n_agents = n_agents, .root = root, .signals = &signals };
	struct tui_edit *edit = tui_edit_new(stdin, stdout, &eo);
	mo.ask = cli_ask;
	struct tui_app app = { .mo = &mo, .cfg = &cfg, .edit = edit, .out = stdout,
			       .model = mo.model ? xstrdup(mo.model) : NULL };
	printf("bllm %s · workspace %s · /help for commands, Ctrl-D to quit\n", BLLM_VERSION, root);
	double last_hint = 0;
	for (bool go = true; go && !terminated;) {
		char *line;
		bool empty;
		app.width = term_width(1);
		enum tui_read r = tui_edit_read(edit, "bllm> ", true, &line, &empty);
		if (r == TUI_READ_EOF || terminated)
			break;
		if (r == TUI_READ_NEW) {
			putchar('\n');
			tui_app_new_session(&app);
		} else if (r == TUI_READ_INTERRUPT) {
			enum tui_interrupt what = tui_on_interrupt(empty, now_s(), &last_hint);
			if (what == TUI_INT_EXIT)
				break;
			if (what == TUI_INT_HINT)
				printf("(Ctrl-C again to quit, or Ctrl-D)\n");
		} else {
			const char *arg;
			enum tui_kind kind = tui_parse_line(line, &arg);
			go = tui_app_command(&app, kind, arg);
			last_hint = 0;
		}
		free(line);
	}
	tui_edit_free(edit);
	tui_app_free(&app);
	free(agents);
	free(history);
	cache_close(mo.cache);
	observe_close();
	free(root);
	free(cfg_path);
	free(worker);
	config_free(&cfg);
	return terminated ? EXIT_INTERRUPTED : EXIT_OK;
}
