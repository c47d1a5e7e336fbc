#!/bin/sh
# Bearer tokens and roles: no or a bad token is 401; viewer < operator < admin,
# each refused (403) above its role; an agent token is only for the agent's
# routes; the admin token file is readable by its owner only; tokens are
# created (shown once), listed without their secret, and a revoked token stops
# working at once.
. "$(dirname "$0")/lib.sh"

start_server
admin=$TOKEN

perm=$(stat -c %a "$SERVER_DIR/admin.token")
assert_eq 600 "$perm" "mode of admin.token"
assert_match '^opt_[A-Za-z0-9_-]{43}$' "$admin" "the admin token's form"

create_definition lab
create_instance lab alice
id=$INSTANCE_ID
inst_body="{\"definition\":\"lab\",\"owner\":\"bob\",\"timeslot_start\":\"$SLOT_START\",\
\"timeslot_end\":\"$SLOT_END\"}"

# ---- unauthenticated ----
TOKEN= api GET /api/v1/instances
assert_error 401 unauthenticated "" "GET instances with no token"
assert_contains 'Bearer' "$(header www-authenticate)" "WWW-Authenticate of a 401"
TOKEN=garbage api GET /api/v1/instances
assert_error 401 unauthenticated "" "GET instances with a garbage token"
TOKEN="opt_$(printf 'A%.0s' $(seq 43))" api GET /api/v1/instances
assert_error 401 unauthenticated "" "GET instances with a well-formed unknown token"
TOKEN= api POST /api/v1/instances "$inst_body"
assert_error 401 unauthenticated "" "POST instances with no token"
TOKEN= api -H 'Authorization: Basic YWRtaW46YWRtaW4=' GET /api/v1/instances
assert_error 401 unauthenticated "" "GET instances with Basic auth"
TOKEN= api GET /api/v1/events
assert_error 401 unauthenticated "" "GET events with no token"
# Health and metrics need none.
for p in /healthz /readyz /metrics; do
	TOKEN= api GET "$p"
	assert_status 200 "GET $p with no token"
done

# ---- tokens: create, list, roles ----
create_token view-1 viewer
viewer=$NEW_TOKEN
assert_eq viewer "$(jbody .role)" "role of the created viewer token"
assert_match '^opt_' "$viewer" "the created token is in the answer"
create_token op-1 operator
operator=$NEW_TOKEN
create_token agent-1 agent
agent=$NEW_TOKEN
create_token doomed operator
doomed=$NEW_TOKEN
doomed_id=$NEW_TOKEN_ID

api_ok 200 GET /api/v1/tokens
assert_eq 'admin view-1 op-1 agent-1 doomed' "$(jbody '[.items[].name] | join(" ")')" "tokens listed"
assert_eq 'admin viewer operator agent operator' "$(jbody '[.items[].role] | join(" ")')" \
	"roles listed"
for t in "$admin" "$viewer" "$operator" "$agent" "$doomed"; do
	case $BODY in
	*"$t"*) fail "GET /api/v1/tokens shows a token's secret" ;;
	esac
done
# The secret is stored as a hash only.
if grep -q -a "${viewer#opt_}" "$SERVER_DIR"/outpost.db*; then
	fail "the viewer token's secret is in the database files"
fi

# viewer: reads, but writes nothing.
TOKEN=$viewer api_ok 200 GET /api/v1/instances
TOKEN=$viewer api_ok 200 GET "/api/v1/instances/$id"
TOKEN=$viewer api_ok 200 GET /api/v1/definitions
TOKEN=$viewer api_ok 200 GET /api/v1/events
TOKEN=$viewer api POST /api/v1/instances "$inst_body"
assert_error 403 forbidden "" "viewer creates an instance"
TOKEN=$viewer api POST "/api/v1/instances/$id/terminate"
assert_error 403 forbidden "" "viewer terminates an instance"
TOKEN=$viewer api GET /api/v1/tokens
assert_error 403 forbidden "" "viewer lists tokens"

# operator: instances yes; definitions and tokens no.
TOKEN=$operator api_ok 201 POST /api/v1/instances "$inst_body"
assert_eq op-1 "$(TOKEN=$operator api_ok 200 GET "/api/v1/instances/$(jbody .id)/transitions"
	jbody '.items[0].actor')" "actor recorded for the operator's create"
TOKEN=$operator api POST /api/v1/definitions '{"name": "op-def", "hooks": {"run": ["/bin/true"]}}'
assert_error 403 forbidden "" "operator creates a definition"
assert_contains admin "$(jbody .error.message)" "the 403 names the role needed"
TOKEN=$operator api POST /api/v1/tokens '{"name": "sneaky", "role": "admin"}'
assert_error 403 forbidden "" "operator creates a token"
TOKEN=$operator api DELETE "/api/v1/tokens/$doomed_id"
assert_error 403 forbidden "" "operator revokes a token"
api_ok 404 GET /api/v1/definitions/op-def

# agent: a join token registers, and the worker's own token it gets back
# registers again; neither is a viewer.
reg='{"name": "w1", "capacity": {"cpu": 4, "memory_mb": 8192, "slots": 4}, "labels": {"zone": "a"}}'
TOKEN=$agent api_ok 201 POST /api/v1/agent/register "$reg"
assert_eq w1 "$(jbody .name)" "name of the registered worker"
w1_token=$(jbody -r .token)
TOKEN=$w1_token api_ok 200 POST /api/v1/agent/register "$reg"
TOKEN=$w1_token api GET /api/v1/instances
assert_error 403 forbidden "" "a worker's own token lists instances"
TOKEN=$agent api GET /api/v1/instances
assert_error 403 forbidden "" "agent lists instances"
TOKEN=$agent api GET /api/v1/workers
assert_error 403 forbidden "" "agent lists workers"
TOKEN=$agent api POST /api/v1/instances "$inst_body"
assert_error 403 forbidden "" "agent creates an instance"
for t in "$admin" "$operator" "$viewer"; do
	TOKEN=$t api POST /api/v1/agent/register "$reg"
	assert_error 403 forbidden "" "a non-agent token registers a worker"
done
api_ok 200 GET /api/v1/workers/w1

# ---- revoke ----
TOKEN=$doomed api_ok 200 GET /api/v1/instances
api_ok 200 DELETE "/api/v1/tokens/$doomed_id"
assert_match '^20' "$(jbody '.revoked_at // ""')" "revoked_at in the revoke answer"
TOKEN=$doomed api GET /api/v1/instances
assert_error 401 unauthenticated "" "GET with a revoked token"
TOKEN=$doomed api POST /api/v1/instances "$inst_body"
assert_error 401 unauthenticated "" "POST with a revoked token"
api DELETE "/api/v1/tokens/$doomed_id"
assert_status 409 "revoke twice"
api DELETE /api/v1/tokens/999999
assert_error 404 not_found id "revoke an unknown token"
api_ok 200 GET /api/v1/tokens
assert_match '^20' "$(jbody ".items[] | select(.id == $doomed_id) | .revoked_at // \"\"")" \
	"revoked_at of the revoked token in the list"
api_ok 200 GET "/api/v1/events?types=token.*"
assert_eq 'token.revoked' "$(jbody "[.items[] | select(.id == $doomed_id) | .type] | last")" \
	"the revoke's event"

# Revocation survives a restart; the others still work.
stop_server
assert_eq 0 "$EXIT_RC" "outpostd exit status on SIGTERM"
start_server --state-dir "$SERVER_DIR"
assert_eq "$admin" "$SERVER_TOKEN" "admin token after a restart"
TOKEN=$doomed api GET /api/v1/instances
assert_error 401 unauthenticated "" "revoked token after a restart"
TOKEN=$viewer api_ok 200 GET /api/v1/instances
TOKEN=$operator api_ok 201 POST /api/v1/instances "$inst_body"

# An expiring token works, then stops (expires_in is at least 1m: check the field only).
api_ok 201 POST /api/v1/tokens '{"name": "brief", "role": "viewer", "expires_in": "1m"}'
assert_match '^20' "$(jbody '.expires_at // ""')" "expires_at of an expiring token"
TOKEN=$(jbody .token) api_ok 200 GET /api/v1/instances

# The last admin token cannot be revoked: bootstrap only runs on an empty table,
# so it is the only way back in. With a second admin, the first can go.
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/tokens
first_admin=$(jbody '[.items[] | select(.name == "admin" and .created_by == "outpostd")][0].id')
for id in $(jbody '[.items[] | select(.role == "admin" and .revoked_at == null) | .id] | join(" ")'); do
	[ "$id" = "$first_admin" ] || TOKEN=$SERVER_TOKEN api_ok 200 DELETE "/api/v1/tokens/$id"
done
TOKEN=$SERVER_TOKEN api DELETE "/api/v1/tokens/$first_admin"
assert_error 409 invalid_transition id "revoking the last admin token"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/instances
TOKEN=$SERVER_TOKEN create_token second-admin admin
second=$NEW_TOKEN
TOKEN=$SERVER_TOKEN api_ok 200 DELETE "/api/v1/tokens/$first_admin"
TOKEN=$second api_ok 200 GET /api/v1/tokens
exit 0
