#!/bin/sh
# packaging/grafana/outpost.json against a real Prometheus: a real outpostd
# with a small workload (an agent, instances that run, a runbook's run, a
# websocket client, an alert rule) is scraped every second by Debian's
# prometheus (its own port on 127.0.0.1, its own directory, the rules of
# packaging/prometheus loaded); then every panel's every query, with the
# dashboard's variables given values, is evaluated through Prometheus' HTTP
# API: each must parse and return data, not NaN alone. No panel may name a
# series that /metrics does not have. Skipped where prometheus is absent.
. "$(dirname "$0")/lib.sh"

command -v prometheus >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs prometheus" >&2; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
DASH=$top_srcdir/packaging/grafana/outpost.json
jq -e '.schemaVersion >= 36 and (.__inputs[0].name == "DS_PROMETHEUS")' "$DASH" >/dev/null ||
	fail "$DASH: not a dashboard of schemaVersion 36 or later with a DS_PROMETHEUS input"
# Every panel and target names the input's datasource, never a site's own.
[ "$(jq '[.panels[] | select(.type != "row") | .datasource.uid, (.targets[].datasource.uid)] |
	map(select(. != "${DS_PROMETHEUS}")) | length' "$DASH")" = 0 ] ||
	fail "a panel or target of $DASH names a datasource other than \${DS_PROMETHEUS}"

printf '{"rules": [{"name": "waiting", "description": "instances wait",
  "condition": {"type": "pending_unplaced", "for": "10m"}}]}\n' >"$WORK/alerts.json"
runbook hello '{ "name": "hello", "description": "says hello", "role": "operator",
  "steps": [ { "name": "greet", "exec": ["echo", "hello"] } ] }'
start_server

# ---- Prometheus, scraping it every second ----
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
PROM=http://127.0.0.1:$port
cp "$top_srcdir/packaging/prometheus/outpost-rules.yml" "$WORK/"
cat >"$WORK/prometheus.yml" <<YML
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [outpost-rules.yml]
scrape_configs:
  - job_name: outpost
    static_configs:
      - targets: ['${SERVER_URL#http://}']
YML
prometheus --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/prom" \
	--web.listen-address="127.0.0.1:$port" >"$WORK/prometheus.log" 2>&1 &
track_pid $!
_prom_ready() { curl -s -f -o /dev/null "$PROM/-/ready"; }
wait_for 30 "prometheus to be ready on $PROM ($(tail -n 3 "$WORK/prometheus.log" 2>/dev/null))" _prom_ready
query() {	# EXPR: sets QBODY, the answer's JSON
	QBODY=$(curl -s -G --max-time 10 "$PROM/api/v1/query" --data-urlencode "query=$1")
}
_scraped() {
	query 'count_over_time(up{job="outpost"}[1m])'
	[ "$(printf '%s' "$QBODY" | jq -r '.data.result[0].value[1] // 0')" -ge "$1" ]
}
wait_for 30 "prometheus to scrape outpostd" _scraped 2
query 'up{job="outpost"}'
assert_eq 1 "$(printf '%s' "$QBODY" | jq -r '.data.result[0].value[1]')" 'up{job="outpost"}'

# ---- the workload, while it scrapes ----
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
define lab '"resources":{"cpu":1,"memory_mb":256},"hooks":{"instantiate":["true"],"run":["sleep","300"]}'
create_now lab ana 3600 2
for id in $IDS; do
	wait_state "$id" running 20
done
start_run hello '{}'
wait_run "$RUN_ID" succeeded
api GET /api/v1/instances/999999
assert_status 404 "an instance there is not"
ws_open follower
ws_send follower '{"subscribe": {"since": 0}}'

# $__rate_interval is 1m below (4 scrape intervals of 15 s, as Grafana makes it for a
# site): the workload is in each window, which holds a few scrapes after it.
_scraped 0
scrapes=$(printf '%s' "$QBODY" | jq -r '.data.result[0].value[1] // 0')
wait_for 30 "prometheus to scrape outpostd 4 times after the workload" _scraped $((scrapes + 4))

# ---- every panel's queries ----
jq -r '.panels[] | select(.type != "row") | .title as $t | .targets[] | "\($t)\t\(.expr)"' "$DASH" \
	>"$WORK/queries"
n=0
nan=0
nan_titles=
while IFS=$(printf '\t') read -r title expr; do
	e=$(printf '%s' "$expr" | sed 's/\$__rate_interval/1m/g; s/\$__interval/1s/g; s/\$__range/5m/g; s/\$instance/.+/g')
	case $e in *'$'*) fail "panel \"$title\": a variable the test gives no value: $e" ;; esac
	query "$e"
	[ "$(printf '%s' "$QBODY" | jq -r .status)" = success ] ||
		fail "panel \"$title\": $e: $(printf '%s' "$QBODY" | jq -r '.error // .')"
	[ "$(printf '%s' "$QBODY" | jq '.data.result | length')" -gt 0 ] ||
		fail "panel \"$title\": $e: no data"
	# The workload moved every figure the dashboard shows: not one query is all NaN.
	[ "$(printf '%s' "$QBODY" | jq '[.data.result[] | select(.value[1] != "NaN")] | length')" -gt 0 ] ||
		fail "panel \"$title\": $e: only NaN: $(printf '%s' "$QBODY" | jq -c .data.result | head -c 300)"
	if [ "$(printf '%s' "$QBODY" | jq '[.data.result[] | select(.value[1] == "NaN")] | length')" -gt 0 ]; then
		nan=$((nan + 1))
		nan_titles="$nan_titles${nan_titles:+, }$title"
	fi
	n=$((n + 1))
done <"$WORK/queries"
[ "$n" -ge 30 ] || fail "only $n queries in $DASH"

# ---- no panel names a series /metrics does not have ----
TOKEN= api_ok 200 GET /metrics
printf '%s\n' "$BODY" | sed -n 's/^# TYPE \([a-z_]*\) .*/\1/p' | sort -u >"$WORK/exposed"
cut -f2 "$WORK/queries" | grep -o '\b\(outpost\|process\)_[a-z_]*' | sed 's/_\(bucket\|count\|sum\)$//' |
	sort -u >"$WORK/named"
missing=$(comm -23 "$WORK/named" "$WORK/exposed")
[ -z "$missing" ] || fail "series the dashboard names that /metrics does not have: $missing"
# Beside Outpost's own, only Prometheus' up and ALERTS.
others=$(cut -f2 "$WORK/queries" | grep -o '\b[a-zA-Z_:][a-zA-Z0-9_:]*{' | tr -d '{' |
	grep -v -x -e 'up' -e 'ALERTS' | grep -v '^\(outpost\|process\)_' | sort -u)
[ -z "$others" ] || fail "series the dashboard names that are neither Outpost's nor Prometheus': $others"
note "$n queries over $(jq '[.panels[] | select(.type != "row")] | length' "$DASH") panels, each with data; \
$nan with a NaN beside data (a route with no request in the window): ${nan_titles:-none}"
ws_close follower
exit 0
