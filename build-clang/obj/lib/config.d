build-clang/obj/lib/config.o: lib/config.c lib/config.h lib/anthropic.h \
  lib/buf.h lib/io.h lib/tools.h build-clang/gen/system_defaults.inc

lib/config.h:

lib/anthropic.h:

lib/buf.h:

lib/io.h:

lib/tools.h:

build-clang/gen/system_defaults.inc:
