#!/bin/bash
# The list page against nginx serving the same bytes as a static file.
# See bench/README.md. Usage: bench/run-list.sh [--out FILE]
# Environment: ROUNDS (5), DURATION (5 s), THREADS (2), CONNS (64),
# INSTANCES (10000), BENCH_PIN (0), OUTPOSTD (../src/server/outpostd),
# NGINX_EXTRA (more directives for nginx's http block, e.g. "open_file_cache max=16;").
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reads.sh"

OUT=""
[ "${1:-}" = "--out" ] && OUT=${2:?--out needs a file}
INSTANCES=${INSTANCES:-10000}
URL_PATH="/api/v1/instances?limit=50"

need wrk wrk
need nginx nginx-light
need curl curl
need_outpostd
[ "$BENCH_PIN" = 1 ] && need taskset util-linux
bench_init

# ---- outpostd with INSTANCES instances ----
start_outpostd op
say "outpostd at $OP_URL; storing $INSTANCES instances"
store_instances "$INSTANCES"

# The exact bytes and content type outpostd answers for the URL.
mkdir -p "$BENCH_TMP/nginx/www/api/v1"
BODY=$BENCH_TMP/nginx/www/api/v1/instances
curl -sS -D "$BENCH_TMP/op.headers" -o "$BODY" -H "Authorization: Bearer $OP_TOKEN" \
	"$OP_URL$URL_PATH" || die "cannot fetch the page"
grep -q '^HTTP/1.1 200' "$BENCH_TMP/op.headers" || die "outpostd did not answer 200"
CTYPE=$(awk -F': *' 'tolower($1) == "content-type" { sub(/\r$/, "", $2); print $2 }' "$BENCH_TMP/op.headers")
ETAG=$(awk -F': *' 'tolower($1) == "etag" { sub(/\r$/, "", $2); print $2 }' "$BENCH_TMP/op.headers")
BYTES=$(wc -c <"$BODY")
ITEMS=$(grep -o '"id":' "$BODY" | wc -l)
[ "$ITEMS" = 50 ] || die "the page has $ITEMS items, not 50"

# ETag and If-None-Match: 304 with no body, for the list and for one instance.
[ -n "$ETAG" ] || die "the list has no ETag"
code=$(curl -sS -o "$BENCH_TMP/304.body" -w '%{http_code}' -H "Authorization: Bearer $OP_TOKEN" \
	-H "If-None-Match: $ETAG" "$OP_URL$URL_PATH")
if [ "$code" != 304 ] || [ -s "$BENCH_TMP/304.body" ]; then
	die "If-None-Match on the list gave $code"
fi
ietag=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $OP_TOKEN" "$OP_URL/api/v1/instances/1" |
	awk -F': *' 'tolower($1) == "etag" { sub(/\r$/, "", $2); print $2 }')
[ -n "$ietag" ] || die "GET /api/v1/instances/1 has no ETag"
code=$(curl -sS -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OP_TOKEN" \
	-H "If-None-Match: $ietag" "$OP_URL/api/v1/instances/1")
[ "$code" = 304 ] || die "If-None-Match on one instance gave $code"
ETAG_CHECK="list and get carry an ETag and answer If-None-Match with 304"

# ---- nginx: one worker, its own config, loopback only ----
NG=$BENCH_TMP/nginx
chmod 755 "$BENCH_TMP" "$NG" "$NG/www" "$NG/www/api" "$NG/www/api/v1"
chmod 644 "$BODY"
start_nginx "$NG" "$CTYPE"
say "nginx at $NG_URL"

# Same bytes, same content type, the same request sent to both.
curl -sS -D "$BENCH_TMP/ng.headers" -o "$BENCH_TMP/ng.body" -H "Authorization: Bearer $OP_TOKEN" \
	"$NG_URL$URL_PATH" || die "cannot fetch from nginx"
cmp -s "$BODY" "$BENCH_TMP/ng.body" || die "nginx does not serve the same bytes"
ng_ctype=$(awk -F': *' 'tolower($1) == "content-type" { sub(/\r$/, "", $2); print $2 }' "$BENCH_TMP/ng.headers")
[ "$ng_ctype" = "$CTYPE" ] || die "nginx answers $ng_ctype, outpostd $CTYPE"
OP_HDR=$(curl -sS -o /dev/null -w '%{size_header}' -H "Authorization: Bearer $OP_TOKEN" "$OP_URL$URL_PATH")
NG_HDR=$(curl -sS -o /dev/null -w '%{size_header}' -H "Authorization: Bearer $OP_TOKEN" "$NG_URL$URL_PATH")

# ---- interleaved runs ----
WRK_ARGS=(-t"$THREADS" -c"$CONNS" -H "Authorization: Bearer $OP_TOKEN")
say "warm-up"
run_wrk "$BENCH_TMP/w" "${WRK_ARGS[@]}" -d1s "$OP_URL$URL_PATH"
run_wrk "$BENCH_TMP/w" "${WRK_ARGS[@]}" -d1s "$NG_URL$URL_PATH"

op_rps=() op_p50=() op_p99=() ng_rps=() ng_p50=() ng_p99=() ratios=()
ROWS=""
for r in $(seq 1 "$ROUNDS"); do
	run_wrk "$BENCH_TMP/a" "${WRK_ARGS[@]}" -d"${DURATION}s" "$OP_URL$URL_PATH"
	run_wrk "$BENCH_TMP/b" "${WRK_ARGS[@]}" -d"${DURATION}s" "$NG_URL$URL_PATH"
	for f in a b; do
		bad=$(wrk_bad "$BENCH_TMP/$f")
		[ "$bad" = 0 ] || { cat "$BENCH_TMP/$f" >&2; die "$bad failed requests in round $r"; }
	done
	a=$(wrk_rps "$BENCH_TMP/a") b=$(wrk_rps "$BENCH_TMP/b")
	op_rps+=("$a") ng_rps+=("$b")
	op_p50+=("$(wrk_pct "$BENCH_TMP/a" 50)") op_p99+=("$(wrk_pct "$BENCH_TMP/a" 99)")
	ng_p50+=("$(wrk_pct "$BENCH_TMP/b" 50)") ng_p99+=("$(wrk_pct "$BENCH_TMP/b" 99)")
	ratios+=("$(div "$a" "$b" %.3f)")
	row="| $r | ${a%.*} | ${op_p50[-1]} | ${op_p99[-1]} | ${b%.*} | ${ng_p50[-1]} | ${ng_p99[-1]} | ${ratios[-1]} |"
	ROWS="$ROWS$row"$'\n'
	say "$row"
done

# Every answer should have come from the page cache: no data change meanwhile.
etag_after=$(curl -sS -D - -o /dev/null -H "Authorization: Bearer $OP_TOKEN" "$OP_URL$URL_PATH" |
	awk -F': *' 'tolower($1) == "etag" { sub(/\r$/, "", $2); print $2 }')
if [ "$etag_after" = "$ETAG" ]; then
	STABLE="the ETag was the same after the runs (no data changed; cached answers throughout)"
else
	STABLE="WARNING: the ETag changed during the runs ($ETAG, then $etag_after): data changed, some answers were rendered afresh"
fi

# A fresh render: after a change the cache is stale and the page is built
# again. Time to first byte after connect, for the first GET after a create
# (fresh) and for the one after it (cached), 15 times.
ttfb() {
	curl -sS -o /dev/null -w '%{time_connect} %{time_starttransfer}' \
		-H "Authorization: Bearer $OP_TOKEN" "$OP_URL$URL_PATH" |
		awk '{ printf "%.3f", ($2 - $1) * 1000 }'
}
fresh=() cached=()
for _ in $(seq 1 15); do
	# A slot years ahead: never due, so nothing moves while the page is measured.
	api POST /api/v1/instances "{\"definition\":\"bench\",\"owner\":\"o\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\"}" >/dev/null
	fresh+=("$(ttfb)")
	cached+=("$(ttfb)")
done
m_fresh=$(median "${fresh[@]}") m_cached=$(median "${cached[@]}")

m_op=$(median "${op_rps[@]}") m_ng=$(median "${ng_rps[@]}")
m_op50=$(median "${op_p50[@]}") m_op99=$(median "${op_p99[@]}")
m_ng50=$(median "${ng_p50[@]}") m_ng99=$(median "${ng_p99[@]}")
ratio=$(div "$m_op" "$m_ng")
m_ratio=$(median "${ratios[@]}")
rate_ok=$(awk -v r="$ratio" 'BEGIN { print (r >= 1.0) ? "met" : "MISSED" }')
p99_ok=$(awk -v p="$m_op99" 'BEGIN { print (p < 10) ? "met" : "MISSED" }')

report() {
	echo "## List page: GET $URL_PATH, $INSTANCES instances stored"
	echo
	machine_info
	echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), 1 worker, static file${NGINX_EXTRA:+, with: $NGINX_EXTRA}"
	echo "- page: $BYTES bytes, $CTYPE; response headers: outpostd $OP_HDR bytes, nginx $NG_HDR bytes"
	echo "- wrk: $THREADS threads, $CONNS connections, the same Authorization header to both"
	echo "- $ETAG_CHECK; $STABLE"
	echo
	echo "| round | outpostd req/s | p50 ms | p99 ms | nginx req/s | p50 ms | p99 ms | ratio |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '%s' "$ROWS"
	echo "| **median** | **${m_op%.*}** | **$m_op50** | **$m_op99** | **${m_ng%.*}** | **$m_ng50** | **$m_ng99** | **$m_ratio** |"
	echo
	echo "First byte after connect, medians of 15 (curl, one request at a time): $m_cached ms" \
		"from the cache, $m_fresh ms for the first GET after a change (the page rendered afresh)."
	echo
	echo "Ratio of the medians: **$ratio** × nginx (target 1.0×: $rate_ok); median of the" \
		"per-round ratios: $m_ratio. outpostd p99 (median): $m_op99 ms (target < 10 ms: $p99_ok)."
	echo
	echo "SCORE|GET $URL_PATH, $INSTANCES stored, cached|${m_op%.*} req/s|nginx ${m_ng%.*} req/s|${ratio}x|>= 1.0x nginx|$([ "$rate_ok" = met ] && echo yes || echo no)"
	echo "SCORE|GET $URL_PATH, $INSTANCES stored, cached, p99|$m_op99 ms|nginx $m_ng99 ms|-|< 10 ms|$([ "$p99_ok" = met ] && echo yes || echo no)"
}
report
[ -n "$OUT" ] && report >"$OUT"
exit 0
