build-clang/obj/unit/test_treestate.o: tests/unit/test_treestate.c \
  lib/treestate.h tests/unit/unit.h

lib/treestate.h:

tests/unit/unit.h:
