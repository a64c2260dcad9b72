/* bllm-review: the reviewer agent as a Unix filter (see bllm-review --help). */
#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, "reviewer");
}
