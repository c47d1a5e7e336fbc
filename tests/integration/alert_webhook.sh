#!/bin/sh
# Alert notifications to webhooks: a receiver that answers 500 twice then 200
# gets three attempts, the second and third after the backoff and twice it,
# each signed (HMAC-SHA256 over "TIMESTAMP.BODY", the secret from a file) and
# with the same delivery id; one that always fails is given up after its
# attempts, an alert.delivery_failed event and a failed count; one that
# redirects is not followed; one that answers 8 MiB is read up to 64 KiB. The rule's resolution is sent too. The secret is
# never in the log nor the API. A bad receiver refuses the file, naming the field.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }

SECRET=webhook-secret-$$-0123456789abcdef
(umask 077 && printf '%s\n' "$SECRET" >"$WORK/hook.secret")
python3 "$top_srcdir/tests/tools/alert_receiver.py" --port-file "$WORK/port" \
	--log "$WORK/hits" --secret-file "$WORK/hook.secret" --fail 2 --max-life 120 &
track_pid $!
wait_for 10 "the receiver's port" test -s "$WORK/port"
RURL=http://127.0.0.1:$(cat "$WORK/port")

# Bad receivers: outpostd does not start, and says which field.
bad() {	# FIELD RECEIVER-JSON
	printf '{ "rules": [], "receivers": [ %s ] }\n' "$2" >"$WORK/bad.json"
	"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/bad-state" --alerts-file "$WORK/bad.json" \
		--runbook-dir "$WORK/runbooks" --template-dir "$WORK/templates" >"$WORK/bad.out" 2>&1
	assert_eq 2 "$?" "outpostd's exit with a bad receiver ($1)"
	assert_contains "$1" "$(cat "$WORK/bad.out")" "the bad receiver's error"
}
bad "receivers[0].url" '{ "name": "x", "type": "webhook", "url": "file:///etc/passwd", "secret_file": "'"$WORK/hook.secret"'" }'
bad "receivers[0].secret_file" '{ "name": "x", "type": "webhook", "url": "'"$RURL"'/flaky" }'
bad "receivers[0].secret_file" '{ "name": "x", "type": "webhook", "url": "'"$RURL"'/flaky", "secret_file": "'"$WORK/nothing"'" }'
bad "receivers[0].type" '{ "name": "x", "type": "email", "url": "'"$RURL"'/flaky" }'
bad "receivers[0].attempts" '{ "name": "x", "type": "webhook", "url": "'"$RURL"'/flaky", "secret_file": "'"$WORK/hook.secret"'", "attempts": 0 }'
[ ! -e "$WORK/hits" ] || fail "a refused file sent something"

# No worker: free slots 0, under 1: the rule fires at the first tick.
cat >"$WORK/alerts.json" <<JSON
{ "rules": [
  { "name": "no-room", "description": "no free slot", "cooldown": "1h",
    "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 1 } } ],
  "receivers": [
    { "name": "flaky", "type": "webhook", "url": "$RURL/flaky", "secret_file": "$WORK/hook.secret",
      "backoff": "700ms", "attempts": 5, "timeout": "3s" },
    { "name": "down", "type": "webhook", "url": "$RURL/down", "secret_file": "$WORK/hook.secret",
      "backoff": "200ms", "attempts": 2 },
    { "name": "moved", "type": "webhook", "url": "$RURL/redirect", "secret_file": "$WORK/hook.secret",
      "attempts": 1 },
    { "name": "big", "type": "webhook", "url": "$RURL/big", "secret_file": "$WORK/hook.secret",
      "attempts": 3 } ] }
JSON
start_server
hits() { [ -s "$WORK/hits" ] && jq -c "select(.path == \"$1\")" "$WORK/hits" | wc -l || echo 0; }
_hits_ge() { [ "$(hits "$1")" -ge "$2" ]; }
wait_for 20 "three attempts at /flaky" _hits_ge /flaky 3

flaky=$(jq -s -c '[.[] | select(.path == "/flaky")]' "$WORK/hits")
assert_eq "true true true" "$(printf '%s' "$flaky" | jq -r '[.[0:3][].signature_ok] | join(" ")')" \
	"the three attempts' signatures"
assert_eq 1 "$(printf '%s' "$flaky" | jq -r '[.[0:3][].delivery] | unique | length')" \
	"one delivery id for the three attempts"
assert_eq "application/json" "$(printf '%s' "$flaky" | jq -r '.[0].content_type')" "Content-Type"
assert_eq "no-room firing 1 no free slot" \
	"$(printf '%s' "$flaky" | jq -r '.[0].body | "\(.rule) \(.status) \(.version) \(.description)"')" \
	"the notification's body"
assert_contains "free slots on ready workers is 0" "$(printf '%s' "$flaky" | jq -r '.[0].body.summary')" \
	"the notification's summary"
assert_eq "$SERVER_URL" "$(printf '%s' "$flaky" | jq -r '.[0].body.server.url')" "the server's URL"
assert_eq "0" "$(printf '%s' "$flaky" | jq -r '.[0].body.facts.free')" "the facts"
# The timestamp header is the time of the attempt (to the second), so a replay is seen as old.
skew=$(printf '%s' "$flaky" | jq -r '[.[0:3][] | (.at - (.timestamp | tonumber)) | fabs] | max')
jq -en "$skew <= 2" >/dev/null || fail "X-Outpost-Timestamp is $skew s from the attempt"
# Backoff: 700 ms, then 1400 ms.
gaps=$(printf '%s' "$flaky" | jq -r '[.[1].at - .[0].at, .[2].at - .[1].at] | map(tostring) | join(" ")')
set -- $gaps
jq -en "$1 >= 0.65 and $1 < 5" >/dev/null || fail "the first retry came $1 s after (backoff 700ms; gaps: $gaps)"
jq -en "$2 >= 1.35 and $2 < 6" >/dev/null || fail "the second retry came $2 s after (1400ms; gaps: $gaps)"
# /down: two attempts, then given up: an event and a count.
_down_failed() { api GET "/api/v1/events?types=alert.delivery_failed&limit=100"; [ "$(jbody '[.items[] | select(.data.receiver == "down")] | length')" -ge 1 ]; }
wait_for 15 "the alert.delivery_failed event of down" _down_failed
assert_eq "no-room firing 2 500" \
	"$(jbody '[.items[] | select(.data.receiver == "down")][0].data | "\(.rule) \(.status) \(.attempts) \(.http_status)"')" \
	"down's alert.delivery_failed"
assert_contains "HTTP 500" "$(jbody '[.items[] | select(.data.receiver == "down")][0].data.error')" "its error"
assert_eq 2 "$(hits /down)" "attempts at /down"
# /redirect: one attempt, not followed.
_moved_failed() { api GET "/api/v1/events?types=alert.delivery_failed&limit=100"; [ "$(jbody '[.items[] | select(.data.receiver == "moved")] | length')" -ge 1 ]; }
wait_for 15 "the alert.delivery_failed event of moved" _moved_failed
assert_contains "redirect: not followed" "$(jbody '[.items[] | select(.data.receiver == "moved")][0].data.error')" \
	"moved's error"
assert_eq 0 "$(hits /sink)" "requests that followed the redirect"
api_ok 200 GET /api/v1/events?types=alert.delivery_failed
assert_eq 0 "$(jbody '[.items[] | select(.data.receiver == "flaky")] | length')" "failures of flaky"

api_ok 200 GET /metrics
assert_contains 'outpost_alert_notifications_total{receiver="flaky",result="sent"} 1' "$BODY" "flaky sent"
assert_contains 'outpost_alert_notifications_total{receiver="flaky",result="failed"} 0' "$BODY" "flaky failed"
assert_contains 'outpost_alert_notifications_total{receiver="down",result="failed"} 1' "$BODY" "down failed"
assert_contains 'outpost_alert_notifications_total{receiver="moved",result="failed"} 1' "$BODY" "moved failed"
# 8 MiB of answer: read up to 64 KiB, and a 2xx is taken as sent, once.
assert_contains 'outpost_alert_notifications_total{receiver="big",result="sent"} 1' "$BODY" "big sent"
assert_eq 1 "$(hits /big)" "attempts at /big"

# Resolved: a worker with slots, and /flaky (answering 200 now) is told at once.
start_agent w1 --capacity cpu=1,memory_mb=256,slots=2
wait_online w1
_resolved_sent() { [ "$(jq -s '[.[] | select(.path == "/flaky" and .body.status == "resolved")] | length' "$WORK/hits")" -ge 1 ]; }
wait_for 15 "the resolved notification" _resolved_sent
assert_eq "true no-room" "$(jq -s -r '[.[] | select(.path == "/flaky" and .body.status == "resolved")][0] |
	"\(.signature_ok) \(.body.rule)"' "$WORK/hits")" "the resolved notification"

# The secret: not in the log, not in the API.
if grep -q "$SECRET" "$SERVER_LOG"; then fail "the webhook's secret is in the log"; fi
api_ok 200 GET /api/v1/alerts
case $BODY in *"$SECRET"*) fail "the webhook's secret is in /api/v1/alerts" ;; esac
grep -q '"msg":"alert.sent".*"receiver":"flaky".*"attempts":3' "$SERVER_LOG" ||
	fail "no alert.sent log line with attempts 3 (a number)"
