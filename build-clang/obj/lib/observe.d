build-clang/obj/lib/observe.o: lib/observe.c lib/observe.h lib/config.h \
  lib/anthropic.h lib/buf.h lib/event.h lib/log.h lib/stats.h lib/json.h

lib/observe.h:

lib/config.h:

lib/anthropic.h:

lib/buf.h:

lib/event.h:

lib/log.h:

lib/stats.h:

lib/json.h:
