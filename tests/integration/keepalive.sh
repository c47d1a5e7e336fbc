#!/bin/sh
# Websocket keepalive: the server pings every ws_ping_interval; a client that
# answers (libwebsockets' client, in `outpost events --follow`) stays
# connected through many intervals, and one that never answers a ping (the
# bare test client) is hung up after the grace instead of being held for ever.
. "$(dirname "$0")/lib.sh"

OUTPOST_WS_PING_INTERVAL=1s start_server
create_definition lab

ws_clients() {
	curl -s "$SERVER_URL/metrics" | sed -n 's/^outpost_ws_clients \([0-9]*\)$/\1/p'
}

"$OUTPOST" --server "$SERVER_URL" --token "$SERVER_TOKEN" events --follow -o json \
	>"$WORK/follow.out" 2>"$WORK/follow.err" &
track_pid $!
ws_open silent
assert_eq 101 "$WS_STATUS" "handshake of the client that never answers pings"
ws_send silent '{"subscribe": {"since": 0}}'
wait_for 10 "two websocket clients" sh -c "[ \"\$(curl -s $SERVER_URL/metrics |
	sed -n 's/^outpost_ws_clients //p')\" = 2 ]"
opened=$SECONDS

# The silent client is pinged, then hung up (grace: twice the interval plus 10 s).
cat_pid=$WS_CAT_silent
wait_for 25 "the server to hang up the client that never answers pings" \
	sh -c "! kill -0 $cat_pid 2>/dev/null"
[ $((SECONDS - opened)) -ge 3 ] || fail "the silent client was dropped after only $((SECONDS - opened)) s"
od -An -tx1 -v "$WORK/ws.silent.raw" | tr ' ' '\n' | grep -qx 89 ||
	fail "the server sent the silent client no ping frame"

# The answering client is still the same connection, and live.
assert_eq 1 "$(ws_clients)" "websocket clients after the hang-up"
if grep -q "event stream lost" "$WORK/follow.err"; then
	fail "outpost events --follow lost its stream: $(cat "$WORK/follow.err")"
fi
create_instance lab keepalive-owner
wait_for 5 "the follower to receive the new instance" \
	grep -q '"owner":"keepalive-owner"' "$WORK/follow.out"
exit 0
