#!/bin/sh
# A full disk. A write the database has no room for is answered 507
# storage_full with retry-after, naming the cause, and changes nothing (no
# row, no event, no gap in the sequence); reads, /healthz and the event
# stream go on; /readyz answers 503 saying why; outpost_db_full and the
# shipped db-full alert rule fire; background work waits (one store.full line
# an episode, the clock does not act); every acknowledged create survives a
# kill -9; once there is room, /readyz, writes and the clock come back by
# themselves. Two ways to fill it:
#  a. db_max_size_mb (PRAGMA max_page_count): a cap of 2 MB, raised with
#     SIGHUP. Runs everywhere.
#  b. a real 4 MB tmpfs holding the state directory, freed by deleting a
#     ballast file; a run that ends while it is full is recorded once there
#     is room (never left "running"); and a backup onto a 256 KB tmpfs fails,
#     leaving no file. Root only: skipped where mount is refused.
. "$(dirname "$0")/lib.sh"

# The shipped rule, as an operator would copy it.
jq '{rules: [.rules[] | select(.name == "db-full")]}' \
	"$top_srcdir/packaging/alerts/alerts.json.example" >"$WORK/alerts.json"
assert_eq 1 "$(jq '.rules | length' "$WORK/alerts.json")" "the shipped db-full alert rule"
runbook backup '{ "name": "backup", "description": "a backup", "role": "admin",
  "steps": [ { "action": "db.backup", "args": { "path": "'"$WORK"'/bk/outpost.db" } } ] }'
runbook waiter '{ "name": "waiter", "description": "ends when told", "role": "admin",
  "steps": [ { "exec": ["sh", "-c",
    "while [ ! -e '"$WORK"'/go ]; do sleep 0.1; done; yes o | head -c 60000"] } ] }'

# A definition of NARGS (62) arguments of 4000 bytes, about 250 KB (its event as
# much again): a few fill the cap.
pad=$(head -c 4000 /dev/zero | tr '\0' x)
big() {	# NAME [NARGS]
	printf '{"name":"%s","hooks":{"run":["/bin/true"%s]}}' "$1" \
		"$(for _ in $(seq 1 "${2:-62}"); do printf ',"%s"' "$pad"; done)" >"$WORK/big.json"
	api POST /api/v1/definitions "@$WORK/big.json"
}

metric() { curl -s "$SERVER_URL/metrics" | grep -F "$1 " | grep -v '^#' | awk '{ print $2 }'; }

# fill PREFIX [NARGS]: such definitions until one is refused; each acknowledged name goes
# to $WORK/acked. Sets REFUSED (the name refused) and LAST_SEQ (before the refusal).
fill() {
	local n=0
	while [ "$n" -lt 100 ]; do
		LAST_SEQ=$(metric outpost_events_total)
		big "$1-$n" "${2:-}"
		[ "$STATUS" = 201 ] || break
		echo "$1-$n" >>"$WORK/acked"
		n=$((n + 1))
	done
	REFUSED=$1-$n
	[ "$n" -gt 0 ] || [ -n "${2:-}" ] ||
		fail "$1: the first create was refused: $STATUS $(head -c 300 <<<"$BODY")"
}

# refused WHAT CAUSE: the last call was refused for lack of room, naming CAUSE, and
# changed nothing.
refused() {
	local seq=$LAST_SEQ name=$REFUSED
	assert_error 507 storage_full "" "$1: the create with no room"
	assert_contains "the database's disk is full" "$(jbody .error.message)" "$1: the 507"
	assert_contains "$2" "$(jbody .error.message)" "$1: the 507's cause"
	assert_eq 10 "$(header retry-after)" "$1: the 507's retry-after"
	api GET "/api/v1/definitions/$name"
	assert_error 404 not_found name "$1: the refused definition"
	# Only the alert rule may have written since (a small event may fit).
	api_ok 200 GET "/api/v1/events?since=$seq"
	assert_eq "" "$(jbody -r '.items[] | select(.type | startswith("alert.") | not) | .type')" \
		"$1: events after the refused create"
}

# acked_there WHAT: every acknowledged definition is there, whole; the events are
# gapless and one definition.created each.
acked_there() {
	local n
	# jq reads the bodies' files: they are megabytes.
	api_ok 200 GET "/api/v1/definitions?limit=500"
	diff <(sort "$WORK/acked") <(jq -r '.items[].name' "$WORK/last.body" | grep -v '^lab$' |
		sort) >&2 ||
		fail "$1: the definitions listed are not the ones acknowledged"
	n=$(sort "$WORK/acked" | tail -n 1)
	api_ok 200 GET "/api/v1/definitions/$n"
	[ "$(jbody '.hooks.run | length')" -gt 6 ] || fail "$1: $n's hooks are not whole"
	since=0
	: >"$WORK/events"
	while :; do
		api_ok 200 GET "/api/v1/events?since=$since&limit=1000"
		jq -c '.items[] | [.seq, .type, .id]' "$WORK/last.body" >>"$WORK/events"
		[ "$(jq .last_seq "$WORK/last.body")" != "$since" ] || break
		since=$(jq .last_seq "$WORK/last.body")
	done
	assert_eq "$(seq -s ' ' 1 "$since")" "$(jq -r '.[0]' "$WORK/events" | paste -sd' ')" \
		"$1: the events' sequence numbers"
	diff <(sort "$WORK/acked") <(jq -r 'select(.[1] == "definition.created") | .[2]' \
		"$WORK/events" | grep -v '^lab$' | sort) >&2 ||
		fail "$1: the definition.created events are not the acknowledged creates"
}

_metric_is() { [ "$(metric "$1")" = "$2" ]; }
_ready() {
	api GET /readyz
	[ "$STATUS" = 200 ]
}
_firing_is() {	# true|false
	TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/alerts
	[ "$(jbody '.items[] | select(.rule == "db-full") | .firing')" = "$1" ]
}

# full WHAT CAUSE: what a full database must look like from outside.
full() {
	api GET /readyz
	assert_status 503 "$1: /readyz"
	assert_contains "disk is full ($2" "$BODY" "$1: /readyz's reason"
	api_ok 200 GET /healthz
	api_ok 200 GET /api/v1/definitions/lab
	api_ok 200 GET "/api/v1/events?since=0&limit=5"
	assert_eq 1 "$(metric outpost_db_full)" "$1: outpost_db_full"
	[ "$(metric 'outpost_db_write_failures_total{cause="full"}')" -ge 1 ] ||
		fail "$1: outpost_db_write_failures_total{cause=\"full\"} did not move"
	wait_for 10 "$1: the db-full alert to fire" _metric_is 'outpost_alerts_firing{rule="db-full"}' 1
	_firing_is true || fail "$1: GET /api/v1/alerts does not show db-full firing"
	assert_contains "disk is full" "$(jbody '.items[] | select(.rule == "db-full") | .message')" \
		"$1: the alert's message"
}

# resumed WHAT: room again, found without any write; then writes go through.
resumed() {
	wait_for 10 "$1: /readyz to answer 200 again" _ready
	assert_eq 0 "$(metric outpost_db_full)" "$1: outpost_db_full after room came back"
	wait_for 10 "$1: the db-full alert to resolve" _firing_is false
	big "$1-after"
	assert_status 201 "$1: a create once there is room"
	echo "$1-after" >>"$WORK/acked"
}

# ============================================================================
# a. db_max_size_mb
# ============================================================================
conf=$WORK/outpostd.conf
echo 'db_max_size_mb = 2' >"$conf"
start_server --config "$conf" --alerts-file "$WORK/alerts.json"
dir=$SERVER_DIR
create_definition lab
: >"$WORK/acked"
ws_open a
ws_send a '{"subscribe": {"since": 0, "types": ["definition.created"]}}'

fill_t0=$(date +%s%3N)
fill cap
# How long a fill takes here: the slot of a2 below must outlast one (a loaded or
# sanitized build fills slower), so it is sized from this one, not guessed.
fill_ms=$(($(date +%s%3N) - fill_t0))
refused "a" "db_max_size_mb, 2 MB"
full "a" "it reached db_max_size_mb"
# The stream sent every acknowledged create, and nothing else of the refused one.
_ws_has_all() {	# NAME
	[ "$(ws_messages "$1" | jq -r 'select(.type == "definition.created") | .id' |
		grep -vc '^lab$')" = "$(wc -l <"$WORK/acked")" ]
}
wait_for 10 "the websocket to send every acknowledged create" _ws_has_all a
ws_close a
note "a: refused, readable, alert firing"

# kill -9: what was acknowledged is there; started on a full database, it refuses again.
crash_server
start_server --state-dir "$dir" --config "$conf" --alerts-file "$WORK/alerts.json"
acked_there "a, after kill -9"
ws_open b
ws_send b '{"subscribe": {"since": 0, "types": ["definition.created"]}}'
wait_for 10 "the websocket's replay after kill -9" _ws_has_all b
LAST_SEQ=$(metric outpost_events_total)
big "cap-again"
REFUSED=cap-again
refused "a, after kill -9" "db_max_size_mb, 2 MB"
full "a, after kill -9" "it reached db_max_size_mb"

# Room by SIGHUP: /readyz says so before any write; an instance then made, whose slot
# ends in 8 s (or three times the first fill, if longer), is filled past (a second
# episode, two or three creates): the clock must not act on it until there is room.
echo 'db_max_size_mb = 3' >"$conf"
kill -HUP "$SERVER_PID"
wait_for 10 "a: /readyz after the cap was raised to 3 MB" _ready
slot_s=$((fill_ms * 3 / 1000 + 1))
[ "$slot_s" -ge 8 ] || slot_s=8
api_ok 201 POST /api/v1/instances "{\"definition\":\"lab\",\"owner\":\"slot\",\
\"timeslot_start\":\"$(at_offset 0)\",\"timeslot_end\":\"$(at_offset "$slot_s")\"}"
slot_id=$(jbody .id)
slot_end=$(($(date -d "$(jbody .timeslot_end)" +%s) * 1000))
fill cap2
refused "a2" "db_max_size_mb, 3 MB"
clock_past_ms "$slot_end" && fail "a2: the disk filled after the instance's slot ended: too slow"
full "a2" "it reached db_max_size_mb"
wait_for $((slot_s + 7)) "the slot of instance $slot_id to end, and a second" \
	clock_past_ms $((slot_end + 1500))
api_ok 200 GET "/api/v1/instances/$slot_id"
assert_eq pending "$(jbody .state)" "a2: an instance whose slot ended while the disk was full"
assert_eq 2 "$(grep -c '"store.full"' "$SERVER_LOG")" "store.full lines: one an episode"
! grep -v '"http.request"' "$SERVER_LOG" | grep '"level":"error"' | grep -v '"store.full"' ||
	fail "a2: errors logged while the disk was full"

echo 'db_max_size_mb = 16' >"$conf"
kill -HUP "$SERVER_PID"
resumed "a2"
wait_state "$slot_id" failed 10
api_ok 200 GET "/api/v1/instances/$slot_id"
assert_contains slot_missed "$(jbody .state_reason)" "the clock's work, once there was room"
get_last_seq
api_ok 200 GET "/api/v1/events?since=$((LAST_SEQ - 10))&types=alert.*"
assert_contains "alert.resolved" "$(jbody '[.items[].type] | join(" ")')" "a: the alert's end, as an event"
acked_there "a, at the end"
wait_for 10 "the websocket to send, live, the create after room came back" _ws_has_all b
ws_close b
stop_server
note "a: db_max_size_mb ok"

# ============================================================================
# b. a real filesystem
# ============================================================================
fs=$WORK/fs
mkdir -p "$fs" "$WORK/bk"
_unmount() {
	# The servers on it go first (lazily unmounted if something still holds it).
	[ -n "${SERVER_PID:-}" ] && kill -KILL "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
	for m in "$fs" "$WORK/bk"; do
		grep -q " $m tmpfs " /proc/mounts && { umount "$m" 2>/dev/null || umount -l "$m"; }
	done
	return 0
}
if [ "$(id -u)" != 0 ] || ! mount -t tmpfs -o size=4m,mode=0700 tmpfs "$fs" 2>/dev/null; then
	echo "SKIP: part b needs root and a tmpfs (part a passed)" >&2
	exit 77
fi
CLEANUP_HOOKS+=(_unmount)
mount -t tmpfs -o size=256k,mode=0700 tmpfs "$WORK/bk" || fail "cannot mount the backups' tmpfs"
head -c $((1536 * 1024)) /dev/zero >"$fs/ballast" || fail "cannot write the ballast"
: >"$WORK/acked"
start_server --state-dir "$fs/state" --alerts-file "$WORK/alerts.json"
create_definition lab
for n in 0 1 2; do
	big "pre-$n"
	assert_status 201
	echo "pre-$n" >>"$WORK/acked"
done

# A backup its filesystem cannot hold fails, saying so, and leaves no file.
start_run backup '{}'
wait_run "$RUN_ID" failed 30
assert_contains "full" "$(run_output "$RUN_ID")" "b: a backup onto a full filesystem"
assert_eq "" "$(ls -A "$WORK/bk")" "b: files left by the failed backup"

start_run waiter '{}'
waiter=$RUN_ID
wait_for 10 "run $waiter's program" pgrep -f "$WORK/go"
fill fs
refused "b" "the filesystem holding it has"
full "b" "the filesystem holding it has"
# A small write may still fit where a large one did not (SQLite reuses the room of
# the WAL's frames it wrote for the refused change): fill that with 24 KB ones.
fill fs-mid 6
refused "b" "the filesystem holding it has"
# The run's program writes 60 KB and ends while that cannot be written: the output and
# the run are kept, not forgotten, and written once there is room.
touch "$WORK/go"
wait_for 10 "the run's end, put off" grep -q '"run.end"' "$SERVER_LOG"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/runs/$waiter"
assert_eq running "$(jbody .status)" "b: the run, while its end cannot be written"
rm -f "$fs/ballast"
resumed "b"
wait_run "$waiter" failed 10
assert_contains "database" "$(jbody .error)" "b: the run's error"
[ "$(run_output "$waiter" | wc -c)" -ge 60000 ] ||
	fail "b: the run's output, written once there was room: $(run_output "$waiter" | wc -c) bytes"
head -c $((1536 * 1024)) /dev/zero >"$fs/ballast" 2>/dev/null
big "fs-again"
REFUSED=fs-again
[ "$STATUS" = 507 ] || fail "b: full again: $STATUS"
crash_server
start_server --state-dir "$fs/state" --alerts-file "$WORK/alerts.json"
acked_there "b, after kill -9"
rm -f "$fs/ballast"
resumed "b2"
note "b: a full tmpfs ok"
exit 0
