#!/bin/sh
# Restarts lose nothing. The server killed (-9) while instances run: the
# agents ride it out and reconnect, and every instance still reaches stopped
# with its grade. The agent killed (-9) while hooks run: the hooks go on
# under their shims, the agent started again takes them back (a
# worker.reconciled event keeps them), and what ended while it was away
# (a hook's exit) is acted on. A hook whose shim died with the agent is
# lost: its instance fails with agent_restarted, and its orphan is killed.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
start_agent w2 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1 w2
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/run.sh" <<'EOS'
#!/bin/sh
echo $$ >"$OUTPOST_WORK_DIR/run.pid"
while :; do sleep 0.2; done
EOS
cat >"$H/grade.sh" <<'EOS'
#!/bin/sh
echo "{\"score\": $OUTPOST_INSTANCE_ID}"
EOS
define lab "\"hooks\":{\"run\":[\"sh\",\"$H/run.sh\"],\"grade\":[\"sh\",\"$H/grade.sh\"]}"

run_pid() {	# WORKER ID
	cat "$WORK/agents/$1/instances/$2/work/run.pid"
}

# ---- the server, killed under 12 running instances ----
# Slots of 30 s: all 12 must be running before the first one's slot ends, which
# took more than 8 s on a loaded machine (hooks started one by one by two agents),
# and more than 20 s under the sanitizers at a load of 13.
create_now lab ana 30 12
ids=$IDS
for id in $ids; do
	wait_state "$id" running 15
done
port=${SERVER_URL##*:}
crash_server
sleep 1	# the outage itself
# The same port: the agents know the server by its address.
start_server --state-dir "$SERVER_DIR" --listen "127.0.0.1:$port"
for id in $ids; do
	wait_state "$id" stopped 50
	assert_eq "$id" "$(inst "$id" .grade.score)" "the grade of instance $id after the restart"
	api_ok 200 GET "/api/v1/instances/$id/transitions"
	assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
		"$(jbody '[.items[].to] | join(" ")')" "the transitions of instance $id"
done
api_ok 200 GET "/api/v1/events?types=instance.state&limit=1000"
assert_eq 0 "$(jbody '[.items[] | select(.data.to == "failed" or .data.to == "pending")] | length')" \
	"instances that failed or went back to pending across the server's restart"

# ---- the agent, killed under running hooks ----
api_ok 200 POST /api/v1/workers/w2/cordon
create_now lab ben 3600 3
set -- $IDS
keep1=$1 keep2=$2 lose=$3
for id in $IDS; do
	wait_state "$id" running 10
	wait_for 10 "the run hook of $id" test -s "$WORK/agents/w1/instances/$id/work/run.pid"
done
p1=$(run_pid w1 "$keep1")
p2=$(run_pid w1 "$keep2")
plose=$(run_pid w1 "$lose")
# An instance whose instantiate hook ends while its agent is away.
cat >"$H/slow.sh" <<'EOS'
#!/bin/sh
sleep 1.5
echo instantiated
EOS
define slow "\"hooks\":{\"instantiate\":[\"sh\",\"$H/slow.sh\"],\"run\":[\"sh\",\"$H/run.sh\"]}"
create_now slow cy 3600
slow=$INSTANCE_ID
wait_state "$slow" instantiating 10
wait_for 10 "the slow instantiate hook to start" test -s "$WORK/agents/w1/instances/$slow/instantiate.pid"
kill_agent w1
# The third instance's shim dies with the agent, its hook left unwatched.
read -r shim _ <"$WORK/agents/w1/instances/$lose/run.pid"
kill -KILL "$shim"
# The slow instantiate ends while no agent watches: its shim writes its status.
wait_for 10 "the slow instantiate hook to end with no agent" \
	test -s "$WORK/agents/w1/instances/$slow/instantiate.exit"
kill -0 "$p1" || fail "the run hook of $keep1 died with its agent"
kill -0 "$plose" || fail "the orphaned run hook of $lose died before the new agent"
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
wait_state "$lose" failed 10
assert_match "^agent_restarted: " "$(inst "$lose" .state_reason)" "why the lost instance failed"
wait_for 10 "the orphaned hook of $lose to be killed" sh -c "! kill -0 $plose 2>/dev/null"
for id in $keep1 $keep2; do
	assert_eq running "$(inst "$id" .state)" "instance $id after its agent's restart"
done
assert_eq "$p1" "$(run_pid w1 "$keep1")" "the run hook of $keep1 is the same process"
kill -0 "$p2" || fail "the run hook of $keep2 died across the restart"
api_ok 200 GET "/api/v1/events?types=worker.reconciled&limit=1000"
assert_eq "[$keep1,$keep2,$slow]" \
	"$(jbody -c '[.items[] | select(.data.worker.name == "w1")][-1].data.kept | sort')" \
	"what the restarted agent kept"
assert_eq "[$lose]" "$(jbody -c '[.items[] | select(.data.worker.name == "w1")][-1].data.lost')" \
	"what the restarted agent lost"
# The instantiate hook ended while no agent watched: its instance runs now.
wait_state "$slow" running 10
assert_contains "instantiated" "$(inst_log "$slow")" "the log of the hook that ended unwatched"
# And the kept ones end normally.
for id in $keep1 $keep2; do
	api_ok 200 POST "/api/v1/instances/$id/stop"
	wait_state "$id" stopped 15
	assert_eq "$id" "$(inst "$id" .grade.score)" "the grade of instance $id"
done
kill -0 "$p1" 2>/dev/null && fail "the run hook of $keep1 outlived its stop"
exit 0
