#ifndef BLLM_TOOLS_H
#define BLLM_TOOLS_H
/*
 * The local tools an agent may call, with Claude Code's names and input
 * shapes:
 *   Read  {file_path, offset?, limit?}        lines numbered like `cat -n`
 *   Write {file_path, content}
 *   Edit  {file_path, old_string, new_string, replace_all?}
 *   Glob  {pattern, path?}                    matching paths, newest first
 *   Grep  {pattern, path?, glob?}             regex (POSIX ERE) over files
 *   Bash  {command, timeout?}                 timeout in milliseconds as in
 *                                             Claude Code, default 120 s
 * Every path is confined to the workspace root (lib/path.h); a refusal,
 * a tool not given to the agent, a missing or mistyped argument, all come
 * back as an is_error result with a one-line reason for the model, never
 * as a crash. Nothing outside the root is read or touched.
 *
 * jv ownership: tool_run borrows input; results own their jv fields.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

struct sandbox_policy;
struct sandbox_host;

enum tool_id { TOOL_READ, TOOL_WRITE, TOOL_EDIT, TOOL_GLOB, TOOL_GREP, TOOL_BASH, TOOL_COUNT };
#define TOOL_BIT(id) (1u << (id))

struct tool_ctx {
	const char *root;		/* canonical absolute workspace root */
	unsigned allowed;		/* TOOL_BIT()s of the tools this agent has */
	double bash_timeout_s;		/* default 120 */
	size_t output_cap;		/* characters kept of any result, default 30000 */
	double search_timeout_s;	/* Glob and Grep run at most this long, default 30 */
	/* Bash runs in this sandbox when it is enabled (lib/sandbox.h); NULL: unconfined. */
	const struct sandbox_policy *sandbox;
	const struct sandbox_host *sandbox_host;
	/* Canonical paths no tool reads, lists or searches (the state, sessions
	 * and logs directories), besides every .env file. */
	const char *const *hidden;
	size_t n_hidden;
};

/* Case-insensitive ("read" is Read). -1 when unknown. */
int tool_lookup(const char *name);
const char *tool_name(enum tool_id id);
/* The API tool definition {"name","description","input_schema"} (new ref). */
jv tool_definition(enum tool_id id);

struct tool_result {
	jv content;		/* string shown to the model (capped, "[output truncated: ...]" noted) */
	bool is_error;
	int exit_code;		/* Bash's exit status; -1 for other tools */
	bool timed_out;		/* Bash only */
	jv files_changed;	/* array of paths relative to the root that Write/Edit changed */
	char *diff;		/* Write/Edit: unified hunks of the change (lib/diff.h), at most
				 * TOOL_DIFF_CAP bytes, or NULL (malloc'd) */
};

/* Whether abs (canonical) is a .env file or lies under one of ctx->hidden. */
bool tool_path_hidden(const struct tool_ctx *ctx, const char *abs);

/* The most bytes of a tool_result's diff; past it the hunks are cut at a line. */
#define TOOL_DIFF_CAP 20000

/* Runs one tool call. Never fails: problems are is_error results. */
struct tool_result tool_run(const struct tool_ctx *ctx, const char *name, jv input);
void tool_result_free(struct tool_result *r);

#endif
