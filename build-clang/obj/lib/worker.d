build-clang/obj/lib/worker.o: lib/worker.c lib/cli.h lib/agent.h \
  lib/anthropic.h lib/client.h lib/config.h lib/event.h lib/tools.h \
  lib/cache.h lib/buf.h lib/io.h lib/observe.h lib/proc.h lib/render.h \
  lib/term.h

lib/cli.h:

lib/agent.h:

lib/anthropic.h:

lib/client.h:

lib/config.h:

lib/event.h:

lib/tools.h:

lib/cache.h:

lib/buf.h:

lib/io.h:

lib/observe.h:

lib/proc.h:

lib/render.h:

lib/term.h:
