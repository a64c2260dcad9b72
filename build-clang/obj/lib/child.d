build-clang/obj/lib/child.o: lib/child.c lib/child.h lib/buf.h lib/io.h \
  lib/proc.h

lib/child.h:

lib/buf.h:

lib/io.h:

lib/proc.h:
