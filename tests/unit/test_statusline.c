/* The status line (lib/statusline.h): folding events, and the line it gives. */
#include "statusline.h"
#include "unit.h"

static void feed(struct statusline *s, const char *json, double now)
{
	jv ev = jv_parse(json);
	statusline_update(s, ev, now);
	jv_free(ev);
}

static char *line(const struct statusline *s, double now, int width, bool color)
{
	struct buf b = BUF_INIT;
	statusline_format(s, now, width, color, &b);
	buf_appends(&b, "");
	return buf_detach(&b);
}

#define TOP "\"parent_id\":null"
#define CHILD "\"parent_id\":\"run_m\""

static void inactive_shows_nothing(void)
{
	struct statusline s;
	statusline_init(&s);
	char *l = line(&s, 5, 80, false);
	CHECK_STR(l, "");
	free(l);
	feed(&s, "{\"type\":\"usage\",\"input_tokens\":5}", 1);
	CHECK(s.turns == 0);
}

static void a_run_from_init_to_result(void)
{
	struct statusline s;
	statusline_init(&s);
	feed(&s, "{\"type\":\"init\",\"agent\":\"manager\"," TOP "}", 100);
	char *l = line(&s, 103.2, 200, false);
	CHECK_STR(l, "⠹ manager thinking… 3s · 0 turns · 0 tokens · $0.0000 · 3s");
	free(l);
	feed(&s, "{\"type\":\"text_delta\",\"agent\":\"manager\"," TOP "}", 104);
	feed(&s, "{\"type\":\"usage\",\"agent\":\"manager\",\"input_tokens\":1000,\"output_tokens\":200,"
		 "\"cache_read_input_tokens\":10000,\"cost_usd\":0.0123," TOP "}", 104);
	feed(&s, "{\"type\":\"worker_start\",\"agent\":\"manager\",\"worker\":\"planner\"," TOP "}", 105);
	feed(&s, "{\"type\":\"init\",\"agent\":\"planner\"," CHILD "}", 105.5);
	feed(&s, "{\"type\":\"cycle\",\"agent\":\"manager\",\"label\":\"Review\",\"n\":1,\"max\":3," TOP "}", 106);
	l = line(&s, 108.0, 200, false);
	CHECK_STR(l, "⠋ planner thinking… 2s · Review 1/3 · 1 turn · 11.2k tokens · $0.0123 · 8s");
	free(l);
	feed(&s, "{\"type\":\"tool_use\",\"agent\":\"planner\"," CHILD "}", 108);
	l = line(&s, 170.0, 200, false);
	CHECK_STR(l, "⠋ planner working · Review 1/3 · 1 turn · 11.2k tokens · $0.0123 · 1m10s");
	free(l);
	/* A worker's result does not end the run; the top-level one does. */
	feed(&s, "{\"type\":\"result\",\"agent\":\"planner\"," CHILD "}", 171);
	CHECK(s.active);
	feed(&s, "{\"type\":\"worker_end\",\"agent\":\"manager\",\"worker\":\"planner\"," TOP "}", 171);
	CHECK_STR(s.agent, "manager");
	CHECK(s.waiting);
	feed(&s, "{\"type\":\"result\",\"agent\":\"manager\"," TOP "}", 172);
	CHECK(!s.active);
	l = line(&s, 173, 200, false);
	CHECK_STR(l, "");
	free(l);
}

static void cut_to_width_and_coloured(void)
{
	struct statusline s;
	statusline_init(&s);
	feed(&s, "{\"type\":\"init\",\"agent\":\"coder\"," TOP "}", 0);
	char *l = line(&s, 0, 12, false);
	CHECK_STR(l, "⠋ coder thin");
	free(l);
	l = line(&s, 0, 200, true);
	CHECK(strstr(l, "\033[1mcoder\033[0m") != NULL);
	CHECK(strcmp(l + strlen(l) - 4, "\033[0m") == 0);
	free(l);
	l = line(&s, 0, 200, false);
	CHECK(strchr(l, '\033') == NULL);
	free(l);
}

static void elapsed_words(void)
{
	char b[32];
	CHECK_STR(statusline_elapsed(0, b), "0s");
	CHECK_STR(statusline_elapsed(59.9, b), "59s");
	CHECK_STR(statusline_elapsed(65, b), "1m05s");
	CHECK_STR(statusline_elapsed(7380, b), "2h03m");
	CHECK_STR(statusline_elapsed(-3, b), "0s");
}

int main(void)
{
	UNIT_RUN(inactive_shows_nothing);
	UNIT_RUN(a_run_from_init_to_result);
	UNIT_RUN(cut_to_width_and_coloured);
	UNIT_RUN(elapsed_words);
	return unit_done();
}
