#ifndef BLLM_CONTROL_H
#define BLLM_CONTROL_H
/*
 * Control words: the words the workflow's prompts ask agents to write for
 * the program, not for people. The manager ends with TERMINATE; the
 * reviewer writes a `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED`
 * line. The program reads them from the raw text (the reviewer's verdict
 * becomes result.verdict); people never see them: not in the live view,
 * bllm-render, the TUI, nor a result's text. Pure: no I/O.
 *
 * What counts as a control word: a line that is, apart from blanks and
 * Markdown emphasis (* _ `), TERMINATE or starts with "VERDICT:"
 * (case-insensitive); and TERMINATE as the last word of a line
 * ("All done. TERMINATE"), which is cut with the blanks before it.
 */
#include <stdbool.h>
#include <stddef.h>

/* True when the line (len bytes, no newline) is a control line, dropped whole. */
bool control_line(const char *line, size_t len);
/*
 * The length the line (len bytes, no newline) keeps once a trailing
 * TERMINATE word is cut (len when there is none).
 */
size_t control_line_keep(const char *line, size_t len);
/*
 * text without its control words (malloc'd): control lines removed (with
 * the blank lines after one that had a blank line before it, so paragraphs
 * stay one blank line apart), a trailing TERMINATE cut, blank lines left at
 * the start and the end removed.
 */
char *control_strip(const char *text);

#endif
