#define _DEFAULT_SOURCE	/* realpath */
#include "config.h"
#include "config_keys.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "io.h"
#include "sandbox.h"
#include "sha256.h"
#include "tools.h"

#ifndef BLLM_SHARE_DIR
#define BLLM_SHARE_DIR "/usr/local/share/bllm"
#endif

static const char default_system_config[] =
#include "system_defaults.inc"
	;

static const struct {
	const char *agent;
	const char *prompt;
} builtin_prompts[] = {
	{ "manager", "You are the manager of a team of software agents. Use the worker tools "
		     "(planner, coder, reviewer, tester, committer) in that order to complete the "
		     "user's request, check each result, and end with a summary and TERMINATE." },
	{ "planner", "You are the planner. Read the relevant code and write a short, concrete, "
		     "numbered implementation plan naming the files and functions to change and the "
		     "tests that will show it works. Do not change any file." },
	{ "coder", "You are the coder. Implement the plan with the smallest correct change, "
		   "build the code, and report the files you changed." },
	{ "reviewer", "You are the reviewer. Read the change and judge its correctness. End with "
		      "a line `VERDICT: APPROVED` or `VERDICT: CHANGES_REQUESTED` and the reasons." },
	{ "tester", "You are the tester. Build the code and run its tests with the Bash tool. "
		    "Report every command you ran and whether it passed." },
	{ "committer", "You are the committer. Commit only work that was verified by passing tests, "
		       "with a clear commit message, using git through the Bash tool." },
};

const char *config_builtin_prompt(const char *agent_name)
{
	for (size_t i = 0; i < sizeof builtin_prompts / sizeof builtin_prompts[0]; i++)
		if (strcmp(builtin_prompts[i].agent, agent_name) == 0)
			return builtin_prompts[i].prompt;
	return "You are a careful software engineering agent. Do the task you are given "
	       "with the tools you have, and report what you did.";
}

static char *trim(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	char *e = s + strlen(s);
	while (e > s && isspace((unsigned char)e[-1]))
		*--e = '\0';
	return s;
}

static const char *const credential_names[] = { "ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN",
						"ANTHROPIC_AUTH_TOKEN" };

const char *config_dotenv_conflict(bool url_from_file, bool key_from_file, bool key_elsewhere)
{
	if (url_from_file && key_elsewhere && !key_from_file)
		return "sets ANTHROPIC_BASE_URL while the API key comes from the environment: the "
		       "key would go to a server this file names. A .env may set the base URL only "
		       "together with the key it holds; set ANTHROPIC_BASE_URL in the environment "
		       "if you mean it";
	return NULL;
}

int config_load_dotenv(const char *path, char **err)
{
	bool key_elsewhere = false, key_from_file = false, url_from_file = false;
	for (size_t i = 0; i < sizeof credential_names / sizeof credential_names[0]; i++) {
		const char *v = getenv(credential_names[i]);
		key_elsewhere = key_elsewhere || (v && *v);
	}
	struct buf b = BUF_INIT;
	char *ioerr = NULL;
	if (io_read_file(path, &b, &ioerr) < 0) {
		int missing = errno == ENOENT;
		buf_free(&b);
		if (missing) {
			free(ioerr);
			return 0;
		}
		*err = ioerr;
		return -1;
	}
	int lineno = 0, rc = 0;
	char *next = b.data;
	while (next && *next) {
		char *line = next;
		char *nl = strchr(line, '\n');
		next = nl ? nl + 1 : NULL;
		if (nl)
			*nl = '\0';
		lineno++;
		char *s = trim(line);
		if (*s == '\0' || *s == '#')
			continue;
		if (strncmp(s, "export ", 7) == 0)
			s = trim(s + 7);
		char *eq = strchr(s, '=');
		if (!eq || eq == s) {
			*err = xasprintf("%s: line %d: expected KEY=VALUE", path, lineno);
			rc = -1;
			break;
		}
		*eq = '\0';
		char *key = trim(s), *val = trim(eq + 1);
		size_t n = strlen(val);
		if (n >= 2 && (val[0] == '"' || val[0] == '\'') && val[n - 1] == val[0]) {
			val[n - 1] = '\0';
			val++;
		}
		/* Which bubblewrap confines the commands is the person's choice, never
		 * a file's in the directory (a repository could name a fake one). */
		if (strcmp(key, "BLLM_BWRAP") == 0)
			continue;
		bool was_set = getenv(key) != NULL;
		setenv(key, val, 0);
		if (!was_set && strcmp(key, "ANTHROPIC_BASE_URL") == 0)
			url_from_file = true;
		for (size_t i = 0; !was_set && i < sizeof credential_names / sizeof credential_names[0]; i++)
			key_from_file = key_from_file || (strcmp(key, credential_names[i]) == 0 && *val);
	}
	buf_free(&b);
	const char *conflict = rc == 0 ? config_dotenv_conflict(url_from_file, key_from_file,
								key_elsewhere) : NULL;
	if (conflict) {
		*err = xasprintf("%s: %s", path, conflict);
		unsetenv("ANTHROPIC_BASE_URL");
		rc = -1;
	}
	return rc;
}

static bool file_exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static char *dir_of(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

static int load_json_file(const char *path, jv *out, char **err)
{
	struct buf b = BUF_INIT;
	if (io_read_file(path, &b, err) < 0) {
		buf_free(&b);
		return -1;
	}
	jv v = jv_parse_sized(buf_str(&b), (int)b.len);
	buf_free(&b);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		*err = xasprintf("%s: invalid JSON: %s (fix the syntax)", path,
				 jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "parse error");
		jv_free(msg);
		return -1;
	}
	*out = v;
	return 0;
}

static const char *kind_word(jv_kind k)
{
	switch (k) {
	case JV_KIND_NUMBER: return "a number";
	case JV_KIND_STRING: return "a string";
	case JV_KIND_TRUE:
	case JV_KIND_FALSE: return "true or false";
	case JV_KIND_OBJECT: return "an object";
	case JV_KIND_ARRAY: return "an array";
	default: return "null";
	}
}

static bool same_kind(jv_kind a, jv_kind b)
{
	bool ab = a == JV_KIND_TRUE || a == JV_KIND_FALSE;
	bool bb = b == JV_KIND_TRUE || b == JV_KIND_FALSE;
	return a == b || (ab && bb);
}

/* Checks that every field of file that the defaults know has the defaults' type. */
static int check_kinds(jv defaults, jv file, const char *prefix, const char *path, char **err)
{
	int rc = 0;
	jv_object_foreach(file, key, val) {
		jv def = jv_object_get(jv_copy(defaults), jv_copy(key));
		char *name = prefix[0] ? xasprintf("%s.%s", prefix, jv_string_value(key))
				       : xstrdup(jv_string_value(key));
		if (rc == 0 && jv_is_valid(def) && !same_kind(jv_get_kind(def), jv_get_kind(val))) {
			*err = xasprintf("%s: field \"%s\": expected %s, got %s", path, name,
					 kind_word(jv_get_kind(def)), kind_word(jv_get_kind(val)));
			rc = -1;
		} else if (rc == 0 && jv_get_kind(def) == JV_KIND_OBJECT &&
			   strcmp(name, "pricing") != 0) {
			rc = check_kinds(def, val, name, path, err);
		}
		free(name);
		jv_free(def);
		jv_free(key);
		jv_free(val);
	}
	return rc;
}

static void add_warning(struct config *cfg, char *msg);

static void add_warning_cb(void *user, char *msg)
{
	add_warning(user, msg);
}

static int load_system_config(struct config *cfg, const char *dir, char **err)
{
	jv defaults = jv_parse(default_system_config);
	char *path = xasprintf("%s/system_config.json", dir);
	if (!file_exists(path)) {
		free(path);
		cfg->system = defaults;
		return 0;
	}
	jv file;
	if (load_json_file(path, &file, err) < 0) {
		free(path);
		jv_free(defaults);
		return -1;
	}
	if (jv_get_kind(file) != JV_KIND_OBJECT) {
		*err = xasprintf("%s: expected a JSON object at the top", path);
		jv_free(file);
		jv_free(defaults);
		free(path);
		return -1;
	}
	if (check_kinds(defaults, file, "", path, err) < 0) {
		jv_free(file);
		jv_free(defaults);
		free(path);
		return -1;
	}
	int rc = config_keys_check(file, path, add_warning_cb, cfg, err);
	cfg->system = jv_object_merge_recursive(defaults, file);
	cfg->system_config_path = path;
	return rc;
}

static void add_warning(struct config *cfg, char *msg)
{
	cfg->warnings = xrealloc(cfg->warnings, sizeof(char *) * (size_t)(cfg->n_warnings + 2));
	cfg->warnings[cfg->n_warnings++] = msg;
	cfg->warnings[cfg->n_warnings] = NULL;
}

/*
 * Whether a prompt file of a config found in the current directory stays
 * inside that config's own tree (the config directory's parent, where
 * prompts/ sits): otherwise it could name ~/.ssh/id_rsa, whose content
 * would go to the API as the system prompt. A missing file passes (the
 * built-in prompt is used).
 */
static bool prompt_inside_tree(const char *config_dir, const char *candidate)
{
	char *tree_name = xasprintf("%s/..", config_dir);
	char *tree = realpath(tree_name, NULL), *real = realpath(candidate, NULL);
	free(tree_name);
	bool ok = !real || (tree && (strcmp(tree, "/") == 0 ||
		  (strncmp(real, tree, strlen(tree)) == 0 && real[strlen(tree)] == '/')));
	free(tree);
	free(real);
	return ok;
}

static int load_prompt(struct config *cfg, struct agent_def *a, const char *config_dir,
		       char **err)
{
	if (!a->system_prompt_file) {
		a->system_prompt = xstrdup(config_builtin_prompt(a->name));
		return 0;
	}
	const char *file = a->system_prompt_file;
	char *candidates[3];
	int n = 0;
	if (file[0] == '/') {
		candidates[n++] = xstrdup(file);
	} else {
		candidates[n++] = xasprintf("%s/../%s", config_dir, file);
		candidates[n++] = xasprintf("%s/%s", config_dir, file);
		candidates[n++] = xstrdup(file);
	}
	for (int i = 0; i < n && !a->system_prompt; i++) {
		if (cfg->from_cwd && !prompt_inside_tree(config_dir, candidates[i])) {
			*err = xasprintf("%s: agent \"%s\": field \"system_prompt_file\": %s is outside "
					 "the config's own directory tree, which a config found in the "
					 "current directory may not name; move the prompt beside the "
					 "config or give the file with --config if you trust it",
					 cfg->agent_config_path, a->name, file);
			for (int j = 0; j < n; j++)
				free(candidates[j]);
			return -1;
		}
		struct buf b = BUF_INIT;
		char *ioerr = NULL;
		if (file_exists(candidates[i]) && io_read_file(candidates[i], &b, &ioerr) == 0)
			a->system_prompt = buf_detach(&b);
		free(ioerr);
		buf_free(&b);
	}
	for (int i = 0; i < n; i++)
		free(candidates[i]);
	if (!a->system_prompt) {
		a->system_prompt = xstrdup(config_builtin_prompt(a->name));
		a->prompt_fallback = true;
		add_warning(cfg, xasprintf("agent \"%s\": prompt file %s not found; using the built-in "
					   "prompt (create the file or fix \"system_prompt_file\")",
					   a->name, file));
	}
	return 0;
}

static char *opt_string(jv obj, const char *field, const char *path, int idx, char **err, bool *bad)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(field));
	char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = xstrdup(jv_string_value(v));
	else if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL && !*bad) {
		*err = xasprintf("%s: agents[%d]: field \"%s\": expected a string", path, idx, field);
		*bad = true;
	}
	jv_free(v);
	return s;
}

/* Borrows a. */
static int parse_agent(struct config *cfg, jv a, int idx, const char *path, const char *dir,
		       char **err)
{
	struct agent_def *d = &cfg->agents[cfg->n_agents];
	memset(d, 0, sizeof *d);
	bool bad = false;
	if (jv_get_kind(a) != JV_KIND_OBJECT) {
		*err = xasprintf("%s: agents[%d]: expected an object", path, idx);
		return -1;
	}
	d->name = opt_string(a, "name", path, idx, err, &bad);
	d->role = opt_string(a, "role", path, idx, err, &bad);
	d->system_prompt_file = opt_string(a, "system_prompt_file", path, idx, err, &bad);
	d->model = opt_string(a, "model", path, idx, err, &bad);
	d->sandbox = jv_object_get(jv_copy(a), jv_string("sandbox"));
	if (!jv_is_valid(d->sandbox))
		d->sandbox = jv_null();
	cfg->n_agents++;	/* from here config_free releases d */
	if (bad)
		return -1;
	if (!d->name || !d->name[0]) {
		*err = xasprintf("%s: agents[%d]: field \"name\": expected a non-empty string", path, idx);
		return -1;
	}
	if (!d->role)
		d->role = xasprintf("the %s agent", d->name);
	jv tools = jv_object_get(jv_copy(a), jv_string("tools"));
	int rc = 0;
	if (jv_get_kind(tools) == JV_KIND_ARRAY) {
		jv_array_foreach(tools, i, t) {
			int id = jv_get_kind(t) == JV_KIND_STRING ? tool_lookup(jv_string_value(t)) : -1;
			if (id < 0 && rc == 0) {
				*err = xasprintf("%s: agent \"%s\": field \"tools\": unknown tool %s "
						 "(known: Read, Write, Edit, Glob, Grep, Bash)", path, d->name,
						 jv_get_kind(t) == JV_KIND_STRING ? jv_string_value(t) : "(not a string)");
				rc = -1;
			} else if (id >= 0) {
				d->tools |= TOOL_BIT(id);
			}
			jv_free(t);
		}
	} else if (jv_is_valid(tools) && jv_get_kind(tools) != JV_KIND_NULL) {
		*err = xasprintf("%s: agent \"%s\": field \"tools\": expected an array of tool names",
				 path, d->name);
		rc = -1;
	}
	jv_free(tools);
	if (rc == 0)
		rc = load_prompt(cfg, d, dir, err);
	return rc;
}

static int parse_agent_config(struct config *cfg, jv root, const char *path, char **err)
{
	if (jv_get_kind(root) != JV_KIND_OBJECT) {
		*err = xasprintf("%s: expected an object {\"agents\": [...]}", path);
		return -1;
	}
	jv agents = jv_object_get(jv_copy(root), jv_string("agents"));
	if (jv_get_kind(agents) != JV_KIND_ARRAY) {
		jv_free(agents);
		*err = xasprintf("%s: field \"agents\": expected an array of agents", path);
		return -1;
	}
	char *dir = dir_of(path);
	int n = jv_array_length(jv_copy(agents)), rc = 0;
	cfg->agents = xcalloc((size_t)n + 1, sizeof *cfg->agents);
	for (int i = 0; i < n && rc == 0; i++) {
		jv a = jv_array_get(jv_copy(agents), i);
		rc = parse_agent(cfg, a, i, path, dir, err);
		jv_free(a);
		for (int j = 0; rc == 0 && j < cfg->n_agents - 1; j++)
			if (strcmp(cfg->agents[j].name, cfg->agents[cfg->n_agents - 1].name) == 0) {
				*err = xasprintf("%s: agent \"%s\" is defined twice", path,
						 cfg->agents[j].name);
				rc = -1;
			}
	}
	free(dir);
	jv_free(agents);
	return rc;
}

static int load(struct config *cfg, const char *explicit_path, char **err, int *exit_code);

/*
 * Checks every sandbox object (system_config's and each agent's). A config
 * found by default lookup in the current directory is the repository's,
 * not the person's: it may not loosen the sandbox.
 */
static int check_sandbox(const struct config *cfg, bool from_cwd, char **err)
{
	jv sys = jv_object_get(jv_copy(cfg->system), jv_string("sandbox"));
	int rc = 0;
	for (int i = -1; rc == 0 && i < cfg->n_agents; i++) {
		jv own = i < 0 ? jv_null() : jv_copy(cfg->agents[i].sandbox);
		const char *file = i < 0 ? cfg->system_config_path : cfg->agent_config_path;
		struct sandbox_policy p;
		char *why = NULL;
		const char *what = NULL;
		bool built = false;
		if (sandbox_policy_from_json(i < 0 ? sys : jv_null(), own, NULL, &p, &why) < 0) {
			*err = i < 0 ? xasprintf("%s: %s", file ? file : "system_config.json", why)
				     : xasprintf("%s: agent \"%s\": %s", file, cfg->agents[i].name, why);
			rc = -1;
		} else if ((built = true) && from_cwd && (i < 0 ? file != NULL : true) &&
			   sandbox_json_loosens(i < 0 ? sys : own, &what)) {
			*err = xasprintf("%s: %s\"sandbox.%s\" loosens the sandbox, which a config found "
					 "in the current directory may not do; give the file with "
					 "--config if you trust it", file, i < 0 ? "" : "agent ",
					 what);
			if (i >= 0) {
				char *named = xasprintf("%s: agent \"%s\": \"sandbox.%s\" loosens the "
							"sandbox, which a config found in the current "
							"directory may not do; give the file with --config "
							"if you trust it", file, cfg->agents[i].name, what);
				free(*err);
				*err = named;
			}
			rc = -1;
		}
		if (built)
			sandbox_policy_free(&p);
		free(why);
		jv_free(own);
	}
	jv_free(sys);
	return rc;
}

char *config_share_dir(void)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
	if (n <= 0)
		return NULL;
	self[n] = '\0';
	char *slash = strrchr(self, '/');
	if (!slash)
		return NULL;
	*slash = '\0';
	return xasprintf("%s/../share/bllm", self);
}

int config_load(struct config *cfg, const char *explicit_path, char **err, int *exit_code)
{
	int rc = load(cfg, explicit_path, err, exit_code);
	if (rc < 0)
		config_free(cfg);
	return rc;
}

static int load(struct config *cfg, const char *explicit_path, char **err, int *exit_code)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->system = jv_null();
	char *path = NULL;
	if (explicit_path) {
		if (!file_exists(explicit_path)) {
			*err = xasprintf("%s: config file not found (check --config)", explicit_path);
			*exit_code = 5;
			return -1;
		}
		path = xstrdup(explicit_path);
	} else if (file_exists("config/agent_config.json")) {
		path = xstrdup("config/agent_config.json");
	} else {
		/* Installed: ../share/bllm beside the program, wherever the prefix was. */
		char *share = config_share_dir();
		char *rel = share ? xasprintf("%s/config/agent_config.json", share) : NULL;
		free(share);
		if (rel && file_exists(rel)) {
			path = rel;
		} else if (file_exists(BLLM_SHARE_DIR "/config/agent_config.json")) {
			free(rel);
			path = xstrdup(BLLM_SHARE_DIR "/config/agent_config.json");
		} else {
			*err = xasprintf("no agent config found (tried config/agent_config.json, %s and "
					 BLLM_SHARE_DIR "/config/agent_config.json); give one with "
					 "--config FILE", rel ? rel : "../share/bllm beside the program");
			free(rel);
			*exit_code = 5;
			return -1;
		}
	}
	cfg->agent_config_path = path;
	cfg->from_cwd = !explicit_path && strcmp(path, "config/agent_config.json") == 0;
	*exit_code = 2;
	jv root;
	if (load_json_file(path, &root, err) < 0)
		return -1;
	int rc = parse_agent_config(cfg, root, path, err);
	jv_free(root);
	if (rc < 0)
		return -1;
	char *dir = dir_of(path);
	rc = load_system_config(cfg, dir, err);
	free(dir);
	if (rc == 0)
		rc = config_env_check(err);
	if (rc == 0)
		rc = check_sandbox(cfg, cfg->from_cwd, err);
	return rc;
}

void config_free(struct config *cfg)
{
	for (int i = 0; i < cfg->n_agents; i++) {
		struct agent_def *d = &cfg->agents[i];
		free(d->name);
		free(d->role);
		free(d->system_prompt_file);
		free(d->system_prompt);
		free(d->model);
		jv_free(d->sandbox);
	}
	free(cfg->agents);
	for (int i = 0; i < cfg->n_warnings; i++)
		free(cfg->warnings[i]);
	free(cfg->warnings);
	free(cfg->agent_config_path);
	free(cfg->system_config_path);
	jv_free(cfg->system);
	memset(cfg, 0, sizeof *cfg);
	cfg->system = jv_null();
}

const struct agent_def *config_agent(const struct config *cfg, const char *name)
{
	for (int i = 0; i < cfg->n_agents; i++)
		if (strcmp(cfg->agents[i].name, name) == 0)
			return &cfg->agents[i];
	return NULL;
}

char *config_agent_names(const struct config *cfg)
{
	struct buf b = BUF_INIT;
	for (int i = 0; i < cfg->n_agents; i++)
		buf_printf(&b, "%s%s", i ? ", " : "", cfg->agents[i].name);
	return buf_detach(&b);
}

jv config_get(const struct config *cfg, const char *dotted)
{
	jv v = jv_copy(cfg->system);
	char *copy = xstrdup(dotted), *save = NULL;
	for (char *part = strtok_r(copy, ".", &save); part; part = strtok_r(NULL, ".", &save)) {
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			jv_free(v);
			v = jv_invalid();
			break;
		}
		v = jv_object_get(v, jv_string(part));
	}
	free(copy);
	return v;
}

double config_number(const struct config *cfg, const char *dotted, double def)
{
	jv v = config_get(cfg, dotted);
	double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : def;
	jv_free(v);
	return d;
}

bool config_bool(const struct config *cfg, const char *dotted, bool def)
{
	jv v = config_get(cfg, dotted);
	bool b = jv_get_kind(v) == JV_KIND_TRUE ? true : jv_get_kind(v) == JV_KIND_FALSE ? false : def;
	jv_free(v);
	return b;
}

const char *config_string(const struct config *cfg, const char *dotted, const char *def)
{
	jv v = config_get(cfg, dotted);
	/* The string lives on inside cfg->system, which holds a reference. */
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : def;
	jv_free(v);
	return s;
}

struct retry_policy config_retry_policy(const struct config *cfg)
{
	struct retry_policy p = {
		.max_attempts = (int)config_number(cfg, "performance.worker_retry_max_attempts", 3),
		.base_delay_s = config_number(cfg, "performance.worker_retry_base_delay", 1.0),
		.max_delay_s = config_number(cfg, "performance.worker_retry_max_delay", 30.0),
		.jitter = config_number(cfg, "performance.worker_retry_jitter", 0.1),
		.exponential = config_bool(cfg, "performance.worker_retry_exponential", true),
		.retry_after_max_s = config_number(cfg, "performance.retry_after_max", 300),
	};
	if (!config_bool(cfg, "performance.worker_retry_enabled", true) || p.max_attempts < 1)
		p.max_attempts = 1;
	return p;
}

double config_worker_timeout(const struct config *cfg, const char *agent, double def)
{
	struct buf name = BUF_INIT;
	buf_appends(&name, "WORKER_TIMEOUT_");
	for (const char *p = agent; *p; p++)
		buf_appendc(&name, (char)toupper((unsigned char)*p));
	const char *env = getenv(name.data);
	buf_free(&name);
	if (env && *env) {
		char *end;
		double v = strtod(env, &end);
		if (*end == '\0' && v > 0)
			return v;
	}
	char *key = xasprintf("timeouts.%s", agent);
	double v = config_number(cfg, key, def);
	free(key);
	return v;
}

char *config_state_dir(void)
{
	const char *s = getenv("BLLM_STATE_DIR");
	if (s && *s)
		return xstrdup(s);
	/* The XDG spec says a relative $XDG_STATE_HOME is invalid and ignored. */
	s = getenv("XDG_STATE_HOME");
	if (s && *s == '/')
		return xasprintf("%s/bllm", s);
	s = getenv("HOME");
	if (!s || !*s) {
		struct passwd *pw = getpwuid(getuid());
		s = pw ? pw->pw_dir : NULL;
	}
	return s && *s ? xasprintf("%s/.local/state/bllm", s) : NULL;
}

char *config_workspace_name(const char *workspace)
{
	const char *base = strrchr(workspace, '/');
	base = base && base[1] ? base + 1 : "root";
	struct buf b = BUF_INIT;
	for (const char *p = base; *p && b.len < 40; p++)
		buf_appendc(&b, isalnum((unsigned char)*p) || *p == '.' || *p == '_' || *p == '-' ? *p : '_');
	if (b.len && b.data[0] == '.')
		b.data[0] = '_';
	struct sha256 h;
	unsigned char d[32];
	sha256_init(&h);
	sha256_update(&h, workspace, strlen(workspace));
	sha256_final(&h, d);
	buf_printf(&b, "-%02x%02x%02x%02x", d[0], d[1], d[2], d[3]);
	return buf_detach(&b);
}

/* Keeps the last answer of a lookup alive for the process (callers borrow it). */
static const char *keep(char **slot, char *value)
{
	free(*slot);
	*slot = value;
	return value;
}

const char *config_sessions_dir(const struct config *cfg, const char *workspace)
{
	static char *last;
	const char *set = cfg ? config_string(cfg, "sessions_dir", "") : "";
	if (*set)
		return set;
	char *state = config_state_dir();
	if (!state)
		return "sessions";
	char *name = config_workspace_name(workspace);
	const char *dir = keep(&last, xasprintf("%s/sessions/%s", state, name));
	free(name);
	free(state);
	return dir;
}

const char *config_log_dir(const struct config *cfg)
{
	static char *last;
	const char *env = getenv("LOG_DIR");
	if (env && *env)
		return env;
	const char *set = cfg ? config_string(cfg, "logging.dir", "") : "";
	if (*set)
		return set;
	char *state = config_state_dir();
	if (!state)
		return "logs";
	const char *dir = keep(&last, xasprintf("%s/logs", state));
	free(state);
	return dir;
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

char *config_model(const struct config *cfg, const char *agent, const char *flag)
{
	const struct agent_def *def = config_agent(cfg, agent);
	const char *m = nonempty(flag);
	if (!m && strcmp(agent, "manager") == 0)
		m = nonempty(getenv("BLLM_MANAGER_MODEL"));
	if (!m)
		m = nonempty(getenv("BLLM_MODEL"));
	if (!m && def)
		m = nonempty(def->model);
	if (!m)
		m = config_string(cfg, "api.model", "claude-sonnet-4-5");
	return xstrdup(m);
}
