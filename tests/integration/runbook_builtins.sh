#!/bin/sh
# Every built-in step, in a dry run (which says what it would do and changes
# nothing: the only events it writes are the run's own) and for real (which
# does it, through the same code as the API). Along the way, and on a server
# started on the backup, /metrics counts the instances by state as SQLite does.
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
command -v sqlite3 >/dev/null || { echo "SKIP: $TEST_NAME needs sqlite3" >&2; exit 77; }
# One runbook a built-in: bi NAME ACTION ARGS PARAMS.
bi() {
	runbook "$1" "{ \"name\": \"$1\", \"description\": \"$2\", \"role\": \"admin\",
	  \"params\": $4, \"steps\": [ { \"action\": \"$2\", \"args\": $3 } ] }"
}
W='[ { "name": "worker", "type": "worker", "required": true } ]'
I='[ { "name": "id", "type": "instance", "required": true } ]'
bi cordon worker.cordon '{ "worker": "{{worker}}" }' "$W"
bi uncordon worker.uncordon '{ "worker": "{{worker}}" }' "$W"
bi drain worker.drain '{ "worker": "{{worker}}" }' "$W"
bi wstop worker.stop '{ "worker": "{{worker}}" }' "$W"
bi wterminate worker.terminate '{ "worker": "{{worker}}", "force": true }' "$W"
bi scale template.scale '{ "template": "{{t}}", "count": "{{n}}" }' \
	'[ { "name": "t", "type": "template", "required": true }, { "name": "n", "type": "int", "required": true } ]'
bi istop instance.stop '{ "instance": "{{id}}" }' "$I"
bi iterminate instance.terminate '{ "instance": "{{id}}" }' "$I"
bi iretry instance.retry '{ "instance": "{{id}}" }' "$I"
bi recover instances.recover_stuck '{ "state": "{{state}}", "older_than": "1s", "action": "{{action}}" }' \
	'[ { "name": "state", "type": "string", "required": true }, { "name": "action", "type": "string", "default": "terminate" } ]'
bi eprune events.prune '{ "older_than": "1s", "keep": 10 }' '[]'
bi iprune instances.prune '{ "older_than": "1s" }' '[]'
# A path from a parameter stays in the directory the runbook names (runbook_params.sh).
bi backup db.backup "{ \"path\": \"$WORK/backups/{{path}}\" }" \
	'[ { "name": "path", "type": "string", "required": true } ]'
bi check db.check '{ "quick": "{{quick}}" }' '[ { "name": "quick", "type": "bool", "default": false } ]'
# A step with no args at all.
runbook bare '{ "name": "bare", "description": "x", "role": "admin", "steps": [ { "action": "db.check" } ] }'

start_server --agent-program "$AGENT"
for w in w1 w2 w3; do
	start_agent $w --capacity cpu=2,memory_mb=2048,slots=2
done
wait_online w1 w2 w3
define sleeper '"hooks":{"run":["sleep","3600"]}'
define failer '"hooks":{"run":["false"]}'

# counts_agree WHEN: the instances by state that /metrics keeps in memory
# (metrics_counts.c) are SQLite's own count of the file, after the workload so far.
counts_agree() {
	local shown want
	TOKEN= api_ok 200 GET /metrics
	shown=$(printf '%s\n' "$BODY" | sed -n 's/^outpost_instances{state="\([a-z]*\)"} \([0-9]*\)$/\1 \2/p' |
		awk '$2 > 0' | sort)
	want=$(sqlite3 "$SERVER_DIR/outpost.db" "SELECT state || ' ' || count(*) FROM instances GROUP BY state" |
		sort)
	assert_eq "$want" "$shown" "the instances by state in /metrics $1"
}

# go NAME DRY PARAMS: runs NAME to success as the admin; sets OUT (its output).
# A dry run must write no event but the run's own.
go() {
	local seq0
	get_last_seq
	seq0=$LAST_SEQ
	start_run "$1" "{\"params\":$3,\"dry_run\":$2}"
	wait_run "$RUN_ID" succeeded 20
	OUT=$(run_output "$RUN_ID")
	if [ "$2" = true ]; then
		assert_match '^would |would ' "$OUT" "the dry run of $1 says what it would do"
		api_ok 200 GET "/api/v1/events?since=$seq0&limit=1000"
		local others
		others=$(jbody '[.items[] | select(.type | startswith("runbook.") | not) | .type] | join(" ")')
		assert_eq "" "$others" "events a dry run of $1 wrote"
	fi
}
wstate() { TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers/$1"; jbody .state; }

# ---- workers ----
go cordon true '{"worker":"w1"}'
assert_eq ready "$(wstate w1)" "w1 after a dry cordon"
go cordon false '{"worker":"w1"}'
assert_contains "ready -> cordoned" "$OUT" "cordon's output"
assert_eq cordoned "$(wstate w1)" "w1 after cordon"
go cordon false '{"worker":"w1"}'
assert_contains "already" "$OUT" "a second cordon"
go uncordon true '{"worker":"w1"}'
assert_eq cordoned "$(wstate w1)" "w1 after a dry uncordon"
go uncordon false '{"worker":"w1"}'
assert_eq ready "$(wstate w1)" "w1 after uncordon"

# ---- instances (on the three workers) ----
create_now sleeper ana 3600 3
set -- $IDS
a=$1 b=$2 c=$3
for id in $IDS; do wait_state "$id" running 15; done
go istop true "{\"id\":$a}"
assert_eq running "$(inst "$a" .state)" "instance $a after a dry stop"
go istop false "{\"id\":$a}"
wait_state "$a" stopped 15
go iterminate true "{\"id\":$b}"
assert_eq running "$(inst "$b" .state)" "instance $b after a dry terminate"
go iterminate false "{\"id\":$b}"
wait_state "$b" terminated 15
create_now failer ben 3600
f=$INSTANCE_ID
wait_state "$f" failed 15
go iretry true "{\"id\":$f}"
assert_eq "failed 1" "$(inst "$f" '.state + " " + (.attempt | tostring)')" "instance $f after a dry retry"
go iretry false "{\"id\":$f}"
wait_for 15 "instance $f tried again" sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $SERVER_TOKEN' \
	$SERVER_URL/api/v1/instances/$f | jq .attempt)\" -ge 2 ]"
wait_state "$f" failed 15
sleep 1.1	# what the step acts on must be older than its older_than (1s)
go recover true '{"state":"running"}'
assert_contains "1 instance running for more than 1s" "$OUT" "a dry recover_stuck"
assert_eq running "$(inst "$c" .state)" "instance $c after a dry recover_stuck"
go recover false '{"state":"running"}'
assert_contains "recovered 1 of 1" "$OUT" "recover_stuck's output"
wait_state "$c" terminated 15
go recover false '{"state":"failed","action":"retry"}'
assert_contains "recovered 1 of 1" "$OUT" "recover_stuck retrying the failed"
wait_for 15 "instance $f tried a third time" sh -c "[ \"\$(curl -s -H 'Authorization: Bearer $SERVER_TOKEN' \
	$SERVER_URL/api/v1/instances/$f | jq .attempt)\" -ge 3 ]"

# ---- pruning ----
sleep 1.1	# what the step acts on must be older than its older_than (1s)
go iprune true '{}'
assert_contains "would delete 2 terminated instances" "$OUT" "a dry instances.prune"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$b"
counts_agree "before instances.prune"
go iprune false '{}'
assert_contains "deleted 2 terminated instances" "$OUT" "instances.prune's output"
counts_agree "after instances.prune"
TOKEN=$SERVER_TOKEN api GET "/api/v1/instances/$b"
assert_status 404 "a pruned instance"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$a"
first_seq() { TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?limit=1"; jbody '.items[0].seq'; }
assert_eq 1 "$(first_seq)" "the first event before pruning"
sleep 1.1	# what the step acts on must be older than its older_than (1s)
go eprune true '{}'
assert_eq 1 "$(first_seq)" "the first event after a dry events.prune"
go eprune false '{}'
assert_match '^deleted [1-9][0-9]* events' "$OUT" "events.prune's output"
[ "$(first_seq)" -gt 1 ] || fail "events.prune deleted no event ($OUT): $BODY"
get_last_seq
api_ok 200 "GET" "/api/v1/events?since=0&limit=1000"
[ "$(jbody '.items | length')" -ge 10 ] || fail "events.prune kept fewer than 10 events"

# ---- the database ----
go check true '{}'
go check false '{}'
assert_contains "integrity_check: ok" "$OUT" "db.check"
go check false '{"quick":true}'
assert_contains "quick_check: ok" "$OUT" "db.check quick"
go bare false '{}'
assert_contains "integrity_check: ok" "$OUT" "db.check with no args"
go backup true '{"path":"site.db"}'
[ ! -e "$WORK/backups/site.db" ] || fail "a dry backup wrote a file"
go backup false '{"path":"site.db"}'
[ -s "$WORK/backups/site.db" ] || fail "the backup wrote no file"
ls "$WORK/backups" | grep -q part && fail "the backup left a .part file"
start_run backup '{"params":{"path":"site.db"}}'
wait_run "$RUN_ID" failed
assert_contains "exists" "$(run_output "$RUN_ID")" "a backup onto a file there is"

# ---- scaling and ending workers ----
TOKEN=$SERVER_TOKEN api_ok 201 PUT /api/v1/templates/pool '{"capacity":{"cpu":2,"memory_mb":512,"slots":2},
	"min":0,"max":2,"autoscale":false,"provisioner":{"type":"local","heartbeat":"300ms"}}'
go scale true '{"t":"pool","n":1}'
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/pool
assert_eq 0 "$(jbody .desired)" "pool's desired after a dry scale"
go scale false '{"t":"pool","n":1}'
assert_contains "desired 0 -> 1" "$OUT" "template.scale's output"
wait_for 20 "pool-1 ready and online" _worker_ready_online pool-1
start_run scale '{"params":{"t":"pool","n":5}}'
wait_run "$RUN_ID" failed
assert_contains "its max 2" "$(run_output "$RUN_ID")" "scaling past max"
go wstop true '{"worker":"w2"}'
assert_eq ready "$(wstate w2)" "w2 after a dry stop"
go wstop false '{"worker":"w2"}'
assert_eq stopped "$(wstate w2)" "w2 after stop"
wait_exit "$(agent_pid w2)" 10
go wterminate true '{"worker":"w3"}'
assert_eq ready "$(wstate w3)" "w3 after a dry terminate"
go wterminate false '{"worker":"w3"}'
assert_eq terminated "$(wstate w3)" "w3 after terminate"
go drain true '{"worker":"w1"}'
assert_eq ready "$(wstate w1)" "w1 after a dry drain"
go drain false '{"worker":"w1"}'
assert_ne ready "$(wstate w1)" "w1 after drain"

# The backup is a whole database: a server started on it has the site as it was.
stop_server
mkdir -p "$WORK/restored"
cp "$WORK/backups/site.db" "$WORK/restored/outpost.db"
cp "$SERVER_DIR/admin.token" "$WORK/restored/admin.token"
start_server --state-dir "$WORK/restored"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$a"
assert_eq stopped "$(jbody .state)" "instance $a in the restored backup"
counts_agree "started on the backup"
exit 0
