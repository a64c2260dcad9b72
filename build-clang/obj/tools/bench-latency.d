build-clang/obj/tools/bench-latency.o: tools/bench-latency.c lib/buf.h

lib/buf.h:
