build-clang/obj/bin/bllm-render.o: bin/bllm-render.c lib/cli.h \
  lib/event.h lib/io.h lib/buf.h lib/render.h lib/term.h

lib/cli.h:

lib/event.h:

lib/io.h:

lib/buf.h:

lib/render.h:

lib/term.h:
