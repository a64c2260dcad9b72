#include "render.h"
#include "usage.h"

#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event.h"
#include "json.h"

#define C_RESET "\033[0m"
#define C_BOLD "\033[1m"
#define C_DIM "\033[2m"
#define C_RED "\033[31m"
#define C_GREEN "\033[32m"
#define C_YELLOW "\033[33m"
#define C_BLUE "\033[34m"
#define C_CYAN "\033[36m"

struct render {
	FILE *out;
	bool color;
	bool verbose;
	bool mid_line;		/* streamed text left the cursor mid-line */
	char *delta_run;	/* run whose text was streamed as deltas */
};

struct render *render_new(FILE *out, bool color, bool verbose)
{
	struct render *r = xcalloc(1, sizeof *r);
	r->out = out;
	r->color = color;
	r->verbose = verbose;
	return r;
}

void render_free(struct render *r)
{
	if (!r)
		return;
	render_flush(r);
	free(r->delta_run);
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
	if (r->mid_line) {
		fputc('\n', r->out);
		r->mid_line = false;
	}
	fflush(r->out);
}

static const char *c(const struct render *r, const char *code)
{
	return r->color ? code : "";
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

static const char *indent(jv ev)
{
	jv p = jv_object_get(jv_copy(ev), jv_string("parent_id"));
	bool child = jv_get_kind(p) == JV_KIND_STRING;
	jv_free(p);
	return child ? "  " : "";
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

static void render_result(struct render *r, jv ev, const char *in)
{
	const char *status = s(ev, "status");
	bool ok = strcmp(status, "completed") == 0;
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

void render_event(struct render *r, jv ev)
{
	const char *type = event_type(ev);
	if (!type)
		return;
	const char *in = indent(ev);
	if (strcmp(type, "text_delta") == 0) {
		if (!r->delta_run || strcmp(r->delta_run, s(ev, "run_id")) != 0) {
			free(r->delta_run);
			r->delta_run = xstrdup(s(ev, "run_id"));
		}
		for (const char *p = s(ev, "text"); *p; p++) {
			if (!r->mid_line)
				fputs(in, r->out);
			fputc(*p, r->out);
			r->mid_line = *p != '\n';
		}
		fflush(r->out);
		return;
	}
	if (strcmp(type, "text") == 0 && r->delta_run &&
	    strcmp(r->delta_run, s(ev, "run_id")) == 0) {
		/* Already shown as it streamed. */
		render_flush(r);
		return;
	}
	render_flush(r);
	struct buf b = BUF_INIT;
	if (strcmp(type, "init") == 0) {
		fprintf(r->out, "%s%s── %s%s%s", in, c(r, C_BOLD), s(ev, "agent"),
			*s(ev, "model") ? " · " : "", s(ev, "model"));
		fprintf(r->out, " ──%s\n", c(r, C_RESET));
	} else if (strcmp(type, "task") == 0 && r->verbose) {
		one_line(&b, s(ev, "text"), 200);
		fprintf(r->out, "%s%stask:%s %s\n", in, c(r, C_DIM), c(r, C_RESET), buf_str(&b));
	} else if (strcmp(type, "text") == 0) {
		for (const char *p = s(ev, "text"); *p;) {
			size_t n = strcspn(p, "\n");
			fprintf(r->out, "%s%.*s\n", in, (int)n, p);
			p += n + (p[n] == '\n');
		}
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
		if (code >= 0 && !err) {
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
	} else if (strcmp(type, "retry") == 0) {
		fprintf(r->out, "%s  %s↻ retry %d/%d in %.1fs:%s %s\n", in, c(r, C_YELLOW),
			(int)json_num(ev, "attempt", 0) + 1, (int)json_num(ev, "max_attempts", 0),
			json_num(ev, "delay_ms", 0) / 1000.0, c(r, C_RESET), s(ev, "error"));
	} else if (strcmp(type, "log") == 0) {
		fprintf(r->out, "%s  %s! %s:%s %s\n", in, c(r, C_YELLOW), s(ev, "level"), c(r, C_RESET),
			s(ev, "message"));
	} else if (strcmp(type, "usage") == 0 && r->verbose) {
		fprintf(r->out, "%s  %susage: in %d, out %d, cache read %d, write %d, %d ms%s\n", in,
			c(r, C_DIM), (int)json_num(ev, "input_tokens", 0), (int)json_num(ev, "output_tokens", 0),
			(int)json_num(ev, "cache_read_input_tokens", 0),
			(int)json_num(ev, "cache_creation_input_tokens", 0), (int)json_num(ev, "latency_ms", 0),
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
	buf_free(&b);
	fflush(r->out);
}
