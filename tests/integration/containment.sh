#!/bin/sh
# Each instance in a cgroup of its own, on this host's real cgroups (the
# agent's cgroup.c): a hook past its memory limit fails its instance with the
# OOM reason and leaves its neighbour alone; two busy processes of a cpu: 1
# instance get one core; what a hook double-forks or setsid's is gone after
# terminate, and so is the cgroup; a fork bomb stops at the pids limit while
# the agent's heartbeats go on. Skipped where the agent finds no cgroup it
# can use (it says so in its log), never passed.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
start_server
start_contained_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
H=$WORK/hooks
mkdir -p "$H"
A=$WORK/agents/w1/instances

# The directories of instance ID's cgroup, one a line (the agent writes them for its shim).
cg_dirs() {
	cat "$A/$1/cgroup" 2>/dev/null
}

_cg_gone() {	# DIR...
	local d
	for d in "$@"; do
		[ -d "$d" ] && return 1
	done
	return 0
}

# ---- a hook past its memory limit: the OOM reason; its neighbour untouched ----
define calm "\"hooks\":{\"run\":[\"sleep\",\"300\"]},\"resources\":{\"cpu\":1,\"memory_mb\":64}"
create_now calm ana 3600
calm=$INSTANCE_ID
wait_state "$calm" running
wait_for 10 "calm's run hook to start" test -s "$A/$calm/run.pid"
calm_pid=$(cut -d' ' -f2 "$A/$calm/run.pid")
define hog "\"hooks\":{\"run\":[\"python3\",\"-c\",\"import time; b = b'x' * (128 << 20); \
time.sleep(300)\"]},\"resources\":{\"cpu\":1,\"memory_mb\":32}"
create_now hog ben 3600
hog=$INSTANCE_ID
wait_state "$hog" failed 30
assert_eq "out of memory: limit 32 MB" "$(inst "$hog" .state_reason)" "why the hog failed"
assert_eq 9 "$(inst "$hog" .exit.signal)" "the hog's end (SIGKILL, the OOM killer's)"
assert_eq running "$(inst "$calm" .state)" "its neighbour's state"
kill -0 "$calm_pid" 2>/dev/null || fail "the neighbour's run hook (pid $calm_pid) was killed"
grep -q "/i$calm\$" "/proc/$calm_pid/cgroup" ||
	fail "the neighbour's hook is not in its instance's cgroup: $(cat "/proc/$calm_pid/cgroup")"

# ---- cpu: 1: two busy processes for 3 s of wall time use one core's 3 s ----
cat >"$H/busy.sh" <<'EOF'
#!/bin/sh
# Two busy loops for 3 s; then the CPU time they used, from /proc, in clock ticks.
sh -c 'while :; do :; done' &
a=$!
sh -c 'while :; do :; done' &
b=$!
sleep 3
ta=$(cut -d')' -f2 "/proc/$a/stat" | awk '{ print $12 + $13 }')
tb=$(cut -d')' -f2 "/proc/$b/stat" | awk '{ print $12 + $13 }')
kill -9 "$a" "$b"
echo "cpu_ticks=$((ta + tb)) hz=$(getconf CLK_TCK)"
exec sleep 300
EOF
define busy "\"hooks\":{\"run\":[\"sh\",\"$H/busy.sh\"]},\"resources\":{\"cpu\":1,\"memory_mb\":64}"
create_now busy cy 3600
busy=$INSTANCE_ID
wait_state "$busy" running
_busy_said() { inst_log "$busy" | grep -q cpu_ticks=; }
wait_for 20 "the busy hook to say its CPU time" _busy_said
said=$(inst_log "$busy" | grep -o 'cpu_ticks=[0-9]* hz=[0-9]*')
ticks=${said#cpu_ticks=}
ticks=${ticks%% *}
hz=${said##*hz=}
note "two busy processes under cpu: 1 used $ticks ticks of CPU ($hz a second) in 3 s"
[ $((ticks * 10)) -le $((hz * 33)) ] ||
	fail "two busy processes under cpu: 1 used $ticks ticks (more than 3.3 s at $hz a second)"
[ $((ticks * 10)) -ge $((hz * 5)) ] || fail "the busy processes used almost no CPU ($ticks ticks)"

# ---- double-forked and setsid'd: gone after terminate, and the cgroup too ----
mark=outpost-mark-$$
cat >"$H/leaky.sh" <<'EOF'
#!/bin/bash
# A sleeper double-forked (its parent gone, it is init's) and one in a session of its own.
( bash -c "exec -a $1-dfork sleep 300" & )
setsid bash -c "exec -a $1-setsid sleep 300" &
exec sleep 300
EOF
define leaky "\"hooks\":{\"run\":[\"bash\",\"$H/leaky.sh\",\"$mark\"]}"
create_now leaky dee 3600
leaky=$INSTANCE_ID
wait_state "$leaky" running
_both_run() { pgrep -f -- "$mark-dfork" >/dev/null && pgrep -f -- "$mark-setsid" >/dev/null; }
wait_for 10 "both sleepers of $leaky to run" _both_run
for p in $(pgrep -f -- "$mark-"); do
	grep -q "/i$leaky\$" "/proc/$p/cgroup" ||
		fail "process $p ($(tr '\0' ' ' <"/proc/$p/cmdline")) is not in its instance's cgroup"
done
dirs=$(cg_dirs "$leaky")
[ -n "$dirs" ] || fail "instance $leaky has no cgroup (no $A/$leaky/cgroup)"
for d in $dirs; do
	[ -d "$d" ] || fail "the cgroup directory $d of instance $leaky is not there"
done
TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$leaky/terminate"
wait_for 10 "no process of $leaky left (marker $mark)" no_process "$mark-"
# shellcheck disable=SC2086
wait_for 10 "the cgroup of $leaky removed" _cg_gone $dirs

# ---- a fork bomb stops at the pids limit; the agent's heartbeats go on ----
# Bounded all the same (2047 processes, each gone in 20 s), so that an agent that
# failed to contain it could not take this host down with the test.
bomb="\"hooks\":{\"run\":[\"sh\",\"-c\",\"f() { [ \$1 -gt 0 ] || exec sleep 20; \
f \$((\$1 - 1)) & f \$((\$1 - 1)) & wait; }; f 10 >/dev/null 2>&1 & sleep 4; exit 3\"]}"
pids=64
TOKEN=$SERVER_TOKEN api POST /api/v1/definitions \
	"{\"name\":\"bomb\",$bomb,\"resources\":{\"cpu\":1,\"memory_mb\":256,\"pids\":$pids}}"
if [ "$STATUS" = 400 ] && [ "$(jbody .error.field)" = resources.pids ]; then
	# A server without the definition's pids: the agent's default holds (more memory for it).
	pids=1024
	define bomb "$bomb,\"resources\":{\"cpu\":1,\"memory_mb\":1024}"
else
	assert_status 201 "POST /api/v1/definitions (bomb)"
fi
create_now bomb eve 3600
bomb_id=$INSTANCE_ID
wait_state "$bomb_id" running
dirs=$(cg_dirs "$bomb_id")
[ -n "$dirs" ] || fail "instance $bomb_id has no cgroup (no $A/$bomb_id/cgroup)"
wait_state "$bomb_id" failed 30
assert_eq "pids limit reached: limit $pids" "$(inst "$bomb_id" .state_reason)" \
	"why the fork bomb failed"
since=$(date +%s)
wait_for 10 "a heartbeat of w1 after the bomb" heard_after w1 "$since"
kill -0 "$(agent_pid w1)" || fail "the agent is gone"
# shellcheck disable=SC2086
wait_for 10 "the bomb's cgroup removed with all it held" _cg_gone $dirs
assert_eq running "$(inst "$calm" .state)" "the neighbour after all that"
kill -0 "$calm_pid" 2>/dev/null || fail "the neighbour's run hook (pid $calm_pid) was killed"
