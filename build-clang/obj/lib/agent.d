build-clang/obj/lib/agent.o: lib/agent.c lib/agent.h lib/anthropic.h \
  lib/client.h lib/config.h lib/event.h lib/tools.h lib/buf.h \
  lib/control.h

lib/agent.h:

lib/anthropic.h:

lib/client.h:

lib/config.h:

lib/event.h:

lib/tools.h:

lib/buf.h:

lib/control.h:
