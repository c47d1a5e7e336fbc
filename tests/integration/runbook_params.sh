#!/bin/sh
# A runbook's parameters are data, never code. An exec step that splices a
# reference into a longer string (a shell script, --x={{a}}) or names its
# program by one is refused at load, by file and field, while the others
# load; a value an operator sends reaches a program as one argument or as
# $OUTPOST_PARAM_NAME, so shell text in it stays text; a value that starts
# with '-' (an option) is refused unless its parameter allows it, as are
# control characters and over-long values; a dry run starts no program; a
# backup path a parameter gave stays in the backups directory.
. "$(dirname "$0")/lib.sh"

T=$WORK/targets
mkdir -p "$T"
# The attack: the value pasted into a sh -c script. Refused at load.
runbook splice '{ "name": "splice", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string", "required": true } ],
  "steps": [ { "exec": ["true"] }, { "exec": ["true"] },
             { "exec": ["sh", "-c", "echo {{msg}}"] } ] }'
runbook optsplice '{ "name": "optsplice", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string" } ],
  "steps": [ { "exec": ["/bin/echo", "--x={{msg}}"] } ] }'
runbook progref '{ "name": "progref", "description": "x", "role": "operator",
  "params": [ { "name": "prog", "type": "string" } ],
  "steps": [ { "exec": ["{{prog}}", "x"] } ] }'
runbook clash '{ "name": "clash", "description": "x", "role": "operator",
  "params": [ { "name": "a-b", "type": "string" }, { "name": "a_b", "type": "string" } ],
  "steps": [ { "exec": ["true"] } ] }'
runbook dashdefault '{ "name": "dashdefault", "description": "x", "role": "operator",
  "params": [ { "name": "flag", "type": "string", "default": "-rf" } ],
  "steps": [ { "exec": ["true"] } ] }'
# The ways that are kept: the value in the environment, and as one argument.
runbook shout '{ "name": "shout", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string", "required": true } ],
  "steps": [ { "exec": ["sh", "-c",
    "printf \"env=[%s]\\n\" \"$OUTPOST_PARAM_MSG\"; printf \"arg=[%s]\\n\" \"$1\"; echo \"argc=$#\"",
    "sh", "{{msg}}"] } ] }'
runbook echo '{ "name": "echo", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string", "required": true },
              { "name": "n", "type": "int", "default": 1 } ],
  "steps": [ { "exec": ["/bin/echo", "{{msg}}"] } ] }'
runbook dashok '{ "name": "dashok", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string", "required": true, "allow_dash": true } ],
  "steps": [ { "exec": ["sh", "-c", "echo \"argc=$#\"; printf \"[%s]\\n\" \"$@\"", "sh", "{{msg}}"] } ] }'
runbook touch '{ "name": "touch", "description": "x", "role": "operator",
  "params": [ { "name": "target", "type": "string", "required": true } ],
  "steps": [ { "exec": ["touch", "{{target}}"] } ] }'
runbook opbackup '{ "name": "opbackup", "description": "a site backup an operator may run",
  "role": "operator", "params": [ { "name": "path", "type": "string", "default": "" } ],
  "steps": [ { "action": "db.backup", "args": { "path": "{{path}}" } } ] }'
start_server
create_token op operator
op=$NEW_TOKEN
admin_token=$(head -n 1 "$SERVER_DIR/admin.token")

# Refused at load, each by its file and field, in the log and the list.
api_ok 200 GET /api/v1/runbooks
assert_eq "dashok echo opbackup shout touch" "$(jbody '[.items[].name] | sort | join(" ")')" \
	"the runbooks that loaded"
field_of() { jbody --arg f "$1.json" '.errors[] | select(.file == $f) | .field'; }
assert_eq 'steps[2].exec[2]' "$(field_of splice)" "splice's field"
assert_eq 'steps[0].exec[1]' "$(field_of optsplice)" "optsplice's field"
assert_eq 'steps[0].exec[0]' "$(field_of progref)" "progref's field"
assert_eq 'params[1].name' "$(field_of clash)" "clash's field"
assert_eq 'params[0].default' "$(field_of dashdefault)" "dashdefault's field"
assert_contains 'OUTPOST_PARAM_MSG' "$(jbody '.errors[] | select(.file == "splice.json") | .message')" \
	"splice's error says how to do it instead"
line=$(grep '"runbook.load"' "$SERVER_LOG" | grep 'splice.json' | grep -v optsplice)
assert_contains 'steps[2].exec[2]' "$line" "the log line names splice.json and its field"

# The attack: an operator's value with shell text in it. It stays text.
attack='x; id; cat admin.token'
TOKEN=$op start_run shout "{\"params\":{\"msg\":\"$attack\"}}"
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
assert_contains "env=[$attack]" "$out" "the value in the environment"
assert_contains "arg=[$attack]" "$out" "the value as one argument"
assert_contains "argc=1" "$out" "the value is one argument"
case $out in *uid=*) fail "the value ran id: $out" ;; esac
case $out in *"$admin_token"*) fail "the value printed the admin token: $out" ;; esac
# The same through the command line, as the operator.
printf '%s\n' "$op" >"$WORK/op.token"
export OUTPOST_SERVER=$SERVER_URL OUTPOST_TOKEN_FILE=$WORK/op.token HOME=$WORK/home \
	XDG_CONFIG_HOME=$WORK/xdg
unset OUTPOST_TOKEN OUTPOST_CONFIG
cli 0 runbook run shout -p "msg=$attack"
assert_contains "env=[$attack]" "$OUT" "the CLI run's output"
case $OUT in *uid=* | *"$admin_token"*) fail "the CLI run ran the value: $OUT" ;; esac

# Options: a value that starts with '-' is refused, naming it, and runs nothing.
runs() { TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/runs?runbook=$1"; jbody '.items | length'; }
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"--version"}}'
assert_error 400 invalid_argument params.msg
assert_contains "allow_dash" "$(jbody .error.message)" "the refusal says how to allow it"
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"hi","n":-3}}'
assert_error 400 invalid_argument params.n
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"hi","n":"-3"}}'
assert_error 400 invalid_argument params.n
cli 1 runbook run echo -p msg=--version
assert_contains "params.msg" "$ERR" "the CLI's refusal names the parameter"
# Control characters (an escape, a newline), a NUL, a value too long.
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"a\u001b[2Jb"}}'
assert_error 400 invalid_argument params.msg
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"a\nb"}}'
assert_error 400 invalid_argument params.msg
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"a\u0085b"}}'
assert_error 400 invalid_argument params.msg
TOKEN=$op api POST /api/v1/runbooks/echo/runs '{"params":{"msg":"a\u0000b"}}'
assert_status 400 "a NUL in a value"
long=$(head -c 4097 /dev/zero | tr '\0' a)
TOKEN=$op api POST /api/v1/runbooks/echo/runs "{\"params\":{\"msg\":\"$long\"}}"
assert_error 400 invalid_argument params.msg
assert_eq 0 "$(runs echo)" "runs of echo after the refusals"
# Allowed where the runbook says so, and then one argument, as it was given.
TOKEN=$op start_run dashok '{"params":{"msg":"--version x"}}'
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
assert_contains "argc=1" "$out" "an allowed dash value is one argument"
assert_contains "[--version x]" "$out" "an allowed dash value, whole"
api_ok 200 GET /api/v1/runbooks/dashok
assert_eq true "$(jbody '.params[0].allow_dash')" "the runbook shows allow_dash"

# A dry run of an exec step starts no program: it says what would run.
TOKEN=$op start_run touch "{\"params\":{\"target\":\"$T/made\"},\"dry_run\":true}"
wait_run "$RUN_ID" succeeded
out=$(run_output "$RUN_ID")
[ ! -e "$T/made" ] || fail "a dry run ran touch: $T/made exists"
assert_contains "would run [\"touch\",\"$T/made\"]" "$out" "the dry run's argv"
assert_contains "OUTPOST_PARAM_TARGET" "$out" "the dry run's environment names"
TOKEN=$op start_run touch "{\"params\":{\"target\":\"$T/made\"}}"
wait_run "$RUN_ID" succeeded
[ -e "$T/made" ] || fail "a real run of touch made no $T/made"

# A backup path from a parameter stays in STATE_DIR/backups.
TOKEN=$op start_run opbackup "{\"params\":{\"path\":\"$T/site.db\"}}"
wait_run "$RUN_ID" failed
assert_contains "must be relative" "$(run_output "$RUN_ID")" "an absolute path's refusal"
TOKEN=$op start_run opbackup '{"params":{"path":"../../escaped.db"}}'
wait_run "$RUN_ID" failed
assert_contains ".." "$(run_output "$RUN_ID")" "a climbing path's refusal"
TOKEN=$op start_run opbackup '{"params":{"path":"sub/../../escaped.db"},"dry_run":true}'
wait_run "$RUN_ID" failed
[ ! -e "$T/site.db" ] && [ ! -e "$T/site.db.part" ] || fail "the backup went to $T"
[ ! -e "$WORK/escaped.db" ] && [ ! -e "$SERVER_DIR/escaped.db" ] || fail "the backup climbed out"
TOKEN=$op start_run opbackup '{"params":{"path":"nightly/site.db"}}'
wait_run "$RUN_ID" succeeded
[ -s "$SERVER_DIR/backups/nightly/site.db" ] || fail "no backup in backups/nightly"

# SIGHUP: the mended file loads, the others stay.
runbook splice '{ "name": "splice", "description": "x", "role": "operator",
  "params": [ { "name": "msg", "type": "string", "required": true } ],
  "steps": [ { "exec": ["true"] }, { "exec": ["true"] },
             { "exec": ["sh", "-c", "echo \"$1\"", "sh", "{{msg}}"] } ] }'
kill -HUP "$SERVER_PID"
_has_splice() { api GET /api/v1/runbooks; [ "$(jbody '[.items[].name] | index("splice")')" != null ]; }
wait_for 5 "the mended splice to load" _has_splice
assert_eq "dashok echo opbackup shout splice touch" "$(jbody '[.items[].name] | sort | join(" ")')" \
	"the runbooks after the reload"
assert_eq 4 "$(jbody '.errors | length')" "the files still refused after the reload"
TOKEN=$op start_run splice "{\"params\":{\"msg\":\"$attack\"}}"
wait_run "$RUN_ID" succeeded
assert_eq "$attack" "$(run_output "$RUN_ID" | tr -d '\n')" "the mended splice's output"
# It frees what the refusals and reloads made (a sanitizer build says so by its exit).
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit"
exit 0
