#!/bin/sh
# Another process writing to the database (a backup, an sqlite3 shell) makes
# a change wait only briefly: the request gets 503 unavailable with
# Retry-After at once, the loop keeps answering, nothing changes, and the same
# request succeeds once the other writer is done.
. "$(dirname "$0")/lib.sh"

command -v sqlite3 >/dev/null || { echo "SKIP: busy needs sqlite3" >&2; exit 77; }
start_server
create_definition lab
get_instance_count
before=$COUNT

# Hold the write lock from another process for a few seconds.
(echo "BEGIN IMMEDIATE; SELECT 'locked';"; sleep 4; echo "COMMIT;") |
	sqlite3 "$SERVER_DIR/outpost.db" >"$WORK/lock.out" 2>&1 &
track_pid $!
wait_for 5 "the other process to take the lock" grep -q locked "$WORK/lock.out"

t0=$(date +%s%N)
api POST /api/v1/instances "{\"definition\":\"lab\",\"owner\":\"o\",\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\"}"
ms=$((($(date +%s%N) - t0) / 1000000))
assert_error 503 unavailable ""
assert_eq 1 "$(header retry-after)" "Retry-After of a busy database"
[ "$ms" -lt 1500 ] || fail "a busy database held the request for $ms ms"
api_ok 200 GET /healthz

wait_for 15 "the create to succeed after the lock" sh -c \
	"curl -s -o /dev/null -w '%{http_code}' -H 'Authorization: Bearer $SERVER_TOKEN' \
	-d '{\"definition\":\"lab\",\"owner\":\"o2\",\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\"}' \
	$SERVER_URL/api/v1/instances | grep -qx 201"
get_instance_count
assert_eq $((before + 1)) "$COUNT" "instances: the refused create made none, the retried one one"
exit 0
