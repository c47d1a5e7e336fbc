#!/bin/sh
# outpostd restore FILE:
#  a. refused while the server runs (exit 3), nothing changed; a second outpostd on the
#     same state directory does not start (exit 1);
#  b. a file that is not a good backup is refused (exit 4), nothing changed;
#  c. with the server stopped, it keeps the database aside (outpost.db.before-restore-STAMP)
#     and installs the backup, mode 0600; the server started again holds the backup's data
#     (a definition made after the backup is gone, the one before is there), and its token;
#  d. the restore drill on the installed backup passes; on a damaged one it fails (exit 1);
#  e. the shipped runbook restore-drill runs it, on the newest backup, and passes;
#  f. the drill's server (drill = true) starts no provisioner's program for a template
#     that asks for a worker; a server without it does (so the check can fail).
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: restore needs sqlite3" >&2; exit 77; }

start_server
cli_as_admin
create_definition before
cli 0 backup create
name=$(printf '%s\n' "$OUT" | sed -n 's/^backed up and verified: \([^ ]*\) .*/\1/p')
[ -n "$name" ] || fail "no backup name in: $OUT"
BKF=$SERVER_DIR/backups/$name
create_definition after

# ============================================================================
# a. While the server runs.
# ============================================================================
sum_before=$(sha256sum "$SERVER_DIR/outpost.db" | cut -d' ' -f1)
"$OUTPOSTD" restore --state-dir "$SERVER_DIR" "$BKF" >"$WORK/r.out" 2>&1
assert_eq 3 "$?" "restore while the server runs: exit code"
assert_contains "running" "$(cat "$WORK/r.out")" "restore while the server runs"
api_ok 200 GET /api/v1/definitions/after
ls "$SERVER_DIR" | grep -q before-restore && fail "a refused restore moved the database aside"
# Nor does a second server start on the same state directory (it holds outpostd.lock).
"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$SERVER_DIR" --log-format json \
	--template-dir "$WORK/templates" >"$WORK/second.log" 2>&1 &
second=$!
track_pid "$second"
wait_exit "$second" 20
assert_eq 1 "$EXIT_RC" "a second outpostd on the same state directory: exit code"
assert_contains "another outpostd (pid" "$(cat "$WORK/second.log")" "the second outpostd"
note "a: refused while running ok"
stop_server

# ============================================================================
# b. Not a good backup.
# ============================================================================
cp "$BKF" "$WORK/bad.db"
cp "$BKF.json" "$WORK/bad.db.json"
printf '\377\377\377\377' | dd of="$WORK/bad.db" bs=1 seek=9000 conv=notrunc 2>/dev/null
sum_before=$(sha256sum "$SERVER_DIR/outpost.db" | cut -d' ' -f1)
"$OUTPOSTD" restore --state-dir "$SERVER_DIR" "$WORK/bad.db" >"$WORK/r.out" 2>&1
assert_eq 4 "$?" "restore of a damaged file: exit code"
assert_contains "not a good backup" "$(cat "$WORK/r.out")" "restore of a damaged file"
assert_eq "$sum_before" "$(sha256sum "$SERVER_DIR/outpost.db" | cut -d' ' -f1)" \
	"the database after a refused restore"
ls "$SERVER_DIR" | grep -q before-restore && fail "a refused restore moved the database aside"
"$OUTPOSTD" restore --state-dir "$SERVER_DIR" >"$WORK/r.out" 2>&1
assert_eq 2 "$?" "restore without FILE: exit code"
note "b: a bad file refused ok"

# ============================================================================
# c. Restored.
# ============================================================================
"$OUTPOSTD" restore --state-dir "$SERVER_DIR" "$BKF" >"$WORK/r.out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "restore exited $rc: $(cat "$WORK/r.out")"
assert_contains "next:" "$(cat "$WORK/r.out")" "restore says what to do next"
aside=$(ls "$SERVER_DIR" | grep '^outpost\.db\.before-restore-[0-9T.]*Z$')
[ -n "$aside" ] || fail "no outpost.db.before-restore-STAMP in $(ls "$SERVER_DIR")"
assert_eq "$sum_before" "$(sha256sum "$SERVER_DIR/$aside" | cut -d' ' -f1)" \
	"the database kept aside"
assert_eq 600 "$(stat -c %a "$SERVER_DIR/outpost.db")" "the restored database's mode"
assert_eq "$(stat -c %u:%g "$SERVER_DIR")" "$(stat -c %u:%g "$SERVER_DIR/outpost.db")" \
	"the restored database's owner"
start_server --state-dir "$SERVER_DIR"
api_ok 200 GET /api/v1/definitions/before
api_ok 404 GET /api/v1/definitions/after
note "c: restored ok"
stop_server

# ============================================================================
# d. The drill.
# ============================================================================
mkdir -p "$WORK/tmp"
TMPDIR=$WORK/tmp "$OUTPOSTD" restore-drill --state-dir "$SERVER_DIR" "$BKF" >"$WORK/d.out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "restore-drill exited $rc: $(cat "$WORK/d.out")"
TMPDIR=$WORK/tmp "$OUTPOSTD" restore-drill --state-dir "$SERVER_DIR" "$WORK/bad.db" \
	>"$WORK/d.out" 2>&1
assert_eq 1 "$?" "the drill on a damaged file: exit code"
assert_contains "verdict: FAILED" "$(cat "$WORK/d.out")" "the drill on a damaged file"
[ -z "$(ls "$WORK/tmp")" ] || fail "the drill left $(ls "$WORK/tmp")"
note "d: the drill ok"

# ============================================================================
# e. The shipped runbook restore-drill: outpostd restore-drill as its program.
# ============================================================================
mkdir -p "$WORK/runbooks"
cp "$top_srcdir/runbooks/restore-drill.json" "$WORK/runbooks/"
PATH=$(dirname "$OUTPOSTD"):$PATH TMPDIR=$WORK/tmp start_server --state-dir "$SERVER_DIR"
start_run restore-drill '{}'
wait_run "$RUN_ID" succeeded 120
assert_contains "verdict: passed" "$(run_output "$RUN_ID")" "the restore-drill runbook's output"
[ -z "$(ls "$WORK/tmp")" ] || fail "the drill left $(ls "$WORK/tmp")"
note "e: the restore-drill runbook ok"
stop_server

# ============================================================================
# f. A drill's server acts on nothing: a copy whose template asks for a worker
#    starts no provisioner's program with drill = true; without it, it does.
# ============================================================================
printf '#!/bin/sh\ntouch "%s/agent-started.$$"\nexec sleep 30\n' "$WORK" >"$WORK/fake-agent"
chmod 755 "$WORK/fake-agent"
mkdir -p "$WORK/ftemplates"
printf '{ "capacity": { "cpu": 1, "memory_mb": 64, "slots": 1 }, "min": 1, "max": 1,
  "provisioner": { "type": "local", "agent": "%s" } }\n' "$WORK/fake-agent" \
	>"$WORK/ftemplates/lab.json"
start_server --state-dir "$WORK/f-drill" --template-dir "$WORK/ftemplates" --drill true
sleep 3
ls "$WORK" | grep -q agent-started && fail "a drill's server started a provisioner's program"
stop_server
start_server --state-dir "$WORK/f-site" --template-dir "$WORK/ftemplates"
wait_for 20 "the site's server to start its agent" eval 'ls "$WORK" | grep -q agent-started'
stop_server
note "f: a drill's server starts nothing ok"
exit 0
