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
exit 0
