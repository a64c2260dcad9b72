/* Tags of runs under way at the same time (lib/runtags.c). */
#include "runtags.h"
#include "unit.h"

static void one_run_needs_no_tag(void)
{
	struct run_tags t = { 0 };
	run_tags_open(&t, "run_a", "planner");
	CHECK(run_tags_get(&t, "run_a") == NULL);
	run_tags_close(&t, "run_a");
	CHECK(t.n == 0);
}

static void runs_side_by_side_are_tagged(void)
{
	struct run_tags t = { 0 };
	run_tags_open(&t, "run_a", "coder");
	run_tags_open(&t, "run_b", "coder");
	run_tags_open(&t, "run_c", "reviewer");
	run_tags_open(&t, "run_b", "coder");	/* already open: unchanged */
	CHECK(t.n == 3);
	CHECK_STR(run_tags_get(&t, "run_a"), "coder");
	CHECK_STR(run_tags_get(&t, "run_b"), "coder 2");
	CHECK_STR(run_tags_get(&t, "run_c"), "reviewer");
	CHECK(run_tags_get(&t, "run_x") == NULL);
	/* a number freed is taken again; the others keep theirs */
	run_tags_close(&t, "run_a");
	CHECK_STR(run_tags_get(&t, "run_b"), "coder 2");
	run_tags_open(&t, "run_d", "coder");
	CHECK_STR(run_tags_get(&t, "run_d"), "coder");
	/* the last one left alone keeps the tag its lines had */
	run_tags_close(&t, "run_c");
	run_tags_close(&t, "run_d");
	CHECK_STR(run_tags_get(&t, "run_b"), "coder 2");
	run_tags_close(&t, "run_b");
	run_tags_close(&t, "run_b");
	CHECK(t.n == 0);
}

static void workers_started_count_before_their_first_event(void)
{
	struct run_tags t = { 0 };
	run_tags_started(&t, 1);
	run_tags_started(&t, 1);
	/* the first worker's header comes before the second's: tagged already */
	run_tags_open(&t, "run_a", "coder");
	CHECK_STR(run_tags_get(&t, "run_a"), "coder");
	run_tags_started(&t, -1);
	run_tags_started(&t, -1);
	run_tags_started(&t, -1);
	CHECK(t.started == 0);
	CHECK_STR(run_tags_get(&t, "run_a"), "coder");
	/* a run alone from start to end is never tagged */
	run_tags_close(&t, "run_a");
	run_tags_started(&t, 1);
	run_tags_open(&t, "run_e", "coder");
	CHECK(run_tags_get(&t, "run_e") == NULL);
	run_tags_started(&t, -1);
	run_tags_close(&t, "run_e");
	CHECK(t.n == 0);
}

static void full_and_bad_input(void)
{
	struct run_tags t = { 0 };
	char id[16];
	for (int i = 0; i < RUN_TAGS_MAX + 2; i++) {
		snprintf(id, sizeof id, "run_%d", i);
		run_tags_open(&t, id, "coder");
	}
	CHECK(t.n == RUN_TAGS_MAX);
	CHECK_STR(run_tags_get(&t, "run_1"), "coder 2");
	run_tags_open(&t, NULL, "coder");
	run_tags_open(&t, "run_z", NULL);
	CHECK(t.n == RUN_TAGS_MAX);
	CHECK(run_tags_get(&t, NULL) == NULL);
}

int main(void)
{
	UNIT_RUN(one_run_needs_no_tag);
	UNIT_RUN(runs_side_by_side_are_tagged);
	UNIT_RUN(workers_started_count_before_their_first_event);
	UNIT_RUN(full_and_bad_input);
	return unit_done();
}
