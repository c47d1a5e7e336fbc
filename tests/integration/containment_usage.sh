#!/bin/sh
# The usage an agent measures in an instance's cgroup and the server shows
# on the instance: a hook that holds 100 MiB and burns one core is seen
# within 20% of that (its CPU against what /proc says it used meanwhile).
# Skipped where the agent finds no usable cgroup, or the server shows no
# usage (one older than this agent).
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
start_server
start_contained_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
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
# A new sample, with /proc read just before and just after it is seen: the
# cumulative CPU the agent reports was read from the cgroup between the two.
# SINCE: a sampled_at; sets USAGE, and TA/TB (ticks before and after).
_new_sample() {
	TB=$(ticks)
	inst "$id" . >/dev/null
	[ "$(jbody -r .usage.sampled_at)" != "$1" ] || { TA=$TB; return 1; }
	USAGE=$(jbody -c .usage)
	TB=$(ticks)
}
next_sample() {	# SINCE
	TA=$(ticks)
	wait_for 10 "a usage sample after $1" _new_sample "$1"
}
us_of() { echo $(($1 * 1000000 / hz)); }
inst "$id" . >/dev/null
next_sample "$(jbody -r .usage.sampled_at)"
u1=$USAGE
a1=$TA
b1=$TB
# Long enough that a heartbeat's own delay, which shifts each sample's read by up to
# a few hundred ms, stays well within the 20% compared below.
sleep 6
next_sample "$(printf %s "$u1" | jq -r .sampled_at)"
u2=$USAGE
a2=$TA
b2=$TB
note "usage $u2"
for k in 1 2; do
	eval "u=\$u$k a=\$a$k b=\$b$k"
	usec=$(printf %s "$u" | jq .cpu_usec)
	# The agent read the cgroup before its heartbeat showed the sample, so never
	# more than /proc said after (one 10 ms tick of slack); how long before, this
	# script cannot see (a heartbeat's way on a busy host), so below it only by
	# what two cores burn in a second. The rate below is the close check.
	[ "$usec" -ge $(($(us_of "$a") - 2000000)) ] && [ "$usec" -le $(($(us_of "$b") + 10000)) ] ||
		fail "cpu_usec $usec of sample $k is not between the $(us_of "$a") and $(us_of "$b") us /proc said around it"
done
# Over the 6 s between the two samples, by the agent's figures and by /proc's.
s1=$(date -u -d "$(printf %s "$u1" | jq -r .sampled_at)" +%s%3N)
s2=$(date -u -d "$(printf %s "$u2" | jq -r .sampled_at)" +%s%3N)
agent=$((($(printf %s "$u2" | jq .cpu_usec) - $(printf %s "$u1" | jq .cpu_usec)) / (s2 - s1)))
lo=$(((a2 - b1) * 1000000 / hz / (s2 - s1)))
hi=$(((b2 - a1) * 1000000 / hz / (s2 - s1)))
note "between two samples the hog used $agent millicores by the agent's figures, $lo to $hi by /proc"
[ "$lo" -ge 300 ] || fail "the hog got only $lo millicores: the host is too busy to tell"
[ "$agent" -ge $((lo * 4 / 5)) ] && [ "$agent" -le $((hi * 6 / 5)) ] ||
	fail "the agent's $agent millicores between two samples are not within 20% of the $lo to $hi by /proc"
milli=$(printf %s "$u2" | jq .cpu_millicores)
[ "$milli" -gt 0 ] && [ "$milli" -le 2200 ] ||
	fail "cpu_millicores $milli is not within what a hog limited to 2 cores can use"
mem=$(printf %s "$u2" | jq .memory_bytes)
peak=$(printf %s "$u2" | jq .memory_peak_bytes)
[ "$mem" -ge $((80 << 20)) ] && [ "$mem" -le $((120 << 20)) ] ||
	fail "memory_bytes $mem is not within 20% of the 100 MiB the hog holds"
[ "$peak" -ge "$mem" ] || fail "memory_peak_bytes $peak is below memory_bytes $mem"
