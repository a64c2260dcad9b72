#ifndef BLLM_CONFIG_H
#define BLLM_CONFIG_H
/*
 * Configuration: config/agent_config.json (the agents), config/
 * system_config.json (limits, retries, timeouts, prices, ...), a .env file
 * and the environment.
 *
 * Lookup order for agent_config.json: the --config FILE given, then
 * ./config/agent_config.json, then ../share/bllm/config/agent_config.json
 * relative to the running program (so an install works under any PREFIX
 * or DESTDIR without a rebuild), then the build-time
 * BLLM_SHARE_DIR/config/agent_config.json.
 * system_config.json is looked up beside the agent config that was found
 * (missing: built-in defaults). Prompt files are found relative to the
 * config directory's parent (where prompts/ sits beside config/), then to
 * the config directory, then to the current directory. Every error names
 * the file, the field and the fix.
 */
#include <stdbool.h>
#include <jv.h>

#include "anthropic.h"

struct agent_def {
	char *name;			/* "coder" */
	char *role;			/* one line: what it does */
	char *system_prompt_file;	/* as written in the config */
	char *system_prompt;		/* the loaded text (or the built-in fallback) */
	bool prompt_fallback;		/* the file was missing: built-in prompt used */
	char *model;			/* or NULL: the default model */
	unsigned tools;			/* TOOL_BIT()s */
	jv sandbox;			/* the agent's own "sandbox" object, or jv_null() (owned) */
};

struct config {
	char *agent_config_path;	/* the file that was loaded */
	char *system_config_path;	/* or NULL: built-in defaults */
	struct agent_def *agents;
	int n_agents;
	jv system;			/* system_config, merged over the defaults (owned) */
	bool from_cwd;			/* found by default lookup in the current directory:
					   the repository's, not the person's (lib/sandbox.h) */
	char **warnings;		/* NULL-terminated; e.g. missing prompt files */
	int n_warnings;
};

/*
 * Reads KEY=VALUE lines from path into the environment without overriding
 * variables already set. Blank lines, # comments and an `export ` prefix
 * are allowed; values may be quoted. A missing file is not an error.
 * Returns 0, or -1 with *err naming the file and line.
 */
int config_load_dotenv(const char *path, char **err);

/*
 * Whether a .env may stand: it may not set ANTHROPIC_BASE_URL (url_from_file)
 * while the credential came from elsewhere (key_elsewhere: the environment)
 * and not from the file itself (key_from_file), or a cloned repository's
 * .env would send the person's own key to its server. NULL when fine, else
 * the reason (static). config_load_dotenv refuses such a file with it.
 */
const char *config_dotenv_conflict(bool url_from_file, bool key_from_file, bool key_elsewhere);

/*
 * Loads the configuration. explicit_path is --config's value or NULL.
 * Returns 0; or -1 with *err and *exit_code set: 5 when no config file can
 * be found (naming the paths tried), 2 for a malformed file or field. On
 * failure cfg holds nothing (config_free on it is harmless).
 */
int config_load(struct config *cfg, const char *explicit_path, char **err, int *exit_code);
void config_free(struct config *cfg);

/* The named agent, or NULL. */
const struct agent_def *config_agent(const struct config *cfg, const char *name);
/* "planner, coder, reviewer" (malloc'd): for error messages. */
char *config_agent_names(const struct config *cfg);

/*
 * A value of system_config by dotted path ("performance.worker_retry_max_attempts"),
 * or def when it is missing. Types were checked at load time.
 */
double config_number(const struct config *cfg, const char *dotted, double def);
bool config_bool(const struct config *cfg, const char *dotted, bool def);
/* Borrowed from cfg->system; def when missing. */
const char *config_string(const struct config *cfg, const char *dotted, const char *def);
/* A new reference to the value at dotted (jv_invalid() when missing). */
jv config_get(const struct config *cfg, const char *dotted);

/* The retry policy from performance.worker_retry_*. */
struct retry_policy config_retry_policy(const struct config *cfg);

/*
 * The timeout in seconds for a worker agent: WORKER_TIMEOUT_<NAME> from the
 * environment (or .env), else system_config timeouts.<name>, else def.
 */
double config_worker_timeout(const struct config *cfg, const char *agent, double def);

/*
 * Where bllm keeps state (the response cache, the prompt history):
 * $BLLM_STATE_DIR, else $XDG_STATE_HOME/bllm (when absolute), else
 * $HOME/.local/state/bllm (malloc'd; NULL when no home is known).
 */
char *config_state_dir(void);

/*
 * A directory name for a workspace: its base name (made safe) and 8 hex
 * digits of its path's SHA-256, e.g. "wordcount-1a2b3c4d" (malloc'd). Pure.
 */
char *config_workspace_name(const char *workspace);

/*
 * Where sessions of a workspace go: system_config "sessions_dir" when set
 * (not empty), else STATE/sessions/NAME (config_workspace_name), so agents
 * working in the workspace never see them. cfg may be NULL. Borrowed:
 * valid until the next call.
 */
const char *config_sessions_dir(const struct config *cfg, const char *workspace);

/*
 * Where logs and metrics go: $LOG_DIR, else system_config logging.dir when
 * set (not empty), else STATE/logs. cfg may be NULL. Borrowed, as above.
 */
const char *config_log_dir(const struct config *cfg);

/*
 * The model an agent uses (malloc'd). The one place of the precedence:
 *   1. flag (--model of the program run; bllm-manage passes its --model
 *      on to every worker),
 *   2. for the manager only, $BLLM_MANAGER_MODEL,
 *   3. $BLLM_MODEL (every agent, the manager included),
 *   4. the agent's "model" in agent_config.json,
 *   5. api.model of system_config.json.
 * Empty values count as unset.
 */
char *config_model(const struct config *cfg, const char *agent, const char *flag);

/* The share directory of an installed program: DIR/../share/bllm for the
 * program's DIR (malloc'd; NULL when /proc/self/exe cannot be read). */
char *config_share_dir(void);

/* The built-in system prompt used when an agent's prompt file is missing. */
const char *config_builtin_prompt(const char *agent_name);

#endif
