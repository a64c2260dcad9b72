/* Tags for the lines of runs under way at the same time. */
#include "runtags.h"

#include <stdio.h>
#include <string.h>

static int find(const struct run_tags *t, const char *run_id)
{
	for (int i = 0; run_id && i < t->n; i++)
		if (strcmp(t->runs[i].run_id, run_id) == 0)
			return i;
	return -1;
}

void run_tags_open(struct run_tags *t, const char *run_id, const char *agent)
{
	if (!run_id || !agent || t->n >= RUN_TAGS_MAX || find(t, run_id) >= 0)
		return;
	/* The smallest number no run of the same agent under way has. */
	int n = 1;
	for (bool taken = true; taken; n += taken) {
		taken = false;
		char want[40];
		if (n == 1)
			snprintf(want, sizeof want, "%s", agent);
		else
			snprintf(want, sizeof want, "%s %d", agent, n);
		for (int i = 0; i < t->n; i++)
			taken = taken || strcmp(t->runs[i].tag, want) == 0;
		if (!taken) {
			snprintf(t->runs[t->n].tag, sizeof t->runs[t->n].tag, "%s", want);
			snprintf(t->runs[t->n].run_id, sizeof t->runs[t->n].run_id, "%s", run_id);
			t->runs[t->n].tagged = false;
			t->n++;
		}
	}
}

void run_tags_close(struct run_tags *t, const char *run_id)
{
	int i = find(t, run_id);
	if (i < 0)
		return;
	memmove(&t->runs[i], &t->runs[i + 1], (size_t)(t->n - i - 1) * sizeof t->runs[0]);
	t->n--;
}

void run_tags_started(struct run_tags *t, int up)
{
	t->started += up;
	if (t->started < 0)
		t->started = 0;
}

const char *run_tags_get(struct run_tags *t, const char *run_id)
{
	int i = find(t, run_id);
	if (i < 0)
		return NULL;
	t->runs[i].tagged = t->runs[i].tagged || t->n > 1 || t->started > 1;
	return t->runs[i].tagged ? t->runs[i].tag : NULL;
}
