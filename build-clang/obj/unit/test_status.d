build-clang/obj/unit/test_status.o: tests/unit/test_status.c lib/status.h \
  lib/buf.h tests/unit/unit.h

lib/status.h:

lib/buf.h:

tests/unit/unit.h:
