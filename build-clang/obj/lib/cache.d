build-clang/obj/lib/cache.o: lib/cache.c lib/cache.h lib/buf.h \
  lib/config.h lib/anthropic.h lib/io.h

lib/cache.h:

lib/buf.h:

lib/config.h:

lib/anthropic.h:

lib/io.h:
