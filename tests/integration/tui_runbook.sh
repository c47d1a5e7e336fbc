#!/bin/sh
# A runbook run from outpost-top's form: its parameters typed in, the run
# started, its output shown live as runbook.output events come; a dry run
# from the same form; a runbook with confirm asks before it runs for real,
# and an n runs nothing.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tui_lib.sh"

P=$WORK/progs
mkdir -p "$P"
# Says what it got, waits for a file the test makes, then says more: output
# that comes while the run is on screen.
cat >"$P/greet.sh" <<'SH'
#!/bin/sh
echo "hello $OUTPOST_PARAM_WHO times=$OUTPOST_PARAM_TIMES dry=$OUTPOST_DRY_RUN"
i=0
while [ ! -e "$1/go" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
echo "second line after the go"
SH
runbook greet "{ \"name\": \"greet\", \"description\": \"greets someone\", \"role\": \"operator\",
  \"params\": [ { \"name\": \"who\", \"type\": \"string\", \"required\": true },
                { \"name\": \"times\", \"type\": \"int\", \"default\": 2 } ],
  \"steps\": [ { \"exec\": [\"sh\", \"$P/greet.sh\", \"$WORK\"] } ] }"
runbook wipe "{ \"name\": \"wipe\", \"description\": \"pretends to wipe\", \"role\": \"operator\",
  \"confirm\": true,
  \"steps\": [ { \"exec\": [\"echo\", \"wiped\"] } ] }"
start_server
runs_of() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/runs?runbook=$1"
	jbody '.items | length'
}

top_start 80 24
wait_screen 10 "live" "live, seq"
keys 5
wait_screen 5 "the runbooks" "^greet +operator +no +who,times +greets someone"
wait_screen 5 "the confirm runbook" "^wipe +operator +yes"
keys g r
wait_screen 5 "the form" "Run runbook greet"
wait_screen 5 "the default of times" "times +int +\\[2\\]"
# who: Enter opens the prompt, the value is typed.
keys Enter
wait_screen 5 "the value prompt" "who \\(string\\):"
keys a n a Enter
wait_screen 5 "who filled in" "who +string +\\[ana\\] required"
# times: 3; then down past dry run to Run.
keys j Enter C-u 3 Enter
wait_screen 5 "times filled in" "times +int +\\[3\\]"
keys j j Enter
wait_screen 10 "the run's page" "^run 1 of greet: running"
wait_screen 10 "its first output live" "hello ana times=3 dry=0"
screen | grep -q "second line" && fail "the second line came before the go"
touch "$WORK/go"
wait_screen 10 "its second output live" "second line after the go"
wait_screen 10 "the end of the run" "=== the run succeeded ==="
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/runs/1
assert_eq '{"times":3,"who":"ana"}' "$(jbody -c -S .params)" "the run's parameters"
assert_eq admin "$(jbody .actor)" "who ran it"
keys Escape

# A dry run: d in the form.
rm -f "$WORK/go"
touch "$WORK/go"
keys g r
wait_screen 5 "the form again" "Run runbook greet"
keys Enter b e n Enter d
wait_screen 5 "dry run ticked" "\\[x\\] dry run"
keys j j j Enter
wait_screen 10 "the dry run's page" "^run 2 of greet: .*\\(dry run\\)"
wait_screen 10 "the dry run's output" "would run \\[\"sh\",\".*greet.sh\""
screen | grep -q "hello ben" && fail "the dry run ran greet.sh"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/runs/2
assert_eq true "$(jbody .dry_run)" "run 2 is a dry run"
keys Escape

# A required parameter left empty: the server's reason, the form stays.
keys g r j j j Enter
wait_screen 5 "the refusal names the field" "run greet: .*\\(field params.who\\)"
wait_screen 5 "the form still open" "Run runbook greet"
keys Escape

# confirm: true asks; n runs nothing; y runs it.
keys j r
wait_screen 5 "wipe's form" "Run runbook wipe"
wait_screen 5 "it says it will ask" "destructive: asks to confirm"
keys j Enter
wait_screen 5 "the question" "wipe is destructive: run it for real\\? \\(y/n\\)"
keys n Enter
wait_screen 5 "not run" "not run"
assert_eq 0 "$(runs_of wipe)" "runs of wipe after n"
keys Enter y Enter
wait_screen 10 "wipe ran" "^run 3 of wipe"
wait_screen 10 "its output" "^wiped"
assert_eq 1 "$(runs_of wipe)" "runs of wipe after y"

# The Runs view lists them with their status colours' names.
keys 6
wait_screen 5 "the runs" "^ *3 +wipe +succeeded"
wait_screen 5 "the dry run in the list" "^ *2 +greet +succeeded +dry"
note "ok"
