build-clang/obj/lib/session.o: lib/session.c lib/session.h lib/buf.h \
  lib/io.h lib/md.h

lib/session.h:

lib/buf.h:

lib/io.h:

lib/md.h:
