build-clang/obj/unit/test_anthropic.o: tests/unit/test_anthropic.c \
  lib/anthropic.h lib/buf.h tests/unit/unit.h

lib/anthropic.h:

lib/buf.h:

tests/unit/unit.h:
