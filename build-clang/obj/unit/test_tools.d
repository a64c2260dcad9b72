build-clang/obj/unit/test_tools.o: tests/unit/test_tools.c lib/proc.h \
  lib/tools.h tests/unit/unit.h

lib/proc.h:

lib/tools.h:

tests/unit/unit.h:
