/* Markdown to terminal text: lib/md.c's output compared byte for byte. */
#include "md.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

static char *render(const char *md, int width, bool color)
{
	struct buf out = BUF_INIT;
	struct md_opts o = { width, color };
	md_render(md, strlen(md), &o, &out);
	return buf_detach(&out);
}

#define EXPECT(md, width, color, want) do { \
	char *got_ = render(md, width, color); \
	CHECK_STR(got_, want); \
	free(got_); \
} while (0)

/* Feeds md to a stream in pieces of the given sizes (cycled); returns all it printed. */
static char *stream(const char *md, int width, bool color, const size_t *sizes, size_t nsizes)
{
	struct buf out = BUF_INIT;
	struct md_opts o = { width, color };
	struct md_stream *s = md_stream_new(&o);
	size_t len = strlen(md), k = 0;
	for (size_t i = 0; i < len; k++) {
		size_t n = sizes[k % nsizes];
		if (n > len - i)
			n = len - i;
		md_stream_feed(s, md + i, n, &out);
		i += n;
	}
	md_stream_finish(s, &out);
	md_stream_free(s);
	return buf_detach(&out);
}

static void test_headings(void)
{
	EXPECT("# Title\n\n## Sub\n\n### Three\n", 80, false,
	       "Title\n=====\n\nSub\n---\n\nThree\n");
	EXPECT("# Title\n\n## Sub *it*\n", 80, true,
	       "\033[1mTitle\033[0m\n\n\033[1mSub \033[0m\033[1;3mit\033[0m\n");
}

static void test_inline_styles(void)
{
	const char *md = "Some **bold**, *it*, ~~gone~~ and `x = 1`, ***both***.\n";
	EXPECT(md, 80, false, "Some bold, it, ~~gone~~ and x = 1, both.\n");
	EXPECT(md, 80, true,
	       "Some \033[1mbold\033[0m, \033[3mit\033[0m, \033[9mgone\033[0m and \033[36mx = 1\033[0m, "
	       "\033[1;3mboth\033[0m.\n");
}

static void test_paragraph_wraps_at_words(void)
{
	EXPECT("The quick brown fox jumps over the lazy dog and keeps running far away.\n", 20, false,
	       "The quick brown fox\njumps over the lazy\ndog and keeps\nrunning far away.\n");
	/* Soft line breaks join; a hard break (two spaces) breaks. */
	EXPECT("one\ntwo  \nthree\n", 80, false, "one two\nthree\n");
	/* Styles are closed at each line end and reopened after. */
	EXPECT("**bold words here**\n", 10, true, "\033[1mbold words\033[0m\n\033[1mhere\033[0m\n");
}

static void test_long_words_are_broken(void)
{
	EXPECT("abcdefghijklmnopqrstuvwxyz0123456789 end\n", 10, false,
	       "abcdefghij\nklmnopqrst\nuvwxyz0123\n456789 end\n");
	EXPECT("x https://example.org/a/very/long/path\n", 12, false,
	       "x\nhttps://exam\nple.org/a/ve\nry/long/path\n");
}

static void test_wide_characters(void)
{
	EXPECT("日本語の文章は長い。\n\n😀😀 ok\n", 10, false,
	       "日本語の文\n章は長い。\n\n😀😀 ok\n");
	/* A wide character never straddles the edge: 9 columns hold 4 of them. */
	EXPECT("日本語の文章\n", 9, false, "日本語の\n文章\n");
	CHECK(md_display_width("abc", 3) == 3);
	CHECK(md_display_width("日本", 6) == 4);
	CHECK(md_display_width("e\xCC\x81", 3) == 1);
	CHECK(md_display_width("😀", 4) == 2);
	CHECK(md_display_width("\xFF", 1) == 1);
	CHECK(md_display_width("\xE6\x97", 2) == 2);	/* a cut sequence: two bad bytes */
	CHECK(md_display_width("", 0) == 0);
}

static void test_lists(void)
{
	EXPECT("- one\n- two that wraps here\n  - nested\n    1. deep\n- three\n", 16, false,
	       "• one\n• two that wraps\n  here\n  ◦ nested\n    1. deep\n• three\n");
	/* Ordered from 3 with ')'; a loose list; tasks; an empty item. */
	EXPECT("3) c\n4) d\n\n- a\n\n- b\n- [x] done\n- [ ] todo\n-\n", 80, false,
	       "3) c\n4) d\n\n• a\n\n• b\n\n• [x] done\n\n• [ ] todo\n\n•\n");
	EXPECT("Intro:\n- a\n- b\n\nafter\n", 80, false, "Intro:\n\n• a\n• b\n\nafter\n");
	EXPECT("- **bold** item\n  1. `code` sub\n", 40, true,
	       "• \033[1mbold\033[0m item\n  1. \033[36mcode\033[0m sub\n");
}

static void test_block_quotes(void)
{
	EXPECT("> quoted words that wrap\n> - item\n>\n> > inner\n\nafter\n", 16, false,
	       "│ quoted words\n│ that wrap\n│\n│ • item\n│\n│ │ inner\n\nafter\n");
	EXPECT("> q\n", 16, true, "\033[2m│\033[0m q\n");
	/* Gutters stay outside the code's colours. */
	EXPECT("> - in quote\n>\n> ```sh\n> echo $HOME\n> ```\n", 40, true,
	       "\033[2m│\033[0m • in quote\n\033[2m│\033[0m\n"
	       "\033[2m│\033[0m   \033[36mecho\033[0m \033[36m$HOME\033[0m\n");
}

static void test_links(void)
{
	EXPECT("See [the docs](https://x.org/d) or <https://x.org>, mail <a@b.io>, "
	       "![logo](l.png) and [](https://e.org).\n", 80, false,
	       "See the docs (https://x.org/d) or https://x.org, mail a@b.io, logo (l.png) and\n"
	       "https://e.org.\n");
	EXPECT("See [the docs](https://x.org/d) or https://x.org.\n", 80, true,
	       "See \033[4mthe docs\033[0m (\033[34mhttps://x.org/d\033[0m) or \033[34mhttps://x.org\033[0m.\n");
}

static void test_thematic_break(void)
{
	EXPECT("a\n\n---\n\nb\n", 12, false, "a\n\n────────────\n\nb\n");
	EXPECT("---\n", 10, true, "\033[2m──────────\033[0m\n");
}

static void test_tables(void)
{
	EXPECT("| a | bb |\n|---|:-:|\n| ccc | d |\n", 80, false, "a   │ bb\n────┼───\nccc │ d\n");
	EXPECT("| Left | Right | Mid |\n|:--|--:|:-:|\n| x | 1 | c |\n| long text | 22 | ccc |\n", 80, true,
	       "\033[1mLeft\033[0m      │ \033[1mRight\033[0m │ \033[1mMid\033[0m\n"
	       "──────────┼───────┼────\n"
	       "x         │     1 │  c\n"
	       "long text │    22 │ ccc\n");
}

static void test_table_wider_than_terminal(void)
{
	/* Cells wrap, never cut; every line fits 24 columns; wide characters count 2. */
	const char *md = "| Name | Description |\n|---|---|\n| wc | counts lines, words and bytes in files |\n"
			 "| 表 | 日本語のセル |\n";
	const char *want = "Name │ Description\n"
			   "─────┼──────────────────\n"
			   "wc   │ counts lines,\n"
			   "     │ words and bytes\n"
			   "     │ in files\n"
			   "表   │ 日本語のセル\n";
	EXPECT(md, 24, false, want);
	EXPECT("| Column one header | Second column with a lot of text | Third |\n|---|---|---|\n"
	       "| some words in a cell that must wrap | 短い日本語のテキストです | x |\n"
	       "| 😀 emoji | supercalifragilisticexpialidocious | yes |\n", 30, false,
	       "Column one │ Second    │ Third\n"
	       "header     │ column    │\n"
	       "           │ with a    │\n"
	       "           │ lot of    │\n"
	       "           │ text      │\n"
	       "───────────┼───────────┼──────\n"
	       "some words │ 短い日本  │ x\n"
	       "in a cell  │ 語のテキ  │\n"
	       "that must  │ ストです  │\n"
	       "wrap       │           │\n"
	       "😀 emoji   │ supercali │ yes\n"
	       "           │ fragilist │\n"
	       "           │ icexpiali │\n"
	       "           │ docious   │\n");
	char *got = render(md, 24, false);
	for (char *line = strtok(got, "\n"); line; line = strtok(NULL, "\n"))
		CHECK(md_display_width(line, strlen(line)) <= 24);
	free(got);
}

static void test_code_blocks(void)
{
	/* Indented two columns, coloured, never wrapped. */
	EXPECT("```c\nint x = 1; /* a very long line that is never wrapped at all */\n\nreturn x;\n```\n", 20, true,
	       "  \033[36mint\033[0m x = \033[33m1\033[0m; "
	       "\033[90m/* a very long line that is never wrapped at all */\033[0m\n\n"
	       "  \033[35mreturn\033[0m x;\n");
	EXPECT("```c\nint x = 1;\n```\n", 20, false, "  int x = 1;\n");
	EXPECT("```\nplain\n```\n\n    indented\n\n- item\n\n  ```sh\n  echo hi\n  ```\n", 20, false,
	       "  plain\n\n  indented\n\n• item\n\n    echo hi\n");
}

static void test_unterminated_fence(void)
{
	EXPECT("text\n\n```python\ndef f():\n    pass\n", 20, false, "text\n\n  def f():\n      pass\n");
	EXPECT("```sh\necho *\n", 20, true, "  \033[36mecho\033[0m *\n");
}

static void test_no_colour_has_no_escapes(void)
{
	const char *md = "# H\n\n**b** *i* `c` [l](u) ~~s~~\n\n> q\n\n---\n\n| a |\n|---|\n| b |\n\n"
			 "```c\n/* x */ int y;\n```\n\nraw \033[31mred\033[0m and &#27;[2J and &#x9b;\n";
	char *got = render(md, 40, false);
	CHECK(strchr(got, '\033') == NULL);
	CHECK(strstr(got, "\xC2\x9B") == NULL);
	CHECK(strstr(got, "raw \xEF\xBF\xBD[31mred\xEF\xBF\xBD[0m and \xEF\xBF\xBD[2J and \xEF\xBF\xBD") != NULL);
	free(got);
	/* With colour, the only escapes are the renderer's own SGR sequences. */
	got = render("raw \033[2J text\n", 40, true);
	CHECK_STR(got, "raw \xEF\xBF\xBD[2J text\n");
	free(got);
}

static void test_entities_and_empty(void)
{
	EXPECT("a &amp; b &lt;&gt; &copy; &#233; &#x1F600; &nosuch;\n", 80, false,
	       "a & b <> © é 😀 &nosuch;\n");
	EXPECT("", 80, false, "");
	EXPECT("\n\n  \n", 80, false, "");
	EXPECT("x\n", 0, false, "x\n");
}

/* A document using every construct, for the streaming tests. */
static const char *const doc =
	"# Report\n\nThe **quick** brown fox jumps over the *lazy* dog; `wc -l` counts lines.\n\n"
	"- one\n- two\n  - nested item that is long enough to wrap\n\n- loose\n\n"
	"Paragraph after the list.\n\n1. first\n2. second\n\n"
	"> a quote\n> spanning lines\n\n---\n\n| k | v |\n|---|--:|\n| 日本 | 1 |\n| x | 22 |\n\n"
	"```c\nint main(void)\n{\n\n\treturn 0;\n}\n```\n"
	"After the fence.\n\n    indented code\n\n    more\n\nEnd with 😀 and a verylongwordthatneedsbreaking.\n";

static void test_stream_bytewise_equals_whole(void)
{
	static const size_t one[] = { 1 };
	for (int color = 0; color < 2; color++) {
		char *whole = render(doc, 30, color), *s = stream(doc, 30, color, one, 1);
		CHECK_STR(s, whole);
		free(whole);
		free(s);
	}
}

static void test_stream_random_splits_equal_whole(void)
{
	char *whole = render(doc, 24, true);
	srand(42);
	for (int round = 0; round < 200; round++) {
		size_t sizes[16];
		for (int i = 0; i < 16; i++)
			sizes[i] = 1 + (size_t)(rand() % 40);
		char *s = stream(doc, 24, true, sizes, 16);
		CHECK_STR(s, whole);
		free(s);
		if (unit_failed_now)
			break;
	}
	free(whole);
}

static void test_stream_holds_the_open_block(void)
{
	struct md_opts o = { 40, false };
	struct md_stream *s = md_stream_new(&o);
	struct buf out = BUF_INIT;
	CHECK(!md_stream_pending(s));
	md_stream_feed(s, "First para", 10, &out);
	CHECK_STR(buf_str(&out), "");
	CHECK(md_stream_pending(s));
	md_stream_feed(s, "graph.\n\nSecond", 14, &out);
	CHECK_STR(buf_str(&out), "First paragraph.\n");
	/* A fence is held, blank lines and all, until it closes. */
	const char *fence = " para.\n\n```sh\necho a\n\necho b\n";
	md_stream_feed(s, fence, strlen(fence), &out);
	CHECK_STR(buf_str(&out), "First paragraph.\n\nSecond para.\n");
	md_stream_feed(s, "```\n", 4, &out);
	CHECK_STR(buf_str(&out), "First paragraph.\n\nSecond para.\n\n  echo a\n\n  echo b\n");
	CHECK(!md_stream_pending(s));
	/* The width applies to blocks not yet printed. */
	md_stream_set_width(s, 10);
	md_stream_feed(s, "narrow words here\n\n", 19, &out);
	CHECK_STR(buf_str(&out), "First paragraph.\n\nSecond para.\n\n  echo a\n\n  echo b\n\n"
		  "narrow\nwords here\n");
	/* An unterminated fence is printed by finish; then it starts over. */
	md_stream_feed(s, "```\nopen\n", 9, &out);
	buf_reset(&out);
	md_stream_finish(s, &out);
	CHECK_STR(buf_str(&out), "\n  open\n");
	CHECK(!md_stream_pending(s));
	buf_reset(&out);
	md_stream_feed(s, "fresh\n", 6, &out);
	md_stream_finish(s, &out);
	CHECK_STR(buf_str(&out), "fresh\n");
	md_stream_free(s);
	buf_free(&out);
}

static void test_stream_keeps_lists_and_indented_code_whole(void)
{
	const char *md = "- a\n- b\n\n- c\n\n  more of c\n\nafter\n";
	static const size_t one[] = { 1 };
	char *whole = render(md, 40, false), *s = stream(md, 40, false, one, 1);
	CHECK_STR(whole, "• a\n\n• b\n\n• c\n\n  more of c\n\nafter\n");
	CHECK_STR(s, whole);
	free(whole);
	free(s);
	/* The list is printed as soon as a line shows it has ended. */
	struct md_opts o = { 40, false };
	struct md_stream *st = md_stream_new(&o);
	struct buf out = BUF_INIT;
	md_stream_feed(st, "- a\n\n- b\n\n", 10, &out);
	CHECK_STR(buf_str(&out), "");
	md_stream_feed(st, "N", 1, &out);
	CHECK_STR(buf_str(&out), "• a\n\n• b\n");
	md_stream_free(st);
	buf_free(&out);
	/* Blank lines inside an indented code block stay as they are. */
	md = "para\n\n    a\n\n\n    b\n\nafter\n";
	whole = render(md, 40, false);
	s = stream(md, 40, false, one, 1);
	CHECK_STR(whole, "para\n\n  a\n\n\n  b\n\nafter\n");
	CHECK_STR(s, whole);
	free(whole);
	free(s);
}

/* 1 MB of mixed Markdown renders well under a second (timed by hand; here only checked to finish). */
static void test_large_document(void)
{
	struct buf big = BUF_INIT;
	while (big.len < 1 << 20)
		buf_appends(&big, doc);
	struct buf out = BUF_INIT;
	struct md_opts o = { 80, true };
	md_render(big.data, big.len, &o, &out);
	CHECK(out.len > big.len / 2);
	buf_free(&out);
	buf_free(&big);
}

int main(void)
{
	UNIT_RUN(test_headings);
	UNIT_RUN(test_inline_styles);
	UNIT_RUN(test_paragraph_wraps_at_words);
	UNIT_RUN(test_long_words_are_broken);
	UNIT_RUN(test_wide_characters);
	UNIT_RUN(test_lists);
	UNIT_RUN(test_block_quotes);
	UNIT_RUN(test_links);
	UNIT_RUN(test_thematic_break);
	UNIT_RUN(test_tables);
	UNIT_RUN(test_table_wider_than_terminal);
	UNIT_RUN(test_code_blocks);
	UNIT_RUN(test_unterminated_fence);
	UNIT_RUN(test_no_colour_has_no_escapes);
	UNIT_RUN(test_entities_and_empty);
	UNIT_RUN(test_stream_bytewise_equals_whole);
	UNIT_RUN(test_stream_random_splits_equal_whole);
	UNIT_RUN(test_stream_holds_the_open_block);
	UNIT_RUN(test_stream_keeps_lists_and_indented_code_whole);
	UNIT_RUN(test_large_document);
	return unit_done();
}
