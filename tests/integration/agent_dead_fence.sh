#!/bin/sh
# An agent killed (kill -9) and not started again: its hooks live on under
# their shims, and the shims fence them on the lease the agent left
# (WORK_DIR/lease), before the server declares the worker lost and places
# the instance on another worker: it never runs on two workers at once. A
# double-forked, setsid'd child of the run hook (out of the hook's process
# group) goes too. The agent started again later finds "fenced" in the
# hook's status: it does not run the hook again, and reports it fenced.
. "$(dirname "$0")/lib.sh"

OUTPOST_WORKER_OFFLINE_AFTER=1s OUTPOST_WORKER_LOST_AFTER=3s start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
shared_file marks
# Marks "WORKER hook|child PID UPTIME", every 0.1 s, from the hook and from a
# child it double-forks into a session of its own.
cat >"$H/run.sh" <<'EOF'
#!/bin/sh
(setsid sh -c 'while :; do echo "$OUTPOST_WORKER child $$ $(cut -d" " -f1 /proc/uptime)" >>"$0"
	sleep 0.1; done' "$1" </dev/null >/dev/null 2>&1 &)
while :; do
	echo "$OUTPOST_WORKER hook $$ $(cut -d' ' -f1 /proc/uptime)" >>"$1"
	sleep 0.1
done
EOF
define moves "\"hooks\":{\"run\":[\"sh\",\"$H/run.sh\",\"$WORK/marks\"]},\"on_worker_loss\":\"reschedule\""
create_now moves ana 3600
id=$INSTANCE_ID
wait_state "$id" running 10
assert_eq w1 "$(inst "$id" .worker)" "worker of instance $id"
wait_for 10 "the hook and its child on w1 to write marks" \
	sh -c "grep -q '^w1 hook ' '$WORK/marks' && grep -q '^w1 child ' '$WORK/marks'"
start_agent w2 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w2

# Only the agent dies; its shims live on.
kill_agent w1
wait_for 20 "w1 to be lost" _worker_is w1 lost
_on_w2() { [ "$(inst "$id" '.worker + " " + .state')" = "w2 running" ]; }
wait_for 15 "instance $id to run on w2" _on_w2
wait_for 10 "the hook on w2 to write marks" grep -q '^w2 hook ' "$WORK/marks"

# Every process of it on w1 was dead before its run began on w2: no overlap.
w1_last=$(awk '$1 == "w1" { t = $4 } END { print t }' "$WORK/marks")
w2_first=$(awk '$1 == "w2" { print $4; exit }' "$WORK/marks")
awk -v a="$w1_last" -v b="$w2_first" 'BEGIN { exit !(a < b) }' ||
	fail "w1's copy wrote at uptime $w1_last, after w2's began at $w2_first"
note "w1's copy wrote last $(awk -v a="$w1_last" -v b="$w2_first" 'BEGIN { print b - a }') s before w2's began"
# (A zombie is dead: the orphaned child waits for whoever adopted it to reap it.)
for p in $(awk '$1 == "w1" { print $3 }' "$WORK/marks" | sort -u); do
	case $(ps -o stat= -p "$p") in
	"" | Z*) ;;
	*) fail "process $p of instance $id still runs on w1: $(ps -o stat=,uid=,args= -p "$p")" ;;
	esac
done
assert_eq "signal 9 fenced" "$(cat "$WORK/agents/w1/instances/$id/run.exit")" \
	"the run hook's status on w1"

# w1's agent back, without the lease (so that only the hook's status can tell it of
# the fence): the hook is not run again there, and the instance is reported fenced.
rm -f "$WORK/agents/w1/lease"
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
wait_for 10 "w1's agent to fence instance $id" \
	grep -q "\"msg\":\"agent.fenced\".*\"instance\":\"$id\"" "$WORK/agent.w1.log"
assert_eq 1 "$(grep -c "\"msg\":\"agent.hook_started\".*\"instance\":\"$id\"" "$WORK/agent.w1.log")" \
	"hooks of instance $id started on w1"
assert_eq "w2 running 2" "$(inst "$id" '.worker + " " + .state + " " + (.attempt | tostring)')" \
	"instance $id after w1 came back"

# A lease that cannot be saved (here its temporary file is a directory; a full disk
# alike) is removed, not left to run out under the shims of a live agent.
L=$WORK/agents/w1/lease
wait_for 5 "w1's lease, of four fields" sh -c "[ \$(wc -w <'$L') = 4 ]"
mkdir "$L.tmp"
wait_for 5 "w1's agent to say its lease is not saved" \
	grep -q '"msg":"agent.lease_unsaved"' "$WORK/agent.w1.log"
[ ! -e "$L" ] || fail "w1's old lease is still there: its shims would fence on it"
rmdir "$L.tmp"
wait_for 5 "w1's lease saved again" test -s "$L"
exit 0
