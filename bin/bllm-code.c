/* bllm-code: the coder agent as a Unix filter (see bllm-code --help). */
#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, "coder");
}
