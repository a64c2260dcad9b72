build-clang/obj/bin/bllm.o: bin/bllm.c lib/buf.h lib/cache.h lib/cli.h \
  lib/config.h lib/anthropic.h lib/manager.h lib/agent.h lib/client.h \
  lib/event.h lib/tools.h lib/observe.h lib/session.h lib/term.h

lib/buf.h:

lib/cache.h:

lib/cli.h:

lib/config.h:

lib/anthropic.h:

lib/manager.h:

lib/agent.h:

lib/client.h:

lib/event.h:

lib/tools.h:

lib/observe.h:

lib/session.h:

lib/term.h:
