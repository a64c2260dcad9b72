#include "conversation.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"

/* The longest request or result text one turn shows the manager. */
#define TURN_TEXT_MAX 4000

/* obj's number fields added into sum (both borrowed; sum is returned, consumed). */
static jv add_numbers(jv sum, jv obj)
{
	if (jv_get_kind(sum) != JV_KIND_OBJECT) {
		jv_free(sum);
		sum = jv_object();
	}
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return sum;
	jv_object_foreach(obj, k, v) {
		if (jv_get_kind(v) == JV_KIND_NUMBER) {
			double have = json_num(sum, jv_string_value(k), 0);
			sum = jv_object_set(sum, jv_copy(k), jv_number(have + jv_number_value(v)));
		}
		jv_free(k);
		jv_free(v);
	}
	return sum;
}

/* One turn made from a summary (borrowed); its messages start at first_message. */
static jv turn_of(jv summary, int first_message)
{
	jv result = json_get(summary, "result");
	jv t = jv_object();
	t = jv_object_set(t, jv_string("request"), json_get(summary, "user_request"));
	t = jv_object_set(t, jv_string("status"), json_get(result, "status"));
	t = jv_object_set(t, jv_string("exit_code"), json_get(result, "exit_code"));
	t = jv_object_set(t, jv_string("text"), json_get(result, "text"));
	static const char *const keys[] = { "created_at", "completed_at", "total_turns", "total_cost_usd",
					    "usage", "ledger", "agents_used" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		t = jv_object_set(t, jv_string(keys[i]), json_get(summary, keys[i]));
	t = jv_object_set(t, jv_string("first_message"), jv_number(first_message));
	jv_free(result);
	return t;
}

jv conversation_turns(jv summary)
{
	if (jv_get_kind(summary) != JV_KIND_OBJECT)
		return jv_array();
	jv turns = json_get(summary, "turns");
	if (jv_get_kind(turns) == JV_KIND_ARRAY)
		return turns;
	jv_free(turns);
	return jv_array_append(jv_array(), turn_of(summary, 0));
}

/* s, or its first max bytes (not splitting a UTF-8 character) and a mark. */
static void append_cut(struct buf *b, const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n <= max) {
		buf_appends(b, s);
		return;
	}
	while (max > 0 && ((unsigned char)s[max] & 0xC0) == 0x80)
		max--;
	buf_append(b, s, max);
	buf_printf(b, "\n[... %zu more bytes left out]", n - max);
}

/* One turn as the manager sees it, numbered from 1. */
static char *turn_text(jv turn, int number)
{
	struct buf b = BUF_INIT;
	const char *request = json_str(turn, "request");
	const char *status = json_str(turn, "status");
	const char *text = json_str(turn, "text");
	buf_printf(&b, "## Request %d\n", number);
	append_cut(&b, request ? request : "", TURN_TEXT_MAX);
	buf_printf(&b, "\n\n## Result %d (%s)\n", number, status ? status : "unknown");
	append_cut(&b, text && *text ? text : "(no text)", TURN_TEXT_MAX);
	buf_appends(&b, "\n\n");
	return buf_detach(&b);
}

char *conversation_context(jv turns, size_t max_chars)
{
	int n = jv_get_kind(turns) == JV_KIND_ARRAY ? jv_array_length(jv_copy(turns)) : 0;
	if (n == 0)
		return NULL;
	char **texts = xcalloc((size_t)n, sizeof *texts);
	size_t used = 0;
	int first = n;	/* the oldest turn that fits */
	for (int i = n - 1; i >= 0; i--) {
		jv t = jv_array_get(jv_copy(turns), i);
		texts[i] = turn_text(t, i + 1);
		jv_free(t);
		size_t len = strlen(texts[i]);
		if (i < n - 1 && used + len > max_chars)
			break;
		used += len;
		first = i;
	}
	struct buf b = BUF_INIT;
	buf_appends(&b, "This session is a conversation. Its earlier requests and their results, "
			"oldest first (context for the new request, not work to repeat):\n\n");
	if (first > 0)
		buf_printf(&b, "(%d earlier request%s left out to stay within the context limit)\n\n",
			   first, first == 1 ? "" : "s");
	for (int i = first; i < n; i++)
		buf_appends(&b, texts[i]);
	for (int i = 0; i < n; i++)
		free(texts[i]);
	free(texts);
	buf_appends(&b, "## The new request\n");
	return buf_detach(&b);
}

static int array_len(jv a)
{
	return jv_get_kind(a) == JV_KIND_ARRAY ? jv_array_length(jv_copy(a)) : 0;
}

jv conversation_merge_summary(jv previous, jv current, int at)
{
	if (jv_get_kind(current) != JV_KIND_OBJECT) {
		jv_free(previous);
		return current;
	}
	jv turns = jv_get_kind(previous) == JV_KIND_OBJECT ? conversation_turns(previous) : jv_array();
	jv messages = json_get(previous, "messages");
	if (jv_get_kind(messages) != JV_KIND_ARRAY) {
		jv_free(messages);
		messages = jv_array();
	}
	int n = array_len(turns), nm = array_len(messages);
	if (at < 0 || at > n)
		at = n;
	int cut = nm;
	if (at < n) {
		jv t = jv_array_get(jv_copy(turns), at);
		cut = (int)json_num(t, "first_message", nm);
		jv_free(t);
		if (cut < 0 || cut > nm)
			cut = nm;
	}
	turns = jv_array_slice(turns, 0, at);
	messages = jv_array_slice(messages, 0, cut);
	jv mine = json_get(current, "messages");
	if (jv_get_kind(mine) == JV_KIND_ARRAY)
		messages = jv_array_concat(messages, mine);
	else
		jv_free(mine);
	turns = jv_array_append(turns, turn_of(current, cut));

	double total_turns = 0, cost = 0;
	jv usage = jv_object(), ledger = jv_object(), agents = jv_array();
	jv_array_foreach(turns, i, t) {
		total_turns += json_num(t, "total_turns", 0);
		cost += json_num(t, "total_cost_usd", 0);
		jv u = json_get(t, "usage");
		usage = add_numbers(usage, u);
		jv_free(u);
		jv l = json_get(t, "ledger");
		if (jv_get_kind(l) == JV_KIND_OBJECT) {
			jv_object_foreach(l, name, entry) {
				jv have = jv_object_get(jv_copy(ledger), jv_copy(name));
				ledger = jv_object_set(ledger, name, add_numbers(have, entry));
				jv_free(entry);
			}
		}
		jv_free(l);
		jv used = json_get(t, "agents_used");
		if (jv_get_kind(used) == JV_KIND_ARRAY) {
			jv_array_foreach(used, j, a) {
				bool seen = false;
				jv_array_foreach(agents, k, b) {
					bool same = jv_equal(jv_copy(a), b);
					seen = seen || same;
				}
				agents = seen ? agents : jv_array_append(agents, jv_copy(a));
				jv_free(a);
			}
		}
		jv_free(used);
		jv_free(t);
	}
	jv first = jv_array_get(jv_copy(turns), 0);
	jv out = current;
	if (json_str(first, "created_at"))
		out = jv_object_set(out, jv_string("created_at"), json_get(first, "created_at"));
	if (json_str(first, "request"))
		out = jv_object_set(out, jv_string("user_request"), json_get(first, "request"));
	jv_free(first);
	out = jv_object_set(out, jv_string("messages"), messages);
	out = jv_object_set(out, jv_string("total_turns"), jv_number(total_turns));
	out = jv_object_set(out, jv_string("total_cost_usd"), jv_number(cost));
	out = jv_object_set(out, jv_string("usage"), usage);
	out = jv_object_set(out, jv_string("ledger"), ledger);
	out = jv_object_set(out, jv_string("agents_used"), agents);
	out = jv_object_set(out, jv_string("turns"), turns);
	jv_free(previous);
	return out;
}
