build-clang/obj/lib/stats.o: lib/stats.c lib/stats.h lib/buf.h lib/io.h

lib/stats.h:

lib/buf.h:

lib/io.h:
