/* The response cache: lib/cache.c and lib/sha256.c against a real temporary directory. */
#define _DEFAULT_SOURCE
#include "cache.h"
#include "sha256.h"
#include "buf.h"
#include "io.h"
#include "unit.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char base[PATH_MAX];

/* A fresh, empty cache directory base/NAME (malloc'd path). */
static char *fresh_dir(const char *name)
{
	char *dir = xasprintf("%s/%s", base, name);
	unit_rm_rf(dir);
	return dir;
}

static struct cache *open_cache(const char *dir, double ttl, int max)
{
	char *err = NULL;
	struct cache *c = cache_open(dir, ttl, max, &err);
	if (!c) {
		printf("# cache_open: %s\n", err ? err : "(no message)");
		free(err);
	}
	return c;
}

static char *entry_path(const char *dir, const char *key)
{
	return xasprintf("%s/%s.json", dir, key);
}

static bool exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0;
}

static void write_file(const char *path, const char *content)
{
	FILE *f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(content, f);
	fclose(f);
}

static void sleep_s(double s)
{
	struct timespec ts = { (time_t)s, (long)((s - (double)(time_t)s) * 1e9) };
	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* Sets the mtime of an entry to t seconds after the epoch. */
static void set_mtime(const char *dir, const char *key, time_t t)
{
	char *path = entry_path(dir, key);
	struct timespec ts[2] = { { t, 0 }, { t, 0 } };
	if (utimensat(AT_FDCWD, path, ts, 0) < 0)
		perror(path);
	free(path);
}

/* 1 if key hits with a message equal to the JSON text want. */
static int hits_with(struct cache *c, const char *key, const char *want)
{
	jv m = jv_invalid();
	if (!cache_get(c, key, &m))
		return 0;
	jv w = jv_parse(want);
	int eq = jv_equal(m, w);
	return eq;
}

static int misses(struct cache *c, const char *key)
{
	jv m = jv_invalid();
	int hit = cache_get(c, key, &m);
	jv_free(m);
	return !hit;
}

static int put_json(struct cache *c, const char *key, const char *json)
{
	jv m = jv_parse(json);
	int rc = cache_put(c, key, m);
	jv_free(m);
	return rc;
}

static void test_sha256_vectors(void)
{
	char out[65];
	sha256_hex("", 0, out);
	CHECK_STR(out, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	sha256_hex("abc", 3, out);
	CHECK_STR(out, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
	const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	sha256_hex(m448, strlen(m448), out);
	CHECK_STR(out, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");

	const char *million = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
	char *a = xmalloc(1000000);
	memset(a, 'a', 1000000);
	sha256_hex(a, 1000000, out);
	CHECK_STR(out, million);
	free(a);

	/* The incremental interface, fed in awkward pieces across block boundaries. */
	static const size_t pieces[] = { 1, 55, 8, 63, 64, 65, 127, 1000 };
	struct sha256 s;
	unsigned char d[32];
	char block[1000];
	memset(block, 'a', sizeof block);
	sha256_init(&s);
	size_t fed = 0;
	for (size_t i = 0; fed < 1000000; i++) {
		size_t n = pieces[i % (sizeof pieces / sizeof pieces[0])];
		if (n > 1000000 - fed)
			n = 1000000 - fed;
		sha256_update(&s, block, n);
		fed += n;
	}
	sha256_final(&s, d);
	char hex[65];
	for (int i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", d[i]);
	CHECK_STR(hex, million);

	/* Padding edge cases: 55, 56 and 64 bytes (one or two final blocks). */
	sha256_hex(block, 55, out);
	CHECK_STR(out, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318");
	sha256_hex(block, 56, out);
	CHECK_STR(out, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a");
	sha256_hex(block, 64, out);
	CHECK_STR(out, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb");
}

static void test_key_stability(void)
{
	jv r1 = jv_parse("{\"model\":\"m\",\"max_tokens\":10,\"stream\":true,"
			 "\"metadata\":{\"user_id\":\"u1\"},"
			 "\"system\":[{\"type\":\"text\",\"text\":\"s\","
			 "\"cache_control\":{\"type\":\"ephemeral\"}}],"
			 "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
			 "\"text\":\"hi\"}]}]}");
	/* Keys reordered at every depth, no stream/metadata, cache_control moved. */
	jv r2 = jv_parse("{\"messages\":[{\"content\":["
			 "{\"cache_control\":{\"type\":\"ephemeral\"},\"text\":\"hi\","
			 "\"type\":\"text\"}],\"role\":\"user\"}],"
			 "\"system\":[{\"text\":\"s\",\"type\":\"text\"}],"
			 "\"max_tokens\":10,\"model\":\"m\",\"stream\":false}");
	jv r3 = jv_parse("{\"model\":\"m\",\"max_tokens\":10,"
			 "\"system\":[{\"type\":\"text\",\"text\":\"s\"}],"
			 "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
			 "\"text\":\"hello\"}]}]}");
	/* "stream" below the top level is content (a tool's input), not a flag. */
	jv r4 = jv_parse("{\"model\":\"m\",\"max_tokens\":10,"
			 "\"system\":[{\"type\":\"text\",\"text\":\"s\",\"stream\":true}],"
			 "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\","
			 "\"text\":\"hi\"}]}]}");
	jv r1_before = jv_copy(r1);
	jv r1_dump = jv_dump_string(jv_copy(r1), 0);

	char *k1 = cache_key(r1), *k2 = cache_key(r2), *k3 = cache_key(r3), *k4 = cache_key(r4);
	CHECK(strlen(k1) == 64);
	CHECK(strspn(k1, "0123456789abcdef") == 64);
	CHECK_STR(k1, k2);
	CHECK(strcmp(k1, k3) != 0);
	CHECK(strcmp(k1, k4) != 0);

	/* The key is the SHA-256 of the compact, sorted, stripped JSON. */
	const char *norm = "{\"max_tokens\":10,\"messages\":[{\"content\":[{\"text\":\"hi\","
			   "\"type\":\"text\"}],\"role\":\"user\"}],\"model\":\"m\","
			   "\"system\":[{\"text\":\"s\",\"type\":\"text\"}]}";
	char want[65];
	sha256_hex(norm, strlen(norm), want);
	CHECK_STR(k1, want);

	/* Borrowed: the request is unchanged, and the same call gives the same key. */
	jv r1_dump_after = jv_dump_string(jv_copy(r1), 0);
	CHECK_STR(jv_string_value(r1_dump), jv_string_value(r1_dump_after));
	CHECK(jv_equal(jv_copy(r1), r1_before));
	char *k1_again = cache_key(r1);
	CHECK_STR(k1, k1_again);

	free(k1);
	free(k2);
	free(k3);
	free(k4);
	free(k1_again);
	jv_free(r1_dump);
	jv_free(r1_dump_after);
	jv_free(r1);
	jv_free(r2);
	jv_free(r3);
	jv_free(r4);
}

static void test_round_trip_and_miss(void)
{
	char *dir = fresh_dir("deep/er/rt");
	struct cache *c = open_cache(dir, 3600, 10);
	CHECK(c != NULL);
	if (!c) {
		free(dir);
		return;
	}
	struct stat st;
	CHECK(stat(dir, &st) == 0 && (st.st_mode & 0777) == 0700);
	CHECK(cache_size(c) == 0);

	jv req = jv_parse("{\"model\":\"m\",\"messages\":[]}");
	char *key = cache_key(req);
	jv_free(req);
	const char *msg = "{\"id\":\"msg_1\",\"role\":\"assistant\","
			  "\"content\":[{\"type\":\"text\",\"text\":\"h\\u00e9llo \\\"q\\\"\\n\"}],"
			  "\"stop_reason\":\"end_turn\","
			  "\"usage\":{\"input_tokens\":3,\"output_tokens\":0.5}}";
	CHECK(misses(c, key));
	CHECK(put_json(c, key, msg) == 0);
	CHECK(cache_size(c) == 1);
	CHECK(hits_with(c, key, msg));
	CHECK(hits_with(c, key, msg));

	/* Overwriting keeps one entry and answers the new message. */
	CHECK(put_json(c, key, "{\"id\":\"msg_2\"}") == 0);
	CHECK(cache_size(c) == 1);
	CHECK(hits_with(c, key, "{\"id\":\"msg_2\"}"));

	/* Other keys miss; keys that are not plain names are refused. */
	CHECK(misses(c, "0000000000000000000000000000000000000000000000000000000000000000"));
	CHECK(misses(c, "../etc/passwd"));
	CHECK(misses(c, ""));
	jv m = jv_parse("{}");
	errno = 0;
	CHECK(cache_put(c, "../x", m) == -1 && errno == EINVAL);
	CHECK(cache_put(c, ".lock", m) == -1);
	jv_free(m);
	CHECK(cache_size(c) == 1);

	/* The entry format is the documented one. */
	char *path = entry_path(dir, key);
	struct buf b = BUF_INIT;
	char *err = NULL;
	CHECK(io_read_file(path, &b, &err) == 0);
	jv e = jv_parse(buf_str(&b));
	CHECK(jv_get_kind(e) == JV_KIND_OBJECT);
	jv created = jv_object_get(jv_copy(e), jv_string("created"));
	CHECK(jv_get_kind(created) == JV_KIND_NUMBER);
	double age = (double)time(NULL) - jv_number_value(created);
	CHECK(age > -2 && age < 60);
	jv_free(created);
	jv_free(e);
	buf_free(&b);
	free(err);
	free(path);

	/* A second handle on the same directory (another process) sees the entry. */
	struct cache *c2 = open_cache(dir, 3600, 10);
	CHECK(c2 && hits_with(c2, key, "{\"id\":\"msg_2\"}"));
	cache_close(c2);

	cache_close(c);
	free(key);
	free(dir);
}

static void test_ttl(void)
{
	char *dir = fresh_dir("ttl");
	struct cache *c = open_cache(dir, 0.2, 10);
	CHECK(c != NULL);
	if (!c) {
		free(dir);
		return;
	}
	CHECK(put_json(c, "k1", "\"v\"") == 0);
	CHECK(hits_with(c, "k1", "\"v\""));
	sleep_s(0.3);
	CHECK(misses(c, "k1"));
	char *p = entry_path(dir, "k1");
	CHECK(!exists(p));	/* an expired entry is removed */
	free(p);
	cache_close(c);

	/* An entry whose "created" is old expires, whatever its mtime says. */
	c = open_cache(dir, 3600, 10);
	p = entry_path(dir, "old");
#define AGED "{\"created\":%ld,\"message\":{\"x\":1}}\n"
	char *json = xasprintf(AGED, (long)time(NULL) - 7200);
	write_file(p, json);
	CHECK(cache_size(c) == 1);
	CHECK(misses(c, "old"));
	CHECK(!exists(p));
	CHECK(cache_size(c) == 0);
	free(json);
	json = xasprintf(AGED, (long)time(NULL) - 60);
	write_file(p, json);
	CHECK(hits_with(c, "old", "{\"x\":1}"));
	free(json);
	free(p);
	cache_close(c);

	/* ttl <= 0: nothing expires. */
	c = open_cache(dir, 0, 10);
	p = entry_path(dir, "ancient");
	write_file(p, "{\"created\":1,\"message\":true}");
	CHECK(hits_with(c, "ancient", "true"));
	free(p);
	cache_close(c);
	free(dir);
}

static void test_lru_eviction(void)
{
	char *dir = fresh_dir("lru");
	struct cache *c = open_cache(dir, 3600, 3);
	CHECK(c != NULL);
	if (!c) {
		free(dir);
		return;
	}
	CHECK(put_json(c, "a", "1") == 0);
	CHECK(put_json(c, "b", "2") == 0);
	CHECK(put_json(c, "c", "3") == 0);
	CHECK(cache_size(c) == 3);
	/* Pin the clock (the filesystem's may be coarser than these calls). */
	set_mtime(dir, "a", 1000);
	set_mtime(dir, "b", 2000);
	set_mtime(dir, "c", 3000);
	/* A hit makes "a" the most recently used, so "b" is now the oldest. */
	CHECK(hits_with(c, "a", "1"));
	CHECK(put_json(c, "d", "4") == 1);
	CHECK(cache_size(c) == 3);
	CHECK(misses(c, "b"));
	CHECK(hits_with(c, "c", "3"));
	CHECK(hits_with(c, "a", "1"));
	CHECK(hits_with(c, "d", "4"));

	/* Overwriting an entry does not grow the cache. */
	CHECK(put_json(c, "d", "5") == 0);
	CHECK(cache_size(c) == 3);

	/* Several over the limit (entries written behind its back) go at once. */
	set_mtime(dir, "a", 4000);
	set_mtime(dir, "c", 5000);
	set_mtime(dir, "d", 6000);
	char *p = entry_path(dir, "x1");
	write_file(p, "{\"created\":1e18,\"message\":0}");
	free(p);
	p = entry_path(dir, "x2");
	write_file(p, "{\"created\":1e18,\"message\":0}");
	free(p);
	set_mtime(dir, "x1", 100);
	set_mtime(dir, "x2", 200);
	CHECK(cache_size(c) == 5);
	CHECK(put_json(c, "e", "6") == 3);	/* x1, x2 and a */
	CHECK(cache_size(c) == 3);
	CHECK(misses(c, "x1") && misses(c, "x2") && misses(c, "a"));
	CHECK(hits_with(c, "c", "3") && hits_with(c, "d", "5") && hits_with(c, "e", "6"));

	/* Temporary and lock files are not entries. */
	p = xasprintf("%s/.lock", dir);
	CHECK(exists(p));
	free(p);
	cache_close(c);
	free(dir);
}

static void test_corrupt_entry(void)
{
	char *dir = fresh_dir("corrupt");
	struct cache *c = open_cache(dir, 3600, 10);
	CHECK(c != NULL);
	if (!c) {
		free(dir);
		return;
	}
	static const char *bad[] = {
		"",
		"not json",
		"{\"created\":1e18,\"message\":{\"cut",
		"{\"created\":1e18}",
		"{\"message\":{}}",
		"{\"created\":\"yesterday\",\"message\":{}}",
		"[1,2]",
		"{\"created\":1e18,\"message\":1} {}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		char *p = entry_path(dir, "bad");
		write_file(p, bad[i]);
		int miss = misses(c, "bad");
		if (!miss)
			printf("# entry %zu: %s\n", i, bad[i]);
		CHECK(miss);
		CHECK(!exists(p));	/* removed */
		free(p);
	}
	/* And a good entry written afterwards works. */
	CHECK(put_json(c, "bad", "{\"ok\":true}") == 0);
	CHECK(hits_with(c, "bad", "{\"ok\":true}"));
	cache_close(c);
	free(dir);
}

static void test_open_errors(void)
{
	char *err = NULL;
	char *file = xasprintf("%s/plainfile", base);
	write_file(file, "x");
	struct cache *c = cache_open(file, 1, 1, &err);
	CHECK(c == NULL);
	CHECK(err && strstr(err, file));
	free(err);
	err = NULL;
	char *below = xasprintf("%s/sub", file);
	c = cache_open(below, 1, 1, &err);
	CHECK(c == NULL);
	CHECK(err && strstr(err, "cache directory"));
	free(err);
	free(below);
	free(file);
}

static void test_default_dir(void)
{
	char *saved[3];
	const char *names[3] = { "BLLM_STATE_DIR", "XDG_STATE_HOME", "HOME" };
	for (int i = 0; i < 3; i++) {
		const char *v = getenv(names[i]);
		saved[i] = v ? xstrdup(v) : NULL;
	}
	setenv("BLLM_STATE_DIR", "/s", 1);
	setenv("XDG_STATE_HOME", "/x", 1);
	setenv("HOME", "/h", 1);
	char *d = cache_default_dir();
	CHECK_STR(d, "/s/cache");
	free(d);
	unsetenv("BLLM_STATE_DIR");
	d = cache_default_dir();
	CHECK_STR(d, "/x/bllm/cache");
	free(d);
	setenv("XDG_STATE_HOME", "relative", 1);
	d = cache_default_dir();
	CHECK_STR(d, "/h/.local/state/bllm/cache");
	free(d);
	unsetenv("XDG_STATE_HOME");
	d = cache_default_dir();
	CHECK_STR(d, "/h/.local/state/bllm/cache");
	free(d);
	for (int i = 0; i < 3; i++) {
		if (saved[i])
			setenv(names[i], saved[i], 1);
		else
			unsetenv(names[i]);
		free(saved[i]);
	}
}

#define CHILDREN 4
#define ROUNDS 200
#define KEYS 40
#define LIMIT 20

/* One worker process: put and get overlapping keys; exit status 0 if all was consistent. */
static int child(const char *dir, int id)
{
	char *err = NULL;
	struct cache *c = cache_open(dir, 3600, LIMIT, &err);
	if (!c) {
		free(err);
		return 10;
	}
	int bad = 0;
	unsigned seed = (unsigned)id * 7919u + 17u;
	for (int i = 0; i < ROUNDS; i++) {
		seed = seed * 1103515245u + 12345u;
		int k = (int)((seed >> 16) % KEYS);
		char name[16], key[65];
		snprintf(name, sizeof name, "k%d", k);
		sha256_hex(name, strlen(name), key);
		/* Messages big enough that a torn write would be visible. */
		jv m = jv_object_set(jv_object(), jv_string("k"), jv_number(k));
		m = jv_object_set(m, jv_string("from"), jv_number(id));
		m = jv_object_set(m, jv_string("pad"), jv_string_fmt("%0*d", 4000 + k * 100, k));
		if (cache_put(c, key, m) < 0)
			bad = 11;
		jv_free(m);

		seed = seed * 1103515245u + 12345u;
		k = (int)((seed >> 16) % KEYS);
		snprintf(name, sizeof name, "k%d", k);
		sha256_hex(name, strlen(name), key);
		jv got = jv_invalid();
		if (cache_get(c, key, &got)) {
			jv gk = jv_object_get(jv_copy(got), jv_string("k"));
			jv pad = jv_object_get(jv_copy(got), jv_string("pad"));
			if (jv_get_kind(gk) != JV_KIND_NUMBER || (int)jv_number_value(gk) != k ||
			    jv_get_kind(pad) != JV_KIND_STRING ||
			    strlen(jv_string_value(pad)) != (size_t)(4000 + k * 100))
				bad = 12;
			jv_free(gk);
			jv_free(pad);
			jv_free(got);
		}
	}
	cache_close(c);
	return bad;
}

static void test_concurrent_processes(void)
{
	char *dir = fresh_dir("conc");
	struct cache *c = open_cache(dir, 3600, LIMIT);
	CHECK(c != NULL);
	if (!c) {
		free(dir);
		return;
	}
	fflush(stdout);
	pid_t pids[CHILDREN];
	for (int i = 0; i < CHILDREN; i++) {
		pids[i] = fork();
		if (pids[i] == 0)
			_exit(child(dir, i));
		CHECK(pids[i] > 0);
	}
	for (int i = 0; i < CHILDREN; i++) {
		int status = 0;
		if (pids[i] <= 0)
			continue;
		CHECK(waitpid(pids[i], &status, 0) == pids[i]);
		CHECK(WIFEXITED(status));
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			printf("# child %d: status %d\n", i, status);
		CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	}

	/*
	 * Exactly at most LIMIT: each put evicts after its rename, under the
	 * lock, so the last eviction sees every surviving entry.
	 */
	int size = cache_size(c);
	printf("# %d entries left\n", size);
	CHECK(size > 0 && size <= LIMIT);

	DIR *d = opendir(dir);
	CHECK(d != NULL);
	struct dirent *de;
	int entries = 0;
	while (d && (de = readdir(d)) != NULL) {
		const char *n = de->d_name;
		if (strcmp(n, ".") == 0 || strcmp(n, "..") == 0 || strcmp(n, ".lock") == 0)
			continue;
		size_t len = strlen(n);
		bool entry = len == 69 && strcmp(n + 64, ".json") == 0 &&
			     strspn(n, "0123456789abcdef") == 64;
		if (!entry)
			printf("# stray file %s\n", n);
		CHECK(entry);	/* no temporary files left */
		if (!entry)
			continue;
		entries++;
		char key[65];
		memcpy(key, n, 64);
		key[64] = '\0';
		jv m = jv_invalid();
		CHECK(cache_get(c, key, &m) == 1);	/* every one parses */
		jv k = jv_object_get(m, jv_string("k"));
		CHECK(jv_get_kind(k) == JV_KIND_NUMBER);
		if (jv_get_kind(k) == JV_KIND_NUMBER) {
			char name[16], want[65];
			snprintf(name, sizeof name, "k%d", (int)jv_number_value(k));
			sha256_hex(name, strlen(name), want);
			CHECK_STR(key, want);
		}
		jv_free(k);
	}
	if (d)
		closedir(d);
	CHECK(entries == size);
	cache_close(c);
	free(dir);
}

int main(void)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(base, sizeof base, "%s/bllm-test-cache.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base)) {
		perror(base);
		return 2;
	}
	UNIT_RUN(test_sha256_vectors);
	UNIT_RUN(test_key_stability);
	UNIT_RUN(test_round_trip_and_miss);
	UNIT_RUN(test_ttl);
	UNIT_RUN(test_lru_eviction);
	UNIT_RUN(test_corrupt_entry);
	UNIT_RUN(test_open_errors);
	UNIT_RUN(test_default_dir);
	UNIT_RUN(test_concurrent_processes);
	unit_rm_rf(base);
	return unit_done();
}
