#!/bin/sh
# The autoscaler with the local provisioner: outpostd starts and stops real
# outpost-agent processes itself.
#  a. a template with min 1 comes up with one ready, online worker (its agent
#     a process of the server's);
#  b. a burst of pending instances that fits no worker scales the template up
#     to exactly the workers it needs (3 instances, 2 a worker: +1), and a
#     second burst that would need more than max only up to max (+1, to 3);
#     each scale_up event says why ("N pending need cpu=..., memory_mb=...,
#     free ... -> +k workers of T (a to b, max m)"); at no poll are there
#     more live workers than max, and no worker beyond the third is made;
#     every instance runs its slot and reaches stopped;
#  c. idle past idle_timeout, the extra workers are drained back down to min:
#     scale_down and retire events, the workers terminated, their agents gone;
#  d. /metrics counts the scale_up actions and the template's workers by state;
#  e. a restart on the same state directory keeps the template and its one
#     min worker (its agent started again, no new worker provisioned).
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
mkdir -p "$WORK/templates"
start_server --agent-program "$AGENT"

T=pool
MAX=3

# ---- helpers ----


n_events() {	# ACTION
	events_of "$1" | jq length
}

# Sets WORKERS: every worker of $T as a JSON array; LIVE: how many are live
# (provisioning, ready, cordoned or draining). Fails the test if LIVE is above max or a
# worker beyond the max-th was ever made (names are $T-1, $T-2, ...; never reused).
poll_workers() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?template=$T&limit=500"
	WORKERS=$(jbody -c '.items')
	LIVE=$(jbody '[.items[] | select(.state | IN("provisioning", "ready", "cordoned",
		"draining"))] | length')
	[ "$LIVE" -le "$MAX" ] || fail "$LIVE live workers of $T, above its max $MAX: \
$(jbody -c '[.items[] | "\(.name):\(.state)"]')"
	local n
	n=$(jbody '.items | length')
	[ "$n" -le "$MAX" ] || fail "$n workers of $T were made, more than its max $MAX: \
$(jbody -c '[.items[] | "\(.name):\(.state)"]')"
}

# The names of the workers of $T in STATE (space separated), from the last poll.
names_in() {
	printf '%s' "$WORKERS" | jq -r --arg s "$1" '[.[] | select(.state == $s) | .name] | join(" ")'
}


# Every instance named stopped (polling the workers too); fails on one that failed.
_all_stopped_poll() {	# IDS...
	local id s
	poll_workers
	for id in "$@"; do
		s=$(inst "$id" .state)
		case $s in
		stopped) ;;
		failed | terminated) fail "instance $id is $s: $(jbody .state_reason)" ;;
		*) return 1 ;;
		esac
	done
}

# Every instance named running (polling the workers too).
_all_running_poll() {	# IDS...
	local id s
	poll_workers
	for id in "$@"; do
		s=$(inst "$id" .state)
		case $s in
		running) ;;
		stopped | failed | terminated) fail "instance $id is $s ($(jbody .state_reason)) before running" ;;
		*) return 1 ;;
		esac
	done
}

_n_scale_up_is() {	# N
	poll_workers
	[ "$(n_events scale_up)" = "$1" ]
}

# ============================================================================
# a. The min worker comes up by itself.
# ============================================================================
TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$T" '{"capacity":{"cpu":2,"memory_mb":1024,"slots":2},
	"labels":{"kind":"pool"},"min":1,"max":3,"cooldown":"1s","idle_timeout":"3s",
	"provision_timeout":"30s","retry_backoff":"1s","autoscale":true,
	"provisioner":{"type":"local","heartbeat":"300ms"}}'
assert_status 201 "PUT /api/v1/templates/$T"
assert_eq 1 "$(jbody .desired)" "desired of $T (its min)"
wait_for 20 "$T-1 ready and online" _worker_ready_online $T-1
assert_eq '{"cpu":2,"memory_mb":1024,"slots":2}' "$(jbody -c .capacity)" "capacity of $T-1"
assert_eq '{"kind":"pool"}' "$(jbody -c .labels)" "labels of $T-1"
_has_agent $T-1 || fail "no outpost-agent process for $T-1"
first_agent=$(agent_pids $T-1)
assert_match '^[0-9]+$' "$first_agent" "the one agent process of $T-1"
poll_workers
assert_eq 1 "$LIVE" "live workers of $T before any demand"
assert_eq 1 "$(n_events provision)" "provision events of $T before any demand"
note "a: min worker ready (agent $first_agent)"

# ============================================================================
# b. Bursts of demand: up to what is needed, never past max.
# ============================================================================
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/grade.sh" <<'EOF'
#!/bin/sh
echo "{\"score\": 1, \"worker\": \"$OUTPOST_WORKER\"}"
EOF
define job "\"resources\":{\"cpu\":1,\"memory_mb\":256},\"labels\":{\"kind\":\"pool\"},\
\"hooks\":{\"instantiate\":[\"true\"],\"run\":[\"sleep\",\"600\"],\"grade\":[\"sh\",\"$H/grade.sh\"]}"

# Burst 1: 3 instances, 2 fit the min worker: exactly one worker more.
create_now job ana 20 3
burst1=$IDS
wait_for 20 "a scale_up of $T" _n_scale_up_is 1
ev=$(events_of scale_up)
r1=$(printf %s "$ev" | jq -r '.[0].data.reason')
assert_match "^1 pending need cpu=1, memory_mb=256, free cpu=[0-9]+, memory_mb=[0-9]+ -> \\+1 workers? of $T \\(1 to 2, max 3\\)\$" \
	"$r1" "the reason of the first scale_up"
assert_eq null "$(printf %s "$ev" | jq -r '.[0].data.worker')" "the worker of a scale_up event"
wait_for 20 "the 3 instances of burst 1 running" _all_running_poll $burst1
wait_for 15 "$T-2 ready and online" _worker_ready_online $T-2
assert_eq 2 "$(TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$T"; jbody .desired)" \
	"desired of $T after burst 1"
# Two cooldowns (1s) later nothing more is needed, so nothing more is made: a tick of the
# scaler that begins past them (it provisions a marker template) would have made it.
up_ms=$(date -u -d "$(printf %s "$ev" | jq -r '.[0].ts')" +%s%3N)
wait_for 10 "two cooldowns (1s) past the scale_up" clock_past_ms $((up_ms + 2000))
scaler_marker
poll_workers
assert_eq 2 "$LIVE" "live workers of $T while burst 1 runs"
assert_eq 1 "$(n_events scale_up)" "scale_up events while burst 1 runs"
assert_eq 2 "$(n_events provision)" "provision events of $T while burst 1 runs"
where=$(for id in $burst1; do inst "$id" .worker; done | sort | uniq -c | awk '{print $1}' | sort | paste -sd' ' -)
assert_eq "1 2" "$where" "instances a worker in burst 1"
note "b: burst 1 -> 2 workers ($r1)"

# Burst 2: 5 more; one fits $T-2, 4 would need 2 workers more, max allows 1.
# Their slot outlasts burst 1's, so the 2 that wait are placed when it ends.
b1_end=$(date -u -d "$(inst "${burst1%% *}" .timeslot_end)" +%s)
create_now job ben $((b1_end + 8 - $(date +%s))) 5
burst2=$IDS
wait_for 20 "a second scale_up of $T" _n_scale_up_is 2
ev=$(events_of scale_up)
r2=$(printf %s "$ev" | jq -r '.[1].data.reason')
assert_match "^2 pending need cpu=2, memory_mb=512, free cpu=[0-9]+, memory_mb=[0-9]+ -> \\+1 workers? of $T \\(2 to 3, max 3\\)\$" \
	"$r2" "the reason of the second scale_up"
wait_for 15 "$T-3 ready and online" _worker_ready_online $T-3
wait_for 45 "every instance of both bursts stopped" _all_stopped_poll $burst1 $burst2
assert_eq 2 "$(n_events scale_up)" "scale_up events in all (max reached after the second)"
for id in $burst1 $burst2; do
	w=$(inst "$id" .worker)
	assert_match "^$T-[123]\$" "$w" "the worker of instance $id"
	assert_eq "$w" "$(inst "$id" .grade.worker)" "the grade of instance $id (graded on its worker)"
done
note "b: burst 2 -> 3 workers ($r2); all 8 instances stopped"

# ============================================================================
# c. Idle past idle_timeout: back down to min.
# ============================================================================
_down_to_min() {
	poll_workers
	[ "$LIVE" = 1 ] && [ "$(printf %s "$WORKERS" | jq '[.[] | select(.state == "terminated")] | length')" = 2 ]
}
# When the last instance stopped (ms since the epoch).
last_stop=0
for id in $burst1 $burst2; do
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances/$id/transitions"
	at=$(date -u -d "$(jbody -r '[.items[] | select(.to == "stopped")] | last | .at')" +%s%3N)
	[ "$at" -gt "$last_stop" ] && last_stop=$at
done
wait_for 30 "$T drained back down to its min of 1" _down_to_min
keeper=$(names_in ready)
assert_match "^$T-[123]\$" "$keeper" "the one worker of $T left ready"
gone=$(names_in terminated)
ev=$(events_of scale_down)
n_down=$(printf %s "$ev" | jq length)
[ "$n_down" -ge 1 ] && [ "$n_down" -le 2 ] || fail "$n_down scale_down events of $T, expected 1 or 2"
down_names=$(printf %s "$ev" | jq -r '.[].data.reason' | sed -n 's/ idle past 3s -> .*//p' |
	tr ',' ' ' | xargs -n1 | sort | paste -sd' ' -)
assert_eq "$gone" "$down_names" "the workers the scale_down events name"
for r in $(printf %s "$ev" | jq -r '.[].data.reason | @base64'); do
	r=$(printf %s "$r" | base64 -d)
	assert_match "^$T-[0-9](, $T-[0-9])* idle past 3s -> -[12] workers? of $T \\([23] to [12], min 1\\)\$" \
		"$r" "the reason of a scale_down"
done
# Idle past idle_timeout (3s), counted from the scaler's last look at a busy worker
# (once a second): well after the last instance stopped, not at once.
first_down=$(date -u -d "$(printf %s "$ev" | jq -r '.[0].ts')" +%s%3N)
[ $((first_down - last_stop)) -ge 1500 ] ||
	fail "the first scale_down came $((first_down - last_stop)) ms after the last instance stopped; idle_timeout is 3s"
assert_eq "$gone" "$(events_of retire | jq -r '[.[].data.worker] | sort | join(" ")')" \
	"the workers the retire events name"
for w in $gone; do
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=$w&limit=100"
	assert_eq "ready>draining draining>stopped stopped>terminated" \
		"$(jbody -r '[.items[].data | select(.from != "provisioning") | "\(.from)>\(.to)"] | join(" ")')" \
		"the states of $w after it was made"
	wait_for 15 "the agent of $w to be gone" _no_agent "$w"
done
_has_agent "$keeper" || fail "the agent of $keeper, the worker kept, is not running"
assert_eq 1 "$(TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$T"; jbody .desired)" \
	"desired of $T after the scale down"
note "c: down to min: $keeper kept, $gone terminated"

# ============================================================================
# d. Metrics.
# ============================================================================
TOKEN= api_ok 200 GET /metrics
M=$BODY
metric() {	# SERIES: its value, or "none"
	printf '%s\n' "$M" | awk -v s="$1" '$1 == s { print $2; f = 1 } END { if (!f) print "none" }'
}
assert_eq 2 "$(metric "outpost_scaling_actions_total{action=\"scale_up\",template=\"$T\"}")" \
	"outpost_scaling_actions_total of scale_up"
assert_eq "$n_down" "$(metric "outpost_scaling_actions_total{action=\"scale_down\",template=\"$T\"}")" \
	"outpost_scaling_actions_total of scale_down"
assert_eq 3 "$(metric "outpost_scaling_actions_total{action=\"provision\",template=\"$T\"}")" \
	"outpost_scaling_actions_total of provision"
assert_eq 1 "$(metric "outpost_workers{template=\"$T\",state=\"ready\"}")" \
	"outpost_workers of $T ready"
assert_eq 2 "$(metric "outpost_workers{template=\"$T\",state=\"terminated\"}")" \
	"outpost_workers of $T terminated"
assert_eq 0 "$(metric "outpost_workers{template=\"$T\",state=\"draining\"}")" \
	"outpost_workers of $T draining"
note "d: metrics ok"

# ============================================================================
# e. A restart keeps the template and its min worker.
# ============================================================================
before=$(printf %s "$WORKERS" | jq -c '[.[] | {name, state}] | sort_by(.name)')
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/templates/$T"
tmpl_before=$(jbody -cS 'del(.workers)')
M_before=$(printf '%s\n' "$M" | grep "^outpost_workers{template=\"$T\"," | sort)
keeper_agent=$(agent_pids "$keeper")
port=${SERVER_URL##*:}
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
start_server --state-dir "$SERVER_DIR" --listen "127.0.0.1:$port" --agent-program "$AGENT"
restart_s=$(date +%s)
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/templates/$T"
assert_eq "1 1 3 api" "$(jbody -r '"\(.desired) \(.min) \(.max) \(.source)"')" \
	"desired, min, max and source of $T after the restart"
assert_eq "$tmpl_before" "$(jbody -cS 'del(.workers)')" "$T after the restart"
# Its agent heard from after the restart (worker times are to the second).
_beat_since() { _worker_ready_online "$1" && heard_after "$1" "$2"; }	# NAME EPOCH
wait_for 20 "a heartbeat of $keeper after the restart" _beat_since "$keeper" "$restart_s"
wait_for 15 "an agent for $keeper after the restart" _has_agent "$keeper"
# Two ticks of the scaler since (each provisions a marker template): nothing new is made.
scaler_marker
scaler_marker
poll_workers
assert_eq 1 "$LIVE" "live workers of $T after the restart"
assert_eq "$before" "$(printf %s "$WORKERS" | jq -c '[.[] | {name, state}] | sort_by(.name)')" \
	"the workers of $T after the restart"
assert_eq 3 "$(n_events provision)" "provision events of $T after the restart"
TOKEN= api_ok 200 GET /metrics
assert_eq "$M_before" "$(printf '%s\n' "$BODY" | grep "^outpost_workers{template=\"$T\"," | sort)" \
	"outpost_workers of $T after the restart"
n=$(agent_pids "$keeper" | wc -w)
assert_eq 1 "$n" "agent processes of $keeper after the restart (was $keeper_agent, now $(agent_pids "$keeper"))"
note "e: restart ok"

stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
