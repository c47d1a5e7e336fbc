#!/bin/sh
# Lists and gets carry an ETag: the same data gives the same ETag, and
# If-None-Match with it is 304 with no body; any change (a create, a
# transition, a new definition version) gives a new ETag and the new data,
# never a stale cached page; a refused request changes nothing, ETag included.
. "$(dirname "$0")/lib.sh"

start_server
create_definition lab
create_instance lab alice
id=$INSTANCE_ID

etag_of() {	# PATH: sets ETAG from a 200 GET
	api_ok 200 GET "$1"
	ETAG=$(header etag)
	[ -n "$ETAG" ] || fail "GET $1 has no ETag"
}

conditional() {	# PATH ETAG: sets STATUS and BODY of a GET with If-None-Match
	api -H "If-None-Match: $2" GET "$1"
}

for path in /api/v1/instances "/api/v1/instances?owner=alice&limit=5" "/api/v1/instances/$id" \
	/api/v1/definitions /api/v1/definitions/lab "/api/v1/instances/$id/transitions"; do
	etag_of "$path"
	first=$ETAG
	body1=$BODY
	etag_of "$path"
	assert_eq "$first" "$ETAG" "ETag of GET $path twice"
	assert_eq "$body1" "$BODY" "body of GET $path twice"
	conditional "$path" "$first"
	assert_status 304 "GET $path with If-None-Match of its ETag"
	assert_eq "" "$BODY" "body of a 304 for $path"
	conditional "$path" '"something-else"'
	assert_status 200 "GET $path with a stale If-None-Match"
	assert_eq "$body1" "$BODY" "body of GET $path with a stale If-None-Match"
done

# A create changes the list's ETag and content.
etag_of /api/v1/instances
list_tag=$ETAG
etag_of "/api/v1/instances/$id"
inst_tag=$ETAG
create_instance lab bob
conditional /api/v1/instances "$list_tag"
assert_status 200 "the list with its old ETag after a create"
assert_eq 2 "$(jbody '.items | length')" "items in the list after a create"
assert_ne "$list_tag" "$(header etag)" "the list's ETag after a create"
list_tag=$(header etag)

# A transition changes the instance's ETag, and the cached copy is not served.
api_ok 200 POST "/api/v1/instances/$id/terminate"
conditional "/api/v1/instances/$id" "$inst_tag"
assert_status 200 "the instance with its old ETag after terminate"
assert_eq terminated "$(jbody .state)" "state of the instance after terminate"
conditional /api/v1/instances "$list_tag"
assert_status 200 "the list with its old ETag after terminate"
assert_eq terminated "$(jbody ".items[] | select(.id == $id) | .state")" "state in the list"

# A new definition version: the definition's ETag changes.
etag_of /api/v1/definitions/lab
def_tag=$ETAG
create_definition lab
conditional /api/v1/definitions/lab "$def_tag"
assert_status 200 "the definition with its old ETag after a new version"
assert_eq 2 "$(jbody .version)" "the definition's version"

# Refused requests change nothing: the ETag holds.
etag_of /api/v1/instances
list_tag=$ETAG
api POST /api/v1/instances '{"definition": "nosuch"}'
assert_status 400
api POST "/api/v1/instances/$id/terminate"
assert_status 409
conditional /api/v1/instances "$list_tag"
assert_status 304 "the list after refused requests"

# After a restart, old ETags do not match (the data may have moved on).
stop_server
start_server --state-dir "$SERVER_DIR"
conditional /api/v1/instances "$list_tag"
assert_status 200 "the list with a pre-restart ETag"
exit 0
