build-clang/obj/lib/event.o: lib/event.c lib/event.h lib/buf.h lib/io.h

lib/event.h:

lib/buf.h:

lib/io.h:
