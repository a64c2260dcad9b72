#ifndef BLLM_ASK_H
#define BLLM_ASK_H
/*
 * A question to the person at the terminal with a time limit: the
 * intervention pause after each worker, and the limit questions
 * (manager_opts.ask, through cli_ask).
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/*
 * Shows prompt on stderr and waits up to timeout_s for a line on stdin
 * (read a key at a time, echoed by this function, Backspace and Ctrl-U
 * edit it). While nothing is typed, the number in the prompt's
 * "(continuing in Ns)" counts down in place, once a second; typing stops
 * the countdown (the person then has as long as they need). Returns true
 * with the line in answer (no newline); false when the time ran out or
 * the input ended. A signal counted in *signals (Ctrl-C) answers "/stop"
 * at once. signals may be NULL.
 */
bool ask_countdown(const char *prompt, double timeout_s, char *answer, size_t size,
		   volatile sig_atomic_t *signals);

#endif
