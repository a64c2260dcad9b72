/* bllm-test: the tester agent as a Unix filter (see bllm-test --help). */
#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, "tester");
}
