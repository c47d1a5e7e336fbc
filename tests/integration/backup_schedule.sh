#!/bin/sh
# Scheduled backups (backup_interval), their rotation, their checks, the API and the CLI:
#  a. a schedule of 1 s with backup_keep 3 makes verified backups and keeps the newest 3 of
#     its own: names outpost-STAMP.db, a manifest each whose SHA-256 is sha256sum's, whose
#     counts and last event are the file's; a file it did not make (a runbook's backup, a
#     stranger) is never removed; backup.succeeded events; /metrics says so;
#  b. the restore drill passes on the newest (a throwaway outpostd on a copy, /readyz,
#     counts), and leaves no directory behind;
#  c. outpost backup list | create | verify; verify catches a copy with bytes flipped (its
#     manifest's SHA-256) and a file whose pages are damaged (integrity_check); the API
#     refuses names that leave backup_dir (400), unknown ones (404), a viewer (403);
#  d. the backup_stale alert rule fires when no good backup is as new as it asks, and
#     resolves after outpost backup create;
#  e. backup_at makes the backup none was made for at the start, and reckons the next at
#     that local time; bad backup settings are refused, naming the setting (exit 2).
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: backup_schedule needs sqlite3" >&2; exit 77; }
command -v sha256sum >/dev/null || { echo "SKIP: backup_schedule needs sha256sum" >&2; exit 77; }

BK=$WORK/bk
mkdir -p "$BK"
# Not the schedule's: never rotated.
printf 'not a backup of ours\n' >"$BK/stranger.db"
start_server --backup-dir "$BK" --backup-interval 1s --backup-keep 3
cli_as_admin
create_definition exam
create_instance exam ana
create_token join agent
TOKEN=$NEW_TOKEN api_ok 201 POST /api/v1/agent/register \
	'{"name":"w1","capacity":{"cpu":4,"memory_mb":4096,"slots":2}}'

# ============================================================================
# a. Verified, rotated.
# ============================================================================
_succeeded_at_least() {
	[ "$(grep -c '"msg":"backup.succeeded"' "$SERVER_LOG")" -ge "$1" ]
}
wait_for 60 "6 scheduled backups" _succeeded_at_least 6
api_ok 200 GET "/api/v1/events?types=backup.succeeded&limit=1000"
[ "$(jbody '.items | length')" -ge 6 ] || fail "backup.succeeded events: $(jbody '.items | length')"
assert_eq schedule "$(jbody -r '.items[0].data.trigger')" "a scheduled backup's trigger"
api_ok 200 GET /metrics
assert_match 'outpost_backups_total\{result="succeeded"\} [0-9]+' "$BODY" "the backups' counter"
ts=$(printf '%s\n' "$BODY" | awk '$1 == "outpost_backup_last_success_timestamp_seconds" { print int($2) }')
[ "$(( $(date +%s) - ts ))" -le 10 ] || fail "last success timestamp $ts is not recent"
# A period of 1 s, and a minute for the backup itself: stale after 61 s.
assert_contains 'outpost_backup_max_age_seconds 61.000' "$BODY" "the schedule's allowed age"
# Stopped, so that the files hold still while they are looked at; a backup in flight at
# the stop is abandoned, its part file removed.
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit"
own() { ls "$BK" | grep -E '^outpost-[0-9]{8}T[0-9]{6}\.[0-9]{3}Z\.db$'; }
assert_eq 3 "$(own | wc -l)" "the schedule's backups kept (backup_keep 3)"
[ -e "$BK/stranger.db" ] || fail "the rotation removed a file it did not make"
ls "$BK" | grep -q part && fail "a part file is left: $(ls "$BK")"
for f in $(own); do
	[ -f "$BK/$f.json" ] || fail "$f has no manifest"
	assert_eq "$(sha256sum "$BK/$f" | cut -d' ' -f1)" "$(jq -r .sha256 "$BK/$f.json")" \
		"$f: the manifest's SHA-256"
	assert_eq "ok" "$(sqlite3 "file:$BK/$f?mode=ro" 'PRAGMA integrity_check')" "$f: integrity"
	assert_eq "$(sqlite3 "file:$BK/$f?mode=ro" 'SELECT max(seq) FROM events')" \
		"$(jq -r .event_seq "$BK/$f.json")" "$f: the manifest's last event"
	assert_eq 1 "$(jq -r .counts.instances "$BK/$f.json")" "$f: instances in the manifest"
	assert_eq 1 "$(sqlite3 "file:$BK/$f?mode=ro" 'SELECT count(*) FROM instances')" \
		"$f: instances in the file"
	assert_eq "$(sqlite3 "file:$BK/$f?mode=ro" 'PRAGMA user_version')" \
		"$(jq -r .schema_version "$BK/$f.json")" "$f: the manifest's schema version"
	assert_eq delete "$(sqlite3 "file:$BK/$f?mode=ro" 'PRAGMA journal_mode')" "$f: journal mode"
done
# No manifest without its backup (the removed ones' went with them).
for m in "$BK"/outpost-*.db.json; do
	[ -f "${m%.json}" ] || fail "a manifest without its backup: $m"
done
note "a: verified, rotated ok"

# ============================================================================
# b. The restore drill on the newest.
# ============================================================================
mkdir -p "$WORK/tmp"
TMPDIR=$WORK/tmp "$OUTPOSTD" restore-drill --state-dir "$SERVER_DIR" --backup-dir "$BK" \
	>"$WORK/drill.out" 2>&1
rc=$?
[ "$rc" = 0 ] || fail "restore-drill exited $rc: $(cat "$WORK/drill.out")"
assert_contains "verdict: passed" "$(cat "$WORK/drill.out")" "the drill's verdict"
assert_contains "instances 1 (the backup: 1), workers 1 (1)" "$(cat "$WORK/drill.out")" \
	"the drill's counts"
[ -z "$(ls "$WORK/tmp")" ] || fail "the drill left $(ls "$WORK/tmp")"
note "b: the restore drill ok"

# ============================================================================
# c. The CLI, and verify.
# ============================================================================
start_server --state-dir "$SERVER_DIR" --backup-dir "$BK"
cli_as_admin
cli 0 backup list
assert_contains "stranger.db" "$OUT" "backup list"
assert_contains "last good backup: outpost-" "$OUT" "backup list"
cli 0 -o json backup list
[ "$(printf '%s' "$OUT" | jq '[.items[] | select(.verified)] | length')" -ge 3 ] ||
	fail "backup list -o json: $OUT"
cli 0 backup create
assert_contains "backed up and verified: outpost-" "$OUT" "backup create"
name=$(own | tail -n 1)
cli 0 backup verify "$name"
assert_contains "good" "$OUT" "backup verify of a good one"
# Bytes flipped in a copy that keeps the manifest: the SHA-256 says so.
cp "$BK/$name" "$BK/flipped.db"
cp "$BK/$name.json" "$BK/flipped.db.json"
printf '\377\377\377\377' | dd of="$BK/flipped.db" bs=1 seek=5000 conv=notrunc 2>/dev/null
cli 1 backup verify flipped.db
assert_contains "SHA-256" "$ERR" "verify of a flipped copy"
# A copy whose pages are damaged, with no manifest: integrity_check says so.
cp "$BK/$name" "$BK/damaged.db"
size=$(stat -c %s "$BK/damaged.db")
dd if=/dev/urandom of="$BK/damaged.db" bs=4096 seek=2 count=$((size / 4096 - 3)) \
	conv=notrunc 2>/dev/null
cli 1 backup verify damaged.db
assert_contains "not a good backup" "$ERR" "verify of a damaged copy"
api_ok 400 POST "/api/v1/backups/..flipped.db/verify"
api_ok 400 POST "/api/v1/backups/.hidden.db/verify"
api_ok 400 POST "/api/v1/backups/x.json/verify"
api POST "/api/v1/backups/..%2Fstate%2Foutpost.db/verify"
case $STATUS in 400 | 404) ;; *) fail "a name with a slash: $STATUS $BODY" ;; esac
api_ok 404 POST "/api/v1/backups/nope.db/verify"
create_token viewer viewer
TOKEN=$NEW_TOKEN api_ok 403 GET /api/v1/backups
TOKEN=$NEW_TOKEN api_ok 403 POST /api/v1/backups
api_ok 400 POST /api/v1/backups '{"path":"/etc/x"}'
note "c: the CLI and verify ok"
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit"

# ============================================================================
# d. backup_stale.
# ============================================================================
printf '%s\n' '{ "rules": [ { "name": "backup-stale", "description": "no recent backup",
  "condition": { "type": "backup_stale", "for": "2s" } } ] }' >"$WORK/alerts.json"
mkdir -p "$WORK/empty"
start_server --state-dir "$SERVER_DIR" --backup-dir "$WORK/empty"
cli_as_admin
wait_alert_message backup-stale "no good backup"
cli 0 backup create
_resolved() {
	api GET /api/v1/alerts
	[ "$(jbody '.items[] | select(.rule == "backup-stale") | .firing')" = false ]
}
wait_for 15 "backup-stale to resolve" _resolved
note "d: backup_stale ok"
stop_server

# ============================================================================
# e. backup_at: a daily time; none made yet is made at the start. Bad settings.
# ============================================================================
mkdir -p "$WORK/daily"
start_server --state-dir "$SERVER_DIR" --backup-dir "$WORK/daily" --backup-at 03:30
wait_for 30 "the missed daily backup at the start" grep -q '"msg":"backup.succeeded"' "$SERVER_LOG"
api_ok 200 GET /api/v1/backups
assert_eq "03:30" "$(jbody -r .schedule.at)" "the schedule's time"
next=$(date -d "$(jbody -r .schedule.next_at)" +%s) || fail "next_at: $(jbody -r .schedule.next_at)"
[ "$next" -gt "$(date +%s)" ] && [ "$next" -le "$(( $(date +%s) + 86400 ))" ] ||
	fail "the next daily backup is not within a day: $(jbody -r .schedule.next_at)"
assert_eq "03:30" "$(date -d "@$next" +%H:%M)" "the next daily backup's local time"
stop_server
for bad in "--backup-at 25:00:backup_at" "--backup-at 3h:backup_at" \
	"--backup-interval 10ms:backup_interval" "--backup-keep -1:backup_keep" \
	"--backup-dir relative/dir:backup_dir" "--drill yes:drill"; do
	flag=${bad%%:*}
	"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/never" $flag >"$WORK/bad.out" 2>&1
	assert_eq 2 "$?" "outpostd $flag: exit code"
	assert_contains "${bad##*:}" "$(cat "$WORK/bad.out")" "outpostd $flag"
done
"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/never" --backup-at 03:30 \
	--backup-interval 1h >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "both schedules: exit code"
assert_contains "set one" "$(cat "$WORK/bad.out")" "both schedules"
[ ! -e "$WORK/never/outpost.db" ] || fail "a refused setting made a database"
note "e: backup_at and bad settings ok"
exit 0
