#!/bin/sh
# Warm instances a claim cannot reach, with real agents. A pool counts only
# what a claim can reach (pending, or on a worker that is ready and online):
# when its worker is cordoned, the pool is made up on another worker and the
# warm instance stays; uncordoned, the pool is one too many and the oldest
# goes. A drain without a deadline stops the worker's warm instances, the
# pool moves to another worker, and the drain ends with worker.drained.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
define pool '"resources":{"cpu":1,"memory_mb":128},"hooks":{"instantiate":["true"],"run":["sleep","3600"]},"warm_pool":{"depth":1}'

# warm_on WORKER: the ids of the pool's warm instances on WORKER.
warm_on() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?definition=pool&state=warm&limit=500"
	jbody --arg w "$1" '[.items[] | select(.worker == $w) | .id] | join(" ")'
}
has_warm_on() {
	[ -n "$(warm_on "$1")" ]
}
wait_for 15 "a warm instance on w1" has_warm_on w1
first=$(warm_on w1)
start_agent w2 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w2

# ---- cordoned: made up on w2; w1's stays warm ----
api_ok 200 POST /api/v1/workers/w1/cordon
wait_for 15 "a warm instance on w2 while w1 is cordoned" has_warm_on w2
second=$(warm_on w2)
assert_eq warm "$(inst "$first" .state)" "w1's warm instance while w1 is cordoned"
create_now pool ana 3600
assert_eq "$second" "$INSTANCE_ID" "the instance a claim takes while w1 is cordoned"
assert_eq running "$(jbody .state)" "the claimed instance"
claimed=$INSTANCE_ID
wait_for 15 "the pool made up again on w2" has_warm_on w2

# ---- uncordoned: one too many; the oldest goes ----
api_ok 200 POST /api/v1/workers/w1/uncordon
wait_state "$first" stopped 15
api_ok 200 GET "/api/v1/instances/$first/transitions"
assert_eq "the warm pool of pool holds more than its depth of 1" \
	"$(jbody -r '.items[] | select(.to == "stopping") | .reason')" "why w1's warm instance stopped"
third=$(warm_on w2)
assert_eq warm "$(inst "$third" .state)" "w2's warm instance after the uncordon"

# ---- drained without a deadline: w2's warm instance stops, the pool moves, the drain ends ----
api_ok 200 POST "/api/v1/instances/$claimed/terminate"
api_ok 200 POST /api/v1/workers/w2/drain
assert_eq draining "$(jbody .state)" "w2's state"
wait_state "$third" stopped 15
api_ok 200 GET "/api/v1/instances/$third/transitions"
assert_eq "its worker w2 is draining; a warm instance there cannot be claimed" \
	"$(jbody -r '.items[] | select(.to == "stopping") | .reason')" "why w2's warm instance stopped"
wait_for 15 "a warm instance on w1 while w2 drains" has_warm_on w1
drained() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.drained"
	[ "$(jbody '[.items[] | select(.data.worker.name == "w2")] | length')" = 1 ]
}
wait_for 15 "the worker.drained event of w2" drained
api_ok 200 GET /api/v1/workers/w2
assert_eq 0 "$(jbody .instance_count)" "instances on w2 after its drain"
create_now pool ben 3600
assert_eq w1 "$(jbody .worker)" "the worker of an instance claimed while w2 drains"
assert_eq running "$(jbody .state)" "the instance claimed while w2 drains"
exit 0
