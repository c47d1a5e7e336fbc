#!/bin/sh
# The live views, again and again: the browser test, the dashboard's tests
# and the follow test run RUNS times in a row (default 20), stopping at the
# first failure with the run and the test that failed and where its log is.
# Not part of make check: run it from the top of the source tree as
#   tests/stress-live.sh [BUILD_DIR]        (default: build)
# or make stress-live from the build directory. RUNS=N sets the count.
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
build=${1:-${BUILD_DIR:-$top/build}}
runs=${RUNS:-20}
tests="browser/live.sh browser/web.sh"
for t in "$top"/tests/integration/tui_*.sh; do
	case $t in */tui_lib.sh) continue ;; esac
	tests="$tests integration/${t##*/}"
done
tests="$tests integration/events_follow.sh unit/test_tui_model"

[ -f "$build/tests/Makefile" ] || { echo "stress-live: no $build/tests/Makefile: configure and make first" >&2; exit 2; }
start=$(date +%s)
i=1
while [ "$i" -le "$runs" ]; do
	t0=$(date +%s)
	for t in $tests; do
		if ! make -s -C "$build/tests" check TESTS="$t" >"$build/tests/stress-live.out" 2>&1; then
			log=$build/tests/${t%.sh}.log
			echo "stress-live: run $i of $runs FAILED in $t; its log: $log" >&2
			grep -E '^(FAIL|ERROR)' "$build/tests/stress-live.out" >&2
			exit 1
		fi
		if grep -q '^SKIP' "$build/tests/stress-live.out"; then
			echo "stress-live: $t was skipped (see ${t%.sh}.log): it is not exercised" >&2
		fi
	done
	echo "stress-live: run $i of $runs passed in $(($(date +%s) - t0)) s"
	i=$((i + 1))
done
echo "stress-live: $runs of $runs runs passed in $(($(date +%s) - start)) s ($tests)"
