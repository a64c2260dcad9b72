build-clang/obj/bin/bllm-code.o: bin/bllm-code.c lib/cli.h

lib/cli.h:
