#!/bin/sh
# The agent protocol's bad input: every refusal names its field with a status
# that means it, and changes nothing. Agent tokens reach the agent routes and
# nothing else; no other role reaches them. A join token only registers; the
# worker's own token it gets back acts for that worker alone
# (agent_identity.sh has the attacks).
. "$(dirname "$0")/lib.sh"

# w1 and w2 are registered by hand and send no heartbeats: they must not go
# offline (an event of its own) while the refusals are counted, however slow
# the machine.
OUTPOST_WORKER_OFFLINE_AFTER=10m OUTPOST_WORKER_LOST_AFTER=20m start_server
create_token agents agent
join=$NEW_TOKEN
create_token watcher viewer
viewer=$NEW_TOKEN
TOKEN=$join api POST /api/v1/agent/register '{"name":"w1","capacity":{"cpu":2,"memory_mb":1024,"slots":2}}'
assert_status 201
agent=$(jbody -r .token)
TOKEN=$join api POST /api/v1/agent/register '{"name":"w2","capacity":{"cpu":2,"memory_mb":1024,"slots":2}}'
assert_status 201
# w1's own token: every call below is w1's agent's.
as_agent() {
	TOKEN=$agent api "$@"
}
define d '"hooks":{"run":["true"]}'
create_now d ana 3600
id=$INSTANCE_ID
wait_state "$id" scheduled 10
assert_eq w1 "$(inst "$id" .worker)" "the worker of instance $id"
get_last_seq
before=$LAST_SEQ

# Roles: agents reach agent routes only; no one else reaches them.
as_agent GET /api/v1/instances
assert_error 403 forbidden ""
TOKEN=$viewer api GET "/api/v1/agent/work?name=w1"
assert_error 403 forbidden ""
api POST "/api/v1/agent/instances/$id/report" '{"name":"w1","attempt":1,"from":"scheduled","to":"instantiating"}'
assert_error 403 forbidden ""
# A join token only registers.
TOKEN=$join api GET "/api/v1/agent/work?name=w1"
assert_error 403 forbidden ""

# The work.
as_agent GET /api/v1/agent/work
assert_error 400 invalid_argument name
as_agent GET "/api/v1/agent/work?name=nobody"
assert_error 403 forbidden name
as_agent GET "/api/v1/agent/work?name=w1&since=3"
assert_error 400 unknown_field since
as_agent GET "/api/v1/agent/work?name=w1"
assert_status 200
assert_eq "$id" "$(jbody '.instances[0].id')" "the work of w1"
assert_eq '["true"]' "$(jbody -c '.instances[0].hooks.run')" "its hooks"

# Reports.
r=/api/v1/agent/instances/$id/report
as_agent POST "$r" 'not json'
assert_error 400 invalid_argument ""
as_agent POST "$r" '{"attempt":1,"from":"scheduled","to":"instantiating"}'
assert_error 400 invalid_argument name
as_agent POST "$r" '{"name":"w1","from":"scheduled","to":"instantiating"}'
assert_error 400 invalid_argument attempt
as_agent POST "$r" '{"name":"w1","attempt":"1","from":"scheduled","to":"instantiating"}'
assert_error 400 invalid_argument attempt
as_agent POST "$r" '{"name":"w1","attempt":0,"from":"scheduled","to":"instantiating"}'
assert_error 400 invalid_argument attempt
as_agent POST "$r" '{"name":"w1","attempt":1,"to":"instantiating"}'
assert_error 400 invalid_argument from
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"dancing"}'
assert_error 400 invalid_argument to
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"instantiating","note":1}'
assert_error 400 unknown_field note
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"failed","exit":{"code":"x"}}'
assert_error 400 invalid_argument exit.code
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"failed","exit":{"code":999}}'
assert_error 400 invalid_argument exit.code
# Why a hook failed is the report's reason; exit has none.
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"failed","exit":{"hook":"instantiate","code":3,"reason":"boom"}}'
assert_error 400 unknown_field exit.reason
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"running","to":"collecting"}'
assert_error 409 invalid_transition from
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"stopped"}'
assert_error 409 invalid_transition to
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"terminated"}'
assert_error 409 invalid_transition to
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"pending"}'
assert_error 409 invalid_transition to
as_agent POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"warm"}'
assert_error 409 invalid_transition to
as_agent POST /api/v1/agent/instances/abc/report '{"name":"w1","attempt":1,"from":"scheduled","to":"instantiating"}'
assert_error 400 invalid_argument id
as_agent POST /api/v1/agent/instances/999/report '{"name":"w1","attempt":1,"from":"scheduled","to":"instantiating"}'
assert_error 404 not_found id
as_agent POST "$r" '{"name":"w2","attempt":1,"from":"scheduled","to":"instantiating"}'
assert_error 403 forbidden name
# A report of another placement than the instance's (it is on its first).
as_agent POST "$r" '{"name":"w1","attempt":2,"from":"scheduled","to":"instantiating"}'
assert_error 409 invalid_transition attempt
assert_eq "the report is of attempt 2 of instance $id, which is on attempt 1 now" \
	"$(jbody -r .error.message)" "the message of a report of another attempt"

# Logs.
l=/api/v1/agent/instances/$id/log
as_agent POST "$l" '{"name":"w1","attempt":1,"hook":"run","offset":0}'
assert_error 400 invalid_argument text
as_agent POST "$l" '{"name":"w1","attempt":1,"hook":"lunch","offset":0,"text":"x"}'
assert_error 400 invalid_argument hook
as_agent POST "$l" '{"name":"w1","attempt":0,"hook":"run","offset":0,"text":"x"}'
assert_error 400 invalid_argument attempt
as_agent POST "$l" '{"name":"w1","attempt":5,"hook":"run","offset":0,"text":"x"}'
assert_error 400 invalid_argument attempt
as_agent POST "$l" '{"name":"w1","attempt":1,"hook":"run","offset":-1,"text":"x"}'
assert_error 400 invalid_argument offset
printf '{"name":"w1","attempt":1,"hook":"run","offset":0,"text":"%s"}' \
	"$(head -c 300000 /dev/zero | tr '\0' x)" >"$WORK/big.json"
as_agent POST "$l" "@$WORK/big.json"
assert_error 400 invalid_argument text
as_agent POST "$l" '{"name":"nobody","attempt":1,"hook":"run","offset":0,"text":"x"}'
assert_error 403 forbidden name
assert_eq "token worker:w1 acts for worker w1 only, not nobody" "$(jbody -r .error.message)" \
	"the log route's answer for another worker"
as_agent POST "$l" '{"name":"w2","attempt":1,"hook":"run","offset":0,"text":"not mine"}'
assert_error 403 forbidden name

# Sync.
as_agent POST /api/v1/agent/sync '{"name":"w1"}'
assert_error 400 invalid_argument alive
as_agent POST /api/v1/agent/sync '{"name":"w1","alive":[1,"two"]}'
assert_error 400 invalid_argument "alive[1]"
as_agent POST /api/v1/agent/sync '{"name":"nobody","alive":[]}'
assert_error 403 forbidden name

# None of it changed anything: the same events, the instance as it was, no log.
get_last_seq
assert_eq "$before" "$LAST_SEQ" "events after refused agent calls"
assert_eq scheduled "$(inst "$id" .state)" "the instance after refused reports"
api_ok 200 GET "/api/v1/instances/$id/log"
assert_eq 0 "$(jbody '.items | length')" "log chunks after refused appends"

# The placement and the log, for people: bad ids and queries.
api GET /api/v1/instances/abc/placement
assert_error 400 invalid_argument id
api GET /api/v1/instances/999/placement
assert_error 404 not_found id
api GET "/api/v1/instances/$id/log?hook=lunch"
assert_error 400 invalid_argument hook
# The query is checked before the instance is looked for.
api GET "/api/v1/instances/999/log?hook=lunch"
assert_error 400 invalid_argument hook
api GET "/api/v1/instances/999/log?attempt=0"
assert_error 400 invalid_argument attempt
api GET "/api/v1/instances/999/log?hook=run"
assert_error 404 not_found id
api GET "/api/v1/instances/$id/log?attempt=0"
assert_error 400 invalid_argument attempt
api GET "/api/v1/instances/$id/log?after=nonsense"
assert_error 400 invalid_argument after
api GET "/api/v1/instances/$id/log?colour=red"
assert_error 400 unknown_field colour
exit 0
