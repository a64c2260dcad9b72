build-clang/obj/bin/bllm-session.o: bin/bllm-session.c lib/buf.h \
  lib/cli.h lib/io.h lib/rundiff.h lib/session.h lib/term.h

lib/buf.h:

lib/cli.h:

lib/io.h:

lib/rundiff.h:

lib/session.h:

lib/term.h:
