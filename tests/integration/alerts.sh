#!/bin/sh
# Alert rules: a worker killed with kill -9 is lost; the rules over "a worker
# lost" fire (alert.fired, outpost_alerts_firing 1) and start their runbooks
# by themselves, at most once per cooldown while the condition holds: a note
# every 4 s, and the shipped replace-lost-worker, in a dry run first, then
# for real, which terminates the worker, so the rules resolve. A bad rules
# file is refused whole, at start (exit 2) and on SIGHUP (the old rules stay).
. "$(dirname "$0")/lib.sh"

mkdir -p "$WORK/runbooks"
cp "$top_srcdir/runbooks/replace-lost-worker.json" "$WORK/runbooks/"
runbook note "{ \"name\": \"note\", \"description\": \"x\", \"role\": \"operator\",
  \"params\": [ { \"name\": \"worker\", \"type\": \"string\", \"required\": true } ],
  \"steps\": [ { \"exec\": [\"sh\", \"-c\", \"echo \\\"\$OUTPOST_PARAM_WORKER\\\" >>$WORK/notes\"] } ] }"
runbook bare '{ "name": "bare", "description": "takes nothing", "role": "operator", "steps": [ { "exec": ["true"] } ] }'
rules() {	# the replace rule's dry_run
	cat >"$WORK/alerts.json" <<JSON
{ "rules": [
  { "name": "lost-note", "description": "a worker is lost", "condition": { "type": "worker_lost" },
    "runbook": "note", "params": { "worker": "{{worker}}" }, "cooldown": "4s" },
  { "name": "lost-replace", "condition": { "type": "worker_lost" },
    "runbook": "replace-lost-worker", "params": { "worker": "{{worker}}" }, "dry_run": $1,
    "cooldown": "1h" },
  { "name": "lost-bare", "condition": { "type": "worker_lost" }, "runbook": "bare", "cooldown": "1h" },
  { "name": "stuck", "condition": { "type": "instances_stuck", "state": "instantiating", "for": "5m" } },
  { "name": "roomy", "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 1 } },
  { "name": "cramped", "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 100 } }
] }
JSON
}
rules true

# A file that does not validate: outpostd does not start, and says where.
printf '{ "rules": [ { "name": "x", "condition": { "type": "worker_gone" } } ] }\n' >"$WORK/bad.json"
"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/bad-state" --alerts-file "$WORK/bad.json" \
	--runbook-dir "$WORK/runbooks" --template-dir "$WORK/templates" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "outpostd's exit with a bad alerts file"
assert_contains "rules[0].condition.type" "$(cat "$WORK/bad.out")" "the bad alerts file's error"

# Lost after 4 s: an agent a busy machine holds up for 2 s must not count as lost.
OUTPOST_WORKER_OFFLINE_AFTER=2s OUTPOST_WORKER_LOST_AFTER=4s start_server
start_agent w1 --capacity cpu=2,memory_mb=1024,slots=2
start_agent w2 --capacity cpu=2,memory_mb=1024,slots=2
wait_online w1 w2
api_ok 200 GET /api/v1/alerts
assert_eq "lost-note lost-replace lost-bare stuck roomy cramped" "$(jbody '[.items[].rule] | join(" ")')" \
	"the rules"
# Free slots: 4 of the two workers, so "under 100" holds and "under 1" does not.
wait_for 5 "the capacity rules" sh -c "curl -s $SERVER_URL/metrics | grep -q 'firing{rule=\"cramped\"} 1'"
api_ok 200 GET /api/v1/alerts
assert_eq "false false false false false true" "$(jbody '[.items[].firing] | join(" ")')" \
	"the rules before a loss"
assert_contains "free slots on ready workers is 4, under 100" "$(jbody '.items[5].message')" \
	"cramped's message"
api_ok 200 GET /metrics
assert_contains 'outpost_alerts_firing{rule="lost-note"} 0' "$BODY" "/metrics before a loss"
# Ticks of the rules come and go with no worker lost, and none of its rules fires: w2
# cordoned and uncordoned changes what cramped says, so two ticks have run since.
api_ok 200 POST /api/v1/workers/w2/cordon
wait_alert_message cramped "free slots on ready workers is 2,"
api_ok 200 POST /api/v1/workers/w2/uncordon
wait_alert_message cramped "free slots on ready workers is 4,"
api_ok 200 GET "/api/v1/events?types=alert.fired&limit=1000"
assert_eq "cramped" "$(jbody -r '[.items[].data.rule] | unique | join(" ")')" \
	"the rules that fired with no worker lost"
api_ok 200 GET /api/v1/runs
assert_eq 0 "$(jbody '.items | length')" "runs started with no worker lost"
[ ! -e "$WORK/notes" ] || fail "a rule fired with no worker lost"

kill_agent w1
wait_for 15 "w1 to be lost" _worker_is w1 lost
wait_for 10 "the note of w1's loss" test -s "$WORK/notes"
api_ok 200 GET /metrics
assert_contains 'outpost_alerts_firing{rule="lost-note"} 1' "$BODY" "/metrics after the loss"
assert_contains 'outpost_alerts_firing{rule="stuck"} 0' "$BODY" "/metrics of a rule that holds not"
api_ok 200 GET /api/v1/alerts
assert_eq true "$(jbody '.items[0].firing')" "lost-note firing"
assert_contains w1 "$(jbody '.items[0].message')" "lost-note's message"
cli_as_admin
cli 0 alert list
assert_contains "lost-note" "$OUT" "outpost alert list"
assert_eq "yes" "$(printf '%s\n' "$OUT" | awk '$1 == "lost-note" { print $3 }')" \
	"lost-note firing in outpost alert list"
assert_eq "no" "$(printf '%s\n' "$OUT" | awk '$1 == "roomy" { print $3 }')" \
	"roomy not firing in outpost alert list"
# The dry replace ran once, said what it would do, and did nothing.
_one_replace() { api GET "/api/v1/runs?runbook=replace-lost-worker"; [ "$(jbody '.items | length')" = 1 ] &&
	[ "$(jbody '.items[0].status')" = succeeded ]; }
wait_for 10 "the dry replace-lost-worker run" _one_replace
assert_eq "true alert:lost-replace {\"worker\":\"w1\"}" \
	"$(jbody '.items[0] | "\(.dry_run) \(.actor) \(.params | tojson)"')" "the run the alert started"
assert_contains "would terminate worker w1 with force" "$(jbody -j '.items[0].steps[].output')" "its output"
api_ok 200 GET /api/v1/workers/w1
assert_eq ready "$(jbody .state)" "w1 after the dry replace"

# While w1 stays lost the note comes again once per cooldown, no sooner.
wait_for 15 "a third note" sh -c "[ \$(wc -l <$WORK/notes) -ge 3 ]"
api_ok 200 "GET" "/api/v1/runs?runbook=note"
assert_eq "w1 w1 w1" "$(jbody '[.items[].params.worker] | .[0:3] | join(" ")')" "the notes' worker"
gaps=$(jbody '[.items[].created_at | sub("\\.[0-9]+Z$"; "Z") | fromdate] | reverse |
	[range(1; length) as $i | .[$i] - .[$i - 1]] | map(tostring) | join(" ")')
for g in $gaps; do
	[ "$g" -ge 3 ] || fail "two notes $g s apart with a cooldown of 4 s (gaps: $gaps)"
done
api_ok 200 GET "/api/v1/runs?runbook=replace-lost-worker"
assert_eq 1 "$(jbody '.items | length')" "replace-lost-worker runs within its cooldown of 1h"
api_ok 200 GET "/api/v1/runs?runbook=bare"
assert_eq "1 succeeded" "$(jbody '"\(.items | length) \(.items[0].status)"')" "the run of a rule with no params"
get_last_seq
api_ok 200 "GET" "/api/v1/events?types=alert.*&limit=1000"
assert_eq 1 "$(jbody '[.items[] | select(.data.rule == "lost-replace")] | length')" \
	"alert.fired events of lost-replace"

# A bad file on SIGHUP is refused whole: the rules stay as they were.
cp "$WORK/alerts.json" "$WORK/alerts.good"
printf '{ "rules": [ { "name": "x" ' >"$WORK/alerts.json"
kill -HUP "$SERVER_PID"
wait_for 5 "the refusal logged" grep -q 'kept the alert rules' "$SERVER_LOG"
api_ok 200 GET /api/v1/alerts
assert_eq 6 "$(jbody '.items | length')" "the rules after a bad reload"

# For real: the shipped runbook cordons w1 and terminates it, and the rules resolve.
rules false
sed -i 's/"lost-replace"/"lost-replace-now"/' "$WORK/alerts.json"
kill -HUP "$SERVER_PID"
wait_for 15 "w1 terminated by the alert's runbook" sh -c \
	"curl -s -H 'Authorization: Bearer $SERVER_TOKEN' $SERVER_URL/api/v1/workers/w1 | jq -e '.state == \"terminated\"' >/dev/null"
api_ok 200 GET "/api/v1/runs?runbook=replace-lost-worker"
assert_eq "false succeeded alert:lost-replace-now" \
	"$(jbody '.items[0] | "\(.dry_run) \(.status) \(.actor)"')" "the real run"
_resolved() { api GET "/api/v1/events?types=alert.resolved&limit=1000"; jbody '[.items[].data.rule] | sort | join(" ")' | grep -q 'lost-note lost-replace-now'; }
wait_for 10 "the lost rules resolved" _resolved
api_ok 200 GET /metrics
assert_contains 'outpost_alerts_firing{rule="lost-note"} 0' "$BODY" "/metrics after the replace"
api_ok 200 GET /api/v1/workers/w2
assert_eq ready "$(jbody .state)" "w2, never lost"
exit 0
