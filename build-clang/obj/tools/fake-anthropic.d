build-clang/obj/tools/fake-anthropic.o: tools/fake-anthropic.c lib/buf.h

lib/buf.h:
