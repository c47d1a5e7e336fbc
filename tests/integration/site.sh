#!/bin/sh
# GET /api/v1/site (viewer): the site at a glance. Its instance counts are
# /metrics' and the lists'; its workers by state and health, the capacity of
# the workers that take instances (ready and online) and of the live ones,
# with what their instances use, are what the workers list sums to; the
# alert rules and how many fire. It has an ETag like the other stored-data
# GETs, and the next change answers anew.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/alerts.json" <<'JSON'
{ "rules": [
  { "name": "cramped", "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 100 } },
  { "name": "stuck", "condition": { "type": "instances_stuck", "state": "instantiating", "for": "5m" } }
] }
JSON
start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
start_agent w2 --capacity cpu=2,memory_mb=2048,slots=2
wait_online w1 w2
define lab '"hooks": {"run": ["sleep", "600"]}, "resources": {"cpu": 1, "memory_mb": 256}'
create_now lab ana 600 3
for id in $IDS; do
	wait_state "$id" running
done
create_instance lab bob	# its slot is years away: pending
api_ok 200 POST /api/v1/workers/w2/cordon
_cramped_fires() { api GET /api/v1/alerts; [ "$(jbody '.items[0].firing')" = true ]; }
wait_for 10 "the rule cramped to fire" _cramped_fires

create_token watcher viewer
viewer=$NEW_TOKEN
TOKEN= api GET /api/v1/site
assert_status 401 "GET /api/v1/site without a token"
TOKEN=$viewer api_ok 200 GET /api/v1/site
site=$BODY

# Instances: every state, as /metrics and the list count them.
assert_eq "3 1 4" "$(jbody '"\(.instances.state.running) \(.instances.state.pending) \(.instances.total)"')" \
	"running, pending and all instances"
TOKEN= api_ok 200 GET /api/v1/states
assert_eq "$(jbody '[.instance[].name] | join(" ")')" \
	"$(printf %s "$site" | jq -r '.instances.state | keys_unsorted | join(" ")')" \
	"the site's instance states are the state table's, in its order"
TOKEN= api_ok 200 GET /metrics
metrics=$(printf '%s\n' "$BODY" | awk -F'[{}" =]+' '/^outpost_instances\{state=/ { print $3 "=" $4 }' |
	sort | tr '\n' ' ')
assert_eq "$metrics" "$(printf %s "$site" | jq -r '.instances.state | to_entries |
	map("\(.key)=\(.value)") | sort | join(" ")') " "the site's instance counts are /metrics'"

# Workers: by state and health, and the capacity sums of the workers list.
BODY=$site
assert_eq "2 1 1 2" "$(jbody '"\(.workers.total) \(.workers.state.ready) \(.workers.state.cordoned) \(.workers.health.online)"')" \
	"workers, ready, cordoned, online"
api_ok 200 GET /api/v1/workers
workers=$BODY
sum() {	# JQ-FILTER-OF-WORKERS: capacity and allocated of those workers, as the site writes them
	printf %s "$workers" | jq -c "[.items[] | select($1)] | {workers: length,
		capacity: {cpu: (map(.capacity.cpu) | add // 0), memory_mb: (map(.capacity.memory_mb) | add // 0),
			slots: (map(.capacity.slots) | add // 0)},
		allocated: {cpu: (map(.allocated.cpu) | add // 0), memory_mb: (map(.allocated.memory_mb) | add // 0),
			slots: (map(.allocated.slots) | add // 0)}}"
}
assert_eq "$(sum '.state == "ready" and .health == "online"')" \
	"$(printf %s "$site" | jq -c .capacity.taking)" "the capacity of the workers that take instances"
assert_eq "$(sum '.state != "terminated" and .state != "stopped" and .state != "failed"')" \
	"$(printf %s "$site" | jq -c .capacity.live)" "the capacity of the live workers"
assert_eq '{"workers":2,"capacity":{"cpu":6,"memory_mb":6144,"slots":6},"allocated":{"cpu":3,"memory_mb":768,"slots":3}}' \
	"$(printf %s "$site" | jq -c .capacity.live)" "the live workers' capacity and use"
assert_eq '{"rules":2,"firing":1}' "$(printf %s "$site" | jq -c .alerts)" "the alert rules"

# An ETag, 304 until the next change, then the change shows.
TOKEN=$viewer api_ok 200 GET /api/v1/site
etag=$(header etag)
[ -n "$etag" ] || fail "GET /api/v1/site has no ETag"
TOKEN=$viewer api -H "If-None-Match: $etag" GET /api/v1/site
assert_status 304 "GET /api/v1/site with its ETag"
api_ok 200 POST /api/v1/workers/w2/uncordon
TOKEN=$viewer api -H "If-None-Match: $etag" GET /api/v1/site
assert_status 200 "GET /api/v1/site after a change"
assert_eq "2 6" "$(jbody '"\(.capacity.taking.workers) \(.capacity.taking.capacity.slots)"')" \
	"both workers take instances once w2 is uncordoned"
exit 0
