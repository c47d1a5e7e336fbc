#!/bin/bash
# outpostd --check: what a start would find, changing nothing. A state
# directory that is absent (not made), a bad setting (exit 2, named), a
# running server (exit 3, its pid; a second server on the directory is
# refused), a stopped one (exit 0: the file's bytes and mtime unchanged, no
# -wal or -shm made), and the databases a start would fail on (exit 1):
# newer than the binary, failing quick_check, not a database.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: $TEST_NAME needs sqlite3" >&2; exit 77; }

# check [ARGS...]: its output in $OUT, its status in $RC.
check() {
	OUT=$("$OUTPOSTD" --check "$@" 2>&1)
	RC=$?
}

check --state-dir "$WORK/absent"
assert_eq 0 "$RC" "--check on an absent state directory ($OUT)"
assert_contains "absent; a start makes it" "$OUT" "--check on an absent state directory"
[ ! -e "$WORK/absent" ] || fail "--check made the state directory"

printf 'ws_max_lag = -5\n' >"$WORK/bad.conf"
check --state-dir "$WORK/absent" --config "$WORK/bad.conf"
assert_eq 2 "$RC" "--check with a bad setting"
assert_contains "ws_max_lag" "$OUT" "--check's error names the setting"
check --state-dir "$WORK/absent" --no-such-flag
assert_eq 2 "$RC" "--check with an unknown flag"

start_server
api_ok 201 POST /api/v1/definitions '{"name":"d1","hooks":{"run":["/bin/true"]}}'
check --state-dir "$SERVER_DIR"
assert_eq 3 "$RC" "--check while a server runs ($OUT)"
assert_contains "outpostd pid $SERVER_PID is running" "$OUT" "--check names the running server"
assert_contains "integrity: ok" "$OUT" "--check reads the database under a running server"
assert_contains "rows: definitions 1," "$OUT" "--check's counts under a running server"

# A second server on the same state directory is refused, naming the first.
timeout 20 "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$SERVER_DIR" >"$WORK/second.log" 2>&1
assert_eq 1 "$?" "a second outpostd on the state directory"
assert_contains "another outpostd (pid $SERVER_PID)" "$(cat "$WORK/second.log")" \
	"the second outpostd's refusal"
kill -0 "$SERVER_PID" || fail "the first server died"
api_ok 200 GET /api/v1/definitions/d1

stop_server
db=$SERVER_DIR/outpost.db
[ ! -e "$db-wal" ] || fail "a -wal is left after a clean stop"
before=$(sha256sum <"$db")
mtime=$(stat -c %Y.%y "$db")
listing=$(ls -la --time-style=full-iso "$SERVER_DIR")
sleep 1.1	# a write would move the mtime by a second at least
check --state-dir "$SERVER_DIR"
assert_eq 0 "$RC" "--check on a stopped server's state directory ($OUT)"
assert_contains "server: none running" "$OUT" "--check with no server"
assert_contains "schema: version" "$OUT" "--check's schema line"
assert_contains "no migration to run" "$OUT" "--check on a current database"
assert_eq "$before" "$(sha256sum <"$db")" "the database's bytes after --check"
assert_eq "$mtime" "$(stat -c %Y.%y "$db")" "the database's mtime after --check"
[ ! -e "$db-wal" ] || fail "--check made a -wal"
[ ! -e "$db-shm" ] || fail "--check made a -shm"
assert_eq "$listing" "$(ls -la --time-style=full-iso "$SERVER_DIR")" "the state directory after --check"

# Databases a start would fail on: each is exit 1, and says why.
mkdir -p "$WORK/newer" "$WORK/corrupt" "$WORK/notdb"
cp "$db" "$WORK/newer/outpost.db"
sqlite3 "$WORK/newer/outpost.db" 'PRAGMA user_version = 99'
check --state-dir "$WORK/newer"
assert_eq 1 "$RC" "--check on a database newer than the binary"
assert_contains "version 99, newer than this outpostd" "$OUT" "--check on a newer database"
timeout 20 "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/newer" >"$WORK/newer.log" 2>&1
assert_eq 1 "$?" "outpostd's start on the newer database, as --check said"

cp "$db" "$WORK/corrupt/outpost.db"
pages=$(sqlite3 "$db" 'PRAGMA page_count')
size=$(sqlite3 "$db" 'PRAGMA page_size')
# Every page but the first (the header and the schema) is overwritten with noise.
dd if=/dev/urandom of="$WORK/corrupt/outpost.db" bs="$size" seek=1 count=$((pages - 1)) \
	conv=notrunc status=none
check --state-dir "$WORK/corrupt"
assert_eq 1 "$RC" "--check on a corrupt database ($OUT)"

printf 'not a database at all, just text that is long enough to be read as a header\n' \
	>"$WORK/notdb/outpost.db"
check --state-dir "$WORK/notdb"
assert_eq 1 "$RC" "--check on a file that is not a database"
assert_contains "a start would fail" "$OUT" "--check's result on a file that is not a database"
echo "PASS: $TEST_NAME"
