build-clang/obj/lib/anthropic.o: lib/anthropic.c lib/anthropic.h \
  lib/buf.h lib/sse.h lib/json.h

lib/anthropic.h:

lib/buf.h:

lib/sse.h:

lib/json.h:
