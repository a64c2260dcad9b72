/*
 * libFuzzer target: the reply assembler, fed well-formed SSE framing around
 * fuzzed event payloads (one per input line), so the fuzzer explores the
 * JSON side: content blocks, partial tool input, usage, errors. The
 * message it gives must be an object or null, and usage never negative.
 * Build and run: make fuzz.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic.h"
#include "buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 65536)
		return 0;
	struct anth_assembler *a = anth_assembler_new(NULL, NULL);
	struct buf b = BUF_INIT;
	const char *p = (const char *)data, *end = p + size;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		b.len = 0;
		buf_appends(&b, "event: e\ndata: ");
		buf_append(&b, p, n);
		buf_appends(&b, "\n\n");
		anth_assembler_feed(a, b.data, b.len);
		p += n + 1;
	}
	anth_assembler_finish(a);
	(void)anth_assembler_complete(a);
	(void)anth_assembler_error(a);
	(void)anth_assembler_error_type(a);
	jv m = anth_assembler_message(a);
	jv_kind k = jv_get_kind(m);
	if (k != JV_KIND_OBJECT && k != JV_KIND_NULL && k != JV_KIND_INVALID)
		abort();
	jv_free(m);
	anth_assembler_free(a);
	buf_free(&b);
	return 0;
}
