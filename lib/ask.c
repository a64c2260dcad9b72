#include "ask.h"

#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "tui.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void draw_ask(const char *prompt, double left, bool counting, const struct buf *typed)
{
	char *p = counting ? tui_countdown_prompt(prompt, (long)ceil(left)) : xstrdup(prompt);
	fprintf(stderr, "\r\033[K%s%s", p, buf_str(typed));
	fflush(stderr);
	free(p);
}

bool ask_countdown(const char *prompt, double timeout_s, char *answer, size_t size,
		   volatile sig_atomic_t *signals)
{
	answer[0] = '\0';
	struct termios saved, raw;
	bool tty = tcgetattr(0, &saved) == 0;
	if (tty) {
		raw = saved;
		raw.c_lflag &= (tcflag_t)~(ICANON | ECHO);
		raw.c_cc[VMIN] = 1;
		raw.c_cc[VTIME] = 0;
		tcsetattr(0, TCSANOW, &raw);
	}
	/* Lines before the prompt's last are written once; the last is redrawn. */
	const char *nl = strrchr(prompt, '\n');
	if (nl) {
		fwrite(prompt, 1, (size_t)(nl - prompt + 1), stderr);
		prompt = nl + 1;
	}
	bool has_count = strstr(prompt, "(continuing in ") != NULL;
	/* A question (no countdown) is answered only by keys typed after it showed. */
	if (tty && !has_count)
		tcflush(0, TCIFLUSH);
	struct buf typed = BUF_INIT;
	double end = now_s() + timeout_s;
	bool typing = false, answered = false;
	draw_ask(prompt, timeout_s, has_count, &typed);
	for (;;) {
		double left = end - now_s();
		if (!typing && left <= 0)
			break;
		int wait_ms = -1;	/* typing: as long as the person needs */
		if (!typing) {
			/* wake at the next whole second to redraw the count */
			double frac = left - floor(left);
			wait_ms = has_count ? (int)((frac > 0.001 ? frac : 1.0) * 1000) + 1
					    : (int)(left * 1000) + 1;
		}
		struct pollfd p = { .fd = 0, .events = POLLIN };
		int ready = poll(&p, 1, wait_ms);
		if (ready < 0 && errno == EINTR && signals && *signals > 0) {
			snprintf(answer, size, "/stop");
			answered = true;
			break;
		}
		if (ready <= 0) {
			if (has_count && !typing)
				draw_ask(prompt, end - now_s(), true, &typed);
			continue;
		}
		char c;
		ssize_t got = read(0, &c, 1);
		if (got <= 0)
			break;
		if (c == '\n' || c == '\r') {
			snprintf(answer, size, "%s", buf_str(&typed));
			answered = true;
			break;
		}
		if ((c == 0x7f || c == 0x08) && typed.len > 0) {
			do
				typed.len--;
			while (typed.len > 0 && ((unsigned char)typed.data[typed.len] & 0xC0) == 0x80);
			typed.data[typed.len] = '\0';
		} else if (c == 0x15) {
			buf_reset(&typed);
		} else if ((unsigned char)c >= 0x20 && c != 0x7f && typed.len + 1 < size) {
			buf_appendc(&typed, c);
			typing = true;
		}
		draw_ask(prompt, end - now_s(), has_count && !typing, &typed);
	}
	if (tty)
		tcsetattr(0, TCSANOW, &saved);
	fputc('\n', stderr);
	fflush(stderr);
	buf_free(&typed);
	return answered;
}
