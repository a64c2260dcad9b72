/*
 * libFuzzer target: each tool's input parsing (Read, Write, Edit, Glob,
 * Grep; never Bash, which would run what the fuzzer writes). The first
 * byte picks the tool, the rest is its JSON input; the tools run for real
 * in a scratch workspace, which is wiped every so often. Every call must
 * give a result (an error is fine) and nothing outside the workspace.
 * lib/tools.c is built in so that Glob and Grep run without a fork.
 * Build and run: make fuzz.
 */
#include "../../lib/tools.c"

#include <stdint.h>

static char base[64], ws[PATH_MAX];
static unsigned calls;

static void wipe(const char *path)
{
	char cmd[PATH_MAX + 32];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
	if (system(cmd) != 0)
		abort();
}

static void fresh_workspace(void)
{
	wipe(ws);
	mkdir(ws, 0755);
	char p[PATH_MAX + 32];
	snprintf(p, sizeof p, "%s/a.txt", ws);
	FILE *f = fopen(p, "w");
	if (!f)
		abort();
	fputs("alpha\nbeta\ngamma\n", f);
	fclose(f);
	snprintf(p, sizeof p, "%s/out", ws);
	if (symlink("/etc", p) < 0)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!base[0]) {
		strcpy(base, "/tmp/bllm-fuzz-tools-XXXXXX");
		if (!mkdtemp(base))
			abort();
		snprintf(ws, sizeof ws, "%s/ws", base);
		fresh_workspace();
	}
	if (size < 1 || size > 8192)
		return 0;
	if (++calls % 500 == 0)
		fresh_workspace();
	static const tool_fn fns[] = { tool_read, tool_write, tool_edit, tool_glob, tool_grep };
	tool_fn fn = fns[data[0] % 5];
	jv input = jv_parse_sized((const char *)data + 1, (int)(size - 1));
	if (jv_get_kind(input) != JV_KIND_OBJECT) {
		jv_free(input);
		return 0;
	}
	struct tool_ctx ctx = { .root = ws, .allowed = ~0u, .bash_timeout_s = 1,
				.search_timeout_s = 1, .output_cap = 4096 };
	struct tool_result r = { jv_string(""), false, -1, false, jv_array() };
	fn(&ctx, input, &r);
	if (jv_get_kind(r.content) != JV_KIND_STRING)
		abort();
	tool_result_free(&r);
	jv_free(input);
	return 0;
}
