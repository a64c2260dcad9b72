build-clang/obj/lib/md.o: lib/md.c lib/md.h lib/buf.h lib/highlight.h

lib/md.h:

lib/buf.h:

lib/highlight.h:
