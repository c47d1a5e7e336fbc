#!/bin/sh
# Hooks that go wrong give failed, with the reason and the exit code or
# signal: a hook past its timeout (SIGTERM, then SIGKILL after the grace for
# one that ignores SIGTERM, and for what it leaves in its group), a run that
# exits or crashes before its slot ends, a program that is not there, a
# grade that is not JSON or too large, a stop hook that fails (once). A failed
# instance that was instantiated has its stop hook run to clean up. A hook
# that prints megabytes leaves a bounded log: its start, a note, its end.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8 --kill-grace 1s
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/stubborn.sh" <<'EOF'
#!/bin/sh
# Ignores SIGTERM: only SIGKILL ends it.
trap '' TERM
echo $$ >"$OUTPOST_WORK_DIR/stubborn.pid"
while :; do sleep 0.1; done
EOF
cat >"$H/cleanup.sh" <<'EOF'
#!/bin/sh
echo "cleaned $OUTPOST_INSTANCE_ID" >>"$OUTPOST_WORK_DIR/../../../../../cleanups"
EOF
stop="\"stop\":[\"sh\",\"$H/cleanup.sh\"]"
shared_file cleanups	# every instance's stop hook adds its line

reason_of() {	# ID
	inst "$1" .state_reason
}

# ---- a hook past its timeout; one that ignores SIGTERM is killed after the grace ----
define slow "\"hooks\":{\"instantiate\":[\"sh\",\"$H/stubborn.sh\"],\"run\":[\"sleep\",\"100\"],\
$stop},\"timeouts\":{\"instantiate\":\"2s\"}"
create_now slow ana 3600
id=$INSTANCE_ID
wait_for 10 "the stubborn hook to start" test -s "$WORK/agents/w1/instances/$id/work/stubborn.pid"
pid=$(cat "$WORK/agents/w1/instances/$id/work/stubborn.pid")
wait_state "$id" failed 15
assert_eq "hook_timeout: instantiate ran past its timeout of 2s" "$(reason_of "$id")" \
	"why instance $id failed"
assert_eq '{"hook":"instantiate","signal":9,"timed_out":true}' \
	"$(inst "$id" '.exit | tojson' | jq -cS .)" "its exit: killed (SIGKILL) after ignoring SIGTERM"
kill -0 "$pid" 2>/dev/null && fail "the timed-out hook (pid $pid) still runs"
wait_for 10 "the stop hook to clean up after $id" grep -qx "cleaned $id" "$WORK/cleanups"

# ---- what a hook leaves in its group is killed with it, after the grace ----
# The hook ends on SIGTERM; its child ignores it: SIGKILL follows after the
# grace, at a timeout and when the slot ends alike.
cat >"$H/leaves.sh" <<'EOF'
#!/bin/sh
( trap '' TERM; exec sleep 300 ) &
echo $! >"$OUTPOST_WORK_DIR/../../../../../child.$OUTPOST_INSTANCE_ID"
wait
EOF
define leaves "\"hooks\":{\"instantiate\":[\"sh\",\"$H/leaves.sh\"],\"run\":[\"sleep\",\"100\"]},\
\"timeouts\":{\"instantiate\":\"1s\"}"
create_now leaves hal 3600
id=$INSTANCE_ID
wait_for 10 "the hook's child to start" test -s "$WORK/child.$id"
child=$(cat "$WORK/child.$id")
wait_state "$id" failed 10
assert_eq "hook_timeout: instantiate ran past its timeout of 1s" "$(reason_of "$id")" \
	"why instance $id failed"
wait_for 5 "the timed-out hook's child $child to be killed" sh -c "! kill -0 $child 2>/dev/null"
define leaves_run "\"hooks\":{\"run\":[\"sh\",\"$H/leaves.sh\"]}"
create_now leaves_run ivy 5	# whole seconds: 4 to 5 s left when it arrives
id=$INSTANCE_ID
wait_for 10 "the run hook's child to start" test -s "$WORK/child.$id"
child=$(cat "$WORK/child.$id")
wait_state "$id" stopped 15
wait_for 5 "the child $child of the run hook stopped at its slot's end to be killed" \
	sh -c "! kill -0 $child 2>/dev/null"

# ---- a run that exits before its slot ends, with a code and with a signal ----
define crash "\"hooks\":{\"run\":[\"sh\",\"-c\",\"echo crashing; exit 7\"],$stop}"
create_now crash ben 3600
id=$INSTANCE_ID
wait_state "$id" failed 10
assert_eq "run_exited: run exited with code 7 before the end of its slot" "$(reason_of "$id")" \
	"why instance $id failed"
assert_eq '{"code":7,"hook":"run"}' "$(inst "$id" '.exit | tojson' | jq -cS .)" "its exit"
assert_contains "crashing" "$(inst_log "$id")" "the crashed run's output"
wait_for 10 "the stop hook to clean up after $id" grep -qx "cleaned $id" "$WORK/cleanups"

define segv "\"hooks\":{\"run\":[\"sh\",\"-c\",\"kill -SEGV \$\$\"]}"
create_now segv cy 3600
wait_state "$INSTANCE_ID" failed 10
assert_eq "run_exited: run was killed by signal 11 before the end of its slot" \
	"$(reason_of "$INSTANCE_ID")" "why a run killed by SIGSEGV failed"
assert_eq '{"hook":"run","signal":11}' "$(inst "$INSTANCE_ID" '.exit | tojson' | jq -cS .)" \
	"the exit of a run killed by SIGSEGV"

# ---- a program that is not there ----
define missing "\"hooks\":{\"run\":[\"/nonexistent/program\"]}"
create_now missing dee 3600
wait_state "$INSTANCE_ID" failed 10
assert_eq "run_exited: run exited with code 127 before the end of its slot" \
	"$(reason_of "$INSTANCE_ID")" "why a missing program failed"
assert_contains "cannot run /nonexistent/program" "$(inst_log "$INSTANCE_ID")" \
	"the log says the program is missing"

# ---- a failing collect, and a grade that is not JSON ----
define badcollect "\"hooks\":{\"run\":[\"sleep\",\"100\"],\"collect\":[\"sh\",\"-c\",\"exit 2\"]}"
create_now badcollect eve 3600
wait_state "$INSTANCE_ID" running 10
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/stop"
wait_state "$INSTANCE_ID" failed 10
assert_eq "hook_failed: collect exited with code 2" "$(reason_of "$INSTANCE_ID")" \
	"why a failing collect failed"
define badgrade "\"hooks\":{\"run\":[\"sleep\",\"100\"],\"grade\":[\"echo\",\"eighty\"]}"
create_now badgrade fay 3600
wait_state "$INSTANCE_ID" running 10
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/stop"
wait_state "$INSTANCE_ID" failed 10
assert_match "^grade_invalid: " "$(reason_of "$INSTANCE_ID")" "why a bad grade failed"
assert_eq null "$(inst "$INSTANCE_ID" .grade)" "no grade is kept from a bad grade hook"

# A grade over 64 KiB as compact JSON (0.1 is written 0.10000000000000001):
# grade_invalid at once, not a report the server refuses again and again.
cat >"$H/biggrade.sh" <<'EOF'
#!/bin/sh
printf '{"x":['
i=0
while [ $i -lt 15000 ]; do printf '0.1,'; i=$((i + 1)); done
printf '0.1]}\n'
EOF
define biggrade "\"hooks\":{\"run\":[\"sleep\",\"100\"],\"grade\":[\"sh\",\"$H/biggrade.sh\"]}"
create_now biggrade ida 3600
wait_state "$INSTANCE_ID" running 10
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/stop"
wait_state "$INSTANCE_ID" failed 10
assert_eq "grade_invalid: the grade is larger than 64 KiB as compact JSON" \
	"$(reason_of "$INSTANCE_ID")" "why a grade too large failed"
assert_eq 0 "$(grep -c '"agent.refused"' "$WORK/agent.w1.log")" "reports the server refused"

# ---- a stop hook that fails runs once, and its output is kept ----
cat >"$H/badstop.sh" <<'EOF'
#!/bin/sh
echo x >>"$OUTPOST_WORK_DIR/../../../../../stops.$OUTPOST_INSTANCE_ID"
echo "stop run $(wc -l <"$OUTPOST_WORK_DIR/../../../../../stops.$OUTPOST_INSTANCE_ID")"
exit 2
EOF
define badstop "\"hooks\":{\"run\":[\"sleep\",\"100\"],\"stop\":[\"sh\",\"$H/badstop.sh\"]}"
create_now badstop jo 3600
id=$INSTANCE_ID
wait_state "$id" running 10
api_ok 200 POST "/api/v1/instances/$id/stop"
wait_state "$id" failed 10
assert_eq "hook_failed: stop exited with code 2" "$(reason_of "$id")" "why a failing stop failed"
wait_for 10 "instance $id to be forgotten by its agent" sh -c "! test -d $WORK/agents/w1/instances/$id"
assert_eq 1 "$(wc -l <"$WORK/stops.$id" | tr -d ' ')" "runs of a stop hook that failed"
assert_contains "stop run 1" "$(inst_log "$id")" "the failed stop hook's output"

# ---- a hook that prints 3 MB: the log keeps its start and its end ----
cat >"$H/loud.sh" <<'EOF'
#!/bin/sh
echo FIRST-LINE
i=0
while [ $i -lt 30000 ]; do
	echo "line $i: 0123456789012345678901234567890123456789012345678901234567890123456789012345678901234"
	i=$((i + 1))
done
echo LAST-LINE
EOF
define loud "\"hooks\":{\"instantiate\":[\"sh\",\"$H/loud.sh\"],\"run\":[\"sleep\",\"100\"]}"
create_now loud gus 3600
wait_state "$INSTANCE_ID" running 30
log=$(inst_log "$INSTANCE_ID")
assert_contains FIRST-LINE "$log" "the start of a loud hook's output"
assert_contains LAST-LINE "$log" "the end of a loud hook's output"
assert_match "\[[0-9]+ bytes of output were not kept\]" "$log" "the note of what was dropped"
[ "${#log}" -lt 70000 ] || fail "the log of a 3 MB hook holds ${#log} bytes"
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
exit 0
