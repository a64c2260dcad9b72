build-clang/obj/lib/render.o: lib/render.c lib/render.h lib/buf.h \
  lib/control.h lib/diff.h lib/md.h lib/event.h lib/json.h lib/status.h

lib/render.h:

lib/buf.h:

lib/control.h:

lib/diff.h:

lib/md.h:

lib/event.h:

lib/json.h:

lib/status.h:
