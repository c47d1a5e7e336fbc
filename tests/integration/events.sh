#!/bin/sh
# GET /api/v1/events: sequence numbers are gapless from 1; `since` returns
# only what came after; `types` matches exact types and `prefix.*` patterns
# (instance.* is instance.created and instance.state, nothing else); paging
# with `limit` and last_seq gives every event exactly once; a filtered page's
# last_seq says where to resume. The same answers come from memory and, after a
# restart, from the table.
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
create_instance lab alice
a=$INSTANCE_ID
create_instance lab bob
api_ok 200 POST "/api/v1/instances/$a/terminate"
create_token watcher viewer
create_definition lab
get_last_seq
last=$LAST_SEQ
# token(admin) definition instance instance state token definition
assert_eq 7 "$last" "last_seq after 7 changes"

check_all() {
	api_ok 200 GET "/api/v1/events?since=0"
	assert_eq "$(seq -s ' ' 1 "$last")" "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" \
		"seqs from since=0 ($1)"
	assert_eq "$last" "$(jbody .last_seq)" "last_seq of since=0 ($1)"
	assert_eq 'token.created definition.created instance.created instance.created instance.state token.created definition.created' \
		"$(jbody '[.items[].type] | join(" ")')" "types in order ($1)"
	# Every event has the contract's fields.
	assert_eq 0 "$(jbody '[.items[] | select((has("seq") and has("ts") and has("type") and
		has("kind") and has("id") and has("actor") and has("data")) | not)] | length')" \
		"events missing a field ($1)"
	assert_eq "instance $a admin pending terminated" \
		"$(jbody '.items[4] | "\(.kind) \(.id) \(.actor) \(.data.from) \(.data.to)"')" \
		"the instance.state event ($1)"
	assert_match '^20[0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9:.]+Z$' "$(jbody '.items[0].ts')" "ts ($1)"

	api_ok 200 GET "/api/v1/events?since=3"
	assert_eq "4 5 6 7" "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" "seqs since=3 ($1)"
	api_ok 200 GET "/api/v1/events?since=$last"
	assert_eq 0 "$(jbody '.items | length')" "events since the last ($1)"
	assert_eq "$last" "$(jbody .last_seq)" "last_seq since the last ($1)"

	api_ok 200 GET "/api/v1/events?types=instance.*"
	assert_eq 'instance.created instance.created instance.state' \
		"$(jbody '[.items[].type] | join(" ")')" "types=instance.* ($1)"
	api_ok 200 GET "/api/v1/events?types=instance.state"
	assert_eq '5' "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" "types=instance.state ($1)"
	api_ok 200 GET "/api/v1/events?types=instance.created,token.*"
	assert_eq '1 3 4 6' "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" \
		"types=instance.created,token.* ($1)"
	api_ok 200 GET "/api/v1/events?types=instance"
	assert_eq 0 "$(jbody '.items | length')" "types=instance is an exact type, not a prefix ($1)"
	api_ok 200 GET "/api/v1/events?types=inst.*"
	assert_eq 0 "$(jbody '.items | length')" "types=inst.* ($1)"
	api_ok 200 GET "/api/v1/events?types=instance.*&since=4"
	assert_eq '5' "$(jbody '[.items[].seq] | map(tostring) | join(" ")')" "types=instance.*&since=4 ($1)"
	# The last matching event is 5; the page looked at everything up to 7.
	api_ok 200 GET "/api/v1/events?types=instance.*&since=5"
	assert_eq 0 "$(jbody '.items | length')" "instance.* after 5 ($1)"
	assert_eq "$last" "$(jbody .last_seq)" "last_seq of a filtered page with no match ($1)"

	# limit=2, resuming from last_seq: every event once, in order.
	local since=0 seen=
	while :; do
		api_ok 200 GET "/api/v1/events?since=$since&limit=2"
		[ "$(jbody '.items | length')" -le 2 ] || fail "more than limit=2 events on a page"
		seen="$seen $(jbody '[.items[].seq] | map(tostring) | join(" ")')"
		[ "$(jbody '.items | length')" -gt 0 ] || break
		since=$(jbody .last_seq)
	done
	assert_eq "$(seq -s ' ' 1 "$last")" "$(echo $seen)" "seqs paged with limit=2 ($1)"
	since=0 seen=
	while :; do
		api_ok 200 GET "/api/v1/events?since=$since&limit=1&types=instance.*"
		seen="$seen $(jbody '[.items[].seq] | map(tostring) | join(" ")')"
		[ "$(jbody '.items | length')" -gt 0 ] || break
		since=$(jbody .last_seq)
	done
	assert_eq "3 4 5" "$(echo $seen)" "instance.* paged with limit=1 ($1)"
}

check_all "from memory"
stop_server
assert_eq 0 "$EXIT_RC" "outpostd exit status on SIGTERM"
start_server --state-dir "$SERVER_DIR"
check_all "after a restart"

# Sequence numbers go on from where they were.
create_instance lab carol
api_ok 200 GET "/api/v1/events?since=$last"
assert_eq "$((last + 1)) instance.created" "$(jbody '.items[] | "\(.seq) \(.type)"')" \
	"the first event after a restart"

api GET "/api/v1/events?limit=0"
assert_error 400 invalid_argument limit
api GET "/api/v1/events?since=x"
assert_error 400 invalid_argument since

# A since past the end of the log: an empty page whose last_seq is the log's end,
# never the client's number (resuming from that would skip events for ever).
get_last_seq
end=$LAST_SEQ
api_ok 200 GET "/api/v1/events?since=$((end + 1000))"
assert_eq 0 "$(jbody '.items | length')" "items past the end of the log"
assert_eq "$end" "$(jbody .last_seq)" "last_seq of a page past the end of the log"
exit 0
