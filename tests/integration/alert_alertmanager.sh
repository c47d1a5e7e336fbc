#!/bin/sh
# Alert notifications to a real Prometheus Alertmanager (Debian's
# prometheus-alertmanager, on an ephemeral loopback port with its own
# storage): a rule that fires arrives there as an active alert, with its
# labels and annotations; it is sent again while it fires (its endsAt moves
# on), and once the rule resolves, the alert does too.
. "$(dirname "$0")/lib.sh"

AM=$(command -v prometheus-alertmanager || command -v alertmanager) || {
	echo "SKIP: $TEST_NAME needs prometheus-alertmanager" >&2
	exit 77
}

mkdir -p "$WORK/am"
cat >"$WORK/am/am.yml" <<'YML'
route:
  receiver: nobody
receivers:
  - name: nobody
YML
"$AM" --config.file="$WORK/am/am.yml" --storage.path="$WORK/am/data" \
	--web.listen-address=127.0.0.1:0 --cluster.listen-address= >"$WORK/am/log" 2>&1 &
track_pid $!
_am_listening() { grep -q 'msg="Listening on"' "$WORK/am/log"; }
wait_for 20 "Alertmanager to listen" _am_listening
AM_URL=http://$(sed -n 's/.*msg="Listening on" address=\([0-9.:]*\).*/\1/p' "$WORK/am/log" | head -n 1)
_am_ready() { curl -sf --max-time 2 "$AM_URL/-/ready" >/dev/null; }
wait_for 20 "Alertmanager to be ready" _am_ready

# No worker: free slots 0, under 1: the rule fires at the first tick.
cat >"$WORK/alerts.json" <<JSON
{ "rules": [
  { "name": "no-room", "description": "no free slot", "cooldown": "1h",
    "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 1 } } ],
  "receivers": [ { "name": "am", "type": "alertmanager", "url": "$AM_URL/", "resend": "2s" } ] }
JSON
start_server

am_alert() {	# the no-room alert Alertmanager holds, or nothing
	curl -sf --max-time 5 "$AM_URL/api/v2/alerts" | jq -c '.[] | select(.labels.alertname == "no-room")'
}
_am_has() { [ -n "$(am_alert)" ]; }
wait_for 20 "the alert at Alertmanager" _am_has
a=$(am_alert)
assert_eq "active outpost free_capacity_below" \
	"$(printf '%s' "$a" | jq -r '"\(.status.state) \(.labels.service) \(.labels.condition)"')" \
	"the alert's state and labels"
assert_contains "free slots on ready workers is 0" "$(printf '%s' "$a" | jq -r .annotations.summary)" \
	"its summary"
assert_eq "no free slot" "$(printf '%s' "$a" | jq -r .annotations.description)" "its description"
assert_eq "$SERVER_URL" "$(printf '%s' "$a" | jq -r .generatorURL)" "its generatorURL"
api_ok 200 GET /api/v1/alerts
assert_eq "$(jbody '.items[0].since | sub("\\.[0-9]+Z$"; "") ')" \
	"$(printf '%s' "$a" | jq -r '.startsAt | sub("\\.[0-9]+Z$"; "") ')" "startsAt: when it began firing"
# While it fires it is sent again (resend 2s): endsAt moves on.
ends0=$(printf '%s' "$a" | jq -r .endsAt)
_ends_moved() { [ "$(am_alert | jq -r .endsAt)" != "$ends0" ]; }
wait_for 15 "a re-send (endsAt past $ends0)" _ends_moved

# A worker with slots: the rule resolves, and so does the alert.
start_agent w1 --capacity cpu=1,memory_mb=256,slots=2
wait_online w1
# Resolved: Alertmanager answers, and holds no such active alert (it leaves resolved ones out).
_am_resolved() {
	local all
	all=$(curl -sf --max-time 5 "$AM_URL/api/v2/alerts") &&
		[ "$(printf '%s' "$all" | jq '[.[] | select(.labels.alertname == "no-room")] | length')" = 0 ]
}
wait_for 20 "the alert to resolve at Alertmanager" _am_resolved
api_ok 200 GET /metrics
sent=$(printf '%s\n' "$BODY" | sed -n 's/^outpost_alert_notifications_total{receiver="am",result="sent"} //p')
[ "${sent:-0}" -ge 3 ] || fail "notifications sent to am: ${sent:-none} (fired, re-sent, resolved)"
assert_contains 'outpost_alert_notifications_total{receiver="am",result="failed"} 0' "$BODY" "am failed"
