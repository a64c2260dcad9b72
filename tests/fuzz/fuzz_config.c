/*
 * libFuzzer target: config loading. The input is split at the first NUL
 * (or in the middle) into agent_config.json and system_config.json; loading
 * must succeed or fail with a message and an exit code, and free cleanly.
 * Build and run: make fuzz.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char dir[64], agents[PATH_MAX], system_cfg[PATH_MAX];

static void put(const char *path, const uint8_t *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd < 0)
		abort();
	if (n && write(fd, data, n) != (ssize_t)n)
		abort();
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (!dir[0]) {
		strcpy(dir, "/tmp/bllm-fuzz-config-XXXXXX");
		if (!mkdtemp(dir))
			abort();
		snprintf(agents, sizeof agents, "%s/agent_config.json", dir);
		snprintf(system_cfg, sizeof system_cfg, "%s/system_config.json", dir);
	}
	if (size > 65536)
		return 0;
	const uint8_t *cut = memchr(data, '\0', size);
	size_t n1 = cut ? (size_t)(cut - data) : size;
	put(agents, data, n1);
	if (cut)
		put(system_cfg, cut + 1, size - n1 - 1);
	else
		unlink(system_cfg);
	struct config cfg;
	char *err = NULL;
	int code = 0;
	if (config_load(&cfg, agents, &err, &code) == 0) {
		for (int i = 0; i < cfg.n_agents; i++)
			if (!config_agent(&cfg, cfg.agents[i].name))
				abort();
		config_free(&cfg);
	} else if (!err || (code != 2 && code != 5)) {
		abort();
	}
	free(err);
	return 0;
}
