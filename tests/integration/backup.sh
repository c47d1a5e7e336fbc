#!/bin/sh
# db.backup never replaces a file:
#  a. a backup to a name that exists fails, saying so, and the file keeps its
#     bytes;
#  b. neither does a file made under the name while the backup runs (after its
#     first check, before it is whole): the backup fails saying so, the file
#     keeps its bytes, and no part file is left. The database is padded (a
#     table of 40 MiB, added with sqlite3 while the server is down) so that
#     the backup takes many slices; once its part file is there the server is
#     stopped (SIGSTOP), the file made, and the server let go on (SIGCONT).
#  c. a backup to a new name is whole: a server starts on it.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: backup needs sqlite3" >&2; exit 77; }

# The directory is the runbook's own text: a parameter names only the file in it.
runbook backup '{ "name": "backup", "description": "a backup", "role": "admin",
  "params": [ { "name": "file", "type": "string", "required": true } ],
  "steps": [ { "action": "db.backup", "args": { "path": "'"$WORK"'/bk/{{file}}" } } ] }'
start_server
stop_server
sqlite3 "$SERVER_DIR/outpost.db" "CREATE TABLE pad (x BLOB);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
	INSERT INTO pad SELECT randomblob(1048576) FROM n;" ||
	fail "cannot pad the database"
start_server --state-dir "$SERVER_DIR"
mkdir -p "$WORK/bk"

# ============================================================================
# a. A name that exists.
# ============================================================================
printf 'precious bytes\n' >"$WORK/bk/there.db"
cp "$WORK/bk/there.db" "$WORK/there.orig"
start_run backup '{"params":{"file":"there.db"}}'
wait_run "$RUN_ID" failed 60
assert_contains "exists" "$(run_output "$RUN_ID")" "a backup onto a file there is"
cmp -s "$WORK/there.orig" "$WORK/bk/there.db" || fail "the existing file's bytes changed"
note "a: an existing name ok"

# ============================================================================
# b. A name made while the backup runs.
# ============================================================================
_part_seen() {
	local f
	for f in "$WORK/bk/$1".part*; do
		[ -e "$f" ] && return 0
	done
	return 1
}
won=
for try in 1 2 3 4 5; do
	name=race$try.db
	start_run backup "{\"params\":{\"file\":\"$name\"}}"
	deadline=$((SECONDS + 30))
	until _part_seen "$name" || [ -e "$WORK/bk/$name" ]; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no part file of $name in 30 s"
	done
	kill -STOP "$SERVER_PID"
	if [ -e "$WORK/bk/$name" ]; then
		# The backup was whole before the server stopped: try again, with another name.
		kill -CONT "$SERVER_PID"
		wait_run "$RUN_ID" succeeded 60
		note "b: try $try finished before the stop; again"
		continue
	fi
	printf 'made while the backup ran\n' >"$WORK/bk/$name"
	cp "$WORK/bk/$name" "$WORK/race.orig"
	kill -CONT "$SERVER_PID"
	wait_run "$RUN_ID" failed 60
	assert_contains "exists" "$(run_output "$RUN_ID")" "a backup onto a file made while it ran"
	cmp -s "$WORK/race.orig" "$WORK/bk/$name" ||
		fail "the file made while the backup ran was replaced"
	won=1
	break
done
[ -n "$won" ] || fail "in 5 tries the backup was never caught running"
ls "$WORK/bk" | grep -q part && fail "a part file is left: $(ls "$WORK/bk")"
note "b: a name made while the backup ran ok"

# ============================================================================
# c. A new name: a whole backup.
# ============================================================================
start_run backup '{"params":{"file":"whole.db"}}'
wait_run "$RUN_ID" succeeded 60
ls "$WORK/bk" | grep -q part && fail "a part file is left: $(ls "$WORK/bk")"
assert_eq 600 "$(stat -c %a "$WORK/bk/whole.db")" "mode of the backup"
assert_eq 40 "$(sqlite3 "$WORK/bk/whole.db" 'SELECT count(*) FROM pad')" "the pad in the backup"
stop_server
mkdir -p "$WORK/restored"
cp "$WORK/bk/whole.db" "$WORK/restored/outpost.db"
cp "$SERVER_DIR/admin.token" "$WORK/restored/admin.token"
start_server --state-dir "$WORK/restored"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/runbooks
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd on the restored backup"
exit 0
