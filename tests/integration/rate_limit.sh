#!/bin/sh
# Per-token rate limits: past its burst a token gets 429 rate_limited with a
# Retry-After, another token is not held back by it, the bucket refills with
# time, and the limit is off unless configured.
. "$(dirname "$0")/lib.sh"

OUTPOST_RATE_LIMIT=2 OUTPOST_RATE_BURST=3 start_server
create_token v viewer	# spends one of the admin token's 3
viewer=$NEW_TOKEN

# Six requests in one curl, on one connection: milliseconds apart however loaded the
# machine is, so the bucket (3, refilling at 2 a second) cannot refill between them.
urls=
for i in 1 2 3 4 5 6; do
	urls="$urls -o $WORK/burst.$i $SERVER_URL/api/v1/instances"
done
# shellcheck disable=SC2086
codes=$(curl -s --max-time 20 -H "Authorization: Bearer $SERVER_TOKEN" -w '%{http_code}\n' \
	-D "$WORK/burst.headers" $urls)
ok=0
limited=0
i=0
for code in $codes; do
	i=$((i + 1))
	case $code in
	200) ok=$((ok + 1)) ;;
	429) limited=$((limited + 1)); last_429=$(cat "$WORK/burst.$i") ;;
	*) fail "GET /api/v1/instances gave $code: $(cat "$WORK/burst.$i")" ;;
	esac
done
retry=$(tr -d '\r' <"$WORK/burst.headers" | awk -F': ' 'tolower($1) == "retry-after" { v = $2 } END { print v }')
[ "$limited" -ge 2 ] || fail "6 requests at once with a burst of 3 gave only $limited 429s"
[ "$ok" -ge 2 ] || fail "the rest of the burst of 3 was not honoured: $ok answered"
assert_eq rate_limited "$(echo "$last_429" | jq -r .error.code)" "code of a 429"
assert_match '^[1-9][0-9]*$' "$retry" "Retry-After of a 429"

# Another token has its own bucket.
TOKEN=$viewer api GET /api/v1/instances
assert_status 200 "another token while the first is limited"

# The bucket refills: at 2 a second, one more request is allowed after a second.
wait_for 5 "the admin token's bucket to refill" sh -c \
	"curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $SERVER_TOKEN' \
	$SERVER_URL/api/v1/instances | grep -qx 200"

# Health routes take no token and are never limited.
for _ in 1 2 3 4 5 6 7 8; do
	api GET /healthz
	assert_status 200 "/healthz under a rate limit"
done
stop_server

# Without the setting there is no limit.
start_server --state-dir "$SERVER_DIR"
for _ in $(seq 30); do
	api GET /api/v1/instances
	assert_status 200 "request with no rate limit configured"
done
echo "PASS: $TEST_NAME"
