build-clang/obj/lib/sha256.o: lib/sha256.c lib/sha256.h lib/cache.h

lib/sha256.h:

lib/cache.h:
