/* fake-anthropic: the facts rules match on, and the API's prompt-cache model. */
#define _DEFAULT_SOURCE
#include "fake.h"

/* Under main.c's lock. */
uint64_t *cache_set;	/* open addressing; 0 marks a free slot */
static size_t cache_cap, cache_len;

void info_free(struct info *inf)
{
	buf_free(&inf->system);
	buf_free(&inf->last_user);
	for (size_t i = 0; i < inf->ntools; i++)
		free(inf->tools[i]);
	free(inf->tools);
	free(inf->blk_hash);
	free(inf->blk_tokens);
	free(inf->bp);
}

static void append_sep(struct buf *b, const char *p, size_t n)
{
	if (b->len)
		buf_appendc(b, '\n');
	buf_append(b, p, n);
}

/*
 * Borrows v: a string, or an array of content blocks. Appends the texts of
 * its text blocks and, with tool_results, of its tool_result blocks' content.
 */
static void append_texts(struct buf *b, jv v, int tool_results)
{
	size_t n;
	const char *p;
	if (kind_is(v, JV_KIND_STRING)) {
		p = str_bytes(v, &n);
		append_sep(b, p, n);
		return;
	}
	if (!kind_is(v, JV_KIND_ARRAY))
		return;
	int len = jv_array_length(jv_copy(v));
	for (int i = 0; i < len; i++) {
		jv blk = jv_array_get(jv_copy(v), i);
		jv type = member(blk, "type");
		if (is_str(type, "text")) {
			jv t = member(blk, "text");
			if (kind_is(t, JV_KIND_STRING)) {
				p = str_bytes(t, &n);
				append_sep(b, p, n);
			}
			jv_free(t);
		} else if (tool_results && is_str(type, "tool_result")) {
			jv c = member(blk, "content");
			append_texts(b, c, 0);
			jv_free(c);
		}
		jv_free(type);
		jv_free(blk);
	}
}

/* Marks the last block scanned as a cache breakpoint. */
static void add_breakpoint(struct info *inf)
{
	if (!inf->nblk || (inf->nbp && inf->bp[inf->nbp - 1] == inf->nblk - 1))
		return;
	inf->bp = xrealloc(inf->bp, (inf->nbp + 1) * sizeof *inf->bp);
	inf->bp[inf->nbp++] = inf->nblk - 1;
}

/*
 * Borrows blk, one block of the prompt. The prefix hash covers the block as
 * serialized without its cache_control, so moving a breakpoint does not
 * change what is cached.
 */
static void scan_block(struct info *inf, jv blk)
{
	int bp = 0;
	jv clean = jv_copy(blk);
	if (kind_is(blk, JV_KIND_OBJECT)) {
		jv cc = member(blk, "cache_control");
		bp = jv_is_valid(cc) && !kind_is(cc, JV_KIND_NULL);
		jv_free(cc);
		clean = jv_object_delete(clean, jv_string("cache_control"));
	}
	jv text = jv_dump_string(clean, 0);
	size_t len;
	const char *p = str_bytes(text, &len);
	inf->h = fnv(fnv(inf->h, p, len), "\x1e", 1);
	inf->bytes += len;
	jv_free(text);
	if (inf->nblk == inf->blk_cap) {
		inf->blk_cap = inf->blk_cap ? inf->blk_cap * 2 : 16;
		inf->blk_hash = xrealloc(inf->blk_hash, inf->blk_cap * sizeof *inf->blk_hash);
		inf->blk_tokens = xrealloc(inf->blk_tokens, inf->blk_cap * sizeof *inf->blk_tokens);
	}
	inf->blk_hash[inf->nblk] = inf->h;
	inf->blk_tokens[inf->nblk++] = tokens_of(inf->bytes);
	if (bp)
		add_breakpoint(inf);
}

/* Borrows v: a string (taken as one text block) or an array of blocks. */
static void scan_blocks(struct info *inf, jv v)
{
	if (kind_is(v, JV_KIND_STRING)) {
		jv t = jv_object();
		t = jv_object_set(t, jv_string("type"), jv_string("text"));
		t = jv_object_set(t, jv_string("text"), jv_copy(v));
		scan_block(inf, t);
		jv_free(t);
	} else if (kind_is(v, JV_KIND_ARRAY)) {
		int n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++) {
			jv b = jv_array_get(jv_copy(v), i);
			scan_block(inf, b);
			jv_free(b);
		}
	}
}

static void mark(struct info *inf, const char *what)
{
	inf->h = fnv(fnv(inf->h, "\x1d", 1), what, strlen(what));
}

/* Borrows body, a validated Messages request. */
void info_build(struct info *inf, jv body)
{
	memset(inf, 0, sizeof *inf);
	jv sys = member(body, "system");
	jv msgs = member(body, "messages");
	jv tools = member(body, "tools");
	jv model = member(body, "model");
	jv autocache = member(body, "cache_control");
	append_texts(&inf->system, sys, 0);

	int nm = jv_array_length(jv_copy(msgs)), last_user = -1;
	for (int i = 0; i < nm; i++) {
		jv m = jv_array_get(jv_copy(msgs), i);
		jv role = member(m, "role");
		if (is_str(role, "assistant"))
			inf->turn++;
		if (is_str(role, "user"))
			last_user = i;
		jv_free(role);
		jv_free(m);
	}
	if (last_user >= 0) {
		jv m = jv_array_get(jv_copy(msgs), last_user);
		jv c = member(m, "content");
		append_texts(&inf->last_user, c, 1);
		jv_free(c);
		jv_free(m);
	}
	if (kind_is(tools, JV_KIND_ARRAY)) {
		int nt = jv_array_length(jv_copy(tools));
		inf->tools = xcalloc((size_t)nt, sizeof *inf->tools);
		for (int i = 0; i < nt; i++) {
			jv t = jv_array_get(jv_copy(tools), i);
			jv name = member(t, "name");
			if (kind_is(name, JV_KIND_STRING))
				inf->tools[inf->ntools++] = xstrdup(jv_string_value(name));
			jv_free(name);
			jv_free(t);
		}
	}

	/* The prompt in the API's cache order: tools, system, messages. */
	inf->h = 14695981039346656037ULL;
	mark(inf, jv_string_value(model));
	mark(inf, "tools");
	if (kind_is(tools, JV_KIND_ARRAY))
		scan_blocks(inf, tools);
	mark(inf, "system");
	scan_blocks(inf, sys);
	mark(inf, "messages");
	for (int i = 0; i < nm; i++) {
		jv m = jv_array_get(jv_copy(msgs), i);
		jv role = member(m, "role");
		jv c = member(m, "content");
		mark(inf, kind_is(role, JV_KIND_STRING) ? jv_string_value(role) : "?");
		scan_blocks(inf, c);
		jv_free(c);
		jv_free(role);
		jv_free(m);
	}
	/* Automatic caching: a top-level cache_control marks the last block. */
	if (jv_is_valid(autocache) && !kind_is(autocache, JV_KIND_NULL))
		add_breakpoint(inf);
	inf->total_tokens = tokens_of(inf->bytes);
	jv_free(autocache);
	jv_free(model);
	jv_free(tools);
	jv_free(msgs);
	jv_free(sys);
}

static int contains(const char *hay, size_t len, const char *needle)
{
	size_t n = strlen(needle);
	return n == 0 || (len >= n && find_bytes(hay, len, needle, n) != NULL);
}

int rule_matches(const struct rule *r, const struct info *inf, const struct request *rq)
{
	if (r->m_system && !contains(buf_str(&inf->system), inf->system.len, r->m_system))
		return 0;
	if (r->m_turn >= 0 && inf->turn != r->m_turn)
		return 0;
	if (r->m_last_user &&
	    !contains(buf_str(&inf->last_user), inf->last_user.len, r->m_last_user))
		return 0;
	if (r->m_body && !contains(buf_str(&rq->body), rq->body.len, r->m_body))
		return 0;
	if (r->m_tool) {
		size_t i;
		for (i = 0; i < inf->ntools; i++)
			if (strcmp(inf->tools[i], r->m_tool) == 0)
				break;
		if (i == inf->ntools)
			return 0;
	}
	return 1;
}

static int cache_has(uint64_t h)
{
	h = h ? h : 1;
	if (!cache_cap)
		return 0;
	for (size_t i = h & (cache_cap - 1); cache_set[i]; i = (i + 1) & (cache_cap - 1))
		if (cache_set[i] == h)
			return 1;
	return 0;
}

static void cache_insert(uint64_t *set, size_t cap, uint64_t h)
{
	size_t i = h & (cap - 1);
	while (set[i] && set[i] != h)
		i = (i + 1) & (cap - 1);
	set[i] = h;
}

static void cache_add(uint64_t h)
{
	h = h ? h : 1;
	if (cache_has(h))
		return;
	if ((cache_len + 1) * 2 > cache_cap) {
		size_t cap = cache_cap ? cache_cap * 2 : 256;
		uint64_t *set = xcalloc(cap, sizeof *set);
		for (size_t i = 0; i < cache_cap; i++)
			if (cache_set[i])
				cache_insert(set, cap, cache_set[i]);
		free(cache_set);
		cache_set = set;
		cache_cap = cap;
	}
	cache_insert(cache_set, cache_cap, h);
	cache_len++;
}

/*
 * The API's split of the prompt into uncached, cache-write and cache-read
 * tokens. Like the API, a lookup from a breakpoint also tries the prefixes
 * ending at up to CACHE_LOOKBACK - 1 blocks before it, so a conversation that
 * moves its breakpoint to the newest message still reads the older prefix.
 * Only breakpoint prefixes are written.
 */
void cache_account(const struct info *inf, long *input, long *create, long *read_)
{
	*create = *read_ = 0;
	if (inf->nbp) {
		int hit = 0;
		for (size_t b = inf->nbp; b-- > 0 && !hit;) {
			size_t lo = inf->bp[b] + 1 > CACHE_LOOKBACK ? inf->bp[b] + 1 - CACHE_LOOKBACK : 0;
			for (size_t j = inf->bp[b] + 1; j-- > lo && !hit;)
				if (cache_has(inf->blk_hash[j])) {
					*read_ = inf->blk_tokens[j];
					hit = 1;
				}
		}
		size_t last = inf->bp[inf->nbp - 1];
		if (!cache_has(inf->blk_hash[last]))
			*create = inf->blk_tokens[last] - *read_;
		for (size_t b = 0; b < inf->nbp; b++)
			cache_add(inf->blk_hash[inf->bp[b]]);
	}
	*input = inf->total_tokens - *read_ - *create;
	if (*input < 0)
		*input = 0;
}
