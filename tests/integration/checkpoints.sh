#!/bin/bash
# Checkpoints of the database's log run in a thread of their own
# (store_ckpt.c), not inside the loop's commits: they happen (the database
# file itself grows: only a checkpoint writes there), none fails, the log
# stays under its bound while two clients write at once, and a kill -9 while
# they run loses nothing that was answered.
. "$(dirname "$0")/lib.sh"

metric() { curl -s "$SERVER_URL/metrics" | sed -n "s/^$1 //p"; }
BATCH="{\"definition\":\"lab\",\"owner\":\"o\",\"timeslot_start\":\"$SLOT_START\",\
\"timeslot_end\":\"$SLOT_END\",\"count\":1000}"

THREAD_DONE='outpost_db_checkpoints_total{by="thread",outcome="done"}'
start_server
dir=$SERVER_DIR
create_definition lab
assert_eq 0 "$(metric "$THREAD_DONE")" "checkpoints by the thread before any write"
size0=$(stat -c %s "$dir/outpost.db")

# 40 batches of 1,000, one after the other: about 20,000 pages of log.
for i in $(seq 1 40); do
	api_ok 201 POST /api/v1/instances "$BATCH"
done
wait_for 10 "a checkpoint by the thread" sh -c "curl -s $SERVER_URL/metrics |
	grep -q '^outpost_db_checkpoints_total{by=\"thread\",outcome=\"done\"} [1-9]'"
for by in thread loop; do
	assert_eq 0 "$(metric "outpost_db_checkpoints_total{by=\"$by\",outcome=\"failed\"}")" \
		"failed checkpoints by the $by"
done
# SQLite's own checkpoints are off on the loop's connection: only the thread's
# (or the loop's own, past 4,000 pages) put pages in the database file.
size1=$(stat -c %s "$dir/outpost.db")
note "after 40,000 creates: the database file $size0 -> $size1 bytes," \
	"$(metric "$THREAD_DONE") checkpoints by the thread"
[ "$size1" -ge $((size0 + 4 * 1024 * 1024)) ] ||
	fail "the database file grew from $size0 to $size1 bytes only: nothing was checkpointed"

# Two clients creating at once, the thread checkpointing behind them; kill -9.
# Each keeps its own list: jq writes 1,000 ids in more than one write, and two
# appending to one file could cut a line in two (a made-up id, "missing").
: >"$WORK/acked.1"
: >"$WORK/acked.2"
for c in 1 2; do
	(
		for i in $(seq 1 400); do
			code=$(curl -s -o "$WORK/one.$c" -w '%{http_code}' --max-time 10 -X POST \
				-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
				--data-binary "$BATCH" "$SERVER_URL/api/v1/instances") || break
			[ "$code" = 201 ] || break
			jq -r '.items[].id' "$WORK/one.$c" >>"$WORK/acked.$c"
		done
	) &
	track_pid $!
done
wait_for 60 "10,000 more instances answered" sh -c \
	"[ \$(cat '$WORK/acked.1' '$WORK/acked.2' | wc -l) -ge 10000 ]"
# The log's bound: 16,000 pages of 4 KiB, past which the loop copies whatever is
# left itself, and what one more batch adds (the file keeps its largest size).
wal=$(metric outpost_db_wal_size_bytes)
note "two clients writing: the log's file $wal bytes, $(metric outpost_db_wal_frames) pages"
[ "$wal" -le $((72 * 1024 * 1024)) ] || fail "the log grew to $wal bytes: past its bound"
crash_server
wait
cat "$WORK/acked.1" "$WORK/acked.2" >"$WORK/acked"
n=$(wc -l <"$WORK/acked")
note "$n instances answered 201 before the kill -9"
assert_eq ok "$(sqlite3 "$dir/outpost.db" 'PRAGMA integrity_check')" "integrity_check after kill -9"
start_server --state-dir "$dir"
sort "$WORK/acked" >"$WORK/acked.sorted"
sqlite3 "$dir/outpost.db" 'SELECT id FROM instances' | sort >"$WORK/stored"
missing=$(comm -23 "$WORK/acked.sorted" "$WORK/stored" | wc -l)
assert_eq 0 "$missing" "instances answered 201 and missing after kill -9"
if grep -q '"store.checkpoint_failed"' "$WORK"/outpostd.*.log; then
	fail "a checkpoint failed: $(grep -h '"store.checkpoint_failed"' "$WORK"/outpostd.*.log | head -n 1)"
fi
exit 0
