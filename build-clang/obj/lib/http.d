build-clang/obj/lib/http.o: lib/http.c lib/http.h lib/buf.h

lib/http.h:

lib/buf.h:
