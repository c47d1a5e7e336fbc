#!/bin/sh
# Containment as the server sees it: a worker registers its isolation (a bad
# value is refused, naming the field, and registers nothing); a definition's
# resources.pids (default 1024) reaches the agent's work, and one that says
# "containment": "required" waits, with the reason, while only workers of
# isolation none exist, then is placed once a contained one registers.
# Heartbeats carry each instance's usage: the instance keeps the latest
# sample and the peak, a sample for another worker's instance changes
# nothing, a bad one is refused whole, naming the field; instance answers
# (and their ETags) follow heartbeats; /metrics sums usage per worker, and
# says the capacity of the ready workers and what is used of it; a
# heartbeat of 1000 samples is one transaction. The agent here is curl with
# each worker's own token, so the server's part is checked alone.
. "$(dirname "$0")/lib.sh"

printf 'worker_offline_after = 10m\nworker_lost_after = 20m\nscheduler_interval = 300ms\n' \
	>"$WORK/outpostd.conf"
start_server --config "$WORK/outpostd.conf"
create_token agents agent
join=$NEW_TOKEN

register() {	# NAME SLOTS [ISOLATION]: sets OWN (the worker's own token) on a first registration
	TOKEN=$join api POST /api/v1/agent/register \
		"{\"name\":\"$1\",\"capacity\":{\"cpu\":$2,\"memory_mb\":4194304,\"slots\":$2}${3:+,\"isolation\":\"$3\"}}"
	OWN=$(jbody -r '.token // ""')
}

# ---- registration: isolation ----
register plain 8
assert_status 201 "plain registers with no isolation"
plain=$OWN
assert_eq none "$(jbody .isolation)" "an agent that does not say has isolation none"
register odd 8 cgroup-v3
assert_error 400 invalid_argument isolation "isolation cgroup-v3"
TOKEN=$SERVER_TOKEN api GET /api/v1/workers/odd
assert_status 404 "a refused registration made no worker"
register odd 8 1
assert_error 400 invalid_argument isolation "isolation given as a number"

# ---- definitions: pids and containment ----
TOKEN=$SERVER_TOKEN api POST /api/v1/definitions '{"name":"d","containment":"maybe","hooks":{"run":["true"]}}'
assert_error 400 invalid_argument containment "containment maybe"
for p in 0 65537 '"many"'; do
	TOKEN=$SERVER_TOKEN api POST /api/v1/definitions \
		"{\"name\":\"d\",\"resources\":{\"pids\":$p},\"hooks\":{\"run\":[\"true\"]}}"
	assert_error 400 invalid_argument resources.pids "resources.pids $p"
done
TOKEN=$SERVER_TOKEN api GET /api/v1/definitions/d
assert_status 404 "refused definitions made nothing"
define free '"resources":{"cpu":1,"memory_mb":2048,"pids":64},"hooks":{"run":["true"]}'
define boxed '"resources":{"cpu":1,"memory_mb":2048},"containment":"required","hooks":{"run":["true"]}'
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/definitions/boxed
assert_eq '1024 required' "$(jbody '"\(.resources.pids) \(.containment)"')" \
	"boxed's normal form: the default pids, containment required"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/definitions/free
assert_eq '64 optional' "$(jbody '"\(.resources.pids) \(.containment)"')" \
	"free's normal form: its pids, containment optional"

# ---- placement: required containment waits for a contained worker ----
create_now free ana 3600
wait_state "$INSTANCE_ID" scheduled 10
free1=$INSTANCE_ID
assert_eq plain "$(inst "$free1" .worker)" "an optional one goes to a worker of isolation none"
create_now boxed bo 3600
box1=$INSTANCE_ID
wait_sched_pass
wait_sched_pass
assert_eq pending "$(inst "$box1" .state)" "a required one with only isolation none workers"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$box1/placement"
assert_eq "waiting for a worker: 1 worker: 1 has isolation none (needs containment)" \
	"$(jbody .summary)" "the placement summary names containment"
assert_eq "needs containment; plain has isolation none" "$(jbody -r '.workers[0].reason')" \
	"plain's answer for the required one"

register cage 2000 cgroup-v2
assert_status 201 "cage registers with isolation cgroup-v2"
cage=$OWN
assert_eq cgroup-v2 "$(jbody .isolation)" "cage's isolation in the registration's answer"
wait_state "$box1" scheduled 10
assert_eq cage "$(inst "$box1" .worker)" "the required one goes to the contained worker"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=instance.state&limit=1000"
assert_match "^binpack: cage is the fullest worker that fits \(cpu 1, memory 2048 MB, contained\)$" \
	"$(jbody -r "[.items[] | select(.data.to == \"scheduled\" and .id == $box1)][0].data.reason")" \
	"the placement event's reason says contained"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/workers/cage
assert_eq cgroup-v2 "$(jbody .isolation)" "GET /workers/cage .isolation"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?limit=10"
assert_eq "plain=none cage=cgroup-v2" "$(jbody -r '[.items[] | "\(.name)=\(.isolation)"] | join(" ")')" \
	"the worker list's isolation"

# The work answer always carries pids: the definition's, or the default.
TOKEN=$cage api_ok 200 GET "/api/v1/agent/work?name=cage"
assert_eq 1024 "$(jbody ".instances[] | select(.id == $box1) | .resources.pids")" "cage's work: pids"
TOKEN=$plain api_ok 200 GET "/api/v1/agent/work?name=plain"
assert_eq 64 "$(jbody ".instances[] | select(.id == $free1) | .resources.pids")" "plain's work: pids"

# ---- heartbeats with usage ----
assert_eq null "$(inst "$box1" .usage)" "usage before any sample"
heartbeat() {	# TOKEN NAME USAGE-JSON
	TOKEN=$1 api POST /api/v1/agent/heartbeat "{\"name\":\"$2\",\"usage\":$3}"
}
sample() {	# ID CPU_USEC MILLICORES MEMORY PEAK
	printf '{"id":%s,"cpu_usec":%s,"cpu_millicores":%s,"memory_bytes":%s,"memory_peak_bytes":%s}' \
		"$@"
}
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$box1"
etag=$(header etag)
# cage reports its instance, and plain's (not its own: ignored, no error).
heartbeat "$cage" cage "[$(sample "$box1" 3000000 980 104857600 125829120),$(sample "$free1" 1 2 3 4)]"
assert_status 200 "a heartbeat with usage"
TOKEN=$SERVER_TOKEN api -H "If-None-Match: $etag" GET "/api/v1/instances/$box1"
assert_status 200 "the instance's ETag moved with the usage"
assert_eq '980 3000000 104857600 125829120' \
	"$(jbody '.usage | "\(.cpu_millicores) \(.cpu_usec) \(.memory_bytes) \(.memory_peak_bytes)"')" \
	"the latest sample and the peak"
assert_match '^20[0-9-]+T[0-9:.]+Z$' "$(jbody .usage.sampled_at)" "usage.sampled_at"
assert_eq null "$(inst "$free1" .usage)" "another worker's instance in cage's heartbeat: untouched"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?worker=cage"
assert_eq 980 "$(jbody ".items[] | select(.id == $box1) | .usage.cpu_millicores")" \
	"the instance list shows the usage"

# A lower sample: the latest moves down, the peak stays; a current above the peak raises it.
heartbeat "$cage" cage "[$(sample "$box1" 4000000 500 52428800 52428800)]"
assert_status 200
assert_eq '500 52428800 125829120' \
	"$(inst "$box1" '.usage | "\(.cpu_millicores) \(.memory_bytes) \(.memory_peak_bytes)"')" \
	"a lower sample keeps the peak"
heartbeat "$cage" cage "[$(sample "$box1" 5000000 1000 209715200 0)]"
assert_status 200
assert_eq '209715200 209715200' "$(inst "$box1" '.usage | "\(.memory_bytes) \(.memory_peak_bytes)"')" \
	"a current above the peak is the peak"

# The CLI says it in words: cores used, memory against the limit; workers' isolation.
cli_as_admin
cli 0 instance get "$box1"
assert_match 'usage\.cpu +1\.00 cores' "$OUT" "outpost instance get: usage.cpu"
assert_match 'usage\.memory +200 MB / 2048 MB \(peak 200 MB\)' "$OUT" "outpost instance get: usage.memory"
cli 0 instance get "$free1"
assert_match '^usage +- *$' "$(printf '%s\n' "$OUT" | grep '^usage')" "outpost instance get, never sampled"
cli 0 instance list --worker cage
assert_contains "1.00 cores 200/2048 MB" "$OUT" "outpost instance list's USAGE"
cli 0 worker list
assert_match 'ISOLATION' "$OUT" "outpost worker list's ISOLATION column"
assert_match 'cage +- +ready +online +cgroup-v2' "$(printf '%s\n' "$OUT" | grep ' cage ')" "cage's isolation in the list"
assert_match 'plain +- +ready +online +none' "$(printf '%s\n' "$OUT" | grep ' plain ')" "plain's isolation in the list"

# Bad samples: 400 naming the field, and nothing changes.
before=$(inst "$box1" .usage)
heartbeat "$cage" cage "[$(sample "$box1" 1 1 1 1),$(sample "$box1" 1 1 -1 1)]"
assert_error 400 invalid_argument 'usage[1].memory_bytes' "a negative memory_bytes"
heartbeat "$cage" cage "[{\"id\":$box1,\"cpu_usec\":1,\"cpu_millicores\":1,\"memory_bytes\":1}]"
assert_error 400 invalid_argument 'usage[0].memory_peak_bytes' "a sample without its peak"
heartbeat "$cage" cage "[{\"id\":$box1,\"cpu_usec\":1,\"cpu_millicores\":1,\"memory_bytes\":1,\"memory_peak_bytes\":1,\"disk\":1}]"
assert_error 400 unknown_field 'usage[0].disk' "an unknown field in a sample"
heartbeat "$cage" cage "[$(sample '"x"' 1 1 1 1)]"
assert_error 400 invalid_argument 'usage[0].id' "a sample's id as a string"
heartbeat "$cage" cage "[$(sample "$box1" 1.5 1 1 1)]"
assert_error 400 invalid_argument 'usage[0].cpu_usec' "a fractional cpu_usec"
heartbeat "$cage" cage "[$(sample "$box1" 1 9007199254740993 1 1)]"
assert_error 400 invalid_argument 'usage[0].cpu_millicores' "a value past 2^53"
heartbeat "$cage" cage '{"id":1}'
assert_error 400 invalid_argument usage "usage as an object"
heartbeat "$cage" cage '[5]'
assert_error 400 invalid_argument 'usage[0]' "a sample that is not an object"
assert_eq "$before" "$(inst "$box1" .usage)" "refused heartbeats changed no usage"
# plain's own token cannot report for cage.
heartbeat "$plain" cage "[$(sample "$box1" 1 1 1 1)]"
assert_status 403 "plain's token heartbeating as cage"
assert_eq "$before" "$(inst "$box1" .usage)" "another worker's token changed no usage"

# ---- /metrics: per worker, summed ----
create_now boxed cy 3600
box2=$INSTANCE_ID
wait_state "$box2" scheduled 10
heartbeat "$cage" cage "[$(sample "$box1" 6000000 750 100000000 0),$(sample "$box2" 1 250 50000000 60000000)]"
assert_status 200
TOKEN= api_ok 200 GET /metrics
M=$BODY
metric() {
	printf '%s\n' "$M" | awk -v s="$1" '$1 == s { print $2; found = 1 } END { if (!found) print "absent" }'
}
assert_eq 1000 "$(metric 'outpost_worker_cpu_millicores{worker="cage"}')" "cage's cpu, summed"
assert_eq 150000000 "$(metric 'outpost_worker_memory_bytes{worker="cage"}')" "cage's memory, summed"
assert_eq 0 "$(metric 'outpost_worker_cpu_millicores{worker="plain"}')" "plain's cpu: no samples"
# The ready, online workers' capacity (plain's 8 and cage's 2000), and what free1, box1
# and box2 hold of it (1 cpu and 2048 MB each).
assert_eq '2008 2008 8388608' "$(metric 'outpost_capacity{resource="slots"}') \
$(metric 'outpost_capacity{resource="cpu"}') $(metric 'outpost_capacity{resource="memory_mb"}')" \
	"outpost_capacity: slots, cpu, memory_mb"
assert_eq '3 3 6144' "$(metric 'outpost_capacity_used{resource="slots"}') \
$(metric 'outpost_capacity_used{resource="cpu"}') $(metric 'outpost_capacity_used{resource="memory_mb"}')" \
	"outpost_capacity_used: slots, cpu, memory_mb"
printf '%s\n' "$M" | grep -q -x '# TYPE outpost_worker_memory_bytes gauge' ||
	fail "/metrics lacks the TYPE of outpost_worker_memory_bytes"
printf '%s\n' "$M" | grep -q "outpost_worker_[a-z_]*{[^}]*instance" &&
	fail "per-instance usage series in /metrics"
if command -v promtool >/dev/null 2>&1; then
	printf '%s\n' "$M" | promtool check metrics >"$WORK/promtool.out" 2>&1 ||
		fail "promtool check metrics: $(cat "$WORK/promtool.out")"
else
	note "promtool is not installed: /metrics checked by the line format only"
fi
# An ended instance's last sample no longer counts.
_cage_cpu_is() {
	TOKEN= api_ok 200 GET /metrics
	[ "$(printf '%s\n' "$BODY" | awk '$1 == "outpost_worker_cpu_millicores{worker=\"cage\"}" { print $2 }')" = "$1" ]
}
TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$box2/terminate"
wait_for 10 "box2 to leave cage" _cage_cpu_is 750

# ---- 1000 samples in one heartbeat: one transaction ----
create_now boxed many 3600 1000
first=$INSTANCE_ID
wait_state "$((first + 999))" scheduled 30
usage=$(jq -cn --argjson f "$first" '[range($f; $f + 1000) | {id: ., cpu_usec: 7, cpu_millicores: 1,
	memory_bytes: 1048576, memory_peak_bytes: 2097152}]')
hb_seconds() {	# the server's time on heartbeats so far, from its histogram
	TOKEN= api_ok 200 GET /metrics
	printf '%s\n' "$BODY" | awk '$1 == "outpost_http_request_duration_seconds_sum{route=\"/api/v1/agent/heartbeat\"}" { print $2 }'
}
s0=$(hb_seconds)
t0=$(date +%s%N)
heartbeat "$cage" cage "$usage"
t1=$(date +%s%N)
assert_status 200 "a heartbeat of 1000 samples"
note "a heartbeat of 1000 samples: $(((t1 - t0) / 1000000)) ms for curl, \
$(awk -v a="$s0" -v b="$(hb_seconds)" 'BEGIN { printf "%.1f", (b - a) * 1000 }') ms in the server"
for id in "$first" "$((first + 500))" "$((first + 999))"; do
	assert_eq 2097152 "$(inst "$id" .usage.memory_peak_bytes)" "instance $id sampled by the big heartbeat"
done
# One transaction: a bad last sample refuses the whole heartbeat, the first 999 included.
bad=$(printf '%s' "$usage" | jq -c '.[].memory_bytes = 5 | .[999].memory_bytes = -1')
heartbeat "$cage" cage "$bad"
assert_error 400 invalid_argument 'usage[999].memory_bytes' "the 1000th sample bad"
assert_eq 1048576 "$(inst "$first" .usage.memory_bytes)" "the first sample of a refused heartbeat"

exit 0
