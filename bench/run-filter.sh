#!/bin/bash
# GET /api/v1/instances?state=pending&limit=500 with many instances stored: the
# first request after a start and the same again after a change, against
# sqlite3 running the same query on the same file. See bench/README.md.
# Usage: bench/run-filter.sh [--out FILE]
# Environment: ROUNDS (5), INSTANCES (100000), MIX_WORKERS (100), BENCH_PIN (0),
# OUTPOSTD (../src/server/outpostd).
set -u
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/reads.sh"

OUT=$(out_arg "$@")
INSTANCES=${INSTANCES:-100000}
LIMIT=500
URL_PATH="/api/v1/instances?state=pending&limit=$LIMIT"
TARGET_MS=5

need curl curl
need jq jq
need_outpostd
[ "$BENCH_PIN" = 1 ] && need taskset util-linux
bench_init

mixed_site "$INSTANCES"
DB=$OP_STATE/outpost.db
PENDING=$(sqlite3 "$DB" "SELECT count(*) FROM instances WHERE state = 'pending'")
# The page's query as outpostd runs it (its columns, the worker's name joined).
SQL="SELECT i.*, w.name FROM instances i LEFT JOIN workers w ON w.id = i.worker_id
	WHERE i.id > 0 AND i.state = 'pending' ORDER BY i.id LIMIT $((LIMIT + 1));"
WANT_IDS=$(sqlite3 "$DB" "SELECT group_concat(id) FROM (SELECT id FROM instances
	WHERE state = 'pending' ORDER BY id LIMIT $LIMIT)")

# ms from the request sent to the last byte of the answer
fetch() {
	curl -sS -o "$BENCH_TMP/page" -w '%{http_code} %{time_pretransfer} %{time_total}' \
		-H "Authorization: Bearer $OP_TOKEN" "$OP_URL$URL_PATH" >"$BENCH_TMP/fetch" ||
		die "curl failed"
	read -r code t0 t1 <"$BENCH_TMP/fetch"
	[ "$code" = 200 ] || die "$URL_PATH answered $code"
	[ "$(jq -r '[.items[].id] | join(",")' "$BENCH_TMP/page")" = "$WANT_IDS" ] ||
		die "the page is not the first $LIMIT pending instances in id order"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f\n", (b - a) * 1000 }'
}

# sqlite3's own time for the query: a fresh process, the first run and the one after it.
sql_times() {
	printf '.timer on\n.output /dev/null\n%s\n%s\n' "$SQL" "$SQL" | on_client_cpu sqlite3 "$DB" |
		awk '/^Run Time/ { printf "%.3f ", $4 * 1000 }'
}

firsts=() agains=() sfirsts=() sagains=()
ROWS=""
for r in $(seq 1 "$ROUNDS"); do
	stop_outpostd
	start_outpostd site
	sleep 1	# its first timers' passes done: the request is not queued behind them
	f=$(fetch)
	# A change: the cached page is stale, the same query runs again (statement prepared).
	api POST /api/v1/instances '{"definition":"bench","owner":"o","timeslot_start":"2030-01-01T10:00:00Z","timeslot_end":"2030-01-01T11:00:00Z"}' >/dev/null
	a=$(fetch)
	read -r sf sa <<<"$(sql_times)"
	firsts+=("$f") agains+=("$a") sfirsts+=("$sf") sagains+=("$sa")
	row="| $r | $f | $a | $sf | $sa |"
	ROWS="$ROWS$row"$'\n'
	say "$row"
done

m_f=$(median "${firsts[@]}") m_a=$(median "${agains[@]}")
m_sf=$(median "${sfirsts[@]}") m_sa=$(median "${sagains[@]}")
ratio=$(div "$m_f" "$m_sf")
met=$(awk -v p="$m_f" -v t="$TARGET_MS" 'BEGIN { print (p < t) ? "yes" : "no" }')
BYTES=$(wc -c <"$BENCH_TMP/page")

report() {
	echo "## GET $URL_PATH, $INSTANCES instances stored"
	echo
	machine_info
	echo "- site: $INSTANCES instances, $PENDING of them pending (1% running on $MIX_WORKERS" \
		"workers, 10% failed, 60% terminated), made through the API then moved with sqlite3"
	echo "- page: $LIMIT instances, $BYTES bytes; checked to be the first $LIMIT pending ids in order"
	echo "- first: the first request, 1 s after outpostd started (its SQLite cache empty," \
		"the statement not yet prepared); again: the same after one create (the cached page stale)"
	echo "- reference: sqlite3 $(sqlite3 --version | awk '{ print $1 }'), a fresh process on" \
		"the same file, the page's query (the same columns, the worker joined, $((LIMIT + 1)) rows)"
	echo
	echo "| round | outpostd first ms | again ms | sqlite3 first ms | again ms |"
	echo "|---|---|---|---|---|"
	printf '%s' "$ROWS"
	echo "| **median** | **$m_f** | **$m_a** | **$m_sf** | **$m_sa** |"
	echo
	echo "First request: **$m_f ms** (target < $TARGET_MS ms: $met), $ratio x sqlite3's" \
		"first run of the query alone; again: $m_a ms (sqlite3: $m_sa ms). outpostd's time" \
		"is curl's, from the request sent to the last byte: the query, the JSON, the write."
	echo
	echo "SCORE|?state=pending&limit=$LIMIT, $INSTANCES stored, first|$m_f ms|sqlite3 $m_sf ms|${ratio}x|< $TARGET_MS ms|$met"
}
report
[ -n "$OUT" ] && report >"$OUT"
exit 0
