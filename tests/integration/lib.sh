# Shared by the integration tests: start and stop real outpostd processes on
# ephemeral loopback ports, call the API with curl, assert with messages that
# say what was expected and what came back, and wait for conditions with a
# deadline. Each test sources this file first:
#
#	. "$(dirname "$0")/lib.sh"
#
# Everything a test makes lives under $WORK (one mktemp -d per test); every
# process a test starts is registered and killed, and $WORK removed, by the
# EXIT trap, whether the test passes, fails or is interrupted.
#
# Run one test by hand:  top_builddir=BUILD top_srcdir=SRC bash tests/integration/NAME.sh
# Keep its files:        OUTPOST_TEST_KEEP=1 ...

# The harness runs tests with $(SHELL), which may not be bash; these need it.
if [ -z "${BASH_VERSION:-}" ]; then
	exec bash "$0" "$@"
fi
set -u

TEST_NAME=$(basename "$0" .sh)
_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
: "${top_srcdir:=$(cd "$_lib_dir/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
OUTPOSTD=$top_builddir/src/server/outpostd
OUTPOST=$top_builddir/src/cli/outpost

for _tool in curl jq; do
	if ! command -v "$_tool" >/dev/null 2>&1; then
		echo "SKIP: $TEST_NAME needs $_tool" >&2
		exit 77
	fi
done
if [ ! -x "$OUTPOSTD" ]; then
	echo "FAIL: $TEST_NAME: $OUTPOSTD is not built" >&2
	exit 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/outpost-$TEST_NAME.XXXXXX") || exit 1
# An agent run as root runs each instance's hooks as a uid of its own: they must reach
# their work directories under $WORK, read the tests' hook scripts, and leave their
# markers in $WORK (as in /tmp: anyone may add a file, no one may remove another's).
# Secrets a test writes here are made 0600 (the agents' token below).
chmod 1777 "$WORK" || exit 1
_pids=()

# Hooks run under shims in sessions of their own, which outlive their agent by
# design: whatever still has its working directory, or a shim's command line,
# under $WORK is killed at the end.
_kill_under_work() {
	local d pid comm
	# One find for every working directory (a readlink each cost two forks a
	# process, seconds a test on a loaded machine); comm is read without a fork.
	for d in $(find /proc/[0-9]*/cwd -maxdepth 0 -lname "$WORK/*" 2>/dev/null); do
		pid=${d#/proc/}
		pid=${pid%/cwd}
		[ "$pid" = $$ ] || kill -KILL "$pid" 2>/dev/null
	done
	for d in /proc/[0-9]*; do
		pid=${d#/proc/}
		[ "$pid" = $$ ] && continue
		# Shims, and the agents a server's local provisioner started (they outlive
		# a server killed with -9, by design), name $WORK in their arguments.
		comm=
		read -r comm 2>/dev/null <"$d/comm"
		case $comm in
		outpost-shim | outpost-agent) ;;
		*) continue ;;
		esac
		if tr '\0' ' ' 2>/dev/null <"$d/cmdline" | grep -qF -- "$WORK/"; then
			kill -KILL "$pid" 2>/dev/null
		fi
	done
}

# The cgroups of the instances agents still held (each instance's directory lists them)
# go once their processes are killed, and their agents' parents (WORK_DIR/cgroups) after:
# start_agent's agents, and those the server's local provisioner started.
_rm_instance_cgroups() {
	local f d
	for f in "$WORK"/agents/*/instances/*/cgroup "$WORK"/agents/*/cgroups \
		"$WORK"/*/workers/*/work/instances/*/cgroup "$WORK"/*/workers/*/work/cgroups; do
		[ -f "$f" ] || continue
		while read -r d; do
			for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
				[ -d "$d" ] || break
				while read -r p; do kill -KILL "$p" 2>/dev/null; done <"$d/cgroup.procs"
				rmdir "$d" 2>/dev/null || sleep 0.05
			done
		done <"$f"
	done
}

# Tests add functions of their own to run first at the end (a tmux server to kill).
CLEANUP_HOOKS=()

_cleanup() {
	local rc=$? p
	trap - EXIT
	for p in "${CLEANUP_HOOKS[@]}"; do
		"$p"
	done
	for p in "${_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
	done
	for p in "${_pids[@]}"; do
		# A short grace, then no mercy: cleanup must not hang the suite.
		for _ in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.05
		done
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	_kill_under_work
	_rm_instance_cgroups
	if [ -n "${OUTPOST_TEST_CGROUP:-}" ]; then
		find "$OUTPOST_TEST_CGROUP" -mindepth 1 -maxdepth 3 -depth -type d \
			-path "$OUTPOST_TEST_CGROUP/$TEST_NAME.$$.*" -exec rmdir {} + 2>/dev/null
	fi
	# A sanitizer's report in a program's log fails the test (the programs run on after it).
	for p in "$WORK"/*.log; do
		[ -f "$p" ] && grep -qE "ERROR: (Address|Leak)Sanitizer|runtime error:" "$p" || continue
		echo "FAIL: $TEST_NAME: a sanitizer's report in $(basename "$p"):" >&2
		grep -m1 -A12 -E "ERROR: (Address|Leak)Sanitizer|runtime error:" "$p" >&2
		[ "$rc" -eq 0 ] && rc=1
	done
	if [ "$rc" -ne 0 ] && [ "$rc" -ne 77 ] && [ -n "${SERVER_LOG:-}" ] && [ -f "$SERVER_LOG" ]; then
		echo "--- last lines of $SERVER_LOG ---" >&2
		tail -n 20 "$SERVER_LOG" >&2
	fi
	if [ -n "${OUTPOST_TEST_KEEP:-}" ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
	exit "$rc"
}
trap _cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Registers a background process for the cleanup trap.
track_pid() {
	_pids+=("$1")
}

# ---- failing and asserting ----

fail() {
	echo "FAIL: $TEST_NAME: $*" >&2
	exit 1
}

note() {
	echo "$TEST_NAME: $*" >&2
}

assert_eq() {	# EXPECTED ACTUAL WHAT
	[ "$1" = "$2" ] || fail "$3: expected '$1', got '$2'"
}

assert_ne() {	# UNEXPECTED ACTUAL WHAT
	[ "$1" != "$2" ] || fail "$3: expected anything but '$1'"
}

assert_match() {	# REGEX TEXT WHAT
	[[ $2 =~ $1 ]] || fail "$3: expected to match /$1/, got '$2'"
}

assert_contains() {	# NEEDLE HAYSTACK WHAT
	case $2 in
	*"$1"*) ;;
	*) fail "$3: expected to contain '$1', got '$(printf %s "$2" | head -c 600)'" ;;
	esac
}

# ---- the server ----

SERVER_URL=
SERVER_TOKEN=
SERVER_PID=
SERVER_DIR=
SERVER_LOG=
_nstart=0

# start_server [--state-dir DIR] [outpostd args...]
# Starts outpostd on 127.0.0.1:0 and waits for its outpostd.listening log line.
# Sets SERVER_URL, SERVER_TOKEN (the admin token), SERVER_PID, SERVER_DIR, SERVER_LOG.
# The same DIR again restarts on the same state.
start_server() {
	local dir=$WORK/state deadline
	if [ "${1:-}" = --state-dir ]; then
		dir=$2
		shift 2
	fi
	_nstart=$((_nstart + 1))
	SERVER_DIR=$dir
	SERVER_LOG=$WORK/outpostd.$_nstart.log
	# Templates come from the test's own directory unless it names one: never
	# from an installed Outpost's config.
	local tdir=(--template-dir "$WORK/templates") a
	local rdir=(--runbook-dir "$WORK/runbooks") afile=(--alerts-file "$WORK/alerts.json")
	for a in "$@"; do
		case $a in
		--template-dir | --template-dir=*) tdir=() ;;
		--runbook-dir | --runbook-dir=*) rdir=() ;;
		--alerts-file | --alerts-file=*) afile=() ;;
		esac
	done
	(
		_ws_close_fds_but
		exec "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$dir" --log-format json "${tdir[@]}" \
			"${rdir[@]}" "${afile[@]}" "$@"
	) >"$SERVER_LOG" 2>&1 &
	SERVER_PID=$!
	track_pid "$SERVER_PID"
	SERVER_URL=
	deadline=$((SECONDS + ${START_TIMEOUT:-15}))	# seconds to listen; migrations may need more
	while [ -z "$SERVER_URL" ]; do
		SERVER_URL=$(log_url "$SERVER_LOG")
		[ -n "$SERVER_URL" ] && break
		kill -0 "$SERVER_PID" 2>/dev/null ||
			fail "outpostd exited before listening: $(tail -n 5 "$SERVER_LOG")"
		[ "$SECONDS" -lt "$deadline" ] ||
			fail "outpostd did not log outpostd.listening in ${START_TIMEOUT:-15} s"
		sleep 0.05
	done
	[ -s "$dir/admin.token" ] || fail "outpostd wrote no $dir/admin.token"
	SERVER_TOKEN=$(head -n 1 "$dir/admin.token")
	TOKEN=$SERVER_TOKEN
}

# The URL from a log's outpostd.listening line (the last one, for a reused log).
log_url() {
	grep '"outpostd.listening"' "$1" 2>/dev/null | tail -n 1 | jq -r '.url // empty' 2>/dev/null
}

# wait_exit PID SECONDS: waits for PID to end; sets EXIT_RC (or fails on timeout).
wait_exit() {
	local pid=$1 deadline=$((SECONDS + $2))
	while kill -0 "$pid" 2>/dev/null; do
		# A zombie still answers kill -0; wait reaps it once it is one.
		if [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" = Z ]; then
			break
		fi
		[ "$SECONDS" -lt "$deadline" ] || fail "process $pid still running after $2 s"
		sleep 0.05
	done
	wait "$pid" 2>/dev/null
	EXIT_RC=$?
}

# stop_server: SIGTERM and wait; sets EXIT_RC.
stop_server() {
	kill -TERM "$SERVER_PID" 2>/dev/null
	wait_exit "$SERVER_PID" 20
}

# crash_server: kill -9, no chance to flush or close anything.
crash_server() {
	kill -KILL "$SERVER_PID" 2>/dev/null
	wait "$SERVER_PID" 2>/dev/null
}

# ---- the API ----

TOKEN=

# api [-H HEADER]... METHOD PATH [BODY]
# BODY is sent as is; "@FILE" sends a file. The token is $TOKEN (empty: none),
# so `TOKEN=$viewer api GET ...` calls as someone else.
# Sets STATUS (000 if no answer), BODY, HEADERS (the response headers).
api() {
	local args=() method path
	while [ "${1:-}" = -H ]; do
		args+=(-H "$2")
		shift 2
	done
	method=$1
	path=$2
	shift 2
	if [ -n "${TOKEN:-}" ]; then
		args+=(-H "Authorization: Bearer $TOKEN")
	fi
	if [ $# -gt 0 ]; then
		args+=(-H 'Content-Type: application/json' --data-binary "$1")
	fi
	# curl leaves -o's file alone when no body comes (a 304): never read an old one.
	rm -f "$WORK/last.body" "$WORK/last.headers"
	STATUS=$(curl -sS -X "$method" -o "$WORK/last.body" -D "$WORK/last.headers" \
		-w '%{http_code}' --max-time 20 "${args[@]}" "$SERVER_URL$path" 2>"$WORK/last.err")
	local rc=$?
	[ -n "$STATUS" ] || STATUS=000
	# A body cut short by the time limit is no answer, whatever its status line said.
	[ "$rc" != 28 ] || STATUS=000
	BODY=$(cat "$WORK/last.body" 2>/dev/null)
	HEADERS=$(tr -d '\r' <"$WORK/last.headers" 2>/dev/null)
	LAST_REQ="$method $path"
}

# A response header's value (case-insensitive name) from the last api call.
header() {
	printf '%s\n' "$HEADERS" | awk -v n="$(printf %s "$1" | tr A-Z a-z)" -F': ' \
		'tolower($1) == n { sub(/^[^:]*: /, ""); print; exit }'
}

# jq over the last body, raw output.
jbody() {
	printf '%s' "$BODY" | jq -r "$@"
}

assert_status() {	# EXPECTED [WHAT]
	[ "$STATUS" = "$1" ] || fail "${2:-$LAST_REQ}: expected HTTP $1, got $STATUS: $(
		printf %s "$BODY" | head -c 600)$([ "$STATUS" != 000 ] || head -c 300 "$WORK/last.err")"
}

# assert_error STATUS CODE FIELD [WHAT]: an error body {"error":{code, message, field}}.
assert_error() {
	local what=${4:-$LAST_REQ} code field msg
	assert_status "$1" "$what"
	code=$(jbody '.error.code // "<none>"' 2>/dev/null) ||
		fail "$what: the $1 body is not JSON: $(printf %s "$BODY" | head -c 300)"
	field=$(jbody '.error.field // "<none>"')
	msg=$(jbody '.error.message // ""')
	assert_eq "$2" "$code" "$what: error.code"
	assert_eq "$3" "$field" "$what: error.field"
	[ -n "$msg" ] || fail "$what: error.message is empty"
}

# api_ok STATUS METHOD PATH [BODY]: a call that must answer STATUS.
api_ok() {
	local want=$1
	shift
	api "$@"
	assert_status "$want"
}

# api_ok_quiet METHOD PATH [BODY]: true when the call answers 2xx (for wait_for).
api_ok_quiet() {
	api "$@"
	case $STATUS in 2??) return 0 ;; esac
	return 1
}

# ---- waiting ----

# wait_for SECONDS WHAT CMD [ARGS...]: runs CMD until it succeeds or the time is up.
wait_for() {
	local secs=$1 what=$2 deadline
	shift 2
	deadline=$(($(date +%s%N) / 1000000 + secs * 1000))
	until "$@"; do
		[ "$(($(date +%s%N) / 1000000))" -lt "$deadline" ] || fail "timed out after $secs s: $what"
		sleep 0.05
	done
}

# ---- proving that a moment has passed ----
#
# A test that shows something does NOT happen must first show that the moment
# it would have happened has passed: that the server's scheduler, health
# check, scaler or alert rules, or an agent's loop, have run since. These
# wait for such a proof (a counter that moved, an event of a marker the test
# causes), never for a fixed time.

# sched_passes: how many scheduler passes the server has run (its histogram's count).
sched_passes() {
	curl -s --max-time 10 "$SERVER_URL/metrics" |
		awk '$1 == "outpost_scheduler_loop_duration_seconds_count" { print $2 }'
}

_sched_passed() { [ "$(sched_passes)" -gt "$1" ]; }

# wait_sched_pass: waits for a scheduler pass that began after the call, so after
# whatever the test committed before it (a pass is never under way while the server
# answers: one loop). The next pass comes with the next change, or within
# scheduler_interval.
wait_sched_pass() {
	local before
	before=$(sched_passes)
	[ -n "$before" ] || fail "no outpost_scheduler_loop_duration_seconds_count in /metrics"
	wait_for 15 "a scheduler pass after pass $before" _sched_passed "$before"
}

_nmark=0
_mark_token=

# health_marker: registers a worker that never sends a heartbeat (cordoned at once, so
# nothing is placed on it) and waits for the health check to find it lost. Then the
# health checks of the worker_lost_after since the call have run: any worker silent
# since the call is lost too, and one still online was heard from. Sets MARK_WORKER.
health_marker() {
	local saved=$TOKEN
	_nmark=$((_nmark + 1))
	MARK_WORKER=marker-$_nmark
	TOKEN=$SERVER_TOKEN
	if [ -z "$_mark_token" ]; then
		create_token markers agent
		_mark_token=$NEW_TOKEN
	fi
	TOKEN=$_mark_token api_ok 201 POST /api/v1/agent/register \
		"{\"name\":\"$MARK_WORKER\",\"capacity\":{\"cpu\":1,\"memory_mb\":64,\"slots\":1}}"
	api_ok 200 POST "/api/v1/workers/$MARK_WORKER/cordon"
	TOKEN=$saved
	wait_for 30 "the health check to find the silent $MARK_WORKER lost" \
		_worker_is "$MARK_WORKER" lost
}

# scaler_marker: makes a template of its own (static: nothing runs; one worker; never
# autoscaled) and waits for the scaler to provision its worker. The tick that did began
# after the call, and a tick goes over every template: whatever the scaler would have
# done since the call (reap a program, autoscale past a cooldown) it has done. Its
# events name the marker's template, never the test's. Sets MARK_TEMPLATE.
scaler_marker() {
	_nmark=$((_nmark + 1))
	MARK_TEMPLATE=marker-$_nmark
	TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$MARK_TEMPLATE" \
		'{"capacity":{"cpu":1,"memory_mb":64,"slots":1},"min":1,"max":1,"autoscale":false,
		"provision_timeout":"1d","provisioner":{"type":"static"}}'
	assert_status 201 "PUT /api/v1/templates/$MARK_TEMPLATE (a scaler marker)"
	wait_for 15 "the scaler to provision $MARK_TEMPLATE-1" _worker_exists "$MARK_TEMPLATE-1"
}

# no_process PATH: no process runs with PATH in its command line (a zombie has none).
no_process() {
	! pgrep -f -- "$(printf %s "$1" | sed 's/[.*^$[\\]/\\&/g')" >/dev/null
}

# clock_past_ms MS: this host's clock (the server's too) is past MS since the epoch.
clock_past_ms() { [ "$(date +%s%3N)" -ge "$1" ]; }

_worker_exists() {
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ]
}

# heard_after NAME EPOCH: the server has a heartbeat of worker NAME from a second after
# EPOCH (date +%s; worker times are to the second). Its agent sends one after each turn
# of its loop's steps, so its loop has turned since.
heard_after() {
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody -r '.last_heartbeat // empty')" != "" ] &&
		[ "$(date -u -d "$(jbody -r .last_heartbeat)" +%s)" -gt "$2" ]
}

# wait_alert_message RULE TEXT: waits until RULE's message holds TEXT; a rule's message
# is written by the tick of the rules that found its condition true.
wait_alert_message() {
	wait_for 15 "alert rule $1 to say '$2'" _alert_says "$1" "$2"
}

_alert_says() {
	TOKEN=$SERVER_TOKEN api GET /api/v1/alerts
	[ "$STATUS" = 200 ] || return 1
	case $(jbody --arg r "$1" '.items[] | select(.rule == $r) | .message') in
	*"$2"*) return 0 ;;
	esac
	return 1
}

# ---- domain helpers ----

SLOT_START=2030-01-01T10:00:00Z
SLOT_END=2030-01-01T11:00:00Z

create_definition() {	# NAME: a minimal definition
	api_ok 201 POST /api/v1/definitions "{\"name\":\"$1\",\"hooks\":{\"run\":[\"/bin/true\"]}}"
}

# create_instance DEFINITION OWNER: sets INSTANCE_ID.
create_instance() {
	api_ok 201 POST /api/v1/instances "{\"definition\":\"$1\",\"owner\":\"$2\",\
\"timeslot_start\":\"$SLOT_START\",\"timeslot_end\":\"$SLOT_END\"}"
	INSTANCE_ID=$(jbody .id)
}

# create_token NAME ROLE: sets NEW_TOKEN and NEW_TOKEN_ID.
create_token() {
	api_ok 201 POST /api/v1/tokens "{\"name\":\"$1\",\"role\":\"$2\"}"
	NEW_TOKEN=$(jbody .token)
	NEW_TOKEN_ID=$(jbody .id)
}

# Sets LAST_SEQ: the last event sequence number (GET /api/v1/events to the end).
get_last_seq() {
	local since=0
	# Pages can end early (a size cap, a scan cap): go on until last_seq stops moving.
	while :; do
		api_ok 200 GET "/api/v1/events?since=$since&limit=1000"
		LAST_SEQ=$(jbody .last_seq)
		[ "$LAST_SEQ" != "$since" ] || return 0
		since=$LAST_SEQ
	done
}

# Sets COUNT: the number of instances (every page of GET /api/v1/instances).
get_instance_count() {
	local after= next
	COUNT=0
	while :; do
		api_ok 200 GET "/api/v1/instances?limit=500${after:+&after=$after}"
		COUNT=$((COUNT + $(jbody '.items | length')))
		next=$(jbody '.next // empty')
		[ -n "$next" ] || return 0
		after=$next
	done
}

# ---- agents and the life of instances ----

AGENT=$top_builddir/src/agent/outpost-agent
AGENT_TOKEN_FILE=
_has_agents=

# start_agent NAME [outpost-agent flags...]: a real agent for worker NAME, work
# directory $WORK/agents/NAME, log $WORK/agent.NAME.log; heartbeats every 300 ms,
# SIGKILL 1 s after SIGTERM unless the flags say otherwise. Sets AGENT_PID.
start_agent() {
	local name=$1
	shift
	[ -x "$AGENT" ] || fail "$AGENT is not built"
	if [ -z "$AGENT_TOKEN_FILE" ]; then
		local saved=$TOKEN
		TOKEN=$SERVER_TOKEN
		create_token agents agent
		TOKEN=$saved
		AGENT_TOKEN_FILE=$WORK/agent.token
		(umask 077 && printf '%s\n' "$NEW_TOKEN" >"$AGENT_TOKEN_FILE")
	fi
	_has_agents=1
	mkdir -p "$WORK/agents"
	_hook_uids "$name"
	(
		_ws_close_fds_but
		_agent_cgroup "$name"
		exec "$AGENT" --server "$SERVER_URL" --token-file "$AGENT_TOKEN_FILE" --name "$name" \
			--work-dir "$WORK/agents/$name" --heartbeat 300ms --kill-grace 1s \
			--hook-uids "$HOOK_UIDS" --log-format json "$@"
	) >>"$WORK/agent.$name.log" 2>&1 &
	AGENT_PID=$!
	track_pid "$AGENT_PID"
	eval "AGENT_PID_${name//[^a-zA-Z0-9]/_}=$AGENT_PID"
}

# On a cgroup v2 host a test cannot hand an agent a delegated cgroup as systemd
# does: where OUTPOST_TEST_CGROUP names a cgroup2 directory with memory, cpu and pids
# enabled for its children (tests/vm does), each agent starts in a leaf "agent" of a
# cgroup of its own below it, as under DelegateSubgroup=agent. Unset: where it was.
_agent_cgroup() {	# NAME (in the agent's subshell, before its exec)
	[ -n "${OUTPOST_TEST_CGROUP:-}" ] || return 0
	local d="$OUTPOST_TEST_CGROUP/$TEST_NAME.$$.$1/agent"
	mkdir -p "$d" && echo "$BASHPID" >"$d/cgroup.procs" ||
		echo "lib.sh: cannot start the agent $1 in $d" >&2
}

# shared_file NAME: $WORK/NAME, empty, that the hooks of every instance may append to
# (each instance's hooks run as a uid of their own).
shared_file() {
	: >"$WORK/$1"
	chmod 666 "$WORK/$1"
}

# _hook_uids NAME: sets HOOK_UIDS, the hook_uids of agent NAME. Each agent of a host needs
# a range of its own, and tests run side by side: a thousand uids for each name, in
# the order this test starts them, within a block of 64 names that is this test's
# alone (chosen by its shell's pid, which no other running test has).
_hook_uid_names=()
_hook_uids() {
	local i n=${#_hook_uid_names[@]} first
	for ((i = 0; i < n; i++)); do
		[ "${_hook_uid_names[$i]}" = "$1" ] && break
	done
	[ "$i" -lt "$n" ] || _hook_uid_names+=("$1")
	[ "$i" -lt 64 ] || fail "_hook_uids: more than 64 agents in one test"
	first=$((65536 + (($$ % 32768) * 64 + i) * 1000))
	HOOK_UIDS="$first-$((first + 999))"
}

# kill_agent NAME: kill -9, no chance to say anything (its hooks run on under their shims).
kill_agent() {
	local pid
	pid=$(agent_pid "$1")
	kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null
}

# agent_pid NAME: the pid start_agent gave the agent of NAME.
agent_pid() {
	eval echo "\$AGENT_PID_${1//[^a-zA-Z0-9]/_}"
}

# wait_online NAME...: each worker registered and online.
wait_online() {
	local n
	for n in "$@"; do
		wait_for 15 "worker $n online" _worker_is "$n" online
	done
}

_worker_is() {
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody .health)" = "$2" ]
}

# The instance's field (a jq path) as the server says now.
inst() {	# ID JQ
	TOKEN=$SERVER_TOKEN api GET "/api/v1/instances/$1"
	jbody "$2"
}

_inst_state_is() {
	local s
	s=$(inst "$1" .state)
	[ "$s" = "$2" ] && return 0
	# A final state that is not the one waited for will never become it.
	case $s in
	stopped | failed | terminated)
		[ "$s" = "$2" ] || fail "instance $1 is $s ($(jbody .state_reason)), waiting for $2" ;;
	esac
	return 1
}

# wait_state ID STATE [SECONDS]: fails at once if the instance ends in another final state.
wait_state() {
	wait_for "${3:-20}" "instance $1 to be $2" _inst_state_is "$1" "$2"
}

# A time N seconds from now (negative: ago), RFC 3339 UTC.
at_offset() {
	date -u -d "@$(($(date +%s) + $1))" +%Y-%m-%dT%H:%M:%SZ
}

# create_now DEFINITION OWNER SECONDS [COUNT]: instances whose slot starts now and
# lasts SECONDS. Sets INSTANCE_ID (the first) and IDS (all).
create_now() {
	local body
	body="{\"definition\":\"$1\",\"owner\":\"$2\",\"timeslot_start\":\"$(at_offset 0)\",\
\"timeslot_end\":\"$(at_offset "$3")\"${4:+,\"count\":$4}}"
	TOKEN=$SERVER_TOKEN api_ok 201 POST /api/v1/instances "$body"
	if [ -n "${4:-}" ]; then
		IDS=$(jbody '[.items[].id] | join(" ")')
		INSTANCE_ID=${IDS%% *}
	else
		INSTANCE_ID=$(jbody .id)
		IDS=$INSTANCE_ID
	fi
}

# define NAME JSON-FRAGMENT: a definition {"name": NAME, FRAGMENT}.
define() {
	TOKEN=$SERVER_TOKEN api_ok 201 POST /api/v1/definitions "{\"name\":\"$1\",$2}"
}

# The instance's log, as text (every chunk, in order).
inst_log() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$1/log?limit=500"
	jbody -j '.items[].text'
}

# ---- a websocket client in bash, for the event stream's protocol ----
#
# Enough of RFC 6455 to subscribe and read text frames: the client sends one
# masked text frame (mask 0, so the payload goes as is); everything the server
# sends is copied to a file by a background cat and parsed from there, since
# bash variables cannot hold NUL bytes. Made for tests, not for speed.

# ws_open NAME [TOKEN]: connects to $SERVER_URL/api/v1/events (subprotocol
# outpost.events.v1) and waits for the end of the server's handshake answer.
# Sets WS_STATUS (101 on success).
ws_open() {
	local name=$1 tok=${2-$TOKEN} hostport fd auth=
	hostport=${SERVER_URL#http://}
	exec {fd}<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || fail "ws_open $name: cannot connect"
	eval "WS_FD_$name=$fd"
	[ -n "$tok" ] && auth="Authorization: Bearer $tok"$'\r\n'
	printf 'GET /api/v1/events HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: outpost.events.v1\r\n%s\r\n' \
		"$hostport" "$auth" >&"$fd"
	# The copy must not hold the other streams' sockets open after they close.
	(
		_ws_close_fds_but "$fd"
		exec cat <&"$fd"
	) >"$WORK/ws.$name.raw" &
	_ws_fds+=("$fd")
	track_pid $!
	eval "WS_CAT_$name=$!"
	wait_for 10 "the websocket handshake answer of $name" _ws_has_header "$name"
	WS_STATUS=$(head -n 1 "$WORK/ws.$name.raw" | cut -d' ' -f2)
	[ -n "$WS_STATUS" ] || WS_STATUS="nothing (the connection was closed without an answer)"
}

_ws_fds=()

# In a child: closes every websocket descriptor but $1.
_ws_close_fds_but() {
	local f
	for f in "${_ws_fds[@]}"; do
		[ "$f" = "${1:-}" ] || eval "exec $f>&-"
	done
}

_ws_has_header() {
	grep -q $'^\r$' "$WORK/ws.$1.raw" 2>/dev/null || ! kill -0 "$(eval echo "\$WS_CAT_$1")" 2>/dev/null
}

# ws_send NAME TEXT: one text frame.
ws_send() {
	local fd len hdr
	fd=$(eval echo "\$WS_FD_$1")
	len=$(printf %s "$2" | wc -c)
	if [ "$len" -lt 126 ]; then
		hdr=$(printf '\\x81\\x%02x\\x00\\x00\\x00\\x00' $((0x80 | len)))
	else
		hdr=$(printf '\\x81\\xfe\\x%02x\\x%02x\\x00\\x00\\x00\\x00' $((len >> 8)) $((len & 255)))
	fi
	{ printf "$hdr"; printf %s "$2"; } >&"$fd"
}

# ws_close NAME: closes the socket (no close frame: a client that vanishes).
ws_close() {
	local fd cat
	fd=$(eval echo "\$WS_FD_$1")
	cat=$(eval echo "\$WS_CAT_$1")
	exec {fd}>&-
	local keep=() f
	for f in "${_ws_fds[@]}"; do
		[ "$f" = "$fd" ] || keep+=("$f")
	done
	_ws_fds=("${keep[@]}")
	kill "$cat" 2>/dev/null
	wait "$cat" 2>/dev/null
}

# ws_messages NAME: every complete text message received so far, one a line.
ws_messages() {
	local raw=$WORK/ws.$1.raw bytes off n b0 b1 len size
	[ -f "$raw" ] || return 0
	size=$(wc -c <"$raw")
	# The handshake answer ends at the first CRLF CRLF.
	grep -q $'^\r$' "$raw" || return 0
	off=$(sed -n $'1,/^\r$/p' "$raw" | wc -c)
	while [ $((off + 2)) -le "$size" ]; do
		read -r b0 b1 <<<"$(od -An -tu1 -j "$off" -N 2 "$raw")"
		len=$((b1 & 127))
		n=2
		if [ "$len" -eq 126 ]; then
			[ $((off + 4)) -le "$size" ] || return 0
			read -r _ _ b0x b1x <<<"$(od -An -tu1 -j "$off" -N 4 "$raw")"
			len=$((b0x * 256 + b1x))
			n=4
		elif [ "$len" -eq 127 ]; then
			bytes=$(od -An -tu1 -j $((off + 2)) -N 8 "$raw")
			len=0
			for b in $bytes; do len=$((len * 256 + b)); done
			n=10
		fi
		[ $((off + n + len)) -le "$size" ] || return 0
		if [ $((b0 & 15)) -eq 1 ]; then
			tail -c +$((off + n + 1)) "$raw" | head -c "$len"
			echo
		fi
		off=$((off + n + len))
	done
}

# ---- templates and the scaler ----

# scaling_events [TEMPLATE]: every scaling.action event of TEMPLATE (default $T), one JSON a
# line, into $WORK/scaling.TEMPLATE (all pages, until last_seq stops moving).
scaling_events() {
	local t=${1:-$T} since=0 last out
	out=$WORK/scaling.${1:-$T}
	: >"$out"
	while :; do
		TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?since=$since&types=scaling.action&limit=1000"
		jbody -c --arg t "$t" '.items[] | select(.data.template == $t)' >>"$out"
		last=$(jbody .last_seq)
		[ "$last" != "$since" ] || break
		since=$last
	done
}

# events_of ACTION [TEMPLATE]: the scaling.action events of that action, as a JSON array.
events_of() {
	scaling_events "${2:-$T}"
	jq -cs --arg a "$1" '[.[] | select(.data.action == $a)]' "$WORK/scaling.${2:-$T}"
}

_worker_ready_online() {	# NAME
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody .state)" = ready ] && [ "$(jbody .health)" = online ]
}

# The pids of the outpost-agent processes the server started for worker NAME.
agent_pids() {
	local d out= comm
	for d in /proc/[0-9]*; do
		comm=
		read -r comm 2>/dev/null <"$d/comm"
		[ "$comm" = outpost-agent ] || continue
		case " $(tr '\0' ' ' 2>/dev/null <"$d/cmdline")" in
		*" --name $1 "*"$SERVER_DIR/workers/$1/"*) out="$out ${d#/proc/}" ;;
		esac
	done
	echo "${out# }"
}
# start_contained_agent NAME [outpost-agent flags...]: start_agent, online, and
# its instances in cgroups of their own; else the test is skipped (exit 77), saying
# why as the agent said it, never passed.
start_contained_agent() {
	local name=$1 line
	start_agent "$@"
	wait_online "$name"
	line=$(grep -m1 '"msg":"agent.isolation"' "$WORK/agent.$name.log")
	[ -n "$line" ] || fail "the agent of $name did not log agent.isolation at start"
	if [ -z "$(printf %s "$line" | jq -r '.cgroup // empty')" ]; then
		echo "SKIP: $TEST_NAME: no usable cgroup here: $(printf %s "$line" | jq -r .why)" >&2
		exit 77
	fi
}

_has_agent() { [ -n "$(agent_pids "$1")" ]; }
_no_agent() { [ -z "$(agent_pids "$1")" ]; }

# ---- the command line ----

# cli_as_admin: outpost talks to the running server with its admin token, and no
# config file of the user's may leak in.
cli_as_admin() {
	printf '%s\n' "$SERVER_TOKEN" >"$WORK/admin.token"
	export OUTPOST_SERVER=$SERVER_URL OUTPOST_TOKEN_FILE=$WORK/admin.token
	export HOME=$WORK/home XDG_CONFIG_HOME=$WORK/xdg
	unset OUTPOST_TOKEN OUTPOST_CONFIG
}

# cli WANT_RC ARGS...: runs outpost; sets OUT and ERR; fails on another status.
cli() {
	local want=$1 rc
	shift
	"$OUTPOST" "$@" >"$WORK/cli.out" 2>"$WORK/cli.err"
	rc=$?
	OUT=$(cat "$WORK/cli.out")
	ERR=$(cat "$WORK/cli.err")
	[ "$rc" = "$want" ] || fail "outpost $*: expected exit $want, got $rc; stdout: $OUT; stderr: $ERR"
}

# ---- runbooks ----

# runbook NAME JSON: writes NAME.json into the test's runbook directory
# (start_server loads it from there; SIGHUP reloads it).
runbook() {
	mkdir -p "$WORK/runbooks"
	printf '%s\n' "$2" >"$WORK/runbooks/$1.json"
}

# start_run NAME BODY: starts a run as $TOKEN, which must answer 202. Sets RUN_ID.
start_run() {
	api_ok 202 POST "/api/v1/runbooks/$1/runs" "$2"
	RUN_ID=$(jbody .id)
}

_run_status_is() {
	local s
	TOKEN=$SERVER_TOKEN api GET "/api/v1/runs/$1"
	s=$(jbody .status)
	[ "$s" = "$2" ] && return 0
	case $s in
	succeeded | failed | cancelled | interrupted)
		fail "run $1 is $s ($(jbody '.error // ""')), waiting for $2; output: $(jbody -j \
			'.steps[].output' | head -c 600)" ;;
	esac
	return 1
}

# wait_run ID STATUS [SECONDS]: fails at once if the run ends otherwise.
wait_run() {
	wait_for "${3:-15}" "run $1 to be $2" _run_status_is "$1" "$2"
}

# run_output ID: every step's output, in order.
run_output() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/runs/$1"
	jbody -j '.steps[].output'
}
