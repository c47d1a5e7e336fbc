#!/bin/sh
# Worker health from heartbeats: a worker that stops sending them goes
# offline after worker_offline_after, then lost after worker_lost_after, each
# a worker.health event with its reason; a heartbeat brings it back online.
# Heartbeats alone do not change the data version (the instance list keeps
# its ETag) but do change the worker's (its last_heartbeat moved).
. "$(dirname "$0")/lib.sh"

OUTPOST_WORKER_OFFLINE_AFTER=3s OUTPOST_WORKER_LOST_AFTER=5s start_server
create_token agent-1 agent
TOKEN=$NEW_TOKEN api_ok 201 POST /api/v1/agent/register \
	'{"name": "w1", "capacity": {"cpu": 4, "memory_mb": 4096, "slots": 4}}'
agent=$(jbody -r .token)	# w1's own token

health() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/workers/w1
	jbody .health
}
is_health() { [ "$(health)" = "$1" ]; }

# Heartbeats keep it online; they move the worker's ETag, not the instances'.
get_last_seq
before=$LAST_SEQ	# before the last heartbeat: nothing of its silence comes before
api_ok 200 GET /api/v1/instances
list_etag=$(header etag)
api_ok 200 GET /api/v1/workers/w1
worker_etag=$(header etag)
# Eight, 0.5 s apart and more (a call of the test's own has taken over 1 s on a loaded
# machine, so worker_offline_after is 3 s): well within it of each other, past it in all.
for _ in 1 2 3 4 5 6 7 8; do
	TOKEN=$agent api_ok 200 POST /api/v1/agent/heartbeat '{"name": "w1"}'
	assert_eq online "$(jbody .worker.health)" "health in a heartbeat's answer"
	sleep 0.5
done
assert_eq online "$(health)" "health while heartbeats arrive"
api_ok 200 GET /api/v1/instances
assert_eq "$list_etag" "$(header etag)" "the instance list's ETag across heartbeats"
api_ok 200 GET /api/v1/workers/w1
assert_ne "$worker_etag" "$(header etag)" "the worker's ETag across heartbeats"

# Silence: offline, then lost, each an event.
wait_for 8 "w1 to go offline" is_health offline
wait_for 10 "w1 to be lost" is_health lost
api_ok 200 GET "/api/v1/events?since=$before&types=worker.health"
assert_eq "online>offline offline>lost" "$(jbody '[.items[] | .data.from + ">" + .data.to] | join(" ")')" \
	"worker.health events"
assert_match '^no heartbeat for [0-9]' "$(jbody '.items[0].data.reason')" "reason of going offline"
assert_eq outpostd "$(jbody '.items[0].actor')" "actor of a health change"
curl -s "$SERVER_URL/metrics" | grep -q '^outpost_workers_health{health="lost"} 1$' ||
	fail "metrics do not count the lost worker"

# A heartbeat brings it back.
TOKEN=$agent api_ok 200 POST /api/v1/agent/heartbeat '{"name": "w1"}'
assert_eq online "$(jbody .worker.health)" "health after a heartbeat from lost"
api_ok 200 GET "/api/v1/events?since=$before&types=worker.health"
assert_eq "lost>online" "$(jbody '.items[-1] | .data.from + ">" + .data.to')" "the event of coming back"

# A server that was down longer than worker_lost_after gives its agents their grace
# again: silence counts from its start, not from the last heartbeat before it stopped.
# w1, silent since, is not lost at the first health check (1 s after the start, with 5 s
# of silence and more), but offline at the one that finds 2 s since the start.
get_last_seq
before=$LAST_SEQ
stop_server
sleep 4	# the outage itself
OUTPOST_WORKER_OFFLINE_AFTER=2s OUTPOST_WORKER_LOST_AFTER=3s start_server --state-dir "$SERVER_DIR"
_not_online() { [ "$(health)" != online ]; }
wait_for 10 "w1's health to change after the restart" _not_online
api_ok 200 GET "/api/v1/events?since=$before&types=worker.health"
assert_eq "online>offline" "$(jbody '[.items[] | .data.from + ">" + .data.to] | join(" ")')" \
	"w1's health after a restart that outlasted worker_lost_after"
assert_eq "no heartbeat for 2s" "$(jbody -r '.items[0].data.reason')" \
	"w1's silence, counted from the restart"
TOKEN=$agent api_ok 200 POST /api/v1/agent/heartbeat '{"name": "w1"}'

# Bad heartbeats change nothing.
TOKEN=$agent api POST /api/v1/agent/heartbeat '{"name": "nobody"}'
assert_error 403 forbidden name
TOKEN=$agent api POST /api/v1/agent/heartbeat '{"name": "w1", "cpu": 3}'
assert_error 400 unknown_field cpu
TOKEN=$agent api POST /api/v1/agent/heartbeat '{}'
assert_error 400 invalid_argument name
api POST /api/v1/agent/heartbeat '{"name": "w1"}'
assert_error 403 forbidden "" "a heartbeat with an admin token"
stop_server

# A lost_after not longer than offline_after is refused at start.
OUTPOST_WORKER_OFFLINE_AFTER=5s OUTPOST_WORKER_LOST_AFTER=5s timeout 10 "$OUTPOSTD" --listen 127.0.0.1:0 \
	--state-dir "$WORK/bad" >"$WORK/bad.log" 2>&1 && fail "outpostd started with lost_after = offline_after"
grep -q "worker_lost_after must be longer" "$WORK/bad.log" || fail "no message: $(cat "$WORK/bad.log")"
exit 0
