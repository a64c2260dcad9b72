#ifndef BLLM_BUF_H
#define BLLM_BUF_H
/*
 * Growable byte buffers and checked allocation.
 *
 * Allocation failure is the one condition lib/ does not return to the
 * caller: like git's xmalloc, the x* functions abort with a message on
 * stderr, because no caller can do anything useful without memory.
 */
#include <stdarg.h>
#include <stddef.h>

void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* A newly allocated string formatted like printf. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* strerror(e) for a message's middle: malloc'd, first letter lowercased
 * ("No such file" -> "no such file", "EOF" stays). */
char *xstrerror(int e);

/* data is NUL-terminated whenever it is non-NULL; len excludes the NUL. */
struct buf {
	char *data;
	size_t len;
	size_t cap;
};
#define BUF_INIT { NULL, 0, 0 }

void buf_append(struct buf *b, const void *p, size_t n);
void buf_appends(struct buf *b, const char *s);
void buf_appendc(struct buf *b, char c);
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(struct buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Removes the first n bytes, keeping the rest. */
void buf_consume(struct buf *b, size_t n);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Always a valid C string, "" for an empty buffer. */
const char *buf_str(const struct buf *b);
/* Hands the string to the caller (free() it) and empties the buffer. */
char *buf_detach(struct buf *b);
void buf_free(struct buf *b);

#endif
