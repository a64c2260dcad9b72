build-clang/obj/lib/highlight.o: lib/highlight.c lib/highlight.h \
  lib/buf.h

lib/highlight.h:

lib/buf.h:
