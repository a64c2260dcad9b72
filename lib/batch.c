/* bllm-batch's decisions: task lines, ids, outcome lines, exit codes, the table. */
#include "batch.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "json.h"

bool batch_id_valid(const char *id)
{
	size_t n = strlen(id);
	if (n == 0 || n > 64 || id[0] == '.' || id[0] == '-' || id[n - 1] == '.')
		return false;
	if (strstr(id, "..") || (n >= 5 && strcmp(id + n - 5, ".lock") == 0))
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = id[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t' || *s == '\r'))
		s++;
	return s;
}

int batch_parse_task_line(const char *line, size_t len, const char *default_id, jv *task, char **err)
{
	const char *end = line + len, *s = skip_blanks(line, end);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
		end--;
	*task = jv_invalid();
	*err = NULL;
	if (s == end || *s == '#')
		return 0;
	if (*s != '{') {
		*task = jv_object_set(jv_object_set(jv_object(), jv_string("id"), jv_string(default_id)),
				      jv_string("task"), jv_string_sized(s, (int)(end - s)));
		return 1;
	}
	jv v = jv_parse_sized(s, (int)(end - s));
	if (!jv_is_valid(v) || jv_get_kind(v) != JV_KIND_OBJECT) {
		jv_free(v);
		*err = xstrdup("not a JSON object: expected {\"task\": \"...\", \"id\": \"...\"}");
		return -1;
	}
	const char *text = json_str(v, "task");
	jv id = json_get(v, "id");
	char idbuf[32];
	const char *ids = NULL;
	if (jv_get_kind(id) == JV_KIND_STRING) {
		ids = jv_string_value(id);
	} else if (jv_get_kind(id) == JV_KIND_NUMBER) {
		double d = jv_number_value(id);
		if (d >= 0 && d < 1e15 && d == floor(d)) {
			snprintf(idbuf, sizeof idbuf, "%.0f", d);
			ids = idbuf;
		}
	} else if (jv_get_kind(id) == JV_KIND_NULL) {
		ids = default_id;
	}
	if (!text || !*text) {
		*err = xstrdup("field \"task\": expected a non-empty string");
	} else if (!ids) {
		*err = xstrdup("field \"id\": expected a string or a whole number");
	} else if (!batch_id_valid(ids)) {
		*err = xasprintf("field \"id\": \"%s\" cannot name a branch (use 1 to 64 of A-Z a-z 0-9 . _ -)", ids);
	} else {
		*task = jv_object_set(jv_object_set(jv_object(), jv_string("id"), jv_string(ids)),
				      jv_string("task"), jv_string(text));
	}
	jv_free(id);
	jv_free(v);
	return *err ? -1 : 1;
}

int batch_task_index(jv tasks, const char *id)
{
	int found = -1;
	jv_array_foreach(tasks, i, t) {
		const char *tid = json_str(t, "id");
		if (found < 0 && id && tid && strcmp(tid, id) == 0)
			found = i;
		jv_free(t);
	}
	return found;
}

/* The place of a documented code in the order of batch_worse_exit, -1 for others. */
static int exit_rank(int code)
{
	static const int order[] = { 0, 1, 3, 6, 124, 4, 5, 2, 130 };
	for (size_t i = 0; i < sizeof order / sizeof order[0]; i++)
		if (order[i] == code)
			return (int)i;
	return -1;
}

int batch_worse_exit(int a, int b)
{
	if (exit_rank(a) < 0)
		a = 1;
	if (exit_rank(b) < 0)
		b = 1;
	return exit_rank(b) > exit_rank(a) ? b : a;
}

jv batch_outcome(jv task, jv result, int exit_code, jv files_changed)
{
	const char *id = json_str(task, "id");
	jv out = jv_object();
	out = jv_object_set(out, jv_string("id"), jv_string(id ? id : ""));
	out = jv_object_set(out, jv_string("task"), json_get(task, "task"));
	const char *status = json_str(result, "status");
	jv error = json_get(result, "error");
	if (!status) {
		status = exit_code == 130 ? "interrupted" : "error";
		if (jv_get_kind(error) != JV_KIND_STRING) {
			jv_free(error);
			error = jv_string(exit_code == 130 ? "interrupted before the run wrote its result"
					  : "bllm-manage ended without a result");
		}
		if (exit_code == 0)
			exit_code = 1;
	}
	out = jv_object_set(out, jv_string("status"), jv_string(status));
	out = jv_object_set(out, jv_string("exit_code"), jv_number(exit_code));
	jv verification = json_get(result, "verification");
	jv verified = json_get(verification, "verified");
	out = jv_object_set(out, jv_string("verified"),
			    jv_bool(jv_get_kind(verified) == JV_KIND_TRUE));
	jv_free(verified);
	jv_free(verification);
	out = jv_object_set(out, jv_string("branch"),
			    jv_string_fmt("%s%s", BATCH_BRANCH_PREFIX, id ? id : ""));
	if (jv_get_kind(files_changed) != JV_KIND_ARRAY) {
		jv_free(files_changed);
		files_changed = jv_array();
	}
	out = jv_object_set(out, jv_string("files_changed"), files_changed);
	jv cost = json_get(result, "total_cost_usd");
	out = jv_object_set(out, jv_string("cost_usd"),
			    jv_get_kind(cost) == JV_KIND_NUMBER ? cost : (jv_free(cost), jv_null()));
	jv session = json_get(result, "summary_path");
	out = jv_object_set(out, jv_string("session"),
			    jv_get_kind(session) == JV_KIND_STRING ? session : (jv_free(session), jv_null()));
	if (strcmp(status, "completed") != 0 && jv_get_kind(error) == JV_KIND_STRING)
		out = jv_object_set(out, jv_string("error"), error);
	else
		jv_free(error);
	return out;
}

int batch_exit_code(jv outcomes)
{
	int code = 0;
	jv_array_foreach(outcomes, i, o) {
		int c = (int)json_num(o, "exit_code", 1);
		jv verified = json_get(o, "verified");
		const char *status = json_str(o, "status");
		bool done = status && strcmp(status, "completed") == 0 &&
			    jv_get_kind(verified) == JV_KIND_TRUE && c == 0;
		jv_free(verified);
		jv_free(o);
		if (!done)
			code = batch_worse_exit(code, c == 0 ? 1 : c);
	}
	return code;
}

void batch_format_table(jv outcomes, struct buf *out)
{
	int idw = 2, n = 0, done = 0;
	double total = 0;
	bool priced = true;
	jv_array_foreach(outcomes, i, o) {
		const char *id = json_str(o, "id");
		if (id && (int)strlen(id) > idw)
			idw = (int)strlen(id);
		jv_free(o);
	}
	buf_printf(out, "%-*s  %-11s %4s %5s %9s  %s\n", idw, "ID", "STATUS", "EXIT", "FILES", "COST", "BRANCH");
	jv_array_foreach(outcomes, i, o) {
		const char *id = json_str(o, "id"), *status = json_str(o, "status"), *branch = json_str(o, "branch");
		jv files = json_get(o, "files_changed"), cost = json_get(o, "cost_usd"), ver = json_get(o, "verified");
		int nfiles = jv_get_kind(files) == JV_KIND_ARRAY ? jv_array_length(jv_copy(files)) : 0;
		char costs[32] = "-";
		if (jv_get_kind(cost) == JV_KIND_NUMBER) {
			snprintf(costs, sizeof costs, "$%.4f", jv_number_value(cost));
			total += jv_number_value(cost);
		} else {
			priced = false;
		}
		bool ok = status && strcmp(status, "completed") == 0 && jv_get_kind(ver) == JV_KIND_TRUE;
		buf_printf(out, "%-*s  %-11s %4d %5d %9s  %s\n", idw, id ? id : "?", status ? status : "?",
			   (int)json_num(o, "exit_code", 1), nfiles, costs, branch ? branch : "");
		done += ok;
		n++;
		jv_free(files);
		jv_free(cost);
		jv_free(ver);
		jv_free(o);
	}
	buf_printf(out, "%d of %d task%s completed and verified; cost $%.4f%s\n", done, n, n == 1 ? "" : "s",
		   total, priced ? "" : " (some runs had no price)");
}

void batch_shell_quote(const char *s, struct buf *out)
{
	buf_appendc(out, '\'');
	for (; *s; s++) {
		if (*s == '\'')
			buf_appends(out, "'\\''");
		else
			buf_appendc(out, *s);
	}
	buf_appendc(out, '\'');
}
