#ifndef BLLM_UNIT_H
#define BLLM_UNIT_H
/*
 * A minimal unit-test harness that speaks TAP, so tests/run counts C unit
 * tests with the bats suites.  Each UNIT_RUN(fn) is one TAP test; CHECK()
 * records a failure with file:line and carries on within the test.
 */
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int unit_n, unit_failed_total, unit_failed_now;

#define CHECK(cond) do { \
	if (!(cond)) { \
		fprintf(stdout, "# %s:%d: CHECK(%s) failed\n", __FILE__, __LINE__, #cond); \
		unit_failed_now = 1; \
	} \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *unit_a_ = (a), *unit_b_ = (b); \
	if (!unit_a_ || !unit_b_ || strcmp(unit_a_, unit_b_) != 0) { \
		fprintf(stdout, "# %s:%d: \"%s\" != \"%s\"\n", __FILE__, __LINE__, \
			unit_a_ ? unit_a_ : "(null)", unit_b_ ? unit_b_ : "(null)"); \
		unit_failed_now = 1; \
	} \
} while (0)

#define UNIT_RUN(fn) do { \
	unit_failed_now = 0; \
	fn(); \
	unit_n++; \
	fprintf(stdout, "%sok %d - %s\n", unit_failed_now ? "not " : "", unit_n, #fn); \
	unit_failed_total += unit_failed_now; \
	fflush(stdout); \
} while (0)

/* rm -rf path: the tests' temporary trees (symlinks are removed, not followed). */
static inline void unit_rm_rf(const char *path)
{
	struct stat st;
	if (lstat(path, &st) < 0)
		return;
	if (!S_ISDIR(st.st_mode)) {
		unlink(path);
		return;
	}
	DIR *d = opendir(path);
	struct dirent *de;
	while (d && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		size_t n = strlen(path) + strlen(de->d_name) + 2;
		char *sub = malloc(n);
		if (!sub)
			break;
		snprintf(sub, n, "%s/%s", path, de->d_name);
		unit_rm_rf(sub);
		free(sub);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

/*
 * The recorded Anthropic streams: $BLLM_FIXTURES, else tests/fixtures/
 * anthropic-sse seen from tests/unit (where tests/run starts the tests).
 * NULL, with a note in the TAP output, when neither holds them.
 */
static inline const char *unit_fixture_dir(void)
{
	const char *dirs[2] = { getenv("BLLM_FIXTURES"), "../fixtures/anthropic-sse" };
	for (int i = 0; i < 2; i++) {
		if (!dirs[i])
			continue;
		char f[PATH_MAX];
		snprintf(f, sizeof f, "%s/basic_response.sse", dirs[i]);
		if (access(f, R_OK) == 0)
			return dirs[i];
	}
	printf("# fixtures not found: set BLLM_FIXTURES to the anthropic-sse directory "
	       "(tried %s and %s from tests/unit)\n", dirs[0] ? dirs[0] : "$BLLM_FIXTURES (unset)",
	       dirs[1]);
	return NULL;
}

/* Prints the TAP plan; returns the exit status for main. */
static inline int unit_done(void)
{
	fprintf(stdout, "1..%d\n", unit_n);
	return unit_failed_total ? 1 : 0;
}

#endif
