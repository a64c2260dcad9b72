build-clang/obj/lib/control.o: lib/control.c lib/control.h lib/buf.h

lib/control.h:

lib/buf.h:
