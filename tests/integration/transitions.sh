#!/bin/sh
# The operator's actions go through the one state machine: what it refuses is
# 409 invalid_transition with the reason and changes nothing; terminate ends an
# instance once; extend only moves the end later; the history lists exactly
# the transitions that happened, and each one has its instance.state event.
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
create_instance lab alice
id=$INSTANCE_ID
create_instance lab bob
other=$INSTANCE_ID

# refused ACTION: 409 invalid_transition naming the current state; nothing changes.
refused() {
	local state
	api_ok 200 GET "/api/v1/instances/$id"
	state=$(jbody .state)
	get_last_seq
	local seq=$LAST_SEQ
	api POST "/api/v1/instances/$id/$1"
	assert_status 409
	assert_eq invalid_transition "$(jbody .error.code)" "$1 from $state: error.code"
	assert_contains "$state" "$(jbody .error.message)" "$1 from $state: error.message"
	api_ok 200 GET "/api/v1/instances/$id"
	assert_eq "$state" "$(jbody .state)" "state after a refused $1"
	get_last_seq
	assert_eq "$seq" "$LAST_SEQ" "last event seq after a refused $1"
}

assert_eq pending "$(api_ok 200 GET "/api/v1/instances/$id"; jbody .state)" "state of a new instance"
refused stop
refused retry

# extend: only later than the current end; the same end or an earlier one is 422.
api POST "/api/v1/instances/$id/extend" '{"timeslot_end": "2030-01-01T10:30:00Z"}'
assert_error 422 invalid_argument timeslot_end "extend to an earlier end"
api POST "/api/v1/instances/$id/extend" "{\"timeslot_end\": \"$SLOT_END\"}"
assert_error 422 invalid_argument timeslot_end "extend to the same end"
api POST "/api/v1/instances/$id/extend" '{"timeslot_end": "2030-01-01T09:00:00Z"}'
assert_error 422 invalid_argument timeslot_end "extend to an end before the start"
api_ok 200 GET "/api/v1/instances/$id"
assert_eq "$SLOT_END" "$(jbody .timeslot_end)" "timeslot_end after refused extends"
api_ok 200 POST "/api/v1/instances/$id/extend" '{"timeslot_end": "2030-01-01T12:00:00Z"}'
assert_eq 2030-01-01T12:00:00Z "$(jbody .timeslot_end)" "timeslot_end in the extend answer"
assert_eq pending "$(jbody .state)" "state after extend"
api_ok 200 GET "/api/v1/instances/$id"
assert_eq 2030-01-01T12:00:00Z "$(jbody .timeslot_end)" "timeslot_end after extend"

get_last_seq
seq_before=$LAST_SEQ
api_ok 200 POST "/api/v1/instances/$id/terminate"
assert_eq terminated "$(jbody .state)" "state in the terminate answer"
api_ok 200 GET "/api/v1/instances/$id"
assert_eq terminated "$(jbody .state)" "state after terminate"
assert_contains admin "$(jbody '.state_reason // ""')" "state_reason names who terminated it"

refused terminate
refused retry
refused stop
refused extend

# The other instance is untouched.
api_ok 200 GET "/api/v1/instances/$other"
assert_eq pending "$(jbody .state)" "state of an instance nobody acted on"

# History: created, then terminated; nothing for the refused actions.
api_ok 200 GET "/api/v1/instances/$id/transitions"
assert_eq 2 "$(jbody '.items | length')" "transitions of $id ($(jbody -c .items))"
assert_eq 'null pending' "$(jbody '.items[0] | "\(.from) \(.to)"')" "first transition"
assert_eq 'pending terminated admin' "$(jbody '.items[1] | "\(.from) \(.to) \(.actor)"')" \
	"second transition"
assert_match '^20[0-9][0-9]-' "$(jbody '.items[1].at')" "time of the second transition"
api_ok 200 GET "/api/v1/instances/$other/transitions"
assert_eq 1 "$(jbody '.items | length')" "transitions of an instance nobody acted on"
api GET /api/v1/instances/999999/transitions
assert_error 404 not_found id

# Exactly one instance.state event since the terminate, with from and to.
api_ok 200 GET "/api/v1/events?since=$seq_before&types=instance.state"
assert_eq 1 "$(jbody '.items | length')" "instance.state events after terminate"
assert_eq "$id pending terminated" "$(jbody '.items[0] | "\(.id) \(.data.from) \(.data.to)"')" \
	"the instance.state event"
exit 0
