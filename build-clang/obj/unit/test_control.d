build-clang/obj/unit/test_control.o: tests/unit/test_control.c \
  lib/control.h tests/unit/unit.h

lib/control.h:

tests/unit/unit.h:
