#include "diff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct line {
	const char *p;
	size_t n;	/* bytes, without the '\n' */
	bool nl;	/* ends with '\n' (false only for a last line without one) */
	uint64_t h;
};

/* Splits text into lines; returns how many, or -1 when more than max. */
static long split_lines(const char *t, size_t len, struct line **out, long max)
{
	long count = 0;
	for (size_t i = 0; i < len; i++)
		if (t[i] == '\n')
			count++;
	if (len && t[len - 1] != '\n')
		count++;
	if (count > max)
		return -1;
	struct line *v = xcalloc((size_t)count + 1, sizeof *v);
	size_t start = 0;
	for (long k = 0; k < count; k++) {
		const char *nl = memchr(t + start, '\n', len - start);
		size_t end = nl ? (size_t)(nl - t) : len;
		uint64_t h = 1469598103934665603ULL;
		for (size_t i = start; i < end; i++)
			h = (h ^ (unsigned char)t[i]) * 1099511628211ULL;
		v[k] = (struct line){ t + start, end - start, nl != NULL, h ^ (nl != NULL) };
		start = end + 1;
	}
	*out = v;
	return count;
}

static bool line_eq(const struct line *a, const struct line *b)
{
	return a->h == b->h && a->n == b->n && a->nl == b->nl && memcmp(a->p, b->p, a->n) == 0;
}

/*
 * The edit search: del[i] marks line i of a removed, ins[j] line j of b
 * added; every unmarked line is common. vf and vb are scratch diagonals
 * sized for the whole problem.
 */
struct differ {
	const struct line *a, *b;
	bool *del, *ins;
	long *vf, *vb;
};

/*
 * Myers' middle snake, in linear space: walks the shortest edit path from
 * both corners of a[0,n) x b[0,m) at once and returns where they meet, as
 * a point (*sx, *sy) on an optimal path strictly inside the box. The
 * caller has stripped common first and last lines, so n + m > 0 and the
 * point splits the problem into two smaller ones.
 */
static void middle_snake(struct differ *d, long a0, long n, long b0, long m, long *sx, long *sy)
{
	const struct line *a = d->a + a0, *b = d->b + b0;
	long max = (n + m + 1) / 2 + 1, delta = n - m;
	long *vf = d->vf, *vb = d->vb, off = max;
	for (long i = 0; i <= 2 * max; i++)
		vf[i] = vb[i] = -1;
	vf[off + 1] = 0;
	vb[off + 1] = 0;
	bool odd = delta % 2 != 0;
	long fstart = 0, fend = 0, bstart = 0, bend = 0;
	for (long e = 0; e < max; e++) {
		for (long k = -e + fstart; k <= e - fend; k += 2) {
			long x = (k == -e || (k != e && vf[off + k - 1] < vf[off + k + 1]))
					 ? vf[off + k + 1] : vf[off + k - 1] + 1;
			long y = x - k;
			while (x < n && y < m && line_eq(&a[x], &b[y]))
				x++, y++;
			vf[off + k] = x;
			if (x > n) {
				fend += 2;
			} else if (y > m) {
				fstart += 2;
			} else if (odd) {
				long c = off + delta - k;
				if (c >= 0 && c <= 2 * max && vb[c] != -1 && x >= n - vb[c]) {
					*sx = x;
					*sy = y;
					return;
				}
			}
		}
		for (long k = -e + bstart; k <= e - bend; k += 2) {
			long x = (k == -e || (k != e && vb[off + k - 1] < vb[off + k + 1]))
					 ? vb[off + k + 1] : vb[off + k - 1] + 1;
			long y = x - k;
			while (x < n && y < m && line_eq(&a[n - x - 1], &b[m - y - 1]))
				x++, y++;
			vb[off + k] = x;
			if (x > n) {
				bend += 2;
			} else if (y > m) {
				bstart += 2;
			} else if (!odd) {
				long c = off + delta - k;
				if (c >= 0 && c <= 2 * max && vf[c] != -1 && vf[c] >= n - x) {
					*sx = vf[c];
					*sy = vf[c] - (delta - k);
					return;
				}
			}
		}
	}
	/* Not reached for n + m > 0; a split that always makes progress. */
	*sx = n > 0 ? 1 : 0;
	*sy = n > 0 ? 0 : 1;
}

static void diff_range(struct differ *d, long a0, long a1, long b0, long b1)
{
	while (a0 < a1 && b0 < b1 && line_eq(&d->a[a0], &d->b[b0]))
		a0++, b0++;
	while (a0 < a1 && b0 < b1 && line_eq(&d->a[a1 - 1], &d->b[b1 - 1]))
		a1--, b1--;
	if (a0 == a1) {
		for (long j = b0; j < b1; j++)
			d->ins[j] = true;
		return;
	}
	if (b0 == b1) {
		for (long i = a0; i < a1; i++)
			d->del[i] = true;
		return;
	}
	long x, y;
	middle_snake(d, a0, a1 - a0, b0, b1 - b0, &x, &y);
	diff_range(d, a0, a0 + x, b0, b0 + y);
	diff_range(d, a0 + x, a1, b0 + y, b1);
}

static int cmp_hash(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;
	return a < b ? -1 : a > b;
}

/*
 * Keeps, from x[0,n), the lines whose hash occurs among y's lines (sorted
 * hashes yh[0,m)): a line that occurs nowhere on the other side can only
 * be removed or added, so it is marked at once (*gone) and left out of the
 * search. This keeps two unrelated files from costing O(n * m).
 */
static long keep_shared(const struct line *x, long n, const uint64_t *yh, long m,
			struct line *kept, long *map, bool *gone)
{
	long k = 0;
	for (long i = 0; i < n; i++) {
		if (!bsearch(&x[i].h, yh, (size_t)m, sizeof *yh, cmp_hash)) {
			gone[i] = true;
			continue;
		}
		kept[k] = x[i];
		map[k++] = i;
	}
	return k;
}

static uint64_t *sorted_hashes(const struct line *x, long n)
{
	uint64_t *h = xmalloc(sizeof *h * (size_t)(n + 1));
	for (long i = 0; i < n; i++)
		h[i] = x[i].h;
	qsort(h, (size_t)n, sizeof *h, cmp_hash);
	return h;
}

/* Fills del[0,n) and ins[0,m) with a minimal edit script from a to b. */
static void mark_changes(const struct line *a, long n, const struct line *b, long m,
			 bool *del, bool *ins)
{
	uint64_t *ah = sorted_hashes(a, n), *bh = sorted_hashes(b, m);
	struct line *ka = xmalloc(sizeof *ka * (size_t)(n + 1)), *kb = xmalloc(sizeof *kb * (size_t)(m + 1));
	long *amap = xmalloc(sizeof *amap * (size_t)(n + 1)), *bmap = xmalloc(sizeof *bmap * (size_t)(m + 1));
	long kn = keep_shared(a, n, bh, m, ka, amap, del);
	long km = keep_shared(b, m, ah, n, kb, bmap, ins);
	long max = (kn + km + 1) / 2 + 2;
	struct differ d = {
		ka, kb, xcalloc((size_t)kn + 1, sizeof(bool)), xcalloc((size_t)km + 1, sizeof(bool)),
		xmalloc(sizeof(long) * (size_t)(2 * max + 2)), xmalloc(sizeof(long) * (size_t)(2 * max + 2)),
	};
	diff_range(&d, 0, kn, 0, km);
	for (long i = 0; i < kn; i++)
		del[amap[i]] = d.del[i];
	for (long j = 0; j < km; j++)
		ins[bmap[j]] = d.ins[j];
	free(d.del);
	free(d.ins);
	free(d.vf);
	free(d.vb);
	free(ka);
	free(kb);
	free(amap);
	free(bmap);
	free(ah);
	free(bh);
}

/* One line of the edit script: ' ', '-' or '+', and the line it shows. */
struct op {
	char kind;
	const struct line *l;
};

static void put_line(struct buf *out, char kind, const struct line *l)
{
	buf_appendc(out, kind);
	buf_append(out, l->p, l->n);
	buf_appendc(out, '\n');
	if (!l->nl)
		buf_appends(out, "\\ No newline at end of file\n");
}

/* "l,n" as diff -u writes it: "l" alone when n is 1, "l-1,0" when n is 0. */
static void put_range(struct buf *out, long start, long count)
{
	if (count == 1)
		buf_printf(out, "%ld", start);
	else
		buf_printf(out, "%ld,%ld", count ? start : start - 1, count);
}

/* Writes ops[from, to) as one hunk; ai and bi are the 1-based first lines. */
static void put_hunk(struct buf *out, const struct op *ops, long from, long to, long ai, long bi)
{
	long na = 0, nb = 0;
	for (long i = from; i < to; i++) {
		na += ops[i].kind != '+';
		nb += ops[i].kind != '-';
	}
	buf_appends(out, "@@ -");
	put_range(out, ai, na);
	buf_appends(out, " +");
	put_range(out, bi, nb);
	buf_appends(out, " @@\n");
	for (long i = from; i < to; i++)
		put_line(out, ops[i].kind, ops[i].l);
}

int diff_unified(const char *a, size_t alen, const char *b, size_t blen, int context,
		 struct buf *out, struct diff_stat *stat)
{
	struct line *la = NULL, *lb = NULL;
	long n = split_lines(a, alen, &la, DIFF_MAX_LINES);
	long m = n < 0 ? -1 : split_lines(b, blen, &lb, DIFF_MAX_LINES);
	if (n < 0 || m < 0) {
		free(la);
		return -1;
	}
	if (context < 0)
		context = 0;
	bool *del = xcalloc((size_t)n + 1, sizeof(bool)), *ins = xcalloc((size_t)m + 1, sizeof(bool));
	mark_changes(la, n, lb, m, del, ins);

	struct op *ops = xmalloc(sizeof *ops * (size_t)(n + m + 1));
	long nops = 0, i = 0, j = 0;
	stat->added = stat->removed = 0;
	while (i < n || j < m) {
		if (i < n && del[i]) {
			ops[nops++] = (struct op){ '-', &la[i++] };
			stat->removed++;
		} else if (j < m && ins[j]) {
			ops[nops++] = (struct op){ '+', &lb[j++] };
			stat->added++;
		} else {
			ops[nops++] = (struct op){ ' ', &la[i] };
			i++, j++;
		}
	}

	/* Hunks: each change with `context` common lines around it, merged
	 * when two changes are at most 2 * context common lines apart. */
	long k = 0, ai = 1, bi = 1;
	while (k < nops) {
		if (ops[k].kind == ' ') {
			ai++, bi++, k++;
			continue;
		}
		long from = k - context < 0 ? 0 : k - context;
		long hai = ai - (k - from), hbi = bi - (k - from);
		long end = k;
		for (;;) {
			while (end < nops && ops[end].kind != ' ')
				end++;
			long common = end;
			while (common < nops && ops[common].kind == ' ')
				common++;
			if (common < nops && common - end <= 2 * context) {
				end = common;
				continue;
			}
			break;
		}
		long to = end + context > nops ? nops : end + context;
		put_hunk(out, ops, from, to, hai, hbi);
		for (; k < to; k++) {
			ai += ops[k].kind != '+';
			bi += ops[k].kind != '-';
		}
	}
	free(ops);
	free(del);
	free(ins);
	free(la);
	free(lb);
	return 0;
}

/* Parses "@@ -l[,n] +l[,n] @@": the old and new line counts of the hunk. */
static bool parse_hunk_header(const char *s, long *old_n, long *new_n)
{
	long l1, n1 = 1, l2, n2 = 1;
	char *e;
	if (strncmp(s, "@@ -", 4) != 0)
		return false;
	l1 = strtol(s + 4, &e, 10);
	if (*e == ',')
		n1 = strtol(e + 1, &e, 10);
	if (strncmp(e, " +", 2) != 0)
		return false;
	l2 = strtol(e + 2, &e, 10);
	if (*e == ',')
		n2 = strtol(e + 1, &e, 10);
	(void)l1;
	(void)l2;
	if (strncmp(e, " @@", 3) != 0 || n1 < 0 || n2 < 0)
		return false;
	*old_n = n1;
	*new_n = n2;
	return true;
}

/*
 * Calls each(kind, line, len) for every line of udiff with its kind: 'h'
 * for a hunk header, '+', '-', ' ' or '\\' inside a hunk, 'f' for anything
 * outside hunks (file headers). Hunk lengths come from the headers, so a
 * removed line "--- x" is not taken for a file header.
 */
static void walk_udiff(const char *udiff, void (*each)(char, const char *, size_t, void *), void *user)
{
	long old_rem = 0, new_rem = 0;
	const char *p = udiff;
	while (*p) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char kind = 'f';
		if (old_rem > 0 || new_rem > 0) {
			if (*p == '+' && new_rem > 0)
				kind = '+', new_rem--;
			else if (*p == '-' && old_rem > 0)
				kind = '-', old_rem--;
			else if (*p == ' ' || len == 0)
				kind = ' ', old_rem--, new_rem--;
			else if (*p == '\\')
				kind = '\\';
			else
				old_rem = new_rem = 0;
		} else if (*p == '\\') {
			kind = '\\';
		}
		if (kind == 'f' && parse_hunk_header(p, &old_rem, &new_rem))
			kind = 'h';
		each(kind, p, len, user);
		p += len + (nl != NULL);
	}
}

static void count_line(char kind, const char *line, size_t len, void *user)
{
	struct diff_stat *st = user;
	(void)line;
	(void)len;
	st->added += kind == '+';
	st->removed += kind == '-';
}

void diff_count(const char *udiff, struct diff_stat *stat)
{
	stat->added = stat->removed = 0;
	walk_udiff(udiff, count_line, stat);
}

/*
 * Appends s[0,n) with the control characters that could drive a terminal
 * (C0 but tab, DEL, and C1 written in UTF-8) shown as U+FFFD: a file's
 * content is the model's, and it must not reach the screen as escapes.
 */
static void append_visible(struct buf *out, const char *s, size_t n)
{
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		size_t bad = 0;
		if ((c < 0x20 && c != '\t') || c == 0x7F)
			bad = 1;
		else if (c == 0xC2 && i + 1 < n && (unsigned char)s[i + 1] >= 0x80 &&
			 (unsigned char)s[i + 1] <= 0x9F)
			bad = 2;
		if (!bad)
			continue;
		buf_append(out, s + run, i - run);
		buf_appends(out, "\xEF\xBF\xBD");
		i += bad - 1;
		run = i + 1;
	}
	buf_append(out, s + run, n - run);
}

struct render_state {
	struct buf *out;
	bool color;
	long shown, max, hidden;
};

static void render_line(char kind, const char *line, size_t len, void *user)
{
	struct render_state *r = user;
	if (r->max > 0 && r->shown >= r->max) {
		r->hidden++;
		return;
	}
	r->shown++;
	const char *sgr = NULL;
	if (r->color) {
		switch (kind) {
		case '+': sgr = "32"; break;
		case '-': sgr = "31"; break;
		case 'h': sgr = "36"; break;
		case 'f': sgr = "1"; break;
		case '\\': sgr = "2"; break;
		default: break;
		}
	}
	if (sgr && len)
		buf_printf(r->out, "\033[%sm", sgr);
	append_visible(r->out, line, len);
	buf_appends(r->out, sgr && len ? "\033[0m\n" : "\n");
}

void diff_render(const char *path, const char *udiff, bool color, int max_lines,
		 struct buf *out)
{
	struct diff_stat st;
	diff_count(udiff, &st);
	if (color)
		buf_appends(out, "\033[1m");
	append_visible(out, path, strlen(path));
	if (color)
		buf_printf(out, "\033[0m \033[32m+%ld\033[0m \033[31m-%ld\033[0m\n", st.added, st.removed);
	else
		buf_printf(out, " +%ld -%ld\n", st.added, st.removed);
	struct render_state r = { out, color, 0, max_lines, 0 };
	walk_udiff(udiff, render_line, &r);
	if (r.hidden)
		buf_printf(out, "%s… %ld more line%s (-v shows all)%s\n", color ? "\033[2m" : "",
			   r.hidden, r.hidden == 1 ? "" : "s", color ? "\033[0m" : "");
}
