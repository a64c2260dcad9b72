#include "io.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void line_reader_init(struct line_reader *r, int fd)
{
	memset(r, 0, sizeof *r);
	r->fd = fd;
}

int line_reader_next(struct line_reader *r, char **line, size_t *len)
{
	for (;;) {
		char *base = r->buf.data ? r->buf.data + r->start : NULL;
		size_t avail = r->buf.len - r->start;
		char *nl = base ? memchr(base, '\n', avail) : NULL;
		if (nl) {
			*nl = '\0';
			*line = base;
			*len = (size_t)(nl - base);
			if (*len && base[*len - 1] == '\r')
				base[--*len] = '\0';
			r->start += (size_t)(nl - base) + 1;
			r->lineno++;
			return 1;
		}
		if (r->eof) {
			if (avail == 0)
				return 0;
			*line = base;
			*len = avail;
			r->start = r->buf.len;
			r->lineno++;
			return 1;
		}
		/* Drop consumed lines before reading more, so memory stays bounded. */
		if (r->start) {
			buf_consume(&r->buf, r->start);
			r->start = 0;
		}
		char chunk[65536];
		ssize_t n = read(r->fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR && !(r->cancel && *r->cancel))
				continue;
			return -1;
		}
		if (n == 0)
			r->eof = true;
		else
			buf_append(&r->buf, chunk, (size_t)n);
	}
}

void line_reader_free(struct line_reader *r)
{
	buf_free(&r->buf);
}

int io_write_all(int fd, const void *p, size_t n)
{
	const char *s = p;
	while (n > 0) {
		ssize_t w = write(fd, s, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

int io_write_json_line(int fd, jv v)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	struct buf b = BUF_INIT;
	buf_appends(&b, jv_string_value(s));
	buf_appendc(&b, '\n');
	jv_free(s);
	int rc = io_write_all(fd, b.data, b.len);
	int saved = errno;
	buf_free(&b);
	errno = saved;
	return rc;
}

int io_read_all(int fd, struct buf *b)
{
	char chunk[65536];
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof chunk);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			return 0;
		buf_append(b, chunk, (size_t)n);
	}
}

int io_read_file(const char *path, struct buf *b, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*err = xasprintf("%s: %s", path, strerror(errno));
		return -1;
	}
	int rc = io_read_all(fd, b);
	if (rc < 0)
		*err = xasprintf("%s: %s", path, strerror(errno));
	close(fd);
	return rc;
}

bool io_looks_like_json(const char *line, size_t len)
{
	size_t i = 0;
	while (i < len && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return i < len && line[i] == '{';
}

int io_mkdirs(const char *dir, mode_t mode)
{
	if (!*dir) {
		errno = ENOENT;
		return -1;
	}
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			rc = -1;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	int saved = errno;
	free(p);
	errno = saved;
	struct stat st;
	if (rc == 0 && stat(dir, &st) < 0)
		rc = -1;
	else if (rc == 0 && !S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		rc = -1;
	}
	return rc;
}

void io_close_from(int lowfd, int keep)
{
	long max = sysconf(_SC_OPEN_MAX);
	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = lowfd; fd < max; fd++)
		if (fd != keep)
			close(fd);
}
