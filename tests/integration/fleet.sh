#!/bin/sh
# A site: 10 real agents and 50 instances with a slot of a few seconds. All
# 50 are placed (no worker past its capacity), run their hooks, and reach
# stopped with their grade stored; every agent forgets its instances after.
. "$(dirname "$0")/lib.sh"

start_server
workers=
for i in 0 1 2 3 4 5 6 7 8 9; do
	start_agent "w$i" --capacity cpu=5,memory_mb=5120,slots=5
	workers="$workers w$i"
done
# shellcheck disable=SC2086
wait_online $workers

H=$WORK/hooks
mkdir -p "$H"
cat >"$H/grade.sh" <<'EOF'
#!/bin/sh
echo "{\"score\": $OUTPOST_INSTANCE_ID, \"max\": 100, \"worker\": \"$OUTPOST_WORKER\"}"
EOF
define exam "\"resources\":{\"cpu\":1,\"memory_mb\":1024},\
\"hooks\":{\"instantiate\":[\"true\"],\"run\":[\"sleep\",\"3600\"],\"collect\":[\"true\"],\
\"grade\":[\"sh\",\"$H/grade.sh\"],\"stop\":[\"true\"]}"
create_now exam class 6 50
ids=$IDS

all_placed() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?limit=500&state=pending"
	[ "$(jbody '.items | length')" = 0 ]
}
wait_for 15 "all 50 instances placed" all_placed
# Capacity: no worker holds more than its 5 slots (or 5 cpu).
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?limit=500"
assert_eq 50 "$(jbody '[.items[] | select(.worker != null)] | length')" "instances placed"
assert_eq 5 "$(jbody '[.items[] | .worker] | group_by(.) | map(length) | max')" \
	"the most instances on one worker"
assert_eq 10 "$(jbody '[.items[] | .worker] | unique | length')" "workers used"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?limit=500"
assert_eq "5" "$(jbody '[.items[].allocated.cpu] | max')" "the most cpu allocated on one worker"

all_stopped() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?limit=500&state=stopped"
	[ "$(jbody '.items | length')" = 50 ] && return 0
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?limit=500&state=failed"
	[ "$(jbody '.items | length')" = 0 ] ||
		fail "instances failed: $(jbody -c '[.items[] | {id, state_reason}]')"
	return 1
}
wait_for 60 "all 50 instances stopped" all_stopped
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?limit=500"
assert_eq 50 "$(jbody '[.items[] | select(.grade.score == .id and .grade.worker == .worker)] | length')" \
	"instances whose grade is their own (score = id, worker = where it ran)"
for id in $ids; do
	api_ok 200 GET "/api/v1/instances/$id/transitions"
	assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
		"$(jbody '[.items[].to] | join(" ")')" "the transitions of instance $id"
done
# Every worker is empty again, and every agent forgot what it ran.
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?limit=500"
assert_eq 0 "$(jbody '[.items[].instance_count] | add')" "instances still held by workers"
gone() {
	[ -z "$(find "$WORK"/agents/*/instances -mindepth 1 -maxdepth 1 2>/dev/null)" ]
}
wait_for 15 "the agents to forget their instances" gone
exit 0
