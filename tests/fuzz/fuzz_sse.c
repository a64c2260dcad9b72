/*
 * libFuzzer target: the SSE parser and the response assembler must take any
 * bytes, cut anywhere, without crashing, leaking or reading out of bounds,
 * and must give the same message however the bytes are cut.
 * Build and run: make fuzz (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "sse.h"

static int count_event(const struct sse_event *ev, void *user)
{
	(void)ev;
	(*(unsigned long *)user)++;
	return 0;
}

static jv assemble(const uint8_t *data, size_t size, size_t step)
{
	struct anth_assembler *a = anth_assembler_new(NULL, NULL);
	for (size_t i = 0; i < size; i += step)
		anth_assembler_feed(a, (const char *)data + i, size - i < step ? size - i : step);
	anth_assembler_finish(a);
	jv m = anth_assembler_message(a);
	anth_assembler_free(a);
	return m;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned long whole = 0, bytewise = 0;
	struct sse_parser *p = sse_parser_new(count_event, &whole);
	sse_feed(p, (const char *)data, size);
	sse_finish(p);
	sse_parser_free(p);
	p = sse_parser_new(count_event, &bytewise);
	for (size_t i = 0; i < size; i++)
		sse_feed(p, (const char *)data + i, 1);
	sse_finish(p);
	sse_parser_free(p);
	if (whole != bytewise)
		abort();

	jv a = assemble(data, size, size ? size : 1), b = assemble(data, size, 7);
	jv sa = jv_dump_string(a, 0), sb = jv_dump_string(b, 0);
	if (strcmp(jv_string_value(sa), jv_string_value(sb)) != 0)
		abort();
	jv_free(sa);
	jv_free(sb);
	return 0;
}
