build-clang/obj/bin/bllm-commit.o: bin/bllm-commit.c lib/cli.h

lib/cli.h:
