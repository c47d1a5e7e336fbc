#!/bin/sh
# Bad input gets the status, error code and field the API contract names, and
# changes nothing: the instance count, the definitions and the last event
# sequence number are the same after every refused request as before.
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
for _ in 1 2 3; do
	create_instance lab alice
done

inst() {	# a valid instance body with one field replaced: inst KEY JSON-VALUE
	jq -cn --arg s "$SLOT_START" --arg e "$SLOT_END" --arg k "$1" --argjson v "$2" \
		'{definition: "lab", owner: "alice", timeslot_start: $s, timeslot_end: $e}
		| .[$k] = $v'
}

snapshot() {
	get_instance_count
	get_last_seq
	api_ok 200 GET /api/v1/definitions
	printf '%s %s %s' "$COUNT" "$LAST_SEQ" "$(jbody -c '[.items[] | [.name, .version]]')"
}
before=$(snapshot)

# expect STATUS CODE FIELD METHOD PATH [BODY]
expect() {
	local st=$1 code=$2 field=$3
	shift 3
	api "$@"
	assert_error "$st" "$code" "$field" "$1 $2 ${3:+$(printf %s "$3" | head -c 80)}"
}

# ---- bodies of POST /api/v1/instances ----
expect 400 invalid_argument "" POST /api/v1/instances '{"definition": "lab", "owner":'
expect 400 invalid_argument "" POST /api/v1/instances 'not json at all'
expect 400 invalid_argument "" POST /api/v1/instances '[1, 2]'
expect 400 invalid_argument "" POST /api/v1/instances ''
expect 400 invalid_argument "" POST /api/v1/instances \
	'{"definition": "lab", "definition": "lab", "owner": "a"}'
expect 400 invalid_argument owner POST /api/v1/instances "$(inst owner 5)"
expect 400 invalid_argument owner POST /api/v1/instances "$(inst owner '["a"]')"
expect 400 invalid_argument definition POST /api/v1/instances "$(inst definition true)"
expect 400 invalid_argument count POST /api/v1/instances "$(inst count '"3"')"
expect 400 unknown_field color POST /api/v1/instances "$(inst color '"red"')"
expect 400 invalid_argument owner POST /api/v1/instances "$(inst owner '""')"
expect 400 invalid_argument owner POST /api/v1/instances "$(inst owner null)"
expect 400 invalid_argument owner POST /api/v1/instances \
	"$(inst owner "\"$(printf 'o%.0s' $(seq 129))\"")"
expect 400 invalid_argument owner POST /api/v1/instances "$(inst owner '"a\u0001b"')"
expect 400 invalid_argument definition POST /api/v1/instances \
	"$(inst definition "\"$(printf 'd%.0s' $(seq 101))\"")"
expect 400 invalid_argument timeslot_start POST /api/v1/instances "$(inst timeslot_start '"tomorrow"')"
expect 422 invalid_argument timeslot_end POST /api/v1/instances \
	"$(inst timeslot_end '"2030-01-01T09:00:00Z"')"
expect 422 invalid_argument timeslot_end POST /api/v1/instances "$(inst timeslot_end "\"$SLOT_START\"")"
expect 422 not_found definition POST /api/v1/instances "$(inst definition '"nosuch"')"
expect 422 not_found definition POST /api/v1/instances "$(inst definition '"lab@7"')"
expect 400 invalid_argument count POST /api/v1/instances "$(inst count 0)"
expect 400 invalid_argument count POST /api/v1/instances "$(inst count 1001)"

# ---- bodies of POST /api/v1/definitions ----
def='{"name": "d1", "hooks": {"run": ["/bin/true"]}}'
defw() { printf '%s' "$def" | jq -c "$1"; }
expect 400 unknown_field resources.gpu POST /api/v1/definitions "$(defw '.resources = {cpu: 1, gpu: 1}')"
expect 400 unknown_field colour POST /api/v1/definitions "$(defw '.colour = 1')"
expect 400 unknown_field hooks.build POST /api/v1/definitions "$(defw '.hooks.build = ["make"]')"
expect 400 invalid_argument resources.cpu POST /api/v1/definitions "$(defw '.resources = {cpu: "two"}')"
expect 400 invalid_argument resources.cpu POST /api/v1/definitions "$(defw '.resources = {cpu: 0}')"
expect 400 invalid_argument name POST /api/v1/definitions \
	"$(defw ".name = \"$(printf 'n%.0s' $(seq 65))\"")"
expect 400 invalid_argument name POST /api/v1/definitions "$(defw '.name = ""')"
expect 400 invalid_argument name POST /api/v1/definitions "$(defw '.name = "Has Spaces"')"
expect 400 invalid_argument hooks.run POST /api/v1/definitions "$(defw '.hooks.run = "/bin/true"')"
expect 400 invalid_argument hooks.run POST /api/v1/definitions "$(defw '.hooks.run = []')"
expect 400 invalid_argument hooks POST /api/v1/definitions '{"name": "d1"}'
expect 400 invalid_argument max_duration POST /api/v1/definitions "$(defw '.max_duration = "soon"')"
expect 400 invalid_argument on_worker_loss POST /api/v1/definitions "$(defw '.on_worker_loss = "panic"')"
expect 400 invalid_argument "" POST /api/v1/definitions '{"name": "d1", "hooks": {'

# ---- bodies over 1 MiB ----
head -c $((2 * 1024 * 1024)) /dev/zero | tr '\0' ' ' >"$WORK/big"
expect 413 payload_too_large "" POST /api/v1/instances "@$WORK/big"
# A valid JSON object of 2 MiB: the limit is on size, whatever the content.
{ printf '{"definition":"lab","owner":"alice","pad":"'; head -c $((2 * 1024 * 1024)) /dev/zero |
	tr '\0' x; printf '"}'; } >"$WORK/bigjson"
expect 413 payload_too_large "" POST /api/v1/instances "@$WORK/bigjson"
expect 413 payload_too_large "" POST /api/v1/definitions "@$WORK/bigjson"

# ---- query parameters ----
api_ok 200 GET "/api/v1/instances?limit=1"
cursor=$(jbody .next)
[ -n "$cursor" ] && [ "$cursor" != null ] || fail "limit=1 over 3 instances gave no next cursor"
expect 400 invalid_argument after GET "/api/v1/instances?after=garbage"
expect 400 invalid_argument after GET "/api/v1/instances?after=${cursor%?}"
expect 400 invalid_argument after GET "/api/v1/instances?after=${cursor}x"
# A cursor is for the listing it came from.
expect 400 invalid_argument after GET "/api/v1/workers?after=$cursor"
expect 400 invalid_argument limit GET "/api/v1/instances?limit=0"
expect 400 invalid_argument limit GET "/api/v1/instances?limit=501"
expect 400 invalid_argument limit GET "/api/v1/instances?limit=-1"
expect 400 invalid_argument limit GET "/api/v1/instances?limit=ten"
api_ok 200 GET "/api/v1/instances?limit=500"
api_ok 200 GET "/api/v1/instances?limit=1&after=$cursor"
expect 400 unknown_field colour GET "/api/v1/instances?colour=red"
expect 400 unknown_field bogus GET "/api/v1/events?bogus=1"
expect 400 invalid_argument since GET "/api/v1/events?since=-1"
expect 400 invalid_argument state GET "/api/v1/instances?state=sleeping"

# ---- ids ----
expect 400 invalid_argument id GET /api/v1/instances/abc
expect 400 invalid_argument id GET /api/v1/instances/1.5
expect 400 invalid_argument id GET /api/v1/instances/-1
expect 400 invalid_argument id POST /api/v1/instances/abc/terminate
expect 400 invalid_argument id GET /api/v1/instances/abc/transitions
expect 400 invalid_argument id DELETE /api/v1/tokens/abc
expect 404 not_found id GET /api/v1/instances/999999
expect 404 not_found id POST /api/v1/instances/999999/terminate
expect 404 not_found "" GET /api/v1/no/such/route

# ---- bodies of actions ----
expect 400 unknown_field force POST /api/v1/instances/1/terminate '{"force": true}'
expect 400 invalid_argument "" POST /api/v1/instances/1/terminate '{"force": '
expect 400 invalid_argument timeslot_end POST /api/v1/instances/1/extend '{}'
expect 400 invalid_argument timeslot_end POST /api/v1/instances/1/extend '{"timeslot_end": "later"}'
expect 400 unknown_field note POST /api/v1/instances/1/extend \
	'{"timeslot_end": "2030-01-01T12:00:00Z", "note": "x"}'
expect 400 invalid_argument role POST /api/v1/tokens '{"name": "t", "role": "god"}'
expect 400 invalid_argument expires_in POST /api/v1/tokens '{"name": "t", "role": "viewer", "expires_in": "1s"}'
expect 400 unknown_field scope POST /api/v1/tokens '{"name": "t", "role": "viewer", "scope": "all"}'

after=$(snapshot)
assert_eq "$before" "$after" "instance count, last event seq and definitions after every refused request"

# The limits are limits, not off by one: a 128-byte owner and a 63-byte name are fine, a
# 64-byte name is not (names are 1 to 63, as workers' and runbooks' are).
create_instance lab "$(printf 'o%.0s' $(seq 128))"
api_ok 201 POST /api/v1/definitions "$(defw ".name = \"$(printf 'n%.0s' $(seq 63))\"")"
api POST /api/v1/definitions "$(defw ".name = \"$(printf 'n%.0s' $(seq 64))\"")"
assert_error 400 invalid_argument name "a 64-byte definition name"
exit 0
