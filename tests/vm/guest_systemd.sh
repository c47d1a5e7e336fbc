#!/bin/bash
# In the VM of tests/vm/cgroup-v2.sh (guest.sh runs it): the shipped
# outpost-agent@.service (KillMode=process, its instances' cgroups under
# outpost-instances@.service's delegated cgroup) under the host's own systemd,
# against a real outpostd (a plain process, lib.sh's start_server). An instance
# with limits runs; its cgroup is checked; the unit is restarted, then stopped
# and started, under a running instance: the agent must come back on cgroup v2,
# the instance's hook running on in its cgroup, and end it whole at terminate.
# Says where systemd put each new agent process (its /proc/PID/cgroup), or why
# it did not start one. Where it did not, the way back (kill what the unit
# holds, start it) is checked.
# Each step is a RESULT line of its own (systemd_start, systemd_restart,
# systemd_stop_start, systemd_recover) in $OUTPOST_VM_OUT/results.
. "$(dirname "$0")/../integration/lib.sh"

UNIT=outpost-agent@w1
STATE=/var/lib/outpost-agent/w1
A=$STATE/instances

_stop_unit() {
	systemctl stop "$UNIT" 2>/dev/null
	systemctl kill --kill-who=all --signal=KILL "$UNIT" 2>/dev/null
	systemctl stop "outpost-instances@w1" 2>/dev/null
	journalctl -u "$UNIT" -o cat --no-pager >"${OUTPOST_VM_OUT:-$WORK}/agent-journal.log" 2>&1
}
CLEANUP_HOOKS+=(_stop_unit)

# step NAME FUNCTION: runs it in a subshell (a fail ends the step, not the script).
step() {
	local start=$SECONDS rc
	( "$2" ) 2>&1 | tee "$WORK/step.$1"
	rc=${PIPESTATUS[0]}
	if [ "$rc" = 0 ]; then
		echo "RESULT PASS $1 $((SECONDS - start))" >>"$RESULTS"
	else
		echo "RESULT FAIL $1 $((SECONDS - start)) $(grep -m1 FAIL "$WORK/step.$1")" >>"$RESULTS"
		STEPS_FAILED=1
	fi
	return "$rc"
}
RESULTS=${OUTPOST_VM_OUT:-$WORK}/results
STEPS_FAILED=

main_pid() { systemctl show -p MainPID --value "$UNIT"; }

# where: what systemd and the agent made of a new agent process.
where() {	# WHAT
	local pid
	pid=$(main_pid)
	note "$1: the agent (pid $pid) is in $(sed -n 's/^0:://p' "/proc/$pid/cgroup" 2>/dev/null)"
}

isolation_is() {	# WANT
	TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w1
	assert_eq "$1" "$(jbody .isolation)" "w1's isolation"
}

_hook_in() {	# PID ID
	grep -q "/i$2\$" "/proc/$1/cgroup" 2>/dev/null
}

start_server
saved=$TOKEN
TOKEN=$SERVER_TOKEN
create_token vm-agents agent
TOKEN=$saved
mkdir -p /etc/outpost
(umask 077 && printf '%s\n' "$NEW_TOKEN" >/etc/outpost/agent.token)
: >/etc/outpost/agent.conf
cat >/etc/outpost/agent-w1.env <<EOF
OUTPOST_SERVER=$SERVER_URL
OUTPOST_TOKEN_FILE=/etc/outpost/agent.token
OUTPOST_HEARTBEAT=300ms
OUTPOST_KILL_GRACE=1s
OUTPOST_LOG_FORMAT=json
OUTPOST_CAPACITY=cpu=4,memory_mb=4096,slots=4
EOF
systemctl stop "$UNIT" 2>/dev/null
rm -rf "$STATE"
systemctl daemon-reload
unit_cg="/sys/fs/cgroup/system.slice/system-outpost\\x2dagent.slice/$UNIT.service"
inst_cg="/sys/fs/cgroup/outpost.slice/outpost-instances@w1.service"

mark=outpost-vm-$$
cat >"$WORK/sleeper.sh" <<'EOF'
#!/bin/bash
( bash -c "exec -a $1-left sleep 600" & )
exec sleep 600
EOF
chmod 755 "$WORK/sleeper.sh"
define lim "\"resources\":{\"cpu\":2,\"memory_mb\":256,\"pids\":100},\
\"hooks\":{\"run\":[\"bash\",\"$WORK/sleeper.sh\",\"$mark\"]}"

# run_one TAG: an instance of lim, running, its hook and cgroup checked. Sets ID, HOOK, DIR.
run_one() {
	create_now lim ana 3600
	ID=$INSTANCE_ID
	wait_state "$ID" running 60
	wait_for 30 "the run hook of $ID" test -s "$A/$ID/run.pid"
	wait_for 30 "what the run hook of $ID left" pgrep -f -- "$mark-left"
	HOOK=$(cut -d' ' -f2 "$A/$ID/run.pid")
	DIR=$(cat "$A/$ID/cgroup")
	case $DIR in
	"$inst_cg"/outpost-agent-w1.*/i"$ID") ;;
	*) fail "instance $ID's cgroup $DIR is not under outpost-instances@w1's $inst_cg" ;;
	esac
	_hook_in "$HOOK" "$ID" || fail "the hook $HOOK is not in i$ID: $(cat "/proc/$HOOK/cgroup")"
}

# end_whole: terminate ID; no process of it left, its cgroup gone.
end_whole() {
	TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$ID/terminate"
	wait_for 30 "no process of $ID left" no_process "$mark-left"
	kill -0 "$HOOK" 2>/dev/null && fail "the run hook (pid $HOOK) of $ID outlived terminate"
	wait_for 30 "the cgroup $DIR removed" test ! -d "$DIR"
}

# across WHAT: after the agent came back, on v2, the instance's hook in its cgroup.
_back() {	# WHAT: the new agent heard from; a start systemd failed fails at once
	[ "$(systemctl show -p ExecMainStatus --value "$UNIT")" != 219 ] ||
		fail "no agent runs after $1: $(journalctl -u "$UNIT" -o cat --no-pager \
			--since "@$since" | grep -m1 -E 'status=|Failed to attach')"
	[ "$(main_pid)" != 0 ] && heard_after w1 "$since"
}
across() {
	local line
	wait_for 60 "a heartbeat after $1" _back "$1"
	where "$1"
	line=$(journalctl -u "$UNIT" -o cat --no-pager --since "@$since" |
		grep '"msg":"agent.isolation"' | tail -n 1)
	note "$1: $line"
	assert_contains '"isolation":"cgroup-v2"' "$line" "the agent's agent.isolation after $1"
	isolation_is cgroup-v2
	kill -0 "$HOOK" 2>/dev/null || fail "the hook $HOOK of $ID died at $1"
	_hook_in "$HOOK" "$ID" || fail "the hook $HOOK left i$ID at $1"
	pgrep -f -- "$mark-left" >/dev/null || fail "what the hook of $ID left died at $1"
	case $(sed -n 's/^0:://p' "/proc/$(main_pid)/cgroup") in
	"${unit_cg#/sys/fs/cgroup}") ;;
	*) fail "the agent is not in its unit's cgroup ${unit_cg#/sys/fs/cgroup} after $1" ;;
	esac
}

# The instance a step ran, for the next (a step runs in a subshell).
save() { echo "$ID $HOOK $DIR" >"$WORK/running"; }
load() { read -r ID HOOK DIR <"$WORK/running"; }

# ---- the first start, the limits on v2's files ----
first_start() {
	systemctl start "$UNIT" || fail "systemctl start $UNIT"
	wait_online w1
	where "systemctl start"
	isolation_is cgroup-v2
	note "the unit's cgroup: $unit_cg; cgroups recorded: $(cat "$STATE/cgroups")"
	run_one
	save
	assert_eq "200000 100000" "$(cat "$DIR/cpu.max")" "cpu.max of cpu 2"
	assert_eq $((256 << 20)) "$(cat "$DIR/memory.max")" "memory.max of memory_mb 256"
	assert_eq 0 "$(cat "$DIR/memory.swap.max")" "memory.swap.max"
	assert_eq 100 "$(cat "$DIR/pids.max")" "pids.max of pids 100"
	note "limits: cpu.max $(cat "$DIR/cpu.max"), memory.max $(cat "$DIR/memory.max"), \
memory.swap.max $(cat "$DIR/memory.swap.max"), pids.max $(cat "$DIR/pids.max")"
}

# ---- systemctl restart under a running instance ----
restart() {
	load
	since=$(date +%s)
	sleep 1
	systemctl restart "$UNIT" || note "systemctl restart $UNIT: exit $?"
	sleep 5
	across "systemctl restart"
	end_whole
}

# ---- systemctl stop, then start, under a running instance ----
stop_start() {
	run_one
	save
	systemctl stop "$UNIT" || fail "systemctl stop $UNIT"
	kill -0 "$HOOK" 2>/dev/null || fail "the hook $HOOK died at systemctl stop (KillMode=process)"
	note "after systemctl stop: the unit is $(systemctl is-active "$UNIT"), its cgroup \
$([ -d "$unit_cg" ] && echo "still there" || echo "gone")"
	since=$(date +%s)
	sleep 1
	systemctl start "$UNIT" || note "systemctl start $UNIT: exit $?"
	sleep 5
	across "systemctl stop + start"
	end_whole
}

# ---- the way back when the agent could not start: its unit's processes killed ----
recover() {
	load
	systemctl kill --kill-who=all --signal=KILL "$UNIT"
	systemctl stop "$UNIT"
	systemctl reset-failed "$UNIT" 2>/dev/null
	wait_for 30 "no process of $ID left" no_process "$mark-left"
	since=$(date +%s)
	sleep 1
	systemctl start "$UNIT" || fail "systemctl start $UNIT after killing what it held"
	wait_for 60 "a heartbeat after the start" heard_after w1 "$since"
	where "systemctl kill + start"
	isolation_is cgroup-v2
	kill -0 "$HOOK" 2>/dev/null && fail "the hook $HOOK of $ID outlived systemctl kill"
	# Its cgroup is reaped, or made again for it: the server placed it anew on w1 (a lost
	# worker's instances go back to pending by default).
	wait_for 30 "the cgroup $DIR of the killed instance reaped or used again" _reaped "$since"
	note "after systemctl kill + start: $([ -d "$DIR" ] && echo "i$ID placed again: \
$(cat "$DIR/cgroup.procs" | wc -l) processes" || echo "i$ID reaped")"
}

_reaped() {	# SINCE
	[ ! -d "$DIR" ] || journalctl -u "$UNIT" -o cat --no-pager --since "@$1" |
		grep -qF "\"msg\":\"agent.assigned\",\"instance\":\"$ID\""
}

step systemd_start first_start || exit 1
step systemd_restart restart || step systemd_recover recover || exit 1
step systemd_stop_start stop_start || step systemd_recover recover || exit 1
[ -z "$STEPS_FAILED" ] || fail "a step failed"
note "PASS"
