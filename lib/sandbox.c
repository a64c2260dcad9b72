#define _DEFAULT_SOURCE	/* realpath */
#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "config.h"
#include "proc.h"

struct argv_builder {
	char **v;
	size_t n;
};

static void add(struct argv_builder *a, const char *s)
{
	a->v = xrealloc(a->v, (a->n + 2) * sizeof *a->v);
	a->v[a->n++] = xstrdup(s);
	a->v[a->n] = NULL;
}

static void add2(struct argv_builder *a, const char *x, const char *y)
{
	add(a, x);
	add(a, y);
}

static void add3(struct argv_builder *a, const char *x, const char *y, const char *z)
{
	add(a, x);
	add(a, y);
	add(a, z);
}

/*
 * Order matters to bwrap: later mounts go on top of earlier ones. So the
 * system first, then the private /tmp, the extra read-only paths, the
 * workspace and the extra read-write paths (any of which may lie under
 * /tmp), and the masks last, over whatever tree they fall in.
 */
char **sandbox_argv(const struct sandbox_policy *p, const struct sandbox_host *h,
		    const char *command)
{
	struct argv_builder a = { NULL, 0 };
	add(&a, h->bwrap);
	/* A user namespace of its own in which no further one can be made, and
	 * no capabilities (bwrap keeps them all for root otherwise: mount, mknod). */
	add(&a, "--unshare-all");
	add(&a, "--unshare-user");
	add(&a, "--disable-userns");
	add2(&a, "--cap-drop", "ALL");
	if (p->network)
		add(&a, "--share-net");
	add(&a, "--die-with-parent");
	add(&a, "--new-session");
	for (size_t i = 0; i < h->n_system; i++) {
		if (h->system[i].symlink)
			add3(&a, "--symlink", h->system[i].symlink, h->system[i].path);
		else
			add3(&a, "--ro-bind", h->system[i].path, h->system[i].path);
	}
	add2(&a, "--proc", "/proc");
	add2(&a, "--dev", "/dev");
	add2(&a, "--tmpfs", "/tmp");
	add2(&a, "--dir", SANDBOX_HOME);
	for (size_t i = 0; i < p->n_read_only; i++)
		add3(&a, "--ro-bind", p->read_only[i], p->read_only[i]);
	add3(&a, "--bind", p->workspace, p->workspace);
	for (size_t i = 0; i < p->n_read_write; i++)
		add3(&a, "--bind", p->read_write[i], p->read_write[i]);
	for (size_t i = 0; i < h->n_masks; i++) {
		if (h->masks[i].is_dir) {
			add2(&a, "--tmpfs", h->masks[i].path);
			add2(&a, "--remount-ro", h->masks[i].path);
		} else {
			add3(&a, "--ro-bind", "/dev/null", h->masks[i].path);
		}
	}
	add2(&a, "--chdir", p->workspace);
	add3(&a, "--setenv", "HOME", SANDBOX_HOME);
	add3(&a, "--setenv", "TMPDIR", "/tmp");
	add(&a, "--");
	add3(&a, "/bin/sh", "-c", command);
	return a.v;
}

void sandbox_argv_free(char **argv)
{
	if (!argv)
		return;
	for (size_t i = 0; argv[i]; i++)
		free(argv[i]);
	free(argv);
}

const char *sandbox_mode_name(const struct sandbox_policy *p)
{
	return p->enabled ? "sandbox" : "off";
}

/* Appends the strings of arr (an array of strings, checked) to *v. Borrows arr. */
static int take_paths(jv arr, const char *field, const char ***v, size_t *n, char **err)
{
	if (!jv_is_valid(arr) || jv_get_kind(arr) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(arr) != JV_KIND_ARRAY) {
		*err = xasprintf("\"sandbox.%s\": expected an array of absolute paths", field);
		return -1;
	}
	int len = jv_array_length(jv_copy(arr));
	for (int i = 0; i < len; i++) {
		jv s = jv_array_get(jv_copy(arr), i);
		if (jv_get_kind(s) != JV_KIND_STRING || jv_string_value(s)[0] != '/' ||
		    (size_t)jv_string_length_bytes(jv_copy(s)) != strlen(jv_string_value(s))) {
			jv_free(s);
			*err = xasprintf("\"sandbox.%s[%d]\": expected an absolute path", field, i);
			return -1;
		}
		*v = xrealloc(*v, (*n + 1) * sizeof **v);
		(*v)[(*n)++] = xstrdup(jv_string_value(s));
		jv_free(s);
	}
	return 0;
}

/* obj[key] when obj is an object, else jv_invalid(). Borrows obj. */
static jv field(jv obj, const char *key)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return jv_invalid();
	return jv_object_get(jv_copy(obj), jv_string(key));
}

/* One sandbox object (system's or an agent's) applied over *p. Borrows s. */
static int apply(jv s, const char *mode_override, struct sandbox_policy *p, char **err)
{
	(void)mode_override;
	if (!jv_is_valid(s) || jv_get_kind(s) == JV_KIND_NULL)
		return 0;
	if (jv_get_kind(s) != JV_KIND_OBJECT) {
		*err = xstrdup("\"sandbox\": expected an object");
		return -1;
	}
	int rc = 0;
	jv mode = field(s, "mode");
	if (jv_get_kind(mode) == JV_KIND_STRING && strcmp(jv_string_value(mode), "sandbox") == 0)
		p->enabled = true;
	else if (jv_get_kind(mode) == JV_KIND_STRING && strcmp(jv_string_value(mode), "off") == 0)
		p->enabled = false;
	else if (jv_is_valid(mode)) {
		*err = xstrdup("\"sandbox.mode\": expected \"sandbox\" or \"off\"");
		rc = -1;
	}
	jv_free(mode);
	jv net = field(s, "network");
	if (rc == 0 && jv_get_kind(net) == JV_KIND_TRUE)
		p->network = true;
	else if (rc == 0 && jv_get_kind(net) == JV_KIND_FALSE)
		p->network = false;
	else if (rc == 0 && jv_is_valid(net)) {
		*err = xstrdup("\"sandbox.network\": expected true or false");
		rc = -1;
	}
	jv_free(net);
	jv ro = field(s, "read_only_paths"), rw = field(s, "read_write_paths");
	if (rc == 0)
		rc = take_paths(ro, "read_only_paths", (const char ***)&p->read_only, &p->n_read_only, err);
	if (rc == 0)
		rc = take_paths(rw, "read_write_paths", (const char ***)&p->read_write, &p->n_read_write, err);
	jv_free(ro);
	jv_free(rw);
	jv lim = field(s, "limits");
	static const struct {
		const char *key;
		size_t off;
	} keys[] = {
		{ "cpu_seconds", offsetof(struct sandbox_limits, cpu_seconds) },
		{ "memory_bytes", offsetof(struct sandbox_limits, memory_bytes) },
		{ "processes", offsetof(struct sandbox_limits, processes) },
		{ "file_size_bytes", offsetof(struct sandbox_limits, file_size_bytes) },
	};
	if (rc == 0 && jv_is_valid(lim) && jv_get_kind(lim) != JV_KIND_OBJECT) {
		*err = xstrdup("\"sandbox.limits\": expected an object");
		rc = -1;
	}
	for (size_t i = 0; rc == 0 && jv_get_kind(lim) == JV_KIND_OBJECT && i < 4; i++) {
		jv v = field(lim, keys[i].key);
		if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 0)
			*(double *)((char *)&p->limits + keys[i].off) = jv_number_value(v);
		else if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL) {
			*err = xasprintf("\"sandbox.limits.%s\": expected a number of at least 0 "
					 "(0: no limit)", keys[i].key);
			rc = -1;
		}
		jv_free(v);
	}
	jv_free(lim);
	return rc;
}

int sandbox_policy_from_json(jv system, jv agent, const char *mode_override,
			     struct sandbox_policy *p, char **err)
{
	memset(p, 0, sizeof *p);
	p->enabled = true;
	*err = NULL;
	if (apply(system, NULL, p, err) < 0 || apply(agent, NULL, p, err) < 0) {
		sandbox_policy_free(p);
		return -1;
	}
	if (mode_override)
		p->enabled = strcmp(mode_override, "off") != 0;
	return 0;
}

void sandbox_policy_free(struct sandbox_policy *p)
{
	for (size_t i = 0; i < p->n_read_only; i++)
		free((char *)p->read_only[i]);
	for (size_t i = 0; i < p->n_read_write; i++)
		free((char *)p->read_write[i]);
	free((void *)p->read_only);
	free((void *)p->read_write);
	memset(p, 0, sizeof *p);
}

bool sandbox_json_loosens(jv over, const char **what)
{
	if (jv_get_kind(over) != JV_KIND_OBJECT)
		return false;
	bool loose = false;
	jv mode = field(over, "mode"), net = field(over, "network");
	jv ro = field(over, "read_only_paths"), rw = field(over, "read_write_paths");
	if (jv_get_kind(mode) == JV_KIND_STRING && strcmp(jv_string_value(mode), "sandbox") != 0)
		loose = true, *what = "mode";
	else if (jv_get_kind(net) == JV_KIND_TRUE)
		loose = true, *what = "network";
	else if (jv_get_kind(ro) == JV_KIND_ARRAY && jv_array_length(jv_copy(ro)) > 0)
		loose = true, *what = "read_only_paths";
	else if (jv_get_kind(rw) == JV_KIND_ARRAY && jv_array_length(jv_copy(rw)) > 0)
		loose = true, *what = "read_write_paths";
	jv_free(mode);
	jv_free(net);
	jv_free(ro);
	jv_free(rw);
	return loose;
}

const char *sandbox_limit_note(int exit_code)
{
	if (exit_code == 128 + SIGXCPU)
		return "stopped by the sandbox's CPU-time limit (sandbox.limits.cpu_seconds)";
	if (exit_code == 128 + SIGXFSZ)
		return "stopped by the sandbox's file-size limit (sandbox.limits.file_size_bytes)";
	return NULL;
}

char *sandbox_find_bwrap(void)
{
	/* The person's choice of bwrap (a test names a missing one). */
	const char *chosen = getenv("BLLM_BWRAP");
	if (chosen && *chosen)
		return access(chosen, X_OK) == 0 ? xstrdup(chosen) : NULL;
	const char *path = getenv("PATH");
	if (path) {
		char *copy = xstrdup(path), *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			if (d[0] != '/')
				continue;	/* never a relative PATH entry: it is the workspace's */
			char *cand = xasprintf("%s/bwrap", d);
			if (access(cand, X_OK) == 0) {
				free(copy);
				return cand;
			}
			free(cand);
		}
		free(copy);
	}
	return access("/usr/bin/bwrap", X_OK) == 0 ? xstrdup("/usr/bin/bwrap") : NULL;
}

void sandbox_layout_read(const struct sandbox_mount **system, size_t *n)
{
	static const char *const tops[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64",
					    "/libx32", "/etc", "/opt" };
	static struct sandbox_mount found[sizeof tops / sizeof tops[0]];
	static char targets[sizeof tops / sizeof tops[0]][PATH_MAX];
	static size_t count;
	static bool done;
	if (!done) {
		for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) {
			struct stat st;
			if (lstat(tops[i], &st) < 0)
				continue;
			if (S_ISLNK(st.st_mode)) {
				ssize_t len = readlink(tops[i], targets[i], PATH_MAX - 1);
				if (len <= 0)
					continue;
				targets[i][len] = '\0';
				found[count++] = (struct sandbox_mount){ tops[i], targets[i] };
			} else if (S_ISDIR(st.st_mode)) {
				found[count++] = (struct sandbox_mount){ tops[i], NULL };
			}
		}
		done = true;
	}
	*system = found;
	*n = count;
}

/* under is dir itself or below it. */
static bool inside(const char *path, const char *dir)
{
	size_t n = strlen(dir);
	if (n == 1 && dir[0] == '/')
		return true;
	return strncmp(path, dir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

static void add_mask(const struct sandbox_policy *p, const char *path, struct sandbox_mask **m,
		     size_t *n)
{
	char *real = realpath(path, NULL);
	struct stat st;
	if (!real || stat(real, &st) < 0) {
		free(real);
		return;
	}
	/* Never mask the workspace itself, nor a tree that holds it. */
	bool visible = inside(real, p->workspace) && strcmp(real, p->workspace) != 0;
	for (size_t i = 0; !visible && i < p->n_read_only; i++)
		visible = inside(real, p->read_only[i]) && strcmp(real, p->read_only[i]) != 0;
	for (size_t i = 0; !visible && i < p->n_read_write; i++)
		visible = inside(real, p->read_write[i]) && strcmp(real, p->read_write[i]) != 0;
	visible = visible || inside(real, "/etc");
	for (size_t i = 0; visible && i < *n; i++)
		visible = strcmp((*m)[i].path, real) != 0;
	if (!visible || inside(p->workspace, real)) {
		free(real);
		return;
	}
	*m = xrealloc(*m, (*n + 1) * sizeof **m);
	(*m)[(*n)++] = (struct sandbox_mask){ real, S_ISDIR(st.st_mode) };
}

void sandbox_masks_for(const struct sandbox_policy *p, const char *const *extra, size_t n_extra,
		       struct sandbox_mask **masks, size_t *n)
{
	*masks = NULL;
	*n = 0;
	static const char *const in_home[] = { ".ssh", ".aws", ".config", ".gnupg", ".netrc",
					       ".docker", ".kube", ".git-credentials", ".npmrc",
					       ".pypirc", ".local/state", ".env" };
	static const char *const in_etc[] = { "/etc/shadow", "/etc/gshadow", "/etc/shadow-",
					      "/etc/gshadow-", "/etc/ssh", "/etc/sudoers" };
	char *envf = xasprintf("%s/.env", p->workspace);
	add_mask(p, envf, masks, n);
	free(envf);
	char *state = config_state_dir();
	if (state)
		add_mask(p, state, masks, n);
	free(state);
	for (size_t i = 0; i < n_extra; i++)
		if (extra[i])
			add_mask(p, extra[i], masks, n);
	const char *home = getenv("HOME");
	for (size_t i = 0; home && *home == '/' && i < sizeof in_home / sizeof in_home[0]; i++) {
		char *h = xasprintf("%s/%s", home, in_home[i]);
		add_mask(p, h, masks, n);
		free(h);
	}
	for (size_t i = 0; i < sizeof in_etc / sizeof in_etc[0]; i++)
		add_mask(p, in_etc[i], masks, n);
}

void sandbox_masks_free(struct sandbox_mask *masks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)masks[i].path);
	free(masks);
}

void sandbox_host_init(struct sandbox_host *h, const struct sandbox_policy *p,
		       const char *const *extra, size_t n_extra)
{
	memset(h, 0, sizeof *h);
	h->bwrap = sandbox_find_bwrap();
	sandbox_layout_read(&h->system, &h->n_system);
	struct sandbox_mask *m;
	sandbox_masks_for(p, extra, n_extra, &m, &h->n_masks);
	h->masks = m;
}

void sandbox_host_free(struct sandbox_host *h)
{
	free((char *)h->bwrap);
	sandbox_masks_free((struct sandbox_mask *)h->masks, h->n_masks);
	memset(h, 0, sizeof *h);
}

int sandbox_probe(const struct sandbox_policy *p, char **err)
{
	static const char fix[] = "install bubblewrap (scripts/install.sh, or apt-get install "
				  "bubblewrap), or give --sandbox off to run commands unconfined "
				  "deliberately";
	char *bwrap = sandbox_find_bwrap();
	if (!bwrap) {
		*err = xasprintf("the command sandbox cannot run: bwrap (bubblewrap) is not installed; %s",
				 fix);
		return -1;
	}
	const struct sandbox_mount *sys;
	size_t n_sys;
	sandbox_layout_read(&sys, &n_sys);
	struct sandbox_host h = { bwrap, sys, n_sys, NULL, 0 };
	char **argv = sandbox_argv(p, &h, "exit 0");
	struct proc_cmd cmd = { .argv = (const char *const *)argv, .dir = "/", .cgroup_fd = -1 };
	struct proc_capture pc;
	char *perr = NULL;
	int rc = proc_run(&cmd, 20, 1, 4096, &pc, &perr);
	sandbox_argv_free(argv);
	if (rc < 0) {
		*err = xasprintf("the command sandbox cannot run: %s: %s; %s", bwrap, perr, fix);
		free(perr);
		free(bwrap);
		return -1;
	}
	if (pc.exit_code != 0) {
		char *line = pc.output ? pc.output : "";
		line[strcspn(line, "\n")] = '\0';
		*err = xasprintf("the command sandbox cannot run: %s failed (%s); %s", bwrap,
				 *line ? line : pc.timed_out ? "timed out" : "no message", fix);
		proc_capture_free(&pc);
		free(bwrap);
		return -1;
	}
	proc_capture_free(&pc);
	free(bwrap);
	return 0;
}

/* The line of /proc/self/cgroup for a hierarchy: "pids" (v1) or "" (v2). */
static char *own_cgroup(const char *controller)
{
	FILE *f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return NULL;
	char line[4096];
	char *found = NULL;
	while (!found && fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *c1 = strchr(line, ':');
		char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		if (!c2)
			continue;
		*c2 = '\0';
		if (strcmp(c1 + 1, controller) == 0)
			found = xstrdup(c2 + 1);
	}
	fclose(f);
	return found;
}

static int write_text(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t w = write(fd, text, strlen(text));
	close(fd);
	return w == (ssize_t)strlen(text) ? 0 : -1;
}

int sandbox_cgroup_make(double max, char **dir)
{
	static unsigned counter;
	*dir = NULL;
	if (max <= 0)
		return -1;
	const char *base = NULL;
	char *own = NULL;
	struct stat st;
	if (stat("/sys/fs/cgroup/pids", &st) == 0 && (own = own_cgroup("pids")))
		base = "/sys/fs/cgroup/pids";
	else if (stat("/sys/fs/cgroup/cgroup.controllers", &st) == 0 && (own = own_cgroup("")))
		base = "/sys/fs/cgroup";
	if (!base)
		return -1;
	char *d = xasprintf("%s%s/bllm-%ld-%u", base, strcmp(own, "/") == 0 ? "" : own,
			    (long)getpid(), counter++);
	free(own);
	if (mkdir(d, 0700) < 0) {
		free(d);
		return -1;
	}
	char *maxf = xasprintf("%s/pids.max", d), *procs = xasprintf("%s/cgroup.procs", d);
	char num[32];
	snprintf(num, sizeof num, "%.0f", max);
	int fd = -1;
	if (write_text(maxf, num) == 0)
		fd = open(procs, O_WRONLY | O_CLOEXEC);
	free(maxf);
	free(procs);
	if (fd < 0) {
		rmdir(d);
		free(d);
		return -1;
	}
	*dir = d;
	return fd;
}

void sandbox_cgroup_remove(char *dir)
{
	if (!dir)
		return;
	char *procs = xasprintf("%s/cgroup.procs", dir);
	for (int attempt = 0; attempt < 100; attempt++) {
		if (rmdir(dir) == 0 || errno == ENOENT)
			break;
		FILE *f = fopen(procs, "r");
		long pid;
		while (f && fscanf(f, "%ld", &pid) == 1)
			if (pid > 1)
				kill((pid_t)pid, SIGKILL);
		if (f)
			fclose(f);
		struct timespec ts = { 0, 10 * 1000000 };
		nanosleep(&ts, NULL);
	}
	free(procs);
	free(dir);
}
