build-clang/obj/lib/treestate.o: lib/treestate.c lib/treestate.h \
  lib/buf.h lib/io.h

lib/treestate.h:

lib/buf.h:

lib/io.h:
