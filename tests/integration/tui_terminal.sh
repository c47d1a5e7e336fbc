#!/bin/sh
# outpost-top's terminal manners: bad flags are refused naming the flag (exit
# 2); Ctrl-C and SIGTERM end it with 0, a crash signal with that signal, each
# leaving the terminal out of curses; an unreachable server or a refused
# token is said before curses starts. In a non-UTF-8 locale it draws ASCII;
# with NO_COLOR it draws no colour; and while nothing happens it uses no CPU.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/tui_lib.sh"

# ---- flags ----
expect_usage() {	# WHAT NEEDLE ARGS...
	local what=$1 needle=$2 out rc
	shift 2
	out=$("$TOP" "$@" 2>&1 </dev/null)
	rc=$?
	assert_eq 2 "$rc" "exit status of $what"
	assert_contains "$needle" "$out" "the message of $what"
}
expect_usage "an unknown flag" "unknown option --colour" --colour
expect_usage "a flag without its value" "--server needs a value" --server
expect_usage "a bad --events" "--events must be a whole number 10..100000, not '5'" --events 5
expect_usage "a bad --server" "--server: the server URL must start with http://" --server ftp://x
expect_usage "a token and a token file" "--token and --token-file cannot be used together" \
	--token a --token-file b
OUTPOST_SERVER=ftp://y expect_usage "a bad OUTPOST_SERVER" "OUTPOST_SERVER: the server URL"
"$TOP" --help | grep -q "usage: outpost-top" || fail "--help says no usage"

start_server
port=${SERVER_URL##*:}

# ---- ways out ----
# exited_with CODE: outpost-top ended with CODE and the pane is out of the alternate screen.
exited_with() {
	wait_for 10 "outpost-top to exit" test -s "$WORK/top.exit"
	assert_eq "outpost-top exited $1" "$(cat "$WORK/top.exit")" "exit status"
	assert_eq 0 "$(_tmux display -p -t top '#{alternate_on}')" "the alternate screen after exit"
	rm -f "$WORK/top.exit"
	_tmux kill-session -t top
}
top_start 80 24
wait_screen 10 "live" "live, seq"
keys C-c
exited_with 0
top_start 80 24
wait_screen 10 "live" "live, seq"
kill -TERM "$TOP_PID"
exited_with 0
top_start 80 24
wait_screen 10 "live" "live, seq"
kill -SEGV "$TOP_PID"
exited_with 139

# ---- before curses: the server and the token ----
printf 'opt_nothing\n' >"$WORK/bad.token"
top_session "$TOP --server $SERVER_URL --token-file $WORK/bad.token \
	2>$WORK/top.log; echo \"outpost-top exited \$?\" >$WORK/top.exit; sleep 600"
exited_with 1
assert_contains "refused the token" "$(cat "$WORK/top.log")" "a bad token's message"
top_session "$TOP --server http://127.0.0.1:1 \
	2>$WORK/top.log; echo \"outpost-top exited \$?\" >$WORK/top.exit; sleep 600"
exited_with 3
assert_contains "cannot reach http://127.0.0.1:1" "$(cat "$WORK/top.log")" "unreachable's message"

# ---- ASCII in a non-UTF-8 locale, no colour with NO_COLOR ----
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4
wait_online w1
define lab '"hooks":{"run":["sleep","60"]}'
create_now lab alice 120
wait_state "$INSTANCE_ID" running
TOP_ENV="LANG=C LC_ALL=C NO_COLOR=1" top_start 80 24
wait_screen 10 "live, with an ASCII dot" "\\* live, seq"
keys 2
wait_screen 5 "an ASCII bar" "w1 +ready +online +(none|cgroup-v[12]) +###.+ 1/4"
screen | grep -q "│" && fail "box drawing in the C locale: $(screen)"
# No colour escape at all in what the pane shows with its attributes.
_tmux capture-pane -e -p -t top | grep -qE $'\e\\[[0-9;]*3[0-7]m' &&
	fail "colour with NO_COLOR set"
_tmux kill-session -t top
# A monochrome terminal: no colour either, the selection still shown (reverse video).
TOP_ENV="TERM=vt100" top_start 80 24
wait_screen 10 "live on a vt100" "live, seq"
_tmux capture-pane -e -p -t top | grep -qE $'\e\\[[0-9;]*3[0-7]m' &&
	fail "colour on a monochrome terminal"
_tmux capture-pane -e -p -t top | grep -qE $'\e\\[[0-9;]*7m' ||
	fail "no reverse video on a monochrome terminal"
_tmux kill-session -t top
top_start 80 24
wait_screen 10 "live" "live, seq"
keys 2
wait_screen 5 "a UTF-8 bar" "w1 +ready +online +(none|cgroup-v[12]) +█"
_tmux capture-pane -e -p -t top | grep -qE $'\e\\[[0-9;]*3[0-7]m' ||
	fail "no colour without NO_COLOR"

# ---- idle: no CPU worth measuring while nothing happens ----
# utime + stime of the process (clock ticks) over 5 s of a quiet site.
ticks() {
	awk '{ print $14 + $15 }' "/proc/$TOP_PID/stat"
}
t0=$(ticks)
sleep 5
t1=$(ticks)
used=$((t1 - t0))
note "CPU ticks used in 5 s idle: $used"
[ "$used" -le 10 ] || fail "outpost-top used $used ticks of CPU in 5 s with nothing happening"
note "ok"
