/* bllm-render: turns a bllm event stream into readable text. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "status.h"
#include "event.h"
#include "io.h"
#include "render.h"
#include "report.h"
#include "term.h"

static void usage(void)
{
	puts("Usage: bllm-render [OPTION]... [FILE]\n"
	     "Read bllm events (JSON lines) from FILE or stdin and write them as readable\n"
	     "text: agent headers, text, one line per tool call and result, summaries.\n"
	     "Agent text is rendered as Markdown, wrapped to the terminal's width (80\n"
	     "columns when not a terminal), without the workflow's control words\n"
	     "(TERMINATE, VERDICT: lines). Write and Edit show their diff (folded past 40\n"
	     "lines), a failed command its last 20 lines of output.\n"
	     "Lines that are not events are passed through unchanged.\n\n"
	     "  -v, --verbose        also show the task, token usage per call, whole diffs\n"
	     "                       and a failed command's whole output\n"
	     "  -f, --format FORMAT  text (default), or markdown: one report at the end\n"
	     "                       (outcome, per-agent ledger, verification commands\n"
	     "                       with exit codes, files changed), e.g. for a CI job\n"
	     "                       summary ($GITHUB_STEP_SUMMARY)\n"
	     "      --color[=WHEN]   colour: auto (default), always, never\n"
	     "  -h, --help           show this help and exit\n"
	     "      --version        show the version and exit\n\n"
	     "Exit status: the exit_code of the last result event (1 when there was none),\n"
	     "so `bllm-plan TASK | bllm-render` fails when the plan failed; 2 for usage errors.");
}

int main(int argc, char **argv)
{
	const char *prog = cli_progname(argv[0]);
	static const struct option opts[] = {
		{ "verbose", no_argument, NULL, 'v' },
		{ "color", optional_argument, NULL, 'c' },
		{ "format", required_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	enum color_mode mode = COLOR_AUTO;
	bool verbose = false;
	struct report *report = NULL;
	int ch;
	opterr = 0;
	/* "+": stop at the first operand (a file may be named like an option). */
	while ((ch = getopt_long(argc, argv, "+vhf:", opts, NULL)) != -1) {
		switch (ch) {
		case 'v': verbose = true; break;
		case 'c':
			if (term_parse_color_mode(optarg ? optarg : "always", &mode) < 0)
				return cli_usage_error(prog, "--color: expected auto, always or never");
			break;
		case 'f':
			if (strcmp(optarg, "markdown") == 0 && !report)
				report = report_new();
			else if (strcmp(optarg, "text") != 0 && strcmp(optarg, "markdown") != 0)
				return cli_usage_error(prog, "--format: expected text or markdown, got \"%s\"", optarg);
			break;
		case 'h': usage(); return 0;
		case 'V': printf("bllm-render %s\n", BLLM_VERSION); return 0;
		default: return cli_usage_error(prog, "unknown option '%s'", argv[optind - 1]);
		}
	}
	int fd = 0;
	if (optind < argc && strcmp(argv[optind], "-") != 0) {
		fd = open(argv[optind], O_RDONLY);
		if (fd < 0) {
			cli_error(prog, "%s: cannot open: %s", argv[optind], strerror(errno));
			return EXIT_USAGE;
		}
	}
	signal(SIGPIPE, SIG_IGN);
	struct render *r = render_new(stdout, term_use_color(1, mode), verbose);
	struct line_reader lr;
	line_reader_init(&lr, fd);
	char *line;
	size_t len;
	int last_exit = 1;
	while (line_reader_next(&lr, &line, &len) > 0) {
		jv ev = io_looks_like_json(line, len) ? jv_parse_sized(line, (int)len) : jv_invalid();
		const char *type = jv_is_valid(ev) ? event_type(ev) : NULL;
		if (report) {
			if (type)
				report_add(report, ev);
		} else if (!type) {
			render_flush(r);
			printf("%s\n", line);
		}
		if (type) {
			if (!report)
				render_event(r, ev);
			jv parent = jv_object_get(jv_copy(ev), jv_string("parent_id"));
			jv code = jv_object_get(jv_copy(ev), jv_string("exit_code"));
			if (strcmp(type, "result") == 0 && jv_get_kind(code) == JV_KIND_NUMBER &&
			    jv_get_kind(parent) == JV_KIND_NULL)
				last_exit = (int)jv_number_value(code);
			jv_free(parent);
			jv_free(code);
		}
		jv_free(ev);
		if (ferror(stdout))
			break;	/* the reader went away: stop quietly, upstream gets EPIPE */
	}
	line_reader_free(&lr);
	if (report) {
		struct buf md = BUF_INIT;
		report_markdown(report, &md);
		fwrite(md.data, 1, md.len, stdout);
		buf_free(&md);
		report_free(report);
	}
	render_free(r);
	if (fclose(stdout) != 0)
		return 1;
	return last_exit;
}
