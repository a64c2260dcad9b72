build-clang/obj/lib/client.o: lib/client.c lib/client.h lib/anthropic.h \
  lib/buf.h lib/cache.h lib/config.h lib/http.h

lib/client.h:

lib/anthropic.h:

lib/buf.h:

lib/cache.h:

lib/config.h:

lib/http.h:
