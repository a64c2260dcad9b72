/*
 * libFuzzer target: the glob and brace matcher of Glob and Grep. The first
 * line is the pattern, each further line a path to match; nothing may
 * crash, leak, or take more than the matcher's own bounds.
 * The matcher's functions are static, so lib/tools.c is built into this
 * target (its symbols then come from here, not from libbllm.a).
 * Build and run: make fuzz.
 */
#include "../../lib/tools.c"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 2048)
		return 0;
	char *text = malloc(size + 1);
	memcpy(text, data, size);
	text[size] = '\0';
	char *nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	struct glob g = { NULL, 0 };
	glob_init(&g, text);
	(void)glob_has_dotdot(&g);
	for (char *line = nl ? nl + 1 : NULL; line && *line;) {
		char *next = strchr(line, '\n');
		if (next)
			*next = '\0';
		struct strv segs = { NULL, 0 };
		split_path(line, &segs);
		int m = glob_match(&g, segs.v, segs.n);
		int p = glob_prefix(&g, segs.v, segs.n);
		(void)m;
		(void)p;
		strv_free(&segs);
		line = next ? next + 1 : NULL;
	}
	glob_free(&g);
	free(text);
	return 0;
}
