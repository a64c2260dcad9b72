build-clang/obj/bin/bllm-stats.o: bin/bllm-stats.c lib/cli.h lib/stats.h \
  lib/term.h

lib/cli.h:

lib/stats.h:

lib/term.h:
