#ifndef BLLM_MD_H
#define BLLM_MD_H
/*
 * Markdown to terminal text, through md4c (Debian libmd4c-dev). Pure: it
 * appends to a struct buf and does no I/O, so the live view, the TUI,
 * bllm-render and bllm-session show all print the same bytes, and unit
 * tests compare them byte for byte.
 *
 * What it renders: headings (bold; level 1 and 2 also underlined with a
 * rule when colour is off), **bold**, *italic*, `inline code`, ordered and
 * bulleted lists (nested, hanging indent), block quotes ("│ " gutter),
 * links as "text (url)" (just the url when the text is the url), thematic
 * breaks, tables with columns aligned and shrunk to fit the width (cells
 * wrapped, never cut), fenced and indented code blocks (indented two
 * columns, never wrapped, coloured by highlight.h for their info-string
 * language). Paragraphs wrap at word boundaries to the width, counting
 * display columns (UTF-8, wide CJK characters count 2); a word longer than
 * the width is broken at the width. Without colour the output has no
 * escape sequences at all and stays readable: markup characters are
 * dropped, structure is kept by indentation and the list markers.
 * Blocks are separated by one blank line; output ends with a newline.
 * Control characters in the text (ESC included) are shown as U+FFFD, so
 * model output can never drive the terminal.
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

struct md_opts {
	int width;	/* display columns to wrap at; <= 0 means 80 */
	bool color;	/* ANSI styles (SGR) when true; none at all when false */
};

/* Renders a whole Markdown document (UTF-8, len bytes) onto out. */
void md_render(const char *text, size_t len, const struct md_opts *o, struct buf *out);

/*
 * Streaming: text arrives in pieces (text_delta events, any split, even
 * inside a UTF-8 sequence). md_stream_feed appends to out the rendering of
 * every top-level block that is now complete and holds the open one, so
 * what is already on screen is never printed again. A block is complete
 * when a blank line follows it outside a fence, or when its closing fence
 * arrives; a list only when a line after the blank shows it has ended (an
 * indented line or another item would continue it). The concatenation of
 * everything fed then finished renders to the same bytes however the text
 * was split, and to the bytes of md_render of the whole text, except that
 * blocks keep the width that was current when each was emitted and that a
 * reference link is resolved only by a definition in its own block.
 */
struct md_stream;

struct md_stream *md_stream_new(const struct md_opts *o);
void md_stream_feed(struct md_stream *s, const char *text, size_t len, struct buf *out);
/* Changes the width for blocks not yet emitted (the terminal was resized). */
void md_stream_set_width(struct md_stream *s, int width);
/* Renders what is held (an unterminated fence as a code block) and starts over. */
void md_stream_finish(struct md_stream *s, struct buf *out);
/* Whether text is held that md_stream_finish would still print. */
bool md_stream_pending(const struct md_stream *s);
void md_stream_free(struct md_stream *s);

/* Display columns of the UTF-8 string s (len bytes): wide characters 2, combining 0. */
int md_display_width(const char *s, size_t len);

#endif
