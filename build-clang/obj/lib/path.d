build-clang/obj/lib/path.o: lib/path.c lib/path.h lib/buf.h

lib/path.h:

lib/buf.h:
