/*
 * bench-sandbox [N]: the sandbox's cost per Bash command. Runs `true` N
 * times (default 50) as the Bash tool does, unconfined and in the sandbox
 * (lib/sandbox.h, the default policy on the current directory), and prints
 * the two medians in milliseconds: "plain_ms sandbox_ms". Exit 1 when the
 * sandbox cannot run here (the probe's message on stderr).
 */
#define _DEFAULT_SOURCE
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "sandbox.h"

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof *v, cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 50;
	if (n < 1 || n > 100000) {
		fprintf(stderr, "bench-sandbox: N: expected 1 to 100000\n");
		return 2;
	}
	char *root = realpath(".", NULL);
	struct sandbox_policy p = { .enabled = true, .workspace = root };
	char *err = NULL;
	if (sandbox_probe(&p, &err) < 0) {
		fprintf(stderr, "bench-sandbox: %s\n", err);
		return 1;
	}
	struct sandbox_host h;
	sandbox_host_init(&h, &p, NULL, 0);
	double *plain = calloc((size_t)n, sizeof *plain), *boxed = calloc((size_t)n, sizeof *boxed);
	for (int i = 0; i < n; i++) {
		struct proc_capture pc;
		if (proc_run_shell("true", root, 10, 1, 4096, &pc, &err) < 0)
			return 1;
		plain[i] = pc.duration_s * 1000;
		proc_capture_free(&pc);
		char **av = sandbox_argv(&p, &h, "true");
		struct proc_cmd cmd = { .argv = (const char *const *)av, .dir = root, .cgroup_fd = -1 };
		if (proc_run(&cmd, 10, 1, 4096, &pc, &err) < 0 || pc.exit_code != 0)
			return 1;
		boxed[i] = pc.duration_s * 1000;
		proc_capture_free(&pc);
		sandbox_argv_free(av);
	}
	printf("%.2f %.2f\n", median(plain, n), median(boxed, n));
	free(plain);
	free(boxed);
	sandbox_host_free(&h);
	free(root);
	return 0;
}
