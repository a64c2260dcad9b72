#!/bin/sh
# Tests for wordcount: one line per case, exit status 1 when any failed.
fail=0
check() {
	name=$1 expected=$2
	shift 2
	got=$(printf 'one two\nthree\n' | "$@" 2>&1)
	if [ "$got" = "$expected" ]; then
		echo "ok - $name"
	else
		echo "FAIL - $name: expected '$expected', got '$got'"
		fail=1
	fi
}
check "counts words" 3 ./wordcount
check "-w counts words" 3 ./wordcount -w
check "-l counts lines" 2 ./wordcount -l
exit $fail
