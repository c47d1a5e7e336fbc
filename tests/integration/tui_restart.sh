#!/bin/sh
# outpost-top survives its server: killed with -9, the header says the server
# is away and the last state stays on screen; restarted on the same port and
# state, with changes made before the dashboard is back, it reconnects by
# itself and replays from its last sequence number: every event once, none
# missed (the events view holds each seq from 1 to the server's last).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tui_lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
define lab '"hooks":{"run":["sleep","120"]}'
create_now lab alice 300 2
for id in $IDS; do wait_state "$id" running; done
first=${IDS%% *}
port=${SERVER_URL##*:}

top_start 80 24
wait_screen 10 "live" "live, seq"
wait_screen 5 "both running" "Instances 2: running 2"

crash_server
wait_screen 10 "the header says the server is away" "SERVER AWAY"
# The last state stays.
screen | grep -qE "^ *$first +running +lab@1 +alice" || fail "the rows went with the server: $(screen)"
# Long enough away for the dashboard's next attempt to be seconds off.
sleep 4

start_server --state-dir "$SERVER_DIR" --listen "127.0.0.1:$port"
assert_eq "$port" "${SERVER_URL##*:}" "the port after the restart"
create_now lab bob 300 3
TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$first/stop"
screen | grep -q "SERVER AWAY" ||
	note "the dashboard was back before the changes: the replay is not what this run tested"

wait_screen 20 "live again" "live, seq"
for id in $IDS; do
	wait_screen 20 "instance $id (made while it was away) running" "^ *$id +running +lab@1 +bob"
done
wait_state "$first" stopped 20
wait_screen 10 "the stop made while away, on screen" "^ *$first +stopped"
get_last_seq
wait_screen 10 "the header's seq is the server's last" "live, seq $LAST_SEQ"

# Every event, once: the events view holds seqs 1..LAST_SEQ, no gap, no twin.
keys 7
wait_screen 5 "the events view" "SEQ"
wait_screen 5 "every event in the events view" " $LAST_SEQ/$LAST_SEQ"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?since=0&types=instance.created&limit=1000"
created=$(jbody '.items | length')
assert_eq 5 "$created" "instance.created events on the server"
keys / i n s t a n c e . c r e a t e d Enter
wait_screen 5 "the created events, filtered" " $created/$LAST_SEQ filter: instance.created"
note "ok"
