/* Code colouring: lib/highlight.c's output compared byte for byte. */
#include "highlight.h"
#include "unit.h"

#include <stdlib.h>
#include <string.h>

#define KW(s) "\033[35m" s "\033[0m"
#define TY(s) "\033[36m" s "\033[0m"
#define STR(s) "\033[32m" s "\033[0m"
#define NUM(s) "\033[33m" s "\033[0m"
#define COM(s) "\033[90m" s "\033[0m"
#define PRE(s) "\033[34m" s "\033[0m"
#define KEY(s) "\033[34m" s "\033[0m"

static char *hl(const char *lang, const char *code, bool color)
{
	struct buf out = BUF_INIT;
	highlight_code(lang, code, strlen(code), color, &out);
	return buf_detach(&out);
}

static void expect(const char *lang, const char *code, const char *want)
{
	char *got = hl(lang, code, true);
	CHECK_STR(got, want);
	free(got);
}

/* No escape sequence may cross a newline: each line's spans are closed on it. */
static bool spans_closed_per_line(const char *s)
{
	bool open = false;
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && open)
			return false;
		if (*p == '\033') {
			open = strncmp(p, "\033[0m", 4) != 0;
			p += strcspn(p, "m");
		}
	}
	return !open;
}

static void test_c(void)
{
	expect("c", "#include <stdio.h>\nint main(void) { return 0x1F; } // done\n",
	       PRE("#include <stdio.h>") "\n" TY("int") " main(" TY("void") ") { " KW("return") " "
	       NUM("0x1F") "; } " COM("// done") "\n");
	expect("C", "char *s = \"a\\\"b\"; char c = 'x';\n",
	       TY("char") " *s = " STR("\"a\\\"b\"") "; " TY("char") " c = " STR("'x'") ";\n");
	/* Identifiers containing keywords are not keywords. */
	expect("c", "format_int(iffy);\n", "format_int(iffy);\n");
}

static void test_c_block_comment_spans_lines(void)
{
	const char *code = "/* one\n   two */ x = 1;\n";
	char *got = hl("c", code, true);
	CHECK_STR(got, COM("/* one") "\n" COM("   two */") " x = " NUM("1") ";\n");
	CHECK(spans_closed_per_line(got));
	free(got);
	/* Unterminated: coloured to the end, still closed on each line. */
	got = hl("c", "/* open\nstill\n", true);
	CHECK_STR(got, COM("/* open") "\n" COM("still") "\n");
	free(got);
}

static void test_preprocessor_continuation(void)
{
	expect("h", "#define X \\\n  1\nint y;\n",
	       PRE("#define X \\") "\n" PRE("  1") "\n" TY("int") " y;\n");
}

static void test_shell(void)
{
	expect("bash", "if [ -n \"$X\" ]; then\n  echo ${HOME} $1 # note\nfi\n",
	       KW("if") " [ -n " STR("\"$X\"") " ]; " KW("then") "\n  " TY("echo") " "
	       TY("${HOME}") " " TY("$1") " " COM("# note") "\n" KW("fi") "\n");
	/* '#' inside a word is not a comment; single quotes have no escapes. */
	expect("sh", "a#b 'c\\' x\n", "a#b " STR("'c\\'") " x\n");
}

static void test_python_triple_string_spans_lines(void)
{
	const char *code = "def f():\n    \"\"\"doc\n    more\"\"\"\n    return None  # c\n";
	char *got = hl("py", code, true);
	CHECK_STR(got, KW("def") " f():\n    " STR("\"\"\"doc") "\n" STR("    more\"\"\"") "\n    "
		  KW("return") " " KW("None") "  " COM("# c") "\n");
	CHECK(spans_closed_per_line(got));
	free(got);
}

static void test_json(void)
{
	expect("json", "{\"a\": [1, -2.5e3, true, null, \"s\"]}",
	       "{" KEY("\"a\"") ": [" NUM("1") ", " NUM("-2.5e3") ", " KW("true") ", " KW("null")
	       ", " STR("\"s\"") "]}");
}

static void test_diff(void)
{
	expect("diff", "--- a/x\n+++ b/x\n@@ -1 +1 @@\n-old\n+new\n same\n",
	       "\033[1m--- a/x\033[0m\n\033[1m+++ b/x\033[0m\n\033[36m@@ -1 +1 @@\033[0m\n"
	       "\033[31m-old\033[0m\n\033[32m+new\033[0m\n same\n");
}

static void test_unknown_or_no_colour_unchanged(void)
{
	const char *code = "int x = 1; /* c */\n";
	char *got = hl("cobol", code, true);
	CHECK_STR(got, code);
	free(got);
	got = hl("c", code, false);
	CHECK_STR(got, code);
	free(got);
	got = hl(NULL, code, true);
	CHECK_STR(got, code);
	free(got);
	got = hl("", code, true);
	CHECK_STR(got, code);
	free(got);
}

static void test_known_names(void)
{
	CHECK(highlight_known("c"));
	CHECK(highlight_known("C++"));
	CHECK(highlight_known("Bash"));
	CHECK(highlight_known("console"));
	CHECK(highlight_known("python title=x.py"));
	CHECK(highlight_known("json"));
	CHECK(highlight_known("patch"));
	CHECK(!highlight_known("rust"));
	CHECK(!highlight_known("cc65"));
	CHECK(!highlight_known(""));
	CHECK(!highlight_known(NULL));
}

/* Any bytes: no crash, nothing lost but escapes added, every line closed. */
static void test_random_bytes_keep_text(void)
{
	static const char *langs[] = { "c", "sh", "py", "json", "diff" };
	static const char alphabet[] = "ab#/*\"'\\\n $01{}-:+@ e\t";
	srand(3);
	for (int round = 0; round < 3000; round++) {
		char code[64];
		size_t n = (size_t)(rand() % 63);
		for (size_t i = 0; i < n; i++)
			code[i] = alphabet[rand() % (int)(sizeof alphabet - 1)];
		code[n] = '\0';
		char *got = hl(langs[round % 5], code, true);
		CHECK(spans_closed_per_line(got));
		struct buf plain = BUF_INIT;
		for (const char *p = got; *p; p++) {
			if (*p == '\033')
				p += strcspn(p, "m");
			else
				buf_appendc(&plain, *p);
		}
		CHECK_STR(buf_str(&plain), code);
		buf_free(&plain);
		free(got);
		if (unit_failed_now)
			break;
	}
}

int main(void)
{
	UNIT_RUN(test_c);
	UNIT_RUN(test_c_block_comment_spans_lines);
	UNIT_RUN(test_preprocessor_continuation);
	UNIT_RUN(test_shell);
	UNIT_RUN(test_python_triple_string_spans_lines);
	UNIT_RUN(test_json);
	UNIT_RUN(test_diff);
	UNIT_RUN(test_unknown_or_no_colour_unchanged);
	UNIT_RUN(test_known_names);
	UNIT_RUN(test_random_bytes_keep_text);
	return unit_done();
}
