#!/bin/sh
# One identity per worker. A join token (role agent) only registers a worker,
# within its limits, and the answer holds the worker's own token; that token
# acts for its worker alone. Each attack of a worker's agent on another worker
# is repeated here with curl and refused (403, or 409 for taking over a name
# that has its own token), and changes nothing: no heartbeat, no work shown,
# no instance failed or graded, no log, no rogue worker, no other worker's
# events. Revoking a worker's token, or terminating its worker, ends its
# stream at once. The real agent keeps the token it was given and uses it
# after a restart.
. "$(dirname "$0")/lib.sh"

# Workers registered by hand send no heartbeats: they must stay online meanwhile.
OUTPOST_WORKER_OFFLINE_AFTER=10m OUTPOST_WORKER_LOST_AFTER=20m start_server
create_token site-join agent
join=$NEW_TOKEN
reg() {	# TOKEN NAME [CPU]
	TOKEN=$1 api POST /api/v1/agent/register \
		"{\"name\":\"$2\",\"capacity\":{\"cpu\":${3:-2},\"memory_mb\":1024,\"slots\":2}}"
}
reg "$join" w1
assert_status 201 "w1 registered with the join token"
w1=$(jbody -r '.token // ""')
assert_match '^opt_' "$w1" "w1's own token in the registration's answer"
reg "$join" w2
assert_status 201 "w2 registered with the join token"
w2=$(jbody -r '.token // ""')
assert_ne "$w1" "$w2" "w2's token"
api_ok 200 GET /api/v1/tokens
assert_eq w1 "$(jbody -r '.items[] | select(.name == "worker:w1") | .worker')" \
	"the worker token:w1 is bound to"
assert_eq null "$(jbody -c '.items[] | select(.name == "site-join") | .worker')" \
	"the worker of a join token"
assert_eq null "$(jbody -c '.items[] | select(.name == "site-join") | .uses_left')" \
	"a join token without limits"
# w1's own token registers w1 again (capacity, labels): 200, and no new token.
reg "$w1" w1
assert_status 200 "w1 registered again with its own token"
assert_eq "" "$(jbody -r '.token // ""')" "a token in the answer to a worker's own token"

# An instance on w1 (w2 cordoned), driven by w1's agent to grading.
api_ok 200 POST /api/v1/workers/w2/cordon
define d '"hooks":{"run":["true"],"grade":["true"]}'
create_now d ana 3	# whole seconds: 2 to 3 s left when it arrives
id=$INSTANCE_ID
wait_state "$id" scheduled 10
assert_eq w1 "$(inst "$id" .worker)" "the worker of instance $id"
r=/api/v1/agent/instances/$id/report
as() {	# TOKEN METHOD PATH [BODY]
	local t=$1
	shift
	TOKEN=$t api "$@"
}
as "$w1" POST "$r" '{"name":"w1","attempt":1,"from":"scheduled","to":"instantiating"}'
assert_status 200 "w1 reports instantiating"
as "$w1" POST "$r" '{"name":"w1","attempt":1,"from":"instantiating","to":"running"}'
assert_status 200 "w1 reports running"
wait_state "$id" collecting 15
as "$w1" POST "$r" '{"name":"w1","attempt":1,"from":"collecting","to":"grading"}'
assert_status 200 "w1 reports grading"
api_ok 200 GET /api/v1/workers/w1
w1_before=$(jbody -c '{capacity, labels, last_heartbeat, state, health}')
get_last_seq
seq_before=$LAST_SEQ
# Heartbeats are to the second: one forged after the next second begins would show.
wait_for 5 "the next second" clock_past_ms "$(( $(date +%s) * 1000 + 1000 ))"

# ---- w2's own token against w1 ----
as "$w2" POST /api/v1/agent/heartbeat '{"name":"w1"}'
assert_error 403 forbidden name "w2's token heartbeats w1"
assert_eq "token worker:w2 acts for worker w2 only, not w1" "$(jbody -r .error.message)" \
	"the refusal's message"
as "$w2" GET "/api/v1/agent/work?name=w1"
assert_error 403 forbidden name "w2's token asks for w1's work"
assert_eq null "$(jbody -c '.instances')" "w1's instances in the refusal"
as "$w2" POST /api/v1/agent/sync '{"name":"w1","alive":[]}'
assert_error 403 forbidden name "w2's token syncs w1 (which would fail its instances)"
as "$w2" POST /api/v1/agent/register '{"name":"w1","capacity":{"cpu":4096,"memory_mb":1024,"slots":2}}'
assert_error 403 forbidden name "w2's token registers w1"
as "$w2" POST "$r" '{"name":"w1","attempt":1,"from":"grading","to":"stopping","grade":{"score":50,"note":"forged"}}'
assert_error 403 forbidden name "w2's token reports a grade as w1"
as "$w2" POST "$r" '{"name":"w2","attempt":1,"from":"grading","to":"stopping","grade":{"score":50,"note":"forged"}}'
assert_error 403 forbidden id "w2's token reports a grade on w1's instance"
as "$w2" POST "/api/v1/agent/instances/$id/log" '{"name":"w1","attempt":1,"hook":"run","offset":0,"text":"forged"}'
assert_error 403 forbidden name "w2's token writes w1's log"
as "$w2" POST "/api/v1/agent/instances/$id/log" '{"name":"w2","attempt":1,"hook":"run","offset":0,"text":"forged"}'
assert_error 403 forbidden id "w2's token writes the log of w1's instance"

# ---- the join token: it takes over no worker, and does nothing but register ----
reg "$join" w1 4096
assert_error 409 conflict name "the join token registers w1, which has its own token"
as "$join" POST /api/v1/agent/heartbeat '{"name":"w1"}'
assert_error 403 forbidden "" "the join token heartbeats"
as "$join" POST "$r" '{"name":"w1","attempt":1,"from":"grading","to":"stopping","grade":{"score":50,"note":"forged"}}'
assert_error 403 forbidden "" "the join token reports a grade"

# A join token limited to lab-* names, once.
api_ok 201 POST /api/v1/tokens '{"name":"lab-join","role":"agent","names":"lab-*","uses":1}'
lab=$(jbody -r .token)
assert_eq 1 "$(jbody .uses_left)" "uses_left of a new join token"
reg "$lab" rogue 4096
assert_error 403 forbidden name "the lab join token registers rogue"
reg "$lab" lab-1
assert_status 201 "the lab join token registers lab-1"
reg "$lab" lab-2
assert_error 403 forbidden "" "the lab join token registers a second worker"
api_ok 200 GET /api/v1/tokens
assert_eq 0 "$(jbody '.items[] | select(.name == "lab-join") | .uses_left')" \
	"uses_left of the spent join token"
for n in rogue lab-2; do
	api GET "/api/v1/workers/$n"
	assert_error 404 not_found id "worker $n after refused registrations"
done
# Bad limits name their field, and make no token.
api POST /api/v1/tokens '{"name":"x","role":"agent","names":"LAB/*"}'
assert_error 400 invalid_argument names
api POST /api/v1/tokens '{"name":"x","role":"agent","uses":0}'
assert_error 400 invalid_argument uses
api POST /api/v1/tokens '{"name":"x","role":"viewer","template":"small"}'
assert_error 400 invalid_argument template

# Nothing of w1's changed: its row, its instance, its log, and no event but lab-1's.
api_ok 200 GET /api/v1/workers/w1
assert_eq "$w1_before" "$(jbody -c '{capacity, labels, last_heartbeat, state, health}')" \
	"w1 after the attacks"
assert_eq grading "$(inst "$id" .state)" "the instance after the attacks"
assert_eq null "$(inst "$id" .grade)" "the instance's grade after the attacks"
api_ok 200 GET "/api/v1/instances/$id/log"
assert_eq 0 "$(jbody '.items | length')" "the instance's log after the attacks"
api_ok 200 GET "/api/v1/events?since=$seq_before&limit=1000"
assert_eq "token.created token.created worker.registered" \
	"$(jbody -r '[.items[].type] | join(" ")')" "the events after the attacks"
# The attacks were refused, not impossible: w1's agent grades its instance.
as "$w1" POST "$r" '{"name":"w1","attempt":1,"from":"grading","to":"stopping","grade":{"score":97}}'
assert_status 200 "w1 reports its grade"
assert_eq 97 "$(inst "$id" .grade.score)" "the grade w1 reported"

# ---- the event stream ----
ws_open a "$join"
assert_eq 403 "$WS_STATUS" "a stream with the join token"
ws_open b "$w2"
assert_eq 101 "$WS_STATUS" "a stream with w2's token"
ws_send b '{"subscribe": {"since": 0, "worker": "w1"}}'
wait_for 10 "the refusal of w1's events to w2's token" \
	eval 'ws_messages b | grep -q "acts for worker w2 only"'
assert_eq forbidden "$(ws_messages b | jq -r 'select(.error) | .error.code' | head -n 1)" \
	"the refusal's code"
w1_id=$(TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w1 && jbody .id)
ws_send b "{\"subscribe\": {\"since\": 0, \"worker\": $w1_id}}"
wait_for 10 "the refusal of w1's events by id" \
	eval '[ "$(ws_messages b | grep -c "acts for worker w2 only")" = 2 ]'
assert_eq "" "$(ws_messages b | jq -r 'select(.seq) | .seq')" "events sent to w2's token for w1"
# A worker's own stream ends when its token is revoked.
ws_open c "$w1"
ws_send c '{"subscribe": {"since": 0, "worker": "w1"}}'
wait_for 10 "caught_up on w1's stream" eval 'ws_messages c | grep -q caught_up'
api_ok 200 GET /api/v1/tokens
w1_tok_id=$(jbody '.items[] | select(.name == "worker:w1") | .id')
ccat=$WS_CAT_c
api_ok 200 DELETE "/api/v1/tokens/$w1_tok_id"
wait_for 5 "w1's stream to end with its token" sh -c "! kill -0 $ccat 2>/dev/null"
as "$w1" POST /api/v1/agent/heartbeat '{"name":"w1"}'
assert_error 401 unauthenticated "" "w1's revoked token"
# Revoked, w1 may be registered again with a join token (a new agent for it).
reg "$join" w1
assert_status 200 "w1 registered again with the join token once its token was revoked"
assert_match '^opt_' "$(jbody -r '.token // ""')" "w1's new token"
# ... and when its worker is terminated.
ws_send b '{"subscribe": {"since": 0, "worker": "w2"}}'
wait_for 10 "caught_up on w2's stream" eval 'ws_messages b | grep -q caught_up'
bcat=$WS_CAT_b
api_ok 200 POST /api/v1/workers/w2/terminate '{"force":true}'
wait_for 5 "w2's stream to end with its worker" sh -c "! kill -0 $bcat 2>/dev/null"

# ---- the agent keeps the token it is given ----
api_ok 201 POST /api/v1/tokens '{"name":"once","role":"agent","names":"w3","uses":1}'
printf '%s\n' "$(jbody -r .token)" >"$WORK/once.token"
AGENT_TOKEN_FILE=$WORK/once.token start_agent w3
wait_online w3
kept=$WORK/agents/w3/worker.token
wait_for 5 "w3's own token kept" test -s "$kept"
assert_eq 600 "$(stat -c %a "$kept")" "the mode of the kept token"
api_ok 200 GET /api/v1/tokens
assert_eq w3 "$(jbody -r --arg t "$(head -c 12 "$kept")" \
	'.items[] | select(.name == "worker:w3") | .worker')" "the kept token's worker"
# Restarted with its join token spent, the agent goes on with the kept one.
kill_agent w3
AGENT_TOKEN_FILE=$WORK/once.token start_agent w3
wait_for 10 "w3 heard from again" heard_after w3 "$(date +%s)"
assert_contains '"msg":"agent.registered"' "$(tail -n 20 "$WORK/agent.w3.log")" \
	"the restarted agent's log"
# Its token revoked: the agent stops (1), and a restart says what to do.
api_ok 200 GET /api/v1/tokens
api_ok 200 DELETE "/api/v1/tokens/$(jbody '.items[] | select(.name == "worker:w3") | .id')"
pid=$(agent_pid w3)
wait_exit "$pid" 10
assert_eq 1 "$EXIT_RC" "the exit status of an agent whose token was revoked"
AGENT_TOKEN_FILE=$WORK/once.token start_agent w3
pid=$(agent_pid w3)
wait_exit "$pid" 10
assert_eq 1 "$EXIT_RC" "the exit status of an agent whose kept token is refused"
assert_contains "refused the worker's own token kept in $kept" "$(cat "$WORK/agent.w3.log")" \
	"the restarted agent's message"
exit 0
