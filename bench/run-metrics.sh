#!/bin/bash
# /metrics with many instances stored, against nginx serving the same bytes.
# See bench/README.md. Usage: bench/run-metrics.sh [--out FILE]
# Environment: ROUNDS (5), DURATION (5 s), INSTANCES (100000), MIX_WORKERS (100),
# BENCH_PIN (0), OUTPOSTD (../src/server/outpostd).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reads.sh"

OUT=$(out_arg "$@")
INSTANCES=${INSTANCES:-100000}
TARGET_MS=2

need wrk wrk
need nginx nginx-light
need curl curl
need_outpostd
[ "$BENCH_PIN" = 1 ] && need taskset util-linux
bench_init

mixed_site "$INSTANCES"
DB=$OP_STATE/outpost.db

# The counts /metrics shows against SQLite's own count of the file: the same, or no figure.
check_counts() {
	local shown sql
	shown=$(curl -sS -H "Authorization: Bearer $OP_TOKEN" "$OP_URL/metrics" |
		sed -n 's/^outpost_instances{state="\([a-z]*\)"} \([0-9]*\)$/\1 \2/p' |
		awk '$2 > 0' | sort)
	sql=$(sqlite3 "$DB" "SELECT state || ' ' || count(*) FROM instances GROUP BY state" | sort)
	[ -n "$shown" ] && [ "$shown" = "$sql" ] ||
		die "/metrics shows instances ($shown) unlike the store ($sql)"
}
check_counts

# The old code's cost: the count it ran at every scrape, by sqlite3 on the same file.
SQL_MS=$(printf '.timer on\nSELECT state, count(*) FROM instances GROUP BY state;\nSELECT state, count(*) FROM instances GROUP BY state;\n' |
	sqlite3 "$DB" | awk '/^Run Time/ { v = $4 * 1000 } END { printf "%.2f", v }')

# nginx serves one scrape's bytes, with /metrics' content type.
NG=$BENCH_TMP/nginx
mkdir -p "$NG/www"
curl -sS -D "$BENCH_TMP/op.headers" -o "$NG/www/metrics" -H "Authorization: Bearer $OP_TOKEN" \
	"$OP_URL/metrics" || die "cannot scrape /metrics"
grep -q '^HTTP/1.1 200' "$BENCH_TMP/op.headers" || die "/metrics did not answer 200"
CTYPE=$(awk -F': *' 'tolower($1) == "content-type" { sub(/\r$/, "", $2); print $2 }' "$BENCH_TMP/op.headers")
BYTES=$(wc -c <"$NG/www/metrics")
chmod 755 "$BENCH_TMP" "$NG" "$NG/www"
chmod 644 "$NG/www/metrics"
start_nginx "$NG" "$CTYPE"
say "nginx at $NG_URL"
curl -sS -o "$BENCH_TMP/ng.body" "$NG_URL/metrics" || die "cannot fetch from nginx"
cmp -s "$NG/www/metrics" "$BENCH_TMP/ng.body" || die "nginx does not serve the same bytes"

# One scraper, as Prometheus is: one connection, one scrape at a time.
WRK_ARGS=(-t1 -c1 -H "Authorization: Bearer $OP_TOKEN")
say "warm-up"
run_wrk "$BENCH_TMP/w" "${WRK_ARGS[@]}" -d1s "$OP_URL/metrics"
run_wrk "$BENCH_TMP/w" "${WRK_ARGS[@]}" -d1s "$NG_URL/metrics"
op_p50=() op_p99=() ng_p50=() ng_p99=() ratios=()
ROWS=""
for r in $(seq 1 "$ROUNDS"); do
	run_wrk "$BENCH_TMP/a" "${WRK_ARGS[@]}" -d"${DURATION}s" "$OP_URL/metrics"
	run_wrk "$BENCH_TMP/b" "${WRK_ARGS[@]}" -d"${DURATION}s" "$NG_URL/metrics"
	for f in a b; do
		bad=$(wrk_bad "$BENCH_TMP/$f")
		[ "$bad" = 0 ] || { cat "$BENCH_TMP/$f" >&2; die "$bad failed requests in round $r"; }
	done
	op_p50+=("$(wrk_pct "$BENCH_TMP/a" 50)") op_p99+=("$(wrk_pct "$BENCH_TMP/a" 99)")
	ng_p50+=("$(wrk_pct "$BENCH_TMP/b" 50)") ng_p99+=("$(wrk_pct "$BENCH_TMP/b" 99)")
	ratios+=("$(div "${op_p50[-1]}" "${ng_p50[-1]}" %.2f)")
	row="| $r | $(wrk_rps "$BENCH_TMP/a") | ${op_p50[-1]} | ${op_p99[-1]} | ${ng_p50[-1]} | ${ng_p99[-1]} | ${ratios[-1]} |"
	ROWS="$ROWS$row"$'\n'
	say "$row"
done
check_counts

m_op50=$(median "${op_p50[@]}") m_op99=$(median "${op_p99[@]}")
m_ng50=$(median "${ng_p50[@]}") m_ng99=$(median "${ng_p99[@]}")
ratio=$(div "$m_op50" "$m_ng50")
met=$(awk -v p="$m_op50" -v t="$TARGET_MS" 'BEGIN { print (p < t) ? "yes" : "no" }')

report() {
	echo "## /metrics with $INSTANCES instances"
	echo
	machine_info
	echo "- site: $INSTANCES instances (1% running on $MIX_WORKERS workers, 29% pending not" \
		"due, 10% failed, 60% terminated), made through the API then moved with sqlite3"
	echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), 1 worker, the same $BYTES" \
		"bytes as a static file; wrk: 1 thread, 1 connection (one scraper)"
	echo "- the instances by state in /metrics equal SQLite's count of the file, before and after"
	echo
	echo "| round | outpostd scrapes/s | p50 ms | p99 ms | nginx p50 ms | p99 ms | p50 ratio |"
	echo "|---|---|---|---|---|---|---|"
	printf '%s' "$ROWS"
	echo "| **median** | | **$m_op50** | **$m_op99** | **$m_ng50** | **$m_ng99** | **$ratio** |"
	echo
	echo "A scrape: **$m_op50 ms** at the median, p99 $m_op99 ms (target < $TARGET_MS ms:" \
		"$met); nginx serving the same bytes: $m_ng50 ms. The count by state the old code ran" \
		"at every scrape takes sqlite3 $SQL_MS ms alone on the same file."
	echo
	echo "SCORE|/metrics, $INSTANCES instances|$m_op50 ms|nginx $m_ng50 ms|${ratio}x|< $TARGET_MS ms|$met"
}
report
[ -n "$OUT" ] && report >"$OUT"
exit 0
