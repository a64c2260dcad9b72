build-clang/obj/lib/cli.o: lib/cli.c lib/cli.h lib/buf.h lib/cache.h \
  lib/config.h lib/anthropic.h lib/event.h lib/io.h lib/observe.h

lib/cli.h:

lib/buf.h:

lib/cache.h:

lib/config.h:

lib/anthropic.h:

lib/event.h:

lib/io.h:

lib/observe.h:
