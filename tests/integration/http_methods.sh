#!/bin/sh
# HTTP manners: HEAD is GET without the body (health checks use it), a path
# that exists answers another method with 405 and an Allow header, an unknown
# path is 404, and every answer carries a request id.
. "$(dirname "$0")/lib.sh"

start_server

for path in /healthz /readyz /api/v1/instances /api/v1/states; do
	get_len=$(curl -s -H "Authorization: Bearer $SERVER_TOKEN" "$SERVER_URL$path" | wc -c)
	head=$(curl -sI -H "Authorization: Bearer $SERVER_TOKEN" "$SERVER_URL$path" | tr -d '\r')
	assert_match '^HTTP/1.1 200' "$head" "HEAD $path"
	assert_contains "content-length: $get_len" "$head" "HEAD $path: the GET's length"
done
# A HEAD and a GET on one kept-alive connection both answer.
out=$(curl -sv -I "$SERVER_URL/healthz" --next -s "$SERVER_URL/readyz" 2>&1)
assert_contains "Re-using existing connection" "$out" "HEAD then GET on one connection"
assert_contains "ready" "$out" "the GET after a HEAD"

api DELETE /api/v1/instances
assert_error 405 method_not_allowed "" "DELETE /api/v1/instances"
assert_match 'GET' "$(header allow)" "Allow of a 405"
assert_match 'POST' "$(header allow)" "Allow of a 405"
api GET /api/v1/nothing-here
assert_error 404 not_found "" "an unknown path"
assert_match '.' "$(header x-request-id)" "X-Request-Id of a 404"

# Every route refuses query parameters it does not take, and a bare name.
api GET "/api/v1/instances/1?bogus=1"
assert_error 400 unknown_field bogus
api POST "/api/v1/tokens?x=1" '{"name": "q", "role": "viewer"}'
assert_error 400 unknown_field x
api GET "/api/v1/instances?limit"
assert_error 400 invalid_argument limit
# A query too long to read whole is refused, never read in part.
long=$(head -c 2100 /dev/zero | tr '\0' a)
api GET "/api/v1/instances?owner=$long&limit=0"
assert_error 414 invalid_argument ""
api GET "/api/v1/instances?owner=$(head -c 1001 /dev/zero | tr '\0' a)"
assert_error 414 invalid_argument ""
api GET "/api/v1/events?since=$(head -c 40 /dev/zero | tr '\0' 0)5"
assert_error 400 invalid_argument since
# Bytes that are not UTF-8 in a path still give a JSON error.
api GET "/api/v1/definitions/%FFab"
assert_status 404
printf %s "$BODY" | jq -e .error.message >/dev/null || fail "the 404 for a non-UTF-8 name is not JSON: $BODY"

# A control character in a query value is refused, naming the parameter (and cannot alias
# another query).
api GET "/api/v1/instances?owner=a%01limit=1"
assert_error 400 invalid_argument owner
api GET "/api/v1/workers?state="
assert_error 400 invalid_argument state
api GET "/api/v1/workers?health=$(printf 'lost,%.0s' $(seq 60))lost"
assert_error 400 invalid_argument health
exit 0
