#include "md.h"

#include <ctype.h>
#include <limits.h>
#include <md4c.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "highlight.h"

/*
 * md4c's dialect: GitHub's tables, strikethrough, task lists and bare URLs.
 * Raw HTML blocks are off: HTML shows as text, and a blank line then always
 * ends a paragraph, which the streaming cut relies on.
 */
#define MD_FLAGS (MD_FLAG_TABLES | MD_FLAG_STRIKETHROUGH | MD_FLAG_TASKLISTS | \
		  MD_FLAG_PERMISSIVEURLAUTOLINKS | MD_FLAG_NOHTMLBLOCKS)

static const char REPLACEMENT[] = "\xEF\xBF\xBD";

/* Decodes one UTF-8 character at s (n > 0 bytes); an invalid byte is U+FFFD, length 1. */
static size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
	unsigned char c = s[0];
	size_t len;
	uint32_t v, min;
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xC2 && c <= 0xDF)
		len = 2, v = c & 0x1F, min = 0x80;
	else if (c >= 0xE0 && c <= 0xEF)
		len = 3, v = c & 0x0F, min = 0x800;
	else if (c >= 0xF0 && c <= 0xF4)
		len = 4, v = c & 0x07, min = 0x10000;
	else
		goto invalid;
	if (n < len)
		goto invalid;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xC0) != 0x80)
			goto invalid;
		v = (v << 6) | (s[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		goto invalid;
	*cp = v;
	return len;
invalid:
	*cp = 0xFFFD;
	return 1;
}

struct range {
	uint32_t lo, hi;
};

/* East Asian Wide and Fullwidth characters, and emoji shown wide. */
static const struct range wide[] = {
	{ 0x1100, 0x115F }, { 0x231A, 0x231B }, { 0x2329, 0x232A }, { 0x23E9, 0x23EC },
	{ 0x23F0, 0x23F0 }, { 0x23F3, 0x23F3 }, { 0x25FD, 0x25FE }, { 0x2614, 0x2615 },
	{ 0x2648, 0x2653 }, { 0x267F, 0x267F }, { 0x2693, 0x2693 }, { 0x26A1, 0x26A1 },
	{ 0x26AA, 0x26AB }, { 0x26BD, 0x26BE }, { 0x26C4, 0x26C5 }, { 0x26CE, 0x26CE },
	{ 0x26D4, 0x26D4 }, { 0x26EA, 0x26EA }, { 0x26F2, 0x26F3 }, { 0x26F5, 0x26F5 },
	{ 0x26FA, 0x26FA }, { 0x26FD, 0x26FD }, { 0x2705, 0x2705 }, { 0x270A, 0x270B },
	{ 0x2728, 0x2728 }, { 0x274C, 0x274C }, { 0x274E, 0x274E }, { 0x2753, 0x2755 },
	{ 0x2757, 0x2757 }, { 0x2795, 0x2797 }, { 0x27B0, 0x27B0 }, { 0x27BF, 0x27BF },
	{ 0x2B1B, 0x2B1C }, { 0x2B50, 0x2B50 }, { 0x2B55, 0x2B55 }, { 0x2E80, 0x303E },
	{ 0x3041, 0x33FF }, { 0x3400, 0x4DBF }, { 0x4E00, 0x9FFF }, { 0xA000, 0xA4CF },
	{ 0xA960, 0xA97F }, { 0xAC00, 0xD7A3 }, { 0xF900, 0xFAFF }, { 0xFE10, 0xFE19 },
	{ 0xFE30, 0xFE6F }, { 0xFF00, 0xFF60 }, { 0xFFE0, 0xFFE6 }, { 0x16FE0, 0x16FE4 },
	{ 0x17000, 0x18CFF }, { 0x1B000, 0x1B2FF }, { 0x1F004, 0x1F004 }, { 0x1F0CF, 0x1F0CF },
	{ 0x1F18E, 0x1F18E }, { 0x1F191, 0x1F19A }, { 0x1F200, 0x1F2FF }, { 0x1F300, 0x1F64F },
	{ 0x1F680, 0x1F6FF }, { 0x1F7E0, 0x1F7EB }, { 0x1F900, 0x1F9FF }, { 0x1FA70, 0x1FAFF },
	{ 0x20000, 0x2FFFD }, { 0x30000, 0x3FFFD },
};

/* Combining marks, joiners and selectors: no column of their own. */
static const struct range zero[] = {
	{ 0x0300, 0x036F }, { 0x0483, 0x0489 }, { 0x0591, 0x05BD }, { 0x0610, 0x061A },
	{ 0x064B, 0x065F }, { 0x0E31, 0x0E31 }, { 0x0E34, 0x0E3A }, { 0x1AB0, 0x1AFF },
	{ 0x1DC0, 0x1DFF }, { 0x200B, 0x200F }, { 0x2028, 0x202E }, { 0x2060, 0x2064 },
	{ 0x20D0, 0x20FF }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F }, { 0xFEFF, 0xFEFF },
	{ 0x1F3FB, 0x1F3FF }, { 0xE0000, 0xE007F }, { 0xE0100, 0xE01EF },
};

static bool in_ranges(uint32_t c, const struct range *r, size_t n)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (c < r[mid].lo)
			hi = mid;
		else if (c > r[mid].hi)
			lo = mid + 1;
		else
			return true;
	}
	return false;
}

/* Columns of one character (locale-independent, so output is the same everywhere). */
static int char_width(uint32_t c)
{
	if (c < 0x20 || (c >= 0x7F && c < 0xA0))
		return 0;
	if (c < 0x300)
		return 1;
	if (in_ranges(c, zero, sizeof zero / sizeof zero[0]))
		return 0;
	return in_ranges(c, wide, sizeof wide / sizeof wide[0]) ? 2 : 1;
}

int md_display_width(const char *s, size_t len)
{
	int w = 0;
	for (size_t i = 0; i < len;) {
		uint32_t c;
		i += utf8_decode((const unsigned char *)s + i, len - i, &c);
		w += char_width(c);
	}
	return w;
}

/*
 * Appends s[0,n) to out with every control character that could drive the
 * terminal (C0 but tab and newline, DEL, C1) replaced by U+FFFD: the text
 * comes from a model, and an escape sequence in it must not reach the screen.
 */
static void append_sanitized(struct buf *out, const char *s, size_t n)
{
	size_t i = 0, run = 0;
	while (i < n) {
		uint32_t c;
		size_t l = utf8_decode((const unsigned char *)s + i, n - i, &c);
		bool bad = (c < 0x20 && c != '\t' && c != '\n') || (c >= 0x7F && c < 0xA0);
		if (bad) {
			buf_append(out, s + run, i - run);
			buf_appends(out, REPLACEMENT);
			run = i + l;
		}
		i += l;
	}
	buf_append(out, s + run, n - run);
}

/* Inline styles: a span's index counts how deep it is open; its bit marks styled bytes. */
enum style_index { SI_BOLD, SI_ITALIC, SI_LINK, SI_STRIKE, SI_URL, SI_CODE, ST_NBITS };
enum {
	ST_BOLD = 1 << SI_BOLD,
	ST_LINK = 1 << SI_LINK,
	ST_URL = 1 << SI_URL,
};

/* The SGR parameter of each style bit, in bit order. */
static const char *const style_sgr[ST_NBITS] = { "1", "3", "4", "9", "34", "36" };

/* Inline text with one style byte per text byte. */
struct styled {
	struct buf text;
	unsigned char *style;
	size_t style_cap;
};

static void styled_append(struct styled *s, const char *p, size_t n, unsigned style)
{
	buf_append(&s->text, p, n);
	if (s->text.len > s->style_cap) {
		s->style_cap = s->text.len * 2 + 16;
		s->style = xrealloc(s->style, s->style_cap);
	}
	memset(s->style + s->text.len - n, (int)style, n);
}

static void styled_reset(struct styled *s)
{
	buf_reset(&s->text);
}

static void styled_free(struct styled *s)
{
	buf_free(&s->text);
	free(s->style);
	s->style = NULL;
	s->style_cap = 0;
}

static void put_sgr(struct buf *out, unsigned style)
{
	char sep = '[';
	buf_appendc(out, '\033');
	for (int b = 0; b < ST_NBITS; b++)
		if (style & (1u << b)) {
			buf_appendc(out, sep);
			buf_appends(out, style_sgr[b]);
			sep = ';';
		}
	buf_appendc(out, 'm');
}

/* Appends s's bytes [from, to), with SGR changes where the style changes when color. */
static void put_styled(struct buf *out, const struct styled *s, size_t from, size_t to, bool color)
{
	if (!color) {
		buf_append(out, s->text.data + from, to - from);
		return;
	}
	unsigned cur = 0;
	size_t run = from;
	for (size_t i = from; i < to; i++) {
		if (s->style[i] == cur)
			continue;
		buf_append(out, s->text.data + run, i - run);
		run = i;
		if (cur)
			buf_appends(out, "\033[0m");
		cur = s->style[i];
		if (cur)
			put_sgr(out, cur);
	}
	buf_append(out, s->text.data + run, to - run);
	if (cur)
		buf_appends(out, "\033[0m");
}

struct span {
	size_t from, to;
	int width;
};

struct spans {
	struct span *v;
	size_t n, cap;
};

static void spans_push(struct spans *l, size_t from, size_t to, int width)
{
	if (l->n == l->cap) {
		l->cap = l->cap * 2 + 8;
		l->v = xrealloc(l->v, l->cap * sizeof *l->v);
	}
	l->v[l->n++] = (struct span){ from, to, width };
}

/*
 * Breaks text into lines of at most width columns, at spaces (dropped at
 * the break) and at '\n' (hard breaks). A word wider than width is cut at
 * the width, between characters; a line holds at least one character.
 */
static void wrap(const char *t, size_t len, int width, struct spans *lines)
{
	size_t i = 0, line_from = 0, line_to = 0;
	int line_w = 0;
	bool open = false;
	lines->n = 0;
	while (i < len) {
		if (t[i] == '\n') {
			spans_push(lines, open ? line_from : i, open ? line_to : i, open ? line_w : 0);
			open = false;
			i++;
			continue;
		}
		size_t sp = i;
		while (i < len && t[i] == ' ')
			i++;
		int sp_w = (int)(i - sp);
		if (i == len || t[i] == '\n')
			continue;
		size_t word = i;
		int word_w = 0;
		while (i < len && t[i] != ' ' && t[i] != '\n') {
			uint32_t c;
			i += utf8_decode((const unsigned char *)t + i, len - i, &c);
			word_w += char_width(c);
		}
		if (open && line_w + sp_w + word_w <= width) {
			line_to = i;
			line_w += sp_w + word_w;
			continue;
		}
		if (open)
			spans_push(lines, line_from, line_to, line_w);
		open = true;
		line_from = word;
		line_w = 0;
		for (size_t j = word; j < i;) {
			uint32_t c;
			size_t l = utf8_decode((const unsigned char *)t + j, i - j, &c);
			int w = char_width(c);
			if (line_w + w > width && j > line_from) {
				spans_push(lines, line_from, j, line_w);
				line_from = j;
				line_w = 0;
			}
			line_w += w;
			j += l;
		}
		line_to = i;
	}
	if (open)
		spans_push(lines, line_from, line_to, line_w);
}

struct container {
	bool quote;		/* a block quote; else a list item */
	char marker[40];	/* the item's marker, "• " or "12. " */
	int marker_w;
	bool marker_shown;
	bool tight;		/* an item of a tight list */
};

struct list {
	bool ordered;
	bool tight;
	unsigned next;
	char delim;
	int items;
};

struct link {
	size_t from;	/* where its text starts in the inline buffer */
	char *href;
};

enum leaf { LEAF_NONE, LEAF_PARA, LEAF_HEADING, LEAF_CODE, LEAF_CELL };

struct table {
	unsigned ncols;
	MD_ALIGN *align;
	struct styled *cells;
	size_t ncells, cap;
	bool in_head;
	size_t head_cells;
};

struct renderer {
	int width;
	bool color;
	struct buf *out;
	struct container *cont;
	size_t ncont, cont_cap;
	struct list *lists;
	size_t nlists, lists_cap;
	struct link *links;
	size_t nlinks, links_cap;
	int span_depth[ST_NBITS];
	unsigned base_style;
	enum leaf leaf;
	bool implicit;		/* text of a tight list item, outside any paragraph */
	unsigned heading_level;
	struct styled inl;
	struct buf code;
	char *code_lang;
	struct table table;
	bool need_blank;	/* a blank line goes before the next block */
	size_t keep_depth;	/* containers the blank line belongs to */
	bool emitted;		/* something is on out */
	struct spans lines;	/* scratch */
};

static unsigned cur_style(const struct renderer *r)
{
	unsigned s = r->base_style;
	for (int b = 0; b < ST_NBITS; b++)
		if (r->span_depth[b] > 0)
			s |= 1u << b;
	return s;
}

static int prefix_width(const struct renderer *r)
{
	int w = 0;
	for (size_t i = 0; i < r->ncont; i++)
		w += r->cont[i].quote ? 2 : r->cont[i].marker_w;
	return w;
}

/* Columns left for text inside the containers; never below 8 (deep nesting overflows instead). */
static int avail_width(const struct renderer *r)
{
	int w = r->width - prefix_width(r);
	return w < 8 ? 8 : w;
}

static void trim_spaces(struct buf *out, size_t start)
{
	while (out->len > start && out->data[out->len - 1] == ' ')
		out->data[--out->len] = '\0';
}

enum prefix_mode {
	PREFIX_LINE,	/* a line of text: markers not yet shown are shown */
	PREFIX_EMPTY,	/* an empty line of a block: the same, without trailing spaces */
	PREFIX_BLANK,	/* the blank line between blocks: gutters only, no marker */
};

/*
 * The gutters and indents of the first depth containers. An item shows its
 * marker on its first line and spaces after it (a hanging indent).
 */
static void put_prefix(struct renderer *r, size_t depth, enum prefix_mode mode)
{
	size_t start = r->out->len;
	for (size_t i = 0; i < depth; i++) {
		struct container *c = &r->cont[i];
		if (c->quote) {
			buf_appends(r->out, r->color ? "\033[2m│\033[0m " : "│ ");
		} else if (!c->marker_shown && mode != PREFIX_BLANK) {
			buf_appends(r->out, c->marker);
			c->marker_shown = true;
		} else {
			buf_printf(r->out, "%*s", c->marker_w, "");
		}
	}
	if (mode != PREFIX_LINE)
		trim_spaces(r->out, start);
}

/* Called before a block's first line: the blank line that separates it from the one before. */
static void begin_block(struct renderer *r)
{
	if (r->need_blank && r->emitted) {
		put_prefix(r, r->keep_depth < r->ncont ? r->keep_depth : r->ncont, PREFIX_BLANK);
		buf_appendc(r->out, '\n');
	}
	r->need_blank = false;
	r->emitted = true;
}

/* Called after a block's last line. Items of a tight list are not separated. */
static void end_block(struct renderer *r)
{
	r->keep_depth = r->ncont;
	r->need_blank = !(r->ncont > 0 && !r->cont[r->ncont - 1].quote && r->cont[r->ncont - 1].tight);
}

static void put_line(struct renderer *r, const struct styled *s, size_t from, size_t to)
{
	put_prefix(r, r->ncont, from == to ? PREFIX_EMPTY : PREFIX_LINE);
	put_styled(r->out, s, from, to, r->color);
	buf_appendc(r->out, '\n');
}

static void put_rule(struct renderer *r, const char *ch, int n)
{
	for (int i = 0; i < n; i++)
		buf_appends(r->out, ch);
}

static void flush_paragraph(struct renderer *r)
{
	wrap(r->inl.text.data, r->inl.text.len, avail_width(r), &r->lines);
	if (r->lines.n > 0) {
		begin_block(r);
		int widest = 0;
		for (size_t i = 0; i < r->lines.n; i++) {
			put_line(r, &r->inl, r->lines.v[i].from, r->lines.v[i].to);
			if (r->lines.v[i].width > widest)
				widest = r->lines.v[i].width;
		}
		if (r->leaf == LEAF_HEADING && !r->color && r->heading_level <= 2 && widest > 0) {
			put_prefix(r, r->ncont, PREFIX_LINE);
			put_rule(r, r->heading_level == 1 ? "=" : "-", widest);
			buf_appendc(r->out, '\n');
		}
		end_block(r);
	}
	styled_reset(&r->inl);
	r->leaf = LEAF_NONE;
	r->implicit = false;
	r->base_style = 0;
}

/* Ends the text of a tight list item when a block starts inside the item or the item ends. */
static void flush_implicit(struct renderer *r)
{
	if (r->implicit)
		flush_paragraph(r);
}

static void flush_code(struct renderer *r)
{
	struct buf *c = &r->code;
	if (c->len > 0 && c->data[c->len - 1] == '\n')
		c->data[--c->len] = '\0';
	if (c->len > 0) {
		struct buf hl = BUF_INIT;
		highlight_code(r->code_lang, c->data, c->len, r->color, &hl);
		begin_block(r);
		const char *p = buf_str(&hl), *end = p + hl.len;
		for (;;) {
			const char *nl = memchr(p, '\n', (size_t)(end - p));
			const char *e = nl ? nl : end;
			put_prefix(r, r->ncont, e == p ? PREFIX_EMPTY : PREFIX_LINE);
			if (e > p) {
				buf_appends(r->out, "  ");
				buf_append(r->out, p, (size_t)(e - p));
			}
			buf_appendc(r->out, '\n');
			if (!nl)
				break;
			p = nl + 1;
		}
		buf_free(&hl);
		end_block(r);
	}
	buf_reset(c);
	free(r->code_lang);
	r->code_lang = NULL;
	r->leaf = LEAF_NONE;
}

/* Pads with n spaces. */
static void put_spaces(struct buf *out, int n)
{
	for (int i = 0; i < n; i++)
		buf_appendc(out, ' ');
}

/*
 * Column widths for a table: the natural widths when they fit in room,
 * else every column capped at the one limit that fills room, the
 * remainder going to the first capped columns. At least 1 each.
 */
static void fit_columns(const int *natural, int *width, unsigned n, int room)
{
	long total = 0;
	int widest = 1;
	for (unsigned c = 0; c < n; c++) {
		total += natural[c];
		if (natural[c] > widest)
			widest = natural[c];
	}
	if (total <= room) {
		for (unsigned c = 0; c < n; c++)
			width[c] = natural[c] > 0 ? natural[c] : 1;
		return;
	}
	int lo = 1, hi = widest;	/* the largest cap whose total fits */
	while (lo < hi) {
		int mid = lo + (hi - lo + 1) / 2;
		long sum = 0;
		for (unsigned c = 0; c < n; c++)
			sum += natural[c] < mid ? natural[c] : mid;
		if (sum <= room)
			lo = mid;
		else
			hi = mid - 1;
	}
	long left = room;
	for (unsigned c = 0; c < n; c++) {
		width[c] = natural[c] < lo ? natural[c] : lo;
		if (width[c] < 1)
			width[c] = 1;
		left -= width[c];
	}
	for (unsigned c = 0; c < n && left > 0; c++)
		if (natural[c] > width[c]) {
			width[c]++;
			left--;
		}
}

static void flush_table(struct renderer *r)
{
	struct table *t = &r->table;
	unsigned n = t->ncols;
	if (n == 0 || t->ncells == 0)
		goto done;
	int *natural = xcalloc(n, sizeof(int)), *width = xcalloc(n, sizeof(int));
	for (size_t i = 0; i < t->ncells; i++) {
		wrap(t->cells[i].text.data, t->cells[i].text.len, INT_MAX, &r->lines);
		for (size_t k = 0; k < r->lines.n; k++)
			if (r->lines.v[k].width > natural[i % n])
				natural[i % n] = r->lines.v[k].width;
	}
	fit_columns(natural, width, n, avail_width(r) - 3 * ((int)n - 1));
	begin_block(r);
	struct spans *cell_lines = xcalloc(n, sizeof *cell_lines);
	size_t nrows = (t->ncells + n - 1) / n;
	for (size_t row = 0; row < nrows; row++) {
		size_t height = 1;
		for (unsigned c = 0; c < n; c++) {
			size_t i = row * n + c;
			cell_lines[c].n = 0;
			if (i < t->ncells)
				wrap(t->cells[i].text.data, t->cells[i].text.len, width[c], &cell_lines[c]);
			if (cell_lines[c].n > height)
				height = cell_lines[c].n;
		}
		for (size_t k = 0; k < height; k++) {
			put_prefix(r, r->ncont, PREFIX_LINE);
			for (unsigned c = 0; c < n; c++) {
				bool last = c + 1 == n;
				int w = 0;
				if (k < cell_lines[c].n)
					w = cell_lines[c].v[k].width;
				int pad = width[c] - w, before = 0;
				if (t->align[c] == MD_ALIGN_RIGHT)
					before = pad;
				else if (t->align[c] == MD_ALIGN_CENTER)
					before = pad / 2;
				put_spaces(r->out, k < cell_lines[c].n || !last ? before : 0);
				if (k < cell_lines[c].n)
					put_styled(r->out, &t->cells[row * n + c], cell_lines[c].v[k].from,
						   cell_lines[c].v[k].to, r->color);
				if (!last) {
					put_spaces(r->out, pad - before);
					buf_appends(r->out, " │ ");
				}
			}
			trim_spaces(r->out, 0);
			buf_appendc(r->out, '\n');
		}
		if (row == 0 && t->head_cells > 0) {
			put_prefix(r, r->ncont, PREFIX_LINE);
			for (unsigned c = 0; c < n; c++) {
				put_rule(r, "─", width[c]);
				if (c + 1 < n)
					buf_appends(r->out, "─┼─");
			}
			buf_appendc(r->out, '\n');
		}
	}
	for (unsigned c = 0; c < n; c++)
		free(cell_lines[c].v);
	free(cell_lines);
	free(natural);
	free(width);
	end_block(r);
done:
	for (size_t i = 0; i < t->ncells; i++)
		styled_free(&t->cells[i]);
	free(t->cells);
	free(t->align);
	memset(t, 0, sizeof *t);
}

static void push_container(struct renderer *r, struct container c)
{
	if (r->ncont == r->cont_cap) {
		r->cont_cap = r->cont_cap * 2 + 8;
		r->cont = xrealloc(r->cont, r->cont_cap * sizeof *r->cont);
	}
	r->cont[r->ncont++] = c;
}

static void pop_container(struct renderer *r)
{
	if (r->ncont == 0)
		return;
	r->ncont--;
	if (r->keep_depth > r->ncont)
		r->keep_depth = r->ncont;
}

static const char *const bullets[] = { "•", "◦", "▪" };

static void enter_item(struct renderer *r, const MD_BLOCK_LI_DETAIL *d)
{
	struct container c = { .quote = false };
	struct list *l = r->nlists ? &r->lists[r->nlists - 1] : NULL;
	if (l && l->ordered) {
		snprintf(c.marker, sizeof c.marker, "%u%c ", l->next++, l->delim);
	} else {
		size_t level = 0;
		for (size_t i = 0; i + 1 < r->nlists; i++)
			level += !r->lists[i].ordered;
		snprintf(c.marker, sizeof c.marker, "%s ", bullets[level % 3]);
	}
	if (d && d->is_task) {
		size_t n = strlen(c.marker);
		snprintf(c.marker + n, sizeof c.marker - n, "[%c] ", d->task_mark == ' ' ? ' ' : 'x');
	}
	c.marker_w = md_display_width(c.marker, strlen(c.marker));
	c.tight = l && l->tight;
	if (l) {
		if (l->tight && l->items > 0)
			r->need_blank = false;
		l->items++;
	}
	push_container(r, c);
}

static void push_list(struct renderer *r, struct list l)
{
	if (r->nlists == r->lists_cap) {
		r->lists_cap = r->lists_cap * 2 + 8;
		r->lists = xrealloc(r->lists, r->lists_cap * sizeof *r->lists);
	}
	r->lists[r->nlists++] = l;
}

static char *attr_dup(const MD_ATTRIBUTE *a)
{
	struct buf b = BUF_INIT;
	if (a && a->text)
		append_sanitized(&b, a->text, a->size);
	for (size_t i = 0; i < b.len; i++)
		if (b.data[i] == '\n' || b.data[i] == '\t')
			b.data[i] = ' ';
	return buf_detach(&b);
}

static int enter_block(MD_BLOCKTYPE type, void *detail, void *user)
{
	struct renderer *r = user;
	if (type != MD_BLOCK_DOC)
		flush_implicit(r);
	switch (type) {
	case MD_BLOCK_QUOTE:
		push_container(r, (struct container){ .quote = true });
		break;
	case MD_BLOCK_UL:
	case MD_BLOCK_OL: {
		struct list l = { .ordered = type == MD_BLOCK_OL };
		if (type == MD_BLOCK_OL) {
			const MD_BLOCK_OL_DETAIL *d = detail;
			l.tight = d->is_tight;
			l.next = d->start;
			l.delim = d->mark_delimiter;
		} else {
			l.tight = ((const MD_BLOCK_UL_DETAIL *)detail)->is_tight;
		}
		push_list(r, l);
		break;
	}
	case MD_BLOCK_LI:
		enter_item(r, detail);
		break;
	case MD_BLOCK_HR:
		begin_block(r);
		put_prefix(r, r->ncont, PREFIX_LINE);
		if (r->color)
			buf_appends(r->out, "\033[2m");
		put_rule(r, "─", avail_width(r));
		if (r->color)
			buf_appends(r->out, "\033[0m");
		buf_appendc(r->out, '\n');
		end_block(r);
		break;
	case MD_BLOCK_H:
		r->leaf = LEAF_HEADING;
		r->heading_level = ((const MD_BLOCK_H_DETAIL *)detail)->level;
		r->base_style = ST_BOLD;
		break;
	case MD_BLOCK_CODE: {
		const MD_BLOCK_CODE_DETAIL *d = detail;
		r->leaf = LEAF_CODE;
		free(r->code_lang);
		r->code_lang = attr_dup(&d->lang);
		break;
	}
	case MD_BLOCK_HTML:
		r->leaf = LEAF_CODE;
		break;
	case MD_BLOCK_P:
		r->leaf = LEAF_PARA;
		break;
	case MD_BLOCK_TABLE: {
		const MD_BLOCK_TABLE_DETAIL *d = detail;
		memset(&r->table, 0, sizeof r->table);
		r->table.ncols = d->col_count;
		r->table.align = xcalloc(d->col_count + 1, sizeof *r->table.align);
		break;
	}
	case MD_BLOCK_THEAD:
		r->table.in_head = true;
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD: {
		struct table *t = &r->table;
		unsigned col = t->ncols ? (unsigned)(t->ncells % t->ncols) : 0;
		if (t->ncols && t->ncells < t->ncols)
			t->align[col] = ((const MD_BLOCK_TD_DETAIL *)detail)->align;
		r->leaf = LEAF_CELL;
		r->base_style = t->in_head ? ST_BOLD : 0;
		break;
	}
	default:
		break;
	}
	return 0;
}

static int leave_block(MD_BLOCKTYPE type, void *detail, void *user)
{
	struct renderer *r = user;
	(void)detail;
	switch (type) {
	case MD_BLOCK_QUOTE:
		flush_implicit(r);
		pop_container(r);
		r->need_blank = true;
		break;
	case MD_BLOCK_UL:
	case MD_BLOCK_OL:
		if (r->nlists)
			r->nlists--;
		r->need_blank = true;
		break;
	case MD_BLOCK_LI:
		flush_implicit(r);
		if (r->ncont && !r->cont[r->ncont - 1].marker_shown) {
			begin_block(r);
			put_prefix(r, r->ncont, PREFIX_EMPTY);
			buf_appendc(r->out, '\n');
			end_block(r);
		}
		pop_container(r);
		break;
	case MD_BLOCK_H:
	case MD_BLOCK_P:
		flush_paragraph(r);
		break;
	case MD_BLOCK_CODE:
	case MD_BLOCK_HTML:
		flush_code(r);
		break;
	case MD_BLOCK_THEAD:
		r->table.in_head = false;
		r->table.head_cells = r->table.ncells;
		break;
	case MD_BLOCK_TH:
	case MD_BLOCK_TD: {
		struct table *t = &r->table;
		if (t->ncells == t->cap) {
			t->cap = t->cap * 2 + 8;
			t->cells = xrealloc(t->cells, t->cap * sizeof *t->cells);
		}
		t->cells[t->ncells++] = r->inl;
		memset(&r->inl, 0, sizeof r->inl);
		r->leaf = LEAF_NONE;
		r->base_style = 0;
		break;
	}
	case MD_BLOCK_TABLE:
		flush_table(r);
		break;
	default:
		break;
	}
	return 0;
}

static void append_inline(struct renderer *r, const char *s, size_t n, unsigned style)
{
	struct buf clean = BUF_INIT;
	append_sanitized(&clean, s, n);
	for (size_t i = 0; i < clean.len; i++)
		if (clean.data[i] == '\t' || clean.data[i] == '\n')
			clean.data[i] = ' ';
	styled_append(&r->inl, clean.data ? clean.data : "", clean.len, style);
	buf_free(&clean);
}

static int enter_span(MD_SPANTYPE type, void *detail, void *user)
{
	struct renderer *r = user;
	if (r->leaf == LEAF_NONE) {
		r->leaf = LEAF_PARA;
		r->implicit = true;
	}
	switch (type) {
	case MD_SPAN_EM: r->span_depth[SI_ITALIC]++; break;
	case MD_SPAN_STRONG: r->span_depth[SI_BOLD]++; break;
	case MD_SPAN_CODE: r->span_depth[SI_CODE]++; break;
	case MD_SPAN_DEL:
		if (r->color)
			r->span_depth[SI_STRIKE]++;
		else
			append_inline(r, "~~", 2, cur_style(r));
		break;
	case MD_SPAN_A:
	case MD_SPAN_IMG: {
		const MD_ATTRIBUTE *href = type == MD_SPAN_A ? &((const MD_SPAN_A_DETAIL *)detail)->href
							    : &((const MD_SPAN_IMG_DETAIL *)detail)->src;
		if (r->nlinks == r->links_cap) {
			r->links_cap = r->links_cap * 2 + 4;
			r->links = xrealloc(r->links, r->links_cap * sizeof *r->links);
		}
		r->links[r->nlinks++] = (struct link){ r->inl.text.len, attr_dup(href) };
		r->span_depth[SI_LINK]++;
		break;
	}
	default:
		break;
	}
	return 0;
}

static int leave_span(MD_SPANTYPE type, void *detail, void *user)
{
	struct renderer *r = user;
	(void)detail;
	switch (type) {
	case MD_SPAN_EM: r->span_depth[SI_ITALIC]--; break;
	case MD_SPAN_STRONG: r->span_depth[SI_BOLD]--; break;
	case MD_SPAN_CODE: r->span_depth[SI_CODE]--; break;
	case MD_SPAN_DEL:
		if (r->color)
			r->span_depth[SI_STRIKE]--;
		else
			append_inline(r, "~~", 2, cur_style(r));
		break;
	case MD_SPAN_A:
	case MD_SPAN_IMG: {
		if (r->nlinks == 0)
			break;
		struct link l = r->links[--r->nlinks];
		r->span_depth[SI_LINK]--;
		const char *text = r->inl.text.data ? r->inl.text.data + l.from : "";
		size_t tn = r->inl.text.len - l.from;
		const char *url = l.href;
		if (strncmp(url, "mailto:", 7) == 0 && strlen(url + 7) == tn && memcmp(url + 7, text, tn) == 0)
			url += 7;
		if (strlen(url) == tn && memcmp(url, text, tn) == 0) {
			for (size_t i = l.from; i < r->inl.text.len; i++)
				r->inl.style[i] = (unsigned char)((r->inl.style[i] & ~ST_LINK) | ST_URL);
		} else if (*url && tn == 0) {
			append_inline(r, url, strlen(url), cur_style(r) | ST_URL);
		} else if (*url) {
			append_inline(r, " (", 2, cur_style(r));
			append_inline(r, url, strlen(url), cur_style(r) | ST_URL);
			append_inline(r, ")", 1, cur_style(r));
		}
		free(l.href);
		break;
	}
	default:
		break;
	}
	return 0;
}

/* Appends the UTF-8 for a Markdown entity ("&amp;", "&#233;", "&#x1F600;"); an unknown name as written. */
static void decode_entity(const char *s, size_t n, struct buf *out)
{
	static const struct { const char *name, *utf8; } named[] = {
		{ "amp", "&" }, { "lt", "<" }, { "gt", ">" }, { "quot", "\"" }, { "apos", "'" },
		{ "nbsp", "\xC2\xA0" }, { "copy", "©" }, { "reg", "®" }, { "trade", "™" },
		{ "mdash", "—" }, { "ndash", "–" }, { "hellip", "…" }, { "laquo", "«" },
		{ "raquo", "»" }, { "rarr", "→" }, { "larr", "←" }, { "times", "×" },
		{ "middot", "·" }, { "deg", "°" }, { "euro", "€" }, { "bull", "•" },
	};
	if (n >= 4 && s[1] == '#') {
		bool hex = s[2] == 'x' || s[2] == 'X';
		unsigned long v = 0;
		for (size_t i = hex ? 3 : 2; i + 1 < n && v <= 0x10FFFF; i++)
			v = v * (hex ? 16 : 10) + (unsigned long)(isdigit((unsigned char)s[i]) ? s[i] - '0'
				: (tolower((unsigned char)s[i]) - 'a' + 10));
		if (v == 0 || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF) || v < 0x20 ||
		    (v >= 0x7F && v < 0xA0)) {
			buf_appends(out, REPLACEMENT);
		} else if (v < 0x80) {
			buf_appendc(out, (char)v);
		} else if (v < 0x800) {
			buf_appendc(out, (char)(0xC0 | (v >> 6)));
			buf_appendc(out, (char)(0x80 | (v & 0x3F)));
		} else if (v < 0x10000) {
			buf_appendc(out, (char)(0xE0 | (v >> 12)));
			buf_appendc(out, (char)(0x80 | ((v >> 6) & 0x3F)));
			buf_appendc(out, (char)(0x80 | (v & 0x3F)));
		} else {
			buf_appendc(out, (char)(0xF0 | (v >> 18)));
			buf_appendc(out, (char)(0x80 | ((v >> 12) & 0x3F)));
			buf_appendc(out, (char)(0x80 | ((v >> 6) & 0x3F)));
			buf_appendc(out, (char)(0x80 | (v & 0x3F)));
		}
		return;
	}
	for (size_t i = 0; i < sizeof named / sizeof named[0]; i++)
		if (n == strlen(named[i].name) + 2 && memcmp(s + 1, named[i].name, n - 2) == 0) {
			buf_appends(out, named[i].utf8);
			return;
		}
	buf_append(out, s, n);
}

static int on_text(MD_TEXTTYPE type, const MD_CHAR *s, MD_SIZE n, void *user)
{
	struct renderer *r = user;
	if (r->leaf == LEAF_CODE) {
		append_sanitized(&r->code, s, n);
		return 0;
	}
	if (r->leaf == LEAF_NONE) {
		r->leaf = LEAF_PARA;
		r->implicit = true;
	}
	unsigned style = cur_style(r);
	switch (type) {
	case MD_TEXT_NULLCHAR:
		append_inline(r, REPLACEMENT, 3, style);
		break;
	case MD_TEXT_BR:
		styled_append(&r->inl, "\n", 1, style);
		break;
	case MD_TEXT_SOFTBR:
		styled_append(&r->inl, " ", 1, style);
		break;
	case MD_TEXT_ENTITY: {
		struct buf e = BUF_INIT;
		decode_entity(s, n, &e);
		append_inline(r, buf_str(&e), e.len, style);
		buf_free(&e);
		break;
	}
	default:
		append_inline(r, s, n, style);
		break;
	}
	return 0;
}

/*
 * Renders text as one run of blocks onto out. *emitted says whether
 * earlier output exists (then a blank line goes first) and is updated.
 */
static void render_blocks(const char *s, size_t len, int width, bool color, bool *emitted,
			  struct buf *out)
{
	struct renderer r = { .width = width > 0 ? width : 80, .color = color, .out = out };
	r.need_blank = r.emitted = *emitted;
	MD_PARSER parser = {
		.flags = MD_FLAGS,
		.enter_block = enter_block,
		.leave_block = leave_block,
		.enter_span = enter_span,
		.leave_span = leave_span,
		.text = on_text,
	};
	md_parse(s ? s : "", (MD_SIZE)(len > UINT_MAX ? UINT_MAX : len), &parser, &r);
	flush_implicit(&r);
	if (r.leaf == LEAF_CODE)
		flush_code(&r);
	*emitted = r.emitted;
	for (size_t i = 0; i < r.nlinks; i++)
		free(r.links[i].href);
	for (size_t i = 0; i < r.table.ncells; i++)
		styled_free(&r.table.cells[i]);
	free(r.table.cells);
	free(r.table.align);
	free(r.links);
	free(r.cont);
	free(r.lists);
	free(r.lines.v);
	free(r.code_lang);
	buf_free(&r.code);
	styled_free(&r.inl);
}

void md_render(const char *text_, size_t len, const struct md_opts *o, struct buf *out)
{
	bool emitted = false;
	render_blocks(text_, len, o->width, o->color, &emitted, out);
}

/*
 * Streaming. The held text is cut into runs of complete top-level blocks,
 * each rendered once. The cut points depend only on the text, never on
 * how it was split into pieces, so feeding byte by byte prints what
 * feeding it whole prints. Where a cut may go:
 *  - after a blank line outside a fence, when the held text has no list
 *    and no indented line (nothing after a blank line can continue a
 *    paragraph, quote, table or fenced code in a way that renders
 *    differently);
 *  - else before the first line after blank lines that starts at column
 *    0 and is not a list item (an indented line or a new item may
 *    continue a list, which changes its spacing, or an indented code
 *    block, which keeps its inner blank lines);
 *  - after the closing line of a fence opened at column 0.
 */
struct md_stream {
	struct md_opts o;
	struct buf held;
	size_t scan;		/* the held text before it has been looked at */
	size_t no_newline;	/* bytes after scan known to hold no newline */
	bool content;		/* held has a non-blank line before scan */
	bool hold;		/* held has a list item or an indented line */
	bool blank;		/* a blank line follows the content */
	bool in_fence;
	char fence_ch;
	size_t fence_len, fence_indent;
	bool emitted;
};

struct md_stream *md_stream_new(const struct md_opts *o)
{
	struct md_stream *s = xcalloc(1, sizeof *s);
	s->o = *o;
	return s;
}

void md_stream_set_width(struct md_stream *s, int width)
{
	s->o.width = width;
}

static bool blank_line(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n')
			return false;
	return true;
}

static size_t indent_of(const char *p, size_t n)
{
	size_t i = 0;
	while (i < n && p[i] == ' ')
		i++;
	return i;
}

static bool space_or_end(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whether the line p[0,n) begins a list item: 1, 0, or -1 when more bytes are needed. */
static int list_marker(const char *p, size_t n)
{
	size_t i = indent_of(p, n);
	if (i == n)
		return -1;
	if (i > 3)
		return 0;
	if (p[i] == '-' || p[i] == '*' || p[i] == '+')
		return i + 1 == n ? -1 : space_or_end(p[i + 1]);
	size_t d = i;
	while (d < n && d - i < 10 && isdigit((unsigned char)p[d]))
		d++;
	if (d == i || d - i > 9)
		return 0;
	if (d == n)
		return -1;
	if (p[d] != '.' && p[d] != ')')
		return 0;
	return d + 1 == n ? -1 : space_or_end(p[d + 1]);
}

/* Whether the line p[0,n) surely starts a new top-level block after a list and blank lines. */
static int starts_new_block(const char *p, size_t n)
{
	if (n == 0)
		return -1;
	if (p[0] == ' ' || p[0] == '\t')
		return 0;
	int m = list_marker(p, n);
	return m < 0 ? -1 : !m;
}

/* A fence opener: up to 3 spaces, then 3 or more ` or ~ (an info string after ` has no `). */
static bool fence_open(const char *p, size_t n, char *ch, size_t *len, size_t *indent)
{
	size_t i = indent_of(p, n);
	if (i > 3 || i == n || (p[i] != '`' && p[i] != '~'))
		return false;
	size_t k = i;
	while (k < n && p[k] == p[i])
		k++;
	if (k - i < 3)
		return false;
	if (p[i] == '`' && memchr(p + k, '`', n - k))
		return false;
	*ch = p[i];
	*len = k - i;
	*indent = i;
	return true;
}

static bool fence_close(const struct md_stream *s, const char *p, size_t n)
{
	size_t i = indent_of(p, n);
	if (i > 3)
		return false;
	size_t k = i;
	while (k < n && p[k] == s->fence_ch)
		k++;
	return k - i >= s->fence_len && blank_line(p + k, n - k);
}

/* Renders and drops the first n held bytes. */
static void cut(struct md_stream *s, size_t n, struct buf *out)
{
	if (!blank_line(s->held.data, n))
		render_blocks(s->held.data, n, s->o.width, s->o.color, &s->emitted, out);
	buf_consume(&s->held, n);
	s->scan -= n;
	s->content = s->hold = s->blank = false;
}

void md_stream_feed(struct md_stream *s, const char *text_, size_t len, struct buf *out)
{
	buf_append(&s->held, text_, len);
	for (;;) {
		const char *line = s->held.data + s->scan;
		size_t rest = s->held.len - s->scan;
		const char *nl = memchr(line + s->no_newline, '\n', rest - s->no_newline);
		if (!nl) {
			s->no_newline = rest;
			if (rest > 0 && !s->in_fence && s->blank && s->hold &&
			    starts_new_block(line, rest) == 1)
				cut(s, s->scan, out);
			return;
		}
		size_t n = (size_t)(nl - line) + 1;
		s->no_newline = 0;
		if (s->in_fence) {
			s->scan += n;
			if (fence_close(s, line, n)) {
				s->in_fence = false;
				if (s->fence_indent == 0)
					cut(s, s->scan, out);
			}
			continue;
		}
		if (blank_line(line, n)) {
			s->scan += n;
			if (s->content && !s->hold)
				cut(s, s->scan, out);
			else if (s->content)
				s->blank = true;
			continue;
		}
		if (s->blank && starts_new_block(line, n) == 1) {
			cut(s, s->scan, out);
			line = s->held.data + s->scan;
		}
		s->blank = false;
		s->content = true;
		if (list_marker(line, n) == 1 || indent_of(line, n) >= 4 || line[0] == '\t')
			s->hold = true;
		if (fence_open(line, n, &s->fence_ch, &s->fence_len, &s->fence_indent))
			s->in_fence = true;
		s->scan += n;
	}
}

bool md_stream_pending(const struct md_stream *s)
{
	return !blank_line(s->held.data, s->held.len);
}

void md_stream_finish(struct md_stream *s, struct buf *out)
{
	if (md_stream_pending(s))
		render_blocks(s->held.data, s->held.len, s->o.width, s->o.color, &s->emitted, out);
	buf_reset(&s->held);
	struct md_opts o = s->o;
	struct buf held = s->held;
	memset(s, 0, sizeof *s);
	s->o = o;
	s->held = held;
}

void md_stream_free(struct md_stream *s)
{
	if (!s)
		return;
	buf_free(&s->held);
	free(s);
}
