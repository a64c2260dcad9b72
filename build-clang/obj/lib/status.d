build-clang/obj/lib/status.o: lib/status.c lib/status.h lib/buf.h \
  lib/event.h lib/json.h lib/render.h

lib/status.h:

lib/buf.h:

lib/event.h:

lib/json.h:

lib/render.h:
