#!/bin/sh
# /metrics (no token) is Prometheus text with the series the docs promise, and
# their values are right: instances by state, requests by method, route and
# code, a latency histogram per route, events written, websocket clients
# (1 while an `outpost events --follow` is connected, 0 after it leaves).
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
for o in a b c d; do
	create_instance lab "$o"
done
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
api POST /api/v1/instances '{"owner": 5}'
assert_status 400
api GET /api/v1/instances/abc
assert_status 400
api GET /api/v1/instances?limit=2
api GET /api/v1/instances?limit=3

scrape() {
	TOKEN= api_ok 200 GET /metrics
	M=$BODY
}
metric() {	# SERIES (name{labels} exactly as printed): its value, or "absent"
	printf '%s\n' "$M" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'
}

scrape
assert_contains 'text/plain' "$(header content-type)" "Content-Type of /metrics"
# Every line is a comment or `name{labels} value`.
bad=$(printf '%s\n' "$M" | grep -v -E '^(# (HELP|TYPE) [a-z_]+ .+|[a-z_]+(\{[a-z_]+="[^"]*"(,[a-z_]+="[^"]*")*\})? [0-9.e+-]+|)$' | head -n 3)
[ -z "$bad" ] || fail "lines of /metrics that are not Prometheus text: $bad"
for t in 'outpost_instances gauge' 'outpost_http_requests_total counter' \
	'outpost_http_request_duration_seconds histogram' 'outpost_events_total counter' \
	'outpost_ws_clients gauge'; do
	printf '%s\n' "$M" | grep -q -x "# TYPE $t" || fail "/metrics lacks '# TYPE $t'"
done

assert_eq 3 "$(metric 'outpost_instances{state="pending"}')" 'outpost_instances{state="pending"}'
assert_eq 1 "$(metric 'outpost_instances{state="terminated"}')" 'outpost_instances{state="terminated"}'
assert_eq 0 "$(metric 'outpost_instances{state="running"}')" 'outpost_instances{state="running"}'

assert_eq 4 "$(metric 'outpost_http_requests_total{method="POST",route="/api/v1/instances",code="201"}')" \
	"POST /api/v1/instances 201 count"
assert_eq 1 "$(metric 'outpost_http_requests_total{method="POST",route="/api/v1/instances",code="400"}')" \
	"POST /api/v1/instances 400 count"
assert_eq 1 "$(metric 'outpost_http_requests_total{method="GET",route="/api/v1/instances/{id}",code="400"}')" \
	"GET /api/v1/instances/{id} 400 count (the route pattern, not the path)"
assert_eq 2 "$(metric 'outpost_http_requests_total{method="GET",route="/api/v1/instances",code="200"}')" \
	"GET /api/v1/instances 200 count (one series whatever the query)"
assert_eq 1 "$(metric 'outpost_http_requests_total{method="POST",route="/api/v1/instances/{id}/terminate",code="200"}')" \
	"POST terminate 200 count"
if printf '%s\n' "$M" | grep -q 'route="/api/v1/instances/abc"'; then
	fail "a raw path is a metrics label: unbounded series"
fi

# The histogram of POST /api/v1/instances: cumulative buckets, +Inf = count = 5.
r='route="/api/v1/instances"'
buckets=$(printf '%s\n' "$M" | grep "^outpost_http_request_duration_seconds_bucket{$r,le=" | awk '{ print $2 }')
[ "$(printf '%s\n' "$buckets" | wc -l)" -ge 5 ] || fail "too few histogram buckets for $r: $buckets"
printf '%s\n' "$buckets" | sort -n -c 2>/dev/null || fail "histogram buckets of $r are not cumulative: $buckets"
count=$(metric "outpost_http_request_duration_seconds_count{$r}")
assert_eq 7 "$count" "request count of $r (5 POST, 2 GET)"
assert_eq "$count" "$(metric "outpost_http_request_duration_seconds_bucket{$r,le=\"+Inf\"}")" \
	"the +Inf bucket of $r"
assert_match '^[0-9]+\.[0-9]+$' "$(metric "outpost_http_request_duration_seconds_sum{$r}")" "the sum of $r"

get_last_seq
scrape
assert_eq "$LAST_SEQ" "$(metric outpost_events_total)" "outpost_events_total"
assert_eq 0 "$(metric outpost_ws_clients)" "outpost_ws_clients with no client"

# outpost_ws_clients with a follower connected, then gone.
ws_is() {
	scrape
	[ "$(metric outpost_ws_clients)" = "$1" ]
}
if "$OUTPOST" events --help 2>&1 | grep -q -- --follow; then
	printf '%s\n' "$TOKEN" >"$WORK/token"
	"$OUTPOST" --server "$SERVER_URL" --token-file "$WORK/token" events --follow --since 0 \
		-o json >"$WORK/follow.out" 2>"$WORK/follow.err" &
	follower=$!
	track_pid "$follower"
	wait_for 10 "outpost_ws_clients 1 with outpost events --follow running" ws_is 1
	kill -TERM "$follower"
	wait "$follower" 2>/dev/null
else
	note "outpost events --follow is not built yet; following with lib.sh's websocket client"
	ws_open follower
	ws_send follower '{"subscribe": {"since": 0}}'
	wait_for 10 "outpost_ws_clients 1 with a websocket client" ws_is 1
	ws_close follower
fi
wait_for 10 "outpost_ws_clients 0 after the follower left" ws_is 0
exit 0
