build-clang/obj/bin/bllm-review.o: bin/bllm-review.c lib/cli.h

lib/cli.h:
