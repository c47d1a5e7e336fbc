#!/bin/sh
# `outpost` against a real outpostd: every command does what it says and
# agrees with the API; the exit status tells a refusal (1), a usage error
# (2) and an unreachable server (3) apart, and a usage error sends nothing;
# the server's refusals are printed as "message (field: F)"; settings come
# from a flag, else OUTPOST_*, else the config file; a new token is printed
# alone on stdout, once.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$OUTPOST" ]; then
	fail "$OUTPOST is not built"
fi

start_server
cli_as_admin

# ---- definitions ----
cat >"$WORK/lab.json" <<'EOF'
{"name": "lab", "description": "a lab", "resources": {"cpu": 2, "memory_mb": 1024},
 "hooks": {"run": ["/bin/true"]}, "max_duration": "4h"}
EOF
cli 0 definition create -f "$WORK/lab.json"
assert_match 'version +1' "$OUT" "definition create shows the version"
cli 0 definition create -f - -o json <"$WORK/lab.json"
assert_eq 2 "$(printf %s "$OUT" | jq .version)" "a second create makes version 2"
cli 0 definition list
assert_match 'lab +2 +2 +1024' "$OUT" "definition list row"
cli 0 definition get lab --version 1 -o json
assert_eq 1 "$(printf %s "$OUT" | jq .version)" "definition get --version 1"
printf '{"name": "x",\n "hooks": }' >"$WORK/bad.json"
cli 2 definition create -f "$WORK/bad.json"
assert_contains "bad.json:2:" "$ERR" "a JSON mistake names its line"
cli 1 definition create -f - <<'EOF'
{"name": "y", "hooks": {"run": []}}
EOF
assert_contains "(field: hooks.run)" "$ERR" "the server's refusal names its field"
cli 1 definition get nope
assert_contains "(field: name)" "$ERR" "404 names its field"

# ---- instances ----
cli 0 instance create --definition lab@1 --owner ana --start "$SLOT_START" --end "$SLOT_END" -o json
id=$(printf %s "$OUT" | jq .id)
assert_eq lab "$(printf %s "$OUT" | jq -r .definition)" "instance create: definition"
assert_eq 1 "$(printf %s "$OUT" | jq .definition_version)" "instance create: pinned version"
assert_eq "$SLOT_END" "$(printf %s "$OUT" | jq -r .timeslot_end)" "instance create: slot end"
cli 0 instance create --definition lab --owner ben --start 2030-01-01T11:00:00+01:00 \
	--duration 90m --count 4 -o json
assert_eq 4 "$(printf %s "$OUT" | jq '.items | length')" "instance create --count 4"
assert_eq 2030-01-01T10:00:00Z "$(printf %s "$OUT" | jq -r '.items[0].timeslot_start')" \
	"--start with an offset is sent in UTC"
assert_eq 2030-01-01T11:30:00Z "$(printf %s "$OUT" | jq -r '.items[0].timeslot_end')" \
	"--duration sets the end"
cli 1 instance create --definition lab --owner ana --start now --duration 5h
assert_contains "max_duration" "$ERR" "a slot past max_duration"
assert_contains "(field: timeslot_end)" "$ERR" "... names timeslot_end"

cli 0 instance list --limit 2
assert_eq 3 "$(printf '%s\n' "$OUT" | wc -l)" "one page: a header and 2 rows"
assert_contains "--after" "$ERR" "a partial page says how to go on"
cli 0 instance list --limit 2 --all -o json
assert_eq 5 "$(printf %s "$OUT" | jq '.items | length')" "--all follows every page"
assert_eq null "$(printf %s "$OUT" | jq .next)" "--all ends with next null"
cli 0 instance list --owner ben --state pending -o json
assert_eq 4 "$(printf %s "$OUT" | jq '.items | length')" "filters reach the server"

cli 0 instance get "$id"
assert_match 'owner +ana' "$OUT" "instance get shows fields"
cli 1 instance stop "$id"
assert_contains "stop needs a running instance" "$ERR" "a refused transition says why"
cli 0 instance extend "$id" --end 2030-01-01T12:00:00Z -o json
assert_eq 2030-01-01T12:00:00Z "$(printf %s "$OUT" | jq -r .timeslot_end)" "extend"
cli 0 instance terminate "$id"
assert_match 'terminated +-' "$OUT" "terminate prints the instance"
cli 1 instance retry "$id"
assert_contains "retry needs a failed instance; this one is terminated" "$ERR" \
	"retry of a terminated instance says why"
cli 1 instance get 9999
assert_contains "(field: id)" "$ERR" "an unknown instance"

# ---- workers ----
create_token agent1 agent
agent=$NEW_TOKEN
TOKEN=$agent api_ok 201 POST /api/v1/agent/register \
	'{"name":"w1","template":"lab","capacity":{"cpu":8,"memory_mb":16384,"slots":4}}'
cli 0 worker list
assert_match 'w1 +lab +ready +online +none +0/8 +0/16384 +0/4' "$OUT" "worker list row"
cli 0 worker cordon w1 -o json
assert_eq cordoned "$(printf %s "$OUT" | jq -r .state)" "cordon by name"
cli 1 worker cordon w1
assert_contains "already cordoned" "$ERR" "cordon twice"
cli 0 worker list --state cordoned -o json
assert_eq 1 "$(printf %s "$OUT" | jq '.items | length')" "worker list --state"
cli 0 worker uncordon 1
cli 0 worker get w1 -o json
assert_eq ready "$(printf %s "$OUT" | jq -r .state)" "uncordon by id"
cli 1 worker get w9
assert_contains "no worker with id or name w9 (field: id)" "$ERR" "an unknown worker"

# ---- tokens ----
cli 0 token create --name ci --role viewer --expires-in 30d
ci=$OUT
assert_match '^opt_[A-Za-z0-9_-]+$' "$ci" "token create prints the token alone"
assert_contains "not shown again" "$ERR" "and says it will not show it again"
cli 0 --token "$ci" instance list
cli 1 --token "$ci" token list
assert_contains "admin" "$ERR" "a viewer may not list tokens"
cli 0 token list -o json
ci_id=$(printf %s "$OUT" | jq '.items[] | select(.name == "ci") | .id')
cli 0 token revoke "$ci_id"
cli 1 --token "$ci" instance list
assert_contains "the token is not valid" "$ERR" "a revoked token is refused"
cli 1 token revoke "$ci_id"
assert_contains "token $ci_id is already revoked (field: id)" "$ERR" "a token revoked twice"
# A join token's limits: checked by the CLI, each named by its flag; shown by list.
cli 2 token create --name j --role viewer --uses 2
assert_contains "--uses limits a join token: it goes with --role agent" "$ERR" "--uses of a viewer"
cli 2 token create --name j --role agent --uses 0
assert_contains "--uses must be a whole number from 1 to 1000000, not '0'" "$ERR" "--uses 0"
cli 2 token create --name j --role agent --names 'LAB/*'
assert_contains "--names must be a pattern of worker names" "$ERR" "a bad --names"
cli 2 token create --name j --role agent --template 'Big One'
assert_contains "--template must be a template's name" "$ERR" "a bad --template"
cli 0 token create --name lab-join --role agent --uses 2 --names 'lab-*' --template lab
assert_match '^opt_' "$OUT" "a join token with limits"
cli 0 token list
assert_match 'WORKER +USES_LEFT +NAMES +TEMPLATE' "$OUT" "token list's columns"
assert_match 'lab-join +agent .* 2 +lab-\* +lab' "$OUT" "the join token's limits in the list"
assert_match 'worker:w1 +agent .* w1' "$OUT" "w1's own token in the list"

# ---- events ----
cli 0 events --type instance.state -o json
assert_eq 1 "$(printf '%s\n' "$OUT" | wc -l)" "one instance.state event (the terminate)"
assert_eq terminated "$(printf %s "$OUT" | jq -r .data.to)" "... to terminated"
cli 0 events --since 0 --limit 3
assert_eq 4 "$(printf '%s\n' "$OUT" | wc -l)" "events --limit 3: a header and 3 lines"
get_last_seq
cli 0 events --follow --since "$((LAST_SEQ - 2))" --limit 2 -o json
assert_eq "$((LAST_SEQ - 1)) $LAST_SEQ" "$(printf %s "$OUT" | jq -s -r 'map(.seq) | join(" ")')" \
	"follow --limit replays and stops"
cli 1 --token nope events --follow
assert_contains "the token is not valid" "$ERR" "events --follow with a bad token"

# ---- usage errors send nothing; unreachable is 3 ----
get_last_seq
before=$LAST_SEQ
cli 2 instance create --definition lab --owner ana --start now --duration 1h --count 0
assert_contains "--count must be an integer 1..1000" "$ERR" "--count out of range"
cli 2 instance create --definition lab --owner ana --start tomorrow --duration 1h
assert_contains "--start must be an RFC 3339 time" "$ERR" "a bad time"
cli 2 instance create --definition lab --owner ana --start now --end 2020-01-01T00:00:00Z
assert_contains "--end must be after --start" "$ERR" "an end before the start"
cli 2 instance create --owner ana --start now --duration 1h
assert_contains "--definition" "$ERR" "a missing flag is named"
cli 2 instance list --state sleeping
assert_contains "unknown value 'sleeping'" "$ERR" "an unknown state"
cli 2 instance get abc
assert_match "instance ID must be .*, not 'abc'" "$ERR" "a bad ID is named"
cli 2 instance get
assert_contains "wrong number of arguments; usage: outpost instance get ID" "$ERR" \
	"a missing ID: the usage"
cli 2 instance frob 1
assert_contains "no command 'instance frob'" "$ERR" "an unknown verb is named"
cli 2 frob
assert_contains "no command 'frob'" "$ERR" "an unknown noun is named"
cli 2 instance list --bogus
assert_contains "unknown option --bogus" "$ERR" "an unknown flag is named"
cli 2 -o yaml instance list
assert_match "-o must be .*table.*, not 'yaml'" "$ERR" "a bad -o is named, with what is valid"
cli 2 token create --name x --role root
assert_match "--role must be .*viewer.*, not 'root'" "$ERR" "a bad --role is named"
cli 2 --token a --token-file b instance list
assert_contains "--token and --token-file cannot be used together" "$ERR" "two token flags"
get_last_seq
assert_eq "$before" "$LAST_SEQ" "usage errors change nothing"
cli 3 --server http://127.0.0.1:1 instance list
assert_contains "cannot reach the server" "$ERR" "unreachable"
cli 3 --server http://127.0.0.1:1 events --follow
assert_contains "cannot reach the server at http://127.0.0.1:1" "$ERR" \
	"events --follow unreachable"

# ---- where settings come from ----
mkdir -p "$WORK/xdg/outpost"
printf 'server = http://127.0.0.1:1\ntoken_file = %s\n' "$WORK/admin.token" \
	>"$WORK/xdg/outpost/outpost.conf"
unset OUTPOST_SERVER OUTPOST_TOKEN_FILE
cli 3 instance list
assert_contains "cannot reach the server at http://127.0.0.1:1" "$ERR" \
	"the config file's server is the one tried"
cli 0 --server "$SERVER_URL" instance list
OUTPOST_SERVER=$SERVER_URL cli 0 instance list
OUTPOST_TOKEN=nope OUTPOST_SERVER=$SERVER_URL cli 1 instance list
assert_contains "the token is not valid" "$ERR" "OUTPOST_TOKEN is the token sent"
printf 'colour = blue\n' >"$WORK/other.conf"
cli 2 --config "$WORK/other.conf" instance list
assert_contains "other.conf:1: unknown setting 'colour'" "$ERR" "config errors name file and line"

cli 0 --version
assert_match '^outpost [0-9]' "$OUT" "--version"
cli 0 instance create --help
assert_contains "--duration" "$OUT" "help lists a command's options"
exit 0
