/* Statuses and exit codes: lib/status.c, and docs/protocol.md's table checked against it. */
#include "status.h"
#include "unit.h"

static void test_names_round_trip(void)
{
	for (int i = 0; i < ST_COUNT; i++) {
		enum run_status s;
		CHECK(status_parse(status_name((enum run_status)i), &s));
		CHECK(s == (enum run_status)i);
	}
	enum run_status s = ST_COMPLETED;
	CHECK(!status_parse("done", &s));
	CHECK(s == ST_ERROR);
	CHECK(!status_parse(NULL, &s));
	CHECK_STR(status_name(ST_COUNT), "error");
	CHECK(status_is("completed", ST_COMPLETED));
	CHECK(!status_is("completed", ST_FAILED));
	CHECK(!status_is("complete", ST_COMPLETED));
	CHECK(!status_is(NULL, ST_COMPLETED));
}

static void test_default_codes(void)
{
	CHECK(status_exit_code(ST_COMPLETED) == 0);
	CHECK(status_exit_code(ST_FAILED) == 1);
	CHECK(status_exit_code(ST_SKIPPED) == 3);
	CHECK(status_exit_code(ST_LIMIT) == 6);
	CHECK(status_exit_code(ST_TIMEOUT) == 124);
	CHECK(status_exit_code(ST_INTERRUPTED) == 130);
}

/* Every "| code | meaning |" row of docs/protocol.md's exit-code table is in the enum's table, and back. */
static void test_protocol_doc_matches(void)
{
	FILE *f = fopen("../../docs/protocol.md", "r");
	CHECK(f != NULL);
	if (!f)
		return;
	char line[512];
	bool in_table = false;
	int rows = 0;
	while (fgets(line, sizeof line, f)) {
		if (strncmp(line, "## Exit codes", 13) == 0)
			in_table = true;
		else if (strncmp(line, "## ", 3) == 0)
			in_table = false;
		int code;
		char meaning[400];
		if (!in_table || sscanf(line, "| %d | %399[^|]|", &code, meaning) != 2)
			continue;
		size_t n = strlen(meaning);
		while (n && meaning[n - 1] == ' ')
			meaning[--n] = '\0';
		const struct exit_code_row *r = status_exit_table;
		while (r->meaning && r->code != code)
			r++;
		if (!r->meaning || strcmp(r->meaning, meaning) != 0)
			printf("# docs/protocol.md: exit code %d \"%s\" is not lib/status.c's \"%s\"\n", code,
			       meaning, r->meaning ? r->meaning : "(missing)");
		CHECK(r->meaning && strcmp(r->meaning, meaning) == 0);
		rows++;
	}
	fclose(f);
	int n = 0;
	while (status_exit_table[n].meaning)
		n++;
	CHECK(rows == n);
}

int main(void)
{
	UNIT_RUN(test_names_round_trip);
	UNIT_RUN(test_default_codes);
	UNIT_RUN(test_protocol_doc_matches);
	return unit_done();
}
