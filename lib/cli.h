#ifndef BLLM_CLI_H
#define BLLM_CLI_H
/*
 * What every bllm program's main() shares: its name, one-line diagnostics
 * on stderr, number parsing for flags, signal set-up, and the worker
 * program body (bllm-plan, bllm-code, ... are one call to worker_main).
 * This is the one part of lib/ that writes to stderr, on behalf of mains.
 */
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>

/* The program's name for messages: the base name of argv[0]. */
const char *cli_progname(const char *argv0);

/* "prog: message" on stderr. */
void cli_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* "prog: message" and "Try 'prog --help'." on stderr; returns 2 (the usage exit code). */
int cli_usage_error(const char *prog, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The largest --max-turns any program takes (the manager passes what remains on). */
#define CLI_MAX_TURNS 1000000

/* Parses a whole decimal number in [min, max]. Returns 0 or -1. */
int cli_parse_long(const char *s, long min, long max, long *out);
int cli_parse_double(const char *s, double min, double max, double *out);

/*
 * SIGINT, SIGTERM and SIGHUP increment *count (so a second signal can be told from
 * the first); SIGPIPE is ignored so a closed reader shows up as EPIPE.
 * Handlers are installed without SA_RESTART so blocking calls return EINTR.
 */
void cli_install_signals(volatile sig_atomic_t *count);

struct config;
struct event_ctx;
struct cache;

/*
 * Starts logs and metrics (lib/observe.h) for this process; cfg may be
 * NULL. A problem is a warning on stderr, never a failure. ev (or NULL)
 * gives the run's identity.
 */
void cli_start_observing(const struct config *cfg, struct event_ctx *ev, const char *prog);

/*
 * Opens the response cache with the config's TTL and size, or returns NULL
 * with a warning (stderr, and a log event on ev when not NULL).
 */
struct cache *cli_open_cache(const struct config *cfg, struct event_ctx *ev, const char *prog);

/* NAME in the state directory (created when missing), or NULL (malloc'd). */
char *cli_state_path(const char *name);

/*
 * The terminal's side of an intervention (manager_opts.ask): prompt on
 * stderr, wait up to timeout_s for a line on stdin, counting down; a
 * signal (Ctrl-C) answers "/stop" at once (lib/ask.h).
 */
bool cli_ask(const char *prompt, double timeout_s, char *answer, size_t size);

/*
 * Keeps the API credentials in this process's environment from other
 * processes (the commands agents run): not dumpable, and the credentials
 * moved out of the block /proc/PID/environ shows. Call before anything
 * else reads the environment.
 */
void cli_protect_secrets(void);

/* The path of another bllm program installed beside this one (malloc'd). */
char *cli_sibling_program(const char *name);

/*
 * The whole program of a worker agent (lib/worker.c). agent is the agent's name, or NULL
 * for bllm-agent, which takes it from the first operand. Returns the exit
 * code (DESIGN.md's table).
 */
int worker_main(int argc, char **argv, const char *agent);

#endif
