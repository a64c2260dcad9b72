#!/bin/sh
# Makes DIR/PROG for each program of BUILD: a script that runs it under
# valgrind, failing (exit 99) on any memory error or definite leak. Used by
# `make check-valgrind`, which matters for jv ownership: libjq is not built
# with ASan, so only valgrind sees a jv freed twice or used after free.
# Usage: valgrind-wrap.sh BUILD DIR
set -eu
build=$1 dir=$2
mkdir -p "$dir"
for p in "$build"/bllm-* "$build"/bllm; do
	name=$(basename "$p")
	[ -x "$p" ] || continue
	case $name in
	bllm-manage | bllm) ln -sf "$p" "$dir/$name" ;;	# its workers are the real programs
	*) printf '#!/bin/sh\nexec valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite %s "$@"\n' "$p" >"$dir/$name"
	   chmod +x "$dir/$name" ;;
	esac
done
for p in fake-anthropic better-llm better-llm-cli bench-measure bench-latency bench-lib; do
	[ -e "$build/$p" ] && ln -sf "$build/$p" "$dir/$p"
done
[ -d "$build/unit" ] && ln -sfn "$build/unit" "$dir/unit"
exit 0
