#include "rundiff.h"

#include <string.h>

#include "event.h"
#include "json.h"

/* Appends the hunks, '+' lines green and '-' lines red when color. */
static void put_hunks(const char *diff, bool color, struct buf *out)
{
	for (const char *p = diff; *p;) {
		size_t n = strcspn(p, "\n");
		const char *style = !color ? NULL : p[0] == '+' ? "\033[32m" : p[0] == '-' ? "\033[31m"
				  : p[0] == '@' ? "\033[36m" : NULL;
		if (style)
			buf_appends(out, style);
		buf_append(out, p, n);
		if (style)
			buf_appends(out, "\033[0m");
		buf_appendc(out, '\n');
		p += n + (p[n] == '\n');
	}
}

static bool listed(jv list, const char *path)
{
	bool seen = false;
	jv_array_foreach(list, i, p) {
		seen = seen || strcmp(jv_string_value(p), path) == 0;
		jv_free(p);
	}
	return seen;
}

int rundiff_format(jv events, bool color, struct buf *out)
{
	int n = 0;
	jv by_commands = jv_array();
	jv_array_foreach(events, i, ev) {
		const char *type = event_type(ev);
		const char *diff = json_str(ev, "diff");
		jv files = json_get(ev, "files_changed");
		if (type && strcmp(type, "tool_result") == 0 && jv_get_kind(files) == JV_KIND_ARRAY) {
			jv_array_foreach(files, j, f) {
				const char *path = jv_get_kind(f) == JV_KIND_STRING ? jv_string_value(f) : NULL;
				if (path && diff && j == 0) {
					buf_printf(out, "%s--- a/%s\n+++ b/%s%s\n", color ? "\033[1m" : "", path,
						   path, color ? "\033[0m" : "");
					put_hunks(diff, color, out);
					n++;
				} else if (path && !diff && !listed(by_commands, path)) {
					by_commands = jv_array_append(by_commands, jv_string(path));
				}
				jv_free(f);
			}
		}
		jv_free(files);
		jv_free(ev);
	}
	jv_array_foreach(by_commands, i, p) {
		buf_printf(out, "# changed by a command (no diff recorded): %s\n", jv_string_value(p));
		n++;
		jv_free(p);
	}
	jv_free(by_commands);
	return n;
}
