/* bllm-agent NAME: any agent of the config as a Unix filter (see bllm-agent --help). */
#include <stddef.h>

#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, NULL);
}
