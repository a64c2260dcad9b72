build-clang/obj/unit/test_stats.o: tests/unit/test_stats.c lib/stats.h \
  tests/unit/unit.h lib/buf.h lib/io.h

lib/stats.h:

tests/unit/unit.h:

lib/buf.h:

lib/io.h:
