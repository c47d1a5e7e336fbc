#!/bin/sh
# The backup made before migrations: a database of an earlier schema (migrations 1..8 only,
# made by tests/tools/olddb with this tree's own migrations) with a definition in it:
#  a. outpostd starts on it, having written outpost-pre-v8-STAMP.db (verified: its manifest's
#     SHA-256 is sha256sum's; it holds version 8 and the definition) before migrating;
#  b. a migration that fails (the column migration 9 adds is there already) stops the start
#     with a message that says the version the database is left at and the backup's name;
#     the database is still at version 8;
#  c. a backup that cannot be written (backup_dir is a file) stops the start before any
#     migration, saying so; the database is still at version 8.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: backup_migrate needs sqlite3" >&2; exit 77; }
OLDDB=$top_builddir/tests/tools/olddb
[ -x "$OLDDB" ] || fail "$OLDDB is not built (make -C tests tools/olddb)"

old_db() {	# DIR: an earlier schema's database in DIR, with a definition
	mkdir -p "$1"
	"$OLDDB" "$1/outpost.db" 8 || fail "olddb failed"
	sqlite3 "$1/outpost.db" "INSERT INTO definitions (name, version, body, created_at)
		VALUES ('old', 1, '{\"name\":\"old\",\"hooks\":{\"run\":[\"/bin/true\"]}}', 0)" ||
		fail "cannot add a definition"
}

# ============================================================================
# a. Migrated, with its backup first.
# ============================================================================
old_db "$WORK/a"
start_server --state-dir "$WORK/a"
pre=$(ls "$WORK/a/backups" | grep -E '^outpost-pre-v8-[0-9T.]+Z\.db$')
[ -n "$pre" ] || fail "no outpost-pre-v8 backup: $(ls "$WORK/a/backups")"
f=$WORK/a/backups/$pre
assert_eq "$(sha256sum "$f" | cut -d' ' -f1)" "$(jq -r .sha256 "$f.json")" "the manifest's SHA-256"
assert_eq 8 "$(sqlite3 "file:$f?mode=ro" 'PRAGMA user_version')" "the backup's version"
assert_eq 8 "$(jq -r .schema_version "$f.json")" "the manifest's version"
assert_eq old "$(sqlite3 "file:$f?mode=ro" 'SELECT name FROM definitions')" "the backup's data"
assert_eq ok "$(sqlite3 "file:$f?mode=ro" 'PRAGMA integrity_check')" "the backup's integrity"
api_ok 200 GET /api/v1/definitions/old
stop_server
assert_eq 10 "$(sqlite3 "$WORK/a/outpost.db" 'PRAGMA user_version')" "the live database's version"
note "a: the backup before migrations ok"

# ============================================================================
# b. A migration that fails.
# ============================================================================
old_db "$WORK/b"
sqlite3 "$WORK/b/outpost.db" "ALTER TABLE workers ADD COLUMN isolation TEXT" ||
	fail "cannot add the column"
"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/b" --log-format json \
	--template-dir "$WORK/templates" >"$WORK/b.log" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "outpostd started on a database whose migration fails"
msg=$(grep '^outpostd: ' "$WORK/b.log")
assert_contains "migration 9" "$msg" "the failed start's message"
assert_contains "left at schema version 8" "$msg" "the failed start's message"
assert_contains "outpost-pre-v8-" "$msg" "the failed start's message"
assert_eq 8 "$(sqlite3 "$WORK/b/outpost.db" 'PRAGMA user_version')" "the version after the failure"
ls "$WORK/b/backups" | grep -qE '^outpost-pre-v8-.*Z\.db$' || fail "no backup before the failure"
note "b: a failed migration says where things are ok"

# ============================================================================
# c. No backup, no migration.
# ============================================================================
old_db "$WORK/c"
printf 'a file\n' >"$WORK/c/notadir"
"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/c" --log-format json \
	--template-dir "$WORK/templates" --backup-dir "$WORK/c/notadir" >"$WORK/c.log" 2>&1
rc=$?
[ "$rc" != 0 ] || fail "outpostd migrated with no backup"
assert_contains "cannot back up the database before migrating" "$(cat "$WORK/c.log")" \
	"the refused start's message"
assert_eq 8 "$(sqlite3 "$WORK/c/outpost.db" 'PRAGMA user_version')" "the version after the refusal"
note "c: no backup, no migration ok"
exit 0
