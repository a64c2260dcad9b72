/* Line diffs: lib/diff.c's hunks compared byte for byte with what diff -u prints. */
#include "diff.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

/* The unified hunks of a -> b with 3 lines of context, or "TOO LARGE". */
static char *udiff(const char *a, const char *b, struct diff_stat *st)
{
	struct buf out = BUF_INIT;
	struct diff_stat ignored;
	if (diff_unified(a, strlen(a), b, strlen(b), 3, &out, st ? st : &ignored) < 0) {
		buf_free(&out);
		return xstrdup("TOO LARGE");
	}
	return buf_detach(&out);
}

static void expect_diff(const char *a, const char *b, const char *want)
{
	char *got = udiff(a, b, NULL);
	CHECK_STR(got, want);
	free(got);
}

static void test_change_and_insert(void)
{
	struct diff_stat st;
	char *got = udiff("a\nb\nc\nd\ne\nf\ng\nh\ni\nj\n", "a\nb\nc\nD\ne\nf\ng\nh\ni\nj\nk\n", &st);
	CHECK_STR(got, "@@ -1,10 +1,11 @@\n a\n b\n c\n-d\n+D\n e\n f\n g\n h\n i\n j\n+k\n");
	CHECK(st.added == 2);
	CHECK(st.removed == 1);
	free(got);
}

static void test_insert_into_empty(void)
{
	expect_diff("", "x\n", "@@ -0,0 +1 @@\n+x\n");
}

static void test_delete_all(void)
{
	struct diff_stat st;
	char *got = udiff("p\nq\n", "", &st);
	CHECK_STR(got, "@@ -1,2 +0,0 @@\n-p\n-q\n");
	CHECK(st.added == 0);
	CHECK(st.removed == 2);
	free(got);
}

static void test_delete_in_middle(void)
{
	expect_diff("1\n2\n3\n4\n5\n6\n7\n8\n9\n", "1\n2\n3\n4\n6\n7\n8\n9\n",
		    "@@ -2,7 +2,6 @@\n 2\n 3\n 4\n-5\n 6\n 7\n 8\n");
}

static void test_no_newline_at_end(void)
{
	expect_diff("one\ntwo", "one\ntwo\n",
		    "@@ -1,2 +1,2 @@\n one\n-two\n\\ No newline at end of file\n+two\n");
	expect_diff("one\n", "one\ntwo",
		    "@@ -1 +1,2 @@\n one\n+two\n\\ No newline at end of file\n");
}

static void test_identical_gives_nothing(void)
{
	struct diff_stat st = { 5, 5 };
	char *got = udiff("same\nlines\n", "same\nlines\n", &st);
	CHECK_STR(got, "");
	CHECK(st.added == 0);
	CHECK(st.removed == 0);
	free(got);
	expect_diff("", "", "");
}

static void test_separate_hunks(void)
{
	const char *f = "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n16\n";
	expect_diff(f, "1\ntwo\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\nfifteen\n16\n",
		    "@@ -1,5 +1,5 @@\n 1\n-2\n+two\n 3\n 4\n 5\n"
		    "@@ -12,5 +12,5 @@\n 12\n 13\n 14\n-15\n+fifteen\n 16\n");
	/* Six common lines between two changes: one hunk, as diff -U3 makes it. */
	expect_diff(f, "1\ntwo\n3\n4\n5\n6\n7\n8\nnine\n10\n11\n12\n13\n14\n15\n16\n",
		    "@@ -1,12 +1,12 @@\n 1\n-2\n+two\n 3\n 4\n 5\n 6\n 7\n 8\n-9\n+nine\n"
		    " 10\n 11\n 12\n");
}

static void test_too_large(void)
{
	struct buf big = BUF_INIT;
	for (int i = 0; i <= DIFF_MAX_LINES; i++)
		buf_appends(&big, "x\n");
	struct buf out = BUF_INIT;
	struct diff_stat st;
	CHECK(diff_unified(big.data, big.len, "x\n", 2, 3, &out, &st) == -1);
	CHECK(diff_unified("x\n", 2, big.data, big.len, 3, &out, &st) == -1);
	CHECK(out.len == 0);
	/* Exactly the limit is still diffed. */
	CHECK(diff_unified(big.data, big.len - 2, "y\n", 2, 3, &out, &st) == 0);
	CHECK(st.removed == DIFF_MAX_LINES);
	CHECK(st.added == 1);
	buf_free(&out);
	buf_free(&big);
}

/* Applies unified hunks (as diff_unified writes them) to a; returns b. */
static char *apply(const char *a, const char *ud)
{
	struct buf out = BUF_INIT;
	const char *ap = a, *p = ud;
	while (*p) {
		long l1, n1 = 1;
		char *e;
		CHECK(strncmp(p, "@@ -", 4) == 0);
		l1 = strtol(p + 4, &e, 10);
		if (*e == ',')
			n1 = strtol(e + 1, &e, 10);
		if (n1 == 0)
			l1++;
		long line = 1;
		for (const char *q = a; q < ap; q++)
			line += *q == '\n';
		while (line < l1) {
			const char *nl = strchr(ap, '\n');
			buf_append(&out, ap, (size_t)(nl - ap) + 1);
			ap = nl + 1;
			line++;
		}
		p = strchr(p, '\n') + 1;
		while (*p && strncmp(p, "@@", 2) != 0) {
			const char *nl = strchr(p, '\n');
			bool no_nl = strncmp(nl + 1, "\\ No newline", 12) == 0;
			if (*p == ' ' || *p == '-') {
				size_t n = strcspn(ap, "\n");
				ap += n + (ap[n] == '\n');
			}
			if (*p == ' ' || *p == '+')
				buf_append(&out, p + 1, (size_t)(nl - p) - (no_nl ? 1 : 0));
			p = nl + 1;
			if (no_nl)
				p = strchr(p, '\n') + 1;
		}
	}
	buf_appends(&out, ap);
	return buf_detach(&out);
}

/* Length of the longest common subsequence of lines, by dynamic programming. */
static long lcs(char **x, long n, char **y, long m)
{
	long *t = calloc((size_t)((n + 1) * (m + 1)), sizeof *t);
	for (long i = n - 1; i >= 0; i--)
		for (long j = m - 1; j >= 0; j--)
			t[i * (m + 1) + j] = strcmp(x[i], y[j]) == 0 ? 1 + t[(i + 1) * (m + 1) + j + 1]
				: (t[(i + 1) * (m + 1) + j] > t[i * (m + 1) + j + 1]
				   ? t[(i + 1) * (m + 1) + j] : t[i * (m + 1) + j + 1]);
	long r = t[0];
	free(t);
	return r;
}

/* Random small files: the hunks rebuild b from a, and the diff is minimal. */
static void test_random_minimal_and_correct(void)
{
	static const char *words[] = { "a", "b", "c", "d" };
	srand(8);
	for (int round = 0; round < 2000; round++) {
		char *x[40], *y[40];
		long n = rand() % 30, m = rand() % 30;
		struct buf a = BUF_INIT, b = BUF_INIT;
		for (long i = 0; i < n; i++) {
			x[i] = (char *)words[rand() % 4];
			buf_printf(&a, "%s\n", x[i]);
		}
		for (long i = 0; i < m; i++) {
			y[i] = (char *)words[rand() % 4];
			buf_printf(&b, "%s\n", y[i]);
		}
		struct diff_stat st;
		char *ud = udiff(buf_str(&a), buf_str(&b), &st);
		char *rebuilt = apply(buf_str(&a), ud);
		CHECK_STR(rebuilt, buf_str(&b));
		long common = lcs(x, n, y, m);
		CHECK(st.removed == n - common);
		CHECK(st.added == m - common);
		if (unit_failed_now) {
			printf("# a=[%s] b=[%s]\n", buf_str(&a), buf_str(&b));
			free(ud);
			free(rebuilt);
			buf_free(&a);
			buf_free(&b);
			break;
		}
		free(ud);
		free(rebuilt);
		buf_free(&a);
		buf_free(&b);
	}
}

static void test_count_skips_file_headers(void)
{
	struct diff_stat st;
	diff_count("--- a/x\n+++ b/x\n@@ -1,2 +1,2 @@\n--- old\n+++ new\n keep\n", &st);
	CHECK(st.added == 1);
	CHECK(st.removed == 1);
	diff_count("", &st);
	CHECK(st.added == 0);
	CHECK(st.removed == 0);
}

static void test_render_plain_and_colour(void)
{
	const char *ud = "@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n";
	struct buf out = BUF_INIT;
	diff_render("src/a.c", ud, false, 0, &out);
	CHECK_STR(buf_str(&out), "src/a.c +1 -1\n@@ -1,2 +1,2 @@\n one\n-two\n+TWO\n");
	buf_reset(&out);
	diff_render("src/a.c", ud, true, 0, &out);
	CHECK_STR(buf_str(&out),
		  "\033[1msrc/a.c\033[0m \033[32m+1\033[0m \033[31m-1\033[0m\n"
		  "\033[36m@@ -1,2 +1,2 @@\033[0m\n one\n\033[31m-two\033[0m\n\033[32m+TWO\033[0m\n");
	buf_free(&out);
}

static void test_render_folds_long_diffs(void)
{
	const char *ud = "@@ -0,0 +1,5 @@\n+1\n+2\n+3\n+4\n+5\n";
	struct buf out = BUF_INIT;
	diff_render("f", ud, false, 3, &out);
	CHECK_STR(buf_str(&out), "f +5 -0\n@@ -0,0 +1,5 @@\n+1\n+2\n… 3 more lines (-v shows all)\n");
	buf_reset(&out);
	diff_render("f", ud, false, 5, &out);
	CHECK_STR(buf_str(&out), "f +5 -0\n@@ -0,0 +1,5 @@\n+1\n+2\n+3\n+4\n… 1 more line (-v shows all)\n");
	buf_reset(&out);
	diff_render("f", ud, false, 6, &out);
	CHECK_STR(buf_str(&out), "f +5 -0\n@@ -0,0 +1,5 @@\n+1\n+2\n+3\n+4\n+5\n");
	buf_reset(&out);
	diff_render("f", ud, true, 2, &out);
	CHECK(strstr(buf_str(&out), "\033[2m… 4 more lines (-v shows all)\033[0m\n") != NULL);
	buf_free(&out);
}

/* A file's escape sequences are shown, not obeyed; tabs stay. */
static void test_render_shows_control_characters(void)
{
	struct buf out = BUF_INIT;
	diff_render("a\033b", "@@ -1 +1 @@\n-\033[2J\tx\n+\xC2\x9B" "31m\x7F\n", false, 0, &out);
	CHECK_STR(buf_str(&out), "a\xEF\xBF\xBD" "b +1 -1\n@@ -1 +1 @@\n-\xEF\xBF\xBD[2J\tx\n"
		  "+\xEF\xBF\xBD" "31m\xEF\xBF\xBD\n");
	buf_free(&out);
}

int main(void)
{
	UNIT_RUN(test_change_and_insert);
	UNIT_RUN(test_insert_into_empty);
	UNIT_RUN(test_delete_all);
	UNIT_RUN(test_delete_in_middle);
	UNIT_RUN(test_no_newline_at_end);
	UNIT_RUN(test_identical_gives_nothing);
	UNIT_RUN(test_separate_hunks);
	UNIT_RUN(test_too_large);
	UNIT_RUN(test_random_minimal_and_correct);
	UNIT_RUN(test_count_skips_file_headers);
	UNIT_RUN(test_render_plain_and_colour);
	UNIT_RUN(test_render_folds_long_diffs);
	UNIT_RUN(test_render_shows_control_characters);
	return unit_done();
}
