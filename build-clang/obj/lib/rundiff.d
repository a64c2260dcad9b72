build-clang/obj/lib/rundiff.o: lib/rundiff.c lib/rundiff.h lib/buf.h \
  lib/event.h lib/json.h

lib/rundiff.h:

lib/buf.h:

lib/event.h:

lib/json.h:
