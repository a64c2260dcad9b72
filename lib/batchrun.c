/* bllm-batch's processes: GNU parallel, git worktrees and bundles, bllm-manage. */
#define _DEFAULT_SOURCE	/* mkdtemp */
#include "batchrun.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "batch.h"
#include "buf.h"
#include "cmd.h"
#include "cli.h"
#include "io.h"
#include "json.h"
#include "session.h"

#define MAX_ARGS 64


static void rm_rf(const char *path)
{
	cmd_run(NULL, NULL, "rm", "-rf", "--", path, NULL);
}

/* The last result event of the top-level run in an event stream file, or jv_null(). */
static jv last_top_result(const char *path)
{
	jv found = jv_null();
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return found;
	struct line_reader lr;
	line_reader_init(&lr, fd);
	char *line;
	size_t len;
	while (line_reader_next(&lr, &line, &len) > 0) {
		if (!io_looks_like_json(line, len))
			continue;
		jv ev = jv_parse_sized(line, (int)len);
		const char *type = json_str(ev, "type");
		jv parent = json_get(ev, "parent_id");
		if (type && strcmp(type, "result") == 0 && jv_get_kind(parent) == JV_KIND_NULL) {
			jv_free(found);
			found = jv_copy(ev);
		}
		jv_free(parent);
		jv_free(ev);
	}
	line_reader_free(&lr);
	close(fd);
	return found;
}

/* Writes v (borrowed) as one JSON line to path, atomically (tmp, rename). */
static void write_json_file(const char *path, jv v)
{
	char *tmp = xasprintf("%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		int rc = io_write_json_line(fd, v);
		if (close(fd) == 0 && rc == 0)
			rename(tmp, path);
		else
			unlink(tmp);
	}
	free(tmp);
}

/* The lines of a command's output as a JSON array of strings (consumes nothing). */
static jv lines_array(const char *s)
{
	jv a = jv_array();
	while (*s) {
		const char *nl = strchr(s, '\n');
		size_t n = nl ? (size_t)(nl - s) : strlen(s);
		if (n)
			a = jv_array_append(a, jv_string_sized(s, (int)n));
		s += n + (nl ? 1 : 0);
	}
	return a;
}

/*
 * Commits everything the run changed in dir onto its branch. Without a
 * configured identity, commits as bllm-batch. Returns git's exit code.
 */
static int commit_all(const char *dir, const char *id, const char *task, int code)
{
	if (cmd_run(dir, NULL, "git", "add", "-A", NULL) != 0)
		return 1;
	if (cmd_run(dir, NULL, "git", "diff", "--cached", "--quiet", NULL) == 0)
		return 0;
	char *msg = xasprintf("bllm-batch %s: %.60s\n\n%s\n\nbllm-manage exit code: %d\n", id, task, task, code);
	struct buf who = BUF_INIT;
	int rc;
	if (cmd_run(dir, &who, "git", "config", "user.email", NULL) == 0)
		rc = cmd_run(dir, NULL, "git", "commit", "-q", "--no-verify", "-m", msg, NULL);
	else
		rc = cmd_run(dir, NULL, "git", "-c", "user.name=bllm-batch", "-c", "user.email=bllm-batch@localhost",
			 "commit", "-q", "--no-verify", "-m", msg, NULL);
	buf_free(&who);
	free(msg);
	return rc;
}

/* Runs bllm-manage on the task; passes SIGINT/SIGTERM on. Its exit code. */
static int run_manage(const struct batch_one_opts *o, const char *wt, const char *events,
		      const char *sessions, const char *task)
{
	char *manage = cli_sibling_program("bllm-manage");
	char *argv[MAX_ARGS + 16];
	int n = 0;
	argv[n++] = manage;
	argv[n++] = "--no-interactive";
	argv[n++] = "--quiet";
	argv[n++] = "-C";
	argv[n++] = (char *)wt;
	argv[n++] = "-o";
	argv[n++] = (char *)events;
	argv[n++] = "--sessions-dir";
	argv[n++] = (char *)sessions;
	for (int i = 0; i < o->n_manage_args && i < MAX_ARGS; i++)
		argv[n++] = o->manage_args[i];
	argv[n++] = "--";
	argv[n++] = (char *)task;
	argv[n] = NULL;
	/* Its own group: a signal reaches it once, from here, not also from parallel. */
	pid_t pid = cmd_spawn(argv, NULL, -1, NULL, true);
	free(manage);
	if (pid < 0)
		return 127;
	int st, passed = 0;
	for (;;) {
		if (waitpid(pid, &st, 0) == pid)
			break;
		if (errno != EINTR)
			return 1;
		if (o->signals && *o->signals > passed) {
			passed = *o->signals;
			kill(pid, SIGTERM);
		}
	}
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int batch_run_one(const struct batch_one_opts *o, jv task, char **err)
{
	const char *id = json_str(task, "id"), *text = json_str(task, "task");
	*err = NULL;
	if (!id || !text || !batch_id_valid(id)) {
		*err = xstrdup("--task: expected {\"id\": ..., \"task\": ...} with a valid id");
		return -1;
	}
	char *branch = xasprintf("%s%s", BATCH_BRANCH_PREFIX, id);
	char *tmp = NULL, *common_dir = NULL, *wt, *outdir, *sessions, *events;
	int rc;
	if (o->bundle) {
		const char *t = getenv("TMPDIR");
		tmp = xasprintf("%s/bllm-batch-%s-XXXXXX", t && *t ? t : "/tmp", id);
		if (!mkdtemp(tmp)) {
			*err = xasprintf("cannot create a directory in %s: %s", t && *t ? t : "/tmp", strerror(errno));
			free(tmp);
			free(branch);
			return -1;
		}
		wt = xasprintf("%s/wt", tmp);
		outdir = xasprintf("%s/out", tmp);
		sessions = xasprintf("%s/sessions", outdir);
		io_mkdirs(sessions, 0700);
		rc = cmd_run(NULL, NULL, "git", "clone", "-q", "--no-checkout", o->bundle, wt, NULL);
		if (rc == 0)
			rc = cmd_run(wt, NULL, "git", "checkout", "-q", "-b", branch, o->base, NULL);
	} else {
		struct buf common = BUF_INIT;
		cmd_run(o->repo, &common, "git", "rev-parse", "--path-format=absolute", "--git-common-dir", NULL);
		cmd_chomp(&common);
		common_dir = buf_detach(&common);
		wt = xasprintf("%s/bllm-batch/%s/%s", common_dir, o->batch_id, id);
		outdir = xasprintf("%s/batch-%s", o->sessions_dir, o->batch_id);
		sessions = xstrdup(o->sessions_dir);
		io_mkdirs(outdir, 0700);
		char *add[] = { "git", "worktree", "add", "-q", "-b", branch, wt, (char *)o->base, NULL };
		rc = cmd_run_locked(common_dir, add, o->repo);
	}
	events = xasprintf("%s/%s.ndjson", outdir, id);
	int code;
	jv result = jv_null(), files = jv_array();
	if (rc != 0) {
		code = 2;
		result = jv_object_set(jv_object_set(jv_object(), jv_string("status"), jv_string("error")),
				       jv_string("error"), jv_string_fmt("could not make the branch %s (git exit %d)", branch, rc));
	} else {
		code = run_manage(o, wt, events, sessions, text);
		result = last_top_result(events);
		commit_all(wt, id, text, code);
		struct buf names = BUF_INIT;
		cmd_run(wt, &names, "git", "diff", "--name-only", o->base, "HEAD", NULL);
		jv_free(files);
		files = lines_array(buf_str(&names));
		buf_free(&names);
	}
	jv out = batch_outcome(task, result, code, files);
	out = jv_object_set(out, jv_string("events"), jv_string(events));
	jv_free(result);
	if (o->bundle) {
		struct buf head = BUF_INIT;
		cmd_run(wt, &head, "git", "rev-parse", "HEAD", NULL);
		cmd_chomp(&head);
		char *bundle = xasprintf("%s/branch.bundle", outdir);
		char *exclude = xasprintf("^%s", o->base);
		if (rc == 0 && strcmp(buf_str(&head), o->base) != 0)
			cmd_run(wt, NULL, "git", "bundle", "create", "-q", bundle, branch, exclude, NULL);
		free(bundle);
		free(exclude);
		buf_free(&head);
		rm_rf(wt);
		struct buf payload = BUF_INIT;
		cmd_run_sh("tar czf - -C \"$1\" . | base64 -w0", -1, &payload, outdir, NULL);
		out = jv_object_set(out, jv_string("payload"), jv_string(buf_str(&payload)));
		buf_free(&payload);
		rm_rf(tmp);
	} else {
		char *remove[] = { "git", "worktree", "remove", "--force", wt, NULL };
		if (rc == 0)
			cmd_run_locked(common_dir, remove, o->repo);
		char *path = xasprintf("%s/%s.result.json", outdir, id);
		write_json_file(path, out);
		free(path);
	}
	io_write_json_line(1, out);
	jv_free(out);
	free(tmp);
	free(common_dir);
	free(wt);
	free(outdir);
	free(sessions);
	free(events);
	free(branch);
	return code;
}

/* The ssh command that reaches one login of --sshlogin, as parallel would run it. */
static char *ssh_command(const char *login)
{
	const char *slash = strchr(login, '/');
	if (slash && strspn(login, "0123456789") == (size_t)(slash - login))
		login = slash + 1;	/* "4/host": 4 jobs there */
	if (strchr(login, ' '))
		return xstrdup(login);	/* "ssh -p 2222 host": a whole command */
	const char *ssh = getenv("PARALLEL_SSH");
	struct buf b = BUF_INIT;
	buf_printf(&b, "%s ", ssh && *ssh ? ssh : "ssh");
	batch_shell_quote(login, &b);
	return buf_detach(&b);
}

/*
 * Runs remote (a shell command) on every login of --sshlogin (":" is this
 * machine), with stdin from the file in_path when not NULL. Returns 0, or
 * -1 with *err naming the login that failed.
 */
static int on_every_login(const char *sshlogin, const char *remote, const char *in_path, char **err)
{
	char *list = xstrdup(sshlogin), *save = NULL;
	int rc = 0;
	for (char *login = strtok_r(list, ",", &save); login && rc == 0; login = strtok_r(NULL, ",", &save)) {
		int in = in_path ? open(in_path, O_RDONLY | O_CLOEXEC) : -1;
		struct buf cmd = BUF_INIT;
		const char *bare = strchr(login, '/') ? strchr(login, '/') + 1 : login;
		if (strcmp(bare, ":") == 0) {
			buf_appends(&cmd, remote);
		} else {
			char *ssh = ssh_command(login);
			buf_printf(&cmd, "%s ", ssh);
			batch_shell_quote(remote, &cmd);
			free(ssh);
		}
		int code = cmd_run_sh(buf_str(&cmd), in, NULL, NULL, NULL);
		if (code != 0) {
			*err = xasprintf("--sshlogin %s: could not reach it (exit %d); check that `ssh %s true` works",
					 login, code, bare);
			rc = -1;
		}
		if (in >= 0)
			close(in);
		buf_free(&cmd);
	}
	free(list);
	return rc;
}

/* Where a remote run finds the shipped bundle (expanded by the remote shell). */
static char *remote_dir(const char *batch_id)
{
	return xasprintf("\"${TMPDIR:-/tmp}/bllm-batch-%s\"", batch_id);
}

/*
 * A remote outcome's payload into this repository: the stream beside the
 * local ones, the session into sessions_dir, the branch fetched from its
 * bundle (or made at base when the task changed nothing). Rewrites the
 * outcome's paths; returns it without the payload (consumes out).
 */
static jv unpack_remote(const struct batch_opts *o, const char *batchdir, const char *base, jv out)
{
	const char *id = json_str(out, "id"), *payload = json_str(out, "payload");
	char *dir = xasprintf("%s/%s.remote", batchdir, id);
	char *file = xasprintf("%s/%s.payload", batchdir, id);
	char *branch = xasprintf("%s%s", BATCH_BRANCH_PREFIX, id);
	io_mkdirs(dir, 0700);
	int fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd >= 0) {
		io_write_all(fd, payload ? payload : "", payload ? strlen(payload) : 0);
		close(fd);
	}
	cmd_run_sh("base64 -d \"$1\" | tar xzf - -C \"$2\"", -1, NULL, file, dir);
	unlink(file);
	char *events = xasprintf("%s/%s.ndjson", dir, id), *local_events = xasprintf("%s/%s.ndjson", batchdir, id);
	rename(events, local_events);
	out = jv_object_set(out, jv_string("events"), jv_string(local_events));
	const char *session = json_str(out, "session");
	if (session) {
		const char *name = strrchr(session, '/') ? strrchr(session, '/') + 1 : session;
		char *from = xasprintf("%s/sessions/%s", dir, name), *to = xasprintf("%s/%s", o->sessions_dir, name);
		char *jfrom = xasprintf("%s/sessions/%.*s.ndjson", dir, (int)strcspn(name, "."), name);
		char *jto = xasprintf("%s/%.*s.ndjson", o->sessions_dir, (int)strcspn(name, "."), name);
		rename(from, to);
		rename(jfrom, jto);
		out = jv_object_set(out, jv_string("session"), jv_string(to));
		free(from);
		free(to);
		free(jfrom);
		free(jto);
	}
	char *bundle = xasprintf("%s/branch.bundle", dir);
	char *refspec = xasprintf("refs/heads/%s:refs/heads/%s", branch, branch);
	if (access(bundle, R_OK) == 0)
		cmd_run(o->repo, NULL, "git", "fetch", "-q", bundle, refspec, NULL);
	else
		cmd_run(o->repo, NULL, "git", "branch", branch, base, NULL);
	rm_rf(dir);
	free(events);
	free(local_events);
	free(bundle);
	free(refspec);
	free(dir);
	free(file);
	free(branch);
	return jv_object_delete(out, jv_string("payload"));
}

/* The shell command parallel runs for each task line ({} is the line). */
static char *job_command(const struct batch_opts *o, const char *base, const char *batch_id)
{
	struct buf b = BUF_INIT;
	if (o->sshlogin) {
		char *dir = remote_dir(batch_id);
		buf_printf(&b, "bllm-batch --run-one --bundle %s/repo.bundle", dir);
		free(dir);
	} else {
		batch_shell_quote(o->self, &b);
		buf_appends(&b, " --run-one --repo ");
		batch_shell_quote(o->repo, &b);
		buf_appends(&b, " --sessions-dir ");
		batch_shell_quote(o->sessions_dir, &b);
	}
	buf_printf(&b, " --base %s --batch-id %s --task {} --", base, batch_id);
	for (int i = 0; i < o->n_manage_args; i++) {
		buf_appendc(&b, ' ');
		batch_shell_quote(o->manage_args[i], &b);
	}
	return buf_detach(&b);
}

/* Writes one finished task: its JSON line, or a progress line for people. */
static void report_one(const struct batch_opts *o, jv outcome)
{
	if (!o->table) {
		io_write_json_line(o->out_fd, outcome);
		return;
	}
	jv files = json_get(outcome, "files_changed");
	char *line = xasprintf("%s: %s (exit %d), %d file%s changed, on %s\n", json_str(outcome, "id"),
			       json_str(outcome, "status"), (int)json_num(outcome, "exit_code", 1),
			       jv_array_length(jv_copy(files)), jv_array_length(jv_copy(files)) == 1 ? "" : "s",
			       json_str(outcome, "branch"));
	io_write_all(o->out_fd, line, strlen(line));
	free(line);
	jv_free(files);
}

/* Removes the worktrees a killed task may have left and their directory. */
static void sweep_worktrees(const struct batch_opts *o, jv tasks, const char *batch_id)
{
	struct buf common = BUF_INIT;
	cmd_run(o->repo, &common, "git", "rev-parse", "--path-format=absolute", "--git-common-dir", NULL);
	cmd_chomp(&common);
	char *top = xasprintf("%s/bllm-batch", buf_str(&common));
	char *dir = xasprintf("%s/%s", top, batch_id);
	jv_array_foreach(tasks, i, t) {
		char *wt = xasprintf("%s/%s", dir, json_str(t, "id"));
		struct stat st;
		if (stat(wt, &st) == 0)
			cmd_run(o->repo, NULL, "git", "worktree", "remove", "--force", wt, NULL);
		free(wt);
		jv_free(t);
	}
	cmd_run(o->repo, NULL, "git", "worktree", "prune", NULL);
	rmdir(dir);
	rmdir(top);
	free(dir);
	free(top);
	buf_free(&common);
}

static int check_start(const struct batch_opts *o, jv tasks, struct buf *base, char **err)
{
	if (cmd_run(o->repo, base, "git", "rev-parse", "--verify", "-q", "HEAD^{commit}", NULL) != 0) {
		*err = xasprintf("%s: not a git repository with a commit (each task runs on a branch of one)", o->repo);
		return 2;
	}
	cmd_chomp(base);
	int code = 0;
	jv_array_foreach(tasks, i, t) {
		char *ref = xasprintf("refs/heads/%s%s", BATCH_BRANCH_PREFIX, json_str(t, "id"));
		if (code == 0 && cmd_run(o->repo, NULL, "git", "rev-parse", "--verify", "-q", ref, NULL) == 0) {
			*err = xasprintf("branch %s already exists: delete it (git branch -D %s) or give the task another id",
					 ref + 11, ref + 11);
			code = 2;
		}
		free(ref);
		jv_free(t);
	}
	return code;
}

int batch_run(const struct batch_opts *o, jv tasks, char **err)
{
	struct buf base = BUF_INIT;
	*err = NULL;
	int code = check_start(o, tasks, &base, err);
	char *batch_id = session_new_id();
	char *batchdir = xasprintf("%s/batch-%s", o->sessions_dir, batch_id);
	char *task_file = xasprintf("%s/tasks.in", batchdir);
	char *bundle = xasprintf("%s/repo.bundle", batchdir);
	char *rdir = remote_dir(batch_id);
	if (code == 0 && io_mkdirs(batchdir, 0700) < 0) {
		*err = xasprintf("%s: cannot create: %s", batchdir, strerror(errno));
		code = 2;
	}
	if (code == 0) {
		int fd = open(task_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		jv_array_foreach(tasks, i, t) {
			io_write_json_line(fd, t);
			jv_free(t);
		}
		close(fd);
	}
	bool shipped = false;
	if (code == 0 && o->sshlogin) {
		char *remote = xasprintf("mkdir -p %s && cat > %s/repo.bundle", rdir, rdir);
		if (cmd_run(o->repo, NULL, "git", "bundle", "create", "-q", bundle, "HEAD", NULL) != 0) {
			*err = xasprintf("%s: git bundle create failed", o->repo);
			code = 2;
		} else if (on_every_login(o->sshlogin, remote, bundle, err) < 0) {
			code = 5;
		}
		shipped = code == 0;
		free(remote);
	}
	jv outcomes = jv_array();
	jv_array_foreach(tasks, i, t) {
		outcomes = jv_array_append(outcomes, jv_null());
		jv_free(t);
	}
	if (code == 0) {
		char *cmd = job_command(o, buf_str(&base), batch_id);
		char jobs[16];
		snprintf(jobs, sizeof jobs, "%d", o->jobs);
		char *argv[] = { "parallel", "--will-cite", "-j", jobs, "--termseq", "TERM,20000,KILL,25",
				 "-a", task_file, cmd, NULL, NULL, NULL };
		if (o->sshlogin) {
			argv[8] = "--sshlogin";
			argv[9] = (char *)o->sshlogin;
			argv[10] = cmd;
		}
		int fd = -1;
		/* Its own group: a Ctrl-C reaches bllm-batch, which stops parallel once. */
		pid_t pid = cmd_spawn(argv, NULL, -1, &fd, true);
		struct line_reader lr;
		line_reader_init(&lr, fd);
		lr.cancel = o->signals;
		bool stopped = false;
		char *line;
		size_t len;
		for (;;) {
			int r = line_reader_next(&lr, &line, &len);
			if (r < 0 && errno == EINTR && !stopped) {
				kill(pid, SIGTERM);
				stopped = true;
				lr.cancel = NULL;
				continue;
			}
			if (r <= 0)
				break;
			jv out = io_looks_like_json(line, len) ? jv_parse_sized(line, (int)len) : jv_invalid();
			int k = jv_is_valid(out) ? batch_task_index(tasks, json_str(out, "id")) : -1;
			if (k < 0) {
				jv_free(out);
				continue;
			}
			if (o->sshlogin) {
				out = unpack_remote(o, batchdir, buf_str(&base), out);
				char *path = xasprintf("%s/%s.result.json", batchdir, json_str(out, "id"));
				write_json_file(path, out);
				free(path);
			}
			report_one(o, out);
			outcomes = jv_array_set(outcomes, k, out);
		}
		line_reader_free(&lr);
		if (fd >= 0)
			close(fd);
		int pcode = pid > 0 ? cmd_wait(pid) : 127;
		jv first = jv_array_length(jv_copy(outcomes)) > 0 ? jv_array_get(jv_copy(outcomes), 0) : jv_null();
		if (pcode == 127 && !stopped && jv_get_kind(first) == JV_KIND_NULL)
			*err = xstrdup("GNU parallel did not start: install it (Debian package parallel)");
		jv_free(first);
		free(cmd);
		sweep_worktrees(o, tasks, batch_id);
		bool interrupted = stopped || (o->signals && *o->signals > 0);
		/* Tasks that wrote no line through parallel (killed, interrupted): their file, else a verdict. */
		jv_array_foreach(tasks, i, t) {
			jv have = jv_array_get(jv_copy(outcomes), i);
			if (jv_get_kind(have) == JV_KIND_NULL) {
				char *path = xasprintf("%s/%s.result.json", batchdir, json_str(t, "id"));
				struct buf b = BUF_INIT;
				jv out = jv_invalid();
				char *rerr = NULL;
				if (io_read_file(path, &b, &rerr) == 0)
					out = jv_parse(buf_str(&b));
				free(rerr);
				if (!jv_is_valid(out)) {
					jv_free(out);
					out = batch_outcome(t, jv_null(), interrupted ? 130 : 1, jv_array());
				}
				report_one(o, out);
				outcomes = jv_array_set(outcomes, i, out);
				buf_free(&b);
				free(path);
			}
			jv_free(have);
			jv_free(t);
		}
		if (*err)
			code = 5;
		else
			code = batch_exit_code(outcomes);
		if (interrupted)
			code = batch_worse_exit(code, 130);
		if (o->table) {
			struct buf table = BUF_INIT;
			buf_appendc(&table, '\n');
			batch_format_table(outcomes, &table);
			io_write_all(o->out_fd, table.data, table.len);
			buf_free(&table);
		}
	}
	if (shipped) {
		char *remote = xasprintf("rm -rf %s", rdir);
		char *ignored = NULL;
		on_every_login(o->sshlogin, remote, NULL, &ignored);
		free(ignored);
		free(remote);
	}
	unlink(bundle);
	jv_free(outcomes);
	jv_free(tasks);
	free(rdir);
	free(bundle);
	free(task_file);
	free(batchdir);
	free(batch_id);
	buf_free(&base);
	return code;
}
