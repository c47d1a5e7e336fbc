#!/bin/sh
# Receivers that hang never hold the loop: 64 rules firing every second to 8
# webhooks that accept and never answer fill the notifications' queue (512);
# what comes after is dropped and counted, in one log line a tick, while the
# API answers at once. SIGTERM ends the server promptly though an attempt is
# under way with a 60 s timeout.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }

(umask 077 && printf '%s\n' "backpressure-secret-0123456789" >"$WORK/hook.secret")
python3 "$top_srcdir/tests/tools/alert_receiver.py" --port-file "$WORK/port" \
	--log "$WORK/hits" --secret-file "$WORK/hook.secret" --hang 90 --max-life 100 &
track_pid $!
wait_for 10 "the receiver's port" test -s "$WORK/port"
RURL=http://127.0.0.1:$(cat "$WORK/port")

# No worker: free slots 0, under 1, for each of the 64 rules (each fires every second).
jq -n --arg url "$RURL/hang" --arg secret "$WORK/hook.secret" '{
	rules: [range(64) | { name: "r\(.)", cooldown: "1s",
		condition: { type: "free_capacity_below", resource: "slots", threshold: 1 } }],
	receivers: [range(8) | { name: "h\(.)", type: "webhook", url: $url, secret_file: $secret,
		timeout: "60s", attempts: 1 }] }' >"$WORK/alerts.json"
start_server

dropped() {
	curl -s --max-time 10 "$SERVER_URL/metrics" |
		awk '/^outpost_alert_notifications_total\{.*result="dropped"\}/ { n += $2 } END { print n + 0 }'
}
_dropped() { [ "$(dropped)" -gt 0 ]; }
wait_for 20 "notifications dropped" _dropped
# The thread holds one attempt, unanswered; nothing was sent or given up.
attempts=$( [ -s "$WORK/hits" ] && jq -s 'length' "$WORK/hits" || echo 0)
[ "$attempts" -le 1 ] || fail "$attempts attempts under way: one thread sends, one at a time"
api_ok 200 GET /metrics
assert_eq "" "$(printf '%s\n' "$BODY" | grep -E '^outpost_alert_notifications_total.*result="(sent|failed)"' |
	grep -v ' 0$')" "notifications sent or failed"
# The loop is free: requests are answered at once.
for i in 1 2 3 4 5; do
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 10 "$SERVER_URL/healthz")
	jq -en "$t < 1" >/dev/null || fail "/healthz took $t s while receivers hang"
done
wait_for 10 "an alert.dropped line" grep -q '"msg":"alert.dropped"' "$SERVER_LOG"
line=$(grep '"msg":"alert.dropped"' "$SERVER_LOG" | head -n 1)
assert_eq number "$(printf '%s' "$line" | jq -r '.count | type')" "alert.dropped's count"
# One line a tick, not one a notification.
n=$(grep -c '"msg":"alert.dropped"' "$SERVER_LOG")
[ "$n" -lt 20 ] || fail "$n alert.dropped lines"

t0=$(date +%s%N)
stop_server
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -lt 8000 ] || fail "SIGTERM took $ms ms with an attempt under way"
assert_eq 0 "$EXIT_RC" "outpostd's exit"
