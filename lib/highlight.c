#include "highlight.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The SGR colour of each kind of token. */
#define SGR_KEYWORD "35"
#define SGR_TYPE "36"
#define SGR_STRING "32"
#define SGR_NUMBER "33"
#define SGR_COMMENT "90"
#define SGR_PREPROC "34"
#define SGR_VARIABLE "36"
#define SGR_KEY "34"

/*
 * What a language's table says: its words, how its comments and strings
 * are written. A NULL-terminated word list each; a string may be absent.
 */
struct lang {
	const char *const *names;
	const char *const *keywords;
	const char *const *types;
	const char *line_comment;	/* to the end of the line */
	const char *block_open, *block_close;
	const char *quotes;		/* characters that open a string */
	bool triple_quotes;		/* """ and ''' strings span lines (Python) */
	bool strings_span_lines;	/* an unclosed string goes on (shell) */
	bool raw_single_quote;		/* '...' has no escapes (shell) */
	bool comment_needs_word_start;	/* '#' opens a comment only after a blank (shell) */
	bool preprocessor;		/* '#' first on a line starts a directive (C) */
	bool variables;			/* $NAME, ${...}, $1 (shell) */
	bool keys;			/* a string before ':' is a key (JSON) */
	bool diff;			/* whole lines by their first character */
};

static const char *const c_names[] = { "c", "h", "cpp", "c++", "cc", "hpp", "cxx", NULL };
static const char *const c_keywords[] = {
	"auto", "break", "case", "const", "continue", "default", "do", "else", "enum",
	"extern", "for", "goto", "if", "inline", "register", "restrict", "return", "sizeof",
	"static", "struct", "switch", "typedef", "union", "volatile", "while", "_Alignas",
	"_Alignof", "_Atomic", "_Generic", "_Noreturn", "_Static_assert", "_Thread_local",
	"class", "namespace", "template", "typename", "public", "private", "protected",
	"virtual", "new", "delete", "this", "nullptr", "true", "false", "NULL", NULL
};
static const char *const c_types[] = {
	"void", "char", "short", "int", "long", "float", "double", "signed", "unsigned",
	"bool", "_Bool", "_Complex", "size_t", "ssize_t", "off_t", "pid_t", "FILE",
	"int8_t", "int16_t", "int32_t", "int64_t", "uint8_t", "uint16_t", "uint32_t",
	"uint64_t", "intptr_t", "uintptr_t", "ptrdiff_t", "jv", NULL
};

static const char *const sh_names[] = { "sh", "bash", "shell", "console", "zsh", NULL };
static const char *const sh_keywords[] = {
	"if", "then", "else", "elif", "fi", "for", "while", "until", "do", "done", "case",
	"esac", "in", "function", "select", "time", NULL
};
static const char *const sh_types[] = {
	"echo", "printf", "cd", "export", "local", "readonly", "return", "exit", "set",
	"unset", "shift", "source", "eval", "exec", "read", "test", "trap", "wait", NULL
};

static const char *const py_names[] = { "python", "py", "python3", NULL };
static const char *const py_keywords[] = {
	"and", "as", "assert", "async", "await", "break", "class", "continue", "def", "del",
	"elif", "else", "except", "finally", "for", "from", "global", "if", "import", "in",
	"is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
	"with", "yield", "True", "False", "None", NULL
};
static const char *const py_types[] = {
	"int", "float", "str", "bytes", "bool", "list", "dict", "set", "tuple", "object",
	"self", "print", "len", "range", NULL
};

static const char *const json_names[] = { "json", NULL };
static const char *const json_keywords[] = { "true", "false", "null", NULL };

static const char *const diff_names[] = { "diff", "patch", NULL };

static const char *const no_words[] = { NULL };

static const struct lang langs[] = {
	{ c_names, c_keywords, c_types, "//", "/*", "*/", "\"'", false, false, false, false,
	  true, false, false, false },
	{ sh_names, sh_keywords, sh_types, "#", NULL, NULL, "\"'", false, true, true, true,
	  false, true, false, false },
	{ py_names, py_keywords, py_types, "#", NULL, NULL, "\"'", true, false, false, false,
	  false, false, false, false },
	{ json_names, json_keywords, no_words, NULL, NULL, NULL, "\"", false, false, false,
	  false, false, false, true, false },
	{ diff_names, no_words, no_words, NULL, NULL, NULL, "", false, false, false, false,
	  false, false, false, true },
};

/* The table for lang's first word (case-insensitive), or NULL. */
static const struct lang *find_lang(const char *lang)
{
	if (!lang)
		return NULL;
	while (*lang == ' ' || *lang == '\t')
		lang++;
	size_t n = strcspn(lang, " \t{,");
	for (size_t i = 0; i < sizeof langs / sizeof langs[0]; i++)
		for (const char *const *name = langs[i].names; *name; name++)
			if (strlen(*name) == n && strncasecmp(*name, lang, n) == 0)
				return &langs[i];
	return NULL;
}

bool highlight_known(const char *lang)
{
	return find_lang(lang) != NULL;
}

/* Appends s[0,n) in colour sgr, closing and reopening the colour around each newline. */
static void emit(struct buf *out, const char *sgr, const char *s, size_t n)
{
	while (n > 0) {
		const char *nl = memchr(s, '\n', n);
		size_t seg = nl ? (size_t)(nl - s) : n;
		if (seg > 0) {
			if (sgr)
				buf_printf(out, "\033[%sm", sgr);
			buf_append(out, s, seg);
			if (sgr)
				buf_appends(out, "\033[0m");
		}
		if (!nl)
			break;
		buf_appendc(out, '\n');
		s += seg + 1;
		n -= seg + 1;
	}
}

static bool in_list(const char *const *list, const char *w, size_t n)
{
	for (; *list; list++)
		if (strlen(*list) == n && strncmp(*list, w, n) == 0)
			return true;
	return false;
}

static bool starts(const char *p, const char *end, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	return n > 0 && (size_t)(end - p) >= n && memcmp(p, s, n) == 0;
}

static bool word_char(char c)
{
	return isalnum((unsigned char)c) || c == '_' || (unsigned char)c >= 0x80;
}

/* Where the string opened at p ends (just past its closing quote). */
static const char *string_end(const struct lang *l, const char *p, const char *end)
{
	if (l->triple_quotes && end - p >= 3 && p[1] == p[0] && p[2] == p[0]) {
		for (const char *q = p + 3; q + 2 < end; q++) {
			if (*q == '\\') {
				q++;
				continue;
			}
			if (q[0] == p[0] && q[1] == p[0] && q[2] == p[0])
				return q + 3;
		}
		return end;
	}
	bool escapes = !(l->raw_single_quote && *p == '\'');
	for (const char *q = p + 1; q < end; q++) {
		if (escapes && *q == '\\' && q + 1 < end) {
			q++;
			continue;
		}
		if (*q == *p)
			return q + 1;
		if (*q == '\n' && !l->strings_span_lines)
			return q;
	}
	return end;
}

static const char *line_end(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));
	return nl ? nl : end;
}

static void highlight_diff(const char *p, const char *end, struct buf *out)
{
	while (p < end) {
		const char *e = line_end(p, end);
		const char *sgr = NULL;
		if (*p == '+')
			sgr = starts(p, end, "+++ ") ? "1" : "32";
		else if (*p == '-')
			sgr = starts(p, end, "--- ") ? "1" : "31";
		else if (starts(p, end, "@@"))
			sgr = "36";
		else if (starts(p, end, "diff ") || starts(p, end, "index "))
			sgr = "1";
		emit(out, sgr, p, (size_t)(e - p));
		if (e < end)
			buf_appendc(out, '\n');
		p = e + 1;
	}
}

/* The end of the shell variable reference at p ('$'), or p when there is none. */
static const char *variable_end(const char *p, const char *end)
{
	const char *q = p + 1;
	if (q < end && *q == '{') {
		const char *close = memchr(q, '}', (size_t)(end - q));
		return close && !memchr(q, '\n', (size_t)(close - q)) ? close + 1 : p;
	}
	if (q < end && (isdigit((unsigned char)*q) || strchr("?#@*!$-", *q)))
		return q + 1;
	while (q < end && (isalnum((unsigned char)*q) || *q == '_'))
		q++;
	return q > p + 1 ? q : p;
}

static void highlight_with(const struct lang *l, const char *code, size_t len, struct buf *out)
{
	const char *p = code, *end = code + len, *plain = p;
	bool line_start = true;	/* only blanks since the last newline */
#define FLUSH() emit(out, NULL, plain, (size_t)(p - plain))
	while (p < end) {
		const char *tok_end = NULL, *sgr = NULL;
		char c = *p;
		bool after_blank = p == code || p[-1] == ' ' || p[-1] == '\t' || p[-1] == '\n' ||
				   p[-1] == ';' || p[-1] == '(' || p[-1] == '|' || p[-1] == '&';
		if (l->preprocessor && line_start && c == '#') {
			tok_end = p;
			while (tok_end < end) {
				tok_end = line_end(tok_end, end);
				if (tok_end > p && tok_end[-1] == '\\' && tok_end < end)
					tok_end++;
				else
					break;
			}
			sgr = SGR_PREPROC;
		} else if (starts(p, end, l->line_comment) && (!l->comment_needs_word_start || after_blank)) {
			tok_end = line_end(p, end);
			sgr = SGR_COMMENT;
		} else if (starts(p, end, l->block_open)) {
			const char *q = p + strlen(l->block_open);
			tok_end = end;
			for (; q < end; q++)
				if (starts(q, end, l->block_close)) {
					tok_end = q + strlen(l->block_close);
					break;
				}
			sgr = SGR_COMMENT;
		} else if (c && strchr(l->quotes, c)) {
			tok_end = string_end(l, p, end);
			sgr = SGR_STRING;
			if (l->keys) {
				const char *q = tok_end;
				while (q < end && (*q == ' ' || *q == '\t'))
					q++;
				if (q < end && *q == ':')
					sgr = SGR_KEY;
			}
		} else if (l->variables && c == '$' && variable_end(p, end) > p) {
			tok_end = variable_end(p, end);
			sgr = SGR_VARIABLE;
		} else if ((isdigit((unsigned char)c) || (c == '-' && l->keys && p + 1 < end &&
			    isdigit((unsigned char)p[1]))) && (p == code || !word_char(p[-1]))) {
			tok_end = p + 1;
			while (tok_end < end && (word_char(*tok_end) || *tok_end == '.' ||
			       ((*tok_end == '-' || *tok_end == '+') && (tok_end[-1] == 'e' || tok_end[-1] == 'E'))))
				tok_end++;
			sgr = SGR_NUMBER;
		} else if (word_char(c) && (p == code || !word_char(p[-1]))) {
			const char *q = p;
			while (q < end && (word_char(*q) || (l->variables && *q == '-')))
				q++;
			size_t n = (size_t)(q - p);
			if (in_list(l->keywords, p, n))
				sgr = SGR_KEYWORD;
			else if (in_list(l->types, p, n))
				sgr = SGR_TYPE;
			if (sgr)
				tok_end = q;
			else
				p = q - 1;	/* a plain word stays in the plain run */
		}
		if (tok_end) {
			FLUSH();
			emit(out, sgr, p, (size_t)(tok_end - p));
			line_start = tok_end > p && tok_end[-1] == '\n';
			p = plain = tok_end;
			continue;
		}
		if (*p == '\n')
			line_start = true;
		else if (*p != ' ' && *p != '\t')
			line_start = false;
		p++;
	}
	FLUSH();
#undef FLUSH
}

void highlight_code(const char *lang, const char *code, size_t len, bool color, struct buf *out)
{
	const struct lang *l = color ? find_lang(lang) : NULL;
	if (!l)
		buf_append(out, code, len);
	else if (l->diff)
		highlight_diff(code, code + len, out);
	else
		highlight_with(l, code, len, out);
}
