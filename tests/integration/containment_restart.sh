#!/bin/sh
# An agent killed and started again under a running instance takes its
# cgroup back (the hook runs on in it, and terminate still ends it whole),
# and kills and removes a cgroup in its parent that no instance of it has.
# Skipped where the agent finds no usable cgroup (it says so in its log).
. "$(dirname "$0")/lib.sh"

start_server
start_contained_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
A=$WORK/agents/w1/instances
mark=outpost-mark-$$
cat >"$WORK/sleeper.sh" <<'EOF'
#!/bin/bash
( bash -c "exec -a $1-left sleep 300" & )
exec sleep 300
EOF
define sleeper "\"hooks\":{\"run\":[\"bash\",\"$WORK/sleeper.sh\",\"$mark\"]}"
create_now sleeper ana 3600
id=$INSTANCE_ID
wait_state "$id" running
wait_for 10 "the run hook of $id to start" test -s "$A/$id/run.pid"
wait_for 10 "what the run hook left to run" pgrep -f -- "$mark-left"
hook=$(cut -d' ' -f2 "$A/$id/run.pid")
dirs=$(cat "$A/$id/cgroup")
[ -n "$dirs" ] || fail "instance $id has no cgroup"

# A stray cgroup in the agent's parent, as a crash could leave one, with a process in it
# (made while no agent runs: a running one reaps it at its next heartbeat).
kill_agent w1
stray=
for d in $dirs; do
	mkdir "$(dirname "$d")/i999999" || fail "cannot make a stray cgroup beside $d"
	stray="$stray $(dirname "$d")/i999999"
done
bash -c "exec -a $mark-stray sleep 300" &
stray_pid=$!
track_pid "$stray_pid"
for d in $stray; do
	echo "$stray_pid" >"$d/cgroup.procs" || fail "cannot move $stray_pid into $d"
done
since=$(date +%s)
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_for 15 "a heartbeat of the restarted agent" heard_after w1 "$since"
_gone() {	# DIR...
	local d
	for d in "$@"; do
		[ -d "$d" ] && return 1
	done
	return 0
}
# shellcheck disable=SC2086
wait_for 10 "the stray cgroup reaped" _gone $stray
wait_for 10 "the stray cgroup's process killed" no_process "$mark-stray"
kill -0 "$hook" 2>/dev/null || fail "the adopted run hook (pid $hook) was killed"
for d in $dirs; do
	[ -d "$d" ] || fail "the cgroup $d of the running instance $id was removed by the restart"
done
grep -q "/i$id\$" "/proc/$hook/cgroup" || fail "the adopted hook left its cgroup"
pgrep -f -- "$mark-left" >/dev/null || fail "what the run hook left was killed by the restart"

TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$id/terminate"
wait_for 10 "no process of $id left" no_process "$mark-left"
kill -0 "$hook" 2>/dev/null && fail "the run hook (pid $hook) outlived terminate"
# shellcheck disable=SC2086
wait_for 10 "the cgroup of $id removed" _gone $dirs
