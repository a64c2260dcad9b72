/* A session as a conversation: lib/conversation.c. */
#include "conversation.h"
#include "json.h"
#include "unit.h"

static jv summary(const char *request, const char *status, const char *text, const char *created,
		  double cost, const char *agent)
{
	jv s = jv_object();
	s = jv_object_set(s, jv_string("session_id"), jv_string("S"));
	s = jv_object_set(s, jv_string("created_at"), jv_string(created));
	s = jv_object_set(s, jv_string("user_request"), jv_string(request));
	s = jv_object_set(s, jv_string("total_turns"), jv_number(2));
	s = jv_object_set(s, jv_string("total_cost_usd"), jv_number(cost));
	s = jv_object_set(s, jv_string("agents_used"), jv_parse("[\"planner\"]"));
	jv r = jv_object_set(jv_object(), jv_string("status"), jv_string(status));
	r = jv_object_set(r, jv_string("text"), jv_string(text));
	s = jv_object_set(s, jv_string("result"), r);
	s = jv_object_set(s, jv_string("usage"), jv_parse("{\"input_tokens\":10,\"output_tokens\":1}"));
	jv entry = jv_parse("{\"calls\":1,\"input_tokens\":10,\"cost_usd\":0}");
	entry = jv_object_set(entry, jv_string("cost_usd"), jv_number(cost));
	s = jv_object_set(s, jv_string("ledger"), jv_object_set(jv_object(), jv_string(agent), entry));
	jv m = jv_array();
	m = jv_array_append(m, jv_object_set(jv_object(), jv_string("content"), jv_string(request)));
	m = jv_array_append(m, jv_object_set(jv_object(), jv_string("content"), jv_string(text)));
	return jv_object_set(s, jv_string("messages"), m);
}

static void test_turns_of_old_summary(void)
{
	jv s = summary("add -l", "completed", "done", "2026-12-01T10:00:00.000Z", 0.5, "manager");
	jv t = conversation_turns(s);
	CHECK(jv_array_length(jv_copy(t)) == 1);
	jv t0 = jv_array_get(jv_copy(t), 0);
	CHECK_STR(json_str(t0, "request"), "add -l");
	CHECK_STR(json_str(t0, "status"), "completed");
	CHECK_STR(json_str(t0, "text"), "done");
	jv_free(t0);
	jv_free(t);
	jv_free(s);
	jv none = conversation_turns(jv_null());
	CHECK(jv_array_length(none) == 0);
}

static void test_context_text(void)
{
	jv turns = jv_parse("[{\"request\":\"add a -l flag\",\"status\":\"completed\",\"text\":\"Added -l.\"},"
			    "{\"request\":\"now -w\",\"status\":\"failed\",\"text\":\"\"}]");
	char *c = conversation_context(turns, 10000);
	CHECK_STR(c, "This session is a conversation. Its earlier requests and their results, oldest "
		     "first (context for the new request, not work to repeat):\n\n"
		     "## Request 1\nadd a -l flag\n\n## Result 1 (completed)\nAdded -l.\n\n"
		     "## Request 2\nnow -w\n\n## Result 2 (failed)\n(no text)\n\n"
		     "## The new request\n");
	free(c);
	jv empty = jv_array();
	CHECK(conversation_context(empty, 10000) == NULL);
	jv_free(empty);
	jv_free(turns);
}

static void test_context_trimmed_to_limit(void)
{
	jv turns = jv_array();
	for (int i = 1; i <= 5; i++) {
		jv t = jv_object_set(jv_object(), jv_string("request"), jv_string_fmt("request number %d", i));
		t = jv_object_set(t, jv_string("status"), jv_string("completed"));
		t = jv_object_set(t, jv_string("text"), jv_string("ok"));
		turns = jv_array_append(turns, t);
	}
	/* each turn is 64 bytes: room for the newest two */
	char *c = conversation_context(turns, 130);
	CHECK(strstr(c, "(3 earlier requests left out to stay within the context limit)"));
	CHECK(!strstr(c, "request number 3"));
	CHECK(strstr(c, "## Request 4\nrequest number 4"));
	CHECK(strstr(c, "## Request 5\nrequest number 5"));
	free(c);
	/* the newest turn is always there, however small the limit */
	c = conversation_context(turns, 1);
	CHECK(strstr(c, "(4 earlier requests left out"));
	CHECK(strstr(c, "request number 5"));
	free(c);
	jv_free(turns);

	/* one huge result is cut, its start kept */
	char *big = malloc(10001);
	memset(big, 'x', 10000);
	big[10000] = '\0';
	jv t = jv_object_set(jv_object(), jv_string("request"), jv_string("r"));
	t = jv_object_set(t, jv_string("text"), jv_string(big));
	jv one = jv_array_append(jv_array(), t);
	c = conversation_context(one, 100000);
	CHECK(strstr(c, "[... 6000 more bytes left out]"));
	CHECK(strlen(c) < 5000);
	free(c);
	free(big);
	jv_free(one);
}

static void test_merge_appends_a_turn(void)
{
	jv prev = summary("first", "completed", "one done", "2026-12-01T10:00:00.000Z", 0.5, "manager");
	jv cur = summary("second", "failed", "two failed", "2026-12-01T11:00:00.000Z", 0.25, "coder");
	jv m = conversation_merge_summary(prev, cur, -1);
	CHECK_STR(json_str(m, "user_request"), "first");
	CHECK_STR(json_str(m, "created_at"), "2026-12-01T10:00:00.000Z");
	CHECK(json_num(m, "total_cost_usd", 0) == 0.75);
	CHECK(json_num(m, "total_turns", 0) == 4);
	jv u = json_get(m, "usage");
	CHECK(json_num(u, "input_tokens", 0) == 20);
	jv_free(u);
	jv l = json_get(m, "ledger");
	jv lm = json_get(l, "manager"), lc = json_get(l, "coder");
	CHECK(json_num(lm, "cost_usd", 0) == 0.5);
	CHECK(json_num(lc, "cost_usd", 0) == 0.25);
	jv_free(lm);
	jv_free(lc);
	jv_free(l);
	jv msgs = json_get(m, "messages");
	CHECK(jv_array_length(msgs) == 4);
	jv turns = json_get(m, "turns");
	CHECK(jv_array_length(jv_copy(turns)) == 2);
	jv t1 = jv_array_get(jv_copy(turns), 1);
	CHECK_STR(json_str(t1, "request"), "second");
	CHECK(json_num(t1, "first_message", -1) == 2);
	jv_free(t1);
	jv_free(turns);
	jv r = json_get(m, "result");
	CHECK_STR(json_str(r, "status"), "failed");
	jv_free(r);

	/* a third turn, then a resumed third turn replacing its first attempt */
	jv third = summary("third", "interrupted", "", "2026-12-01T12:00:00.000Z", 1, "manager");
	m = conversation_merge_summary(m, third, -1);
	jv again = summary("third", "completed", "three", "2026-12-01T12:10:00.000Z", 2, "manager");
	m = conversation_merge_summary(m, again, 2);
	turns = json_get(m, "turns");
	CHECK(jv_array_length(jv_copy(turns)) == 3);
	jv_free(turns);
	CHECK(json_num(m, "total_cost_usd", 0) == 2.75);
	msgs = json_get(m, "messages");
	CHECK(jv_array_length(msgs) == 6);
	jv_free(m);
}

static void test_merge_without_previous(void)
{
	jv cur = summary("only", "completed", "ok", "2026-12-01T10:00:00.000Z", 0.5, "manager");
	jv m = conversation_merge_summary(jv_invalid(), cur, -1);
	jv turns = json_get(m, "turns");
	CHECK(jv_array_length(turns) == 1);
	CHECK(json_num(m, "total_cost_usd", 0) == 0.5);
	CHECK_STR(json_str(m, "user_request"), "only");
	jv_free(m);
}

int main(void)
{
	UNIT_RUN(test_turns_of_old_summary);
	UNIT_RUN(test_context_text);
	UNIT_RUN(test_context_trimmed_to_limit);
	UNIT_RUN(test_merge_appends_a_turn);
	UNIT_RUN(test_merge_without_previous);
	return unit_done();
}
