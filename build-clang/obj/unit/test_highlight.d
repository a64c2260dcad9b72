build-clang/obj/unit/test_highlight.o: tests/unit/test_highlight.c \
  lib/highlight.h lib/buf.h tests/unit/unit.h

lib/highlight.h:

lib/buf.h:

tests/unit/unit.h:
