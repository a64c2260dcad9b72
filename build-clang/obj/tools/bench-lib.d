build-clang/obj/tools/bench-lib.o: tools/bench-lib.c lib/anthropic.h \
  lib/buf.h lib/session.h lib/sse.h

lib/anthropic.h:

lib/buf.h:

lib/session.h:

lib/sse.h:
