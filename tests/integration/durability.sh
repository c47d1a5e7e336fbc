#!/bin/sh
# What outpostd acknowledged survives: a clean restart keeps definitions,
# instances, tokens and events exactly, and sequence numbers go on without a
# gap; and 20 times over, an instance answered 201 is there after a kill -9
# that follows the answer at once.
. "$(dirname "$0")/lib.sh"

start_server
dir=$SERVER_DIR
admin=$TOKEN
create_definition lab
create_definition lab
create_definition other
for o in alice bob carol; do
	create_instance lab "$o"
done
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
api_ok 201 POST /api/v1/instances "{\"definition\":\"other@1\",\"owner\":\"dave\",\
\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\",\"count\":3}"
create_token viewer-1 viewer
viewer=$NEW_TOKEN
create_token gone operator
gone=$NEW_TOKEN
api_ok 200 DELETE "/api/v1/tokens/$NEW_TOKEN_ID"

snapshot() {	# FILE
	{
		api_ok 200 GET /api/v1/definitions
		jbody -c .
		api_ok 200 GET /api/v1/definitions/lab
		jbody -c .
		api_ok 200 GET "/api/v1/instances?limit=500"
		jbody -c .
		for i in $(jbody '.items[].id'); do
			api_ok 200 GET "/api/v1/instances/$i/transitions"
			jbody -c .
		done
		api_ok 200 GET /api/v1/tokens
		jbody -c .
		api_ok 200 GET "/api/v1/events?since=0&limit=1000"
		jbody -c .
	} >"$1"
}
snapshot "$WORK/before"
get_last_seq
last=$LAST_SEQ

stop_server
assert_eq 0 "$EXIT_RC" "outpostd exit status on SIGTERM"
start_server --state-dir "$dir"
assert_eq "$admin" "$TOKEN" "admin token after a restart"
snapshot "$WORK/after"
if ! cmp -s "$WORK/before" "$WORK/after"; then
	diff "$WORK/before" "$WORK/after" | head -c 1500 >&2
	fail "the API answers differently after a clean restart"
fi
TOKEN=$viewer api_ok 200 GET /api/v1/instances
TOKEN=$gone api GET /api/v1/instances
assert_error 401 unauthenticated "" "a revoked token after a restart"
create_instance lab erin
api_ok 200 GET "/api/v1/events?since=$last"
assert_eq "$((last + 1))" "$(jbody '.items[0].seq')" "the first seq after a restart"

# kill -9 right after the 201, 20 times.
for round in $(seq 1 20); do
	create_instance lab "crash-$round"
	id=$INSTANCE_ID
	crash_server
	start_server --state-dir "$dir"
	api GET "/api/v1/instances/$id"
	assert_status 200 "round $round: GET /api/v1/instances/$id after kill -9"
	assert_eq "crash-$round pending" "$(jbody '"\(.owner) \(.state)"')" \
		"round $round: the instance after kill -9"
	api_ok 200 GET "/api/v1/events?types=instance.created&since=$last"
	jbody -e "any(.items[]; .id == $id)" >/dev/null ||
		fail "round $round: no instance.created event for $id after kill -9"
done

# After all that, the event log is still gapless and every instance is there.
get_last_seq
api_ok 200 GET "/api/v1/events?since=0&limit=1000"
assert_eq "$(seq -s ' ' 1 "$LAST_SEQ")" "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" \
	"event seqs after 20 crashes"
get_instance_count
assert_eq $((3 + 3 + 1 + 20)) "$COUNT" "instances after 20 crashes"
exit 0
