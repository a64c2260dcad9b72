#ifndef BLLM_HIGHLIGHT_H
#define BLLM_HIGHLIGHT_H
/*
 * Syntax colouring of code blocks for the terminal: a small table-driven
 * highlighter (keywords, types, strings, numbers, comments, preprocessor
 * lines, diff +/-/@@ lines). Pure: appends to a buf, no I/O.
 *
 * Languages, by the fence's info string (case-insensitive, first word):
 * c, h, cpp, c++ → C; sh, bash, shell, console, zsh → shell; python, py →
 * Python; json → JSON; diff, patch → diff. Anything else, or color false,
 * appends the code unchanged. State carries across lines (a C block comment
 * or a """ string spanning lines), so a block is highlighted whole.
 * Every coloured span is closed on its own line (no escape sequence
 * crosses a newline), so a caller may prefix each line with an indent.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

/* Whether lang names a language highlight_code colours. */
bool highlight_known(const char *lang);
/* Appends code (len bytes) to out, coloured for lang when color is true. */
void highlight_code(const char *lang, const char *code, size_t len, bool color, struct buf *out);

#endif
