#!/bin/sh
# The event stream's websocket protocol, spoken directly (lib.sh's bash
# client), so it is tested apart from any client program: subscribe from a
# sequence number, get the replay, {"caught_up": N}, then live events, each
# once; reconnect from the last seq seen and get exactly what was missed; the
# types filter; a client more than ws_max_lag behind is sent {"resync"} and
# gets the rest by subscribing again (outpost_ws_resyncs_total counts it); a bad subscribe message gets an error
# naming the field; an upgrade without a valid viewer token is refused with
# 401 or 403.
. "$(dirname "$0")/lib.sh"

printf 'ws_max_lag = 10\n' >"$WORK/outpostd.conf"
start_server --config "$WORK/outpostd.conf"
create_definition lab
create_instance lab alice
get_last_seq
s0=$LAST_SEQ

# seqs NAME: the seq of every event message so far, space separated.
seqs() {
	ws_messages "$1" | jq -r 'select(.seq) | .seq' | tr '\n' ' ' | sed 's/ $//'
}
has_caught_up() {
	ws_messages "$1" | grep -q '"caught_up"'
}
has_seq() {	# NAME SEQ
	ws_messages "$1" | jq -s -e "any(.[]; .seq == $2)" >/dev/null
}
ws_clients() {
	curl -sS --max-time 5 "$SERVER_URL/metrics" | awk '$1 == "outpost_ws_clients" { print $2 }'
}
ws_clients_is() {
	[ "$(ws_clients)" = "$1" ]
}

ws_open a
assert_eq 101 "$WS_STATUS" "handshake status"
assert_contains 'outpost.events.v1' "$(grep -i '^sec-websocket-protocol' "$WORK/ws.a.raw")" \
	"the subprotocol in the handshake answer"
ws_send a '{"subscribe": {"since": 0}}'
wait_for 10 "caught_up on stream a" has_caught_up a
assert_eq "$(seq -s ' ' 1 "$s0")" "$(seqs a)" "replayed seqs on stream a"
assert_eq "{\"caught_up\":$s0}" "$(ws_messages a | tail -n 1 | jq -c .)" "the caught_up message"
wait_for 10 "outpost_ws_clients 1" ws_clients_is 1

# Live: each new event once, in order.
for _ in 1 2 3; do
	create_instance lab bob
done
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
wait_for 10 "seq $((s0 + 4)) on stream a" has_seq a $((s0 + 4))
assert_eq "$(seq -s ' ' 1 $((s0 + 4)))" "$(seqs a)" "seqs on stream a after live events"
assert_eq 'instance.created instance.created instance.created instance.state' \
	"$(ws_messages a | jq -r 'select(.seq > '"$s0"') | .type' | tr '\n' ' ' | sed 's/ $//')" \
	"types of the live events"
seen=$((s0 + 4))

# A filtered stream, side by side.
ws_open f
ws_send f '{"subscribe": {"since": 0, "types": ["instance.state", "definition.*"]}}'
wait_for 10 "caught_up on stream f" has_caught_up f
assert_eq "definition.created instance.state" \
	"$(ws_messages f | jq -r 'select(.seq) | .type' | tr '\n' ' ' | sed 's/ $//')" \
	"types on the filtered stream"
wait_for 10 "outpost_ws_clients 2" ws_clients_is 2

# The client goes away; what happens meanwhile arrives on resume, exactly once.
ws_close a
wait_for 10 "outpost_ws_clients 1 after a close" ws_clients_is 1
create_instance lab carol
missed1=$INSTANCE_ID
api_ok 200 POST "/api/v1/instances/$missed1/terminate"
create_token late viewer
ws_open b
ws_send b "{\"subscribe\": {\"since\": $seen}}"
wait_for 10 "caught_up on stream b" has_caught_up b
assert_eq "$((seen + 1)) $((seen + 2)) $((seen + 3))" "$(seqs b)" "seqs on resume from $seen"
api_ok 200 GET "/api/v1/events?since=$seen"
assert_eq "$(jbody -c '[.items[]]')" "$(ws_messages b | jq -s -c '[.[] | select(.seq)]')" \
	"resumed events are the REST events since $seen"
assert_eq "{\"caught_up\":$((seen + 3))}" "$(ws_messages b | tail -n 1 | jq -c .)" \
	"caught_up after the resume"
create_instance lab dave
wait_for 10 "a live event after the resume" has_seq b $((seen + 4))
assert_eq "$((seen + 1)) $((seen + 2)) $((seen + 3)) $((seen + 4))" "$(seqs b)" \
	"seqs on stream b after a live event"
wait_for 10 "instance.state on the filtered stream" has_seq f $((seen + 2))
assert_eq 'definition.created instance.state instance.state' \
	"$(ws_messages f | jq -r 'select(.seq) | .type' | tr '\n' ' ' | sed 's/ $//')" \
	"types on the filtered stream after more changes"

# A subscribe beyond the end: nothing to replay, caught up at the end.
ws_open c
ws_send c '{"subscribe": {"since": 1000000}}'
wait_for 10 "caught_up on stream c" has_caught_up c
assert_eq "{\"caught_up\":$((seen + 4))}" "$(ws_messages c | jq -c .)" "subscribe past the end"

# A subscribe longer than one read of the socket (the server is handed a message in
# pieces of 512 bytes): taken whole. Then live events reach streams with different
# filters, each one's own (the server renders an event once for all of them).
pad=$(printf 'nothing.%039d' 0)
long=""
for _ in $(seq 1 15); do
	long="$long\"$pad\", "
done
long="{\"subscribe\": {\"since\": $((seen + 4)), \"types\": [$long\"instance.*\"]}}"
[ "${#long}" -gt 700 ] || fail "the long subscribe is only ${#long} bytes"
ws_open lg
ws_send lg "$long"
wait_for 10 "caught_up on stream lg" has_caught_up lg
assert_eq "{\"caught_up\":$((seen + 4))}" "$(ws_messages lg | jq -c .)" "a long subscribe"
create_definition long-subscribe
create_instance lab erin
wait_for 10 "the instance on stream lg" has_seq lg $((seen + 6))
wait_for 10 "the instance on stream b" has_seq b $((seen + 6))
wait_for 10 "the definition on stream f" has_seq f $((seen + 5))
assert_eq "$((seen + 6))" "$(seqs lg)" "seqs on the long-filtered stream lg"
assert_eq "$(seq -s ' ' $((seen + 1)) $((seen + 6)))" "$(seqs b)" "seqs on stream b"
assert_eq "definition.created instance.created" \
	"$(ws_messages b | jq -r 'select(.seq > '"$((seen + 4))"') | .type' | tr '\n' ' ' | sed 's/ $//')" \
	"types of the last two events on stream b"
assert_eq "$(ws_messages b | jq -c 'select(.seq == '"$((seen + 6))"')')" \
	"$(ws_messages lg | jq -c 'select(.seq == '"$((seen + 6))"')')" \
	"the same event, the same bytes on two streams"

# Bad subscribe messages: an error naming the field.
ws_open e
ws_send e '{"subscribe": {"since": -5}}'
wait_for 10 "an error on stream e" eval 'ws_messages e | grep -q error'
assert_eq 'invalid_argument subscribe.since' \
	"$(ws_messages e | jq -r 'select(.error) | "\(.error.code) \(.error.field)"' | head -n 1)" \
	"error for since -5"
ws_close e
ws_open e2
ws_send e2 '{"subscribe": {"types": "instance.*"}}'
wait_for 10 "an error on stream e2" eval 'ws_messages e2 | grep -q error'
assert_eq 'invalid_argument subscribe.types' \
	"$(ws_messages e2 | jq -r 'select(.error) | "\(.error.code) \(.error.field)"' | head -n 1)" \
	"error for types as a string"
ws_close e2

# Fall behind: a batch of 50 in one commit is more than ws_max_lag = 10.
ws_resyncs() {
	TOKEN= api_ok 200 GET /metrics
	printf '%s\n' "$BODY" | awk '$1 == "outpost_ws_resyncs_total" { print $2 }'
}
resyncs=$(ws_resyncs)
ws_open r
ws_send r '{"subscribe": {"since": 0}}'
wait_for 10 "caught_up on stream r" has_caught_up r
api_ok 201 POST /api/v1/instances "{\"definition\":\"lab\",\"owner\":\"batch\",\
\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\",\"count\":50}"
get_last_seq
wait_for 10 "resync on stream r" eval 'ws_messages r | grep -q resync'
from=$(ws_messages r | jq -r 'select(.resync) | .resync.from')
assert_ne "$resyncs" "$(ws_resyncs)" "outpost_ws_resyncs_total after stream r's resync"
assert_eq "$(seq -s ' ' 1 "$from")" "$(seqs r)" "seqs on stream r before its resync"
ws_send r "{\"subscribe\": {\"since\": $from}}"
wait_for 10 "stream r catches up again" has_seq r "$LAST_SEQ"
assert_eq "$(seq -s ' ' 1 "$LAST_SEQ")" "$(seqs r)" "seqs on stream r after resubscribing"

# Refused upgrades answer with a status a client can act on.
create_token agent-1 agent
agent=$NEW_TOKEN
ws_open n ""
assert_eq 401 "$WS_STATUS" "upgrade without a token"
ws_open g "opt_$(printf 'A%.0s' $(seq 43))"
assert_eq 401 "$WS_STATUS" "upgrade with an unknown token"

# A join token opens no stream; a worker's own token does.
ws_open j "$agent"
assert_eq 403 "$WS_STATUS" "upgrade with a join token"
TOKEN=$agent api_ok 201 POST /api/v1/agent/register \
	'{"name":"wa","capacity":{"cpu":1,"memory_mb":64,"slots":1}}'
wa_token=$(jbody -r .token)
TOKEN=$agent api_ok 201 POST /api/v1/agent/register \
	'{"name":"wb","capacity":{"cpu":1,"memory_mb":64,"slots":1}}'
api_ok 200 POST /api/v1/workers/wb/cordon
api_ok 200 POST /api/v1/workers/wa/cordon

# An agent's stream is held to its worker's events: it must name its worker,
# and sees that worker's events and its instances' only.
ws_open h "$wa_token"
assert_eq 101 "$WS_STATUS" "upgrade with wa's own token"
ws_send h '{"subscribe": {"since": 0}}'
wait_for 10 "the error for an agent's subscription without a worker" \
	eval 'ws_messages h | grep -q "subscribe.worker"'
ws_send h '{"subscribe": {"since": 0, "worker": "wa"}}'
wait_for 10 "caught_up on stream h" has_caught_up h
assert_eq "worker.registered worker.state" \
	"$(ws_messages h | jq -r 'select(.seq) | .type' | tr '\n' ' ' | sed 's/ $//')" \
	"the events on wa's agent stream"
assert_eq "wa" "$(ws_messages h | jq -r 'select(.seq) | .data.worker.name' | sort -u)" \
	"the worker of the events on wa's agent stream"
ws_send h '{"subscribe": {"since": 0, "worker": "nope"}}'
wait_for 10 "the error for another worker" \
	eval 'ws_messages h | grep -q "acts for worker wa only, not nope"'
# A viewer may filter by worker too, on the stream and on the page.
api_ok 200 "GET" "/api/v1/events?worker=wb"
assert_eq "worker.registered worker.state" "$(jbody -r '[.items[].type] | join(" ")')" \
	"GET /api/v1/events?worker=wb"
api_ok 200 "GET" "/api/v1/events?worker=nope"
assert_eq 0 "$(jbody '.items | length')" "GET /api/v1/events?worker=nope"

# A refused subscribe changes nothing: the stream keeps its old filter.
ws_open k
ws_send k '{"subscribe": {"since": 0, "types": ["instance.*"]}}'
wait_for 10 "caught_up on stream k" has_caught_up k
ws_send k '{"subscribe": {"types": ["token.*", 5]}}'
wait_for 10 "the error for a bad type" eval 'ws_messages k | grep -q "subscribe.types"'
ws_send k '{"subscribe": {"sinse": 3}}'
wait_for 10 "the error for an unknown key" eval 'ws_messages k | grep -q "since, types and worker only"'
create_token after-bad-subscribe viewer
create_instance lab after-bad-subscribe
# The instance's own event: by now the unheartbeating wa and wb may have gone offline,
# and their events are after it (and not for a stream of instance.*).
api_ok 200 GET "/api/v1/events?since=0&types=instance.created&limit=1000"
inst_seq=$(jbody --argjson id "$INSTANCE_ID" '[.items[] | select(.id == $id)][0].seq')
wait_for 10 "the instance on stream k" has_seq k "$inst_seq"
assert_eq "" "$(ws_messages k | jq -r 'select(.type == "token.created") | .seq')" \
	"token events on a stream whose bad subscribe was refused"

# Revoking a token ends its streams at once.
viewer_id=$NEW_TOKEN_ID
ws_open v "$NEW_TOKEN"
assert_eq 101 "$WS_STATUS" "upgrade with a viewer token"
ws_send v '{"subscribe": {"since": 0}}'
wait_for 10 "caught_up on stream v" has_caught_up v
vcat=$WS_CAT_v
api_ok 200 DELETE "/api/v1/tokens/$viewer_id"
wait_for 10 "the revoked token's stream to be closed" sh -c "! kill -0 $vcat 2>/dev/null"

# A message over 64 KiB, in two fragments of 40,000 bytes: the stream is closed
# with 1009 (message too big), and the server goes on.
ws_open big
fd=$WS_FD_big
{
	printf '\x01\xfe\x9c\x40\x00\x00\x00\x00'
	head -c 40000 /dev/zero | tr '\0' ' '
	printf '\x80\xfe\x9c\x40\x00\x00\x00\x00'
	head -c 40000 /dev/zero | tr '\0' ' '
} >&"$fd" 2>/dev/null || true
bcat=$WS_CAT_big
wait_for 10 "the stream with a message over 64 KiB to be closed" sh -c "! kill -0 $bcat 2>/dev/null"
off=$(sed -n $'1,/^\r$/p' "$WORK/ws.big.raw" | wc -c)
assert_eq "136 19 3 241" "$(od -An -tu1 -j "$off" -N 4 "$WORK/ws.big.raw" | xargs)" \
	"the close frame for a message over 64 KiB (1009)"
api_ok 200 GET /healthz
exit 0
