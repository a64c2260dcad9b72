build-clang/obj/bin/bllm-test.o: bin/bllm-test.c lib/cli.h

lib/cli.h:
