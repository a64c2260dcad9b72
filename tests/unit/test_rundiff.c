/* A run's whole diff from its journal (lib/rundiff.h). */
#include "rundiff.h"
#include "unit.h"

static const char *journal =
	"[{\"type\":\"init\",\"agent\":\"coder\"},"
	"{\"type\":\"tool_result\",\"name\":\"Edit\",\"files_changed\":[\"src/a.c\"],"
	"\"diff\":\"@@ -1 +1 @@\\n-old\\n+new\\n\"},"
	"{\"type\":\"tool_result\",\"name\":\"Bash\",\"files_changed\":[\"out.txt\",\"src/a.c\"]},"
	"{\"type\":\"tool_result\",\"name\":\"Write\",\"files_changed\":[\"b.txt\"],"
	"\"diff\":\"@@ -0,0 +1 @@\\n+b\\n\"},"
	"{\"type\":\"tool_result\",\"name\":\"Bash\",\"files_changed\":[\"out.txt\"]},"
	"{\"type\":\"tool_result\",\"name\":\"Read\",\"files_changed\":[]},"
	"{\"type\":\"result\",\"files_changed\":[\"src/a.c\",\"b.txt\"]}]";

static void plain(void)
{
	jv events = jv_parse(journal);
	struct buf b = BUF_INIT;
	CHECK(rundiff_format(events, false, &b) == 4);
	CHECK_STR(buf_str(&b),
		  "--- a/src/a.c\n+++ b/src/a.c\n@@ -1 +1 @@\n-old\n+new\n"
		  "--- a/b.txt\n+++ b/b.txt\n@@ -0,0 +1 @@\n+b\n"
		  "# changed by a command (no diff recorded): out.txt\n"
		  "# changed by a command (no diff recorded): src/a.c\n");
	buf_free(&b);
	jv_free(events);
}

static void coloured(void)
{
	jv events = jv_parse(journal);
	struct buf b = BUF_INIT;
	rundiff_format(events, true, &b);
	CHECK(strstr(buf_str(&b), "\033[31m-old\033[0m\n\033[32m+new\033[0m\n") != NULL);
	CHECK(strstr(buf_str(&b), "\033[1m--- a/src/a.c\n+++ b/src/a.c\033[0m\n") != NULL);
	buf_free(&b);
	jv_free(events);
}

static void nothing_changed(void)
{
	jv events = jv_parse("[{\"type\":\"init\"},{\"type\":\"result\"}]");
	struct buf b = BUF_INIT;
	CHECK(rundiff_format(events, false, &b) == 0);
	CHECK_STR(buf_str(&b), "");
	buf_free(&b);
	jv_free(events);
}

int main(void)
{
	UNIT_RUN(plain);
	UNIT_RUN(coloured);
	UNIT_RUN(nothing_changed);
	return unit_done();
}
