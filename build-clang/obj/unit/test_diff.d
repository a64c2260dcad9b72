build-clang/obj/unit/test_diff.o: tests/unit/test_diff.c lib/diff.h \
  lib/buf.h tests/unit/unit.h

lib/diff.h:

lib/buf.h:

tests/unit/unit.h:
