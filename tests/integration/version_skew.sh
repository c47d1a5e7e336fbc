#!/bin/bash
# Version skew between outpostd and its agents. This release's agent says
# protocol 2 and its release; an agent of the release before (which says no
# protocol: OUTPOST_AGENT_TEST_PROTOCOL=none) is served as protocol 1; an
# agent whose protocol the server does not serve (99) is refused, 400
# unsupported_protocol naming the field and what is served, logs it once and
# backs off instead of asking again at once; the worker it runs for shows
# the refusal (API and CLI). Bad values are refused naming the field, and
# change nothing.
. "$(dirname "$0")/lib.sh"

VERSION=$("$OUTPOSTD" --version | awk '{print $2}')
start_server --worker-offline-after 2s --worker-lost-after 30s
start_agent now
OUTPOST_AGENT_TEST_PROTOCOL=none start_agent old
wait_online now old

worker() {	# NAME: its JSON in $BODY
	api_ok 200 GET "/api/v1/workers/$1"
}
worker now
assert_eq "2 $VERSION null" "$(jbody '"\(.agent_protocol) \(.agent_version) \(.agent_refused)"')" \
	"this release's agent"
worker old
assert_eq "1 null null" "$(jbody '"\(.agent_protocol) \(.agent_version) \(.agent_refused)"')" \
	"an agent that says no protocol (the release before)"

# A new worker whose agent speaks a protocol not served: refused before anything is made.
OUTPOST_AGENT_TEST_PROTOCOL=99 start_agent future
wait_for 10 "the refusal in the agent's log" grep -q '"agent.protocol_refused"' "$WORK/agent.future.log"
assert_contains "serves agent protocols 1 to 2" "$(cat "$WORK/agent.future.log")" \
	"the agent's log of the refusal"
api_ok 404 GET /api/v1/workers/future
# It backs off (30 s at first): in 5 s more, no second attempt.
sleep 5
assert_eq 1 "$(grep -c '"agent.refused"' "$SERVER_LOG")" "registrations the server refused in 5 s"
assert_eq 1 "$(grep -c '"agent.protocol_refused"' "$WORK/agent.future.log")" \
	"times the agent logged the refusal"
kill -0 "$(agent_pid future)" || fail "the refused agent exited (it should wait and ask again)"

# A worker whose agent is replaced by one the server does not serve shows why it went quiet.
kill_agent now
OUTPOST_AGENT_TEST_PROTOCOL=99 start_agent now
wait_for 10 "worker now's refusal shown" eval \
	'worker now; [ "$(jbody .agent_refused)" = "agent protocol 99 not served (1 to 2)" ]'
cli_as_admin
cli 0 worker list
assert_match "now .*agent protocol 99 not served" "$(grep '^ *[0-9]* *now ' <<<"$OUT")" \
	"outpost worker list's REFUSED column"
kill_agent now
start_agent now
wait_for 10 "worker now served again" eval \
	'worker now; [ "$(jbody .agent_refused)" = null ] && [ "$(jbody .agent_protocol)" = 2 ]'

# Bad values, by hand with the join token: each named, nothing made.
TOKEN=$(cat "$AGENT_TOKEN_FILE")
for body in '"protocol":"2"' '"protocol":0' '"protocol":3' '"agent_version":""' \
	'"agent_version":7' '"agent_version":"1.0\u001b[2J"'; do
	api POST /api/v1/agent/register \
		"{\"name\":\"bad\",\"capacity\":{\"cpu\":1,\"memory_mb\":64,\"slots\":1},$body}"
	assert_status 400 "a registration with $body"
	case $body in
	*protocol*) assert_eq protocol "$(jbody .error.field)" "the field of $body" ;;
	*) assert_eq agent_version "$(jbody .error.field)" "the field of $body" ;;
	esac
done
api POST /api/v1/agent/register '{"name":"bad","capacity":{"cpu":1,"memory_mb":64,"slots":1},"protocol":3}'
assert_eq unsupported_protocol "$(jbody .error.code)" "protocol 3's error code"

# What a registration says is shown from then on, before any heartbeat; a
# registration that fails (here, a name already joined) changes nothing shown.
CAP='"capacity":{"cpu":1,"memory_mb":64,"slots":1}'
api POST /api/v1/agent/register "{\"name\":\"fresh\",$CAP,\"protocol\":2,\"agent_version\":\"0.0.9-test\"}"
assert_status 201 "a registration by hand"
TOKEN=$SERVER_TOKEN worker fresh
assert_eq "2 0.0.9-test null" "$(jbody '"\(.agent_protocol) \(.agent_version) \(.agent_refused)"')" \
	"a worker just registered, before its first heartbeat"
api POST /api/v1/agent/register "{\"name\":\"fresh\",$CAP,\"protocol\":1,\"agent_version\":\"evil\"}"
[ "$STATUS" -ge 400 ] || fail "a second join of fresh was answered $STATUS"
api POST /api/v1/agent/register "{\"name\":\"fresh\",$CAP,\"protocol\":99}"
assert_status 400 "a join of fresh with protocol 99"
TOKEN=$SERVER_TOKEN worker fresh
assert_eq "2 0.0.9-test null" "$(jbody '"\(.agent_protocol) \(.agent_version) \(.agent_refused)"')" \
	"fresh after two registrations that failed"
TOKEN=$SERVER_TOKEN
api_ok 404 GET /api/v1/workers/bad
echo "PASS: $TEST_NAME"
