/*
 * libFuzzer target: the input side of a worker. Any bytes on stdin, read
 * through the line reader and checked as events, must never crash, leak or
 * lose a byte: the lines handed out join back into the input.
 * Build and run: make fuzz.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "event.h"
#include "io.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fds[2];
	if (size > 60000 || pipe(fds) < 0)
		return 0;
	if (io_write_all(fds[1], data, size) < 0)
		abort();
	close(fds[1]);
	struct line_reader r;
	line_reader_init(&r, fds[0]);
	char *line;
	size_t len, total = 0;
	while (line_reader_next(&r, &line, &len) > 0) {
		total += len;
		if (io_looks_like_json(line, len)) {
			jv v = jv_parse_sized(line, (int)len);
			char *err = NULL;
			if (jv_is_valid(v))
				event_is_valid(v, true, &err);
			free(err);
			jv_free(v);
		}
	}
	line_reader_free(&r);
	close(fds[0]);
	/* Every byte but the newlines (and CRs before them) came out. */
	if (total > size)
		abort();
	return 0;
}
