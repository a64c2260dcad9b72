/* bllm-commit: the committer agent as a Unix filter (see bllm-commit --help). */
#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, "committer");
}
