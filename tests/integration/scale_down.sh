#!/bin/sh
# Scaling down by hand never stops a worker under a running instance before
# its drain is done. With the local provisioner (real agents started by
# outpostd) and a template that does not autoscale:
#  a. scaled to 2 with one instance running on the newer worker, a scale to 0
#     retires the idle worker first (terminated at once, its agent gone, while
#     the instance still runs) and drains the busy one: it stays draining until
#     the instance has run its whole slot (collected, graded, stopped), and only
#     then is stopped and terminated;
#  b. the same with a deadline: at the scale's deadline the instance is
#     stopped with collect and grade, then its worker is terminated;
#  c. a scale to 1 keeps the busy worker (ready, not retired) and removes the
#     idle one; bad input for a scale (a count outside [min, max] or not an
#     integer, an unknown field, a bad deadline, no body) is 400 naming the
#     field, an unknown template 404, a viewer 403, and each changes nothing;
#  d. stop and terminate on a worker holding instances without force are 409
#     naming force and change nothing; stop with force stops it, and its
#     instances are settled per their definition's on_worker_loss (placed
#     again: pending; fail: failed); terminate then removes it, its agent gone.
# At every poll: the busy worker is not stopped or terminated while an
# instance still holds it (unless stopped with force).
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
mkdir -p "$WORK/templates"
start_server --agent-program "$AGENT"

T=pair
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/collect.sh" <<'EOF'
#!/bin/sh
echo "collected on $OUTPOST_WORKER" >collected.txt
EOF
cat >"$H/grade.sh" <<'EOF'
#!/bin/sh
[ -f collected.txt ] || exit 3
echo "{\"score\": 5, \"worker\": \"$OUTPOST_WORKER\"}"
EOF
hooks="\"hooks\":{\"instantiate\":[\"true\"],\"run\":[\"sleep\",\"600\"],\
\"collect\":[\"sh\",\"$H/collect.sh\"],\"grade\":[\"sh\",\"$H/grade.sh\"]}"
define lab "\"resources\":{\"cpu\":1,\"memory_mb\":256},$hooks,\"on_worker_loss\":\"reschedule\""
define labfail "\"resources\":{\"cpu\":1,\"memory_mb\":256},$hooks,\"on_worker_loss\":\"fail\""

# ---- helpers ----

worker_state() {	# NAME: its state now ("HTTP <status>" if the GET fails)
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	if [ "$STATUS" = 200 ]; then
		jbody .state
	else
		echo "HTTP $STATUS"
	fi
}

_worker_state_is() {	# NAME STATE
	[ "$(worker_state "$1")" = "$2" ]
}


# No process works in DIR or under it (hooks run in their instance's directory).
_no_procs_in() {
	local d
	for d in /proc/[0-9]*; do
		case $(readlink "$d/cwd" 2>/dev/null) in
		"$1" | "$1"/*) return 1 ;;
		esac
	done
}

scale() {	# COUNT [DEADLINE]
	TOKEN=$SERVER_TOKEN api POST "/api/v1/templates/$T/scale" "{\"count\":$1${2:+,\"deadline\":\"$2\"}}"
	assert_status 200 "scale $T to $1${2:+ with deadline $2}"
	assert_eq "$1" "$(jbody .desired)" "desired of $T after scaling it to $1"
}

# The invariant: a worker an instance still holds is never stopped or terminated
# (the worker read first: one read as stopped before its instance reads as held is a breach).
# check_busy WORKER ID: fails on a breach; sets W_STATE and I_STATE.
check_busy() {
	W_STATE=$(worker_state "$1")
	I_STATE=$(inst "$2" .state)
	case $I_STATE in
	scheduled | instantiating | running | collecting | grading | stopping)
		case $W_STATE in
		stopped | terminated | failed)
			fail "worker $1 is $W_STATE while instance $2 on it is $I_STATE" ;;
		esac ;;
	esac
}

# _busy_until WORKER ID WSTATE: polls the invariant until the worker is in WSTATE.
_busy_until() {
	check_busy "$1" "$2"
	[ "$W_STATE" = "$3" ]
}

# _busy_inst_until WORKER ID ISTATE: polls the invariant until the instance is in ISTATE.
_busy_inst_until() {
	check_busy "$1" "$2"
	case $I_STATE in
	failed | terminated) fail "instance $2 is $I_STATE ($(inst "$2" .state_reason)), waiting for $3" ;;
	esac
	[ "$I_STATE" = "$3" ]
}

# _idle_gone IDLE BUSY ID: polls the invariant on BUSY until IDLE is terminated.
_idle_gone() {
	check_busy "$2" "$3"
	_worker_state_is "$1" terminated
}

# Both named workers ready and online; the first cordoned, an instance of DEF created
# (slot SECONDS) and running on the second, the first uncordoned. Sets ID.
busy_on_second() {	# IDLE BUSY DEF SECONDS
	wait_for 20 "$1 ready and online" _worker_ready_online "$1"
	wait_for 20 "$2 ready and online" _worker_ready_online "$2"
	TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/workers/$1/cordon"
	create_now "$3" ana "$4"
	ID=$INSTANCE_ID
	wait_state "$ID" running 20
	assert_eq "$2" "$(inst "$ID" .worker)" "the worker of instance $ID"
	TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/workers/$1/uncordon"
	assert_eq ready "$(jbody .state)" "$1 after uncordon"
}

# The worker.state moves of NAME, "from>to" space separated.
worker_moves() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=$1&limit=100"
	jbody -r '[.items[].data | "\(.from)>\(.to)"] | join(" ")'
}

# The time (ms since the epoch) of NAME's move to STATE.
moved_at() {	# NAME STATE
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=$1&limit=100"
	date -u -d "$(jbody -r --arg s "$2" '[.items[] | select(.data.to == $s)][0].ts')" +%s%3N
}

# The idle worker was terminated before the busy one's instance began to end
# (by the server's clocks, not by when this script happened to look).
idle_gone_before() {	# IDLE ID
	local gone ended
	gone=$(moved_at "$1" terminated)
	ended=$(transition_at "$2" collecting)
	[ "$gone" -le "$ended" ] ||
		fail "the idle $1 was terminated $((gone - ended)) ms after instance $2 began to end"
}

# The instance's transitions, "to" space separated.
transitions() {	# ID
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$1/transitions"
	jbody -r '[.items[].to] | join(" ")'
}
transition_reason() {	# ID STATE: the reason of its last move to STATE
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$1/transitions"
	jbody -r --arg s "$2" '[.items[] | select(.to == $s)] | last | .reason'
}
transition_at() {	# ID STATE: ms since the epoch
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$1/transitions"
	date -u -d "$(jbody -r --arg s "$2" '[.items[] | select(.to == $s)][0].at')" +%s%3N
}

retire_reason() {	# WORKER: the reason of its retire event
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=scaling.action&limit=1000"
	jbody -r --arg w "$1" '[.items[] | select(.data.action == "retire" and .data.worker == $w)] |
		if length == 1 then .[0].data.reason else "\(length) retire events" end'
}

TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$T" '{"capacity":{"cpu":2,"memory_mb":1024,"slots":2},
	"min":0,"max":2,"autoscale":false,"provision_timeout":"30s","retry_backoff":"1s",
	"provisioner":{"type":"local","heartbeat":"300ms"}}'
assert_status 201 "PUT /api/v1/templates/$T"

# ============================================================================
# a. Scale to 0 without a deadline: the idle worker goes, the busy one drains.
# ============================================================================
scale 2
busy_on_second $T-1 $T-2 lab 20
A=$ID
scale 0
wait_for 15 "$T-2 (busy) draining" _busy_until $T-2 "$A" draining
wait_for 15 "$T-1 (idle) terminated" _idle_gone $T-1 $T-2 "$A"
check_busy $T-2 "$A"
wait_for 15 "the agent of $T-1 to be gone" _no_agent $T-1
# Its agent looked for first, its state read after: states only move on, so a
# worker still draining after its agent was missed was draining when it was.
if ! _has_agent $T-2; then
	W_STATE=$(worker_state $T-2)
	[ "$W_STATE" != draining ] || fail "the agent of the busy $T-2 is gone while it drains"
fi
assert_eq "provisioning>ready ready>cordoned cordoned>ready ready>draining draining>stopped \
stopped>terminated" "$(worker_moves $T-1)" "the states of $T-1 (cordoned while the instance was placed)"
assert_match "^$T has 2 workers, desired 0: draining the idle $T-1\$" "$(retire_reason $T-1)" \
	"why $T-1 was retired"
assert_match "^$T has 1 workers?, desired 0: draining the least busy $T-2\$" "$(retire_reason $T-2)" \
	"why $T-2 was retired"
assert_eq null "$(TOKEN=$SERVER_TOKEN api GET /api/v1/workers/$T-2; jbody .drain_deadline)" \
	"the drain deadline of $T-2 (none: its instances finish their slots)"
# The instance lives out its slot; the worker stays draining all along.
wait_for 30 "instance $A stopped (its slot over)" _busy_inst_until $T-2 "$A" stopped
assert_eq "its slot ended" "$(transition_reason "$A" collecting)" "why instance $A was collected"
idle_gone_before $T-1 "$A"
assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
	"$(transitions "$A")" "the transitions of instance $A"
assert_eq "5 $T-2" "$(inst "$A" '"\(.grade.score) \(.grade.worker)"')" "the grade of instance $A"
wait_for 15 "$T-2 terminated once drained" _busy_until $T-2 "$A" terminated
assert_eq "provisioning>ready ready>draining draining>stopped stopped>terminated" \
	"$(worker_moves $T-2)" "the states of $T-2"
stopped_inst=$(transition_at "$A" stopped)
stopped_w=$(moved_at $T-2 stopped)
[ "$stopped_w" -ge "$stopped_inst" ] ||
	fail "$T-2 was stopped $((stopped_inst - stopped_w)) ms before its instance $A stopped"
wait_for 15 "the agent of $T-2 to be gone" _no_agent $T-2
note "a: scale to 0: $T-1 went first, $T-2 drained then terminated"

# ============================================================================
# b. Scale to 0 with a deadline: the instance is stopped (collected, graded) then.
# ============================================================================
scale 2
busy_on_second $T-3 $T-4 lab 3600
B=$ID
t0=$(date +%s%3N)
scale 0 3s
wait_for 15 "$T-4 (busy) draining" _busy_until $T-4 "$B" draining
wait_for 15 "$T-3 (idle) terminated" _idle_gone $T-3 $T-4 "$B"
check_busy $T-4 "$B"
# The deadline it drained with, as its move to draining said (it may be over by now).
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=$T-4&limit=100"
dd=$(jbody -r '[.items[].data | select(.to == "draining")][0].worker.drain_deadline')
[ "$dd" != null ] || fail "$T-4 drains without the scale's deadline"
dd_s=$(date -u -d "$dd" +%s)
[ "$dd_s" -ge $(((t0 + 3000) / 1000)) ] && [ "$dd_s" -le $(((t0 + 3000) / 1000 + 2)) ] ||
	fail "the drain deadline of $T-4 is $dd; the scale at $(date -u -d "@$((t0 / 1000))" +%T) said 3s"
wait_for 30 "instance $B stopped at the deadline" _busy_inst_until $T-4 "$B" stopped
assert_eq "stopped at the drain deadline of $T-4" "$(transition_reason "$B" collecting)" \
	"why instance $B was collected"
idle_gone_before $T-3 "$B"
assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
	"$(transitions "$B")" "the transitions of instance $B"
assert_eq "5 $T-4" "$(inst "$B" '"\(.grade.score) \(.grade.worker)"')" "the grade of instance $B"
wait_for 15 "$T-4 terminated once drained" _busy_until $T-4 "$B" terminated
collected_ms=$(transition_at "$B" collecting)
[ $((collected_ms - t0)) -ge 3000 ] ||
	fail "instance $B was collected $((collected_ms - t0)) ms after the scale; its deadline was 3s"
wait_for 15 "the agent of $T-4 to be gone" _no_agent $T-4
note "b: scale to 0 with a deadline: $B stopped $((collected_ms - t0)) ms after the scale"

# ============================================================================
# c. Scale to 1: the busy worker stays. Bad input changes nothing.
# ============================================================================
scale 2
busy_on_second $T-5 $T-6 lab 3600
C1=$ID
create_now labfail ben 3600
C2=$INSTANCE_ID
wait_state "$C2" running 20
assert_eq $T-6 "$(inst "$C2" .worker)" "the worker of instance $C2 (the fullest)"
scale 1
wait_for 15 "$T-5 (idle) terminated" _idle_gone $T-5 $T-6 "$C1"
assert_eq ready "$(worker_state $T-6)" "$T-6 (busy) after the scale to 1"
assert_eq "0 retire events" "$(retire_reason $T-6)" "retire events of $T-6"
assert_eq "$T has 2 workers, desired 1: draining the idle $T-5" "$(retire_reason $T-5)" \
	"why $T-5 was retired"
wait_for 15 "the agent of $T-5 to be gone" _no_agent $T-5

# What a refused request must leave as it was: the template (default $T), its
# workers, its scaling.action events, and the two instances.
snapshot() {
	local n=${1:-$T} t w e
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/templates/$n"
	t=$(jbody -cS 'del(.updated_at)')
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?template=$n&limit=500"
	w=$(jbody -cS '[.items[] | {name, state}]')
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=scaling.action&limit=1000"
	e=$(jbody --arg n "$n" '[.items[] | select(.data.template == $n)] | length')
	echo "$t $w $e $(inst "$C1" .state) $(inst "$C2" .state)"
}
before=$(snapshot)
# bad_scale TEMPLATE BODY STATUS CODE FIELD WHAT
bad_scale() {
	if [ -n "$2" ]; then
		TOKEN=$SERVER_TOKEN api POST "/api/v1/templates/$1/scale" "$2"
	else
		TOKEN=$SERVER_TOKEN api POST "/api/v1/templates/$1/scale"
	fi
	assert_error "$3" "$4" "$5" "$6"
	assert_eq "$before" "$(snapshot "$1")" "$6: what it left"
}
bad_scale $T '{"count":3}' 400 invalid_argument count "a count above max"
assert_contains "max 2" "$(jbody -r .error.message)" "the message of a count above max"
bad_scale $T '{"count":-1}' 400 invalid_argument count "a negative count"
bad_scale $T '{"count":1.5}' 400 invalid_argument count "a count that is not an integer"
bad_scale $T '{"count":"1"}' 400 invalid_argument count "a count that is a string"
bad_scale $T '{"count":true}' 400 invalid_argument count "a count that is a boolean"
bad_scale $T '{"count":null}' 400 invalid_argument count "a count that is null"
bad_scale $T '{"deadline":"1m"}' 400 invalid_argument count "no count"
bad_scale $T '{"count":1,"force":true}' 400 unknown_field force "an unknown field"
bad_scale $T '{"count":1,"deadline":"soon"}' 400 invalid_argument deadline "a deadline that is not one"
bad_scale $T '{"count":1,"deadline":"31d"}' 400 invalid_argument deadline "a deadline past 30d"
bad_scale $T '{"count":1,"deadline":5}' 400 invalid_argument deadline "a deadline that is a number"
bad_scale $T '' 400 invalid_argument "" "no body"
bad_scale $T '[1]' 400 invalid_argument "" "a body that is an array"
bad_scale $T '{"count":' 400 invalid_argument "" "a body that is not JSON"
TOKEN=$SERVER_TOKEN api POST /api/v1/templates/nosuch/scale '{"count":1}'
assert_error 404 not_found name "scale of an unknown template"
assert_eq "$before" "$(snapshot)" "scale of an unknown template: what it left"
# Below min: a template of its own with min 1 (static: nothing runs).
TOKEN=$SERVER_TOKEN api_ok 201 PUT /api/v1/templates/fixed '{"capacity":{"cpu":1,"memory_mb":256,
	"slots":1},"min":1,"max":2,"autoscale":false,"provisioner":{"type":"static"}}'
wait_for 10 "fixed-1 provisioning (waiting for its agent)" _worker_state_is fixed-1 provisioning
before=$(snapshot fixed)
bad_scale fixed '{"count":0}' 400 invalid_argument count "a count below min"
assert_eq "count must be from the template's min 1 to its max 2" "$(jbody -r .error.message)" \
	"the message of a count below min"
assert_eq 1 "$(TOKEN=$SERVER_TOKEN api GET /api/v1/templates/fixed; jbody .desired)" \
	"desired of fixed after a count below min"
before=$(snapshot)
# Roles: a viewer may not scale; an agent token neither.
create_token viewer viewer
viewer=$NEW_TOKEN
TOKEN=$viewer api POST "/api/v1/templates/$T/scale" '{"count":0}'
assert_error 403 forbidden "" "a viewer scales $T"
assert_eq "$before" "$(snapshot)" "a viewer's scale: what it left"
TOKEN=$viewer api POST "/api/v1/workers/$T-6/stop" '{"force":true}'
assert_error 403 forbidden "" "a viewer stops $T-6"
create_token agents agent
TOKEN=$NEW_TOKEN api POST "/api/v1/templates/$T/scale" '{"count":0}'
assert_error 403 forbidden "" "an agent token scales $T"
TOKEN= api POST "/api/v1/templates/$T/scale" '{"count":0}'
assert_status 401 "a scale without a token"
assert_eq "$before" "$(snapshot)" "the refused scales and stops: what they left"
note "c: scale to 1 kept the busy $T-6; bad scales refused"

# ============================================================================
# d. stop and terminate of a busy worker: force, or nothing.
# ============================================================================
# bad_act ACTION BODY STATUS CODE FIELD WHAT
bad_act() {
	if [ -n "$2" ]; then
		TOKEN=$SERVER_TOKEN api POST "/api/v1/workers/$T-6/$1" "$2"
	else
		TOKEN=$SERVER_TOKEN api POST "/api/v1/workers/$T-6/$1"
	fi
	assert_error "$3" "$4" "$5" "$6"
	assert_eq "$before" "$(snapshot)" "$6: what it left"
}
bad_act stop '' 409 invalid_transition force "stop of a busy worker without a body"
assert_contains "drain it first" "$(jbody -r .error.message)" "the message of a stop without force"
assert_contains "holds 2 instances" "$(jbody -r .error.message)" "the message of a stop without force"
bad_act stop '{}' 409 invalid_transition force "stop of a busy worker with {}"
bad_act stop '{"force":false}' 409 invalid_transition force "stop of a busy worker with force false"
bad_act terminate '' 409 invalid_transition force "terminate of a busy worker without force"
bad_act stop '{"force":"yes"}' 400 invalid_argument force "stop with force a string"
bad_act stop '{"forced":true}' 400 unknown_field forced "stop with an unknown field"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/nosuch/stop '{"force":true}'
assert_status 404 "stop of an unknown worker"
assert_eq "$before" "$(snapshot)" "the refused stops: what they left"
assert_eq "ready running running" "$(worker_state $T-6) $(inst "$C1" .state) $(inst "$C2" .state)" \
	"$T-6 and its instances after the refused stops"

! _no_procs_in "$SERVER_DIR/workers/$T-6/work" ||
	fail "no hook process of $C1 or $C2 runs under $SERVER_DIR/workers/$T-6/work"
TOKEN=$SERVER_TOKEN api POST "/api/v1/workers/$T-6/stop" '{"force":true}'
assert_status 200 "stop $T-6 with force"
assert_eq stopped "$(jbody .state)" "$T-6 after stop with force"
# reschedule: back to pending (no other worker to take it); fail: failed.
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$C1"
assert_eq "pending" "$(jbody .state)" "instance $C1 (on_worker_loss reschedule) after the forced stop"
assert_eq "its worker $T-6 was stopped; placed again" "$(transition_reason "$C1" pending)" \
	"why $C1 went back to pending"
assert_eq failed "$(inst "$C2" .state)" "instance $C2 (on_worker_loss fail) after the forced stop"
assert_match "^worker_stopped: its worker $T-6 was stopped" "$(inst "$C2" .state_reason)" \
	"why $C2 failed"
assert_eq 0 "$(TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$T"; jbody .desired)" \
	"desired of $T after its worker was stopped by hand"
wait_for 25 "the agent of $T-6 to be gone after its stop" _no_agent $T-6
wait_for 15 "the hooks of $C1 and $C2 to be gone" _no_procs_in "$SERVER_DIR/workers/$T-6/work"
TOKEN=$SERVER_TOKEN api POST "/api/v1/workers/$T-6/stop"
assert_error 409 invalid_transition "" "stop of a stopped worker"
TOKEN=$SERVER_TOKEN api POST "/api/v1/workers/$T-6/terminate"
assert_status 200 "terminate $T-6"
assert_eq terminated "$(jbody .state)" "$T-6 after terminate"
assert_eq "provisioning>ready ready>stopped stopped>terminated" "$(worker_moves $T-6)" \
	"the states of $T-6"
assert_eq pending "$(inst "$C1" .state)" "instance $C1 after its old worker was terminated"
# Nothing replaces the workers: desired is 0 and the template does not autoscale.
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?template=$T&limit=500"
assert_eq "" "$(jbody -r '[.items[] | select(.state != "terminated") | .name] | join(" ")')" \
	"workers of $T not terminated at the end"
assert_eq 6 "$(jbody '.items | length')" "workers of $T made in all"
note "d: stop with force and terminate ok"

kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd died"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
