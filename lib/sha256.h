#ifndef BLLM_SHA256_H
#define BLLM_SHA256_H
/*
 * SHA-256 (FIPS 180-4), incremental, and sha256_hex() in one call.
 */
#include <stddef.h>
#include <stdint.h>

struct sha256 {
	uint32_t h[8];
	uint64_t bytes;		/* message length so far */
	unsigned char block[64];
	size_t used;		/* bytes waiting in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* Writes the 32-byte digest; s must be re-initialised before reuse. */
void sha256_final(struct sha256 *s, unsigned char digest[32]);

/* SHA-256 of data as 64 lowercase hex digits into out (65 bytes). */
void sha256_hex(const void *data, size_t len, char out[65]);

#endif
