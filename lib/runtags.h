#ifndef BLLM_RUNTAGS_H
#define BLLM_RUNTAGS_H
/*
 * Tags for the lines of worker runs that are under way at the same time
 * (parallel workers of one manager turn), so a person can tell whose line
 * is whose in the live view: "coder", and "coder 2" for a second coder
 * running beside the first. Pure: the renderer opens a run at its init
 * event and closes it at its result.
 */
#include <stdbool.h>

#define RUN_TAGS_MAX 16

struct run_tags {
	struct {
		char run_id[40];
		char tag[40];
		bool tagged;	/* its lines were tagged: they stay so */
	} runs[RUN_TAGS_MAX];
	int n;			/* runs under way */
	int started;		/* workers started and not yet ended (worker_start, worker_end) */
};

/* Notes a run of agent under way (ignored past RUN_TAGS_MAX or when already open). */
void run_tags_open(struct run_tags *t, const char *run_id, const char *agent);
/* The run ended. */
void run_tags_close(struct run_tags *t, const char *run_id);
/* A worker was started (up 1) or ended (-1): a run's events may come after those of the next start. */
void run_tags_started(struct run_tags *t, int up);
/*
 * The tag of run_id while more than one run is under way or started, else
 * NULL (one run at a time needs no tag). A run tagged once keeps its tag
 * to its end, so all its lines read alike even after the others ended. A
 * run's number is fixed when it opens: the first of its agent among those
 * under way has none.
 */
const char *run_tags_get(struct run_tags *t, const char *run_id);

#endif
