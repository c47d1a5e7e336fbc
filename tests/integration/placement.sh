#!/bin/sh
# The scheduler's placements: binpack fills the fullest worker that fits,
# spread the emptiest (the policy changes with a SIGHUP); labels and free
# capacity are respected; cordoned and draining workers take nothing new;
# an instance is placed only once its slot is near (lead_time); every
# placement is an instance.state event with its reason; and
# GET /instances/{id}/placement explains, worker by worker, why an instance
# waits. Workers here register through the agent API, with no hooks run:
# the decision is the server's alone.
. "$(dirname "$0")/lib.sh"

# Passes every 300 ms, besides those changes bring: a wait for the next pass is short.
printf 'scheduler_policy = binpack\nworker_offline_after = 10m\nworker_lost_after = 20m
scheduler_interval = 300ms\n' >"$WORK/outpostd.conf"
start_server --config "$WORK/outpostd.conf"
create_token agents agent
agent=$NEW_TOKEN

register() {	# NAME CPU LABELS-JSON
	TOKEN=$agent api_ok 201 POST /api/v1/agent/register \
		"{\"name\":\"$1\",\"capacity\":{\"cpu\":$2,\"memory_mb\":16384,\"slots\":8},\"labels\":$3}"
}
register w1 4 '{"zone":"a"}'
register w2 4 '{"zone":"a"}'
register w3 8 '{"zone":"b","gpu":"yes"}'
define small '"resources":{"cpu":1,"memory_mb":256},"hooks":{"run":["true"]}'
define zoned '"resources":{"cpu":1,"memory_mb":256},"labels":{"zone":"a"},"hooks":{"run":["true"]}'
define big '"resources":{"cpu":6,"memory_mb":256},"hooks":{"run":["true"]}'
define gpu '"resources":{"cpu":1,"memory_mb":256},"labels":{"gpu":"yes"},"hooks":{"run":["true"]}'
define nowhere '"resources":{"cpu":1,"memory_mb":256},"labels":{"zone":"z"},"hooks":{"run":["true"]}'

placed_on() {	# ID: waits for the instance to leave pending, prints its worker
	wait_state "$1" scheduled 10
	inst "$1" .worker
}

# ---- binpack: one after the other, each on the fullest worker that fits ----
create_now zoned ana 3600
a1=$(placed_on "$INSTANCE_ID")
create_now zoned ana 3600
assert_eq "$a1" "$(placed_on "$INSTANCE_ID")" "binpack: the second zoned instance joins the first"
create_now zoned ana 3600 2
for id in $IDS; do
	assert_eq "$a1" "$(placed_on "$id")" "binpack: instance $id fills $a1"
done
# $a1 is full (4 cpu): the next goes to the other zone-a worker, never to w3 (zone b).
create_now zoned ana 3600
a2=$(placed_on "$INSTANCE_ID")
assert_ne "$a1" "$a2" "binpack: a full worker takes no more"
assert_ne w3 "$a2" "labels: zone=a never lands on w3"
api_ok 200 GET "/api/v1/events?types=instance.state&limit=1000"
assert_match "^binpack: $a2 is the fullest worker that fits \(cpu 1, memory 256 MB, labels zone=a\)$" \
	"$(jbody -r "[.items[] | select(.data.to == \"scheduled\" and .id == $INSTANCE_ID)][0].data.reason")" \
	"the reason of the placement event"

# Capacity: 6 cpu fit w3 only; then w3 has 2 left and a second big one waits.
create_now big bo 3600
assert_eq w3 "$(placed_on "$INSTANCE_ID")" "a 6-cpu instance goes to the 8-cpu worker"
create_now big bo 3600
big2=$INSTANCE_ID
wait_sched_pass
assert_eq pending "$(inst "$big2" .state)" "a 6-cpu instance with 2, 3 and 2 cpu free"
api_ok 200 GET "/api/v1/instances/$big2/placement"
assert_eq false "$(jbody .placed)" "placement.placed of a waiting instance"
assert_eq "waiting for a worker: 3 workers: 3 lack cpu (need 6, free 0,3,2)" "$(jbody .summary)" \
	"the summary of why it waits"
assert_eq "lacks cpu: needs 6, 0 free" "$(jbody -r '.workers[] | select(.worker == "'"$a1"'") | .reason')" \
	"what $a1 answers"
assert_eq "false false false" "$(jbody -r '[.workers[].fits | tostring] | join(" ")')" "fits per worker"

# Labels no worker carries: the explanation names the label.
create_now nowhere cy 3600
wait_sched_pass
api_ok 200 GET "/api/v1/instances/$INSTANCE_ID/placement"
assert_contains "3 lack label zone=z" "$(jbody .summary)" "the summary for a missing label"
assert_eq "lacks label zone=z" "$(jbody -r '.workers[0].reason')" "a worker's answer for a missing label"
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"

# A placed instance says where and why.
create_now gpu dee 3600
gid=$INSTANCE_ID
assert_eq w3 "$(placed_on "$gid")" "gpu=yes goes to the worker that has it"
api_ok 200 GET "/api/v1/instances/$gid/placement"
assert_eq true "$(jbody .placed)" "placement.placed of a placed instance"
assert_eq w3 "$(jbody -r .worker)" "placement.worker"
assert_match "^on w3; placed by binpack: w3 is the fullest worker that fits" "$(jbody .summary)" \
	"the summary of a placed instance"

# ---- not due yet: placed only lead_time (5m) before its slot ----
api_ok 201 POST /api/v1/instances "{\"definition\":\"small\",\"owner\":\"eve\",\
\"timeslot_start\":\"$(at_offset 3600)\",\"timeslot_end\":\"$(at_offset 7200)\"}"
later=$(jbody .id)
wait_sched_pass
assert_eq pending "$(inst "$later" .state)" "an instance whose slot is an hour away"
api_ok 200 GET "/api/v1/instances/$later/placement"
assert_match "^not due yet: the scheduler places it from .* \(5m before its slot starts\)$" \
	"$(jbody .summary)" "the summary of an instance not due"
api_ok 200 POST "/api/v1/instances/$later/terminate"

# ---- cordoned and draining workers take nothing new ----
api_ok 200 POST "/api/v1/instances/$big2/terminate"
api_ok 200 POST /api/v1/workers/w3/cordon
create_now gpu fay 3600
wait_sched_pass
assert_eq pending "$(inst "$INSTANCE_ID" .state)" "gpu=yes while its only worker is cordoned"
api_ok 200 GET "/api/v1/instances/$INSTANCE_ID/placement"
assert_eq "cordoned: takes no new instances" "$(jbody -r '.workers[] | select(.worker == "w3") | .reason')" \
	"what a cordoned worker answers"
assert_contains "1 cordoned" "$(jbody .summary)" "the summary counts the cordoned worker"
api_ok 200 POST /api/v1/workers/w3/drain '{"deadline":"1h"}'
wait_sched_pass
assert_eq pending "$(inst "$INSTANCE_ID" .state)" "gpu=yes while its only worker drains"
api_ok 200 POST /api/v1/workers/w3/uncordon
assert_eq w3 "$(placed_on "$INSTANCE_ID")" "placed once the worker takes instances again"

# ---- spread, after a reload: each on the emptiest worker that fits ----
register w4 4 '{"zone":"c"}'
register w5 4 '{"zone":"c"}'
define czone '"resources":{"cpu":1,"memory_mb":256},"labels":{"zone":"c"},"hooks":{"run":["true"]}'
printf 'scheduler_policy = spread\nworker_offline_after = 10m\nworker_lost_after = 20m
scheduler_interval = 300ms\n' >"$WORK/outpostd.conf"
kill -HUP "$SERVER_PID"
wait_for 10 "the reload" grep -q '"config.reloaded"' "$SERVER_LOG"
create_now czone gil 3600 4
on=
for id in $IDS; do
	on="$on $(placed_on "$id")"
done
assert_eq "2 2" "$(echo $on | tr ' ' '\n' | sort | uniq -c | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')" \
	"spread: 4 instances over 2 workers, 2 each (got:$on)"
api_ok 200 GET "/api/v1/events?types=instance.state&limit=1000"
assert_match "^spread: w[45] is the emptiest worker that fits" \
	"$(jbody -r "[.items[] | select(.data.to == \"scheduled\")][-1].data.reason")" \
	"the reason of a spread placement"

# The metrics count the decisions and time the passes.
api_ok 200 GET /metrics
assert_match 'outpost_scheduling_decisions_total\{result="placed"\} [1-9]' "$BODY" \
	"placed decisions in /metrics"
assert_match 'outpost_scheduling_decisions_total\{result="unplaced"\} [1-9]' "$BODY" \
	"unplaced decisions in /metrics"
assert_match 'outpost_scheduler_loop_duration_seconds_count [1-9]' "$BODY" "passes in /metrics"
exit 0
