/* fake-anthropic: loading and checking a scenario file; small jv helpers. */
#define _DEFAULT_SOURCE
#include "fake.h"

static const char *const fault_names[] = {
	"", "reset", "truncate", "cut_tool_json", "hang", "error_event", "bad_json",
};


struct rule *rules;
size_t nrules;

void sleep_ms(long ms)
{
	while (ms > 0 && !atomic_load(&stopping)) {
		long step = ms < 20 ? ms : 20;
		struct timespec ts = { 0, step * 1000000L };
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

long tokens_of(size_t bytes)
{
	return (long)((bytes + 3) / 4);
}

/* Borrows obj. A new reference to obj[key], or jv_invalid() when absent or obj is no object. */
jv member(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

/* Borrows s, a string. Its bytes, which may hold NULs, and their count. */
const char *str_bytes(jv s, size_t *len)
{
	*len = (size_t)jv_string_length_bytes(jv_copy(s));
	return jv_string_value(s);
}

/* Consumes bad, an invalid value from jv_parse. Its message without the input it quotes. */
char *parse_error(jv bad)
{
	jv msg = jv_invalid_get_msg(bad);
	char *s = xstrdup(jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg)
			  : "parse error");
	char *quote = strstr(s, " (while parsing '");
	if (quote)
		*quote = '\0';
	jv_free(msg);
	return s;
}

/* Consumes v. Compact JSON text, malloc'd. */
char *dump(jv v)
{
	jv s = jv_dump_string(v, 0);
	char *r = xstrdup(jv_string_value(s));
	jv_free(s);
	return r;
}

int kind_is(jv v, jv_kind k)
{
	return jv_get_kind(v) == k;
}

int is_str(jv v, const char *s)
{
	return kind_is(v, JV_KIND_STRING) && strcmp(jv_string_value(v), s) == 0;
}

/* memmem(3), which glibc 2.36 declares only under _GNU_SOURCE. */
char *find_bytes(const char *hay, size_t len, const char *needle, size_t n)
{
	const char *end = hay + len;
	if (n == 0)
		return (char *)hay;
	while ((size_t)(end - hay) >= n) {
		const char *p = memchr(hay, needle[0], (size_t)(end - hay) - n + 1);
		if (!p)
			return NULL;
		if (memcmp(p, needle, n) == 0)
			return (char *)p;
		hay = p + 1;
	}
	return NULL;
}

uint64_t fnv(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;
	for (size_t i = 0; i < n; i++) {
		h ^= s[i];
		h *= 1099511628211ULL;
	}
	return h;
}

static int fail(char **err, const char *where, const char *what)
{
	*err = xasprintf("%s: %s", where, what);
	return -1;
}

/* Borrows obj. Keys starting with '_' are comments and always allowed. */
static int check_keys(jv obj, const char *const *allowed, const char *where, char **err)
{
	for (int it = jv_object_iter(obj); jv_object_iter_valid(obj, it);
	     it = jv_object_iter_next(obj, it)) {
		jv k = jv_object_iter_key(obj, it);
		const char *key = jv_string_value(k);
		int ok = key[0] == '_';
		for (size_t i = 0; !ok && allowed[i]; i++)
			ok = strcmp(key, allowed[i]) == 0;
		if (!ok) {
			struct buf b = BUF_INIT;
			buf_printf(&b, "%s%s%s: unknown field (known: ", where, *where ? "." : "",
				   key);
			for (size_t i = 0; allowed[i]; i++)
				buf_printf(&b, "%s%s", i ? ", " : "", allowed[i]);
			buf_appends(&b, ")");
			*err = buf_detach(&b);
			jv_free(k);
			return -1;
		}
		jv_free(k);
	}
	return 0;
}

/* Borrows obj. *out is NULL when the field is absent. */
static int get_string(jv obj, const char *key, const char *where, char **out, char **err)
{
	jv v = member(obj, key);
	*out = NULL;
	if (!jv_is_valid(v))
		return 0;
	if (!kind_is(v, JV_KIND_STRING)) {
		char *w = xasprintf("%s.%s", where, key);
		fail(err, w, "expected a string");
		free(w);
		jv_free(v);
		return -1;
	}
	*out = xstrdup(jv_string_value(v));
	jv_free(v);
	return 0;
}

/* Borrows v. */
int as_long(jv v, long lo, long hi, long *out)
{
	if (!kind_is(v, JV_KIND_NUMBER))
		return -1;
	double d = jv_number_value(v);
	if (d != (double)(long)d || d < (double)lo || d > (double)hi)
		return -1;
	*out = (long)d;
	return 0;
}

/* Borrows obj. *out keeps its value when the field is absent. */
static int get_long(jv obj, const char *key, long lo, long hi, const char *where, long *out,
		    char **err)
{
	jv v = member(obj, key);
	if (!jv_is_valid(v))
		return 0;
	int r = as_long(v, lo, hi, out);
	jv_free(v);
	if (r < 0) {
		char *w = xasprintf("%s.%s", where, key);
		char *what = hi < INT_MAX ? xasprintf("expected an integer from %ld to %ld", lo, hi)
			: lo == 0 ? xstrdup("expected a non-negative integer")
			: xasprintf("expected an integer of at least %ld", lo);
		fail(err, w, what);
		free(w);
		free(what);
	}
	return r;
}

static int check_match(jv m, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = { "system", "turn", "last_user", "body", "tool", NULL };
	if (!kind_is(m, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(m, keys, where, err) < 0 ||
	    get_string(m, "system", where, &r->m_system, err) < 0 ||
	    get_string(m, "last_user", where, &r->m_last_user, err) < 0 ||
	    get_string(m, "body", where, &r->m_body, err) < 0 ||
	    get_string(m, "tool", where, &r->m_tool, err) < 0 ||
	    get_long(m, "turn", 0, INT_MAX, where, &r->m_turn, err) < 0)
		return -1;
	return 0;
}

static int check_block(jv b, const char *where, char **err)
{
	static const char *const text_keys[] = { "type", "text", NULL };
	static const char *const tool_keys[] = { "type", "id", "name", "input", NULL };
	if (!kind_is(b, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	jv type = member(b, "type");
	int text = is_str(type, "text"), tool = is_str(type, "tool_use");
	jv_free(type);
	if (!text && !tool)
		return fail(err, where, "field \"type\" must be \"text\" or \"tool_use\"");
	if (check_keys(b, text ? text_keys : tool_keys, where, err) < 0)
		return -1;
	const char *need = text ? "text" : "name";
	jv v = member(b, need);
	int ok = kind_is(v, JV_KIND_STRING);
	jv_free(v);
	if (!ok) {
		char *w = xasprintf("%s.%s", where, need);
		fail(err, w, "expected a string");
		free(w);
		return -1;
	}
	if (tool) {
		jv id = member(b, "id"), input = member(b, "input");
		int bad_id = jv_is_valid(id) && !kind_is(id, JV_KIND_STRING);
		int bad_input = jv_is_valid(input) && !kind_is(input, JV_KIND_OBJECT);
		jv_free(id);
		jv_free(input);
		if (bad_id || bad_input) {
			char *w = xasprintf("%s.%s", where, bad_id ? "id" : "input");
			fail(err, w, bad_id ? "expected a string" : "expected an object");
			free(w);
			return -1;
		}
	}
	return 0;
}

static int check_reply(jv reply, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = { "content", "stop_reason", "model", "usage", NULL };
	static const char *const counts[] = {
		"input_tokens", "output_tokens", "cache_creation_input_tokens",
		"cache_read_input_tokens", NULL,
	};
	if (!kind_is(reply, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(reply, keys, where, err) < 0)
		return -1;
	char *w = xasprintf("%s.content", where);
	jv content = member(reply, "content");
	int rc = 0;
	if (!kind_is(content, JV_KIND_ARRAY)) {
		rc = fail(err, w, "expected an array of content blocks");
	} else {
		for (int i = 0; rc == 0 && i < jv_array_length(jv_copy(content)); i++) {
			char *wi = xasprintf("%s[%d]", w, i);
			jv b = jv_array_get(jv_copy(content), i);
			rc = check_block(b, wi, err);
			jv_free(b);
			free(wi);
		}
	}
	jv_free(content);
	free(w);
	if (rc < 0)
		return -1;
	char *s = NULL;
	if (get_string(reply, "stop_reason", where, &s, err) < 0)
		return -1;
	free(s);
	if (get_string(reply, "model", where, &s, err) < 0)
		return -1;
	free(s);
	jv usage = member(reply, "usage");
	if (jv_is_valid(usage)) {
		w = xasprintf("%s.usage", where);
		if (!kind_is(usage, JV_KIND_OBJECT))
			rc = fail(err, w, "expected an object");
		for (size_t i = 0; rc == 0 && counts[i]; i++) {
			long n = 0;
			rc = get_long(usage, counts[i], 0, LONG_MAX / 2, w, &n, err);
		}
		free(w);
	}
	jv_free(usage);
	if (rc < 0)
		return -1;
	r->reply = dump(jv_copy(reply));
	return 0;
}

static int check_rule(jv rj, struct rule *r, const char *where, char **err)
{
	static const char *const keys[] = {
		"name", "match", "times", "status", "error_type", "message", "retry_after",
		"reply", "fault", "drip_ms", "delay_ms", NULL,
	};
	long status = 0;
	if (!kind_is(rj, JV_KIND_OBJECT))
		return fail(err, where, "expected an object");
	if (check_keys(rj, keys, where, err) < 0 ||
	    get_string(rj, "name", where, &r->name, err) < 0 ||
	    get_long(rj, "times", 0, LONG_MAX / 2, where, &r->times, err) < 0 ||
	    get_long(rj, "status", 400, 599, where, &status, err) < 0 ||
	    get_string(rj, "error_type", where, &r->error_type, err) < 0 ||
	    get_string(rj, "message", where, &r->message, err) < 0 ||
	    get_long(rj, "drip_ms", 0, 600000, where, &r->drip_ms, err) < 0 ||
	    get_long(rj, "delay_ms", 0, 600000, where, &r->delay_ms, err) < 0)
		return -1;
	r->status = (int)status;

	char *w = NULL;
	int rc = 0;
	jv ra = member(rj, "retry_after");
	if (jv_is_valid(ra)) {
		long secs;
		if (kind_is(ra, JV_KIND_STRING) && !strpbrk(jv_string_value(ra), "\r\n"))
			r->retry_after = xstrdup(jv_string_value(ra));
		else if (as_long(ra, 0, LONG_MAX, &secs) == 0)
			r->retry_after = xasprintf("%ld", secs);
		else if (kind_is(ra, JV_KIND_NUMBER) && jv_number_value(ra) >= 0)
			r->retry_after = dump(jv_copy(ra));
		else
			rc = fail(err, w = xasprintf("%s.retry_after", where),
				  "expected a string or a non-negative number of seconds");
	}
	jv_free(ra);
	free(w);
	if (rc < 0)
		return -1;

	jv f = member(rj, "fault");
	if (jv_is_valid(f)) {
		for (size_t i = 1; i < sizeof fault_names / sizeof *fault_names; i++)
			if (is_str(f, fault_names[i]))
				r->fault = (enum fault)i;
		if (r->fault == F_NONE)
			rc = fail(err, w = xasprintf("%s.fault", where),
				  "expected one of reset, truncate, cut_tool_json, hang, "
				  "error_event, bad_json");
	}
	jv_free(f);
	free(w);
	if (rc < 0)
		return -1;

	jv m = member(rj, "match");
	if (jv_is_valid(m))
		rc = check_match(m, r, w = xasprintf("%s.match", where), err);
	jv_free(m);
	free(w);
	w = NULL;
	if (rc < 0)
		return -1;

	jv reply = member(rj, "reply");
	if (jv_is_valid(reply))
		rc = check_reply(reply, r, w = xasprintf("%s.reply", where), err);
	jv_free(reply);
	free(w);
	if (rc < 0)
		return -1;

	if (r->status && (r->reply || r->fault))
		return fail(err, where, "\"status\" answers with an error, so it takes no "
			    "\"reply\" or \"fault\"; split it into two rules");
	if (!r->status && (r->error_type || r->message || r->retry_after))
		return fail(err, where, "\"error_type\", \"message\" and \"retry_after\" "
			    "need \"status\"");
	if (!r->status && !r->reply && !r->fault)
		return fail(err, where, "needs \"reply\", \"status\" or \"fault\"");
	return 0;
}

void rules_free(struct rule *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		struct rule *r = &rs[i];
		free(r->name);
		free(r->m_system);
		free(r->m_last_user);
		free(r->m_body);
		free(r->m_tool);
		free(r->error_type);
		free(r->message);
		free(r->retry_after);
		free(r->reply);
	}
	free(rs);
}

static char *slurp(const char *path, size_t *len, char **err)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		*err = xasprintf("cannot open it: %s", strerror(errno));
		return NULL;
	}
	struct buf b = BUF_INIT;
	char tmp[65536];
	size_t n;
	while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
		buf_append(&b, tmp, n);
	int bad = ferror(f);
	fclose(f);
	if (bad) {
		*err = xstrdup("cannot read it");
		buf_free(&b);
		return NULL;
	}
	*len = b.len;
	return buf_detach(&b);
}

/* On success sets rules/nrules. *err gets "FILE: where: problem". */
int load_scenario(const char *path, char **err)
{
	char *e = NULL;
	size_t len = 0;
	char *text = slurp(path, &len, &e);
	if (!text)
		goto bad;
	if (len > INT_MAX) {
		free(text);
		e = xstrdup("file too large");
		goto bad;
	}
	jv doc = jv_parse_sized(text, (int)len);
	free(text);
	if (!jv_is_valid(doc)) {
		char *why = parse_error(doc);
		e = xasprintf("not valid JSON: %s", why);
		free(why);
		goto bad;
	}
	static const char *const top_keys[] = { "rules", NULL };
	jv rs = member(doc, "rules");
	struct rule *out = NULL;
	int n = 0, rc = 0;
	if (!kind_is(doc, JV_KIND_OBJECT))
		rc = fail(&e, "top level", "expected an object {\"rules\": [...]}");
	else if (check_keys(doc, top_keys, "", &e) < 0)
		rc = -1;
	else if (!kind_is(rs, JV_KIND_ARRAY))
		rc = fail(&e, "rules", "field required, expected an array of rules");
	if (rc == 0) {
		n = jv_array_length(jv_copy(rs));
		out = xcalloc((size_t)n, sizeof *out);
		for (int i = 0; rc == 0 && i < n; i++) {
			struct rule *r = &out[i];
			r->index = (size_t)i;
			r->m_turn = -1;
			r->times = -1;
			char *where = xasprintf("rules[%d]", i);
			jv rj = jv_array_get(jv_copy(rs), i);
			rc = check_rule(rj, r, where, &e);
			jv_free(rj);
			free(where);
		}
	}
	jv_free(rs);
	jv_free(doc);
	if (rc < 0) {
		rules_free(out, (size_t)n);
		goto bad;
	}
	rules = out;
	nrules = (size_t)n;
	return 0;
bad:
	*err = xasprintf("%s: %s", path, e);
	free(e);
	return -1;
}

