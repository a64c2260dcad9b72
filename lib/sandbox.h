#ifndef BLLM_SANDBOX_H
#define BLLM_SANDBOX_H
/*
 * The command sandbox: every Bash command an agent runs goes through
 * bubblewrap (bwrap), which gives it the system read-only, the workspace
 * read-write (and only it), a private /tmp, an empty HOME, fresh /dev and
 * /proc in a PID namespace of its own, no network unless the policy allows
 * it, a new session, and dies with its parent. Resource limits (CPU time,
 * address space, processes, file size) are set on the way in.
 *
 * The policy comes from configuration only (system_config `sandbox`, an
 * agent's own `sandbox`, `--sandbox off` on the command line): nothing a
 * model writes can reach it.
 *
 * sandbox_argv is a pure function of the policy (unit-tested over its
 * output); the rest (finding bwrap, probing it, reading the system's
 * layout) touches the file system.
 *
 * jv ownership: sandbox_policy_from_json borrows its jv arguments.
 */
#include <stdbool.h>
#include <stddef.h>
#include <jv.h>

struct sandbox_limits {
	double cpu_seconds;	/* RLIMIT_CPU; 0: unchanged */
	double memory_bytes;	/* RLIMIT_AS; 0: unchanged */
	double processes;	/* RLIMIT_NPROC and a pids cgroup where one can be made; 0: unchanged */
	double file_size_bytes;	/* RLIMIT_FSIZE; 0: unchanged */
};

/* One top-level system entry: bound read-only, or a symlink (merged /usr). */
struct sandbox_mount {
	const char *path;	/* "/usr", "/lib" */
	const char *symlink;	/* "usr/lib" when path is a symlink to it, else NULL */
};

/* A path hidden from commands: an empty read-only file or directory over it. */
struct sandbox_mask {
	const char *path;
	bool is_dir;
};

struct sandbox_policy {
	bool enabled;			/* mode "sandbox"; false: mode "off" */
	bool network;			/* share the host's network */
	const char *workspace;		/* canonical absolute path, bound read-write */
	const char *const *read_only;	/* extra paths bound read-only */
	size_t n_read_only;
	const char *const *read_write;	/* extra paths bound read-write */
	size_t n_read_write;
	struct sandbox_limits limits;
};

/*
 * Everything sandbox_argv needs besides the policy: where bwrap is, the
 * system's top-level layout and the existing paths to mask (both found by
 * sandbox_layout_read / sandbox_masks_for, or given by a test).
 */
struct sandbox_host {
	const char *bwrap;		/* absolute path of bwrap */
	const struct sandbox_mount *system;
	size_t n_system;
	const struct sandbox_mask *masks;
	size_t n_masks;
};

/* HOME inside the sandbox: empty, writable, inside the private /tmp. */
#define SANDBOX_HOME "/tmp/home"

/*
 * The argument vector that runs `/bin/sh -c command` in the sandbox
 * (NULL-terminated, every string malloc'd; free with sandbox_argv_free).
 * Pure: it looks at nothing but its arguments.
 */
char **sandbox_argv(const struct sandbox_policy *p, const struct sandbox_host *h,
		    const char *command);
void sandbox_argv_free(char **argv);

/*
 * The policy from system_config's `sandbox` object with an agent's own
 * `sandbox` object (or jv_null()) over it, then mode_override ("off",
 * "sandbox" or NULL: the command line's --sandbox) over both. Strings in
 * the result point into the returned storage; free with
 * sandbox_policy_free. Returns 0, or -1 with *err naming the field.
 * Both jv are borrowed.
 */
int sandbox_policy_from_json(jv system, jv agent, const char *mode_override,
			     struct sandbox_policy *p, char **err);
void sandbox_policy_free(struct sandbox_policy *p);

/*
 * Whether `over` is looser than `base` (a sandbox object of system_config
 * or of an agent, either may be jv_null()): mode off, network on, or
 * extra paths. Sets *what to the field that loosens it. Borrows both.
 */
bool sandbox_json_loosens(jv over, const char **what);

/* "sandbox" or "off", for the init event and messages. */
const char *sandbox_mode_name(const struct sandbox_policy *p);

/*
 * What a command's exit code says about the sandbox's limits: "stopped by
 * the sandbox's CPU-time limit" for 128+SIGXCPU, the file-size limit for
 * 128+SIGXFSZ; NULL for anything else. Pure.
 */
const char *sandbox_limit_note(int exit_code);

/*
 * bwrap's absolute path: $BLLM_BWRAP when set (NULL when that is not
 * executable), else the first "bwrap" on PATH, else /usr/bin/bwrap; NULL
 * if none (malloc'd).
 */
char *sandbox_find_bwrap(void);

/* The system's top-level layout (static storage, read once). */
void sandbox_layout_read(const struct sandbox_mount **system, size_t *n);

/*
 * Paths to hide that exist and fall inside a tree the sandbox shows (the
 * workspace, the extra paths, /etc): .env, the state directory, the
 * given extra paths (sessions, logs, config), ~/.ssh and the like.
 * Strings malloc'd; free with sandbox_masks_free.
 */
void sandbox_masks_for(const struct sandbox_policy *p, const char *const *extra, size_t n_extra,
		       struct sandbox_mask **masks, size_t *n);
void sandbox_masks_free(struct sandbox_mask *masks, size_t n);

/*
 * Fills h for policy p: bwrap found on PATH (h->bwrap NULL when missing),
 * the system layout, and the masks (sandbox_masks_for with extra).
 * Free with sandbox_host_free.
 */
void sandbox_host_init(struct sandbox_host *h, const struct sandbox_policy *p,
		       const char *const *extra, size_t n_extra);
void sandbox_host_free(struct sandbox_host *h);

/*
 * Runs `true` in the sandbox once. Returns 0 when bubblewrap works here;
 * else -1 with *err, one line naming the cause and the two ways forward
 * (install bubblewrap, or --sandbox off deliberately).
 */
int sandbox_probe(const struct sandbox_policy *p, char **err);

/*
 * Makes a pids cgroup limited to max processes for one command, where the
 * system allows it (cgroup v1 "pids" hierarchy, or v2 with pids enabled).
 * Returns an open descriptor of its cgroup.procs (the child writes its own
 * PID there before exec) and *dir (malloc'd, for sandbox_cgroup_remove),
 * or -1 when no cgroup can be made (RLIMIT_NPROC alone then applies).
 */
int sandbox_cgroup_make(double max, char **dir);
/* Kills whatever is left in the cgroup and removes it; frees dir. */
void sandbox_cgroup_remove(char *dir);

#endif
