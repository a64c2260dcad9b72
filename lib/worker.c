/*
 * worker_main: the body of every worker program (bllm-plan, bllm-code,
 * bllm-review, bllm-test, bllm-commit, bllm-agent NAME).
 *
 * Reads the task (arguments, plain text on stdin, or an upstream worker's
 * event lines, forwarded as they arrive), runs the agent, and writes the
 * event stream: init first, exactly one result last, whatever happens.
 */
#define _DEFAULT_SOURCE	/* realpath */
#include "cli.h"

#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent.h"
#include "cache.h"
#include "buf.h"
#include "client.h"
#include "config.h"
#include "event.h"
#include "io.h"
#include "json.h"
#include "observe.h"
#include "proc.h"
#include "sandbox.h"
#include "worktree.h"
#include "render.h"
#include "term.h"
#include "status.h"
#include "tools.h"

struct worker_flags {
	const char *config;
	const char *model;
	const char *workdir;
	long max_turns;
	long max_tokens;
	double max_cost_usd;
	bool stream_deltas;
	bool no_forward;
	bool no_cache;
	bool json;			/* the event stream even on a terminal */
	enum color_mode color;
	const char *parent_id;
	const char *session_id;
	const char *sandbox;	/* --sandbox MODE, or NULL: the config's */
};

/* What came in on stdin from upstream workers. */
struct upstream {
	char *task;		/* the user's original request, or NULL */
	char *instructions;	/* this stage's task from the manager (a task event from "manager"), or NULL */
	jv results;		/* every upstream `result` event, oldest first */
	bool failed;		/* an upstream result is an error, or no result came */
	char *error;		/* why reading failed (malformed line), or NULL */
};

static void usage(const char *prog, const char *agent)
{
	printf("Usage: %s %s[OPTION]... [TASK...]\n", prog, agent ? "" : "AGENT ");
	printf("Run the %s agent as a filter: the task comes from TASK, from plain text on\n"
	       "stdin, or from the event lines of an upstream bllm worker on stdin (which are\n"
	       "forwarded). Writes JSON-lines events on stdout (docs/protocol.md): init first,\n"
	       "exactly one result last. When stdout is a terminal it shows the readable view\n"
	       "instead (as bllm-render would, with a status line); --json forces the stream.\n\n",
	       agent ? agent : "AGENT");
	puts("Options:\n"
	     "  -C, --workdir DIR      workspace root the tools are confined to (default: .)\n"
	     "      --config FILE      agent config (default: ./config/agent_config.json,\n"
	     "                         then the installed share directory)\n"
	     "      --model MODEL      model to use (default: the agent's, or $BLLM_MODEL)\n"
	     "      --max-turns N      stop after N model calls (default 50)\n"
	     "      --max-tokens N     stop when N tokens (input+output) are spent\n"
	     "      --max-cost-usd X   stop when X US dollars are spent\n"
	     "      --stream-deltas    also write text_delta events as text streams in\n"
	     "      --no-forward       do not copy upstream events to stdout\n"
	     "      --no-cache         do not answer from (or store in) the response cache\n"
	     "      --json             write the event stream even when stdout is a terminal\n"
	     "      --color WHEN       colour of the terminal view: auto (default), always, never\n"
	     "      --parent-id ID     run id of the run that started this one\n"
	     "      --session-id ID    session this run belongs to\n"
	     "      --sandbox MODE     sandbox (default: Bash runs inside bubblewrap, see\n"
	     "                         docs/security.md) or off (commands run unconfined)\n"
	     "  -h, --help             show this help and exit\n"
	     "      --version          show the version and exit\n\n"
	     "Environment: ANTHROPIC_API_KEY or CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_BASE_URL,\n"
	     "BLLM_MODEL, BLLM_API_TIMEOUT (seconds without data before a call is retried),\n"
	     "BLLM_STATE_DIR (sessions, logs, the response cache), LOG_LEVEL, LOG_FORMAT,\n"
	     "LOG_DIR, BLLM_BWRAP (the bubblewrap to use);\n"
	     "a .env file in the current directory is read too.\n\n"
	     "Exit status: 0 done (and verified), 1 task failed, 2 usage error, 3 upstream\n"
	     "failed, 4 API failed after retries, 5 authentication or config missing,\n"
	     "6 limit reached, 124 timeout, 130 interrupted.");
}

/* Builds the first user message: the task, earlier results, this stage's instructions. */
static char *build_prompt(const struct agent_def *def, const struct upstream *up,
			  const char *instructions)
{
	struct buf b = BUF_INIT;
	int n = jv_array_length(jv_copy(up->results));
	bool have_instructions = instructions && *instructions;
	if (n == 0 && !have_instructions)
		return xstrdup(up->task ? up->task : "");
	buf_printf(&b, "The user's request:\n%s\n", up->task ? up->task : "(not given)");
	if (n > 0)
		buf_appends(&b, "\nResults from earlier stages, oldest first:\n");
	jv_array_foreach(up->results, i, r) {
		jv agent = jv_object_get(jv_copy(r), jv_string("agent"));
		jv status = jv_object_get(jv_copy(r), jv_string("status"));
		jv text = jv_object_get(jv_copy(r), jv_string("text"));
		jv ver = jv_object_get(jv_copy(r), jv_string("verification"));
		buf_printf(&b, "\n### %s (%s)\n%s\n",
			   jv_get_kind(agent) == JV_KIND_STRING ? jv_string_value(agent) : "agent",
			   jv_get_kind(status) == JV_KIND_STRING ? jv_string_value(status) : "unknown",
			   jv_get_kind(text) == JV_KIND_STRING ? jv_string_value(text) : "");
		if (jv_get_kind(ver) == JV_KIND_OBJECT) {
			jv s = jv_dump_string(jv_copy(ver), 0);
			buf_printf(&b, "Verification: %s\n", jv_string_value(s));
			jv_free(s);
		}
		jv_free(agent);
		jv_free(status);
		jv_free(text);
		jv_free(ver);
		jv_free(r);
	}
	buf_printf(&b, "\nNow do your part as the %s (%s).\n", def->name, def->role);
	if (have_instructions)
		buf_printf(&b, "Your task for this stage: %s\n", instructions);
	return buf_detach(&b);
}

static void take_event(struct upstream *up, jv ev)
{
	const char *type = event_type(ev);
	const char *from = json_str(ev, "from");
	if (type && strcmp(type, "task") == 0 && from && strcmp(from, "manager") == 0) {
		const char *text = json_str(ev, "text");
		free(up->instructions);
		up->instructions = text ? xstrdup(text) : NULL;
	} else if (type && strcmp(type, "task") == 0 && !up->task) {
		jv text = jv_object_get(jv_copy(ev), jv_string("text"));
		if (jv_get_kind(text) == JV_KIND_STRING)
			up->task = xstrdup(jv_string_value(text));
		jv_free(text);
	} else if (type && strcmp(type, "context") == 0) {
		/* Earlier results handed over by the manager: context, not a gate. */
		up->results = jv_array_append(up->results, jv_copy(ev));
	} else if (type && strcmp(type, "result") == 0) {
		jv is_error = jv_object_get(jv_copy(ev), jv_string("is_error"));
		if (jv_get_kind(is_error) != JV_KIND_FALSE)
			up->failed = true;
		jv_free(is_error);
		up->results = jv_array_append(up->results, jv_copy(ev));
	}
	jv_free(ev);
}

/*
 * Reads stdin: plain text (the whole of it is the task) or event lines,
 * each forwarded to stdout (or shown in view, when not NULL) as it arrives
 * unless no_forward.
 * Returns 0, or -1 with up->error set for a malformed line.
 */
static int read_stdin(struct upstream *up, bool no_forward, struct event_ctx *ev,
		      struct render *view, volatile sig_atomic_t *signals)
{
	struct line_reader r;
	line_reader_init(&r, 0);
	r.cancel = signals;
	char *line;
	size_t len;
	int mode = 0;	/* 0 unknown, 1 events, 2 plain text */
	struct buf text = BUF_INIT;
	int rc, result = 0;
	bool any_result = false, any_init = false;
	while ((rc = line_reader_next(&r, &line, &len)) > 0) {
		if (mode == 0) {
			if (len == 0 || strspn(line, " \t") == len)
				continue;
			mode = io_looks_like_json(line, len) ? 1 : 2;
		}
		if (mode == 2) {
			buf_append(&text, line, len);
			buf_appendc(&text, '\n');
			continue;
		}
		if (len == 0 || strspn(line, " \t") == len)
			continue;
		jv v = jv_parse_sized(line, (int)len);
		char *why = NULL;
		if (!jv_is_valid(v)) {
			jv msg = jv_invalid_get_msg(v);
			why = xstrdup(jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
									: "not JSON");
			jv_free(msg);
		} else if (!event_is_valid(v, false, &why)) {
			jv_free(v);
		}
		if (why) {
			up->error = xasprintf("stdin line %lu: invalid event: %s (expected one JSON "
					      "object per line from a bllm worker, or plain text)",
					      r.lineno, why);
			free(why);
			result = -1;
			break;
		}
		if (!no_forward && view) {
			render_event(view, v);
		} else if (!no_forward && !ev->closed) {
			line[len] = '\n';
			if (io_write_all(ev->fd, line, len + 1) < 0)
				ev->closed = true;
			line[len] = '\0';
		}
		const char *type = event_type(v);
		any_result = any_result || (type && strcmp(type, "result") == 0);
		any_init = any_init || (type && strcmp(type, "init") == 0);
		take_event(up, v);
	}
	if (rc < 0 && result == 0) {
		up->error = xstrdup(*signals ? "interrupted while reading stdin" : "cannot read stdin");
		result = -1;
	}
	if (mode == 2) {
		while (text.len && (text.data[text.len - 1] == '\n' || text.data[text.len - 1] == ' '))
			text.data[--text.len] = '\0';
		if (text.len)
			up->task = buf_detach(&text);
	} else if (mode == 1 && any_init && !any_result && result == 0) {
		/* An upstream worker started but never finished: it crashed or was killed. */
		up->failed = true;
		up->error = xstrdup("the upstream stream ended without a result event");
	}
	buf_free(&text);
	line_reader_free(&r);
	return result;
}

/* A terminal on stdout: the events go to the readable view, not onto the screen as JSON. */
static void view_tap(void *user, jv ev)
{
	observe_event(NULL, ev);
	render_event(user, ev);
}

static void emit_init(struct event_ctx *ev, const char *model, const char *root, unsigned tools,
		      const struct agent_limits *lim, const struct sandbox_policy *sb)
{
	jv e = event_new(ev, "init");
	e = jv_object_set(e, jv_string("model"), model ? jv_string(model) : jv_null());
	e = jv_object_set(e, jv_string("cwd"), root ? jv_string(root) : jv_null());
	jv names = jv_array();
	for (int id = 0; id < TOOL_COUNT; id++)
		if (tools & TOOL_BIT(id))
			names = jv_array_append(names, jv_string(tool_name((enum tool_id)id)));
	e = jv_object_set(e, jv_string("tools"), names);
	e = jv_object_set(e, jv_string("permission_mode"), jv_string("workspace"));
	jv l = jv_object();
	l = jv_object_set(l, jv_string("max_turns"), jv_number(lim->max_turns));
	l = jv_object_set(l, jv_string("max_tokens"),
			  lim->max_tokens ? jv_number((double)lim->max_tokens) : jv_null());
	l = jv_object_set(l, jv_string("max_cost_usd"),
			  lim->max_cost_usd > 0 ? jv_number(lim->max_cost_usd) : jv_null());
	e = jv_object_set(e, jv_string("limits"), l);
	e = jv_object_set(e, jv_string("pid"), jv_number(getpid()));
	if (sb) {
		jv s = jv_object_set(jv_object(), jv_string("mode"), jv_string(sandbox_mode_name(sb)));
		s = jv_object_set(s, jv_string("network"), jv_bool(sb->network));
		e = jv_object_set(e, jv_string("sandbox"), s);
	}
	event_emit(ev, e);
}

/* Ends a run that never reached the model: init (if not yet sent), result. */
static int finish_early(struct event_ctx *ev, bool *init_sent, const char *prog, const char *status,
			int code, const char *error)
{
	if (error && code != EXIT_UPSTREAM)
		cli_error(prog, "%s", error);
	if (!*init_sent) {
		struct agent_limits none = { 0 };
		emit_init(ev, NULL, NULL, 0, &none, NULL);
		*init_sent = true;
	}
	struct agent_outcome out;
	agent_outcome_set(&out, status, code, error);
	event_emit(ev, agent_result_event(ev, &out));
	agent_outcome_free(&out);
	return code;
}

static int parse_flags(int argc, char **argv, const char *prog, struct worker_flags *f)
{
	enum { O_CONFIG = 256, O_MODEL, O_MAX_TURNS, O_MAX_TOKENS, O_MAX_COST, O_DELTAS,
	       O_NO_FORWARD, O_PARENT, O_SESSION, O_VERSION, O_NO_CACHE, O_SANDBOX, O_JSON, O_COLOR };
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, O_VERSION },
		{ "config", required_argument, NULL, O_CONFIG },
		{ "model", required_argument, NULL, O_MODEL },
		{ "workdir", required_argument, NULL, 'C' },
		{ "max-turns", required_argument, NULL, O_MAX_TURNS },
		{ "max-tokens", required_argument, NULL, O_MAX_TOKENS },
		{ "max-cost-usd", required_argument, NULL, O_MAX_COST },
		{ "stream-deltas", no_argument, NULL, O_DELTAS },
		{ "no-forward", no_argument, NULL, O_NO_FORWARD },
		{ "no-cache", no_argument, NULL, O_NO_CACHE },
		{ "json", no_argument, NULL, O_JSON },
		{ "color", required_argument, NULL, O_COLOR },
		{ "parent-id", required_argument, NULL, O_PARENT },
		{ "session-id", required_argument, NULL, O_SESSION },
		{ "sandbox", required_argument, NULL, O_SANDBOX },
		{ NULL, 0, NULL, 0 },
	};
	opterr = 0;
	int c;
	/* "+": stop at the first operand, so a task may contain words like "-v". */
	while ((c = getopt_long(argc, argv, "+:hC:", opts, NULL)) != -1) {
		switch (c) {
		case 'h': return 1;
		case O_VERSION: return 3;
		case O_CONFIG: f->config = optarg; break;
		case O_MODEL: f->model = optarg; break;
		case 'C': f->workdir = optarg; break;
		case O_MAX_TURNS:
			if (cli_parse_long(optarg, 1, CLI_MAX_TURNS, &f->max_turns) < 0)
				return -cli_usage_error(prog, "--max-turns: expected a whole number from 1, got \"%s\"", optarg);
			break;
		case O_MAX_TOKENS:
			if (cli_parse_long(optarg, 1, LONG_MAX, &f->max_tokens) < 0)
				return -cli_usage_error(prog, "--max-tokens: expected a positive number, got \"%s\"", optarg);
			break;
		case O_MAX_COST:
			if (cli_parse_double(optarg, 1e-12, 1e9, &f->max_cost_usd) < 0)
				return -cli_usage_error(prog, "--max-cost-usd: expected a positive amount, got \"%s\"", optarg);
			break;
		case O_DELTAS: f->stream_deltas = true; break;
		case O_NO_FORWARD: f->no_forward = true; break;
		case O_NO_CACHE: f->no_cache = true; break;
		case O_JSON: f->json = true; break;
		case O_COLOR:
			if (term_parse_color_mode(optarg, &f->color) < 0)
				return -cli_usage_error(prog, "--color: expected auto, always or never, got \"%s\"", optarg);
			break;
		case O_PARENT: f->parent_id = optarg; break;
		case O_SESSION: f->session_id = optarg; break;
		case O_SANDBOX:
			if (strcmp(optarg, "sandbox") != 0 && strcmp(optarg, "off") != 0)
				return -cli_usage_error(prog, "--sandbox: expected \"sandbox\" or \"off\", got \"%s\"", optarg);
			f->sandbox = optarg;
			break;
		case ':':
			return -cli_usage_error(prog, "option '%s' needs a value", argv[optind - 1]);
		default:
			if (optopt)
				return -cli_usage_error(prog, "unknown option '-%c'", optopt);
			return -cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	return 0;
}

int worker_main(int argc, char **argv, const char *agent)
{
	static volatile sig_atomic_t signals;
	const char *prog = cli_progname(argv[0]);
	struct worker_flags f = { .max_turns = 0 };
	int pf = parse_flags(argc, argv, prog, &f);
	if (pf == 1) {
		usage(prog, agent);
		return 0;
	}
	if (pf == 3) {
		printf("%s %s\n", prog, BLLM_VERSION);
		return 0;
	}
	if (pf < 0)
		return -pf;
	if (!agent) {
		if (optind >= argc)
			return cli_usage_error(prog, "missing AGENT: name an agent from the config");
		agent = argv[optind++];
		/* bllm-agent NAME [OPTION]... [TASK...]: options may follow the name too. */
		pf = parse_flags(argc, argv, prog, &f);
		if (pf == 1 || pf == 3) {
			pf == 1 ? usage(prog, agent) : (void)printf("%s %s\n", prog, BLLM_VERSION);
			return 0;
		}
		if (pf < 0)
			return -pf;
	}
	cli_install_signals(&signals);
	cli_protect_secrets();
	proc_set_cancel_flag(&signals);
	proc_become_subreaper();

	struct event_ctx ev;
	event_ctx_init(&ev, agent, f.parent_id, f.session_id, 1);
	bool init_sent = false;
	int code;
	char *err = NULL;
	struct config cfg;
	struct upstream up = { .results = jv_array() };
	struct client *client = NULL;
	struct cache *copts_cache = NULL;
	char *instructions = NULL, *root = NULL, *prompt = NULL, *model = NULL;
	char *prompts_dir = NULL, *config_dir = NULL, *state_dir = NULL, *hidden[3];
	size_t n_hidden = 0;
	struct sandbox_policy sb;
	struct sandbox_host host;
	bool have_sb = false, have_host = false;

	ev.tap = observe_event;
	struct render *view = NULL;
	if (!f.json && isatty(1)) {
		view = render_new(stdout, term_use_color(1, f.color), false);
		render_status_line(view, true);
		ev.fd = -1;
		ev.tap = view_tap;
		ev.tap_user = view;
	}
	if (config_load_dotenv(".env", &err) < 0) {
		cli_start_observing(NULL, &ev, prog);
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE, err);
		goto out_noconfig;
	}
	if (config_load(&cfg, f.config, &err, &code) < 0) {
		cli_start_observing(NULL, &ev, prog);
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), code, err);
		goto out;
	}
	cli_start_observing(&cfg, &ev, prog);
	const struct agent_def *def = config_agent(&cfg, agent);
	if (!def) {
		char *names = config_agent_names(&cfg);
		char *msg = xasprintf("%s: unknown agent \"%s\" (known: %s)", cfg.agent_config_path,
				      agent, names);
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE, msg);
		free(names);
		free(msg);
		goto out;
	}
	root = realpath(f.workdir ? f.workdir : ".", NULL);
	if (!root) {
		char *msg = xasprintf("--workdir %s: no such directory", f.workdir ? f.workdir : ".");
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE, msg);
		free(msg);
		goto out;
	}

	/* The task: operands, with "-" meaning stdin; stdin alone when there are none. */
	struct buf words = BUF_INIT;
	bool want_stdin = optind >= argc;
	for (int i = optind; i < argc; i++) {
		if (strcmp(argv[i], "-") == 0) {
			want_stdin = true;
			continue;
		}
		buf_printf(&words, "%s%s", words.len ? " " : "", argv[i]);
	}
	instructions = buf_detach(&words);
	if (want_stdin && optind >= argc && isatty(0)) {
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE,
				    "no task: give it as an argument, or pipe text or a bllm worker's "
				    "events into stdin");
		goto out;
	}
	if (want_stdin && read_stdin(&up, f.no_forward, &ev, view, &signals) < 0) {
		code = signals ? finish_early(&ev, &init_sent, prog, status_name(ST_INTERRUPTED), EXIT_INTERRUPTED, up.error)
			       : finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE, up.error);
		goto out;
	}
	if (up.instructions && !*instructions) {
		free(instructions);
		instructions = up.instructions;
		up.instructions = NULL;
	}
	if (up.failed) {
		code = finish_early(&ev, &init_sent, prog, status_name(ST_SKIPPED), EXIT_UPSTREAM,
				    up.error ? up.error : "an upstream stage failed; nothing was attempted");
		goto out;
	}
	if (!up.task && !*instructions) {
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_USAGE,
				    "no task: the input was empty; give a task as an argument or on stdin");
		goto out;
	}
	if (!up.task && jv_array_length(jv_copy(up.results)) == 0) {
		up.task = instructions;
		instructions = xstrdup("");
	}

	struct agent_limits lim = {
		.max_turns = f.max_turns ? (int)f.max_turns
					 : (int)config_number(&cfg, "workflow_limits.max_turns", 50),
		.max_tokens = f.max_tokens,
		.max_cost_usd = f.max_cost_usd,
		.max_context_messages = (int)config_number(&cfg, "workflow_limits.max_context_messages", 50),
	};
	model = config_model(&cfg, def->name, f.model);
	observe_set_context(f.session_id, ev.run_id, def->name, def->role, model);
	jv sys_sandbox = config_get(&cfg, "sandbox");
	int sbrc = sandbox_policy_from_json(sys_sandbox, def->sandbox, f.sandbox, &sb, &err);
	jv_free(sys_sandbox);
	if (sbrc < 0) {
		char *msg = xasprintf("%s: %s", cfg.agent_config_path, err);
		code = finish_early(&ev, &init_sent, prog, "error", 2, msg);
		free(msg);
		goto out;
	}
	sb.workspace = root;
	worktree_sandbox_paths(root, &sb);	/* a parallel writer's worktree: git works inside */
	have_sb = true;
	emit_init(&ev, model, root, def->tools, &lim, &sb);
	init_sent = true;
	/* State and config that neither commands nor tools may see, wherever they live. */
	char *cdir = xstrdup(cfg.agent_config_path), *slash = strrchr(cdir, '/');
	if (slash)
		*slash = '\0';
	prompts_dir = xasprintf("%s/../prompts", slash ? cdir : ".");
	config_dir = slash ? cdir : (free(cdir), xstrdup("."));
	state_dir = config_state_dir();
	const char *hide[] = { observe_log_dir(&cfg), config_string(&cfg, "sessions_dir", NULL),
			       state_dir, config_dir, prompts_dir, ".env" };
	for (size_t i = 0; i < 3; i++) {
		char *real = hide[i] ? realpath(hide[i], NULL) : NULL;
		if (real)
			hidden[n_hidden++] = real;
	}
	if (def->tools & TOOL_BIT(TOOL_BASH)) {
		if (!sb.enabled) {
			static const char off[] = "the sandbox is off (--sandbox off or sandbox.mode): "
						  "commands run unconfined, with your own rights";
			cli_error(prog, "warning: %s", off);
			event_log(&ev, "warning", off);
		} else if (sandbox_probe(&sb, &err) < 0) {
			code = finish_early(&ev, &init_sent, prog, "error", 5, err);
			goto out;
		} else {
			sandbox_host_init(&host, &sb, hide, sizeof hide / sizeof hide[0]);
			have_host = true;
		}
	}
	if (up.task && jv_array_length(jv_copy(up.results)) == 0) {
		jv t = event_new(&ev, "task");
		t = jv_object_set(t, jv_string("text"), jv_string(up.task));
		t = jv_object_set(t, jv_string("from"), jv_string("user"));
		event_emit(&ev, t);
	}
	for (int i = 0; i < cfg.n_warnings; i++) {
		/* Config-wide warnings are the manager's to show when there is one. */
		bool general = strstr(cfg.warnings[i], "unknown key") != NULL;
		if (general ? f.parent_id != NULL : !strstr(cfg.warnings[i], def->name))
			continue;
		cli_error(prog, "warning: %s", cfg.warnings[i]);
		event_log(&ev, "warning", cfg.warnings[i]);
	}

	struct client_opts copts;
	if (client_opts_configure(&copts, &cfg, &signals, &err) < 0) {
		code = finish_early(&ev, &init_sent, prog, status_name(ST_ERROR), EXIT_CONFIG, err);
		goto out;
	}
	if (!f.no_cache && config_bool(&cfg, "performance.enable_caching", true))
		copts.cache = copts_cache = cli_open_cache(&cfg, &ev, prog);
	client = client_new(&copts);

	jv prices = config_get(&cfg, "pricing");
	struct agent_opts ao = {
		.def = def,
		.model = model,
		.max_output_tokens = (long)config_number(&cfg, "api.max_tokens", 8192),
		.limits = lim,
		.stream_deltas = f.stream_deltas || view,
		.prompt_cache = config_bool(&cfg, "performance.enable_prompt_caching", true),
		.tools = { .root = root, .allowed = def->tools,
			   .bash_timeout_s = config_number(&cfg, "timeouts.bash_default", 120),
			   .search_timeout_s = config_number(&cfg, "timeouts.search", 30),
			   .output_cap = 30000,
			   .sandbox = have_sb ? &sb : NULL, .sandbox_host = have_host ? &host : NULL,
			   .hidden = (const char *const *)hidden, .n_hidden = n_hidden },
		.client = client,
		.ev = &ev,
		.prices = prices,
		.interrupted = &signals,
	};
	prompt = build_prompt(def, &up, instructions);
	struct agent_outcome outcome;
	agent_run(&ao, jv_string(prompt), &outcome);
	jv_free(prices);
	if (outcome.error && outcome.exit_code != EXIT_OK && outcome.exit_code != EXIT_FAILED)
		cli_error(prog, "%s", outcome.error);
	event_emit(&ev, agent_result_event(&ev, &outcome));
	code = outcome.exit_code;
	agent_outcome_free(&outcome);
out:
	for (size_t i = 0; i < n_hidden; i++)
		free(hidden[i]);
	free(prompts_dir);
	free(config_dir);
	free(state_dir);
	if (have_host)
		sandbox_host_free(&host);
	if (have_sb) {
		sb.workspace = NULL;
		sandbox_policy_free(&sb);
	}
	config_free(&cfg);
out_noconfig:
	client_free(client);
	cache_close(copts_cache);
	observe_close();
	free(err);
	free(prompt);
	free(model);
	free(instructions);
	free(root);
	free(up.task);
	free(up.instructions);
	free(up.error);
	jv_free(up.results);
	event_ctx_free(&ev);
	render_free(view);
	if (fclose(stdout) != 0 && code == 0)
		code = 1;
	return code;
}
