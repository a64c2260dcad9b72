#ifndef BLLM_RUNDIFF_H
#define BLLM_RUNDIFF_H
/*
 * The whole diff of a run (bllm-session show ID --diff), from its journal:
 * every Write and Edit tool_result that carries a diff, in the order they
 * happened, as a unified diff with "--- a/PATH" and "+++ b/PATH" headers
 * (so `patch -p1` can apply it to the tree as it was), '+' lines green and
 * '-' red with color. Files that commands (Bash) changed have no diff;
 * they are named after it on lines starting with "# ", which patch
 * ignores. A diff that was cut at the protocol's cap keeps its note.
 * Pure: no I/O.
 *
 * jv ownership: events is borrowed (an array of events).
 */
#include <stdbool.h>
#include <jv.h>

#include "buf.h"

/* Appends the run's diff to out; returns the number of file changes it holds. */
int rundiff_format(jv events, bool color, struct buf *out);

#endif
