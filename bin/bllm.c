/* bllm: the interactive terminal UI over the manager (see bllm --help). */
#define _DEFAULT_SOURCE	/* realpath */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <editline/readline.h>

#include "buf.h"
#include "cache.h"
#include "cli.h"
#include "config.h"
#include "manager.h"
#include "observe.h"
#include "session.h"
#include "term.h"

static volatile sig_atomic_t signals;

static void usage(const char *prog)
{
	printf("Usage: %s [OPTION]...\n", prog);
	puts("The interactive bllm: type a task and the manager runs the workers on it,\n"
	     "live; \"@coder TASK\" runs one worker. Each run is saved as a session.\n\n"
	     "Options:\n"
	     "  -C, --workdir DIR      workspace root (default: .)\n"
	     "      --config FILE      agent config (default ./config/agent_config.json)\n"
	     "      --model MODEL      the manager's model\n"
	     "      --sessions-dir DIR where sessions are saved\n"
	     "      --no-cache         no response cache\n"
	     "      --color WHEN       auto (default), always, never\n"
	     "  -h, --help             show this help and exit\n"
	     "      --version          show the version and exit\n\n"
	     "Commands at the prompt: /help, /agents, /sessions, /resume ID, /stats, /quit.\n"
	     "Ctrl-C stops a run (and saves it); Ctrl-D at the prompt quits.\n"
	     "For scripts, CI and pipes use bllm-manage \"task\" instead.");
}

static void help(void)
{
	puts("  TASK          run the task with the manager (planner, coder, reviewer, tester)\n"
	     "  @AGENT TASK   run one worker directly, e.g. @coder add a refund() function\n"
	     "  /agents       the agents of the config and their tools\n"
	     "  /sessions     saved sessions\n"
	     "  /resume ID    continue a stopped session\n"
	     "  /stats        latency, tokens, cost and errors per agent\n"
	     "  /quit         leave (or Ctrl-D)");
}

static void agents(const struct config *cfg)
{
	for (int i = 0; i < cfg->n_agents; i++)
		printf("  %-10s %s\n", cfg->agents[i].name, cfg->agents[i].role);
}

static void sessions(const char *dir, bool color)
{
	jv list;
	char *err = NULL;
	if (session_list(dir, &list, &err) < 0) {
		fprintf(stderr, "bllm: %s\n", err);
		free(err);
		return;
	}
	struct buf b = BUF_INIT;
	session_format_list(&b, list, color);
	fputs(b.len ? b.data : "  no sessions yet\n", stdout);
	buf_free(&b);
	jv_free(list);
}

static void stats(const struct config *cfg)
{
	char *prog = cli_sibling_program("bllm-stats");
	pid_t pid = fork();
	if (pid == 0) {
		execl(prog, prog, "--log-dir", observe_log_dir(cfg), (char *)NULL);
		perror(prog);
		_exit(127);
	}
	if (pid < 0)
		perror("bllm: fork");
	while (pid > 0 && waitpid(pid, NULL, 0) < 0 && errno == EINTR)
		;
	free(prog);
}

static void run(struct manager_opts *mo, const char *task, const char *resume)
{
	signals = 0;
	mo->resume_id = resume;
	struct manager_outcome res;
	manager_run(mo, task, &res);
	if (res.error && !res.shown)
		fprintf(stderr, "bllm: %s\n", res.error);
	manager_outcome_free(&res);
	signals = 0;
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	enum { O_CONFIG = 256, O_MODEL, O_SESSIONS, O_NO_CACHE, O_COLOR, O_VERSION };
	static const struct option opts[] = {
		{ "workdir", required_argument, NULL, 'C' }, { "config", required_argument, NULL, O_CONFIG },
		{ "model", required_argument, NULL, O_MODEL },
		{ "sessions-dir", required_argument, NULL, O_SESSIONS },
		{ "no-cache", no_argument, NULL, O_NO_CACHE }, { "color", required_argument, NULL, O_COLOR },
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
		return 2;
	}
	char *err = NULL;
	int code = 2;
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
	cli_protect_secrets();
	cli_start_observing(&cfg, NULL, prog);
	if (!mo.no_cache && config_bool(&cfg, "performance.enable_caching", true))
		mo.cache = cli_open_cache(&cfg, NULL, prog);
	char *cfg_path = realpath(cfg.agent_config_path, NULL);
	char *worker = cli_sibling_program("bllm-agent");
	mo.config_path = cfg_path;
	mo.root = root;
	mo.worker_program = worker;
	mo.ask = cli_ask;
	mo.color = term_use_color(2, color);
	mo.sessions_dir = sessions_dir;
	manager_opts_configure(&mo, &cfg);

	printf("bllm %s · workspace %s · /help for commands, Ctrl-D to quit\n", BLLM_VERSION, root);
	char *history = cli_state_path("history");
	using_history();
	if (history)
		read_history(history);
	for (;;) {
		char *line = readline("bllm> ");
		if (!line) {
			if (signals) {	/* Ctrl-C at the prompt: a fresh prompt, not an exit */
				signals = 0;
				putchar('\n');
				continue;
			}
			putchar('\n');
			break;
		}
		char *cmd = line + strspn(line, " \t");
		cmd[strcspn(cmd, "\r\n")] = '\0';
		if (*cmd)
			add_history(cmd);
		if (!*cmd) {
		} else if (strcmp(cmd, "/quit") == 0 || strcmp(cmd, "/exit") == 0) {
			free(line);
			break;
		} else if (strcmp(cmd, "/help") == 0) {
			help();
		} else if (strcmp(cmd, "/agents") == 0) {
			agents(&cfg);
		} else if (strcmp(cmd, "/sessions") == 0) {
			sessions(mo.sessions_dir, mo.color);
		} else if (strcmp(cmd, "/stats") == 0) {
			stats(&cfg);
		} else if (strncmp(cmd, "/resume", 7) == 0 && cmd[7] == ' ') {
			run(&mo, "", cmd + 8 + strspn(cmd + 8, " "));
		} else if (cmd[0] == '/') {
			printf("unknown command %s; /help lists them\n", cmd);
		} else {
			run(&mo, cmd, NULL);
		}
		free(line);
	}
	if (history)
		write_history(history);
	free(history);
	cache_close(mo.cache);
	observe_close();
	free(root);
	free(cfg_path);
	free(worker);
	config_free(&cfg);
	return 0;
}
