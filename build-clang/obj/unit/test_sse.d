build-clang/obj/unit/test_sse.o: tests/unit/test_sse.c lib/buf.h \
  lib/sse.h tests/unit/unit.h

lib/buf.h:

lib/sse.h:

tests/unit/unit.h:
