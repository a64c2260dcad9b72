/* Control words (lib/control.h) never reach people. */
#include "control.h"
#include "unit.h"

static void check_strip(const char *in, const char *want)
{
	char *got = control_strip(in);
	CHECK_STR(got, want);
	free(got);
}

static void terminate_lines_are_dropped(void)
{
	check_strip("All done.\nTERMINATE", "All done.");
	check_strip("All done.\nTERMINATE\n", "All done.");
	check_strip("All done.\n**TERMINATE**\n\n", "All done.");
	check_strip("  TERMINATE  \nafter", "after");
	check_strip("TERMINATE", "");
}

static void trailing_terminate_word_is_cut(void)
{
	check_strip("All done. TERMINATE", "All done.");
	check_strip("Done.\n\nSummary here TERMINATE\n", "Done.\n\nSummary here");
	/* Not a word of its own: kept. */
	check_strip("NOTERMINATE", "NOTERMINATE");
	check_strip("do not TERMINATE early", "do not TERMINATE early");
}

static void verdict_lines_are_dropped(void)
{
	check_strip("Looks good.\nVERDICT: APPROVED\n", "Looks good.");
	check_strip("Must fix: x\n**Verdict: CHANGES_REQUESTED**", "Must fix: x");
	check_strip("Must fix: x\n\nVERDICT: CHANGES_REQUESTED\n\nThanks.", "Must fix: x\n\nThanks.");
	check_strip("VERDICT: APPROVED\n\nFine.", "Fine.");
	check_strip("The VERDICT: line comes last\nok", "The VERDICT: line comes last\nok");
}

static void plain_text_is_unchanged(void)
{
	check_strip("# Title\n\n- a\n- b\n", "# Title\n\n- a\n- b");
	check_strip("", "");
	check_strip("line\n\n\nnext", "line\n\n\nnext");
}

static void line_predicates(void)
{
	CHECK(control_line("TERMINATE", 9));
	CHECK(control_line("verdict: approved", 17));
	CHECK(!control_line("terminate", 9));
	CHECK(!control_line("", 0));
	CHECK(control_line_keep("ok TERMINATE", 12) == 2);
	CHECK(control_line_keep("ok", 2) == 2);
	CHECK(control_line_keep("TERMINATE", 9) == 0);
}

int main(void)
{
	UNIT_RUN(terminate_lines_are_dropped);
	UNIT_RUN(trailing_terminate_word_is_cut);
	UNIT_RUN(verdict_lines_are_dropped);
	UNIT_RUN(plain_text_is_unchanged);
	UNIT_RUN(line_predicates);
	return unit_done();
}
