#!/bin/sh
# Actions from outpost-top reach the server and their results show: a worker
# cordoned, uncordoned and drained; an instance stopped and one terminated
# (after its y/n); a template scaled by a number typed at the prompt. A
# viewer's token gives a read-only dashboard that says so and refuses the
# action keys, sending nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tui_lib.sh"

start_server --agent-program "$AGENT"
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
start_agent w2 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1 w2
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/pool '{"capacity":{"cpu":2,"memory_mb":1024,"slots":2},
	"min":0,"max":2,"autoscale":false,"provision_timeout":"30s","retry_backoff":"1s",
	"provisioner":{"type":"local","heartbeat":"300ms"}}'
assert_status 201 "PUT /api/v1/templates/pool"
define lab '"hooks":{"run":["sleep","60"]}'
create_now lab alice 120 2
a=${IDS%% *}
b=${IDS##* }
wait_state "$a" running
wait_state "$b" running

worker_state() {
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	jbody .state
}
_worker_state_is() {
	[ "$(worker_state "$1")" = "$2" ]
}

top_start 80 24
wait_screen 10 "live" "live, seq"

# ---- a worker: cordon, uncordon, drain ----
keys 2
wait_screen 5 "the workers" "^ *[0-9]+ +w1 +ready"
keys g c
wait_for 10 "w1 cordoned on the server" _worker_state_is w1 cordoned
wait_screen 5 "w1 cordoned on screen" "^ *[0-9]+ +w1 +cordoned"
wait_screen 5 "the action's message" "cordon worker w1: done"
keys u
wait_for 10 "w1 ready again" _worker_state_is w1 ready
wait_screen 5 "w1 ready on screen" "^ *[0-9]+ +w1 +ready"
# An action the state machine refuses says the server's reason.
keys u
wait_screen 5 "the refusal of uncordon on a ready worker" "uncordon worker w1: .*already ready"
# Drain asks for its deadline; 30m is offered.
keys j d
wait_screen 5 "the drain prompt" "drain deadline.*30m"
keys Enter
wait_for 10 "w2 draining" _worker_state_is w2 draining
wait_screen 5 "w2 draining on screen" "^ *[0-9]+ +w2 +draining"
TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w2
[ "$(jbody .drain_deadline)" != null ] || fail "the drain has no deadline: $BODY"

# ---- instances: stop, terminate with its question ----
keys 1
wait_screen 5 "the instances" "^ *$a +running"
keys g s
wait_screen 10 "the stop's message" "stop instance $a: done"
wait_state "$a" stopped 20
wait_screen 10 "instance $a stopped on screen" "^ *$a +stopped"
keys j t
wait_screen 5 "the terminate question" "terminate .*instance $b\\? \\(y/n\\)"
keys n Enter
wait_screen 5 "an n does nothing" "nothing done"
assert_eq running "$(inst "$b" .state)" "instance $b after n"
keys t y Enter
wait_state "$b" terminated 10
wait_screen 10 "instance $b terminated on screen" "^ *$b +terminated"
# Retry of a stopped instance is refused by the state machine, with its reason.
keys g r
wait_screen 5 "retry refused" "retry instance $a: .*retry"

# ---- a template: scale to a number typed at the prompt ----
keys 4
wait_screen 5 "the templates" "^pool +local +0 +2 +0"
keys s
wait_screen 5 "the scale prompt" "scale pool to how many workers \\(min 0, max 2\\)\\? 0"
keys BSpace 1 Enter
wait_screen 5 "the scale's message" "scale template pool to 1: done"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/pool
assert_eq 1 "$(jbody .desired)" "desired of pool"
wait_screen 10 "desired 1 on screen" "^pool +local +0 +2 +1"
# The scaler makes its worker; it shows up in the workers view by itself.
keys 2
wait_screen 20 "the pool's worker ready on screen" "pool-1 +ready +online"
# A bad count is refused here, naming what is valid.
keys 4 s C-u x Enter
wait_screen 5 "a bad count" "the count must be a whole number 0..1000, not 'x'"
keys q
wait_for 5 "outpost-top to exit" test -s "$WORK/top.exit"
_tmux kill-session -t top

# ---- a viewer: read-only ----
create_token watcher viewer
TOP_TOKEN=$NEW_TOKEN top_start 80 24
wait_screen 10 "the viewer's header" "as viewer \\(read-only\\)"
keys 2 g c
wait_screen 5 "the refusal" "read-only: this token is a viewer's; cordon needs an operator's"
assert_eq ready "$(worker_state w1)" "w1 after a viewer's c"
keys 1 g s
wait_screen 5 "the refusal of stop" "read-only: .*stop needs"
note "ok"
