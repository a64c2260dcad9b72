build-clang/obj/tools/bench-measure.o: tools/bench-measure.c
