build-clang/obj/unit/test_log.o: tests/unit/test_log.c lib/log.h \
  tests/unit/unit.h lib/buf.h lib/io.h

lib/log.h:

tests/unit/unit.h:

lib/buf.h:

lib/io.h:
