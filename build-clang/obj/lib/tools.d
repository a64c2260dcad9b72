build-clang/obj/lib/tools.o: lib/tools.c lib/tools.h lib/buf.h lib/path.h \
  lib/treestate.h lib/diff.h lib/proc.h lib/io.h

lib/tools.h:

lib/buf.h:

lib/path.h:

lib/treestate.h:

lib/diff.h:

lib/proc.h:

lib/io.h:
