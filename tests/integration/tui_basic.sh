#!/bin/sh
# outpost-top in a real terminal (tmux, 80x24) against a real server with real
# agents: the header and the lists load; instances move through their states
# on screen as their events come; filter, sort and the detail view work; a
# resize redraws for the new size; q leaves the terminal as it was.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tui_lib.sh"

start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
start_agent w2 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1 w2
define lab '"hooks":{"run":["sleep","60"]}'
define quick '"hooks":{"run":["sleep","60"]}'
create_now lab alice 120
first=$INSTANCE_ID
wait_state "$first" running

top_start 80 24
# The header: who, where, the connection, the site at a glance.
wait_screen 10 "the live connection in the header" "live, seq [0-9]+"
assert_contains "as admin" "$(screen_line 'outpost-top')" "the header names the role"
wait_screen 5 "the glance at instances" "Instances 1: running 1"
wait_screen 5 "the glance at workers" "Workers 2: ready 2 .{1,3} online 2 .{1,3} slots 1/8"
wait_screen 5 "the instance in the list" "^ *$first +running +lab@1 +alice +w[12]"

# Live: new instances appear and move pending -> ... -> running on screen.
create_now lab bob 120 3
for id in $IDS; do
	wait_screen 15 "instance $id running on screen" "^ *$id +running +lab@1 +bob"
done
wait_screen 5 "the glance counts them" "Instances 4: running 4"
# One stopped through the API goes through collecting to stopped.
create_now quick carol 120
wait_state "$INSTANCE_ID" running
TOKEN=$SERVER_TOKEN api_ok 200 POST "/api/v1/instances/$INSTANCE_ID/stop"
wait_state "$INSTANCE_ID" stopped 30
wait_screen 10 "the quick one stopped on screen" "^ *$INSTANCE_ID +stopped +quick@1 +carol"

# Filter: only bob's rows, and the count says so.
keys / b o b
wait_screen 5 "the filter typed live" "3/5 filter: bob"
assert_eq 3 "$(screen | grep -cE '^ *[0-9]+ +running +lab@1 +bob')" "rows of bob shown"
[ -z "$(screen | grep -E 'alice|carol')" ] || fail "the filter still shows others: $(screen)"
keys Enter
# Esc restores the filter as it was before the prompt; an empty filter shows all.
keys / C-u Enter
wait_screen 5 "the filter cleared" " 5/5"

# Sort: > moves the sort to the next column (STATE), I inverts it.
keys '>'
wait_screen 5 "sorted by state" "sorted by STATE"
row1=$(screen | sed -n 6p)
assert_match "running" "$row1" "sorted by state, the first row"
keys I
wait_screen 5 "inverted" "STATE(▼|v) "
row1=$(screen | sed -n 6p)
assert_match "stopped +quick" "$row1" "inverted, the stopped one first"
keys '<' I

# Detail: Enter on the first instance shows its transitions and placement.
keys g Enter
wait_screen 10 "the detail view" "^Instances 1 *$"
wait_screen 5 "the detail's fields" "^state +running"
keys NPage j j j
wait_screen 5 "the detail's transitions, a page and 3 lines down" "== transitions =="
wait_screen 5 "a transition" "pending +-> scheduled"
screen | grep -qE "== placement ==" || fail "no placement in the detail: $(screen)"
keys G
wait_screen 5 "the end of the detail (its log)" "== log ==|Esc/q back"
keys Escape
wait_screen 5 "back to the list" "Enter detail"

# Views by number and by command.
keys 2
wait_screen 5 "the workers view" "NAME.* +STATE +HEALTH +ISOLATION +SLOTS"
wait_screen 5 "the workers' isolation" "w[12] +ready +online +(none|cgroup-v[12]) "
wait_screen 5 "a worker row with its bar" "w[12] +ready +online +.+ [0-9]/4"
# A worker's detail lists the instances it holds (the worker of the first, by a filter).
held_by=$(inst "$first" .worker)
keys / $held_by Enter g Enter
wait_screen 5 "the detail of $held_by" "^name +$held_by"
wait_screen 5 "the worker's detail" "== its instances =="
wait_screen 5 "an instance it holds" "^ *[0-9]+ +running +lab@1"
keys Escape / C-u Enter
# ? lists the keys and every view's actions.
keys '?'
wait_screen 5 "the help" "outpost-top: keys"
keys G
wait_screen 5 "the templates' actions in the help" "^ +s +scale"
keys q
wait_screen 5 "back from the help" "Enter detail"
keys : e v e n t s Enter
wait_screen 5 "the events view" "SEQ. +TIME +TYPE"
wait_screen 5 "an instance.state event" "instance.state +[0-9]+ +.*-> running"
keys 1

# 80x24 exactly: nothing written past the last line; a resize redraws.
assert_eq 24 "$(screen | wc -l)" "lines of the screen at 80x24"
_tmux resize-window -t top -x 120 -y 40
footer_on() {
	screen | sed -n "$1p" | grep -q "Enter detail"
}
wait_for 5 "the footer on line 39 of 40" footer_on 39
assert_eq 40 "$(screen | wc -l)" "lines after the resize"
# Wider: the tabs have room for their whole names, the last column for more text.
wait_screen 5 "the long tab names at 120 columns" "1 Instances 2 Workers 3 Definitions"
# Wider: the USAGE column; a heartbeat's usage in words in the detail (the figures are
# the last sample's: this one's, or the agent's own if it contains).
wait_screen 5 "the USAGE column at 120 columns" "REASON +USAGE"
TOKEN=$(cat "$WORK/agents/$held_by/worker.token") api_ok 200 POST /api/v1/agent/heartbeat \
	"{\"name\":\"$held_by\",\"usage\":[{\"id\":$first,\"cpu_usec\":1000000,\"cpu_millicores\":980,\
\"memory_bytes\":104857600,\"memory_peak_bytes\":125829120}]}"
keys / a l i c e Enter g Enter
wait_screen 10 "the usage's CPU in the detail" "^usage\.cpu +[0-9]+\.[0-9]{2} cores"
wait_screen 5 "the usage's memory in the detail" "^usage\.memory +[0-9]+ MB / 512 MB \(peak [0-9]+ MB\)"
keys Escape / C-u Enter
_tmux resize-window -t top -x 80 -y 24
wait_for 5 "the footer back on line 23" footer_on 23
wait_screen 5 "the short tab names at 80 columns" "1 Inst 2 Work 3 Defs"

# q ends it with 0 and leaves the terminal out of curses (no alternate screen).
keys q
wait_for 5 "outpost-top to exit" test -s "$WORK/top.exit"
assert_eq "outpost-top exited 0" "$(cat "$WORK/top.exit")" "exit status"
[ "$(_tmux display -p -t top '#{alternate_on}')" = 0 ] || fail "still on the alternate screen"
note "ok"
