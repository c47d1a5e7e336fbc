#!/bin/sh
# /metrics (no token) is Prometheus text with the series the docs promise, and
# their values are right: instances by state, requests by method, route and
# code, a latency histogram per route, events written, websocket clients
# (1 while an `outpost events --follow` is connected, 0 after it leaves).
# The process's own series agree with /proc; outpost_build_info with
# outpostd --version; the WAL's size with its file; each COMMIT is timed;
# the age of the oldest due pending instance grows, a future one's does not
# count; the websocket lag of a client that stopped reading is the events it
# was not sent, and 0 again once it reads. promtool check metrics, where
# installed, finds nothing wrong.
. "$(dirname "$0")/lib.sh"

t_start=$(date +%s)
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

# ---- the process's series, from /proc/self ----
scrape
for t in 'process_cpu_seconds_total counter' 'process_resident_memory_bytes gauge' \
	'process_open_fds gauge' 'process_max_fds gauge' 'process_start_time_seconds gauge' \
	'outpost_build_info gauge' 'outpost_db_wal_size_bytes gauge' \
	'outpost_db_commit_duration_seconds histogram' 'outpost_ws_lag_events gauge' \
	'outpost_ws_resyncs_total counter' 'outpost_instance_state_age_seconds gauge'; do
	printf '%s\n' "$M" | grep -q -x "# TYPE $t" || fail "/metrics lacks '# TYPE $t'"
done
start=$(metric process_start_time_seconds)
awk -v s="$start" -v a="$t_start" -v b="$(date +%s)" 'BEGIN { exit !(s >= a - 2 && s <= b + 1) }' ||
	fail "process_start_time_seconds $start is not between the test's start $t_start and now"
fds=$(ls "/proc/$SERVER_PID/fd" | wc -l)
assert_match '^[0-9]+$' "$(metric process_open_fds)" "process_open_fds"
[ "$(metric process_open_fds)" -ge $((fds - 3)) ] && [ "$(metric process_open_fds)" -le $((fds + 3)) ] ||
	fail "process_open_fds $(metric process_open_fds), /proc/$SERVER_PID/fd has $fds"
assert_eq "$(awk '$1 == "Max" && $3 == "files" { print $4 }' "/proc/$SERVER_PID/limits")" \
	"$(metric process_max_fds)" "process_max_fds against /proc/PID/limits"
rss=$(awk '$1 == "VmRSS:" { print $2 * 1024 }' "/proc/$SERVER_PID/status")
awk -v m="$(metric process_resident_memory_bytes)" -v r="$rss" 'BEGIN { exit !(m > r / 2 && m < r * 2) }' ||
	fail "process_resident_memory_bytes $(metric process_resident_memory_bytes), VmRSS $rss"
ticks=$(awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$SERVER_PID/stat")
awk -v c="$(metric process_cpu_seconds_total)" -v t="$ticks" -v h="$(getconf CLK_TCK)" \
	'BEGIN { exit !(c > 0 && c <= t / h + 0.5) }' ||
	fail "process_cpu_seconds_total $(metric process_cpu_seconds_total), /proc says $ticks ticks"
version=$("$OUTPOSTD" --version | awk '{ print $2 }')
assert_eq 1 "$(metric "outpost_build_info{version=\"$version\"}")" "outpost_build_info{version=\"$version\"}"

# ---- the database: the WAL's size, each COMMIT timed ----
assert_eq 0.000 "$(metric outpost_backup_max_age_seconds)" "outpost_backup_max_age_seconds with no schedule"
wal_is_file() {
	scrape
	[ "$(metric outpost_db_wal_size_bytes)" = "$(stat -c %s "$SERVER_DIR/outpost.db-wal")" ]
}
wait_for 10 "outpost_db_wal_size_bytes to be the size of outpost.db-wal" wal_is_file
[ "$(metric outpost_db_wal_size_bytes)" -gt 0 ] || fail "outpost_db_wal_size_bytes is 0 after writes"
commits=$(metric outpost_db_commit_duration_seconds_count)
create_instance lab e
scrape
[ "$(metric outpost_db_commit_duration_seconds_count)" -gt "$commits" ] ||
	fail "a create made no observation of outpost_db_commit_duration_seconds ($commits before)"
assert_eq "$(metric outpost_db_commit_duration_seconds_count)" \
	"$(metric 'outpost_db_commit_duration_seconds_bucket{le="+Inf"}')" "the commits' +Inf bucket"

# ---- the oldest due pending instance; those of a slot to come do not count ----
age_of() { metric "outpost_instance_state_age_seconds{state=\"$1\"}"; }
scrape
assert_eq 0.000 "$(age_of scheduled)" "no instance scheduled"
assert_eq 0.000 "$(age_of pending)" "the pending age with only instances of a slot in 2030"
create_now lab now 3600
pending_older_than() {
	scrape
	awk -v a="$(age_of pending)" -v m="$1" 'BEGIN { exit !(a >= m) }'
}
wait_for 10 "the due pending instance's age to pass 1 s" pending_older_than 1
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
scrape
assert_eq 0.000 "$(age_of pending)" "the pending age once the due one is terminated"

# ---- websocket lag: a client that stops reading falls behind ----
get_last_seq
ws_open slow
ws_send slow "{\"subscribe\": {\"since\": $LAST_SEQ}}"
wait_for 10 "caught_up on stream slow" eval 'ws_messages slow | grep -q caught_up'
scrape
assert_eq 0 "$(metric outpost_ws_lag_events)" "outpost_ws_lag_events with a client caught up"
kill -STOP "$WS_CAT_slow"
# ~22 MiB of events, more than the socket's buffers on both sides hold.
arg=$(head -c 4000 /dev/zero | tr '\0' x)
hooks=$(for _ in $(seq 60); do printf '"%s",' "$arg"; done)
for n in $(seq 1 24); do
	printf '{"name":"big%02d","hooks":{"run":[%s"end"],"collect":[%s"end"],"grade":[%s"end"],"stop":[%s"end"]}}' \
		"$n" "$hooks" "$hooks" "$hooks" "$hooks" >"$WORK/def.json"
	api_ok 201 POST /api/v1/definitions "@$WORK/def.json"
done
lag_behind() {
	scrape
	[ "$(metric outpost_ws_lag_events)" -ge 1 ]
}
wait_for 10 "outpost_ws_lag_events to show the stopped client behind" lag_behind
lag=$(metric outpost_ws_lag_events)
[ "$lag" -le 24 ] || fail "outpost_ws_lag_events $lag, more than the 24 events written since"
kill -CONT "$WS_CAT_slow"
lag_is_zero() {
	scrape
	[ "$(metric outpost_ws_lag_events)" = 0 ]
}
wait_for 20 "outpost_ws_lag_events 0 once the client reads again" lag_is_zero
assert_eq 0 "$(metric outpost_ws_resyncs_total)" "outpost_ws_resyncs_total: nobody was told to resync"
ws_close slow

if command -v promtool >/dev/null 2>&1; then
	printf '%s\n' "$M" | promtool check metrics >"$WORK/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$WORK/promtool.out")"
else
	note "promtool is not installed: /metrics checked by the line format only"
fi
exit 0
