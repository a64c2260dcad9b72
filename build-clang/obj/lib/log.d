build-clang/obj/lib/log.o: lib/log.c lib/log.h lib/buf.h lib/io.h

lib/log.h:

lib/buf.h:

lib/io.h:
