#ifndef BLLM_CACHE_H
#define BLLM_CACHE_H
/*
 * The response cache: an identical request is answered from disk instead
 * of the API. Shared by every process (a directory under the state
 * directory), safe under concurrent use, LRU with a TTL.
 *
 * Key: SHA-256 (hex) of the normalised request body: the JSON with object
 * keys sorted and the fields that do not change the answer removed
 * ("stream", "metadata", and every "cache_control").
 * Entry: DIR/KEY.json holding {"created": unix seconds (with a fraction),
 * "message": the assembled reply}; written atomically (temporary file, rename), so a
 * reader sees a whole entry or none. A hit refreshes the entry's mtime
 * (the LRU clock). An entry older than ttl_s is a miss (and removed).
 * When more than max_entries are stored, the least recently used are
 * removed, under an flock of DIR/.lock. Only complete, successful replies
 * are stored: the caller never passes a failed or cut response.
 *
 * jv ownership: cache_key and cache_put borrow; cache_get returns a new
 * reference on a hit.
 */
#include <stdbool.h>
#include <jv.h>

struct cache;

/*
 * The default cache directory: $BLLM_STATE_DIR/cache, else
 * $XDG_STATE_HOME/bllm/cache (when absolute), else
 * $HOME/.local/state/bllm/cache (malloc'd); NULL when no home is known.
 */
char *cache_default_dir(void);

/*
 * Opens (creating, mode 0700, with any missing parents) the cache. NULL
 * with *err naming the directory. ttl_s <= 0: entries never expire;
 * max_entries <= 0: no limit.
 */
struct cache *cache_open(const char *dir, double ttl_s, int max_entries, char **err);
void cache_close(struct cache *c);

/*
 * The key for a request (64 hex digits, malloc'd). cache_get and
 * cache_put also accept any other key made of [A-Za-z0-9._-] (not
 * starting with '.', at most 128 bytes); another key is a miss, or -1
 * with errno EINVAL for cache_put.
 */
char *cache_key(jv request);

/* 1 and *message on a hit, 0 on a miss (or an unreadable entry). */
int cache_get(struct cache *c, const char *key, jv *message);
/* Stores message under key, then evicts beyond max_entries. Returns the
 * number of entries evicted, or -1 on a write error. */
int cache_put(struct cache *c, const char *key, jv message);
/* Number of entries stored now; -1 if the directory cannot be read. */
int cache_size(struct cache *c);

#endif
