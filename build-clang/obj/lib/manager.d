build-clang/obj/lib/manager.o: lib/manager.c lib/manager.h lib/agent.h \
  lib/anthropic.h lib/client.h lib/config.h lib/event.h lib/tools.h \
  lib/buf.h lib/child.h lib/io.h lib/observe.h lib/render.h \
  lib/session.h lib/json.h

lib/manager.h:

lib/agent.h:

lib/anthropic.h:

lib/client.h:

lib/config.h:

lib/event.h:

lib/tools.h:

lib/buf.h:

lib/child.h:

lib/io.h:

lib/observe.h:

lib/render.h:

lib/session.h:

lib/json.h:
