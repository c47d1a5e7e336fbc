#!/bin/sh
# Runbook files: each is validated at load, a bad one is reported by file and
# field while the others load, SIGHUP reloads them; starting a run checks the
# role, the confirmation and every parameter (errors name it) and changes
# nothing when it refuses.
. "$(dirname "$0")/lib.sh"

runbook hello '{
  "name": "hello", "description": "says hello", "role": "operator",
  "params": [
    { "name": "who", "type": "string", "required": true, "help": "whom to greet" },
    { "name": "times", "type": "int", "default": 1 },
    { "name": "loud", "type": "bool", "default": false },
    { "name": "wait", "type": "duration", "default": "1s" },
    { "name": "colour", "type": "enum", "choices": ["red", "blue"], "default": "red" }
  ],
  "steps": [ { "name": "greet", "exec": ["sh", "-c", "echo hello \"$OUTPOST_PARAM_WHO\" x\"$OUTPOST_PARAM_TIMES\" \"$OUTPOST_PARAM_COLOUR\""], "timeout": "5s" } ]
}'
runbook destroy '{
  "name": "destroy", "description": "a destructive one", "role": "admin", "confirm": true,
  "params": [ { "name": "worker", "type": "worker", "required": true } ],
  "steps": [ { "action": "worker.cordon", "args": { "worker": "{{worker}}" } } ]
}'
# A parameter of a type there is not; JSON that does not parse; a name that
# is not the file's; a step that uses a parameter there is not.
runbook badtype '{ "name": "badtype", "description": "x", "role": "operator",
  "params": [ { "name": "p", "type": "colour" } ], "steps": [ { "exec": ["true"] } ] }'
runbook broken '{ "name": "broken", '
runbook misnamed '{ "name": "other", "description": "x", "role": "operator", "steps": [ { "exec": ["true"] } ] }'
runbook fails '{ "name": "fails", "description": "its second step fails", "role": "operator",
  "steps": [ { "name": "first", "exec": ["echo", "one"] }, { "name": "second", "exec": ["sh", "-c", "echo two; exit 3"] },
             { "name": "never", "exec": ["echo", "three"] } ] }'
runbook badref '{ "name": "badref", "description": "x", "role": "operator",
  "steps": [ { "action": "worker.cordon", "args": { "worker": "{{nobody}}" } } ] }'
start_server

api_ok 200 GET /api/v1/runbooks
assert_eq "destroy fails hello" "$(jbody '[.items[].name] | sort | join(" ")')" "the runbooks that loaded"
assert_eq 4 "$(jbody '.errors | length')" "the runbook files reported bad"
for f in badtype broken misnamed badref; do
	msg=$(jbody --arg f "$f.json" '.errors[] | select(.file | endswith($f)) | .message')
	[ -n "$msg" ] || fail "no error for $f.json: $BODY"
done
assert_match 'params\[0\]\.type' "$(jbody '.errors[] | select(.file | endswith("badtype.json")) | .message + " " + (.field // "")')" \
	"the bad type's error names its field"
assert_match 'nobody' "$(jbody '.errors[] | select(.file | endswith("badref.json")) | .message')" \
	"the bad reference's error names the parameter"
grep -q 'badtype.json' "$SERVER_LOG" || fail "the log does not name badtype.json"

api_ok 200 GET /api/v1/runbooks/hello
assert_eq "who times loud wait colour" "$(jbody '[.params[].name] | join(" ")')" "hello's parameters"
assert_eq "whom to greet" "$(jbody '.params[0].help')" "a parameter's help"
api GET /api/v1/runbooks/nosuch
assert_error 404 not_found name

# The parameters: each refusal names the parameter, and starts no run.
bad() {	# BODY CODE FIELD
	api POST /api/v1/runbooks/hello/runs "$1"
	assert_error 422 "$2" "$3" "POST hello/runs $1"
}
api POST /api/v1/runbooks/hello/runs '{}'
assert_error 422 invalid_argument params.who
bad '{"params":{"who":"x","times":"many"}}' invalid_argument params.times
bad '{"params":{"who":"x","times":1.5}}' invalid_argument params.times
bad '{"params":{"who":"x","loud":"maybe"}}' invalid_argument params.loud
bad '{"params":{"who":"x","wait":"soon"}}' invalid_argument params.wait
bad '{"params":{"who":"x","colour":"green"}}' invalid_argument params.colour
bad '{"params":{"who":"x","shoe":1}}' unknown_field params.shoe
api POST /api/v1/runbooks/hello/runs '{"params":{"who":"x"},"when":"now"}'
assert_error 400 unknown_field when
api POST /api/v1/runbooks/hello/runs '{"params":'
assert_status 400
api POST /api/v1/runbooks/nosuch/runs '{}'
assert_error 404 not_found name
api_ok 200 GET /api/v1/runs
assert_eq 0 "$(jbody '.items | length')" "runs after the refusals"

# The role: a viewer runs nothing; an operator runs operator runbooks only.
create_token watcher viewer
viewer=$NEW_TOKEN
create_token op operator
op=$NEW_TOKEN
TOKEN=$viewer api POST /api/v1/runbooks/hello/runs '{"params":{"who":"v"}}'
assert_status 403
start_agent w1 --capacity cpu=2,memory_mb=512,slots=2
wait_online w1
TOKEN=$op api POST /api/v1/runbooks/destroy/runs '{"params":{"worker":"w1"},"confirm":true}'
assert_status 403
# The confirmation: refused without it, even for the admin.
api POST /api/v1/runbooks/destroy/runs '{"params":{"worker":"w1"}}'
assert_error 409 confirmation_required confirm
api POST /api/v1/runbooks/destroy/runs '{"params":{"worker":"nobody"},"confirm":true}'
assert_error 422 invalid_argument params.worker
api_ok 200 GET /api/v1/workers/w1
assert_eq ready "$(jbody .state)" "w1 after the refused runs"
api_ok 200 GET /api/v1/runs
assert_eq 0 "$(jbody '.items | length')" "runs after the refusals by role and confirmation"

TOKEN=$op start_run hello '{"params":{"who":"ana","times":"3","colour":"blue"}}'
assert_eq hello "$(jbody .runbook)" "the 202's runbook"
[ "$(jbody .seq)" -gt 0 ] || fail "the 202 carries no seq: $BODY"
[ -n "$(header location)" ] || fail "the 202 carries no Location"
wait_run "$RUN_ID" succeeded
assert_eq "hello ana x3 blue" "$(run_output "$RUN_ID" | tr -d '\n')" "hello's output"
assert_eq op "$(jbody .actor)" "who ran it"
assert_eq '{"colour":"blue","loud":false,"times":3,"wait":"1s","who":"ana"}' \
	"$(jbody -S -c .params)" "the parameters stored, with their defaults"
start_run destroy '{"params":{"worker":"w1"},"confirm":true}'
wait_run "$RUN_ID" succeeded
api_ok 200 GET /api/v1/workers/w1
assert_eq cordoned "$(jbody .state)" "w1 after destroy"

# SIGHUP: a mended file loads, a new one appears, a removed one goes.
runbook badtype '{ "name": "badtype", "description": "mended", "role": "operator",
  "steps": [ { "exec": ["true"] } ] }'
rm "$WORK/runbooks/broken.json" "$WORK/runbooks/misnamed.json" "$WORK/runbooks/badref.json" \
	"$WORK/runbooks/destroy.json"
kill -HUP "$SERVER_PID"
_loaded() { api GET /api/v1/runbooks; [ "$(jbody '[.items[].name] | sort | join(" ")')" = "badtype fails hello" ]; }
wait_for 5 "the runbooks reloaded" _loaded
assert_eq 0 "$(jbody '.errors | length')" "errors after the reload"
# The runs of a runbook that went are still there.
api_ok 200 GET "/api/v1/runs?runbook=destroy"
assert_eq 1 "$(jbody '.items | length')" "destroy's runs after it went"
api GET "/api/v1/runs?status=sideways"
assert_error 400 invalid_argument status

# The command line: list, show, run (following its output; the exit says
# how it ended), and the runs.
cli_as_admin
cli 0 runbook list
assert_match 'hello +operator' "$OUT" "runbook list"
assert_contains "says hello" "$OUT" "runbook list"
cli 0 runbook show hello
assert_contains "whom to greet" "$OUT" "runbook show"
assert_match 'colour.*red, blue|colour.*red.*blue' "$OUT" "runbook show lists the choices"
cli 0 runbook run hello -p who=cli -p times=2
assert_contains "hello cli x2 red" "$OUT" "runbook run's output"
cli 1 runbook run hello -p who=cli -p times=two
assert_contains "params.times" "$ERR" "runbook run with a bad parameter"
cli 2 runbook run hello -p who
assert_contains "-p takes NAME=VALUE, not 'who'" "$ERR" "-p without a value is named"
cli 1 runbook run fails
assert_contains "two" "$OUT" "the failing step's output"
assert_contains "==> step 2: second <==" "$OUT" "the failing step's header"
assert_match 'exit.*3|3' "$ERR$OUT" "the failing step's exit"
fails_run=$(TOKEN=$SERVER_TOKEN api GET "/api/v1/runs?runbook=fails"; jbody '.items[0].id')
api_ok 200 GET "/api/v1/runs/$fails_run"
assert_eq "succeeded failed skipped" "$(jbody '[.steps[].status] | join(" ")')" "the steps of fails"
assert_eq 3 "$(jbody '.steps[1].exit')" "the second step's exit"
# A confirm runbook is not run from a script without --yes.
runbook careful '{ "name": "careful", "description": "x", "role": "operator", "confirm": true,
  "steps": [ { "exec": ["echo", "careful ran"] } ] }'
kill -HUP "$SERVER_PID"
wait_for 5 "careful loaded" api_ok_quiet GET /api/v1/runbooks/careful
cli 2 runbook run careful </dev/null
assert_contains "--yes" "$ERR" "why careful was not run"
cli 0 runbook run careful --yes
assert_contains "careful ran" "$OUT" "careful's output with --yes"
cli 0 runbook run hello -p who=dry --dry-run
assert_contains 'would run ["sh","-c","echo hello' "$OUT" "a dry run of an exec step says what would run"
case $OUT in *"hello dry"*) fail "a dry run ran its program: $OUT" ;; esac
cli 0 run list
assert_match 'careful +succeeded' "$OUT" "run list"
cli 0 run list --status failed
assert_match 'fails +failed' "$OUT" "run list --status failed"
[ "$(printf '%s\n' "$OUT" | grep -c succeeded)" = 0 ] || fail "run list --status failed shows others: $OUT"
cli 2 run list --status bogus
assert_contains "--status: unknown value 'bogus' (valid: running, succeeded, failed, cancelled, interrupted)" \
	"$ERR" "run list with an unknown status"
cli 0 run get "$fails_run"
assert_contains "second" "$OUT" "run get shows the steps"
cli 1 run cancel "$fails_run"
assert_contains "run $fails_run has already ended" "$ERR" "cancel of an ended run says why"
cli 1 run get 99999
assert_contains "no run with id 99999 (field: id)" "$ERR" "an unknown run"

# The runbooks Outpost ships and the example alert rules all load, every one.
stop_server
start_server --state-dir "$WORK/shipped" --runbook-dir "$top_srcdir/runbooks" \
	--alerts-file "$top_srcdir/packaging/alerts/alerts.json.example"
api_ok 200 GET /api/v1/runbooks
shipped=$(cd "$top_srcdir/runbooks" && ls -- *.json | sed 's/\.json$//' | sort | paste -sd' ' -)
assert_eq "$shipped" "$(jbody '[.items[].name] | sort | join(" ")')" "the shipped runbooks, loaded"
! grep -q '"runbook.load"' "$SERVER_LOG" || fail "a shipped runbook was refused: $(grep runbook.load "$SERVER_LOG")"
api_ok 200 GET /api/v1/alerts
assert_eq 6 "$(jbody '.items | length')" "the example alert rules, loaded"
exit 0
