#ifndef BLLM_IO_H
#define BLLM_IO_H
/*
 * Line-oriented I/O for JSON-lines filters: a reader that hands out whole
 * lines with their numbers as they arrive (never waiting for EOF), and
 * writers that write whole lines and report a vanished reader (EPIPE)
 * quietly.
 */
#include <stdbool.h>
#include <signal.h>
#include <stddef.h>
#include <sys/types.h>
#include <jv.h>
#include "buf.h"

struct line_reader {
	int fd;
	struct buf buf;
	size_t start;		/* where the next line begins in buf */
	bool eof;
	unsigned long lineno;	/* number of the line last returned, from 1 */
	volatile sig_atomic_t *cancel;	/* optional: a read interrupted while *cancel is set fails */
};

void line_reader_init(struct line_reader *r, int fd);
/*
 * Returns 1 with the next line (without its newline, NUL-terminated, valid
 * until the next call) in *line and *len; 0 at end of input (a last line
 * without a newline is still returned first); -1 on a read error (errno).
 * Retries on EINTR, unless r->cancel is set and non-zero (then -1, EINTR).
 */
int line_reader_next(struct line_reader *r, char **line, size_t *len);
void line_reader_free(struct line_reader *r);

/* Writes all n bytes, retrying on EINTR and short writes. -1 on error (errno). */
int io_write_all(int fd, const void *p, size_t n);
/* Writes v (borrowed) as compact JSON plus a newline in one write. */
int io_write_json_line(int fd, jv v);

/* Reads the whole of fd into b. -1 on error (errno). */
int io_read_all(int fd, struct buf *b);
/* Reads a whole file. Returns 0, or -1 with *err naming the path and reason. */
int io_read_file(const char *path, struct buf *b, char **err);

/*
 * mkdir -p: creates dir and its missing parents, each with mode (less the
 * umask). Returns 0 when dir exists as a directory afterwards, else -1
 * with errno (ENOTDIR when something else is in the way).
 */
int io_mkdirs(const char *dir, mode_t mode);

/*
 * In a child between fork and exec: closes every descriptor from lowfd up
 * except keep (-1 for none), so nothing the parent holds (libcurl's
 * sockets, other children's pipes) leaks into the program.
 */
void io_close_from(int lowfd, int keep);

/* True when the line, after leading blanks, starts with '{'. */
bool io_looks_like_json(const char *line, size_t len);

#endif
