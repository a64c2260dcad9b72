/*
 * bench-latency: the end of a pipeline whose text_delta events carry send
 * times (fake-anthropic's @@NOW_US@@, tests/scenarios/README.md).
 *
 * Reads event lines on stdin as they arrive. For each text_delta event
 * whose text is a decimal number (a CLOCK_REALTIME time in microseconds,
 * written by the server just before it sent that delta), the latency is the
 * time the line was read here minus that number. Every other line is
 * ignored. At end of input it prints one JSON line on stdout and nothing
 * else:
 *
 *   {"n", "min_us", "p50_us", "p95_us", "max_us"}
 *
 * (nearest-rank percentiles; null when n is 0). Exit status 0, or 1 when
 * stdin could not be read, 2 for bad arguments.
 */
#include <jv.h>

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

#define PROG "bench-latency"

struct samples {
	long long *v;
	size_t n, cap;
};

static long long now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (long long)ts.tv_sec * 1000000LL + ts.tv_nsec / 1000;
}

/* The text of a text_delta event when it is all decimal digits, else -1. */
static long long stamp_of(const char *line, size_t len)
{
	/* Cheap filter first: most lines of a pipeline are other events. */
	static const char needle[] = "\"text_delta\"";
	if (len < sizeof needle || !strstr(line, needle))
		return -1;
	jv v = jv_parse_sized(line, (int)len);
	long long t = -1;
	if (jv_get_kind(v) == JV_KIND_OBJECT) {
		jv type = jv_object_get(jv_copy(v), jv_string("type"));
		jv text = jv_object_get(jv_copy(v), jv_string("text"));
		if (jv_get_kind(type) == JV_KIND_STRING &&
		    strcmp(jv_string_value(type), "text_delta") == 0 &&
		    jv_get_kind(text) == JV_KIND_STRING) {
			const char *s = jv_string_value(text);
			size_t n = strlen(s);
			if (n > 0 && n <= 18 && strspn(s, "0123456789") == n)
				t = strtoll(s, NULL, 10);
		}
		jv_free(type);
		jv_free(text);
	}
	jv_free(v);
	return t;
}

static void add(struct samples *s, long long x)
{
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 256;
		s->v = xrealloc(s->v, s->cap * sizeof *s->v);
	}
	s->v[s->n++] = x;
}

static int cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;
	return (x > y) - (x < y);
}

/* Nearest rank: the smallest value with at least p percent at or below it. */
static jv pct(const struct samples *s, double p)
{
	if (s->n == 0)
		return jv_null();
	size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);
	if (rank < 1)
		rank = 1;
	return jv_number((double)s->v[rank - 1]);
}

int main(int argc, char **argv)
{
	if (argc > 1) {
		if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
			printf("Usage: %s < EVENTS\n"
			       "Prints {\"n\",\"min_us\",\"p50_us\",\"p95_us\",\"max_us\"}: how long after"
			       " its send time\n(the decimal text of a text_delta event) each such event"
			       " arrived on stdin.\n", PROG);
			return 0;
		}
		fprintf(stderr, "%s: unexpected argument '%s'\nTry '%s --help'.\n", PROG, argv[1],
			PROG);
		return 2;
	}
	struct samples s = { NULL, 0, 0 };
	struct buf in = BUF_INIT;
	size_t start = 0;
	char chunk[65536];
	int status = 0;
	for (;;) {
		ssize_t r = read(0, chunk, sizeof chunk);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			fprintf(stderr, "%s: stdin: %s\n", PROG, strerror(errno));
			status = 1;
			break;
		}
		long long arrived = now_us();
		if (r == 0) {
			/* A last line without a newline still counts. */
			if (in.len > start) {
				long long t = stamp_of(in.data + start, in.len - start);
				if (t >= 0)
					add(&s, arrived - t);
			}
			break;
		}
		buf_append(&in, chunk, (size_t)r);
		for (;;) {
			char *base = in.data + start;
			char *nl = memchr(base, '\n', in.len - start);
			if (!nl)
				break;
			*nl = '\0';
			long long t = stamp_of(base, (size_t)(nl - base));
			if (t >= 0)
				add(&s, arrived - t);
			start += (size_t)(nl - base) + 1;
		}
		buf_consume(&in, start);
		start = 0;
	}
	buf_free(&in);

	if (s.n > 0)
		qsort(s.v, s.n, sizeof *s.v, cmp_ll);
	jv o = jv_object();
	o = jv_object_set(o, jv_string("n"), jv_number((double)s.n));
	o = jv_object_set(o, jv_string("min_us"), pct(&s, 0));
	o = jv_object_set(o, jv_string("p50_us"), pct(&s, 50));
	o = jv_object_set(o, jv_string("p95_us"), pct(&s, 95));
	o = jv_object_set(o, jv_string("max_us"), pct(&s, 100));
	jv d = jv_dump_string(o, 0);
	printf("%s\n", jv_string_value(d));
	jv_free(d);
	free(s.v);
	if (fflush(stdout) != 0)
		status = 1;
	return status;
}
