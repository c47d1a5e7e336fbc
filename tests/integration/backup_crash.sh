#!/bin/sh
# kill -9 during a scheduled backup leaves nothing that looks good and is not: the database
# is padded (40 MiB, added with sqlite3 while the server is down) so that a backup takes many
# slices; once the part file of a scheduled backup is there, the server is killed. Then no
# file is under that backup's name and it has no manifest; every backup name in the
# directory has its manifest and verifies; the next start removes the part files
# (backup.part_removed) and the schedule goes on; a backup asked for while one runs is 409.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: backup_crash needs sqlite3" >&2; exit 77; }

BK=$WORK/bk
start_server
stop_server
sqlite3 "$SERVER_DIR/outpost.db" "CREATE TABLE pad (x BLOB);
	WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 40)
	INSERT INTO pad SELECT randomblob(1048576) FROM n;" ||
	fail "cannot pad the database"

_part() {
	local f
	for f in "$BK"/outpost-*.db.part-??????; do
		[ -e "$f" ] && { PART=$f; return 0; }
	done
	return 1
}
caught=
for try in 1 2 3 4 5; do
	start_server --state-dir "$SERVER_DIR" --backup-dir "$BK" --backup-interval 1s \
		--backup-keep 2
	PART=
	deadline=$((SECONDS + 60))
	until _part; do
		[ "$SECONDS" -lt "$deadline" ] || fail "no part file of a scheduled backup in 60 s"
	done
	crash_server
	name=$(basename "${PART%.part-*}")
	if [ -e "$BK/$name" ]; then
		note "try $try: $name was whole before the kill; again"
		continue
	fi
	caught=1
	break
done
[ -n "$caught" ] || fail "in 5 tries no backup was caught mid-way"
[ -e "$BK/$name.json" ] && fail "a manifest of the killed backup $name"
[ -e "$PART" ] || fail "the part file $PART is gone before the next start"
for f in "$BK"/*.db; do
	[ -e "$f" ] || continue
	[ -f "$f.json" ] || fail "$(basename "$f") has no manifest"
	assert_eq "$(sha256sum "$f" | cut -d' ' -f1)" "$(jq -r .sha256 "$f.json")" \
		"$(basename "$f"): the manifest's SHA-256"
done
note "killed during $name: nothing under its name"

# The next start removes the part files, and the schedule goes on.
start_server --state-dir "$SERVER_DIR" --backup-dir "$BK" --backup-interval 1h
wait_for 20 "the part files removed" eval '! ls "$BK" | grep -q part'
grep -q '"msg":"backup.part_removed"' "$SERVER_LOG" || fail "no backup.part_removed logged"
wait_for 60 "a backup after the start" grep -q '"msg":"backup.succeeded"' "$SERVER_LOG"
# One at a time: a second asked for while one runs (40 MiB: many slices) is 409.
api_ok 202 POST /api/v1/backups
first=$(jbody -r .name)
api_ok 409 POST /api/v1/backups
assert_eq backup_running "$(jbody -r .error.code)" "a second backup's refusal"
_done() {
	api GET /api/v1/backups
	[ "$(jbody -r '.last_success.name')" = "$first" ]
}
wait_for 60 "the backup asked for to succeed" _done
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit"
exit 0
