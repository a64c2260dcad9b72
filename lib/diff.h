#ifndef BLLM_DIFF_H
#define BLLM_DIFF_H
/*
 * Line diffs for showing what a Write or Edit changed. Pure: no I/O.
 *
 * diff_unified computes a minimal line diff (Myers) of a and b and appends
 * it as unified-diff hunks ("@@ -l,n +l,n @@", then lines starting with
 * ' ', '-' or '+'), with `context` lines around each change; no "---" or
 * "+++" file header (callers know the path). A missing final newline is
 * marked with "\ No newline at end of file" as diff(1) does. Identical
 * inputs give no hunks. Inputs larger than DIFF_MAX_LINES lines on either
 * side are not diffed: it returns -1 and appends nothing (callers then say
 * "N lines written" instead).
 *
 * diff_render turns unified hunks into the terminal view: a header line
 * "path +A -R", then the hunk lines, '+' green and '-' red when color is
 * true; when there are more than max_lines hunk lines (max_lines > 0), it
 * shows the first max_lines and then "… N more lines (-v shows all)".
 */
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define DIFF_MAX_LINES 20000

struct diff_stat {
	long added;
	long removed;
};

/* Returns 0 (stat filled) or -1 (too large: nothing appended). */
int diff_unified(const char *a, size_t alen, const char *b, size_t blen, int context,
		 struct buf *out, struct diff_stat *stat);
/* Counts the '+' and '-' lines of unified hunks. */
void diff_count(const char *udiff, struct diff_stat *stat);
void diff_render(const char *path, const char *udiff, bool color, int max_lines,
		 struct buf *out);

#endif
