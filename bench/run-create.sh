#!/bin/bash
# Instance creation rate against raw SQLite inserts. See bench/README.md.
# Usage: bench/run-create.sh [--out FILE]
# Environment: ROUNDS (5), DURATION (5 s), THREADS (2), CONNS (64),
# BATCH_CONNS (4), BENCH_PIN (0), OUTPOSTD (../src/server/outpostd), CC (cc).
set -u
. "$(dirname "$0")/lib.sh"

OUT=""
[ "${1:-}" = "--out" ] && OUT=${2:?--out needs a file}
BATCH_CONNS=${BATCH_CONNS:-4}
CC=${CC:-cc}

need wrk wrk
need curl curl
need sqlite3 sqlite3
need "$CC" gcc
need_outpostd
[ "$BENCH_PIN" = 1 ] && need taskset util-linux
bench_init

REF=$BENCH_TMP/sqlite-ref
"$CC" -O2 -o "$REF" "$BENCH_DIR/sqlite-ref.c" -lsqlite3 ||
	die "cannot build sqlite-ref.c: apt-get install libsqlite3-dev"

SLOT='"definition":"bench","owner":"o","timeslot_start":"2030-01-01T10:00:00Z","timeslot_end":"2030-01-01T11:00:00Z"'
ONE="{$SLOT}"
BATCH="{$SLOT,\"count\":1000}"

# op_create NAME BODY CONNS THREADS: a fresh outpostd, wrk POSTing BODY for
# DURATION; sets RPS, P50, P99 and ROWS (instances stored once it stopped).
op_create() {
	start_outpostd "$1"
	api POST /api/v1/definitions '{"name":"bench","hooks":{"run":["true"]}}' >/dev/null
	export BENCH_BODY=$2
	run_wrk "$BENCH_TMP/w" -t"$4" -c"$3" -d"${DURATION}s" -s "$BENCH_DIR/post.lua" \
		-H "Authorization: Bearer $OP_TOKEN" "$OP_URL/api/v1/instances"
	bad=$(wrk_bad "$BENCH_TMP/w")
	[ "$bad" = 0 ] || { cat "$BENCH_TMP/w" >&2; die "$bad failed creates"; }
	RPS=$(wrk_rps "$BENCH_TMP/w") P50=$(wrk_pct "$BENCH_TMP/w" 50) P99=$(wrk_pct "$BENCH_TMP/w" 99)
	stop_outpostd	# finishes what was in flight
	ROWS=$(sqlite3 "$OP_STATE/outpost.db" 'SELECT count(*) FROM instances') || die "cannot count"
	rm -rf "$OP_STATE"
}

# raw NAME TXNS PER SHAPE: sets TXN_S and ROWS_S
raw() {
	local line
	line=$(on_client_cpu "$REF" "$BENCH_TMP/$1.db" "$2" "$3" "$4") || die "sqlite-ref failed"
	TXN_S=$(printf '%s\n' "$line" | sed 's/.* txn_per_s=\([^ ]*\).*/\1/')
	ROWS_S=$(printf '%s\n' "$line" | sed 's/.* rows_per_s=\([^ ]*\).*/\1/')
	SQLITE_VERSION=$(printf '%s\n' "$line" | sed 's/.* sqlite=//')
	rm -f "$BENCH_TMP/$1.db" "$BENCH_TMP/$1.db-wal" "$BENCH_TMP/$1.db-shm"
}

s_op=() s_p50=() s_p99=() s_raw=() s_full=() s_ratio=()
b_op=() b_raw=() b_full=() b_ratio=()
S_ROWS="" B_ROWS=""
for r in $(seq 1 "$ROUNDS"); do
	# One instance per request, CONNS connections.
	op_create "s$r" "$ONE" "$CONNS" "$THREADS"
	n=$ROWS
	s_op+=("$RPS") s_p50+=("$P50") s_p99+=("$P99")
	raw "s$r" "$n" 1 row
	s_raw+=("$TXN_S")
	raw "s$r" "$n" 1 full
	s_full+=("$TXN_S")
	s_ratio+=("$(div "$RPS" "${s_raw[-1]}" %.3f)")
	row="| $r | $n | ${RPS%.*} | $P50 | $P99 | ${s_raw[-1]%.*} | ${s_full[-1]%.*} | ${s_ratio[-1]} |"
	S_ROWS="$S_ROWS$row"$'\n'
	say "single $row"

	# count=1000 per request, BATCH_CONNS connections.
	op_create "b$r" "$BATCH" "$BATCH_CONNS" 1
	k=$((ROWS / 1000))
	[ "$k" -ge 1 ] || die "no batch was created in round $r"
	b_op+=("$(awk -v x="$RPS" 'BEGIN { printf "%.1f", x * 1000 }')")
	raw "b$r" "$k" 1000 row
	b_raw+=("$ROWS_S")
	raw "b$r" "$k" 1000 full
	b_full+=("$ROWS_S")
	b_ratio+=("$(div "${b_op[-1]}" "${b_raw[-1]}" %.3f)")
	row="| $r | $k | ${b_op[-1]%.*} | $P50 | ${b_raw[-1]%.*} | ${b_full[-1]%.*} | ${b_ratio[-1]} |"
	B_ROWS="$B_ROWS$row"$'\n'
	say "batch $row"
done

ms_op=$(median "${s_op[@]}") ms_raw=$(median "${s_raw[@]}") ms_full=$(median "${s_full[@]}")
mb_op=$(median "${b_op[@]}") mb_raw=$(median "${b_raw[@]}") mb_full=$(median "${b_full[@]}")

report() {
	echo "## Instance creation: outpostd against raw SQLite inserts"
	echo
	machine_info
	echo "- SQLite: $SQLITE_VERSION, WAL, synchronous=FULL, foreign_keys=ON (outpostd and the reference)"
	echo "- one per request: wrk $THREADS threads, $CONNS connections; batches: $BATCH_CONNS connections, count=1000"
	echo "- each round: a fresh outpostd and fresh reference databases; the reference commits"
	echo "  as many transactions as outpostd stored in that round"
	echo
	echo "### One instance per request (one transaction each)"
	echo
	echo "| round | created | outpostd creates/s | p50 ms | p99 ms | raw row txn/s | raw full txn/s | ratio to raw row |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '%s' "$S_ROWS"
	echo "| **median** | | **${ms_op%.*}** | $(median "${s_p50[@]}") | $(median "${s_p99[@]}") | **${ms_raw%.*}** | **${ms_full%.*}** | **$(median "${s_ratio[@]}")** |"
	echo
	echo "Ratio of the medians: outpostd / raw row = **$(div "$ms_op" "$ms_raw")**;" \
		"outpostd / raw full = $(div "$ms_op" "$ms_full")."
	echo
	echo "### 1000 instances per request (one transaction of 1000)"
	echo
	echo "| round | batches | outpostd instances/s | p50 ms per batch | raw row rows/s | raw full rows/s | ratio to raw row |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s' "$B_ROWS"
	echo "| **median** | | **${mb_op%.*}** | | **${mb_raw%.*}** | **${mb_full%.*}** | **$(median "${b_ratio[@]}")** |"
	echo
	echo "Ratio of the medians: outpostd / raw row = **$(div "$mb_op" "$mb_raw")**;" \
		"outpostd / raw full = $(div "$mb_op" "$mb_full")."
	echo
	r1=$(div "$ms_op" "$ms_raw") r2=$(div "$mb_op" "$mb_raw")
	score "one create per request, $CONNS connections" "${ms_op%.*}/s, p99 $(median "${s_p99[@]}") ms" \
		"raw SQLite one-row transactions: ${ms_raw%.*}/s" "$r1" ">= 1.0x, p99 < 20 ms" \
		"$( [ "$(is_ge "$r1" 1.0)" = yes ] && [ "$(is_lt "$(median "${s_p99[@]}")" 20)" = yes ] &&
			echo yes || echo no)"
	score "count=1000 creates" "${mb_op%.*} instances/s" "raw SQLite rows: ${mb_raw%.*}/s" \
		"$r2" ">= 0.6x" "$(is_ge "$r2" 0.6)"
}
report
[ -n "$OUT" ] && report >"$OUT"
exit 0
