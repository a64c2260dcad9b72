#define _GNU_SOURCE	/* memrchr */
#include "render.h"
#include "usage.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "control.h"
#include "diff.h"
#include "md.h"
#include "event.h"
#include "json.h"
#include "runtags.h"
#include "status.h"
#include "statusline.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BLUE "\033[34m"
#define C_CYAN "\033[36m"

/*
 * Locking: everything written to out, and the status, are guarded by the
 * FILE's own lock (flockfile), which the status line's ticker thread takes
 * too, so a redraw never lands in the middle of a record line.
 */
struct render {
	FILE *out;
	bool color;
	bool verbose;
	char *delta_run;	/* run whose text was streamed as deltas */
	char *delta_indent;	/* its indent */
	struct buf pending;	/* streamed text after its last newline, not shown yet */
	size_t pending_shown;	/* bytes of pending already given to the Markdown stream */
	struct md_stream *md;	/* the streamed text's Markdown, or NULL */
	/* The status line (render_status_line). */
	bool live;
	struct statusline st;
	bool drawn;		/* the status line is on screen (the cursor at its end) */
	bool hidden;		/* render_flush took it away until the next event */
	pthread_t ticker;
	bool ticker_on;
	bool stopping;
	struct run_tags tags;	/* workers under way, to tag their lines when several run */
	char tagged[64];	/* the indent of the event being rendered, with its tag */
};

static void end_delta(struct render *r);

struct render *render_new(FILE *out, bool color, bool verbose)
{
	struct render *r = xcalloc(1, sizeof *r);
	r->out = out;
	r->color = color;
	r->verbose = verbose;
	statusline_init(&r->st);
	return r;
}

static double mono_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int render_width(const struct render *r)
{
	struct winsize ws;
	if (ioctl(fileno(r->out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col;
	return 80;
}

/* Takes the status line off the screen (the FILE's lock held). */
static void status_clear(struct render *r)
{
	if (r->drawn) {
		fputs("\r\033[K", r->out);
		r->drawn = false;
	}
}

/* Draws the status line as the screen's last line, cursor at its end (lock held). */
static void status_draw(struct render *r)
{
	if (!r->live || r->hidden || !r->st.active)
		return;
	struct buf b = BUF_INIT;
	/* One column short of the width: a full line would wrap on some terminals. */
	statusline_format(&r->st, mono_now(), render_width(r) - 1, r->color, &b);
	fputs("\r\033[K", r->out);
	fputs(buf_str(&b), r->out);
	r->drawn = true;
	buf_free(&b);
}

/* Redraws the status line a few times a second (the spinner, the clock). */
static void *ticker_main(void *arg)
{
	struct render *r = arg;
	for (;;) {
		struct timespec ts = { 0, 200 * 1000000L };
		nanosleep(&ts, NULL);
		flockfile(r->out);
		bool stop = r->stopping;
		if (!stop && r->drawn) {
			status_draw(r);
			fflush(r->out);
		}
		funlockfile(r->out);
		if (stop)
			return NULL;
	}
}

void render_status_line(struct render *r, bool on)
{
	if (!on || r->live || !isatty(fileno(r->out)))
		return;
	r->live = true;
	r->ticker_on = pthread_create(&r->ticker, NULL, ticker_main, r) == 0;
}

void render_free(struct render *r)
{
	if (!r)
		return;
	if (r->ticker_on) {
		flockfile(r->out);
		r->stopping = true;
		funlockfile(r->out);
		pthread_join(r->ticker, NULL);
	}
	flockfile(r->out);
	end_delta(r);	/* a stream cut short still shows what came */
	funlockfile(r->out);
	render_flush(r);
	free(r->delta_run);
	free(r->delta_indent);
	buf_free(&r->pending);
	md_stream_free(r->md);
	free(r);
}

FILE *render_file(const struct render *r)
{
	return r->out;
}

void render_flush(struct render *r)
{
	if (!r)
		return;
	flockfile(r->out);
	status_clear(r);
	r->hidden = true;
	fflush(r->out);
	funlockfile(r->out);
}

/*
 * Appends text (len bytes) without its control lines and words, each line
 * ending in a newline: "a\n\n" is two lines, "a\nb" too.
 */
static void filter_control(const char *text, size_t len, size_t shown, struct buf *out)
{
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		while (i + n < len && text[i + n] != '\n')
			n++;
		if (!control_line(text + i, n)) {
			/* the first shown bytes of the first line went to Markdown already */
			size_t keep = control_line_keep(text + i, n), skip = i == 0 ? shown : 0;
			buf_append(out, text + i + skip, keep > skip ? keep - skip : 0);
			buf_appendc(out, '\n');
		}
		i += n + 1;
	}
}

/* The Markdown options for text under indent in: the terminal's width less the indent. */
static struct md_opts md_options(const struct render *r, const char *in)
{
	int width = render_width(r) - (int)strlen(in);
	struct md_opts o = { .width = width < 20 ? 20 : width, .color = r->color };
	return o;
}

/* Prints rendered text, every non-empty line indented by in. */
static void put_rendered(struct render *r, const char *in, const struct buf *text)
{
	for (size_t i = 0; i < text->len;) {
		size_t n = 0;
		while (i + n < text->len && text->data[i + n] != '\n')
			n++;
		fprintf(r->out, "%s%.*s\n", n ? in : "", (int)n, text->data + i);
		i += n + 1;
	}
}

/* A whole text block: control words dropped, Markdown rendered (lib/md.h). */
static void put_text(struct render *r, const char *in, const char *text, size_t len)
{
	struct buf clean = BUF_INIT, md = BUF_INIT;
	filter_control(text, len, 0, &clean);
	struct md_opts o = md_options(r, in);
	md_render(buf_str(&clean), clean.len, &o, &md);
	put_rendered(r, in, &md);
	buf_free(&clean);
	buf_free(&md);
}

/*
 * Streamed text: whole lines go (without control words) to the Markdown
 * stream, which gives back the blocks they complete; the rest is held.
 */
static void put_delta(struct render *r, const char *in, const char *text)
{
	buf_appends(&r->pending, text);
	const char *nl = memrchr(r->pending.data, '\n', r->pending.len);
	size_t upto = nl ? (size_t)(nl - r->pending.data) + 1 : 0;
	struct md_opts o = md_options(r, in);
	if (!r->md)
		r->md = md_stream_new(&o);
	md_stream_set_width(r->md, o.width);
	struct buf clean = BUF_INIT, md = BUF_INIT;
	if (upto) {
		filter_control(r->pending.data, upto, r->pending_shown, &clean);
		buf_consume(&r->pending, upto);
		r->pending_shown = 0;
	}
	/* Of the open line, what no control word can take back (a long paragraph streams by lines). */
	size_t shown = control_open_line_shown(r->pending.data ? r->pending.data : "", r->pending.len);
	if (shown > r->pending_shown) {
		buf_append(&clean, r->pending.data + r->pending_shown, shown - r->pending_shown);
		r->pending_shown = shown;
	}
	md_stream_feed(r->md, buf_str(&clean), clean.len, &md);
	put_rendered(r, in, &md);
	buf_free(&clean);
	buf_free(&md);
}

/* Shows what streamed text is still held: the last line, the open block. */
static void end_delta(struct render *r)
{
	const char *in = r->delta_indent ? r->delta_indent : "";
	if (!r->md && !r->pending.len)
		return;
	struct md_opts o = md_options(r, in);
	if (!r->md)
		r->md = md_stream_new(&o);
	struct buf clean = BUF_INIT, md = BUF_INIT;
	filter_control(r->pending.data ? r->pending.data : "", r->pending.len, r->pending_shown, &clean);
	md_stream_feed(r->md, buf_str(&clean), clean.len, &md);
	md_stream_finish(r->md, &md);
	put_rendered(r, in, &md);
	buf_free(&clean);
	buf_free(&md);
	md_stream_free(r->md);
	r->md = NULL;
	buf_reset(&r->pending);
	r->pending_shown = 0;
}

static const char *c(const struct render *r, const char *code)
{
	return r->color ? code : "";
}

void render_files_changed(struct render *r, jv files)
{
	int n = jv_get_kind(files) == JV_KIND_ARRAY ? jv_array_length(jv_copy(files)) : 0;
	flockfile(r->out);
	fprintf(r->out, "\nfiles changed:%s", n ? "" : " none");
	for (int i = 0; i < n; i++) {
		jv p = jv_array_get(jv_copy(files), i);
		fprintf(r->out, "%s%s", i ? ", " : " ",
			jv_get_kind(p) == JV_KIND_STRING ? jv_string_value(p) : "?");
		jv_free(p);
	}
	fputc('\n', r->out);
	funlockfile(r->out);
}

const char *render_tokens(long n, char buf[32])
{
	if (n >= 1000000)
		snprintf(buf, 32, "%.1fM", (double)n / 1e6);
	else if (n >= 10000)
		snprintf(buf, 32, "%.1fk", (double)n / 1e3);
	else
		snprintf(buf, 32, "%ld", n);
	return buf;
}

/* A field as a string ("" when missing); borrowed from ev. */
static const char *s(jv ev, const char *key)
{
	const char *v = json_str(ev, key);
	return v ? v : "";
}

/* A worker's lines are indented, and tagged with the worker while several run at once. */
static const char *indent(struct render *r, jv ev)
{
	jv p = jv_object_get(jv_copy(ev), jv_string("parent_id"));
	bool child = jv_get_kind(p) == JV_KIND_STRING;
	jv_free(p);
	const char *tag = child ? run_tags_get(&r->tags, json_str(ev, "run_id")) : NULL;
	if (!tag)
		return child ? "  " : "";
	snprintf(r->tagged, sizeof r->tagged, "  [%s] ", tag);
	return r->tagged;
}

/* The first line of text, cut to max characters, into b. */
static void one_line(struct buf *b, const char *text, size_t max)
{
	size_t n = strcspn(text, "\n");
	bool cut = n > max || text[n] == '\n';
	if (n > max)
		n = max;
	buf_append(b, text, n);
	if (cut)
		buf_appends(b, " …");
}

/* What a tool call is about, in a few words: its path, pattern or command. */
static void tool_summary(struct buf *b, jv ev)
{
	jv input = jv_object_get(jv_copy(ev), jv_string("input"));
	static const char *keys[] = { "file_path", "pattern", "command", "path", "task" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
		const char *v = jv_get_kind(input) == JV_KIND_OBJECT ? s(input, keys[i]) : "";
		if (*v) {
			one_line(b, v, 100);
			break;
		}
	}
	jv_free(input);
}

/* Lines of a failed command's output shown without -v (the last ones). */
#define RENDER_TAIL_LINES 20
/* Hunk lines of a Write/Edit diff shown without -v. */
#define RENDER_DIFF_LINES 40

/* Prints each line of text (len bytes) with a prefix. */
static void put_lines(struct render *r, const char *prefix, const char *text, size_t len)
{
	for (size_t i = 0; i < len;) {
		size_t n = 0;
		while (i + n < len && text[i + n] != '\n')
			n++;
		fprintf(r->out, "%s%.*s\n", prefix, (int)n, text + i);
		i += n + 1;
	}
}

/* A Write/Edit result's (ev, borrowed) change as a compact coloured diff, folded unless verbose. */
static void show_diff(struct render *r, jv ev, const char *in)
{
	jv files = json_get(ev, "files_changed");
	jv first = jv_get_kind(files) == JV_KIND_ARRAY && jv_array_length(jv_copy(files)) > 0
			   ? jv_array_get(jv_copy(files), 0) : jv_string("");
	struct buf d = BUF_INIT;
	diff_render(jv_get_kind(first) == JV_KIND_STRING ? jv_string_value(first) : "", s(ev, "diff"),
		    r->color, r->verbose ? 0 : RENDER_DIFF_LINES, &d);
	char *prefix = xasprintf("%s    ", in);
	put_lines(r, prefix, d.data ? d.data : "", d.len);
	free(prefix);
	buf_free(&d);
	jv_free(first);
	jv_free(files);
}

/* A failed command's output: the last RENDER_TAIL_LINES lines (all with -v). */
static void show_tail(struct render *r, const char *content, const char *in)
{
	size_t len = strlen(content);
	while (len && content[len - 1] == '\n')
		len--;
	size_t start = len, lines = 0;
	while (start > 0 && (r->verbose || lines < RENDER_TAIL_LINES)) {
		start--;
		if (content[start] == '\n' && ++lines == RENDER_TAIL_LINES && !r->verbose) {
			start++;
			break;
		}
	}
	char *prefix = xasprintf("%s    %s│%s ", in, c(r, C_DIM), c(r, C_RESET));
	if (start > 0)
		fprintf(r->out, "%s    %s… %s%s\n", in, c(r, C_DIM), "earlier lines hidden (-v shows all)",
			c(r, C_RESET));
	put_lines(r, prefix, content + start, len - start);
	free(prefix);
}

static void render_result(struct render *r, jv ev, const char *in)
{
	const char *status = s(ev, "status");
	bool ok = status_is(status, ST_COMPLETED);
	char tok[32];
	jv usage = jv_object_get(jv_copy(ev), jv_string("usage"));
	long tokens = 0;
	if (jv_get_kind(usage) == JV_KIND_OBJECT)
		tokens = usage_json_tokens(usage);
	jv_free(usage);
	fprintf(r->out, "%s%s%s %s %s%s (exit %d) · %d turns · %s tokens", in,
		c(r, ok ? C_GREEN : C_RED), ok ? "✓" : "✗", s(ev, "agent"), status, c(r, C_RESET),
		(int)json_num(ev, "exit_code", 0), (int)json_num(ev, "num_turns", 0), render_tokens(tokens, tok));
	if (json_num(ev, "tokens_saved", 0) > 0)
		fprintf(r->out, " (cached: %s tokens saved)",
			render_tokens((long)json_num(ev, "tokens_saved", 0), tok));
	double cost = json_num(ev, "total_cost_usd", -1);
	if (cost >= 0)
		fprintf(r->out, " · $%.4f", cost);
	else
		fprintf(r->out, " · cost unknown");
	fprintf(r->out, " · %.1fs\n", json_num(ev, "duration_ms", 0) / 1000.0);
	jv ver = jv_object_get(jv_copy(ev), jv_string("verification"));
	if (jv_get_kind(ver) == JV_KIND_OBJECT) {
		jv cmds = jv_object_get(jv_copy(ver), jv_string("commands"));
		jv verified = jv_object_get(jv_copy(ver), jv_string("verified"));
		fprintf(r->out, "%s  verification: %s\n", in,
			jv_get_kind(verified) == JV_KIND_TRUE ? "verified" : "NOT verified");
		if (jv_get_kind(cmds) == JV_KIND_ARRAY) {
			jv_array_foreach(cmds, i, cmd) {
				int code = (int)json_num(cmd, "exit_code", -1);
				fprintf(r->out, "%s    %s%s%s %s (exit %d)\n", in,
					c(r, code == 0 ? C_GREEN : C_RED), code == 0 ? "✓" : "✗",
					c(r, C_RESET), s(cmd, "command"), code);
				jv_free(cmd);
			}
		}
		jv_free(cmds);
		jv_free(verified);
	}
	jv_free(ver);
	if (!ok && *s(ev, "error"))
		fprintf(r->out, "%s  %sreason:%s %s\n", in, c(r, C_RED), c(r, C_RESET), s(ev, "error"));
}

/* The lines for one event (borrowed) of the given type; the FILE's lock held. */
static void render_one(struct render *r, jv ev, const char *type);

void render_event(struct render *r, jv ev)
{
	const char *type = event_type(ev);
	if (!type)
		return;
	flockfile(r->out);
	status_clear(r);
	r->hidden = false;
	render_one(r, ev, type);
	if (r->live) {
		statusline_update(&r->st, ev, mono_now());
		status_draw(r);
	}
	fflush(r->out);
	funlockfile(r->out);
}

static void render_one(struct render *r, jv ev, const char *type)
{
	if (strcmp(type, "init") == 0 && json_str(ev, "parent_id"))
		run_tags_open(&r->tags, json_str(ev, "run_id"), json_str(ev, "agent"));
	else if (strcmp(type, "worker_start") == 0)
		run_tags_started(&r->tags, 1);
	const char *in = indent(r, ev);
	if (strcmp(type, "text_delta") == 0) {
		if (!r->delta_run || strcmp(r->delta_run, s(ev, "run_id")) != 0) {
			end_delta(r);
			free(r->delta_run);
			free(r->delta_indent);
			r->delta_run = xstrdup(s(ev, "run_id"));
			r->delta_indent = xstrdup(in);
		}
		put_delta(r, in, s(ev, "text"));
		return;
	}
	if (strcmp(type, "text") == 0 && r->delta_run &&
	    strcmp(r->delta_run, s(ev, "run_id")) == 0) {
		/* Already shown as it streamed. */
		end_delta(r);
		free(r->delta_run);
		r->delta_run = NULL;
		return;
	}
	end_delta(r);
	struct buf b = BUF_INIT;
	if (strcmp(type, "init") == 0) {
		fprintf(r->out, "%s%s── %s%s%s", in, c(r, C_BOLD), s(ev, "agent"),
			*s(ev, "model") ? " · " : "", s(ev, "model"));
		fprintf(r->out, " ──%s\n", c(r, C_RESET));
	} else if (strcmp(type, "task") == 0 && r->verbose) {
		one_line(&b, s(ev, "text"), 200);
		fprintf(r->out, "%s%stask:%s %s\n", in, c(r, C_DIM), c(r, C_RESET), buf_str(&b));
	} else if (strcmp(type, "text") == 0) {
		put_text(r, in, s(ev, "text"), strlen(s(ev, "text")));
	} else if (strcmp(type, "tool_use") == 0) {
		tool_summary(&b, ev);
		fprintf(r->out, "%s  %s→ %s%s %s\n", in, c(r, C_CYAN), s(ev, "name"), c(r, C_RESET),
			buf_str(&b));
	} else if (strcmp(type, "tool_result") == 0) {
		jv is_error = jv_object_get(jv_copy(ev), jv_string("is_error"));
		bool err = jv_get_kind(is_error) == JV_KIND_TRUE;
		jv_free(is_error);
		double code = json_num(ev, "exit_code", -1);
		const char *content = s(ev, "content");
		size_t lines = 0;
		for (const char *p = content; *p; p++)
			lines += *p == '\n';
		const char *tool = s(ev, "name");
		size_t items = lines + (*content && content[strlen(content) - 1] != '\n');
		if (code >= 0) {
			buf_printf(&b, "exit %d", (int)code);
		} else if (!err && strcmp(tool, "Read") == 0) {
			buf_printf(&b, "%zu lines", items);
		} else if (!err && (strcmp(tool, "Glob") == 0 || strcmp(tool, "Grep") == 0) &&
			   strncmp(content, "no ", 3) != 0) {
			buf_printf(&b, "%zu %s", items, strcmp(tool, "Glob") == 0 ? "files" : "matches");
		} else {
			size_t first = strcspn(content, "\n");
			buf_append(&b, content, first < 100 ? first : 100);
			if (first > 100)
				buf_appends(&b, " …");
			if (lines > 0 && content[first + 1])
				buf_printf(&b, " (+%zu lines)", lines);
		}
		fprintf(r->out, "%s  %s%s%s %s\n", in, c(r, err ? C_RED : C_DIM), err ? "✗" : "←",
			c(r, C_RESET), buf_str(&b));
		if (*s(ev, "diff"))
			show_diff(r, ev, in);
		else if (code > 0 || (err && strcmp(tool, "Bash") == 0))
			show_tail(r, content, in);
	} else if (strcmp(type, "retry") == 0) {
		fprintf(r->out, "%s  %s↻ retry %d/%d in %.1fs:%s %s\n", in, c(r, C_YELLOW),
			(int)json_num(ev, "attempt", 0) + 1, (int)json_num(ev, "max_attempts", 0),
			json_num(ev, "delay_ms", 0) / 1000.0, c(r, C_RESET), s(ev, "error"));
	} else if (strcmp(type, "log") == 0) {
		fprintf(r->out, "%s  %s! %s:%s %s\n", in, c(r, C_YELLOW), s(ev, "level"), c(r, C_RESET),
			s(ev, "message"));
	} else if (strcmp(type, "usage") == 0 && r->verbose) {
		fprintf(r->out, "%s  %susage: in %d, out %d, cache read %d, write %d, %d ms%s\n", in,
			c(r, C_DIM), (int)json_num(ev, USAGE_INPUT, 0), (int)json_num(ev, USAGE_OUTPUT, 0),
			(int)json_num(ev, USAGE_CACHE_READ, 0),
			(int)json_num(ev, USAGE_CACHE_CREATION, 0), (int)json_num(ev, "latency_ms", 0),
			c(r, C_RESET));
	} else if (strcmp(type, "worker_start") == 0) {
		fprintf(r->out, "%s%s▶ %s%s (timeout %ds)\n", in, c(r, C_BLUE), s(ev, "worker"),
			c(r, C_RESET), (int)json_num(ev, "timeout_s", 0));
	} else if (strcmp(type, "worker_end") == 0) {
		fprintf(r->out, "%s%s■ %s: %s%s (%.1fs)\n", in, c(r, C_BLUE), s(ev, "worker"),
			s(ev, "status"), c(r, C_RESET), json_num(ev, "duration_ms", 0) / 1000.0);
	} else if (strcmp(type, "cycle") == 0) {
		fprintf(r->out, "%s%s%s cycle %d/%d%s\n", in, c(r, C_BOLD), s(ev, "label"),
			(int)json_num(ev, "n", 0), (int)json_num(ev, "max", 0), c(r, C_RESET));
	} else if (strcmp(type, "intervention") == 0) {
		fprintf(r->out, "%s%s✋ %s%s %s\n", in, c(r, C_YELLOW), s(ev, "action"), c(r, C_RESET),
			s(ev, "message"));
	} else if (strcmp(type, "result") == 0) {
		render_result(r, ev, in);
	}
	if (strcmp(type, "result") == 0)
		run_tags_close(&r->tags, json_str(ev, "run_id"));
	else if (strcmp(type, "worker_end") == 0) {
		run_tags_started(&r->tags, -1);
		run_tags_close(&r->tags, json_str(ev, "worker_run_id"));
	}
	buf_free(&b);
}
