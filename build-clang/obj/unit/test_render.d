build-clang/obj/unit/test_render.o: tests/unit/test_render.c lib/buf.h \
  lib/render.h tests/unit/unit.h

lib/buf.h:

lib/render.h:

tests/unit/unit.h:
