#!/bin/bash
# kill -9 during a migration. The schema v3 fixture, grown to 300,000
# instances, each with a transition, an event and a chunk of log, so that
# migration 4 (which counts each instance's log bytes) takes a measurable
# time, is started on and outpostd is killed while it migrates:
# it has the database open, has not begun to serve, and has not logged every
# migration. Each migration is one transaction with its user_version bump, so
# the file is left at the last whole one; the next start migrates from there
# to the latest, and nothing is lost: every row counted before is there, each
# instance's log_bytes is its log's, the event numbers are gapless,
# integrity_check is ok, --check agrees.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || { echo "SKIP: $TEST_NAME needs sqlite3" >&2; exit 77; }

FIXTURE=$top_srcdir/tests/fixtures/schema-v3.db
LATEST=$("$OUTPOSTD" --check --state-dir "$WORK/none" | sed -n 's/^outpostd: .*schema version \([0-9]*\)$/\1/p')
ROWS=300000
[ -f "$FIXTURE" ] || fail "no $FIXTURE"
big=$WORK/big.db
cp "$FIXTURE" "$big"
sqlite3 "$big" "
BEGIN;
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $ROWS)
INSERT INTO instances (definition, definition_version, owner, state, cpu, memory_mb,
	timeslot_start, timeslot_end, created_at, updated_at)
SELECT 'fx-later', 1, 'bulk' || (x % 100), 'terminated', 1, 64, 1700000000000 + x * 1000,
	1700000600000 + x * 1000, 1700000000000, 1700000000000 FROM n;
INSERT INTO transitions (instance_id, from_state, to_state, reason, actor, at)
SELECT id, NULL, 'terminated', 'bulk', 'test', created_at FROM instances WHERE owner LIKE 'bulk%';
INSERT INTO instance_logs (instance_id, attempt, hook, offset, at, text)
SELECT id, 1, 'run', 0, created_at, 'the log of ' || id FROM instances WHERE owner LIKE 'bulk%';
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < $ROWS)
INSERT INTO events (ts, type, kind, ref, actor, data)
SELECT 1700000000000 + x, 'instance.created', 'instance', x, 'test', '{}' FROM n;
COMMIT;" || fail "cannot grow the fixture"
count() { sqlite3 "$1" "SELECT (SELECT count(*) FROM instances) || ' ' ||
	(SELECT count(*) FROM transitions) || ' ' || (SELECT count(*) FROM events) || ' ' ||
	(SELECT max(seq) FROM events) || ' ' || (SELECT count(*) FROM tokens)"; }
before=$(count "$big")
note "grown: instances transitions events last_seq tokens = $before"

dir=$WORK/state
mkdir -p "$dir"
chmod 700 "$dir"
admin=$(jq -r '.tokens[] | select(.name == "admin") | .secret' "${FIXTURE%.db}.json")

# Started and killed while it migrates; a kill that came too late (every migration
# done) or too early (the database not open yet) is tried again on a fresh copy.
killed_at=
for attempt in 1 2 3 4 5; do
	cp "$big" "$dir/outpost.db"
	rm -f "$dir/outpost.db-wal" "$dir/outpost.db-shm"
	log=$WORK/killed.$attempt.log
	"$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$dir" --log-format json \
		--template-dir "$WORK/t" --runbook-dir "$WORK/r" >"$log" 2>&1 &
	pid=$!
	track_pid "$pid"
	# Open the database, not yet serving: in store_migrate (nothing else comes between).
	deadline=$((SECONDS + 20))
	until ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "outpost.db$"; do
		[ "$SECONDS" -lt "$deadline" ] || fail "outpostd did not open the database in 20 s"
		sleep 0.01
	done
	sleep "0.$(((attempt - 1) * 2))"
	migrated=$(grep -c '"store.migrated"' "$log")
	listening=$(grep -c '"outpostd.listening"' "$log")
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	version=$(sqlite3 "$dir/outpost.db" 'PRAGMA user_version')
	note "attempt $attempt: killed after $migrated migrations logged; the file says version $version"
	if [ "$listening" = 0 ] && [ "$version" -lt "$LATEST" ]; then
		killed_at=$version
		break
	fi
done
[ -n "$killed_at" ] || fail "no kill landed during the migrations in 5 attempts"

# The file is at a whole migration: the one in flight left nothing.
assert_eq "ok" "$(sqlite3 "$dir/outpost.db" 'PRAGMA integrity_check')" "integrity after the kill"
out=$("$OUTPOSTD" --check --state-dir "$dir")
assert_contains "schema: version $killed_at;" "$out" "--check after the kill"

printf '%s\n' "$admin" >"$dir/admin.token"
chmod 600 "$dir/admin.token"
# A backup of 300,000 instances, then the migrations: a minute under a sanitizer on a loaded machine.
START_TIMEOUT=120 start_server --state-dir "$dir"
assert_eq "$((LATEST - killed_at))" "$(grep -c '"store.migrated"' "$SERVER_LOG")" \
	"migrations run by the start after the kill (from $killed_at)"
api_ok 200 "GET" "/api/v1/instances?owner=bulk7&limit=1"
assert_eq bulk7 "$(jbody '.items[0].owner')" "a grown instance through the API"
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit after the migration"

after=$(count "$dir/outpost.db")
# The start adds what it writes (no events for a migration); the counts before it stay.
# (the scheduler's pass and the lost worker of the fixture add transitions and events).
read -r i t e s k <<<"$before"
read -r i2 t2 e2 s2 k2 <<<"$after"
assert_eq "$i $k" "$i2 $k2" "instances and tokens after the kill and the restart"
[ "$t2" -ge "$t" ] && [ "$e2" -ge "$e" ] && [ "$s2" -ge "$s" ] ||
	fail "rows lost: $before, then $after"
assert_eq "$ROWS $ROWS $ROWS" "$(sqlite3 "$dir/outpost.db" "SELECT
	(SELECT count(*) FROM instances WHERE owner LIKE 'bulk%' AND state = 'terminated') || ' ' ||
	(SELECT count(*) FROM transitions WHERE reason = 'bulk') || ' ' ||
	(SELECT count(*) FROM events WHERE actor = 'test' AND type = 'instance.created')")" \
	"the grown rows after the restart"
assert_eq "$ROWS" "$(sqlite3 "$dir/outpost.db" "SELECT count(*) FROM instances i
	JOIN instance_logs l ON l.instance_id = i.id
	WHERE i.owner LIKE 'bulk%' AND i.log_bytes = length(CAST(l.text AS BLOB))")" \
	"instances whose log_bytes (migration 4) is their log's"
assert_eq "$e2" "$s2" "events gapless from 1 (count = last seq) after the restart"
assert_eq "$LATEST" "$(sqlite3 "$dir/outpost.db" 'PRAGMA user_version')" "the schema after the restart"
assert_eq "ok" "$(sqlite3 "$dir/outpost.db" 'PRAGMA integrity_check')" "integrity after the restart"
out=$("$OUTPOSTD" --check --state-dir "$dir")
assert_eq 0 "$?" "--check after the restart ($out)"
echo "PASS: $TEST_NAME (killed at schema $killed_at)"
