#ifndef BLLM_TERM_H
#define BLLM_TERM_H
/*
 * Terminal decisions, made once: colour (a terminal, not NO_COLOR, not
 * TERM=dumb, or --color=always) and ANSI styles.
 */
#include <stdbool.h>

enum color_mode { COLOR_AUTO, COLOR_ALWAYS, COLOR_NEVER };

/* Parses "auto", "always" or "never". Returns -1 for anything else. */
int term_parse_color_mode(const char *s, enum color_mode *out);
/* Whether to colour output written to fd. */
bool term_use_color(int fd, enum color_mode mode);

#endif
