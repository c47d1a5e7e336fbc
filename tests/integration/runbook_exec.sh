#!/bin/sh
# exec steps: the program gets the parameters, the server's URL and a token
# of the run's role that stops working when the run ends; its output streams
# as runbook.output events and is bounded; a timeout, a cancel and a server
# that dies under it each end its whole process group; a restart marks the
# run interrupted. /metrics: a gauge of runs running, a counter of ended ones.
. "$(dirname "$0")/lib.sh"

P=$WORK/progs
mkdir -p "$P"
# Tells what it got, calls the API with its token, and keeps the token.
cat >"$P/probe.sh" <<'SH'
#!/bin/sh
echo "who=$OUTPOST_PARAM_WHO count=$OUTPOST_PARAM_COUNT dry=$OUTPOST_DRY_RUN run=$OUTPOST_RUN_ID book=$OUTPOST_RUNBOOK"
printf '%s\n' "$OUTPOST_TOKEN" >"$1/token"
printf '%s\n' "$OUTPOST_SERVER" >"$1/server"
echo "workers=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OUTPOST_TOKEN" "$OUTPOST_SERVER/api/v1/workers")"
echo "tokens=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $OUTPOST_TOKEN" -X POST \
	-H 'Content-Type: application/json' --data '{"name":"x","role":"admin"}' "$OUTPOST_SERVER/api/v1/tokens")"
SH
# Leaves a grandchild behind, in its group, then sleeps.
cat >"$P/linger.sh" <<'SH'
#!/bin/sh
sleep 300 &
echo $! >"$1/grandchild"
echo $$ >"$1/child"
echo started
exec sleep 301
SH
runbook probe "{ \"name\": \"probe\", \"description\": \"x\", \"role\": \"operator\",
  \"params\": [ { \"name\": \"who\", \"type\": \"string\", \"required\": true },
                { \"name\": \"count\", \"type\": \"int\", \"default\": 7 } ],
  \"steps\": [ { \"exec\": [\"sh\", \"$P/probe.sh\", \"$WORK\"] } ] }"
runbook chatty "{ \"name\": \"chatty\", \"description\": \"x\", \"role\": \"operator\",
  \"steps\": [ { \"exec\": [\"sh\", \"-c\", \"echo first; sleep 0.5; head -c 300000 /dev/zero | tr '\\\\\\\\0' y; echo; echo last\"] } ] }"
runbook slow "{ \"name\": \"slow\", \"description\": \"x\", \"role\": \"operator\",
  \"steps\": [ { \"exec\": [\"sh\", \"$P/linger.sh\", \"$WORK\"], \"timeout\": \"1s\" },
               { \"exec\": [\"echo\", \"not reached\"] } ] }"
runbook long "{ \"name\": \"long\", \"description\": \"x\", \"role\": \"operator\",
  \"steps\": [ { \"exec\": [\"sh\", \"$P/linger.sh\", \"$WORK\"], \"timeout\": \"10m\" } ] }"
start_server
create_token op operator
op=$NEW_TOKEN

# Its parameters and token; the token is an operator's, not more.
get_last_seq
before=$LAST_SEQ
TOKEN=$op start_run probe '{"params":{"who":"ana"}}'
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
assert_contains "who=ana count=7 dry=0 run=$RUN_ID book=probe" "$out" "what the program got"
assert_contains "workers=200" "$out" "the run's token reads the site"
assert_contains "tokens=403" "$out" "the run's token is an operator's"
assert_eq "$SERVER_URL" "$(cat "$WORK/server")" "OUTPOST_SERVER"
run_token=$(cat "$WORK/token")
[ -n "$run_token" ] || fail "the program got no OUTPOST_TOKEN"
TOKEN=$run_token api GET /api/v1/workers
assert_status 401 "the run's token after the run"
# Its output came as runbook.output events, after the run's start.
api_ok 200 "GET" "/api/v1/events?since=$before&types=runbook.output,runbook.run&limit=1000"
assert_contains "who=ana" "$(jbody -j '.items[] | select(.type == "runbook.output") | .data.text')" \
	"the runbook.output events"
assert_eq "running succeeded" "$(jbody '[.items[] | select(.type == "runbook.run") | .data.status] | join(" ")')" \
	"the runbook.run events"
# A dry run starts no program, and makes no token: it says what would run.
rm -f "$WORK/token"
TOKEN=$op start_run probe '{"params":{"who":"ben","count":2},"dry_run":true}'
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
assert_contains "would run [\"sh\",\"$P/probe.sh\",\"$WORK\"]" "$out" "a dry run's exec step"
assert_contains "OUTPOST_PARAM_WHO, OUTPOST_PARAM_COUNT" "$out" "the variables it would get"
case $out in *who=ben*) fail "a dry run ran its program: $out" ;; esac
[ ! -e "$WORK/token" ] || fail "a dry run ran probe.sh, which wrote $WORK/token"
api_ok 200 "GET" "/api/v1/runs/$RUN_ID"
assert_eq true "$(jbody .dry_run)" "the run says it was dry"
api_ok 200 GET /api/v1/tokens
assert_eq "" "$(jbody --arg n "run-$RUN_ID" '.items[] | select(.name == $n) | .name')" \
	"a dry run's token"

# Output is bounded: the first 64 KiB are kept, the rest dropped, the end said.
start_run chatty '{}'
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
n=${#out}
[ "$n" -le 70000 ] || fail "chatty kept $n bytes of output"
[ "$n" -ge 60000 ] || fail "chatty kept only $n bytes of output"
assert_contains "output cut at 64 KiB" "$out" "chatty's output says it was cut"
case $out in first*) ;; *) fail "chatty's output does not begin with its first line" ;; esac

# A timeout ends the whole group: the program and what it left running.
start_run slow '{}'
wait_run "$RUN_ID" failed
api_ok 200 "GET" "/api/v1/runs/$RUN_ID"
assert_eq "failed skipped" "$(jbody '[.steps[].status] | join(" ")')" "slow's steps"
assert_contains "timed out after 1s" "$(jbody -j '.steps[0].output')" "slow's output"
for f in child grandchild; do
	pid=$(cat "$WORK/$f")
	wait_for 5 "slow's $f $pid to be gone" sh -c "! kill -0 $pid 2>/dev/null"
done

# A cancel kills it too; a run that ended cannot be cancelled.
rm -f "$WORK/child" "$WORK/grandchild"
TOKEN=$op start_run long '{}'
wait_for 5 "long's program to start" test -s "$WORK/grandchild"
ended_run=$RUN_ID
# While it runs, the gauge says so and no ended run of it is counted.
TOKEN= api_ok 200 GET /metrics
assert_contains 'outpost_runbook_runs_running{runbook="long"} 1' "$BODY" "/metrics while long runs"
assert_contains 'outpost_runbook_runs_total{runbook="long",status="cancelled"} 0' "$BODY" \
	"/metrics: long's ended runs before its cancel"
if printf '%s\n' "$BODY" | grep -q 'outpost_runbook_runs_total{[^}]*status="running"'; then
	fail "/metrics counts running runs in outpost_runbook_runs_total, a counter"
fi
create_token watcher viewer
TOKEN=$NEW_TOKEN api POST "/api/v1/runs/$RUN_ID/cancel"
assert_status 403 "a viewer's cancel"
TOKEN=$op api_ok 200 POST "/api/v1/runs/$RUN_ID/cancel"
wait_run "$RUN_ID" cancelled
for f in child grandchild; do
	pid=$(cat "$WORK/$f")
	wait_for 5 "long's $f $pid to be gone after the cancel" sh -c "! kill -0 $pid 2>/dev/null"
done
api POST "/api/v1/runs/$ended_run/cancel"
assert_error 409 invalid_transition id
api POST /api/v1/runs/99999/cancel
assert_status 404

# kill -9 of the server: the restart marks the run interrupted and ends its program.
rm -f "$WORK/child" "$WORK/grandchild"
start_run long '{}'
wait_for 5 "long's program to start again" test -s "$WORK/grandchild"
crashed=$RUN_ID
run_token=$(cat "$WORK/token")
crash_server
start_server --state-dir "$SERVER_DIR"
api_ok 200 GET "/api/v1/runs/$crashed"
assert_eq interrupted "$(jbody .status)" "the run the crash cut short"
assert_eq interrupted "$(jbody '.steps[0].status')" "its step"
for f in child grandchild; do
	pid=$(cat "$WORK/$f")
	wait_for 5 "the crashed run's $f $pid to be gone" sh -c "! kill -0 $pid 2>/dev/null"
done

# SIGTERM: the run in flight ends interrupted, its program with it.
rm -f "$WORK/child" "$WORK/grandchild"
start_run long '{}'
wait_for 5 "long's program to start a third time" test -s "$WORK/grandchild"
stopped=$RUN_ID
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit on SIGTERM during a run"
for f in child grandchild; do
	pid=$(cat "$WORK/$f")
	wait_for 5 "the stopped run's $f $pid to be gone" sh -c "! kill -0 $pid 2>/dev/null"
done
start_server --state-dir "$SERVER_DIR"
api_ok 200 GET "/api/v1/runs/$stopped"
assert_eq interrupted "$(jbody .status)" "the run SIGTERM cut short"

# The metrics count every ended run by runbook and status (0 included), and time them.
api_ok 200 GET /metrics
m=$BODY
for want in 'outpost_runbook_runs_total{runbook="probe",status="succeeded"} 2' \
	'outpost_runbook_runs_total{runbook="slow",status="failed"} 1' \
	'outpost_runbook_runs_total{runbook="long",status="cancelled"} 1' \
	'outpost_runbook_runs_total{runbook="long",status="interrupted"} 2' \
	'outpost_runbook_runs_running{runbook="long"} 0' \
	'outpost_runbook_runs_total{runbook="probe",status="failed"} 0'; do
	assert_contains "$want" "$m" "/metrics"
done
assert_match 'outpost_runbook_run_duration_seconds_count [0-9]' "$m" "/metrics run durations"
exit 0
