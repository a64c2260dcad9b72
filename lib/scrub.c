#include "scrub.h"

#include <stdlib.h>
#include <stdbool.h>
#include <string.h>

#include "buf.h"

char *scrub_with(const char *s, const char *const *secrets, size_t n)
{
	struct buf b = BUF_INIT;
	buf_append(&b, "", 0);
	const char *p = s;
	while (*p) {
		size_t hit = 0;
		for (size_t i = 0; i < n && !hit; i++) {
			size_t l = secrets[i] ? strlen(secrets[i]) : 0;
			if (l >= 8 && strncmp(p, secrets[i], l) == 0)
				hit = l;
		}
		if (hit) {
			buf_appends(&b, SCRUB_MARK);
			p += hit;
		} else {
			buf_appendc(&b, *p++);
		}
	}
	return buf_detach(&b);
}

static size_t current(const char *out[3])
{
	static const char *const names[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
					     "ANTHROPIC_AUTH_TOKEN" };
	size_t n = 0;
	for (size_t i = 0; i < 3; i++) {
		const char *v = getenv(names[i]);
		if (v && strlen(v) >= 8)
			out[n++] = v;
	}
	return n;
}

char *scrub_secrets(char *s)
{
	if (!s)
		return s;
	const char *secrets[3];
	size_t n = current(secrets);
	if (n == 0)
		return s;
	char *clean = scrub_with(s, secrets, n);
	free(s);
	return clean;
}

jv scrub_jv(jv v)
{
	const char *secrets[3];
	size_t n = current(secrets);
	if (n == 0)
		return v;
	jv text = jv_dump_string(jv_copy(v), 0);
	bool found = false;
	for (size_t i = 0; i < n && !found; i++)
		found = strstr(jv_string_value(text), secrets[i]) != NULL;
	if (!found) {
		jv_free(text);
		return v;
	}
	char *clean = scrub_with(jv_string_value(text), secrets, n);
	jv_free(text);
	jv out = jv_parse(clean);
	free(clean);
	if (!jv_is_valid(out)) {	/* cannot happen: a secret never spans JSON syntax */
		jv_free(out);
		return v;
	}
	jv_free(v);
	return out;
}
