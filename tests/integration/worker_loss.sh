#!/bin/sh
# kill -9 of an agent: its worker goes offline, then lost; what it held is
# placed again on the other workers (on_worker_loss reschedule) or fails
# (fail), its capacity freed; one whose run was over (collecting) fails and is
# not run again. When the agent comes back it is reconciled:
# the server no longer gives it those instances (their shims had fenced its
# copies), and the worker is online and takes new work. An agent that was
# only stopped comes back to find its instance placed again, on its worker.
. "$(dirname "$0")/lib.sh"

# Lost after 4 s: at 2 s, a run under the sanitizers at a load of 13 once saw w1 lost
# (and its instances moved) before the kill, from a heartbeat that came late.
OUTPOST_WORKER_OFFLINE_AFTER=2s OUTPOST_WORKER_LOST_AFTER=4s start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/run.sh" <<'EOF'
#!/bin/sh
echo $$ >>"$OUTPOST_WORK_DIR/../../../../../runs.$OUTPOST_INSTANCE_ID"
while :; do sleep 0.2; done
EOF
define moves "\"hooks\":{\"run\":[\"sh\",\"$H/run.sh\"]},\"on_worker_loss\":\"reschedule\""
define pinned "\"hooks\":{\"run\":[\"sh\",\"$H/run.sh\"]},\"on_worker_loss\":\"fail\""
define collects '"hooks":{"run":["sleep","3600"],"collect":["sleep","3600"]},"on_worker_loss":"reschedule"'

# Only w1 is there: everything lands on it.
create_now moves ana 3600 2
moved=$IDS
create_now pinned ben 3600
pinned=$INSTANCE_ID
for id in $moved $pinned; do
	wait_state "$id" running 10
	assert_eq w1 "$(inst "$id" .worker)" "worker of instance $id"
	wait_for 10 "the run hook of $id" test -s "$WORK/runs.$id"
done
old_runs=$(cat "$WORK"/runs.*)
# One whose slot is over, collecting (its collect hook takes its time).
create_now collects cem 3	# whole seconds: 2 to 3 s left when it arrives
collecting=$INSTANCE_ID
wait_state "$collecting" collecting 10
start_agent w2 --capacity cpu=4,memory_mb=4096,slots=4
start_agent w3 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w2 w3

kill_agent w1
wait_for 15 "w1 to be lost" _worker_is w1 lost
for id in $moved; do
	wait_state "$id" running 15
	assert_ne w1 "$(inst "$id" .worker)" "instance $id, moved off the lost worker"
	assert_eq 2 "$(inst "$id" .attempt)" "instance $id's attempt after the move"
done
wait_state "$pinned" failed 10
assert_eq "worker_lost: its worker w1 was lost" "$(inst "$pinned" .state_reason)" \
	"why the pinned instance failed"
# Its run was over: it fails although its definition reschedules, and is not run again.
wait_state "$collecting" failed 10
assert_eq "worker_lost: its worker w1 was lost while it was collecting" \
	"$(inst "$collecting" .state_reason)" "why the collecting instance failed"
assert_eq 1 "$(inst "$collecting" .attempt)" "the collecting instance's attempt"
api_ok 200 GET "/api/v1/instances/${moved%% *}/transitions"
assert_eq "its worker w1 was lost; placed again" \
	"$(jbody -r '.items[] | select(.from == "running" and .to == "pending") | .reason')" \
	"why the moved instance went back to pending"
api_ok 200 GET /api/v1/workers/w1
assert_eq 0 "$(jbody .allocated.cpu)" "cpu still allocated on the lost worker"
api_ok 200 GET "/api/v1/events?types=worker.health&limit=1000"
assert_eq "offline lost" "$(jbody -r '[.items[] | select(.data.worker.name == "w1") | .data.to] | join(" ")')" \
	"w1's health on its way out"

# Its old hooks outlived their agent, but their shims fenced them at the lease's end,
# before w1 was lost (agent_dead_fence.sh). w1's agent is back: the server no longer
# gives it those instances, and it runs none of them again.
for p in $old_runs; do
	! kill -0 "$p" 2>/dev/null || fail "hook $p of the lost w1 still runs"
done
for id in $moved $pinned; do
	assert_eq "signal 9 fenced" "$(cat "$WORK/agents/w1/instances/$id/run.exit")" \
		"the run hook's status of $id on w1"
done
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
api_ok 200 GET "/api/v1/events?types=worker.reconciled&limit=1000"
assert_eq '[]' "$(jbody -c '[.items[] | select(.data.worker.name == "w1")][-1].data.kept')" \
	"what the server let w1 keep"
for id in $moved; do
	assert_eq running "$(inst "$id" .state)" "instance $id after w1 came back"
done
# And w1 takes new work again.
api_ok 200 POST /api/v1/workers/w2/cordon
api_ok 200 POST /api/v1/workers/w3/cordon
create_now moves cy 3600
wait_state "$INSTANCE_ID" running 10
assert_eq w1 "$(inst "$INSTANCE_ID" .worker)" "a new instance on the worker that came back"

# ---- lost while its run ended, and placed again on the same worker ----
# w1's agent stopped (SIGSTOP) long enough to be lost; its run ends
# meanwhile (its shim fences it at the lease's end), and the report of it,
# sent once the agent goes on, is refused (the instance is pending again). Placed again on w1, the one worker that
# takes it, it runs there: attempt 2. The hook would end by itself 16 s in; the
# fence comes 4 s (worker_lost_after) after the stop, which a loaded machine
# may take a few seconds to send after the hook started: a 4 s hook once ended
# first.
define brief "\"hooks\":{\"run\":[\"sleep\",\"16\"]},\"on_worker_loss\":\"reschedule\""
create_now brief dan 3600
id=$INSTANCE_ID
wait_state "$id" running 10
assert_eq w1 "$(inst "$id" .worker)" "worker of instance $id"
kill -STOP "$(agent_pid w1)"
wait_state "$id" pending 15
wait_for 10 "the run hook of $id to end while its agent is stopped" \
	test -s "$WORK/agents/w1/instances/$id/run.exit"
assert_eq "signal 9 fenced" "$(cat "$WORK/agents/w1/instances/$id/run.exit")" \
	"the run hook's status of $id on the stopped w1"
kill -CONT "$(agent_pid w1)"
wait_state "$id" running 20
assert_eq "w1 2" "$(inst "$id" '.worker + " " + (.attempt | tostring)')" \
	"worker and attempt of instance $id, placed again"
exit 0
