#include "statusline.h"

#include <stdio.h>
#include <string.h>

#include "event.h"
#include "json.h"
#include "render.h"

void statusline_init(struct statusline *s)
{
	memset(s, 0, sizeof *s);
}

static void set_agent(struct statusline *s, const char *name)
{
	snprintf(s->agent, sizeof s->agent, "%s", name ? name : "");
}

static void start_wait(struct statusline *s, double now)
{
	s->waiting = true;
	s->waiting_since = now;
}

void statusline_update(struct statusline *s, jv ev, double now)
{
	const char *type = event_type(ev);
	if (!type)
		return;
	jv parent = json_get(ev, "parent_id");
	bool top = jv_get_kind(parent) != JV_KIND_STRING;
	jv_free(parent);
	if (strcmp(type, "init") == 0) {
		if (!s->active || top) {
			statusline_init(s);
			s->active = true;
			s->started = now;
		}
		set_agent(s, json_str(ev, "agent"));
		start_wait(s, now);
	} else if (!s->active) {
		return;
	} else if (strcmp(type, "text") == 0 || strcmp(type, "text_delta") == 0 ||
		   strcmp(type, "tool_use") == 0) {
		set_agent(s, json_str(ev, "agent"));
		s->waiting = false;
	} else if (strcmp(type, "tool_result") == 0) {
		set_agent(s, json_str(ev, "agent"));
		start_wait(s, now);
	} else if (strcmp(type, "usage") == 0) {
		s->turns++;
		s->tokens += (long)(json_num(ev, "input_tokens", 0) + json_num(ev, "output_tokens", 0) +
				    json_num(ev, "cache_read_input_tokens", 0) +
				    json_num(ev, "cache_creation_input_tokens", 0));
		s->cost_usd += json_num(ev, "cost_usd", 0);
	} else if (strcmp(type, "worker_start") == 0) {
		set_agent(s, json_str(ev, "worker"));
		start_wait(s, now);
	} else if (strcmp(type, "worker_end") == 0) {
		set_agent(s, json_str(ev, "agent"));
		start_wait(s, now);
	} else if (strcmp(type, "cycle") == 0) {
		const char *label = json_str(ev, "label");
		snprintf(s->cycle, sizeof s->cycle, "%s %d/%d", label ? label : "Cycle",
			 (int)json_num(ev, "n", 0), (int)json_num(ev, "max", 0));
	} else if (strcmp(type, "result") == 0 && top) {
		s->active = false;
		s->waiting = false;
	}
}

const char *statusline_elapsed(double seconds, char buf[32])
{
	long t = seconds < 0 ? 0 : (long)seconds;
	if (t < 60)
		snprintf(buf, 32, "%lds", t);
	else if (t < 3600)
		snprintf(buf, 32, "%ldm%02lds", t / 60, t % 60);
	else
		snprintf(buf, 32, "%ldh%02ldm", t / 3600, (t % 3600) / 60);
	return buf;
}

/* Appends s, cut so that at most *room columns are used (each UTF-8 character one column). */
static void put(struct buf *out, const char *s, int *room)
{
	for (; *s && *room > 0; (*room)--) {
		size_t n = 1;
		while (s[n] && ((unsigned char)s[n] & 0xC0) == 0x80)
			n++;
		buf_append(out, s, n);
		s += n;
	}
}

void statusline_format(const struct statusline *s, double now, int width, bool color, struct buf *out)
{
	static const char *const spin[] = { "⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏" };
	if (!s->active || width <= 0)
		return;
	double t = now - s->started;
	char el[32], tok[32], part[160];
	int room = width;
	put(out, spin[(long)((t < 0 ? 0 : t) * 10) % 10], &room);
	put(out, " ", &room);
	if (color)
		buf_appends(out, "\033[1m");
	put(out, s->agent, &room);
	if (color)
		buf_appends(out, "\033[0m\033[2m");
	if (s->waiting)
		snprintf(part, sizeof part, " thinking… %s", statusline_elapsed(now - s->waiting_since, el));
	else
		snprintf(part, sizeof part, " working");
	put(out, part, &room);
	if (s->cycle[0]) {
		snprintf(part, sizeof part, " · %s", s->cycle);
		put(out, part, &room);
	}
	snprintf(part, sizeof part, " · %d turn%s · %s tokens · $%.4f · %s", s->turns,
		 s->turns == 1 ? "" : "s", render_tokens(s->tokens, tok), s->cost_usd,
		 statusline_elapsed(t, el));
	put(out, part, &room);
	if (color)
		buf_appends(out, "\033[0m");
}
