#ifndef BLLM_SCRUB_H
#define BLLM_SCRUB_H
/*
 * Scrubbing the credentials in use out of strings that came from the
 * server (an API error that echoes the key, a gateway's message), before
 * they are written anywhere: events, sessions, logs, metrics, stderr.
 *
 * jv ownership: scrub_jv consumes its argument and returns a new value.
 */
#include <stddef.h>
#include <jv.h>

/* What every credential becomes. */
#define SCRUB_MARK "[REDACTED]"

/*
 * s with every occurrence of each secret (those shorter than 8 bytes are
 * ignored: they would match ordinary text) replaced by SCRUB_MARK.
 * Pure; returns a new malloc'd string.
 */
char *scrub_with(const char *s, const char *const *secrets, size_t n);

/* scrub_with the credentials in this process's environment
 * (ANTHROPIC_API_KEY, CLAUDE_CODE_OAUTH_TOKEN, ANTHROPIC_AUTH_TOKEN); frees s. */
char *scrub_secrets(char *s);

/* v with every string in it scrubbed the same way (consumed; a new value). */
jv scrub_jv(jv v);

#endif
