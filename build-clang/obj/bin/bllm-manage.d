build-clang/obj/bin/bllm-manage.o: bin/bllm-manage.c lib/buf.h \
  lib/cache.h lib/cli.h lib/config.h lib/anthropic.h lib/io.h \
  lib/manager.h lib/agent.h lib/client.h lib/event.h lib/tools.h \
  lib/observe.h lib/term.h

lib/buf.h:

lib/cache.h:

lib/cli.h:

lib/config.h:

lib/anthropic.h:

lib/io.h:

lib/manager.h:

lib/agent.h:

lib/client.h:

lib/event.h:

lib/tools.h:

lib/observe.h:

lib/term.h:
