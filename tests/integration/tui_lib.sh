# Driving outpost-top in a real terminal: tmux on a socket of the test's own,
# a window of a given size, keys sent with send-keys, the screen read with
# capture-pane. Sourced after lib.sh (whose cleanup also ends the tmux server).
TOP=$top_builddir/src/tui/outpost-top
if ! command -v tmux >/dev/null 2>&1; then
	echo "SKIP: $TEST_NAME needs tmux" >&2
	exit 77
fi
[ -x "$TOP" ] || fail "$TOP is not built"
TMUX_SOCK=outpost-$TEST_NAME-$$
_tmux() {
	tmux -L "$TMUX_SOCK" -f /dev/null "$@"
}
_tui_cleanup() {
	_tmux kill-server 2>/dev/null
}
CLEANUP_HOOKS+=(_tui_cleanup)

# top_session COMMAND: the session "top" ($cols x $rows) running COMMAND. A tmux
# server that dies as it starts ("server exited unexpectedly", seen once under a
# loaded make distcheck) is given two more tries.
top_session() {
	local i
	for i in 1 2 3; do
		_tmux new-session -d -s top -x "${cols:-80}" -y "${rows:-24}" "$1" && return 0
		note "tmux new-session failed (try $i)"
		sleep 0.5
	done
	fail "tmux could not start a session"
}

# top_start [COLS ROWS] [outpost-top flags...]: outpost-top against $SERVER_URL
# with $TOP_TOKEN (default: the admin token) in a UTF-8 locale.
top_start() {
	local cols=80 rows=24
	if [[ ${1:-} =~ ^[0-9]+$ ]]; then
		cols=$1
		rows=$2
		shift 2
	fi
	printf '%s\n' "${TOP_TOKEN:-$SERVER_TOKEN}" >"$WORK/top.token"
	top_session "env LANG=C.UTF-8 LC_ALL=C.UTF-8 ${TOP_ENV:-} \
		$TOP --server $SERVER_URL --token-file $WORK/top.token $* 2>$WORK/top.log; \
		echo \"outpost-top exited \$?\" >$WORK/top.exit; sleep 600"
	wait_screen 15 "outpost-top's header" "outpost-top"
	TOP_PID=$(pgrep -n -f "^$TOP --server $SERVER_URL")
}

# The screen, as text.
screen() {
	_tmux capture-pane -p -t top
}

keys() {
	_tmux send-keys -t top "$@"
}

_screen_has() {
	screen | grep -qE -- "$1"
}

# wait_screen SECONDS WHAT REGEX: until the screen shows REGEX.
wait_screen() {
	local secs=$1 what=$2 re=$3 deadline
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	until _screen_has "$re"; do
		if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline" ]; then
			echo "--- the screen ---" >&2
			screen >&2
			[ -s "$WORK/top.log" ] && cat "$WORK/top.log" >&2
			fail "timed out after $secs s: $what (/$re/)"
		fi
		sleep 0.05
	done
}

# wait_no_screen SECONDS WHAT REGEX: until the screen no longer shows REGEX.
wait_no_screen() {
	local secs=$1 what=$2 re=$3 deadline
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	while _screen_has "$re"; do
		if [ "$(($(date +%s%N) / 1000000))" -ge "$deadline" ]; then
			screen >&2
			fail "timed out after $secs s: $what (still /$re/)"
		fi
		sleep 0.05
	done
}

# The screen line that holds REGEX (the first).
screen_line() {
	screen | grep -E -m1 -- "$1"
}
