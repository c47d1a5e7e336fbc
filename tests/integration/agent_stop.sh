#!/bin/sh
# Stopping and terminating workers, as their agents see it:
#  a. POST /workers/{name}/stop on an idle worker: the agent hears it in its
#     next heartbeats and exits 0 by itself, saying so in its log; an agent
#     started again on the stopped worker makes it ready again;
#  b. a worker with a running instance: stop without force is 409 (field
#     force) and changes nothing; with force the instance ends (failed, as if
#     the worker were lost), its hook processes are killed (one that ignores
#     SIGTERM after the grace), and the agent exits 0;
#  c. the CLI: outpost worker stop NAME and terminate NAME --force do the
#     same, printing the worker; terminate without --force is refused naming
#     force; a worker of a static template terminated by hand takes its
#     template's desired count down with it;
#  d. an agent started again on a terminated worker exits 1: the server
#     refuses the name.
. "$(dirname "$0")/lib.sh"

[ -x "$OUTPOST" ] || fail "$OUTPOST is not built"

start_server
H=$WORK/hooks
mkdir -p "$H"
# The run hook writes its pid and that of a child that ignores SIGTERM.
cat >"$H/run.sh" <<'EOF'
#!/bin/sh
( trap '' TERM; exec sleep 300 ) &
echo $! >"$OUTPOST_WORK_DIR/child.pid"
echo $$ >"$OUTPOST_WORK_DIR/run.pid"
while :; do sleep 0.1; done
EOF
define lab "\"hooks\":{\"run\":[\"sh\",\"$H/run.sh\"]},\"resources\":{\"cpu\":1,\"memory_mb\":256},\
\"on_worker_loss\":\"fail\""

CAPS=cpu=2,memory_mb=1024,slots=2

_worker_state_is() {	# NAME STATE
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody -r .state)" = "$2" ]
}
_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# agent_exit NAME SECONDS [T0]: waits for the agent of NAME to exit by itself;
# sets EXIT_RC and ELAPSED_MS (since T0, milliseconds since the epoch; default: the call).
agent_exit() {
	local t0=${3:-$(date +%s%3N)}
	wait_exit "$(agent_pid "$1")" "$2"
	ELAPSED_MS=$(($(date +%s%3N) - t0))
}

# The agent of NAME logged a line MSG (json) with DETAIL in it, after line FROM.
agent_logged() {	# NAME FROM MSG DETAIL
	tail -n +"$(($2 + 1))" "$WORK/agent.$1.log" | grep "\"msg\":\"$3\"" | grep -qF -- "$4"
}
log_lines() { wc -l <"$WORK/agent.$1.log"; }

# run_on NAME: an instance of lab on worker NAME, running; sets ID, RUN_PID, CHILD_PID.
run_on() {
	local dir
	create_now lab ana 3600
	ID=$INSTANCE_ID
	wait_state "$ID" running 15
	assert_eq "$1" "$(inst "$ID" .worker)" "the worker of instance $ID"
	dir=$WORK/agents/$1/instances/$ID/work
	wait_for 10 "the run hook of $ID to write its pids" test -s "$dir/child.pid" -a -s "$dir/run.pid"
	RUN_PID=$(cat "$dir/run.pid")
	CHILD_PID=$(cat "$dir/child.pid")
	kill -0 "$RUN_PID" 2>/dev/null || fail "the run hook of $ID (pid $RUN_PID) is not running"
	kill -0 "$CHILD_PID" 2>/dev/null || fail "the run hook's child (pid $CHILD_PID) is not running"
}

# ============================================================================
# a. stop on an idle worker: the agent exits 0 by itself.
# ============================================================================
start_agent w1 --capacity "$CAPS" --heartbeat 300ms
wait_online w1
kill -0 "$(agent_pid w1)" 2>/dev/null || fail "the agent of w1 is not running"
t0=$(date +%s%3N)
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop
assert_status 200 "stop w1"
assert_eq stopped "$(jbody -r .state)" "the state stop answers"
agent_exit w1 10 "$t0"
assert_eq 0 "$EXIT_RC" "exit status of w1's agent after its worker was stopped"
note "a: w1's agent exited ${ELAPSED_MS} ms after the stop"
[ "$ELAPSED_MS" -lt 5000 ] || fail "w1's agent took $ELAPSED_MS ms to exit (heartbeats every 300 ms)"
agent_logged w1 0 agent.retired "the worker is stopped" ||
	fail "w1's agent did not log agent.retired: $(tail -n 5 "$WORK/agent.w1.log")"
agent_logged w1 0 agent.stopped "its worker is stopped or terminated" ||
	fail "w1's agent did not log why it stopped: $(tail -n 5 "$WORK/agent.w1.log")"
assert_eq stopped "$(TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w1; jbody -r .state)" \
	"w1 after its agent exited"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop
assert_error 409 invalid_transition "" "stop w1 again"
assert_contains "already stopped" "$(jbody -r .error.message)" "the 409 of a second stop"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/nosuch/stop
assert_status 404 "stop an unknown worker"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop '{"force":"yes"}'
assert_error 400 invalid_argument force "stop with force not a boolean"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop '{"now":true}'
assert_error 400 unknown_field now "stop with an unknown field"
create_token viewer viewer
TOKEN=$NEW_TOKEN api POST /api/v1/workers/w1/stop
assert_error 403 forbidden "" "a viewer stops a worker"

# The host is kept: its agent started again makes it ready.
from=$(log_lines w1)
start_agent w1 --capacity "$CAPS" --heartbeat 300ms
wait_for 15 "w1 ready and online again" _worker_ready_online w1
note "a: stop ok"

# ============================================================================
# b. stop with an instance running: refused without force; with force its hooks go.
# ============================================================================
run_on w1
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop '{}'
assert_error 409 invalid_transition force "stop w1 with an instance on it"
assert_contains "drain it first" "$(jbody -r .error.message)" "the 409 says what to do"
assert_eq ready "$(TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w1; jbody -r .state)" \
	"w1 after the refused stop"
assert_eq running "$(inst "$ID" .state)" "instance $ID after the refused stop"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop '{"force":false}'
assert_error 409 invalid_transition force "stop w1 with force false"
# The agent is not stopped by a refusal: it runs on, heard from well after it (its
# heartbeats' answers say the worker's state).
t=$(date +%s)
wait_for 15 "a heartbeat of w1 after $t" heard_after w1 $((t + 1))
kill -0 "$(agent_pid w1)" 2>/dev/null || fail "w1's agent exited after a refused stop"
kill -0 "$RUN_PID" 2>/dev/null || fail "the run hook ended after a refused stop"

t0=$(date +%s%3N)
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/w1/stop '{"force":true}'
assert_status 200 "stop w1 with force"
assert_eq stopped "$(jbody -r .state)" "w1 after a forced stop"
assert_eq failed "$(inst "$ID" .state)" "instance $ID after its worker was stopped with force"
assert_eq "worker_stopped: its worker w1 was stopped" "$(inst "$ID" .state_reason)" \
	"why instance $ID failed"
agent_exit w1 15 "$t0"
assert_eq 0 "$EXIT_RC" "exit status of w1's agent after a forced stop"
[ "$ELAPSED_MS" -lt 8000 ] || fail "w1's agent took $ELAPSED_MS ms to exit after a forced stop"
note "b: w1's agent exited ${ELAPSED_MS} ms after the forced stop"
wait_for 5 "the run hook (pid $RUN_PID) to be killed" _pid_gone "$RUN_PID"
wait_for 5 "the run hook's child that ignores SIGTERM (pid $CHILD_PID) to be killed" \
	_pid_gone "$CHILD_PID"
agent_logged w1 "$from" agent.stopped "its worker is stopped or terminated" ||
	fail "w1's agent did not log why it stopped: $(tail -n 5 "$WORK/agent.w1.log")"
if tail -n +"$((from + 1))" "$WORK/agent.w1.log" | grep -q 'hooks still running at exit'; then
	fail "w1's agent exited with hooks still running"
fi
note "b: forced stop ok"

# ============================================================================
# c. The CLI.
# ============================================================================
cli_as_admin

# worker stop on an idle worker.
start_agent w2 --capacity "$CAPS" --heartbeat 300ms
wait_online w2
cli 0 worker stop w2
assert_match 'w2 +.* stopped ' "$OUT " "worker stop prints the worker, stopped"
assert_eq NAME "$(printf '%s\n' "$OUT" | head -n 1 | awk '{print $2}')" "worker stop: a header"
agent_exit w2 10
assert_eq 0 "$EXIT_RC" "exit status of w2's agent after outpost worker stop"
agent_logged w2 0 agent.stopped "its worker is stopped or terminated" ||
	fail "w2's agent did not log why it stopped: $(tail -n 5 "$WORK/agent.w2.log")"
cli 1 worker stop w2
assert_contains "already stopped" "$ERR" "worker stop twice"
cli 0 worker terminate w2 -o json
assert_eq terminated "$(printf %s "$OUT" | jq -r .state)" "worker terminate of a stopped worker"
cli 2 worker stop
assert_contains "wrong number of arguments; usage: outpost worker stop ID|NAME" "$ERR" \
	"worker stop without a worker: the usage"
cli 2 worker stop w2 --force=yes
assert_contains "--force takes no value" "$ERR" "--force=yes is named"

# A worker of a static template, terminated with force through the CLI.
TOKEN=$SERVER_TOKEN api_ok 201 PUT /api/v1/templates/st '{"capacity":{"cpu":2,"memory_mb":1024,
	"slots":2},"max":2,"autoscale":false,"provision_timeout":"1m","provisioner":{"type":"static"}}'
TOKEN=$SERVER_TOKEN api_ok 200 POST /api/v1/templates/st/scale '{"count":1}'
wait_for 10 "st-1 provisioning" _worker_state_is st-1 provisioning
start_agent st-1 --capacity "$CAPS" --heartbeat 300ms
wait_for 15 "st-1 ready and online" _worker_ready_online st-1
assert_eq st "$(jbody -r .template)" "the template of st-1"
run_on st-1
cli 1 worker terminate st-1
assert_contains "(field: force)" "$ERR" "worker terminate without --force on a busy worker"
assert_contains "drain it first" "$ERR" "... says what to do"
assert_eq ready "$(TOKEN=$SERVER_TOKEN api GET /api/v1/workers/st-1; jbody -r .state)" \
	"st-1 after the refused terminate"
assert_eq running "$(inst "$ID" .state)" "instance $ID after the refused terminate"
t0=$(date +%s%3N)
cli 0 worker terminate st-1 --force
assert_match 'st-1 +st +terminated ' "$OUT " "worker terminate --force prints the worker, terminated"
assert_eq failed "$(inst "$ID" .state)" "instance $ID after its worker was terminated"
assert_eq "worker_terminated: its worker st-1 was terminated" "$(inst "$ID" .state_reason)" \
	"why instance $ID failed"
agent_exit st-1 15 "$t0"
assert_eq 0 "$EXIT_RC" "exit status of st-1's agent after outpost worker terminate --force"
note "c: st-1's agent exited ${ELAPSED_MS} ms after the terminate"
[ "$ELAPSED_MS" -lt 8000 ] || fail "st-1's agent took $ELAPSED_MS ms to exit after a terminate"
wait_for 5 "the run hook on st-1 (pid $RUN_PID) to be killed" _pid_gone "$RUN_PID"
wait_for 5 "the child of the run hook on st-1 (pid $CHILD_PID) to be killed" _pid_gone "$CHILD_PID"
agent_logged st-1 0 agent.stopped "its worker is stopped or terminated" ||
	fail "st-1's agent did not log why it stopped: $(tail -n 5 "$WORK/agent.st-1.log")"
if grep -q 'hooks still running at exit' "$WORK/agent.st-1.log"; then
	fail "st-1's agent exited with hooks still running"
fi
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/st
assert_eq 0 "$(jbody .desired)" "desired of st after its worker was terminated by hand"
assert_eq 0 "$(jbody .workers.live)" "live workers of st after the terminate"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=st-1&limit=100"
assert_eq "provisioning>ready ready>stopped stopped>terminated" \
	"$(jbody -r '[.items[].data | "\(.from)>\(.to)"] | join(" ")')" "the states of st-1"
assert_eq "terminate by admin, with force" "$(jbody -r '.items[-1].data.reason')" \
	"the reason of st-1's terminate"
note "c: CLI ok"

# ============================================================================
# d. An agent on a terminated worker is refused.
# ============================================================================
for name in st-1 w2; do
	from=$(log_lines "$name")
	start_agent "$name" --capacity "$CAPS" --heartbeat 300ms
	agent_exit "$name" 10
	assert_eq 1 "$EXIT_RC" "exit status of an agent on the terminated worker $name"
	tail -n +"$((from + 1))" "$WORK/agent.$name.log" | grep -q "refused the registration of $name: \
worker $name was terminated; register under a new name (field: name)" ||
		fail "the agent on $name did not say why it was refused: \
$(tail -n +"$((from + 1))" "$WORK/agent.$name.log" | tail -n 5)"
	assert_eq terminated "$(TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$name"; jbody -r .state)" \
		"$name after its agent was refused"
done
note "d: terminated names refused ok"

kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd died"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
