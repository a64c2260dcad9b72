/*
 * libFuzzer target: the Markdown renderer must take any bytes without
 * crashing, leaking or reading out of bounds, and the stream must print
 * the same bytes however its input is cut (whole, byte by byte, or in
 * pieces of sizes drawn from the input). The first two bytes choose the
 * width and the colour. Also runs the code highlighter over the same bytes.
 * Build and run: make fuzz (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "highlight.h"
#include "md.h"

/* Feeds text to a new stream in pieces: step 0 draws sizes from a generator seeded by seed. */
static char *stream(const char *text, size_t len, const struct md_opts *o, size_t step, uint32_t seed)
{
	struct buf out = BUF_INIT;
	struct md_stream *s = md_stream_new(o);
	for (size_t i = 0; i < len;) {
		size_t n = step;
		if (n == 0) {
			seed = seed * 1103515245u + 12345u;
			n = 1 + (seed >> 16) % 17;
		}
		if (n > len - i)
			n = len - i;
		md_stream_feed(s, text + i, n, &out);
		i += n;
	}
	md_stream_finish(s, &out);
	md_stream_free(s);
	return buf_detach(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 2)
		return 0;
	struct md_opts o = { 1 + data[0] % 120, data[1] & 1 };
	const char *text = (const char *)data + 2;
	size_t len = size - 2;

	struct buf whole = BUF_INIT;
	md_render(text, len, &o, &whole);
	if (!o.color && memchr(buf_str(&whole), '\033', whole.len))
		abort();
	buf_free(&whole);

	char *a = stream(text, len, &o, len ? len : 1, 0);
	char *b = stream(text, len, &o, 1, 0);
	char *c = stream(text, len, &o, 0, (uint32_t)size * 2654435761u);
	if (strcmp(a, b) != 0 || strcmp(a, c) != 0)
		abort();
	free(a);
	free(b);
	free(c);

	static const char *const langs[] = { "c", "sh", "python", "json", "diff" };
	struct buf hl = BUF_INIT;
	highlight_code(langs[data[1] % 5], text, len, true, &hl);
	buf_free(&hl);
	return 0;
}
