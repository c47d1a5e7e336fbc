#!/bin/sh
# A local template's "nice": the agents outpostd starts for it, and the hooks
# they run, yield the CPU to the server sharing their host.
#  a. the template's provisioner.nice must be a whole number from 0 to 19: else
#     400 naming provisioner.nice, and nothing stored;
#  b. an agent of a template with nice 10 runs at nice 10, and so does its
#     instance's hook;
#  c. where the agent has cgroups, its instances' parent weighs as one process
#     at nice 10 (v1: cpu.shares 110; v2: cpu.weight.nice 10): a nice alone
#     weighs nothing outside a hook's own cgroup;
#  d. nice 0 back on the template (it applies from the agent's next start), the
#     agent started again runs at 0 and its parent is back at the default weight.
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
start_server --agent-program "$AGENT"
T=kind

# ---- a. bad values: refused, naming the field, nothing stored ----
for bad in 20 -1 '"10"' 2.5 true; do
	TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$T" \
		"{\"capacity\":{\"cpu\":2,\"memory_mb\":512,\"slots\":2},\"min\":1,\"max\":1,
		\"provisioner\":{\"type\":\"local\",\"heartbeat\":\"300ms\",\"nice\":$bad}}"
	assert_error 400 invalid_argument provisioner.nice "a template with nice $bad"
done
TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$T"
assert_status 404 "the template after the refused PUTs"

# ---- b. nice 10: the agent and its hook ----
put_template() {	# NICE
	TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$T" \
		"{\"capacity\":{\"cpu\":2,\"memory_mb\":512,\"slots\":2},\"min\":1,\"max\":1,
		\"provisioner\":{\"type\":\"local\",\"heartbeat\":\"300ms\",\"nice\":$1}}"
	case $STATUS in 200 | 201) ;; *) fail "PUT the template with nice $1: $STATUS $BODY" ;; esac
	assert_eq "$1" "$(jbody .provisioner.nice)" "the template's provisioner.nice"
}
nice_of() { cut -d')' -f2 "/proc/$1/stat" | awk '{ print $17 }'; }
put_template 10
wait_for 20 "$T-1 ready and online" _worker_ready_online $T-1
pid=$(agent_pids $T-1)
assert_match '^[0-9]+$' "$pid" "the one agent process of $T-1"
assert_eq 10 "$(nice_of "$pid")" "the nice of $T-1's agent"

define job '"hooks":{"run":["sh","-c","echo nice=$(cut -d\")\" -f2 /proc/self/stat | cut -d\" \" -f18); exec sleep 300"]}'
create_now job ana 3600
job=$INSTANCE_ID
wait_state "$job" running
_said() { inst_log "$job" | grep -q '^nice='; }
wait_for 20 "the hook to say its nice" _said
assert_eq nice=10 "$(inst_log "$job" | grep -m1 '^nice=')" "the hook's nice"

# ---- c. the instances' parent cgroup ----
CG=$SERVER_DIR/workers/$T-1/work/cgroups
weight_is() {	# NICE SHARES: the parent's weight, or 0 when there is no cgroup to look at
	local d
	[ -s "$CG" ] || return 0
	for d in $(cat "$CG"); do
		if [ -f "$d/cpu.weight.nice" ]; then
			[ "$(cat "$d/cpu.weight.nice")" = "$1" ] || return 1
			found=1
		elif [ -f "$d/cpu.shares" ]; then
			[ "$(cat "$d/cpu.shares")" = "$2" ] || return 1
			found=1
		fi
	done
}
found=0
weight_is 10 110 || fail "the parent cgroup of $T-1's instances does not weigh as nice 10: \
$(for d in $(cat "$CG"); do grep -H . "$d/cpu.weight.nice" "$d/cpu.shares" 2>/dev/null; done)"
checked=$found
if [ "$found" = 1 ]; then
	note "c: the parent cgroup weighs as nice 10"
else
	note "c: not checked: the agent found no cgroup with a cpu weight here ($(cat "$CG" 2>/dev/null))"
fi
TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$job/terminate"
wait_state "$job" terminated 30

# ---- d. nice 0 again: the agent started again at 0, the parent at the default ----
put_template 0
kill -KILL "$pid"
_new_agent() { p=$(agent_pids $T-1); [ -n "$p" ] && [ "$p" != "$pid" ]; }
wait_for 20 "$T-1's agent started again" _new_agent
assert_eq 0 "$(nice_of "$p")" "the nice of $T-1's agent after nice 0"
# The worker stays online through the restart (its silence is far from
# worker_offline_after): the new agent's second agent.isolation line says it has
# set its cgroups up, the weight included.
_isolation_again() { [ "$(grep -c 'agent.isolation' "$SERVER_DIR/workers/$T-1/agent.log")" -ge 2 ]; }
wait_for 20 "$T-1's new agent to set its cgroups up" _isolation_again
found=0
weight_is 0 1024 || fail "the parent cgroup of $T-1's instances kept a weight below the default: \
$(for d in $(cat "$CG"); do grep -H . "$d/cpu.weight.nice" "$d/cpu.shares" 2>/dev/null; done)"
assert_eq "$checked" "$found" "the parent's weight looked at (1) or not (0), as in c"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
