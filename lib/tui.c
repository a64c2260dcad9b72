#define _DEFAULT_SOURCE	/* timegm */
#include "tui.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static const struct tui_command commands[] = {
	{ "/new", TUI_NEW, "", "start a new session (also Ctrl-N)" },
	{ "/resume", TUI_RESUME, "[ID]", "continue a saved session; without ID, pick from the recent ones" },
	{ "/model", TUI_MODEL, "[NAME]", "the manager's model for the next runs (without NAME: show it)" },
	{ "/diff", TUI_DIFF, "", "what the last run changed" },
	{ "/cost", TUI_COST, "", "this session's ledger: calls, tokens and cost per agent" },
	{ "/stats", TUI_STATS, "", "latency, tokens, cost per agent, and the errors" },
	{ "/agents", TUI_AGENTS, "", "the agents of the config" },
	{ "/sessions", TUI_SESSIONS, "", "the saved sessions" },
	{ "/help", TUI_HELP, "", "this list" },
	{ "/quit", TUI_QUIT, "", "leave (also /exit, Ctrl-D, or Ctrl-C twice)" },
};

const struct tui_command *tui_commands(size_t *n)
{
	*n = sizeof commands / sizeof commands[0];
	return commands;
}

static bool blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

enum tui_kind tui_parse_line(const char *line, const char **arg)
{
	while (blank(*line))
		line++;
	*arg = line;
	if (!*line)
		return TUI_EMPTY;
	if (line[0] != '/')
		return TUI_TASK;
	size_t len = 1;
	while (line[len] && !blank(line[len]))
		len++;
	const char *rest = line + len;
	while (blank(*rest))
		rest++;
	*arg = rest;
	if (len == 5 && strncmp(line, "/exit", 5) == 0)
		return TUI_QUIT;
	for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
		if (strlen(commands[i].name) == len && strncmp(line, commands[i].name, len) == 0)
			return commands[i].kind;
	*arg = line;
	return TUI_UNKNOWN;
}

enum tui_complete_kind tui_complete_kind(const char *line, size_t cursor, size_t *word_start)
{
	size_t start = cursor;
	while (start > 0 && !blank(line[start - 1]))
		start--;
	*word_start = start;
	size_t first = 0;
	while (first < cursor && blank(line[first]))
		first++;
	const char *w = line + start;
	size_t len = cursor - start;
	bool first_word = start == first;
	const char *slash = memchr(w, '/', len);
	if (first_word && len > 0 && w[0] == '/' && !memchr(w + 1, '/', len - 1))
		return TUI_COMPLETE_COMMANDS;
	if (first_word && len > 0 && w[0] == '@')
		return TUI_COMPLETE_AGENTS;
	if (slash || (len >= 2 && w[0] == '~' && w[1] == '/'))
		return TUI_COMPLETE_FILES;
	return TUI_COMPLETE_NONE;
}

jv tui_complete_names(const char *word, const char *const *names, size_t n, char **common)
{
	const char *prefix = word[0] == '@' ? "@" : "";
	size_t plen = strlen(prefix), wlen = strlen(word);
	jv out = jv_array();
	char *shared = NULL;
	for (size_t i = 0; i < n; i++) {
		char *cand = xasprintf("%s%s", prefix, names[i]);
		if (strncmp(cand, word, wlen) != 0 || strlen(names[i]) + plen < wlen) {
			free(cand);
			continue;
		}
		if (!shared) {
			shared = xstrdup(cand);
		} else {
			size_t k = 0;
			while (shared[k] && shared[k] == cand[k])
				k++;
			shared[k] = '\0';
		}
		out = jv_array_append(out, jv_string(cand));
		free(cand);
	}
	*common = shared ? shared : xstrdup(word);
	return out;
}

enum tui_interrupt tui_on_interrupt(bool line_empty, double now, double *last_hint)
{
	if (!line_empty) {
		*last_hint = 0;
		return TUI_INT_CLEAR;
	}
	if (*last_hint > 0 && now - *last_hint <= TUI_EXIT_WINDOW_S && now >= *last_hint)
		return TUI_INT_EXIT;
	*last_hint = now;
	return TUI_INT_HINT;
}

const char *tui_format_age(double s, char buf[32])
{
	if (s < 0)
		snprintf(buf, 32, "in the future");
	else if (s < 5)
		snprintf(buf, 32, "just now");
	else if (s < 60)
		snprintf(buf, 32, "%.0fs ago", s);
	else if (s < 3600)
		snprintf(buf, 32, "%ldm ago", (long)(s / 60));
	else if (s < 86400)
		snprintf(buf, 32, "%ldh ago", (long)(s / 3600));
	else
		snprintf(buf, 32, "%ldd ago", (long)(s / 86400));
	return buf;
}

int tui_parse_time(const char *s, time_t *out)
{
	if (!s)
		return -1;
	int y, mo, d, h, mi, sec, n = 0;
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 || n != 19)
		return -1;
	const char *rest = s + n;
	if (*rest == '.') {
		rest++;
		while (*rest >= '0' && *rest <= '9')
			rest++;
	}
	if (strcmp(rest, "Z") != 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 ||
	    sec > 60)
		return -1;
	struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
			 .tm_hour = h, .tm_min = mi, .tm_sec = sec };
	*out = timegm(&tm);
	return 0;
}

/* s on one line (blanks folded to one space), cut to at most max bytes with "…". */
static void append_one_line(struct buf *b, const char *s, int max)
{
	int used = 0;
	bool space = false;
	for (; *s; s++) {
		if (blank(*s)) {
			space = used > 0;
			continue;
		}
		/* count characters, not bytes: continuation bytes are free */
		bool cont = ((unsigned char)*s & 0xC0) == 0x80;
		if (!cont && used + (space ? 1 : 0) >= max - 1 && max > 1) {
			buf_appends(b, "…");
			return;
		}
		if (space && !cont) {
			buf_appendc(b, ' ');
			used++;
			space = false;
		}
		buf_appendc(b, *s);
		used += cont ? 0 : 1;
	}
}

/* The session that row k (from 1) of the picker shows, or an invalid jv. */
static jv picker_row(jv sessions, int max, int k)
{
	int n = jv_get_kind(sessions) == JV_KIND_ARRAY ? jv_array_length(jv_copy(sessions)) : 0;
	int shown = n < max ? n : max;
	if (k < 1 || k > shown)
		return jv_invalid();
	return jv_array_get(jv_copy(sessions), n - k);
}

int tui_format_resume_list(struct buf *out, jv sessions, time_t now, int max, int width)
{
	int k = 1;
	for (;; k++) {
		jv s = picker_row(sessions, max, k);
		if (!jv_is_valid(s)) {
			jv_free(s);
			break;
		}
		const char *id = json_str(s, "session_id");
		jv result = json_get(s, "result");
		const char *status = json_str(result, "status");
		const char *request = json_str(s, "user_request");
		time_t t;
		char age[32] = "-";
		if (tui_parse_time(json_str(s, "created_at"), &t) == 0)
			tui_format_age(difftime(now, t), age);
		jv turns = json_get(s, "turns");
		int nturns = jv_get_kind(turns) == JV_KIND_ARRAY ? jv_array_length(jv_copy(turns)) : 1;
		jv_free(turns);
		struct buf row = BUF_INIT;
		buf_printf(&row, "%3d  %-22s  %-9s  %-11s  ", k, id ? id : "-", age,
			   status ? status : "-");
		int room = width - (int)row.len;
		if (nturns > 1) {
			char more[32];
			snprintf(more, sizeof more, " (+%d more)", nturns - 1);
			append_one_line(&row, request ? request : "-", room - (int)strlen(more));
			buf_appends(&row, more);
		} else {
			append_one_line(&row, request ? request : "-", room);
		}
		buf_printf(out, "%s\n", row.data);
		buf_free(&row);
		jv_free(result);
		jv_free(s);
	}
	return k - 1;
}

char *tui_pick_session(jv sessions, int max, const char *answer)
{
	char *end;
	long k = strtol(answer, &end, 10);
	while (blank(*end))
		end++;
	if (end == answer || *end || k < 1 || k > max)
		return NULL;
	jv s = picker_row(sessions, max, (int)k);
	char *id = jv_is_valid(s) && json_str(s, "session_id") ? xstrdup(json_str(s, "session_id")) : NULL;
	jv_free(s);
	return id;
}

bool tui_resume_reruns(const char *status)
{
	return !status || (strcmp(status, "completed") != 0 && strcmp(status, "failed") != 0);
}

void tui_format_ledger(struct buf *out, jv summary)
{
	jv ledger = json_get(summary, "ledger");
	buf_printf(out, "  %-10s %6s %10s %10s %10s %10s\n", "agent", "calls", "input", "output",
		   "cache read", "cost");
	double calls = 0, in = 0, outt = 0, cache = 0, cost = 0;
	if (jv_get_kind(ledger) == JV_KIND_OBJECT) {
		jv_object_foreach(ledger, k, e) {
			double c = json_num(e, "calls", 0), i = json_num(e, "input_tokens", 0);
			double o = json_num(e, "output_tokens", 0), r = json_num(e, "cache_read_input_tokens", 0);
			double usd = json_num(e, "cost_usd", 0);
			buf_printf(out, "  %-10s %6.0f %10.0f %10.0f %10.0f %10.4f\n", jv_string_value(k), c, i,
				   o, r, usd);
			calls += c, in += i, outt += o, cache += r, cost += usd;
			jv_free(k);
			jv_free(e);
		}
	}
	buf_printf(out, "  %-10s %6.0f %10.0f %10.0f %10.0f %10.4f\n", "total", calls, in, outt, cache, cost);
	jv_free(ledger);
}

/* Adds each string of list (borrowed) to set (consumed) unless it is there. */
static jv add_unique(jv set, jv list)
{
	if (jv_get_kind(list) != JV_KIND_ARRAY)
		return set;
	jv_array_foreach(list, i, f) {
		bool seen = jv_get_kind(f) != JV_KIND_STRING;
		jv_array_foreach(set, j, g) {
			bool same = jv_equal(jv_copy(f), g);
			seen = seen || same;
		}
		set = seen ? set : jv_array_append(set, jv_copy(f));
		jv_free(f);
	}
	return set;
}

static bool is_top_task(jv ev)
{
	const char *type = json_str(ev, "type"), *agent = json_str(ev, "agent");
	jv parent = json_get(ev, "parent_id");
	bool top = jv_get_kind(parent) == JV_KIND_NULL;
	jv_free(parent);
	return top && type && agent && strcmp(type, "task") == 0 && strcmp(agent, "manager") == 0;
}

void tui_last_run_changes(jv events, jv *diffs, jv *files)
{
	*diffs = jv_array();
	*files = jv_array();
	int n = jv_get_kind(events) == JV_KIND_ARRAY ? jv_array_length(jv_copy(events)) : 0;
	int start = 0;
	for (int i = n - 1; i >= 0 && start == 0; i--) {
		jv ev = jv_array_get(jv_copy(events), i);
		if (is_top_task(ev))
			start = i;
		jv_free(ev);
	}
	for (int i = start; i < n; i++) {
		jv ev = jv_array_get(jv_copy(events), i);
		const char *type = json_str(ev, "type");
		if (type && (strcmp(type, "tool_result") == 0 || strcmp(type, "result") == 0)) {
			const char *diff = json_str(ev, "diff");
			jv fc = json_get(ev, "files_changed");
			if (diff && *diff) {
				jv path = jv_get_kind(fc) == JV_KIND_ARRAY ? jv_array_get(jv_copy(fc), 0)
									   : jv_invalid();
				if (jv_get_kind(path) != JV_KIND_STRING) {
					jv_free(path);
					path = jv_string("");
				}
				jv d = jv_object_set(jv_object(), jv_string("path"), path);
				*diffs = jv_array_append(*diffs, jv_object_set(d, jv_string("diff"), jv_string(diff)));
			}
			*files = add_unique(*files, fc);
			jv_free(fc);
		}
		jv_free(ev);
	}
}

char *tui_countdown_prompt(const char *prompt, long seconds)
{
	static const char mark[] = "(continuing in ";
	const char *at = strstr(prompt, mark);
	if (!at)
		return xstrdup(prompt);
	const char *digits = at + sizeof mark - 1, *end = digits;
	while (*end >= '0' && *end <= '9')
		end++;
	if (end == digits || strncmp(end, "s)", 2) != 0)
		return xstrdup(prompt);
	return xasprintf("%.*s%ld%s", (int)(digits - prompt), prompt, seconds < 0 ? 0 : seconds, end);
}
