/* The readable view (lib/render.h): what a person sees for a stream of events, byte for byte. */
#include "buf.h"
#include "render.h"
#include "unit.h"

#include <stdio.h>

/* Renders the events (one JSON object per line of lines) without colour; returns the text. */
static char *view(const char *lines, bool verbose)
{
	char *text = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&text, &size);
	struct render *r = render_new(f, false, verbose);
	for (const char *p = lines; *p;) {
		size_t n = strcspn(p, "\n");
		jv ev = jv_parse_sized(p, (int)n);
		render_event(r, ev);
		jv_free(ev);
		p += n + (p[n] == '\n');
	}
	render_free(r);
	fclose(f);
	return text;
}

#define RUN "\"run_id\":\"run_1\",\"parent_id\":null"

static void text_is_markdown_without_control_words(void)
{
	char *got = view("{\"type\":\"text\"," RUN ",\"text\":\"# Done\\n\\nIt **works** with `x`.\\n"
			 "VERDICT: APPROVED\\nTERMINATE\"}\n", false);
	CHECK_STR(got, "Done\n====\n\nIt works with x.\n");
	free(got);
}

static void streamed_text_is_shown_by_blocks(void)
{
	/* Split anywhere, even inside the control word; the text event that
	 * follows the deltas is not shown again. */
	char *got = view("{\"type\":\"text_delta\"," RUN ",\"text\":\"first para\"}\n"
			 "{\"type\":\"text_delta\"," RUN ",\"text\":\"graph\\n\\n- a\\n- b\\n\\nTERMI\"}\n"
			 "{\"type\":\"text_delta\"," RUN ",\"text\":\"NATE\"}\n"
			 "{\"type\":\"text\"," RUN ",\"text\":\"first paragraph\\n\\n- a\\n- b\\n\\nTERMINATE\"}\n",
			 false);
	CHECK_STR(got, "first paragraph\n\n• a\n• b\n");
	free(got);
}

static void edit_shows_its_diff(void)
{
	char *got = view("{\"type\":\"tool_result\"," RUN ",\"name\":\"Edit\",\"is_error\":false,"
			 "\"content\":\"edited a.c: 1 replacement\",\"exit_code\":null,"
			 "\"files_changed\":[\"a.c\"],\"diff\":\"@@ -1 +1 @@\\n-old\\n+new\\n\"}\n", false);
	CHECK_STR(got, "  ← edited a.c: 1 replacement\n    a.c +1 -1\n    @@ -1 +1 @@\n    -old\n    +new\n");
	free(got);
}

static void failed_command_shows_its_last_lines(void)
{
	struct buf in = BUF_INIT;
	buf_appends(&in, "{\"type\":\"tool_result\"," RUN ",\"name\":\"Bash\",\"is_error\":true,\"content\":\"");
	for (int i = 1; i <= 25; i++)
		buf_printf(&in, "line %d\\n", i);
	buf_appends(&in, "[exit code 2]\",\"exit_code\":2,\"files_changed\":[]}\n");
	char *got = view(in.data, false);
	struct buf want = BUF_INIT;
	buf_appends(&want, "  ✗ exit 2\n    … earlier lines hidden (-v shows all)\n");
	for (int i = 7; i <= 25; i++)
		buf_printf(&want, "    │ line %d\n", i);
	buf_appends(&want, "    │ [exit code 2]\n");
	CHECK_STR(got, want.data);
	free(got);
	got = view(in.data, true);
	CHECK(strstr(got, "    │ line 1\n") != NULL);
	CHECK(strstr(got, "hidden") == NULL);
	free(got);
	buf_free(&in);
	buf_free(&want);
}

static void passing_command_is_one_line(void)
{
	char *got = view("{\"type\":\"tool_result\"," RUN ",\"name\":\"Bash\",\"is_error\":false,"
			 "\"content\":\"ok\\n[exit code 0]\",\"exit_code\":0,\"files_changed\":[]}\n", false);
	CHECK_STR(got, "  ← exit 0\n");
	free(got);
}

int main(void)
{
	UNIT_RUN(text_is_markdown_without_control_words);
	UNIT_RUN(streamed_text_is_shown_by_blocks);
	UNIT_RUN(edit_shows_its_diff);
	UNIT_RUN(failed_command_shows_its_last_lines);
	UNIT_RUN(passing_command_is_one_line);
	return unit_done();
}
