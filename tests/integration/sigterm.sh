#!/bin/sh
# SIGTERM drains: a request whose body is still arriving when the signal comes
# is finished (201) and kept; while draining, /readyz and new requests get 503
# (or the connection is refused); then outpostd exits 0.
. "$(dirname "$0")/lib.sh"

start_server
dir=$SERVER_DIR
create_definition lab
hostport=${SERVER_URL#http://}

body="{\"definition\":\"lab\",\"owner\":\"in-flight\",\"timeslot_start\":\"$SLOT_START\",\
\"timeslot_end\":\"$SLOT_END\"}"
len=$(printf %s "$body" | wc -c)
head=${body:0:20}
rest=${body:20}

exec {conn}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || fail "cannot connect to $hostport"
printf 'POST /api/v1/instances HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s' \
	"$hostport" "$TOKEN" "$len" "$head" >&"$conn"
# One answer on another connection: the loop has come round and read our headers.
api_ok 200 GET /healthz

kill -TERM "$SERVER_PID"
wait_for 10 "outpostd logs outpostd.stopping" grep -q '"outpostd.stopping"' "$SERVER_LOG"
kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd exited with a request in flight"

# While draining: not ready, and new requests are turned away.
TOKEN= api GET /readyz
case $STATUS in
503 | 000) ;;
*) fail "GET /readyz while draining: expected 503 or a refused connection, got $STATUS: $BODY" ;;
esac
api POST /api/v1/instances "${body/in-flight/too-late}"
case $STATUS in
503)
	assert_eq unavailable "$(jbody .error.code)" "error.code of a request while draining"
	assert_match '^[0-9]+$' "$(header retry-after)" "Retry-After of a 503 while draining"
	;;
000) ;;
*) fail "POST while draining: expected 503 or a refused connection, got $STATUS: $BODY" ;;
esac
kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd exited with a request in flight"

# The rest of the body: the request in flight completes.
printf %s "$rest" >&"$conn"
IFS= read -r -t 10 status_line <&"$conn" || fail "no answer to the request in flight"
status_line=${status_line%$'\r'}
assert_match '^HTTP/1\.1 201' "$status_line" "answer to the request in flight"
resp=$(timeout 5 cat <&"$conn")
exec {conn}>&-
id=$(printf '%s\n' "$resp" | tail -n 1 | jq -r .id)
assert_match '^[0-9]+$' "$id" "id in the answer to the request in flight ($resp)"

wait_exit "$SERVER_PID" 15
assert_eq 0 "$EXIT_RC" "outpostd exit status after draining"
grep -q '"outpostd.stopped"' "$SERVER_LOG" || fail "no outpostd.stopped in the log"

# The drained request was committed; the one turned away was not.
start_server --state-dir "$dir"
api_ok 200 GET "/api/v1/instances/$id"
assert_eq in-flight "$(jbody .owner)" "owner of the instance created while draining"
api_ok 200 GET /api/v1/instances?owner=too-late
assert_eq 0 "$(jbody '.items | length')" "instances made by a request turned away"

# An idle server exits 0 at once on SIGTERM.
start=$(date +%s)
stop_server
assert_eq 0 "$EXIT_RC" "exit status of an idle outpostd on SIGTERM"
[ $(($(date +%s) - start)) -lt 5 ] || fail "an idle outpostd took more than 5 s to stop"
exit 0
