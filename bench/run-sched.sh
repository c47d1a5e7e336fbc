#!/usr/bin/env bash
# The scheduler's pass: 10,000 pending instances onto 1,000 workers, binpack
# and spread, against a naive O(n·m) first fit in the same run. Builds
# sched-bench.c against the tree's libserver.a. Target: the pass well under
# 100 ms. Usage: bench/run-sched.sh [instances] [workers] [runs]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${BUILD:-$TOP_DIR}
for lib in "$BUILD/src/server/libserver.a" "$BUILD/src/common/libcommon.a"; do
	[ -f "$lib" ] || die "$lib is missing: build first (make -C src/common && make -C src/server)"
done
command -v pkg-config >/dev/null || die "pkg-config is missing: apt-get install pkg-config"
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/outpost-bench-sched.XXXXXX")
trap bench_cleanup EXIT INT TERM

say "building sched-bench"
${CC:-cc} -O2 -I"$BUILD" -I"$TOP_DIR/src/common" -I"$TOP_DIR/src/server" \
	$(pkg-config --cflags libwebsockets jansson sqlite3) \
	-o "$BENCH_TMP/sched-bench" "$BENCH_DIR/sched-bench.c" \
	"$BUILD/src/server/libserver.a" "$BUILD/src/common/libcommon.a" \
	$(pkg-config --libs libwebsockets jansson sqlite3 libcrypto)
say "running"
echo "## Scheduler pass"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, shared"
echo
timeout 300 "$BENCH_TMP/sched-bench" "${1:-10000}" "${2:-1000}" "${3:-7}"
