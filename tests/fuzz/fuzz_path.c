/*
 * libFuzzer target: path confinement. Any path, against a workspace whose
 * tree holds symlinks inside, out, to itself and dangling, must come back
 * refused or as a canonical path inside the root: never outside it.
 * Build and run: make fuzz.
 */
#define _DEFAULT_SOURCE
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "path.h"

static char root[PATH_MAX];

static void make_tree(void)
{
	char base[] = "/tmp/bllm-fuzz-path-XXXXXX";
	if (!mkdtemp(base))
		abort();
	char p[PATH_MAX + 64];
	snprintf(p, sizeof p, "%s/w", base);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/outside", base);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/w/sub", base);
	mkdir(p, 0755);
	snprintf(p, sizeof p, "%s/w/sub/deep", base);
	mkdir(p, 0755);
	static const char *const links[][2] = {
		{ "../outside", "w/out" }, { "sub", "w/in" }, { ".", "w/self" },
		{ "/etc", "w/etc" }, { "missing/x", "w/dangling" }, { "../..", "w/sub/up" },
		{ "../deep", "w/sub/deep/back" },
	};
	for (size_t i = 0; i < sizeof links / sizeof links[0]; i++) {
		snprintf(p, sizeof p, "%s/%s", base, links[i][1]);
		if (symlink(links[i][0], p) < 0)
			abort();
	}
	snprintf(p, sizeof p, "%s/w", base);
	if (!realpath(p, root))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!root[0])
		make_tree();
	if (size > 4096)
		return 0;
	char *path = malloc(size + 1);
	memcpy(path, data, size);
	path[size] = '\0';
	char *out = NULL, *err = NULL;
	int rc = path_confine(root, path, &out, &err);
	if (rc == 0) {
		size_t n = strlen(root);
		if (!out || strncmp(out, root, n) != 0 || (out[n] != '/' && out[n] != '\0'))
			abort();
		if (strstr(out, "/../") || strstr(out, "/./"))
			abort();
		(void)path_relative(root, out);
	} else if (!err) {
		abort();
	}
	free(out);
	free(err);
	free(path);
	return 0;
}
