/* bllm-plan: the planner agent as a Unix filter (see bllm-plan --help). */
#include "cli.h"

int main(int argc, char **argv)
{
	return worker_main(argc, argv, "planner");
}
