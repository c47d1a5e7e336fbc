#!/bin/sh
# `outpost events --follow` against a real outpostd: live events arrive once
# each and in order; a follower that was stopped and starts again with
# --since <the last seq it printed> gets exactly the events it missed, none
# twice; --type filters; and a follower rides out a restart of outpostd on
# the same port, resuming without a gap or a repeat; and a follower that falls
# more than ws_max_lag behind (a batch of 300) is told to resync and still
# prints every event once.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$OUTPOST" ]; then
	fail "$OUTPOST is not built"
fi

printf 'ws_max_lag = 20\n' >"$WORK/outpostd.conf"
start_server --config "$WORK/outpostd.conf"
create_definition lab
printf '%s\n' "$TOKEN" >"$WORK/token"
get_last_seq
s0=$LAST_SEQ

# follow NAME ARGS...: starts a follower writing one JSON event a line to $WORK/NAME.out.
follow() {
	local name=$1
	shift
	"$OUTPOST" --server "$SERVER_URL" --token-file "$WORK/token" events --follow -o json "$@" \
		>"$WORK/$name.out" 2>"$WORK/$name.err" &
	track_pid $!
	eval "FOLLOWER_$name=$!"
}
stop_follower() {
	local pid
	pid=$(eval echo "\$FOLLOWER_$1")
	kill -TERM "$pid" 2>/dev/null
	wait_exit "$pid" 10
}
seqs_of() {
	jq -r .seq "$WORK/$1.out" | tr '\n' ' ' | sed 's/ $//'
}
has_seq() {	# NAME SEQ
	jq -s -e "any(.[]; .seq == $2)" "$WORK/$1.out" >/dev/null 2>&1
}
ws_clients_is() {
	[ "$(curl -sS --max-time 5 "$SERVER_URL/metrics" |
		awk '$1 == "outpost_ws_clients" { print $2 }')" = "$1" ]
}

follow f1 --since "$s0"
wait_for 10 "the first follower connects" ws_clients_is 1
for o in a b c; do
	create_instance lab "$o"
done
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
wait_for 10 "seq $((s0 + 4)) reaches the first follower" has_seq f1 $((s0 + 4))
assert_eq "$(seq -s ' ' $((s0 + 1)) $((s0 + 4)))" "$(seqs_of f1)" "seqs printed by the first follower"
assert_eq 'instance.created instance.created instance.created instance.state' \
	"$(jq -r .type "$WORK/f1.out" | tr '\n' ' ' | sed 's/ $//')" "types printed by the first follower"
stop_follower f1
wait_for 10 "the first follower is gone" ws_clients_is 0
seen=$(jq -r .seq "$WORK/f1.out" | tail -n 1)

# Missed while nobody follows.
create_instance lab d
create_instance lab e
api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/terminate"
create_token late viewer

follow f2 --since "$seen"
wait_for 10 "the missed events reach the second follower" has_seq f2 $((seen + 4))
create_instance lab live
wait_for 10 "a live event reaches the second follower" has_seq f2 $((seen + 5))
assert_eq "$(seq -s ' ' $((seen + 1)) $((seen + 5)))" "$(seqs_of f2)" \
	"seqs printed on resume from $seen"
api_ok 200 GET "/api/v1/events?since=$seen"
assert_eq "$(jbody -c '.items')" "$(jq -s -c . "$WORK/f2.out")" \
	"the resumed events are the REST events since $seen"

# --type: only what matches, from the start of the log.
follow f3 --since 0 --type instance.state
api_ok 200 GET "/api/v1/events?since=0&types=instance.state"
want=$(jbody '[.items[].seq] | map(tostring) | join(" ")')
wait_for 10 "the filtered follower prints the instance.state events" has_seq f3 "${want##* }"
assert_eq "$want" "$(seqs_of f3)" "seqs printed with --type instance.state"

# outpostd restarts on the same port; the follower resumes by itself.
port=${SERVER_URL##*:}
stop_server
assert_eq 0 "$EXIT_RC" "outpostd exit status with followers connected"
kill -0 "$FOLLOWER_f2" 2>/dev/null || fail "the follower exited when outpostd stopped: $(cat "$WORK/f2.err")"
create_offline=$(seqs_of f2)
start_server --state-dir "$SERVER_DIR" --config "$WORK/outpostd.conf" --listen "127.0.0.1:$port"
assert_eq "$port" "${SERVER_URL##*:}" "port after the restart"
create_instance lab after-restart
get_last_seq
wait_for 20 "the follower resumes after a restart" has_seq f2 "$LAST_SEQ"
assert_eq "$create_offline $LAST_SEQ" "$(seqs_of f2)" "seqs printed across a restart"
assert_eq "$(jq -r .seq "$WORK/f2.out" | sort -n | uniq -d)" "" "seqs printed twice"

# 300 events in one transaction: far more than ws_max_lag at once.
api_ok 201 POST /api/v1/instances "{\"definition\":\"lab\",\"owner\":\"batch\",\
\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\",\"count\":300}"
before=$LAST_SEQ
get_last_seq
assert_eq $((before + 300)) "$LAST_SEQ" "last seq after a batch of 300"
wait_for 20 "the batch reaches the follower" has_seq f2 "$LAST_SEQ"
assert_eq "$create_offline $(seq -s ' ' "$before" "$LAST_SEQ")" "$(seqs_of f2)" \
	"seqs printed through a batch larger than ws_max_lag"
stop_follower f2
stop_follower f3

# --since now: only what comes after it starts.
get_last_seq
now_seq=$LAST_SEQ
follow fnow --since now
wait_for 10 "the --since now follower to connect" ws_clients_is 1
create_instance lab after-now
get_last_seq
wait_for 10 "the new event on the --since now follower" has_seq fnow "$LAST_SEQ"
assert_eq "$(seq -s ' ' $((now_seq + 1)) "$LAST_SEQ")" "$(seqs_of fnow)" "seqs after --since now"
stop_follower fnow
"$OUTPOST" --server "$SERVER_URL" --token "$SERVER_TOKEN" events --since later >/dev/null \
	2>"$WORK/since.err"
assert_eq 2 "$?" "exit code of --since later"
assert_match "--since must be .*, not 'later'" "$(cat "$WORK/since.err")" "--since later is named"
exit 0
