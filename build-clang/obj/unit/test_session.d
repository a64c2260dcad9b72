build-clang/obj/unit/test_session.o: tests/unit/test_session.c \
  lib/session.h lib/buf.h tests/unit/unit.h

lib/session.h:

lib/buf.h:

tests/unit/unit.h:
