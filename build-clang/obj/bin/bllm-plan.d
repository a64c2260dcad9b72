build-clang/obj/bin/bllm-plan.o: bin/bllm-plan.c lib/cli.h

lib/cli.h:
