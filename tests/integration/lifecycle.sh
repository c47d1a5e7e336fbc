#!/bin/sh
# The life of an instance with a real agent and real hooks: scheduled,
# instantiating, running for its slot, collected, graded (the grade kept on
# the instance), stopped; each hook in the instance's directory with its
# OUTPOST_* variables, in a process group of its own; its output kept as the
# log; the transitions recorded. An operator's stop collects and grades at
# once; terminate kills at once and the stop hook cleans up; retry sends a
# failed instance back to pending and it runs again (attempt 2).
. "$(dirname "$0")/lib.sh"

start_server
# What the agent was given for itself is not passed on to its hooks.
NOTIFY_SOCKET=$WORK/no-such.sock LISTEN_FDNAMES=agent OUTPOST_LOG_LEVEL=info \
	start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1

H=$WORK/hooks
mkdir -p "$H"
# Each hook notes its environment where the test can read it.
cat >"$H/note.sh" <<'EOF'
#!/bin/sh
{
	echo "hook=$OUTPOST_HOOK id=$OUTPOST_INSTANCE_ID owner=$OUTPOST_OWNER"
	echo "definition=$OUTPOST_DEFINITION@$OUTPOST_DEFINITION_VERSION attempt=$OUTPOST_ATTEMPT"
	echo "slot=$OUTPOST_TIMESLOT_START..$OUTPOST_TIMESLOT_END worker=$OUTPOST_WORKER"
	echo "pwd=$(pwd) pgid=$(ps -o pgid= -p $$ | tr -d ' ')"
	echo "agents=${NOTIFY_SOCKET-}${LISTEN_FDNAMES-}${OUTPOST_LOG_LEVEL-}"
} >>"$OUTPOST_WORK_DIR/../../../../../env.$OUTPOST_INSTANCE_ID"
echo "$OUTPOST_HOOK says hello"
echo "$OUTPOST_HOOK to stderr" >&2
EOF
cat >"$H/run.sh" <<'EOF'
#!/bin/sh
sh "$(dirname "$0")/note.sh"
echo $$ >"$OUTPOST_WORK_DIR/run.pid"
while :; do sleep 0.2; done
EOF
cat >"$H/collect.sh" <<'EOF'
#!/bin/sh
sh "$(dirname "$0")/note.sh"
echo "answers" >collected.txt
EOF
cat >"$H/grade.sh" <<'EOF'
#!/bin/sh
sh "$(dirname "$0")/note.sh" >/dev/null
[ -f collected.txt ] || exit 3
echo '{"score": 87, "max": 100, "by": "grade.sh"}'
EOF
cat >"$H/stop.sh" <<'EOF'
#!/bin/sh
sh "$(dirname "$0")/note.sh"
EOF
hooks="\"hooks\":{\"instantiate\":[\"sh\",\"$H/note.sh\"],\"run\":[\"sh\",\"$H/run.sh\"],\
\"collect\":[\"sh\",\"$H/collect.sh\"],\"grade\":[\"sh\",\"$H/grade.sh\"],\"stop\":[\"sh\",\"$H/stop.sh\"]}"
define lab "$hooks,\"resources\":{\"cpu\":1,\"memory_mb\":256}"

# ---- a slot of 3 seconds, lived through to the end ----
create_now lab ana 3
id=$INSTANCE_ID
wait_state "$id" running 10
assert_eq w1 "$(inst "$id" .worker)" "worker of instance $id"
assert_eq 1 "$(inst "$id" .attempt)" "attempt of instance $id"
wait_state "$id" stopped 20
assert_eq '{"by":"grade.sh","max":100,"score":87}' "$(inst "$id" '.grade | tojson' | jq -cS .)" \
	"the grade kept on instance $id"
api_ok 200 GET "/api/v1/instances/$id/transitions"
assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
	"$(jbody '[.items[].to] | join(" ")')" "the transitions of instance $id"
assert_eq "its slot ended" "$(jbody '.items[] | select(.to == "collecting") | .reason')" \
	"why instance $id was collected"

# Each hook ran once, in order, in the instance's work directory, in its own group.
env=$WORK/env.$id
[ -f "$env" ] || fail "no hook wrote $env"
assert_eq "instantiate run collect grade stop" \
	"$(sed -n 's/^hook=\([a-z]*\) .*/\1/p' "$env" | tr '\n' ' ' | sed 's/ $//')" "the hooks that ran"
assert_eq 5 "$(grep -c "^hook=.* id=$id owner=ana\$" "$env")" "OUTPOST_INSTANCE_ID and OUTPOST_OWNER"
assert_eq 5 "$(grep -c "^definition=lab@1 attempt=1\$" "$env")" "OUTPOST_DEFINITION"
slot=$(inst "$id" '"slot=" + .timeslot_start + ".." + .timeslot_end + " worker=w1"')
assert_eq 5 "$(grep -cxF "$slot" "$env")" "OUTPOST_TIMESLOT_START and _END"
assert_eq 5 "$(grep -cx "agents=" "$env")" "NOTIFY_SOCKET, LISTEN_FDNAMES, OUTPOST_LOG_LEVEL kept from the hooks"
assert_eq 5 "$(grep -c "^pwd=$WORK/agents/w1/instances/$id/work " "$env")" "the hooks' directory"
# Five hooks, five process groups, none of them the agent's.
agent_pgid=$(ps -o pgid= -p "$(agent_pid w1)" | tr -d ' ')
assert_eq 5 "$(sed -n 's/.* pgid=//p' "$env" | sort -u | grep -vx "$agent_pgid" | wc -l)" \
	"distinct process groups of the hooks, apart from the agent's ($agent_pgid)"

# The log: every hook's stdout and stderr, in the order they ran.
log=$(inst_log "$id")
for h in instantiate run collect stop; do
	assert_contains "$h says hello" "$log" "the log of instance $id"
	assert_contains "$h to stderr" "$log" "the log of instance $id"
done
assert_contains '{"score": 87' "$log" "the grade hook's output in the log"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$id/log?hook=collect"
assert_eq "collect" "$(jbody '[.items[].hook] | unique | join(" ")')" "log?hook=collect"

# The agent forgets a stopped instance: its directory goes.
wait_for 10 "instance $id's directory to go" test ! -d "$WORK/agents/w1/instances/$id"

# ---- stop: collected and graded at once ----
create_now lab ben 3600
id=$INSTANCE_ID
wait_state "$id" running 10
wait_for 10 "the run hook of $id" test -s "$WORK/agents/w1/instances/$id/work/run.pid"
run_pid=$(cat "$WORK/agents/w1/instances/$id/work/run.pid")
api_ok 200 POST "/api/v1/instances/$id/stop"
wait_state "$id" stopped 15
assert_eq 87 "$(inst "$id" .grade.score)" "the grade after a stop"
kill -0 "$run_pid" 2>/dev/null && fail "the run hook of $id still runs after its stop"
api_ok 200 GET "/api/v1/instances/$id/transitions"
assert_match "^stopped by " "$(jbody '.items[] | select(.to == "collecting") | .reason')" \
	"why instance $id was collected"

# ---- terminate: killed at once, no collection; the stop hook cleans up ----
create_now lab cy 3600
id=$INSTANCE_ID
wait_for 10 "the run hook of $id" test -s "$WORK/agents/w1/instances/$id/work/run.pid"
run_pid=$(cat "$WORK/agents/w1/instances/$id/work/run.pid")
api_ok 200 POST "/api/v1/instances/$id/terminate"
assert_eq terminated "$(jbody .state)" "state after terminate"
wait_for 10 "the run hook of $id to be killed" sh -c "! kill -0 $run_pid 2>/dev/null"
wait_for 10 "the stop hook of $id to clean up" grep -q "^hook=stop id=$id " "$WORK/env.$id"
grep -q "^hook=collect id=$id " "$WORK/env.$id" && fail "a terminated instance was collected"
assert_eq null "$(inst "$id" .grade)" "a terminated instance has no grade"
wait_for 10 "instance $id's directory to go" test ! -d "$WORK/agents/w1/instances/$id"

# ---- retry: a failed instance goes back to pending and runs again ----
cat >"$H/flaky.sh" <<'EOF'
#!/bin/sh
# Fails the first time, works the second.
[ "$OUTPOST_ATTEMPT" -ge 2 ] || { echo "not this time" >&2; exit 4; }
echo "instantiated at attempt $OUTPOST_ATTEMPT"
EOF
define flaky "\"hooks\":{\"instantiate\":[\"sh\",\"$H/flaky.sh\"],\"run\":[\"sh\",\"$H/run.sh\"]}"
create_now flaky dee 3600
id=$INSTANCE_ID
wait_state "$id" failed 10
assert_eq "hook_failed: instantiate exited with code 4" "$(inst "$id" .state_reason)" \
	"why instance $id failed"
assert_eq '{"code":4,"hook":"instantiate"}' "$(inst "$id" '.exit | tojson' | jq -cS .)" "its exit"
api_ok 200 POST "/api/v1/instances/$id/retry"
assert_eq pending "$(jbody .state)" "state after retry"
wait_state "$id" running 10
assert_eq 2 "$(inst "$id" .attempt)" "the attempt after a retry"
assert_eq null "$(inst "$id" .exit)" "retry clears exit"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$id/log?attempt=1"
assert_contains "not this time" "$(jbody -j '.items[].text')" "the first attempt's log"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$id/log?attempt=2"
assert_contains "instantiated at attempt 2" "$(jbody -j '.items[].text')" "the second attempt's log"
api_ok 200 POST "/api/v1/instances/$id/terminate"

# ---- instantiated ahead of its slot: the metric times the hook, not the wait ----
metric() {	# NAME: its value in /metrics
	TOKEN= api_ok 200 GET /metrics
	printf '%s\n' "$BODY" | awk -v n="$1" '$1 == n { print $2 }'
}
define ahead "\"hooks\":{\"instantiate\":[\"sleep\",\"1\"],\"run\":[\"sh\",\"$H/run.sh\"]}"
n0=$(metric outpost_instantiation_duration_seconds_count)
sum0=$(metric outpost_instantiation_duration_seconds_sum)
api_ok 201 POST /api/v1/instances "{\"definition\":\"ahead\",\"owner\":\"eve\",\
\"timeslot_start\":\"$(at_offset 5)\",\"timeslot_end\":\"$(at_offset 3600)\"}"
id=$(jbody .id)
wait_state "$id" running 15
assert_eq $((n0 + 1)) "$(metric outpost_instantiation_duration_seconds_count)" \
	"instantiations counted"
took=$(awk -v a="$sum0" -v b="$(metric outpost_instantiation_duration_seconds_sum)" \
	'BEGIN { print b - a }')
awk -v t="$took" 'BEGIN { exit !(t >= 0.9 && t < 2.5) }' ||
	fail "a 1 s instantiate hook, 5 s before its slot, was timed at $took s"
api_ok 200 POST "/api/v1/instances/$id/terminate"
exit 0
