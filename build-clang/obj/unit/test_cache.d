build-clang/obj/unit/test_cache.o: tests/unit/test_cache.c lib/cache.h \
  lib/sha256.h lib/buf.h lib/io.h tests/unit/unit.h

lib/cache.h:

lib/sha256.h:

lib/buf.h:

lib/io.h:

tests/unit/unit.h:
