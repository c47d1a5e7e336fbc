#!/bin/sh
# Network faults between agents and the server: three real agents, each behind
# a fault-injecting proxy of its own (tests/tools/faultproxy.py), with
# instances of both on_worker_loss values created, running, terminated and
# drained while the proxies add latency and jitter, cut connections
# mid-answer and mid-websocket-frame, black-hole one agent (killed and
# started again meanwhile) while another is left half-open, and read slowly.
# After every fault and its healing:
#   - no instance ran on two workers at once: each run hook marks, every
#     100 ms, the monotonic time into a file of its instance, worker and
#     attempt; two such files of one instance whose times overlap fail;
#   - an agent cut off past worker_lost_after had fenced its instances: it
#     killed their hooks before the server gave them to another worker;
#   - every instance ends as its on_worker_loss, its slot and the operator's
#     call say; every create that was answered 201 is there;
#   - the events are gapless (seq 1, 2, 3, ... through the API);
#   - the agents come back by themselves and take new work.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
PROXY=$top_srcdir/tests/tools/faultproxy.py
WORKERS="w1 w2 w3"

# Lost after 6 s: at 4 s, a run under the sanitizers at a load of 13 saw w3, which no
# fault touched, lost twice (its heartbeats pass through the proxy too).
OUTPOST_WORKER_OFFLINE_AFTER=2s OUTPOST_WORKER_LOST_AFTER=6s start_server
MARKS=$WORK/marks
mkdir -p "$MARKS"
chmod 1777 "$MARKS"
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/run.sh" <<EOF
#!/bin/sh
f=$MARKS/\$OUTPOST_INSTANCE_ID.\$OUTPOST_WORKER.\$OUTPOST_ATTEMPT
while :; do read t _ </proc/uptime; echo "\$t" >>"\$f"; sleep 0.1; done
EOF
chmod 755 "$H" "$H/run.sh"

# ---- the proxies ----

# One proxy process, a port for each agent: worker wN talks through proxy N.
python3 "$PROXY" --target "${SERVER_URL#http://}" --port-file "$WORK/proxy.ports" --count 3 \
	--max-life 300 >"$WORK/proxy.log" 2>&1 &
track_pid $!
wait_for 15 "the proxies to listen" test -s "$WORK/proxy.ports"
read -r CTL PORT_w1 PORT_w2 PORT_w3 <"$WORK/proxy.ports"

# pctl WORKER|all COMMAND...: the proxy of the worker (or every proxy) does it, or the
# test fails; PCTL is its answer.
pctl() {
	local which=${1#w}
	shift
	exec 4<>"/dev/tcp/127.0.0.1/$CTL" || fail "the proxies' control port"
	printf '%s %s\n' "$which" "$*" >&4
	read -r PCTL <&4
	exec 4>&-
	case $PCTL in ok*) ;; *) fail "proxy $which: $*: $PCTL" ;; esac
}

_proxy_cut() {	# WORKER N: its proxy has cut N connections or more
	pctl "$1" stats
	[ "$(printf %s "$PCTL" | sed -n 's/.* cuts=\([0-9]*\).*/\1/p')" -ge "$2" ]
}

# Each agent talks to the server only through its proxy.
TOKEN=$SERVER_TOKEN
create_token agents agent
AGENT_TOKEN_FILE=$WORK/agent.token
(umask 077 && printf '%s\n' "$NEW_TOKEN" >"$AGENT_TOKEN_FILE")
for w in $WORKERS; do
	eval "port=\$PORT_$w"
	SERVER_URL=http://127.0.0.1:$port start_agent "$w" \
		--capacity cpu=16,memory_mb=16384,slots=16 --labels "host=$w"
done
wait_online $WORKERS

define moves "\"hooks\":{\"run\":[\"$H/run.sh\"]},\"on_worker_loss\":\"reschedule\""
define pinned "\"hooks\":{\"run\":[\"$H/run.sh\"]},\"on_worker_loss\":\"fail\""
for w in $WORKERS; do
	define "on-$w" "\"hooks\":{\"run\":[\"$H/run.sh\"]},\"labels\":{\"host\":\"$w\"}"
done

# ---- what the test keeps ----

CREATED=""	# every id a 201 answered
declare -A WANT	# id -> the state it must end in ("held": running, or failed by a loss)
declare -A WHERE	# id -> the worker it must end on (none: any)

# make DEFINITION:OWNER...: instances (slots of an hour, from now). Sets MADE.
make() {
	local d
	MADE=
	for d in "$@"; do
		create_now "${d%%:*}" "${d#*:}" 3600
		CREATED="$CREATED $INSTANCE_ID"
		MADE="$MADE $INSTANCE_ID"
	done
	MADE=${MADE# }
}

_placed() { [ "$(inst "$1" .worker)" != null ]; }

# The marks: one line per file, "ID WORKER ATTEMPT FIRST LAST" (uptime seconds).
intervals() {
	awk 'FNR == 1 { if (f != "") print f, first, last; f = FILENAME; sub(/.*\//, "", f)
		gsub(/\./, " ", f); first = $1 } { last = $1 } END { if (f != "") print f, first, last }' \
		"$MARKS"/*
}

# No instance ran on two workers (or in two attempts) at once.
check_no_double_run() {
	local bad
	bad=$(intervals | awk '{ id[NR] = $1; who[NR] = $2 "#" $3; a[NR] = $4; b[NR] = $5 }
		END { for (i = 1; i <= NR; i++) for (j = i + 1; j <= NR; j++)
			if (id[i] == id[j] && who[i] != who[j] && a[i] <= b[j] && a[j] <= b[i])
				printf "instance %s ran on %s (%s-%s) and on %s (%s-%s) at once; ",
				    id[i], who[i], a[i], b[i], who[j], a[j], b[j] }')
	[ -z "$bad" ] || fail "$1: $bad"
}

# Every acknowledged create is there; events are gapless from 1 to the newest.
check_nothing_lost() {
	local id since=0 last next have
	api_ok 200 GET "/api/v1/instances?limit=500"
	have=" $(jbody '[.items[].id] | join(" ")') "
	for id in $CREATED; do
		case $have in *" $id "*) ;; *) fail "$1: instance $id, whose create was answered 201, is not listed" ;; esac
	done
	while :; do
		api_ok 200 GET "/api/v1/events?since=$since&limit=1000"
		next=$(jbody --argjson s "$since" '[.items[].seq] as $q |
			if ($q | length) == 0 then "end"
			elif [range(0; $q | length)] | all(. as $i | $q[$i] == $s + 1 + $i) then $q[-1]
			else "gap" end')
		[ "$next" != gap ] || fail "$1: the events after $since are not contiguous"
		[ "$next" != end ] || break
		since=$next
	done
	last=$(jbody .last_seq)
	assert_eq "$last" "$since" "$1: the last event read against the newest"
}

# After a fault is healed: the agents are back by themselves, nothing ran twice, nothing is lost.
check_healed() {
	wait_online $WORKERS
	check_no_double_run "$1"
	check_nothing_lost "$1"
	note "$1: healed and checked at ${SECONDS}s"
}

# _states ID...: "ID STATE WORKER.ATTEMPT" for each, from one listing.
_states() {
	api GET "/api/v1/instances?limit=500"
	[ "$STATUS" = 200 ] || return 1
	STATES=$(jbody --argjson ids "[$(echo "$@" | tr ' ' ,)]" '.items[] |
		select(.id as $i | $ids | index($i)) | "\(.id) \(.state) \(.worker).\(.attempt)"')
}

_running() {	# ID...: every one running (one that ended fails the test); sets RUNFILES
	local id st where n=0
	_states "$@" || return 1
	RUNFILES=
	while read -r id st where; do
		case $st in
		running) n=$((n + 1)) RUNFILES="$RUNFILES $MARKS/$id.$where" ;;
		stopped | failed | terminated) fail "instance $id is $st, waiting for it to run" ;;
		esac
	done <<<"$STATES"
	[ "$n" = $# ]
}

_marks_grow() {	# FILE...: a run hook writes to each now
	local before after
	before=$(wc -l $RUNFILES 2>&1)
	sleep 0.3
	after=$(wc -l $RUNFILES 2>&1)
	[ -z "$(comm -12 <(printf '%s\n' "$before" | sort) <(printf '%s\n' "$after" | sort) |
		grep -v ' total$')" ]
}

wait_runs() {	# ID...: running, and their run hooks marking
	wait_for 20 "instances $* to run" _running "$@"
	wait_for 20 "the run hooks of $* to mark" _marks_grow
}

# ---- 1. latency and jitter: created, running, terminated ----
pctl all latency 80 40
make moves:ana pinned:ben
read -r a1 a2 <<<"$MADE"
wait_runs $a1 $a2
api_ok 200 POST "/api/v1/instances/$a2/terminate"
wait_state "$a2" terminated 10
WANT[$a1]=running WANT[$a2]=terminated
pctl all pass
check_healed "latency"

# ---- 2. connections cut mid-answer and mid-frame, then all dropped ----
# Every connection, open or new, is cut after 300 more bytes from the server:
# answers and the event stream's frames alike, while instances are made.
pctl all cut 300
make moves:dan pinned:eve
read -r b1 b2 <<<"$MADE"
for w in $WORKERS; do wait_for 10 "the proxy of $w to cut connections" _proxy_cut "$w" 2; done
pctl all pass
pctl all drop
wait_runs $b1 $b2
WANT[$b1]=running WANT[$b2]=held
check_healed "cut and dropped"

# ---- 3. a black hole around w1 and, at once, half-open around w2 ----
# Both past worker_lost_after. Half-open: the server's side of w2's
# connections is gone, the agent's stays, never answered. What they hold
# is made with w3 cordoned, so it is all theirs.
api_ok 200 POST /api/v1/workers/w3/cordon
make moves:fay pinned:gus moves:hal pinned:ivy
read -r c1 c2 d1 d2 <<<"$MADE"
for id in $MADE; do wait_for 20 "instance $id placed" _placed "$id"; done
api_ok 200 POST /api/v1/workers/w3/uncordon
declare -A ON
_states $MADE
while read -r id st where; do ON[$id]=${where%.*}; done <<<"$STATES"
wait_runs $c1 $c2 $d1 $d2
pctl w1 blackhole
pctl w2 halfopen
# w1's agent, killed and started again while cut off, never reaches the server:
# it fences on the lease the one before it kept.
kill_agent w1
SERVER_URL=http://127.0.0.1:$PORT_w1 start_agent w1 \
	--capacity cpu=16,memory_mb=16384,slots=16 --labels host=w1
wait_for 20 "w1 to be lost" _worker_is w1 lost
wait_for 20 "w2 to be lost" _worker_is w2 lost
# Lost: the moves instances run on w3, the pinned ones failed.
wait_runs $c1 $d1
assert_eq "w3 w3" "$(inst "$c1" .worker) $(inst "$d1" .worker)" \
	"the workers of instances $c1 and $d1 after w1 and w2 were lost"
for id in $c2 $d2; do
	wait_state "$id" failed 10
	assert_eq "worker_lost: its worker ${ON[$id]} was lost" "$(inst "$id" .state_reason)" \
		"why instance $id failed"
done
# Still cut off, w1's and w2's agents had killed their hooks before: the fence.
check_no_double_run "w1 and w2 still cut off"
for id in $MADE; do
	assert_contains '"agent.fenced"' "$(grep "\"instance\":\"$id\"" "$WORK/agent.${ON[$id]}.log")" \
		"${ON[$id]}'s agent fenced instance $id"
done
# New connections pass again; w2's half-open ones stay, never answered: its
# agent must give up on them by itself (its calls' timeouts, its stream's PINGs).
pctl w1 pass
pctl w2 pass
WANT[$c1]=running WANT[$c2]=failed WANT[$d1]=running WANT[$d2]=failed
check_healed "black hole and half-open"

# ---- 4. a slow reader at w3 while it is drained ----
# What runs there (the instances moved off w1 and w2 among them) is stopped.
api_ok 200 GET "/api/v1/instances?limit=500"
drained=$(jbody '[.items[] | select(.worker == "w3" and .state == "running") | .id] | join(" ")')
[ -n "$drained" ] || fail "nothing runs on w3 to drain"
pctl w3 slow 2000
api_ok 200 POST /api/v1/workers/w3/drain '{"deadline":"1s"}'
for id in $drained; do
	wait_state "$id" stopped 30
	WANT[$id]=stopped
done
pctl w3 pass
api_ok 200 POST /api/v1/workers/w3/uncordon
check_healed "slow reader"

# ---- the agents take new work by themselves, each ----
make on-w1:new1 on-w2:new2 on-w3:new3
read -r f1 f2 f3 <<<"$MADE"
wait_runs $f1 $f2 $f3
WANT[$f1]=running WANT[$f2]=running WANT[$f3]=running
WHERE[$f1]=w1 WHERE[$f2]=w2 WHERE[$f3]=w3

# ---- how each instance ended ----
# A pinned instance (on_worker_loss fail) made before the worker it ran on was
# lost or fenced fails with it; one that moves runs on, wherever it went.
api_ok 200 GET "/api/v1/instances?limit=500"
for id in "${!WANT[@]}"; do
	st=$(jbody --argjson id "$id" '.items[] | select(.id == $id) |
		.state + " " + .worker + " " + (.state_reason // "")')
	case ${WANT[$id]}:$st in
	held:"running "* | held:"failed "*" worker_lost: "* | held:"failed "*" fenced: "*) ;;
	held:*) fail "instance $id (on_worker_loss fail) is $st: neither running nor failed by a loss" ;;
	*) assert_eq "${WANT[$id]}" "${st%% *}" "the state of instance $id ($st)" ;;
	esac
	[ -z "${WHERE[$id]:-}" ] || assert_match "^running ${WHERE[$id]} " "$st" \
		"the state and worker of instance $id"
done
check_no_double_run "at the end"
check_nothing_lost "at the end"
exit 0
