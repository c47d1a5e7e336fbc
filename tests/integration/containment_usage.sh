#!/bin/sh
# The usage an agent measures in an instance's cgroup and the server shows
# on the instance: a hook that holds 100 MiB and burns one core is seen
# within 20% of that (its CPU against what /proc says it used meanwhile).
# Skipped where the agent finds no usable cgroup, or the server shows no
# usage (one older than this agent).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
line=$(grep -m1 '"msg":"agent.isolation"' "$WORK/agent.w1.log")
[ -n "$line" ] || fail "the agent did not log agent.isolation at start"
if [ -z "$(printf %s "$line" | jq -r '.cgroup // empty')" ]; then
	echo "SKIP: $TEST_NAME: no usable cgroup here: $(printf %s "$line" | jq -r .why)" >&2
	exit 77
fi
A=$WORK/agents/w1/instances
define hog "\"hooks\":{\"run\":[\"python3\",\"-c\",\"b = b'x' * (100 << 20)\\nwhile True: pass\"]},\
\"resources\":{\"cpu\":2,\"memory_mb\":512}"
create_now hog ana 3600
id=$INSTANCE_ID
wait_state "$id" running
wait_for 10 "the hog to start" test -s "$A/$id/run.pid"
pid=$(cut -d' ' -f2 "$A/$id/run.pid")
hz=$(getconf CLK_TCK)

ticks() { cut -d')' -f2 "/proc/$pid/stat" | awk '{ print $12 + $13 }'; }

# Two samples of the agent at least (the first has no interval to measure CPU over).
_sampled() {
	inst "$id" . >/dev/null
	[ "$(jbody 'has("usage")')" = true ] || return 0
	[ "$(jbody '.usage.cpu_millicores // 0')" -gt 0 ] &&
		[ "$(jbody '.usage.memory_bytes // 0')" -gt $((90 << 20)) ]
}
wait_for 20 "a usage sample of the hog" _sampled
if [ "$(jbody 'has("usage")')" != true ]; then
	echo "SKIP: $TEST_NAME: the server shows no usage on instances" >&2
	exit 77
fi
t0=$(ticks)
s0=$(date +%s%N)
sleep 3
t1=$(ticks)
s1=$(date +%s%N)
inst "$id" . >/dev/null
usage=$(jbody -c .usage)
note "usage $usage"
# What the hog used meanwhile, in thousandths of a core, from /proc.
real=$(((t1 - t0) * 1000000000000 / hz / (s1 - s0)))
milli=$(jbody .usage.cpu_millicores)
mem=$(jbody .usage.memory_bytes)
peak=$(jbody .usage.memory_peak_bytes)
usec=$(jbody .usage.cpu_usec)
note "the hog used $real millicores by /proc; the agent says $milli"
[ "$real" -ge 300 ] || fail "the hog got only $real millicores: the host is too busy to tell"
diff=$((milli - real))
[ "${diff#-}" -le $((real / 5)) ] ||
	fail "cpu_millicores $milli is not within 20% of the $real the hog used by /proc"
[ "$mem" -ge $((80 << 20)) ] && [ "$mem" -le $((120 << 20)) ] ||
	fail "memory_bytes $mem is not within 20% of the 100 MiB the hog holds"
[ "$peak" -ge "$mem" ] || fail "memory_peak_bytes $peak is below memory_bytes $mem"
[ "$usec" -le $((t1 * 1000000 / hz + 500000)) ] ||
	fail "cpu_usec $usec is more than the $((t1 * 1000000 / hz)) us the hog used by /proc"
[ "$usec" -gt 0 ] || fail "cpu_usec is 0"
