#define _DEFAULT_SOURCE	/* DT_DIR */
#include "tui_edit.h"

#include <dirent.h>
#include <errno.h>
#include <histedit.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <wchar.h>

#include "buf.h"
#include "tui.h"

struct tui_edit {
	EditLine *el;
	History *hist;
	FILE *in, *out;
	struct tui_edit_opts o;
	char *prompt;
	bool interrupted, line_empty, new_session;
};

static char *prompt_fn(EditLine *el)
{
	struct tui_edit *e = NULL;
	el_get(el, EL_CLIENTDATA, &e);
	return e && e->prompt ? e->prompt : "";
}

/*
 * Reads one character (UTF-8 decoded). A signal while waiting ends the
 * line: Ctrl-C is reported to the caller with whether the line had text.
 */
static int getc_fn(EditLine *el, wchar_t *wc)
{
	struct tui_edit *e = NULL;
	el_get(el, EL_CLIENTDATA, &e);
	char bytes[MB_LEN_MAX];
	size_t n = 0;
	mbstate_t st;
	memset(&st, 0, sizeof st);
	for (;;) {
		ssize_t got = read(fileno(e->in), bytes + n, 1);
		if (got < 0 && errno == EINTR) {
			if (e->o.signals && *e->o.signals > 0) {
				const LineInfo *li = el_line(el);
				e->interrupted = true;
				e->line_empty = li->lastchar == li->buffer;
				return 0;
			}
			continue;
		}
		if (got <= 0)
			return got == 0 ? 0 : -1;
		n++;
		size_t r = mbrtowc(wc, bytes, n, &st);
		if (r == (size_t)-2 && n < sizeof bytes)
			continue;
		if (r == (size_t)-1 || r == (size_t)-2) {
			*wc = (unsigned char)bytes[0];
			memset(&st, 0, sizeof st);
		}
		return 1;
	}
}

static unsigned char new_session_fn(EditLine *el, int ch)
{
	(void)ch;
	struct tui_edit *e = NULL;
	el_get(el, EL_CLIENTDATA, &e);
	e->new_session = true;
	return CC_NEWLINE;
}

/* Candidate file names for word (a path-like word): entries of its directory. */
static jv file_candidates(const struct tui_edit *e, const char *word)
{
	const char *slash = strrchr(word, '/');
	char *dirpart = slash ? xstrndup(word, (size_t)(slash - word + 1)) : xstrdup("");
	const char *base = slash ? slash + 1 : word;
	char *dir;
	if (strncmp(dirpart, "~/", 2) == 0)
		dir = xasprintf("%s/%s", getenv("HOME") ? getenv("HOME") : "", dirpart + 2);
	else if (dirpart[0] == '/')
		dir = xstrdup(dirpart);
	else
		dir = xasprintf("%s/%s", e->o.root ? e->o.root : ".", dirpart);
	jv names = jv_array();
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    (de->d_name[0] == '.' && base[0] != '.') ||
		    strncmp(de->d_name, base, strlen(base)) != 0)
			continue;
		char *full = xasprintf("%s%s", dir, de->d_name);
		struct stat sb;
		bool is_dir = stat(full, &sb) == 0 && S_ISDIR(sb.st_mode);
		free(full);
		names = jv_array_append(names, jv_string_fmt("%s%s%s", dirpart, de->d_name, is_dir ? "/" : ""));
	}
	if (d)
		closedir(d);
	free(dir);
	free(dirpart);
	return names;
}

/* Tab: completes the word under the cursor, or lists the choices. */
static unsigned char complete_fn(EditLine *el, int ch)
{
	(void)ch;
	struct tui_edit *e = NULL;
	el_get(el, EL_CLIENTDATA, &e);
	const LineInfo *li = el_line(el);
	size_t cursor = (size_t)(li->cursor - li->buffer);
	char *line = xstrndup(li->buffer, cursor);
	size_t ws;
	enum tui_complete_kind kind = tui_complete_kind(line, cursor, &ws);
	const char *word = line + ws;
	const char **names = NULL;
	size_t n = 0;
	jv files = jv_null();
	if (kind == TUI_COMPLETE_COMMANDS) {
		const struct tui_command *c = tui_commands(&n);
		names = xcalloc(n, sizeof *names);
		for (size_t i = 0; i < n; i++)
			names[i] = c[i].name;
	} else if (kind == TUI_COMPLETE_AGENTS) {
		names = xcalloc(e->o.n_agents + 1, sizeof *names);
		for (size_t i = 0; i < e->o.n_agents; i++)
			names[i] = e->o.agents[i];
		n = e->o.n_agents;
	} else if (kind == TUI_COMPLETE_FILES) {
		files = file_candidates(e, word);
		n = (size_t)jv_array_length(jv_copy(files));
		names = xcalloc(n + 1, sizeof *names);
		for (size_t i = 0; i < n; i++) {
			jv f = jv_array_get(jv_copy(files), (int)i);
			names[i] = jv_string_value(f);	/* lives in files */
			jv_free(f);
		}
	}
	unsigned char ret = CC_REFRESH_BEEP;
	if (kind != TUI_COMPLETE_NONE) {
		char *common;
		jv cands = tui_complete_names(word, names, n, &common);
		int nc = jv_array_length(jv_copy(cands));
		if (nc > 0) {
			ret = CC_REFRESH;
			if (strlen(common) > strlen(word))
				el_insertstr(el, common + strlen(word));
			size_t cl = strlen(common);
			if (nc == 1 && cl > 0 && common[cl - 1] != '/')
				el_insertstr(el, " ");
			if (nc > 1 && strlen(common) == strlen(word)) {
				fputc('\n', e->out);
				jv_array_foreach(cands, i, c) {
					fprintf(e->out, "%s%s", i ? "  " : "", jv_string_value(c));
					jv_free(c);
				}
				fputc('\n', e->out);
				ret = CC_REDISPLAY;
			}
		}
		free(common);
		jv_free(cands);
	}
	jv_free(files);
	free(names);
	free(line);
	return ret;
}

struct tui_edit *tui_edit_new(FILE *in, FILE *out, const struct tui_edit_opts *o)
{
	struct tui_edit *e = xcalloc(1, sizeof *e);
	e->in = in;
	e->out = out;
	e->o = *o;
	e->hist = history_init();
	HistEvent hev;
	history(e->hist, &hev, H_SETSIZE, 1000);
	history(e->hist, &hev, H_SETUNIQUE, 1);
	if (o->history_path)
		history(e->hist, &hev, H_LOAD, o->history_path);
	e->el = el_init(o->prog, in, out, stderr);
	el_set(e->el, EL_CLIENTDATA, e);
	el_set(e->el, EL_EDITOR, "emacs");
	el_set(e->el, EL_PROMPT, prompt_fn);
	el_set(e->el, EL_HIST, history, e->hist);
	el_set(e->el, EL_GETCFN, getc_fn);
	/* wide: the narrow EL_ADDFN copies the names and libedit never frees them */
	el_wset(e->el, EL_ADDFN, L"bllm-complete", L"complete a command, an agent or a path", complete_fn);
	el_set(e->el, EL_BIND, "^I", "bllm-complete", NULL);
	el_wset(e->el, EL_ADDFN, L"bllm-new", L"start a new session", new_session_fn);
	el_set(e->el, EL_BIND, "^N", "bllm-new", NULL);
	return e;
}

void tui_edit_free(struct tui_edit *e)
{
	if (!e)
		return;
	HistEvent hev;
	if (e->o.history_path)
		history(e->hist, &hev, H_SAVE, e->o.history_path);
	el_end(e->el);
	history_end(e->hist);
	free(e->prompt);
	free(e);
}

enum tui_read tui_edit_read(struct tui_edit *e, const char *prompt, bool add_history, char **line,
			    bool *line_empty)
{
	*line = NULL;
	*line_empty = true;
	free(e->prompt);
	e->prompt = xstrdup(prompt);
	e->interrupted = e->new_session = false;
	el_resize(e->el);	/* the terminal may have been resized during a run */
	int count = 0;
	const char *got = el_gets(e->el, &count);
	if (e->interrupted) {
		if (e->o.signals)
			*e->o.signals = 0;
		*line_empty = e->line_empty;
		fputc('\n', e->out);
		fflush(e->out);
		return TUI_READ_INTERRUPT;
	}
	if (e->new_session)
		return TUI_READ_NEW;
	if (!got || count <= 0) {
		fputc('\n', e->out);
		return TUI_READ_EOF;
	}
	char *s = xstrdup(got);
	s[strcspn(s, "\r\n")] = '\0';
	*line_empty = !*s;
	if (add_history && s[strspn(s, " \t")]) {
		HistEvent hev;
		history(e->hist, &hev, H_ENTER, s);
	}
	*line = s;
	return TUI_READ_LINE;
}
