/* A run's report in Markdown, for CI job summaries. */
#include "report.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

struct report {
	jv task;	/* text of the first task event, or null */
	jv result;	/* the last top-level result, or null */
	jv workers;	/* {agent: {calls, turns, tokens..., cost_usd}} from worker results */
	jv commands;	/* verification commands of the workers' results, in order */
	jv files;	/* every path any result changed, first seen first */
};

struct report *report_new(void)
{
	struct report *r = xcalloc(1, sizeof *r);
	r->task = jv_null();
	r->result = jv_null();
	r->workers = jv_object();
	r->commands = jv_array();
	r->files = jv_array();
	return r;
}

void report_free(struct report *r)
{
	if (!r)
		return;
	jv_free(r->task);
	jv_free(r->result);
	jv_free(r->workers);
	jv_free(r->commands);
	jv_free(r->files);
	free(r);
}

/* Appends the paths of list (borrowed) that files does not hold yet. */
static void add_files(struct report *r, jv list)
{
	if (jv_get_kind(list) != JV_KIND_ARRAY)
		return;
	jv_array_foreach(list, i, p) {
		bool seen = false;
		jv_array_foreach(r->files, j, q) {
			seen = seen || jv_equal(jv_copy(p), q);
		}
		if (!seen && jv_get_kind(p) == JV_KIND_STRING)
			r->files = jv_array_append(r->files, p);
		else
			jv_free(p);
	}
}

/* A worker result (borrowed) into the fallback ledger and command list. */
static void add_worker(struct report *r, jv ev)
{
	const char *agent = json_str(ev, "agent");
	if (!agent)
		return;
	jv e = json_get(r->workers, agent);
	if (jv_get_kind(e) != JV_KIND_OBJECT) {
		jv_free(e);
		e = jv_object();
	}
	jv usage = json_get(ev, "usage");
	static const char *keys[] = { "input_tokens", "output_tokens", "cache_read_input_tokens",
				      "cache_creation_input_tokens" };
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		e = jv_object_set(e, jv_string(keys[i]),
				  jv_number(json_num(e, keys[i], 0) + json_num(usage, keys[i], 0)));
	jv_free(usage);
	e = jv_object_set(e, jv_string("calls"), jv_number(json_num(e, "calls", 0) + 1));
	e = jv_object_set(e, jv_string("turns"), jv_number(json_num(e, "turns", 0) + json_num(ev, "num_turns", 0)));
	e = jv_object_set(e, jv_string("cost_usd"),
			  jv_number(json_num(e, "cost_usd", 0) + json_num(ev, "total_cost_usd", 0)));
	r->workers = jv_object_set(r->workers, jv_string(agent), e);
	jv ver = json_get(ev, "verification");
	jv cmds = json_get(ver, "commands");
	if (jv_get_kind(cmds) == JV_KIND_ARRAY)
		r->commands = jv_array_concat(r->commands, cmds);
	else
		jv_free(cmds);
	jv_free(ver);
}

void report_add(struct report *r, jv ev)
{
	const char *type = json_str(ev, "type");
	if (!type)
		return;
	if (strcmp(type, "task") == 0 && jv_get_kind(r->task) == JV_KIND_NULL) {
		jv_free(r->task);
		r->task = json_get(ev, "text");
		return;
	}
	if (strcmp(type, "result") != 0)
		return;
	jv files = json_get(ev, "files_changed");
	add_files(r, files);
	jv_free(files);
	jv parent = json_get(ev, "parent_id");
	if (jv_get_kind(parent) == JV_KIND_NULL) {
		jv_free(r->result);
		r->result = jv_copy(ev);
	} else {
		add_worker(r, ev);
	}
	jv_free(parent);
}

/* Appends s as the text of a table cell: one line, pipes escaped. */
static void cell(struct buf *out, const char *s)
{
	for (; s && *s; s++) {
		if (*s == '|')
			buf_appends(out, "\\|");
		else if (*s == '\n' || *s == '\r' || *s == '\t')
			buf_appendc(out, ' ');
		else
			buf_appendc(out, *s);
	}
}

/* Appends s as inline code (a longer fence when s holds backticks). */
static void code(struct buf *out, const char *s)
{
	const char *fence = strchr(s, '`') ? "`` " : "`";
	const char *close = strchr(s, '`') ? " ``" : "`";
	buf_appends(out, fence);
	cell(out, s);
	buf_appends(out, close);
}

static void money(struct buf *out, jv cost /* borrowed */)
{
	if (jv_get_kind(cost) == JV_KIND_NUMBER)
		buf_printf(out, "$%.4f", jv_number_value(cost));
	else
		buf_appends(out, "unknown (no price for a model)");
}

static void ledger_row(struct buf *out, const char *agent, jv e /* borrowed */, bool bold)
{
	const char *b = bold ? "**" : "";
	buf_printf(out, "| %s", b);
	cell(out, agent);
	buf_printf(out, "%s | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | $%.4f |\n", b, json_num(e, "calls", 0),
		   json_num(e, "turns", 0), json_num(e, "input_tokens", 0), json_num(e, "output_tokens", 0),
		   json_num(e, "cache_read_input_tokens", 0), json_num(e, "cache_creation_input_tokens", 0),
		   json_num(e, "cost_usd", 0));
}

/* The per-agent table: the manager's ledger, else the workers' results. */
static void ledger_section(const struct report *r, struct buf *out)
{
	jv ledger = json_get(r->result, "ledger");
	if (jv_get_kind(ledger) != JV_KIND_OBJECT || jv_object_length(jv_copy(ledger)) == 0) {
		jv_free(ledger);
		ledger = jv_copy(r->workers);
		const char *agent = json_str(r->result, "agent");
		if (agent && !jv_object_has(jv_copy(r->workers), jv_string(agent))) {
			jv own = jv_object_set(jv_object(), jv_string("calls"), jv_number(1));
			own = jv_object_set(own, jv_string("turns"), jv_number(json_num(r->result, "num_turns", 0)));
			own = jv_object_set(own, jv_string("cost_usd"), jv_number(json_num(r->result, "total_cost_usd", 0)));
			jv usage = json_get(r->result, "usage");
			if (jv_get_kind(usage) == JV_KIND_OBJECT)
				own = jv_object_merge(own, usage);
			else
				jv_free(usage);
			ledger = jv_object_set(ledger, jv_string(agent), own);
		}
	}
	buf_appends(out, "\n## Agents\n\n");
	if (jv_object_length(jv_copy(ledger)) == 0) {
		buf_appends(out, "No agent made a call.\n");
		jv_free(ledger);
		return;
	}
	buf_appends(out, "| agent | calls | turns | input tokens | output tokens | cache read | cache write | cost |\n"
			 "|---|--:|--:|--:|--:|--:|--:|--:|\n");
	jv total = jv_object();
	jv keys = jv_keys(jv_copy(ledger));
	jv order = jv_array();
	if (jv_object_has(jv_copy(ledger), jv_string("manager")))
		order = jv_array_append(order, jv_string("manager"));
	jv_array_foreach(keys, i, k) {
		if (strcmp(jv_string_value(k), "manager") != 0)
			order = jv_array_append(order, k);
		else
			jv_free(k);
	}
	jv_free(keys);
	static const char *sum[] = { "calls", "turns", "input_tokens", "output_tokens", "cache_read_input_tokens",
				     "cache_creation_input_tokens", "cost_usd" };
	jv_array_foreach(order, i, k) {
		jv e = json_get(ledger, jv_string_value(k));
		ledger_row(out, jv_string_value(k), e, false);
		for (size_t s = 0; s < sizeof sum / sizeof sum[0]; s++)
			total = jv_object_set(total, jv_string(sum[s]),
					      jv_number(json_num(total, sum[s], 0) + json_num(e, sum[s], 0)));
		jv_free(e);
		jv_free(k);
	}
	ledger_row(out, "total", total, true);
	jv_free(total);
	jv_free(order);
	jv_free(ledger);
}

static void verification_section(const struct report *r, struct buf *out)
{
	jv ver = json_get(r->result, "verification");
	jv cmds = json_get(ver, "commands");
	if (jv_get_kind(cmds) != JV_KIND_ARRAY) {
		jv_free(cmds);
		cmds = jv_copy(r->commands);
	}
	buf_appends(out, "\n## Verification\n\n");
	if (jv_array_length(jv_copy(cmds)) == 0) {
		buf_appends(out, "No command was run to check the work: it is not verified.\n");
	} else {
		buf_appends(out, "| command | exit code | |\n|---|--:|---|\n");
		jv_array_foreach(cmds, i, c) {
			buf_appends(out, "| ");
			code(out, json_str(c, "command") ? json_str(c, "command") : "?");
			jv passed = json_get(c, "passed");
			jv ec = json_get(c, "exit_code");
			if (jv_get_kind(ec) == JV_KIND_NUMBER)
				buf_printf(out, " | %.0f | %s |\n", jv_number_value(ec),
					   jv_get_kind(passed) == JV_KIND_TRUE ? "passed" : "**failed**");
			else
				buf_printf(out, " | - | %s |\n", jv_get_kind(passed) == JV_KIND_TRUE ? "passed" : "**failed**");
			jv_free(passed);
			jv_free(ec);
			jv_free(c);
		}
		jv verified = json_get(ver, "verified");
		buf_printf(out, "\nVerified: **%s**", jv_get_kind(verified) == JV_KIND_TRUE ? "yes" : "no");
		jv tp = json_get(ver, "tests_passed"), tf = json_get(ver, "tests_failed");
		if (jv_get_kind(tp) == JV_KIND_NUMBER && jv_get_kind(tf) == JV_KIND_NUMBER)
			buf_printf(out, " (%.0f passed, %.0f failed)", jv_number_value(tp), jv_number_value(tf));
		buf_appends(out, "\n");
		jv_free(verified);
		jv_free(tp);
		jv_free(tf);
	}
	jv_free(cmds);
	jv_free(ver);
}

void report_markdown(const struct report *r, struct buf *out)
{
	const char *status = json_str(r->result, "status");
	jv verified = json_get(r->result, "verification");
	jv v = json_get(verified, "verified");
	bool ok = status && strcmp(status, "completed") == 0 && jv_get_kind(v) == JV_KIND_TRUE;
	jv_free(v);
	jv_free(verified);
	if (!status)
		buf_appends(out, "# bllm: no result\n\nThe event stream ended without a result: the run did not finish.\n");
	else
		buf_printf(out, "# bllm: %s%s (exit %.0f)\n", status,
			   ok ? ", verified" : strcmp(status, "completed") == 0 ? ", not verified" : "",
			   json_num(r->result, "exit_code", 1));
	if (jv_get_kind(r->task) == JV_KIND_STRING) {
		buf_appends(out, "\n**Task:** ");
		cell(out, jv_string_value(r->task));
		buf_appends(out, "\n");
	}
	if (status) {
		buf_appends(out, "\n| | |\n|---|---|\n| agent | ");
		cell(out, json_str(r->result, "agent"));
		buf_appends(out, " |\n");
		if (json_str(r->result, "session_id")) {
			buf_appends(out, "| session | ");
			code(out, json_str(r->result, "session_id"));
			buf_appends(out, " |\n");
		}
		buf_printf(out, "| turns | %.0f |\n| duration | %.1f s |\n| cost | ",
			   json_num(r->result, "num_turns", 0), json_num(r->result, "duration_ms", 0) / 1000.0);
		jv cost = json_get(r->result, "total_cost_usd");
		money(out, cost);
		jv_free(cost);
		buf_appends(out, " |\n");
		const char *error = json_str(r->result, "error");
		if (!ok && error) {
			buf_appends(out, "\n> **Why:** ");
			cell(out, error);
			buf_appends(out, "\n");
		}
	}
	ledger_section(r, out);
	verification_section(r, out);
	buf_appends(out, "\n## Files changed\n\n");
	if (jv_array_length(jv_copy(r->files)) == 0)
		buf_appends(out, "No files changed.\n");
	jv_array_foreach(r->files, i, f) {
		buf_appends(out, "- ");
		code(out, jv_string_value(f));
		buf_appends(out, "\n");
		jv_free(f);
	}
}
