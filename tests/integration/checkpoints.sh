#!/bin/bash
# Checkpoints of the database's log run in a thread of their own
# (store_ckpt.c), not inside the loop's commits: they happen, the log stays
# bounded under writes that never pause, none fails, and a kill -9 while they
# run (creates from two clients at once) loses nothing that was answered.
. "$(dirname "$0")/lib.sh"

metric() { curl -s "$SERVER_URL/metrics" | sed -n "s/^$1 //p"; }
BATCH="{\"definition\":\"lab\",\"owner\":\"o\",\"timeslot_start\":\"$SLOT_START\",\
\"timeslot_end\":\"$SLOT_END\",\"count\":1000}"

start_server
dir=$SERVER_DIR
create_definition lab
[ "$(metric 'outpost_db_checkpoints_total{outcome="done"}')" = 0 ] ||
	fail "checkpoints before any write: $(metric 'outpost_db_checkpoints_total{outcome="done"}')"

# 40 batches of 1,000, one after the other: about 20,000 pages of log.
for i in $(seq 1 40); do
	api_ok 201 POST /api/v1/instances "$BATCH"
done
wait_for 10 "a checkpoint by the thread" sh -c \
	"[ \"\$(curl -s $SERVER_URL/metrics | sed -n 's/^outpost_db_checkpoints_total{outcome=\"done\"} //p')\" -ge 1 ]"
assert_eq 0 "$(metric 'outpost_db_checkpoints_total{outcome="failed"}')" "failed checkpoints"
wal=$(metric outpost_db_wal_size_bytes)
frames=$(metric outpost_db_wal_frames)
note "after 40,000 creates: log $wal bytes, $frames frames at the last commit"
# 4,000 frames of 4 KiB (the loop's own checkpoint past them), and a batch's.
[ "$wal" -le $((24 * 1024 * 1024)) ] || fail "the log grew to $wal bytes: not checkpointed"

# Two clients creating at once, the thread checkpointing behind them; kill -9.
: >"$WORK/acked"
for c in 1 2; do
	(
		for i in $(seq 1 400); do
			code=$(curl -s -o "$WORK/one.$c" -w '%{http_code}' --max-time 10 -X POST \
				-H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
				--data-binary "$BATCH" "$SERVER_URL/api/v1/instances") || break
			[ "$code" = 201 ] || break
			jq -r '.items[].id' "$WORK/one.$c" >>"$WORK/acked"
		done
	) &
	track_pid $!
done
wait_for 60 "10,000 more instances answered" sh -c "[ \$(wc -l <'$WORK/acked') -ge 10000 ]"
crash_server
wait
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
