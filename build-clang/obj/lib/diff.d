build-clang/obj/lib/diff.o: lib/diff.c lib/diff.h lib/buf.h

lib/diff.h:

lib/buf.h:
