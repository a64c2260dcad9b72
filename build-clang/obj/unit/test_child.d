build-clang/obj/unit/test_child.o: tests/unit/test_child.c lib/child.h \
  lib/buf.h tests/unit/unit.h

lib/child.h:

lib/buf.h:

tests/unit/unit.h:
