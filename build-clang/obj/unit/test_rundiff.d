build-clang/obj/unit/test_rundiff.o: tests/unit/test_rundiff.c \
  lib/rundiff.h lib/buf.h tests/unit/unit.h

lib/rundiff.h:

lib/buf.h:

tests/unit/unit.h:
