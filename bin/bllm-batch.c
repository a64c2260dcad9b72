/* bllm-batch [-j N] [--sshlogin HOSTS] [TASKFILE] [-- MANAGE-OPTION...]: many tasks, each on its branch. */
#define _DEFAULT_SOURCE	/* realpath */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "batch.h"
#include "batchrun.h"
#include "buf.h"
#include "cli.h"
#include "status.h"
#include "io.h"
#include "json.h"

static void usage(void)
{
	puts("Usage: bllm-batch [OPTION]... [TASKFILE] [-- BLLM-MANAGE-OPTION...]\n"
	     "Run many tasks, each as its own bllm-manage in its own worktree of the\n"
	     "repository, on the branch bllm/batch/ID made from HEAD (uncommitted changes\n"
	     "are not included); what a task changed is committed on its branch. GNU\n"
	     "parallel runs N tasks at a time, here or on other machines.\n\n"
	     "Tasks come from TASKFILE, or stdin when it is \"-\" or not given: one task\n"
	     "per line, or JSON lines {\"task\": \"...\", \"id\": \"...\"} (blank lines and\n"
	     "lines starting with # are skipped). Without an id a task is numbered\n"
	     "1, 2, ... in the order of the file.\n\n"
	     "  -j, --jobs N           tasks at a time (default 4; per machine with --sshlogin)\n"
	     "  -S, --sshlogin HOSTS   run the tasks on these machines (GNU parallel's\n"
	     "                         --sshlogin: host,user@host2,4/host3,: for this one);\n"
	     "                         each needs bllm on its PATH and the API key in its\n"
	     "                         environment; the repository is shipped as a git\n"
	     "                         bundle and each branch comes back with its session\n"
	     "  -C, --workdir DIR      the repository (default: the current directory)\n"
	     "      --sessions-dir DIR where sessions, event streams and outcome lines go\n"
	     "                         (default ./sessions; streams in DIR/batch-BATCH-ID/)\n"
	     "  -h, --help             show this help and exit\n"
	     "      --version          show the version and exit\n\n"
	     "Options after -- go to every bllm-manage (e.g. -- --max-cost-usd 0.50);\n"
	     "with --sshlogin, paths among them are paths on the remote machines.\n\n"
	     "Output: one JSON line per task as it finishes (id, task, status, exit_code,\n"
	     "verified, branch, files_changed, cost_usd, session, events, error); on a\n"
	     "terminal, one readable line per task and a table at the end instead.\n"
	     "Ctrl-C stops every task; each saves its session and keeps its branch.\n\n"
	     "Exit status: 0 when every task completed and was verified, else the worst\n"
	     "task's code (130 interrupted, 2 usage, 5 config, 4 API, 124 timeout,\n"
	     "6 limit, 3, 1 failed); 2 for a bad task file or flag; 5 when GNU parallel\n"
	     "or a --sshlogin machine cannot be used.");
}

/*
 * Reads the tasks of fd (plain or JSON lines) into an array of {"id","task"}.
 * Returns it, or jv_invalid() after a one-line error naming name:line.
 */
static jv read_tasks(const char *prog, const char *name, int fd)
{
	jv tasks = jv_array();
	struct line_reader lr;
	line_reader_init(&lr, fd);
	char *line, *err = NULL, num[24];
	size_t len;
	int n = 0;
	while (jv_is_valid(tasks) && line_reader_next(&lr, &line, &len) > 0) {
		jv t;
		snprintf(num, sizeof num, "%d", n + 1);
		int rc = batch_parse_task_line(line, len, num, &t, &err);
		if (rc > 0 && batch_task_index(tasks, json_str(t, "id")) >= 0) {
			err = xasprintf("id \"%s\" is used twice (give each task its own id)", json_str(t, "id"));
			jv_free(t);
			rc = -1;
		}
		if (rc < 0) {
			cli_error(prog, "%s:%lu: %s", name, lr.lineno, err);
			free(err);
			jv_free(tasks);
			tasks = jv_invalid();
		} else if (rc > 0) {
			tasks = jv_array_append(tasks, t);
			n++;
		}
	}
	line_reader_free(&lr);
	if (jv_is_valid(tasks) && n == 0) {
		cli_error(prog, "%s: no tasks (one per line, or {\"task\": ..., \"id\": ...})", name);
		jv_free(tasks);
		tasks = jv_invalid();
	}
	return tasks;
}

/* The hidden --run-one mode GNU parallel starts for each task. */
static int run_one(const char *prog, struct batch_one_opts *o, const char *task_json)
{
	jv task;
	char *err = NULL;
	if (!task_json || !o->base || !o->batch_id || (!o->repo == !o->bundle) ||
	    batch_parse_task_line(task_json, strlen(task_json), "1", &task, &err) <= 0) {
		cli_error(prog, "--run-one: needs --task, --base, --batch-id and --repo or --bundle%s%s",
			  err ? ": " : "", err ? err : "");
		free(err);
		return EXIT_USAGE;
	}
	int code = batch_run_one(o, task, &err);
	jv_free(task);
	if (code < 0) {
		cli_error(prog, "%s", err);
		free(err);
		return EXIT_USAGE;
	}
	return code;
}

int main(int argc, char **argv)
{
	static volatile sig_atomic_t signals;
	const char *prog = cli_progname(argv[0]);
	enum { O_SESSIONS = 256, O_VERSION, O_RUN_ONE, O_REPO, O_BUNDLE, O_BASE, O_BATCH, O_TASK };
	static const struct option opts[] = {
		{ "jobs", required_argument, NULL, 'j' }, { "sshlogin", required_argument, NULL, 'S' },
		{ "workdir", required_argument, NULL, 'C' }, { "sessions-dir", required_argument, NULL, O_SESSIONS },
		{ "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, O_VERSION },
		{ "run-one", no_argument, NULL, O_RUN_ONE }, { "repo", required_argument, NULL, O_REPO },
		{ "bundle", required_argument, NULL, O_BUNDLE }, { "base", required_argument, NULL, O_BASE },
		{ "batch-id", required_argument, NULL, O_BATCH }, { "task", required_argument, NULL, O_TASK },
		{ NULL, 0, NULL, 0 },
	};
	int main_argc = argc;
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "--") == 0) {
			main_argc = i;
			break;
		}
	struct batch_opts o = { .jobs = 4, .out_fd = 1, .signals = &signals,
				.manage_args = argv + main_argc + (main_argc < argc),
				.n_manage_args = argc - main_argc - (main_argc < argc) };
	struct batch_one_opts one = { .manage_args = o.manage_args, .n_manage_args = o.n_manage_args,
				      .signals = &signals };
	const char *workdir = ".", *sessions = "sessions", *task_json = NULL;
	bool run_one_mode = false;
	long l;
	int c;
	opterr = 0;
	while ((c = getopt_long(main_argc, argv, ":j:S:C:h", opts, NULL)) != -1) {
		switch (c) {
		case 'j':
			if (cli_parse_long(optarg, 1, 1000, &l) < 0)
				return cli_usage_error(prog, "--jobs: expected a whole number from 1 to 1000, got \"%s\"", optarg);
			o.jobs = (int)l;
			break;
		case 'S': o.sshlogin = optarg; break;
		case 'C': workdir = optarg; break;
		case O_SESSIONS: sessions = optarg; break;
		case 'h': usage(); return 0;
		case O_VERSION: printf("%s %s\n", prog, BLLM_VERSION); return 0;
		case O_RUN_ONE: run_one_mode = true; break;
		case O_REPO: one.repo = optarg; break;
		case O_BUNDLE: one.bundle = optarg; break;
		case O_BASE: one.base = optarg; break;
		case O_BATCH: one.batch_id = optarg; break;
		case O_TASK: task_json = optarg; break;
		case ':': return cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default: return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	if (main_argc - optind > 1)
		return cli_usage_error(prog, "one task file at most (got \"%s\" too)", argv[optind + 1]);
	cli_install_signals(&signals);
	cli_protect_secrets();
	if (io_mkdirs(sessions, 0700) < 0) {
		cli_error(prog, "--sessions-dir %s: cannot create it: %s", sessions, strerror(errno));
		return EXIT_USAGE;
	}
	char *sessions_abs = realpath(sessions, NULL);
	one.sessions_dir = sessions_abs;
	if (run_one_mode) {
		int code = run_one(prog, &one, task_json);
		free(sessions_abs);
		return code;
	}
	const char *name = optind < main_argc ? argv[optind] : "-";
	int fd = 0;
	if (strcmp(name, "-") != 0 && (fd = open(name, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_error(prog, "%s: cannot open: %s", name, strerror(errno));
		free(sessions_abs);
		return EXIT_USAGE;
	}
	if (fd == 0 && isatty(0)) {
		free(sessions_abs);
		return cli_usage_error(prog, "no tasks: give a task file (or pipe the tasks in)");
	}
	jv tasks = read_tasks(prog, fd == 0 ? "stdin" : name, fd);
	if (fd > 0)
		close(fd);
	char *repo = realpath(workdir, NULL), *self = cli_sibling_program("bllm-batch");
	int code = EXIT_USAGE;
	if (!jv_is_valid(tasks)) {
		jv_free(tasks);
	} else if (!repo) {
		jv_free(tasks);
		code = cli_usage_error(prog, "--workdir %s: no such directory", workdir);
	} else {
		char *err = NULL;
		o.repo = repo;
		o.sessions_dir = sessions_abs;
		o.self = self;
		o.table = isatty(1);
		code = batch_run(&o, tasks, &err);
		if (err)
			cli_error(prog, "%s", err);
		free(err);
	}
	free(repo);
	free(self);
	free(sessions_abs);
	if (fclose(stdout) != 0 && code == EXIT_OK)
		code = EXIT_FAILED;
	return code;
}
