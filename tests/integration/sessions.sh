#!/bin/sh
# Browser sessions: a token exchanged for a cookie (its flags, its value not
# the token), the cookie on REST and on the websocket, the CSRF header and
# the Origin check on changes, a viewer's cookie held to reading, sign-out,
# a revoked token's sessions, a restart, and bad sign-ins that change nothing.
. "$(dirname "$0")/lib.sh"

start_server --session-ttl 2h
admin=$SERVER_TOKEN
create_token viewer viewer
viewer=$NEW_TOKEN
viewer_id=$NEW_TOKEN_ID
create_token agents agent
agent=$NEW_TOKEN
TOKEN=
CSRF='X-Outpost-CSRF: 1'

sessions_in_db() {
	TOKEN=$admin api_ok 200 GET "/api/v1/events?types=session.*&limit=1000"
	jbody '[.items[] | select(.type == "session.created")] | length'
}

# sign_in TOKEN: sets SID from the answer's Set-Cookie, COOKIE the header to send.
sign_in() {
	api -H "$CSRF" POST /api/v1/session "{\"token\":\"$1\"}"
	assert_status 201 "sign-in"
	SET_COOKIE=$(header set-cookie)
	SID=$(printf '%s' "$SET_COOKIE" | sed -n 's/^outpost_session=\([^;]*\);.*/\1/p')
	COOKIE="Cookie: outpost_session=$SID"
}

# ---- bad sign-ins: refused, naming the field, and no session made ----
api POST /api/v1/session "{\"token\":\"$admin\"}"
assert_error 403 forbidden X-Outpost-CSRF "sign-in without the CSRF header"
[ -z "$(header set-cookie)" ] || fail "a refused sign-in set a cookie"
api -H "$CSRF" -H 'Origin: http://evil.example' POST /api/v1/session "{\"token\":\"$admin\"}"
assert_error 403 forbidden Origin "sign-in from another origin"
api -H "$CSRF" POST /api/v1/session '{"token":"opt_nope"}'
assert_error 401 unauthenticated token "a bad token"
[ -z "$(header set-cookie)" ] || fail "a refused sign-in set a cookie"
api -H "$CSRF" POST /api/v1/session '{}'
assert_error 400 invalid_argument token "no token"
api -H "$CSRF" POST /api/v1/session '{"token":42}'
assert_error 400 invalid_argument token "a token that is not a string"
api -H "$CSRF" POST /api/v1/session "{\"token\":\"$admin\",\"remember\":true}"
assert_error 400 unknown_field remember "an unknown field"
api -H "$CSRF" POST /api/v1/session "{\"token\":\"$agent\"}"
assert_error 403 forbidden token "an agent token"
api -H "$CSRF" POST /api/v1/session 'not json'
assert_error 400 invalid_argument "" "a body that is not JSON"
assert_eq 0 "$(sessions_in_db)" "sessions made by refused sign-ins"

# ---- a session: the cookie's flags and value ----
sign_in "$admin"
assert_match '^[A-Za-z0-9_-]{43}$' "$SID" "the session id"
assert_ne "$admin" "$SID" "the cookie holds the token"
assert_contains "; Path=/;" "$SET_COOKIE" "the cookie's path"
assert_contains "; HttpOnly" "$SET_COOKIE" "HttpOnly"
assert_contains "; SameSite=Strict" "$SET_COOKIE" "SameSite=Strict"
assert_match 'Max-Age=(7199|7200);' "$SET_COOKIE" "Max-Age is session_ttl"
case $SET_COOKIE in *Secure*) fail "Secure on a plain-HTTP server with no https public_url" ;; esac
assert_eq admin "$(jbody .role)" "the sign-in's role"
assert_eq 1 "$(sessions_in_db)" "session.created events"
grep -qF "$SID" "$SERVER_DIR/outpost.db" "$SERVER_DIR/outpost.db-wal" 2>/dev/null &&
	fail "the session id is stored as is"

# The cookie authenticates reads...
api -H "$COOKIE" GET /api/v1/session
assert_status 200
assert_eq "true admin admin" "$(jbody '"\(.session) \(.name) \(.role)"')" "who the cookie is"
api -H "$COOKIE" GET /api/v1/instances
assert_status 200
# ...and changes with the CSRF header, from this origin or none.
create_def='{"name":"lab","hooks":{"run":["/bin/true"]}}'
api -H "$COOKIE" POST /api/v1/definitions "$create_def"
assert_error 403 forbidden X-Outpost-CSRF "a change with the cookie and no CSRF header"
api -H "$COOKIE" -H "$CSRF" -H 'Origin: http://evil.example' POST /api/v1/definitions "$create_def"
assert_error 403 forbidden Origin "a change with the cookie from another origin"
TOKEN=$admin api_ok 404 GET /api/v1/definitions/lab
api -H "$COOKIE" -H "$CSRF" -H "Origin: $SERVER_URL" POST /api/v1/definitions "$create_def"
assert_status 201 "a change with the cookie, the header and this origin"
assert_eq admin "$(TOKEN=$admin api_ok 200 GET '/api/v1/events?types=definition.created' && jbody '.items[0].actor')" \
	"the change's actor is the token's name"
# A bad cookie is not a session; a bearer token wins over a cookie.
api -H "Cookie: outpost_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA" GET /api/v1/instances
assert_error 401 unauthenticated "" "a made-up session id"
TOKEN=$viewer api -H "$COOKIE" -H "$CSRF" POST /api/v1/definitions "$create_def"
assert_error 403 forbidden "" "a viewer's bearer token with an admin's cookie"

# ---- the websocket: the cookie, from this server's pages only ----
ws_status() {	# ORIGIN COOKIE: the status line of the upgrade's answer
	curl -s -i --max-time 2 -H 'Connection: Upgrade' -H 'Upgrade: websocket' \
		-H 'Sec-WebSocket-Version: 13' -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
		-H 'Sec-WebSocket-Protocol: outpost.events.v1' ${1:+-H "Origin: $1"} ${2:+-H "$2"} \
		"$SERVER_URL/api/v1/events" 2>/dev/null | head -n 1 | tr -d '\r' | cut -d' ' -f2
}
assert_eq 101 "$(ws_status "$SERVER_URL" "$COOKIE")" "the websocket with the cookie from this origin"
assert_eq 403 "$(ws_status http://evil.example "$COOKIE")" "the websocket with the cookie from another origin"
assert_eq 403 "$(ws_status "" "$COOKIE")" "the websocket with the cookie and no Origin"
assert_eq 401 "$(ws_status "$SERVER_URL" "Cookie: outpost_session=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")" \
	"the websocket with a made-up session"

# ---- a viewer's cookie reads, and changes nothing ----
admin_sid=$SID
admin_cookie=$COOKIE
sign_in "$viewer"
viewer_cookie=$COOKIE
assert_eq viewer "$(jbody .role)" "the viewer's role"
api -H "$viewer_cookie" GET /api/v1/definitions
assert_status 200
get_instance_count_as() { TOKEN=$admin get_instance_count; }
get_instance_count_as
before=$COUNT
api -H "$viewer_cookie" -H "$CSRF" POST /api/v1/instances \
	"{\"definition\":\"lab\",\"owner\":\"v\",\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\"}"
assert_error 403 forbidden "" "a viewer's cookie creating an instance"
get_instance_count_as
assert_eq "$before" "$COUNT" "instances after the viewer's refused POST"

# ---- sign-out ----
api -H "$admin_cookie" DELETE /api/v1/session
assert_error 403 forbidden X-Outpost-CSRF "sign-out without the CSRF header"
api -H "$admin_cookie" GET /api/v1/session
assert_status 200 "the session after a refused sign-out"
TOKEN=$admin api -H "$CSRF" DELETE /api/v1/session
assert_error 400 invalid_argument Authorization "sign-out with a bearer token"
api -H "$admin_cookie" -H "$CSRF" DELETE /api/v1/session
assert_status 200 "sign-out"
assert_contains "outpost_session=; Path=/; Max-Age=0;" "$(header set-cookie)" "sign-out clears the cookie"
api -H "$admin_cookie" GET /api/v1/session
assert_error 401 unauthenticated "" "the cookie after sign-out"
api -H "$admin_cookie" -H "$CSRF" DELETE /api/v1/session
assert_error 401 unauthenticated "" "a second sign-out"
assert_eq 401 "$(ws_status "$SERVER_URL" "$admin_cookie")" "the websocket after sign-out"
TOKEN=$admin api_ok 200 GET "/api/v1/events?types=session.ended"
assert_eq "1 admin" "$(jbody '"\(.items | length) \(.items[0].data.token)"')" "the session.ended event"

# ---- a session survives a restart, and dies with its token ----
stop_server
start_server --state-dir "$SERVER_DIR"
TOKEN=
api -H "$viewer_cookie" GET /api/v1/session
assert_status 200 "the viewer's session after a restart"
TOKEN=$admin api_ok 200 DELETE "/api/v1/tokens/$viewer_id"
api -H "$viewer_cookie" GET /api/v1/session
assert_error 401 unauthenticated "" "a session of a revoked token"

# ---- Secure when the site is reached over https ----
stop_server
start_server --state-dir "$SERVER_DIR" --public-url https://outpost.example.org --session-ttl 1m
TOKEN=
sign_in "$admin"
assert_contains "; Secure" "$SET_COOKIE" "Secure with an https public_url"
assert_match 'Max-Age=(59|60);' "$SET_COOKIE" "Max-Age is session_ttl"
exit 0
