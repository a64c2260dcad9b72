build-clang/obj/lib/term.o: lib/term.c lib/term.h

lib/term.h:
