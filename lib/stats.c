/*
 * Metrics records and their aggregation (stats.h). The recording half
 * keeps process-global state (one buffer and identity per process, used
 * from everywhere without a handle); it is not thread-safe, and bllm
 * processes are single-threaded. The aggregation half is pure.
 */
#define _DEFAULT_SOURCE
#include "stats.h"
#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"
#include "usage.h"

#define METRICS_FILE "metrics.ndjson"
#define RECENT_ERRORS 20
/* How long a flush waits for the lock before keeping its records for the next one. */
#define LOCK_WAIT_NS 1000000000L
#define LOCK_STEP_NS 2000000L

static struct {
	bool open;
	char *path, *lock_path;
	double flush_interval_s;
	int buffer_size;
	long max_bytes;
	int backup_count;
	char *session_id, *run_id, *agent;
	struct buf pending;	/* whole lines not yet written */
	int npending;
	double last_flush;	/* monotonic seconds */
	pid_t pid;		/* the process the pending lines belong to */
} S;

static double monotonic_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void set_str(char **slot, const char *s)
{
	free(*slot);
	*slot = s ? xstrdup(s) : NULL;
}

static jv str_or_null(const char *s)
{
	return s ? jv_string(s) : jv_null();
}


int stats_open(const struct stats_config *cfg, char **err)
{
	stats_close();
	const char *dir = cfg->dir && *cfg->dir ? cfg->dir : "logs";
	if (io_mkdirs(dir, 0755) < 0) {
		if (err)
			*err = xasprintf("metrics directory %s: cannot create: %s (set LOG_DIR "
					 "or logging.dir to a writable directory)",
					 dir, strerror(errno));
		return -1;
	}
	S.path = xasprintf("%s/%s", dir, METRICS_FILE);
	S.lock_path = xasprintf("%s/.metrics.lock", dir);
	S.flush_interval_s = cfg->flush_interval_s;
	S.buffer_size = cfg->buffer_size > 0 ? cfg->buffer_size : 1;
	S.max_bytes = cfg->max_bytes;
	S.backup_count = cfg->backup_count > 0 ? cfg->backup_count : 1;
	S.last_flush = monotonic_s();
	S.pid = getpid();
	S.open = true;
	return 0;
}

void stats_set_context(const char *session_id, const char *run_id, const char *agent)
{
	set_str(&S.session_id, session_id);
	set_str(&S.run_id, run_id);
	set_str(&S.agent, agent);
}

/* A forked child inherits its parent's pending lines; the parent writes them. */
static void forget_inherited(void)
{
	if (S.pid != getpid()) {
		buf_reset(&S.pending);
		S.npending = 0;
		S.pid = getpid();
	}
}

static void add_line(jv rec)
{
	char ts[32];
	struct timespec now;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	size_t n = strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof ts - n, ".%03ldZ", now.tv_nsec / 1000000);

	/* The envelope comes first; fields the caller gave win over it. */
	jv full = jv_object();
	full = jv_object_set(full, jv_string("kind"), jv_null());
	full = jv_object_set(full, jv_string("ts"), jv_string(ts));
	full = jv_object_set(full, jv_string("session_id"), str_or_null(S.session_id));
	full = jv_object_set(full, jv_string("run_id"), str_or_null(S.run_id));
	full = jv_object_set(full, jv_string("agent"), str_or_null(S.agent));
	full = jv_object_set(full, jv_string("pid"), jv_number(getpid()));
	full = jv_object_merge(full, rec);
	jv s = jv_dump_string(full, 0);
	buf_appends(&S.pending, jv_string_value(s));
	buf_appendc(&S.pending, '\n');
	jv_free(s);
	S.npending++;
}

void stats_record(jv rec)
{
	if (!S.open || jv_get_kind(rec) != JV_KIND_OBJECT) {
		jv_free(rec);
		return;
	}
	forget_inherited();
	add_line(rec);
	/* The interval is checked as records arrive: there is no timer. */
	if (S.npending >= S.buffer_size || monotonic_s() - S.last_flush >= S.flush_interval_s)
		stats_flush();
}

void stats_error(const char *error_type, const char *message, jv context)
{
	if (!S.open) {
		jv_free(context);
		return;
	}
	if (jv_get_kind(context) == JV_KIND_NULL || !jv_is_valid(context)) {
		jv_free(context);
		context = jv_object();
	} else if (jv_get_kind(context) != JV_KIND_OBJECT) {
		context = jv_object_set(jv_object(), jv_string("value"), context);
	}
	jv rec = jv_object();
	rec = jv_object_set(rec, jv_string("kind"), jv_string("error"));
	rec = jv_object_set(rec, jv_string("error_type"),
			    jv_string(error_type ? error_type : "internal"));
	rec = jv_object_set(rec, jv_string("message"), jv_string(message ? message : ""));
	rec = jv_object_set(rec, jv_string("context"), context);
	forget_inherited();
	add_line(rec);
	stats_flush();
}

static bool lock_wait(int fd)
{
	struct timespec step = { 0, LOCK_STEP_NS };
	for (long waited = 0; ; waited += LOCK_STEP_NS) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if ((errno != EWOULDBLOCK && errno != EINTR) || waited >= LOCK_WAIT_NS)
			return false;
		nanosleep(&step, NULL);
	}
}

/* metrics.ndjson -> .1 -> .2 ...; the oldest beyond backup_count goes. Under the lock. */
static void rotate(void)
{
	for (int i = S.backup_count; i >= 1; i--) {
		char *from = i == 1 ? xstrdup(S.path) : xasprintf("%s.%d", S.path, i - 1);
		char *to = xasprintf("%s.%d", S.path, i);
		rename(from, to);
		free(from);
		free(to);
	}
}

void stats_flush(void)
{
	if (!S.open)
		return;
	forget_inherited();
	S.last_flush = monotonic_s();
	if (S.npending == 0)
		return;
	/* Opened per flush: a lock descriptor shared with a forked child would not exclude it. */
	int lock = open(S.lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || !lock_wait(lock)) {
		if (lock >= 0)
			close(lock);
		/* Kept for the next flush, within reason. */
		if (S.npending >= 8 * S.buffer_size) {
			buf_reset(&S.pending);
			S.npending = 0;
		}
		return;
	}
	struct stat st;
	if (S.max_bytes > 0 && stat(S.path, &st) == 0 &&
	    st.st_size > 0 && st.st_size + (off_t)S.pending.len > S.max_bytes)
		rotate();
	int fd = open(S.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0) {
		io_write_all(fd, S.pending.data, S.pending.len);
		close(fd);
	}
	flock(lock, LOCK_UN);
	close(lock);
	buf_reset(&S.pending);
	S.npending = 0;
}

void stats_close(void)
{
	stats_flush();
	free(S.path);
	free(S.lock_path);
	free(S.session_id);
	free(S.run_id);
	free(S.agent);
	buf_free(&S.pending);
	memset(&S, 0, sizeof S);
}

/* Appends the records of one file to *records. ENOENT is no error. */
static int load_file(const char *path, jv *records, char **err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		*err = xasprintf("%s: cannot open: %s", path, strerror(errno));
		return -1;
	}
	struct line_reader r;
	line_reader_init(&r, fd);
	char *line;
	size_t len;
	int rc;
	while ((rc = line_reader_next(&r, &line, &len)) > 0) {
		if (!io_looks_like_json(line, len) || len > INT_MAX)
			continue;
		jv rec = jv_parse_sized(line, (int)len);
		jv kind = jv_get_kind(rec) == JV_KIND_OBJECT ?
			  jv_object_get(jv_copy(rec), jv_string("kind")) : jv_invalid();
		if (jv_get_kind(kind) == JV_KIND_STRING)
			*records = jv_array_append(*records, rec);
		else
			jv_free(rec);
		jv_free(kind);
	}
	if (rc < 0)
		*err = xasprintf("%s: cannot read: %s", path, strerror(errno));
	line_reader_free(&r);
	close(fd);
	return rc < 0 ? -1 : 0;
}

int stats_load(const char *dir, jv *records, char **err)
{
	*records = jv_array();
	/* Rotated copies (metrics.ndjson.N, the oldest highest) come before the live file. */
	int n = 0;
	struct buf path = BUF_INIT;
	for (;;) {
		buf_reset(&path);
		buf_printf(&path, "%s/%s.%d", dir, METRICS_FILE, n + 1);
		if (access(path.data, F_OK) < 0)
			break;
		n++;
	}
	int rc = 0;
	for (int i = n; i >= 0 && rc == 0; i--) {
		buf_reset(&path);
		if (i > 0)
			buf_printf(&path, "%s/%s.%d", dir, METRICS_FILE, i);
		else
			buf_printf(&path, "%s/%s", dir, METRICS_FILE);
		rc = load_file(path.data, records, err);
	}
	buf_free(&path);
	if (rc < 0) {
		jv_free(*records);
		*records = jv_invalid();
	}
	return rc;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static long long days_from_civil(long long y, int m, int d)
{
	y -= m <= 2;
	long long era = (y >= 0 ? y : y - 399) / 400;
	long long yoe = y - era * 400;
	long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static bool digits(const char **p, int n, int *out)
{
	int v = 0;
	for (int i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return false;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return true;
}

/*
 * RFC 3339 ("2026-11-25T20:30:00Z", "...00.123Z", "...00+02:00") to Unix
 * ms; with date_only, a bare "2026-11-25" (midnight UTC) too. -1 if invalid.
 */
static int parse_rfc3339(const char *s, bool date_only, long long *ms)
{
	static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int y, mo, d, h = 0, mi = 0, sec = 0, frac = 0;
	const char *p = s;
	if (!digits(&p, 4, &y) || *p++ != '-' || !digits(&p, 2, &mo) || *p++ != '-' ||
	    !digits(&p, 2, &d) || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1])
		return -1;
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (mo == 2 && d == 29 && !leap)
		return -1;
	long long offset_min = 0;
	if (*p == '\0') {
		if (!date_only)
			return -1;
	} else {
		if ((*p != 'T' && *p != 't' && *p != ' ') || (p++, !digits(&p, 2, &h)) ||
		    *p++ != ':' || !digits(&p, 2, &mi) || *p++ != ':' || !digits(&p, 2, &sec) ||
		    h > 23 || mi > 59 || sec > 60)
			return -1;
		if (*p == '.') {
			p++;
			if (*p < '0' || *p > '9')
				return -1;
			int i = 0;
			for (; *p >= '0' && *p <= '9'; i++, p++)
				if (i < 3)
					frac = frac * 10 + (*p - '0');
			for (; i < 3; i++)
				frac *= 10;
		}
		if (*p == 'Z' || *p == 'z') {
			p++;
		} else if (*p == '+' || *p == '-') {
			int sign = *p++ == '-' ? -1 : 1, oh, om;
			if (!digits(&p, 2, &oh) || *p++ != ':' || !digits(&p, 2, &om) ||
			    oh > 23 || om > 59)
				return -1;
			offset_min = sign * (oh * 60 + om);
		} else {
			return -1;
		}
		if (*p != '\0')
			return -1;
	}
	long long secs = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
			 offset_min * 60;
	*ms = secs * 1000 + frac;
	return 0;
}

int stats_parse_since(const char *s, long long now_ms, long long *since_ms)
{
	if (!s || !*s)
		return -1;
	const char *p = s;
	double v = 0;
	bool any = false;
	for (; *p >= '0' && *p <= '9'; p++, any = true)
		v = v * 10 + (*p - '0');
	if (any && *p == '.') {
		double scale = 0.1;
		bool fraction = false;
		for (p++; *p >= '0' && *p <= '9'; p++, scale /= 10, fraction = true)
			v += (*p - '0') * scale;
		any = fraction;
	}
	if (any && p[0] && !p[1] && strchr("smhd", p[0])) {
		static const long long unit[] = { 1000, 60000, 3600000, 86400000 };
		double ms = v * unit[strchr("smhd", p[0]) - "smhd"];
		if (ms > 1e15)
			return -1;
		*since_ms = now_ms - llround(ms);
		return 0;
	}
	return parse_rfc3339(s, true, since_ms);
}

/* Aggregation: every function below borrows records and returns a new value. */

/* Anything but an array counts as no records. */
static jv as_array(jv records)
{
	return jv_get_kind(records) == JV_KIND_ARRAY ? jv_copy(records) : jv_array();
}


static double num_field(jv rec, const char *key, bool *present)
{
	jv v = jv_object_get(jv_copy(rec), jv_string(key));
	bool is_num = jv_get_kind(v) == JV_KIND_NUMBER;
	double d = is_num ? jv_number_value(v) : 0;
	if (present)
		*present = is_num;
	jv_free(v);
	return d;
}

static bool ts_ms(jv rec, long long *ms)
{
	const char *ts = json_str(rec, "ts");
	return ts && parse_rfc3339(ts, false, ms) == 0;
}

static bool kind_is(jv rec, const char *kind)
{
	const char *k = json_str(rec, "kind");
	return k && strcmp(k, kind) == 0;
}

int stats_resolve_session(jv records, const char *prefix, char **full, char **err)
{
	*full = NULL;
	size_t n = strlen(prefix);
	int matches = 0;
	jv_array_foreach(records, i, rec) {
		const char *sid = json_str(rec, "session_id");
		if (sid && strncmp(sid, prefix, n) == 0 && (!*full || strcmp(*full, sid) != 0)) {
			if (*full && matches == 1) {
				*err = xasprintf("--session %s: several sessions start with it (%s, %s, ...); "
						 "give more of the ID", prefix, *full, sid);
				matches = 2;
			} else if (!*full) {
				*full = xstrdup(sid);
				matches = 1;
			}
		}
		jv_free(rec);
	}
	if (matches == 1)
		return 0;
	if (matches == 0)
		*err = xasprintf("--session %s: no session with that ID (or prefix) in the metrics",
				 prefix);
	free(*full);
	*full = NULL;
	return -1;
}

jv stats_filter(jv records, const char *session_id, long long since_ms)
{
	jv out = jv_array();
	if (jv_get_kind(records) != JV_KIND_ARRAY)
		return out;
	jv_array_foreach(records, i, rec) {
		bool keep = jv_get_kind(rec) == JV_KIND_OBJECT;
		if (keep && session_id) {
			const char *sid = json_str(rec, "session_id");
			keep = sid && strcmp(sid, session_id) == 0;
		}
		long long t;
		if (keep && since_ms)
			keep = ts_ms(rec, &t) && t >= since_ms;
		if (keep)
			out = jv_array_append(out, rec);
		else
			jv_free(rec);
	}
	return out;
}

struct agent_acc {
	char *name;
	double *lat;
	size_t nlat, cap;
	double in, out, cread, ccreate, cost;
	long calls, tools, errors;
};

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

/* Nearest rank on sorted v: the smallest value with at least p% of values at or below it. */
static jv percentile(const double *v, size_t n, int p)
{
	if (n == 0)
		return jv_null();
	size_t rank = ((size_t)p * n + 99) / 100;
	return jv_number(v[rank > 0 ? rank - 1 : 0]);
}

jv stats_by_agent(jv borrowed)
{
	jv records = as_array(borrowed);
	struct agent_acc *acc = NULL;
	size_t nacc = 0;
	jv_array_foreach(records, i, rec) {
		const char *kind = jv_get_kind(rec) == JV_KIND_OBJECT ?
				   json_str(rec, "kind") : NULL;
		if (!kind || (strcmp(kind, "api_call") && strcmp(kind, "tool_call") &&
			      strcmp(kind, "error"))) {
			jv_free(rec);
			continue;
		}
		const char *name = json_str(rec, "agent");
		if (!name)
			name = "unknown";
		size_t a = 0;
		while (a < nacc && strcmp(acc[a].name, name) != 0)
			a++;
		if (a == nacc) {
			acc = xrealloc(acc, (nacc + 1) * sizeof *acc);
			memset(&acc[a], 0, sizeof *acc);
			acc[a].name = xstrdup(name);
			nacc++;
		}
		struct agent_acc *g = &acc[a];
		if (strcmp(kind, "api_call") == 0) {
			bool has;
			double lat = num_field(rec, "latency_ms", &has);
			g->calls++;
			if (has) {
				if (g->nlat == g->cap) {
					g->cap = g->cap ? 2 * g->cap : 16;
					g->lat = xrealloc(g->lat, g->cap * sizeof *g->lat);
				}
				g->lat[g->nlat++] = lat;
			}
			g->in += num_field(rec, USAGE_INPUT, NULL);
			g->out += num_field(rec, USAGE_OUTPUT, NULL);
			g->cread += num_field(rec, USAGE_CACHE_READ, NULL);
			g->ccreate += num_field(rec, USAGE_CACHE_CREATION, NULL);
			g->cost += num_field(rec, "cost_usd", NULL);
		} else if (strcmp(kind, "tool_call") == 0) {
			g->tools++;
		} else {
			g->errors++;
		}
		jv_free(rec);
	}
	jv out = jv_object();
	for (size_t a = 0; a < nacc; a++) {
		struct agent_acc *g = &acc[a];
		if (g->nlat)
			qsort(g->lat, g->nlat, sizeof *g->lat, cmp_double);
		double all_in = g->in + g->cread + g->ccreate;
		jv o = jv_object();
		o = jv_object_set(o, jv_string("calls"), jv_number(g->calls));
		o = jv_object_set(o, jv_string("latency_p50_ms"), percentile(g->lat, g->nlat, 50));
		o = jv_object_set(o, jv_string("latency_p95_ms"), percentile(g->lat, g->nlat, 95));
		o = jv_object_set(o, jv_string(USAGE_INPUT), jv_number(g->in));
		o = jv_object_set(o, jv_string(USAGE_OUTPUT), jv_number(g->out));
		o = jv_object_set(o, jv_string(USAGE_CACHE_READ), jv_number(g->cread));
		o = jv_object_set(o, jv_string(USAGE_CACHE_CREATION),
				  jv_number(g->ccreate));
		/* Rounded to a millionth of a dollar: sums of binary fractions print badly. */
		o = jv_object_set(o, jv_string("cost_usd"), jv_number(round(g->cost * 1e6) / 1e6));
		o = jv_object_set(o, jv_string("cache_hit_rate"),
				  jv_number(all_in > 0 ? g->cread / all_in : 0));
		o = jv_object_set(o, jv_string("tool_calls"), jv_number(g->tools));
		o = jv_object_set(o, jv_string("errors"), jv_number(g->errors));
		out = jv_object_set(out, jv_string(g->name), o);
		free(g->name);
		free(g->lat);
	}
	free(acc);
	jv_free(records);
	return out;
}

struct dated {
	long long ms;
	int index;		/* order in records: later is newer among equal times */
};

static int newest_first(const void *a, const void *b)
{
	const struct dated *x = a, *y = b;
	if (x->ms != y->ms)
		return x->ms < y->ms ? 1 : -1;
	return (x->index < y->index) - (x->index > y->index);
}

jv stats_errors(jv borrowed)
{
	jv records = as_array(borrowed);
	jv counts = jv_object();
	struct dated *errs = NULL;
	size_t n = 0;
	jv_array_foreach(records, i, rec) {
		if (jv_get_kind(rec) == JV_KIND_OBJECT && kind_is(rec, "error")) {
			const char *type = json_str(rec, "error_type");
			jv key = jv_string(type ? type : "unknown");
			jv c = jv_object_get(jv_copy(counts), jv_copy(key));
			double have = jv_get_kind(c) == JV_KIND_NUMBER ? jv_number_value(c) : 0;
			jv_free(c);
			counts = jv_object_set(counts, key, jv_number(have + 1));
			errs = xrealloc(errs, (n + 1) * sizeof *errs);
			errs[n].index = i;
			if (!ts_ms(rec, &errs[n].ms))
				errs[n].ms = LLONG_MIN;
			n++;
		}
		jv_free(rec);
	}
	if (n)
		qsort(errs, n, sizeof *errs, newest_first);
	jv recent = jv_array();
	for (size_t k = 0; k < n && k < RECENT_ERRORS; k++)
		recent = jv_array_append(recent, jv_array_get(jv_copy(records), errs[k].index));
	free(errs);
	jv_free(records);
	jv out = jv_object();
	out = jv_object_set(out, jv_string("total_errors"), jv_number(n));
	out = jv_object_set(out, jv_string("error_counts"), counts);
	out = jv_object_set(out, jv_string("recent_errors"), recent);
	return out;
}

jv stats_cache(jv borrowed)
{
	jv records = as_array(borrowed);
	double hits = 0, misses = 0, stores = 0, evictions = 0;
	jv size = jv_number(0);
	struct dated size_at = { LLONG_MIN, -1 };
	jv_array_foreach(records, i, rec) {
		const char *ev = jv_get_kind(rec) == JV_KIND_OBJECT && kind_is(rec, "cache") ?
				 json_str(rec, "event") : NULL;
		if (ev) {
			bool has;
			double count = num_field(rec, "count", &has);
			if (strcmp(ev, "hit") == 0)
				hits++;
			else if (strcmp(ev, "miss") == 0)
				misses++;
			else if (strcmp(ev, "store") == 0)
				stores++;
			else if (strcmp(ev, "evict") == 0)
				evictions += has ? count : 1;	/* "count": one for several */
			/* The size is the one reported last in time. */
			struct dated at = { LLONG_MIN, i };
			double sz = num_field(rec, "size", &has);
			if (!ts_ms(rec, &at.ms))
				at.ms = LLONG_MIN;
			if (has && newest_first(&at, &size_at) <= 0) {
				jv_free(size);
				size = jv_number(sz);
				size_at = at;
			}
		}
		jv_free(rec);
	}
	jv_free(records);
	jv out = jv_object();
	out = jv_object_set(out, jv_string("hits"), jv_number(hits));
	out = jv_object_set(out, jv_string("misses"), jv_number(misses));
	out = jv_object_set(out, jv_string("hit_rate"),
			    jv_number(hits + misses > 0 ? hits / (hits + misses) : 0));
	out = jv_object_set(out, jv_string("stores"), jv_number(stores));
	out = jv_object_set(out, jv_string("evictions"), jv_number(evictions));
	out = jv_object_set(out, jv_string("size"), size);
	return out;
}
