#!/usr/bin/env bash
# The scheduler's pass: 10,000 pending instances onto 1,000 workers, binpack
# and spread. First the placement alone (sched-bench.c) against a naive
# O(n·m) first fit in the same run; then the whole pass on a real store
# (pass-bench.c: reading, placing, writing each placement with its transition
# and event, committing) against raw SQLite doing the same writes. Both are
# built against the tree's libserver.a. Target: the pass under 100 ms.
# Usage: bench/run-sched.sh [instances] [workers] [runs]
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUILD=${BUILD:-$TOP_DIR}
for lib in "$BUILD/src/server/libserver.a" "$BUILD/src/common/libcommon.a"; do
	[ -f "$lib" ] || die "$lib is missing: build first (make -C src/common && make -C src/server)"
done
command -v pkg-config >/dev/null || die "pkg-config is missing: apt-get install pkg-config"
BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/outpost-bench-sched.XXXXXX")
trap bench_cleanup EXIT INT TERM

for b in sched-bench pass-bench; do
	say "building $b"
	${CC:-cc} -O2 -I"$BUILD" -I"$TOP_DIR/src/common" -I"$TOP_DIR/src/server" \
		$(pkg-config --cflags libwebsockets jansson sqlite3) \
		-o "$BENCH_TMP/$b" "$BENCH_DIR/$b.c" \
		"$BUILD/src/server/libserver.a" "$BUILD/src/common/libcommon.a" \
		$(pkg-config --libs libwebsockets jansson sqlite3 libssl libcrypto libcurl) -lpthread ||
		die "cannot build $b.c: apt-get install libsqlite3-dev libjansson-dev libwebsockets-dev"
done
say "running"
echo "## Scheduler pass"
echo
echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) cores, shared;" \
	"temp dir filesystem: $(df -T "$BENCH_TMP" | awk 'NR == 2 { print $2 }')"
echo
timeout 300 "$BENCH_TMP/sched-bench" "${1:-10000}" "${2:-1000}" "${3:-7}"
echo
say "the whole pass on a store (a fresh copy of the site for each run)"
timeout 600 "$BENCH_TMP/pass-bench" "$BENCH_TMP" "${1:-10000}" "${2:-1000}" "${3:-7}" |
	tee "$BENCH_TMP/pass.out"
pass=$(awk -F' *[|] *' '$2 == "binpack pass" { print $3 }' "$BENCH_TMP/pass.out")
raw=$(awk -F' *[|] *' '$2 ~ /^reference: raw SQLite/ { print $3 }' "$BENCH_TMP/pass.out")
ratio=$(div "$pass" "$raw")
echo
score "scheduler pass, ${1:-10000} pending onto ${2:-1000} workers, durable" "$pass ms (binpack)" \
	"raw SQLite, the same writes: $raw ms" "$ratio" "<= 1.15x the raw floor" "$(is_le "$ratio" 1.15)"
