build-clang/obj/lib/proc.o: lib/proc.c lib/proc.h lib/io.h lib/buf.h

lib/proc.h:

lib/io.h:

lib/buf.h:
