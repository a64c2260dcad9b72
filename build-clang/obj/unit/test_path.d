build-clang/obj/unit/test_path.o: tests/unit/test_path.c lib/path.h \
  tests/unit/unit.h

lib/path.h:

tests/unit/unit.h:
