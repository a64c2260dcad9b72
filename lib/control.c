#define _DEFAULT_SOURCE	/* strncasecmp */
#include "control.h"

#include <string.h>
#include <strings.h>

#include "buf.h"

static bool blank_or_emphasis(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '*' || c == '_' || c == '`';
}

bool control_line(const char *line, size_t len)
{
	size_t a = 0, b = len;
	while (a < b && blank_or_emphasis(line[a]))
		a++;
	while (b > a && blank_or_emphasis(line[b - 1]))
		b--;
	if (b - a >= 8 && strncasecmp(line + a, "VERDICT:", 8) == 0)
		return true;
	return b - a == 9 && strncmp(line + a, "TERMINATE", 9) == 0;
}

size_t control_line_keep(const char *line, size_t len)
{
	size_t b = len;
	while (b > 0 && blank_or_emphasis(line[b - 1]))
		b--;
	if (b < 9 || strncmp(line + b - 9, "TERMINATE", 9) != 0)
		return len;
	size_t start = b - 9;
	/* A word of its own: a blank (or the line's start) before it. */
	if (start > 0 && line[start - 1] != ' ' && line[start - 1] != '\t' &&
	    !blank_or_emphasis(line[start - 1]))
		return len;
	while (start > 0 && blank_or_emphasis(line[start - 1]))
		start--;
	return start;
}

char *control_strip(const char *text)
{
	struct buf b = BUF_INIT;
	buf_appends(&b, "");
	bool skip_blank = false;	/* a dropped line had a blank line before it */
	for (const char *p = text; *p;) {
		size_t n = strcspn(p, "\n");
		bool nl = p[n] == '\n';
		if (control_line(p, n)) {
			skip_blank = b.len == 0 || (b.len >= 2 && b.data[b.len - 2] == '\n');
		} else if (skip_blank && strspn(p, " \t\r") == n) {
			/* Blank lines around a dropped line: keep one, not two. */
		} else {
			skip_blank = false;
			buf_append(&b, p, control_line_keep(p, n));
			if (nl)
				buf_appendc(&b, '\n');
		}
		p += n + nl;
	}
	while (b.len && (b.data[b.len - 1] == '\n' || b.data[b.len - 1] == ' ' ||
			 b.data[b.len - 1] == '\t'))
		b.data[--b.len] = '\0';
	return buf_detach(&b);
}
