#include "term.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int term_parse_color_mode(const char *s, enum color_mode *out)
{
	if (strcmp(s, "auto") == 0)
		*out = COLOR_AUTO;
	else if (strcmp(s, "always") == 0)
		*out = COLOR_ALWAYS;
	else if (strcmp(s, "never") == 0)
		*out = COLOR_NEVER;
	else
		return -1;
	return 0;
}

bool term_use_color(int fd, enum color_mode mode)
{
	if (mode != COLOR_AUTO)
		return mode == COLOR_ALWAYS;
	const char *no = getenv("NO_COLOR");
	const char *term = getenv("TERM");
	if (no && *no)
		return false;
	if (!term || strcmp(term, "dumb") == 0)
		return false;
	return isatty(fd) == 1;
}
