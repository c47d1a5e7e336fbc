#!/bin/sh
# outpostd's command line and settings: --help and --version exit 0; a usage
# error exits 2 naming the flag, a bad config file exits 2 naming file:line,
# a bad variable names the variable; OUTPOST_LISTEN works; flags beat
# variables beat the file; SIGHUP rereads the file (a changed log_level takes
# effect and is logged; a broken file is logged and the running config kept);
# an existing state directory is made 0700 (and that is logged).
. "$(dirname "$0")/lib.sh"

# run_outpostd ARGS...: a short-lived outpostd; sets RC, OUT, ERR.
run_outpostd() {
	"$OUTPOSTD" "$@" >"$WORK/out" 2>"$WORK/err" </dev/null &
	local pid=$!
	track_pid "$pid"
	wait_exit "$pid" 10
	RC=$EXIT_RC
	OUT=$(cat "$WORK/out")
	ERR=$(cat "$WORK/err")
}

run_outpostd --help
assert_eq 0 "$RC" "exit status of --help"
assert_contains 'usage: outpostd' "$OUT" "--help output"
assert_contains '--listen' "$OUT" "--help output"
run_outpostd --version
assert_eq 0 "$RC" "exit status of --version"
assert_match '^outpostd [0-9]+\.[0-9]+' "$OUT" "--version output"

run_outpostd --state-dir "$WORK/s0" --bogus-flag
assert_eq 2 "$RC" "exit status of an unknown flag"
assert_contains '--bogus-flag' "$ERR" "message for an unknown flag"
run_outpostd --state-dir "$WORK/s0" --listen
assert_eq 2 "$RC" "exit status of a flag without its value"
assert_contains '--listen' "$ERR" "message for a flag without its value"
run_outpostd --state-dir "$WORK/s0" --listen nonsense
assert_eq 2 "$RC" "exit status of a bad --listen"
assert_contains '--listen' "$ERR" "message for a bad --listen"
run_outpostd --state-dir "$WORK/s0" extra-argument
assert_eq 2 "$RC" "exit status of a stray argument"
assert_contains 'extra-argument' "$ERR" "message for a stray argument"

conf=$WORK/outpostd.conf
printf '# a comment\nlog_format = json\n\ncolour = blue\n' >"$conf"
run_outpostd --config "$conf" --state-dir "$WORK/s0"
assert_eq 2 "$RC" "exit status of a config file with an unknown key"
assert_contains "$conf:4" "$ERR" "message for an unknown key"
assert_contains colour "$ERR" "message for an unknown key"
printf 'log_format = json\nlog_level = loud\n' >"$conf"
run_outpostd --config "$conf" --state-dir "$WORK/s0"
assert_eq 2 "$RC" "exit status of a config file with a bad value"
assert_contains "$conf:2" "$ERR" "message for a bad value"
assert_contains log_level "$ERR" "message for a bad value"
printf 'listen 127.0.0.1:0\n' >"$conf"
run_outpostd --config "$conf" --state-dir "$WORK/s0"
assert_eq 2 "$RC" "exit status of a config line without ="
assert_contains "$conf:1" "$ERR" "message for a line without ="
run_outpostd --config "$WORK/no-such.conf" --state-dir "$WORK/s0"
assert_eq 2 "$RC" "exit status of a missing --config file"
assert_contains "$WORK/no-such.conf" "$ERR" "message for a missing --config file"
OUTPOST_LISTEN=nonsense run_outpostd --state-dir "$WORK/s0"
assert_eq 2 "$RC" "exit status of a bad OUTPOST_LISTEN"
assert_contains OUTPOST_LISTEN "$ERR" "message for a bad OUTPOST_LISTEN"

# launch ARGS...: a serving outpostd from ARGS and the environment only; sets
# SERVER_URL, SERVER_PID, SERVER_LOG (its log must be JSON: put that in ARGS).
launch() {
	_nstart=$((_nstart + 1))
	SERVER_LOG=$WORK/outpostd.$_nstart.log
	"$OUTPOSTD" "$@" >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	track_pid "$SERVER_PID"
	wait_for 15 "outpostd listening (args: $*)" eval '[ -n "$(log_url "$SERVER_LOG")" ]'
	SERVER_URL=$(log_url "$SERVER_LOG")
}
host_of() {
	local h=${1#http://}
	echo "${h%:*}"
}

# OUTPOST_LISTEN alone.
OUTPOST_LISTEN=127.0.0.1:0 launch --state-dir "$WORK/s1" --log-format json
assert_match '^http://127\.0\.0\.1:[1-9][0-9]*$' "$SERVER_URL" "URL with OUTPOST_LISTEN"
TOKEN= api_ok 200 GET /healthz
stop_server

# file < environment < flags, told apart by the loopback address each names.
printf 'listen = 127.0.0.3:0\nlog_format = json\nstate_dir = %s\n' "$WORK/s2" >"$conf"
launch --config "$conf"
assert_eq 127.0.0.3 "$(host_of "$SERVER_URL")" "listen from the file alone"
[ -s "$WORK/s2/admin.token" ] || fail "state_dir from the file was not used"
stop_server
OUTPOST_LISTEN=127.0.0.2:0 launch --config "$conf"
assert_eq 127.0.0.2 "$(host_of "$SERVER_URL")" "listen from the environment over the file"
stop_server
OUTPOST_LISTEN=127.0.0.2:0 launch --config "$conf" --listen 127.0.0.1:0
assert_eq 127.0.0.1 "$(host_of "$SERVER_URL")" "listen from a flag over the environment"
stop_server
OUTPOST_LISTEN=127.0.0.2:0 OUTPOST_CONFIG=$conf launch
assert_eq 127.0.0.2 "$(host_of "$SERVER_URL")" "OUTPOST_CONFIG names the file"
stop_server

# An existing state directory of another mode is made 0700 at start, and that is logged.
mkdir -p "$WORK/s4"
chmod 0755 "$WORK/s4"
launch --state-dir "$WORK/s4" --listen 127.0.0.1:0 --log-format json
assert_eq 700 "$(stat -c %a "$WORK/s4")" "mode of a 0755 state directory after the start"
grep '"state_dir.tightened"' "$SERVER_LOG" | grep -q '"from":"0755"' ||
	fail "no state_dir.tightened line from 0755 in the log: $(head -c 2000 "$SERVER_LOG")"
stop_server
# Already 0700: nothing to say.
launch --state-dir "$WORK/s4" --listen 127.0.0.1:0 --log-format json
grep -q '"state_dir.tightened"' "$SERVER_LOG" && fail "state_dir.tightened for a 0700 directory"
stop_server
# api_program_provisioners is true or false, and the message names it.
run_outpostd --state-dir "$WORK/s0" --api-program-provisioners yes
assert_eq 2 "$RC" "exit status of a bad --api-program-provisioners"
assert_contains "api_program_provisioners must be true or false" "$ERR" \
	"message for a bad --api-program-provisioners"

# SIGHUP: log_level info -> debug shows GETs (logged at debug), then a broken file is refused.
printf 'listen = 127.0.0.1:0\nlog_format = json\nlog_level = info\nstate_dir = %s\n' "$WORK/s3" >"$conf"
launch --config "$conf"
TOKEN=$(head -n 1 "$WORK/s3/admin.token")
api_ok 200 GET "/api/v1/definitions"
grep -q '"path":"/api/v1/definitions"' "$SERVER_LOG" && fail "a GET was logged at log_level info"
sed -i 's/^log_level = info$/log_level = debug/' "$conf"
kill -HUP "$SERVER_PID"
wait_for 10 "config.reloaded in the log" grep -q '"config.reloaded"' "$SERVER_LOG"
api_ok 200 GET "/api/v1/definitions"
wait_for 5 "a GET logged at log_level debug" grep -q '"path":"/api/v1/definitions"' "$SERVER_LOG"

printf 'log_level = shouting\n' >"$conf"
kill -HUP "$SERVER_PID"
wait_for 10 "a config.reload error naming $conf:1 in the log" \
	grep -q "\"config.reload\".*$conf:1" "$SERVER_LOG"
kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd exited on SIGHUP with a broken file"
api_ok 200 GET /api/v1/workers
wait_for 5 "log_level debug kept after a broken reload" grep -q '"path":"/api/v1/workers"' "$SERVER_LOG"
TOKEN= api_ok 200 GET /readyz
stop_server
assert_eq 0 "$EXIT_RC" "exit status after reloads"
exit 0
