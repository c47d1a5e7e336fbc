#!/bin/sh
# Crashes at the worst moment: kill -9 and a restart, and nothing is left
# half done.
#  a. outpostd killed during a scheduler pass of N instances (10,000 unless
#     CRASHES_N says): the pass is one transaction, so after the restart each
#     instance is pending or scheduled, each scheduled one has its event and
#     its transition, each worker's allocation is what is placed on it, the
#     events have no gap, and the next pass places the rest. The workers are
#     registered by curl through the agent API (10,000 real hooks would not
#     fit the test's time): they take instances and never run them. The
#     instances become due together when a reload raises lead_time.
#  b. outpostd killed during a db.backup: the run is interrupted after the
#     restart, nothing is under the backup's name, and a backup to that
#     name then succeeds and is whole. A part file in STATE_DIR/backups is
#     removed by the restart.
#  c. the agent killed during each hook (instantiate, run, collect, grade,
#     stop): each hook blocks until the test lets it go, the agent is killed
#     and started again while it blocks; each hook runs once, and the
#     instance ends stopped with its grade.
# A migration is not crashed here: no database made by an earlier schema is
# at hand (one made by this build's own migrations would prove nothing).
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: crashes needs sqlite3" >&2; exit 77; }

N=${CRASHES_N:-10000}
# The curl workers send no heartbeat: they stay online through the test.
export OUTPOST_WORKER_OFFLINE_AFTER=1h OUTPOST_WORKER_LOST_AFTER=1d
# lead_time is in the config file: a.'s pass comes with its reload.
printf 'lead_time = 0s\n' >"$WORK/outpostd.conf"
runbook backup '{ "name": "backup", "description": "a backup", "role": "admin",
  "params": [ { "name": "file", "type": "string", "required": true } ],
  "steps": [ { "action": "db.backup", "args": { "path": "'"$WORK"'/bk/{{file}}" } } ] }'
runbook backup_rel '{ "name": "backup_rel", "description": "a backup", "role": "admin",
  "params": [ { "name": "file", "type": "string", "required": true } ],
  "steps": [ { "action": "db.backup", "args": { "path": "{{file}}" } } ] }'
mkdir -p "$WORK/bk"
start_server --config "$WORK/outpostd.conf"
# A database big enough that a backup takes many slices (b): a table of 40 MiB,
# added with sqlite3 while the server is down.
stop_server
sqlite3 "$SERVER_DIR/outpost.db" "CREATE TABLE pad (x BLOB);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
	INSERT INTO pad SELECT randomblob(1048576) FROM n;" || fail "cannot pad the database"
start_server --state-dir "$SERVER_DIR" --config "$WORK/outpostd.conf"

# ============================================================================
# a. A scheduler pass of N.
# ============================================================================
create_token pass-workers agent
wtok=$NEW_TOKEN
nw=3
per=$(((N + nw - 1) / nw))
for i in $(seq 1 $nw); do
	TOKEN=$wtok api_ok 201 POST /api/v1/agent/register \
		"{\"name\":\"p$i\",\"capacity\":{\"cpu\":4096,\"memory_mb\":4194304,\"slots\":$per}}"
done
define small '"hooks":{"run":["/bin/true"]},"resources":{"cpu":1,"memory_mb":64}'
# The slots begin in an hour, past the lead time (0s): not due. A reload that
# makes the lead time 2h makes them all due at once, and runs a pass, which
# places them all in one transaction.
t0=$SECONDS
left=$N
while [ "$left" -gt 0 ]; do
	c=$((left > 1000 ? 1000 : left))
	TOKEN=$SERVER_TOKEN api_ok 201 POST /api/v1/instances "{\"definition\":\"small\",\
\"owner\":\"o\",\"timeslot_start\":\"$(at_offset 3600)\",\"timeslot_end\":\"$(at_offset 86400)\",\
\"count\":$c}"
	left=$((left - c))
done
note "a: $N instances made in $((SECONDS - t0)) s"
wait_sched_pass
assert_eq 0 "$(sqlite3 -readonly "$SERVER_DIR/outpost.db" \
	"SELECT count(*) FROM instances WHERE state != 'pending'")" "instances placed before they are due"
# The sign the pass is under way: the server, idle before, burns CPU once the
# reload is logged (its utime + stime, in clock ticks: /proc/PID/stat 14, 15).
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$SERVER_PID/stat"; }
printf 'lead_time = 2h\n' >"$WORK/outpostd.conf"
kill -HUP "$SERVER_PID"
wait_for 10 "config.reloaded in the log" grep -q '"config.reloaded"' "$SERVER_LOG"
base=$(cpu_ticks)
_busy() { [ $(($(cpu_ticks) - base)) -ge 3 ]; }
wait_for 15 "outpostd to get busy after the reload" _busy
ticks=$(($(cpu_ticks) - base))
crash_server
landed=$(grep '"msg":"sched.pass"' "$SERVER_LOG" | jq -r '.placed // 0' |
	awk '{ n += $1 } END { print n + 0 }')
db=$SERVER_DIR/outpost.db
q() { sqlite3 -readonly "$db" "$1"; }
# The file as the kill left it (read only: the server does its own recovery).
check_a() {
	assert_eq "$N" "$(q "SELECT count(*) FROM instances WHERE state IN ('pending','scheduled')")" \
		"instances pending or scheduled"
	assert_eq 0 "$(q "SELECT count(*) FROM instances i WHERE state = 'scheduled' AND NOT EXISTS
		(SELECT 1 FROM transitions t WHERE t.instance_id = i.id AND t.to_state = 'scheduled')")" \
		"scheduled instances without their transition"
	assert_eq "$(q "SELECT count(*) FROM instances WHERE state = 'scheduled'")" \
		"$(q "SELECT count(*) FROM events WHERE type = 'instance.state' AND
		json_extract(data, '$.to') = 'scheduled'")" "events of placements against placed instances"
	assert_eq "$(q "SELECT count(*) FROM events")" "$(q "SELECT max(seq) - min(seq) + 1 FROM events")" \
		"events kept against their seq range (a gap)"
}
check_a
s1=$(q "SELECT count(*) FROM instances WHERE state = 'scheduled'")
note "a: killed $ticks CPU ticks after the reload: $s1 scheduled (the log: ${landed:-0}), $((N - s1)) pending"
start_server --state-dir "$SERVER_DIR" --config "$WORK/outpostd.conf"
# The next pass finishes the job.
_all_placed() { [ "$(q "SELECT count(*) FROM instances WHERE state = 'scheduled'")" = "$N" ]; }
wait_for 30 "every instance scheduled after the restart" _all_placed
check_a
get_last_seq
assert_eq "$(q "SELECT max(seq) FROM events")" "$LAST_SEQ" "the last event's seq, as the API says"
for i in $(seq 1 $nw); do
	api_ok 200 GET "/api/v1/workers/p$i"
	assert_eq "$(q "SELECT count(*) FROM instances i JOIN workers w ON w.id = i.worker_id
		WHERE w.name = 'p$i' AND i.state = 'scheduled'")" "$(jbody .allocated.slots)" \
		"slots allocated on p$i against the instances scheduled on it"
	assert_eq "$(jbody .allocated.slots)" "$(jbody .instance_count)" "instance_count of p$i"
done
note "a: after the restart all $N scheduled (a. took $SECONDS s)"

# ============================================================================
# b. A backup.
# ============================================================================
# kill_in_backup RUNBOOK DIR PREFIX: starts backups to DIR/PREFIXn.db until one
# is caught with its part file there and not yet whole, and kills outpostd
# then; starts it again. Sets RUN (the run killed) and NAME.
_part_seen() {	# DIR NAME
	local f
	for f in "$1/$2".part-*; do
		[ -e "$f" ] && return 0
	done
	return 1
}
kill_in_backup() {
	local try deadline
	for try in 1 2 3 4 5; do
		NAME=$3$try.db
		TOKEN=$SERVER_TOKEN start_run "$1" "{\"params\":{\"file\":\"$NAME\"}}"
		RUN=$RUN_ID
		deadline=$((SECONDS + 30))
		until _part_seen "$2" "$NAME" || [ -e "$2/$NAME" ]; do
			[ "$SECONDS" -lt "$deadline" ] || fail "no part file of $NAME in 30 s"
		done
		crash_server
		start_server --state-dir "$SERVER_DIR" --config "$WORK/outpostd.conf"
		[ -e "$2/$NAME" ] || return 0
		# Whole before the kill: it must say so.
		TOKEN=$SERVER_TOKEN wait_run "$RUN" succeeded 10
		note "b: try $try finished before the kill; again"
	done
	fail "in 5 tries the backup was never caught running"
}
kill_in_backup backup "$WORK/bk" b
# The run the kill cut is interrupted, and nothing is under its name. Its
# part file (a path outside the state directory) is left, under its part name.
TOKEN=$SERVER_TOKEN wait_run "$RUN" interrupted 10
[ -e "$WORK/bk/$NAME" ] && fail "a backup killed half way is under its name"
note "b: killed during the backup to $NAME; left: $(cd "$WORK/bk" && echo *)"
# The next backup to that name succeeds, and is whole.
TOKEN=$SERVER_TOKEN start_run backup "{\"params\":{\"file\":\"$NAME\"}}"
TOKEN=$SERVER_TOKEN wait_run "$RUN_ID" succeeded 60
assert_eq ok "$(sqlite3 -readonly "$WORK/bk/$NAME" 'PRAGMA integrity_check')" "the backup's integrity"
assert_eq 40 "$(sqlite3 -readonly "$WORK/bk/$NAME" 'SELECT count(*) FROM pad')" "the pad in the backup"
assert_eq "$N" "$(sqlite3 -readonly "$WORK/bk/$NAME" 'SELECT count(*) FROM instances')" \
	"the instances in the backup"
# In the state directory's backups, where only db.backup makes part files, the
# restart removes what a killed backup left.
kill_in_backup backup_rel "$SERVER_DIR/backups" r
TOKEN=$SERVER_TOKEN wait_run "$RUN" interrupted 10
left=$(cd "$SERVER_DIR/backups" && echo *)
assert_eq "*" "$left" "what a backup killed in the state directory left there after the restart"
grep -q '"msg":"backup.part_removed"' "$SERVER_LOG" || fail "no backup.part_removed in the log"
note "b: the backup after the restart is whole; the state directory's part files removed" \
	"(at $SECONDS s)"

# ============================================================================
# c. The agent, killed during each hook.
# ============================================================================
H=$WORK/hooks
mkdir -p "$H"
shared_file hooks.log
# Each hook says it began, then blocks until the test lets it go (a file named
# for it); run then goes on until it is stopped, grade prints a grade.
cat >"$H/hook.sh" <<'EOS'
#!/bin/sh
h=$1
echo "$h $OUTPOST_INSTANCE_ID" >>"$HOOKS_LOG"
while [ ! -e "$GO_DIR/$h" ]; do sleep 0.05; done
case $h in
run) while :; do sleep 0.2; done ;;
grade) echo '{"score": 7}' ;;
esac
exit 0
EOS
mkdir -p "$WORK/go"
chmod 777 "$WORK/go"
hooks=
for h in instantiate run collect grade stop; do
	hooks="$hooks${hooks:+,}\"$h\":[\"env\",\"HOOKS_LOG=$WORK/hooks.log\",\"GO_DIR=$WORK/go\",\"sh\",\"$H/hook.sh\",\"$h\"]"
done
define blocky "\"hooks\":{$hooks}"
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
# The curl workers of a. are full; this instance goes to w1.
for i in $(seq 1 $nw); do
	api_ok 200 POST "/api/v1/workers/p$i/cordon"
done
create_now blocky d 3600
id=$INSTANCE_ID
_began() { grep -qx "$1 $id" "$WORK/hooks.log"; }
# The events of a. are many: the reconciliations are looked for after them.
TOKEN=$SERVER_TOKEN get_last_seq
seq0=$LAST_SEQ
recs() {
	TOKEN=$SERVER_TOKEN api GET "/api/v1/events?since=$seq0&types=worker.reconciled&limit=1000"
}
_reconciled() {	# COUNT: more than COUNT worker.reconciled events of w1
	recs
	[ "$STATUS" = 200 ] &&
		[ "$(jbody '[.items[] | select(.data.worker.name == "w1")] | length')" -gt "$1" ]
}
nrec() {
	recs
	assert_status 200
	jbody '[.items[] | select(.data.worker.name == "w1")] | length'
}
for h in instantiate run collect grade stop; do
	wait_for 20 "the $h hook of $id to begin" _began "$h"
	before=$(nrec)
	kill_agent w1
	start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
	wait_for 15 "the agent started again to take $id back" _reconciled "$before"
	recs
	assert_eq "[$id]" "$(jbody -c '[.items[] | select(.data.worker.name == "w1")][-1].data.kept')" \
		"what the agent started again during $h kept"
	touch "$WORK/go/$h"
	# run goes on until the instance is stopped.
	if [ "$h" = run ]; then
		wait_state "$id" running 10
		TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$id/stop"
	fi
done
wait_state "$id" stopped 20
assert_eq 7 "$(inst "$id" .grade.score)" "the grade after five agent kills"
for h in instantiate run collect grade stop; do
	assert_eq 1 "$(grep -cx "$h $id" "$WORK/hooks.log")" "times the $h hook ran"
done
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$id/transitions"
assert_eq "pending scheduled instantiating running collecting grading stopping stopped" \
	"$(jbody '[.items[].to] | join(" ")')" "the transitions of $id"
note "c: each hook ran once across an agent kill in it (at $SECONDS s)"
exit 0
