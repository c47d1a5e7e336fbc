#!/bin/bash
# outpostd token create, from a shell on the host, for a lost admin token.
# With the server running: the token works at its first request (no restart,
# no wait), its token.created event (created_by local:UID) enters the stream
# and the server's next event takes the number after it (no gap, no hole in
# its ring). With the server stopped: the token works once it starts. Bad
# flags exit 2 naming the flag, and add no token; a database of an older
# schema is refused, untouched.
. "$(dirname "$0")/lib.sh"

# mint ARGS...: outpostd token create's secret in $MINTED, its stderr in $ERR, status in $RC.
mint() {
	MINTED=$("$OUTPOSTD" token create "$@" 2>"$WORK/mint.err")
	RC=$?
	ERR=$(cat "$WORK/mint.err")
}

start_server
get_last_seq
seq0=$LAST_SEQ

mint --role admin --name rescue --state-dir "$SERVER_DIR"
assert_eq 0 "$RC" "token create with the server running ($ERR)"
assert_match '^opt_[A-Za-z0-9_-]{43}$' "$MINTED" "the secret printed"
# At once: the very next request presents it.
TOKEN=$MINTED api_ok 200 GET /api/v1/session
assert_eq admin "$(jbody .role)" "the new token's role"
assert_eq rescue "$(jbody .name)" "the new token's name"
# The server's next change takes the number after the token's event: no gap, no hole.
TOKEN=$MINTED api_ok 201 POST /api/v1/definitions '{"name":"after","hooks":{"run":["/bin/true"]}}'
api_ok 200 GET "/api/v1/events?since=$seq0"
assert_eq "token.created definition.created" "$(jbody '[.items[].type] | join(" ")')" \
	"the events after the token create"
assert_eq "$((seq0 + 1)) $((seq0 + 2))" "$(jbody '[.items[].seq] | join(" ")')" \
	"their numbers"
assert_eq "local:$(id -u)" "$(jbody '.items[0].actor')" "the token.created event's actor"
api_ok 200 GET /api/v1/tokens
assert_eq "local:$(id -u)" "$(jbody '.items[] | select(.name == "rescue") | .created_by')" \
	"the token's created_by"
ntokens=$(jbody '.items | length')

# Another process's event enters the stream within a second, without a request for a token.
mint --role viewer --name watcher --state-dir "$SERVER_DIR"
assert_eq 0 "$RC" "a second token create ($ERR)"
wait_for 5 "the second token's event in the stream" \
	eval 'api GET "/api/v1/events?since=$((seq0 + 2))"; [ "$(jbody ".items[0].type")" = token.created ]'
TOKEN=$MINTED api_ok 200 GET /api/v1/session
assert_eq viewer "$(jbody .role)" "the viewer token's role"
TOKEN=$SERVER_TOKEN
ntokens=$((ntokens + 1))

# Bad flags: exit 2, the flag named, nothing added.
mint --role root --name x --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "an unknown role"
assert_contains "--role" "$ERR" "the unknown role's error"
mint --role agent --name x --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "role agent"
mint --role admin --name "" --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "an empty name"
assert_contains "--name" "$ERR" "the empty name's error"
mint --role admin --name "$(printf 'a\tb')" --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "a name with a control character"
mint --role admin --name "$(head -c 129 /dev/zero | tr '\0' n)" --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "a name of 129 bytes"
mint --role admin --state-dir "$SERVER_DIR"
assert_eq 2 "$RC" "no --name"
assert_contains "--name is required" "$ERR" "the missing name's error"
mint --role admin --name x --state-dir "$SERVER_DIR" --bogus 1
assert_eq 2 "$RC" "an unknown flag"
"$OUTPOSTD" token revoke 1 >/dev/null 2>&1
assert_eq 2 "$?" "an unknown verb"
mint --role admin --name x --state-dir "$WORK/nowhere"
assert_eq 1 "$RC" "a state directory without a database"
assert_contains "no database" "$ERR" "the missing database's error"
[ ! -e "$WORK/nowhere" ] || fail "token create made a state directory"
api_ok 200 GET /api/v1/tokens
assert_eq "$ntokens" "$(jbody '.items | length')" "tokens after the refused creates"

# With the server stopped: made now, working once it starts.
stop_server
mint --role operator --name offline --state-dir "$SERVER_DIR"
assert_eq 0 "$RC" "token create with the server stopped ($ERR)"
start_server --state-dir "$SERVER_DIR"
TOKEN=$MINTED api_ok 200 GET /api/v1/session
assert_eq operator "$(jbody .role)" "the offline token's role"
TOKEN=$SERVER_TOKEN

# Root on a state directory the service's user owns writes as that user: no file of root's.
if [ "$(id -u)" = 0 ]; then
	stop_server
	chown -R 65534:65534 "$SERVER_DIR"
	mint --role admin --name as-owner --state-dir "$SERVER_DIR"
	assert_eq 0 "$RC" "token create by root on a directory of uid 65534 ($ERR)"
	owned=$(find "$SERVER_DIR" ! -uid 65534 | head -n 3)
	assert_eq "" "$owned" "files in the state directory not owned by its owner"
	chown -R 0:0 "$SERVER_DIR"
	start_server --state-dir "$SERVER_DIR"
	TOKEN=$MINTED api_ok 200 GET /api/v1/session
	TOKEN=$SERVER_TOKEN
	api_ok 200 GET /api/v1/tokens
	assert_eq "local:0" "$(jbody '.items[] | select(.name == "as-owner") | .created_by')" \
		"the token's created_by: root, who ran it"
fi

# A database of an older schema is not migrated from a shell: refused, untouched.
fixture=$(ls "$top_srcdir"/tests/fixtures/schema-v*.db 2>/dev/null | tail -n 1)
if [ -n "$fixture" ]; then
	mkdir -p "$WORK/old"
	cp "$fixture" "$WORK/old/outpost.db"
	mint --role admin --name x --state-dir "$WORK/old"
	assert_eq 1 "$RC" "token create on an older schema"
	assert_contains "start this outpostd once to migrate it" "$ERR" "the older schema's error"
	cmp -s "$fixture" "$WORK/old/outpost.db" || fail "token create changed the older database"
fi
echo "PASS: $TEST_NAME"
