build-clang/obj/bin/bllm-agent.o: bin/bllm-agent.c lib/cli.h

lib/cli.h:
