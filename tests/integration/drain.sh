#!/bin/sh
# Drain with a deadline: the worker takes nothing new; what runs finishes its
# slot; at the deadline the rest are stopped, collected and graded, and what
# had not begun goes to another worker. The worker is empty by its deadline,
# and a worker.drained event says so. Uncordon ends the drain.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/slow.sh" <<'EOS'
#!/bin/sh
sleep 30
EOS
define lab '"hooks":{"run":["sleep","3600"],"grade":["echo","{\"score\": 1}"]}'
define slow "\"hooks\":{\"instantiate\":[\"sh\",\"$H/slow.sh\"],\"run\":[\"sleep\",\"3600\"]}"

create_now lab short 3	# whole seconds: 2 to 3 s left when it arrives
short=$INSTANCE_ID
create_now lab long 3600
long=$INSTANCE_ID
create_now slow late 3600
late=$INSTANCE_ID
# The short one's slot (3 s, from a whole second) may be over already: it has run.
_has_been() {	# ID STATE: the instance's transitions went through STATE
	TOKEN=$SERVER_TOKEN api GET "/api/v1/instances/$1/transitions"
	[ "$(jbody --arg s "$2" '[.items[] | select(.to == $s)] | length')" -gt 0 ]
}
wait_for 10 "instance $short to run" _has_been "$short" running
wait_state "$long" running 10
wait_state "$late" instantiating 10
start_agent w2 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w2

deadline=$(at_offset 8)	# past the short one's slot and its grading, on a loaded machine too
api_ok 200 POST /api/v1/workers/w1/drain "{\"deadline\":\"$deadline\"}"
assert_eq draining "$(jbody .state)" "w1's state"
assert_eq "$deadline" "$(jbody .drain_deadline)" "w1's drain deadline"
# Nothing new lands on a draining worker.
create_now lab new 3600
wait_state "$INSTANCE_ID" running 10
assert_eq w2 "$(inst "$INSTANCE_ID" .worker)" "a new instance while w1 drains"

# The short one ends its slot as usual, before the deadline.
wait_state "$short" stopped 10
assert_eq running "$(inst "$long" .state)" "the long instance before the deadline"
# At the deadline: the long one is stopped (collected, graded), the late one moves.
wait_state "$long" stopped 15
assert_eq 1 "$(inst "$long" .grade.score)" "the long instance's grade"
api_ok 200 GET "/api/v1/instances/$long/transitions"
assert_eq "stopped at the drain deadline of w1" \
	"$(jbody -r '.items[] | select(.to == "collecting") | .reason')" "why the long instance stopped"
wait_state "$late" instantiating 10
assert_eq w2 "$(inst "$late" .worker)" "the instance that had not begun, after the deadline"
api_ok 200 GET "/api/v1/instances/$late/transitions"
assert_eq "its worker w1 reached its drain deadline; placed again" \
	"$(jbody -r '.items[] | select(.to == "pending" and .from != null) | .reason')" \
	"why the late instance moved"
moved=$(jbody -r '.items[] | select(.to == "pending" and .from != null) | .at')
# When w1 emptied, by the server's own clock (this script's polls lag under load).
api_ok 200 GET "/api/v1/instances/$long/transitions"
stopped=$(jbody -r '.items[] | select(.to == "stopped") | .at')
for t in "$moved" "$stopped"; do
	[ "$(date -d "$t" +%s)" -le "$(($(date -d "$deadline" +%s) + 5))" ] ||
		fail "w1 emptied more than 5 s past its deadline ($deadline): $t"
done
api_ok 200 GET /api/v1/workers/w1
assert_eq 0 "$(jbody .instance_count)" "instances on w1 after its drain"
wait_for 10 "the worker.drained event" sh -c "curl -s -H 'Authorization: Bearer $TOKEN' \
	'$SERVER_URL/api/v1/events?types=worker.drained' | jq -e '.items | length == 1' >/dev/null"

# A bad deadline is refused and changes nothing; uncordon ends the drain.
api POST /api/v1/workers/w2/drain '{"deadline":"tomorrow"}'
assert_error 400 invalid_argument deadline
api POST /api/v1/workers/w2/drain '{"dead_line":"1h"}'
assert_error 400 unknown_field dead_line
api_ok 200 GET /api/v1/workers/w2
assert_eq ready "$(jbody .state)" "w2 after refused drains"
api POST /api/v1/workers/w1/drain
assert_error 409 invalid_transition ""
api_ok 200 POST /api/v1/workers/w1/uncordon
assert_eq ready "$(jbody .state)" "w1 after uncordon"
assert_eq null "$(jbody .drain_deadline)" "w1's deadline after uncordon"
exit 0
