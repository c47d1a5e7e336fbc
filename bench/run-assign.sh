#!/bin/bash
# Assignment latency with AGENTS real outpost-agent processes on loopback, two
# ways, from the moment the scheduler placed an instance (its transition's
# time, stamped by the server):
#   - to the agent knowing it (the agent's agent.assigned log line: on one
#     host the server's and the agents' clocks are the same clock): the
#     placement's commit, its event pushed over the agent's websocket, and
#     the agent asking for its work;
#   - to the agent's first report on it committed (scheduled -> instantiating,
#     stamped by the server; what outpost_assignment_latency_seconds counts):
#     the above, plus the report and its durable commit, in line behind every
#     other agent's.
#
# Reference, in the same run: one plain HTTP round trip to the same server
# (curl, GET /healthz, one at a time). Target: p99 well under 100 ms.
#
# Usage: bench/run-assign.sh [--out FILE]
# Two loads: SINGLES (100) placements one at a time, 0.1 s apart, with every
# agent connected (the path's own latency); then BATCHES (20) batches of
# AGENTS instances, which wake every agent at once (on one small machine,
# AGENTS processes contend for its cores: the worst case here, where a real
# site has an agent on each host).
# Environment: AGENTS (50), SINGLES (100), BATCHES (20),
# OUTPOSTD, AGENT (the outpost-agent beside OUTPOSTD's tree), BENCH_PIN (0).
set -u
. "$(dirname "$0")/lib.sh"

OUT=""
[ "${1:-}" = "--out" ] && OUT=${2:?--out needs a file}
AGENTS=${AGENTS:-50}
SINGLES=${SINGLES:-100}
BATCHES=${BATCHES:-20}
AGENT=${AGENT:-$(cd "$(dirname "$OUTPOSTD")/../agent" 2>/dev/null && pwd)/outpost-agent}

need curl curl
need jq jq
need_outpostd
[ -x "$AGENT" ] || die "no outpost-agent at $AGENT: build it or set AGENT"
bench_init

# The hooks run under shims in sessions of their own: whatever is left under
# the temp dir is killed before it goes.
kill_hooks() {
	local d
	kill_under_tmp
	for d in /proc/[0-9]*; do
		if [ "$(cat "$d/comm" 2>/dev/null)" = outpost-shim ] &&
			tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$BENCH_TMP/"; then
			kill -KILL "${d#/proc/}" 2>/dev/null
		fi
	done
}
trap 'kill_hooks; [ -n "${BENCH_KEEP:-}" ] || bench_cleanup' EXIT

start_outpostd assign
# Spread: each batch gives one instance to each agent, so every agent acts on
# its own placement at once and the latency is the path's, not a queue's.
printf 'scheduler_policy = spread\n' >"$BENCH_TMP/empty.conf"
kill -HUP "$OP_PID"
for _ in $(seq 1 50); do
	grep -q '"config.reloaded"' "$OP_STATE/outpostd.log" && break
	sleep 0.1
done
grep -q '"config.reloaded"' "$OP_STATE/outpostd.log" || die "outpostd did not reload its config"
TOKEN_FILE=$BENCH_TMP/agent.token
api POST /api/v1/tokens '{"name":"bench-agents","role":"agent"}' | jq -r .token >"$TOKEN_FILE"
say "starting $AGENTS agents"
for i in $(seq 1 "$AGENTS"); do
	# exec'd, so that $! is the agent's own pid and the cleanup stops it.
	client_exec "$AGENT" --server "$OP_URL" --token-file "$TOKEN_FILE" --name "a$i" \
		--capacity "cpu=512,memory_mb=65536,slots=$((BATCHES + SINGLES + 1))" \
		--work-dir "$BENCH_TMP/agents/a$i" --heartbeat 5s --log-format json \
		>"$BENCH_TMP/agent.a$i.log" 2>&1 &
	BENCH_PIDS="$BENCH_PIDS $!"
done
for _ in $(seq 1 300); do
	n=$(api GET "/api/v1/workers?health=online&limit=500" | jq '.items | length')
	[ "$n" = "$AGENTS" ] && break
	sleep 0.1
done
[ "$n" = "$AGENTS" ] || die "only $n of $AGENTS agents came online"
api POST /api/v1/definitions '{"name":"bench","resources":{"cpu":1,"memory_mb":64},
	"hooks":{"run":["sleep","3600"]}}' >/dev/null
start=$(date -u +%Y-%m-%dT%H:%M:%SZ)
end=$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)
pct() { awk -v p="$1" '{ v[NR] = $1 } END { i = int(NR * p / 100 + 0.999); if (i < 1) i = 1; print v[i] }' "$2"; }
ms_of='def ms: (sub("\\.[0-9]+Z$"; "Z") | fromdate) * 1000 + (capture("\\.(?<ms>[0-9]+)Z$").ms | tonumber);'

# wait_running N: until N instances run.
wait_running() {
	for _ in $(seq 1 900); do
		n=$(curl -s "$OP_URL/metrics" | sed -n 's/^outpost_instances{state="running"} //p')
		[ "${n:-0}" -ge "$1" ] && return 0
		sleep 0.1
	done
	die "only ${n:-0} of $1 instances run"
}

# measure FIRST LAST: for instances FIRST..LAST, the placement-to-agent and
# placement-to-report latencies; sets K50 K99 KMAX KN R50 R99 RMAX RN.
measure() {
	local since=0 page next
	: >"$BENCH_TMP/events"
	while :; do
		page=$(api GET "/api/v1/events?types=instance.state&limit=1000&since=$since")
		printf '%s\n' "$page" | jq -c '.items[] | {id: .data.instance.id, to: .data.to, ts}' \
			>>"$BENCH_TMP/events"
		next=$(printf '%s\n' "$page" | jq .last_seq)
		[ "$next" = "$since" ] && break
		since=$next
	done
	jq -r --argjson a "$1" --argjson b "$2" "$ms_of"' select(.id >= $a and .id <= $b) |
		select(.to == "scheduled" or .to == "instantiating") | "\(.id) \(.to) \(.ts | ms)"' \
		"$BENCH_TMP/events" >"$BENCH_TMP/steps"
	awk '$2 == "scheduled" { print $1, $3 }' "$BENCH_TMP/steps" | sort -k1,1 >"$BENCH_TMP/placed"
	awk '$2 == "instantiating" { print $1, $3 }' "$BENCH_TMP/steps" | sort -k1,1 >"$BENCH_TMP/reported"
	cat "$BENCH_TMP"/agent.a*.log | jq -r -R "$ms_of"' fromjson? |
		select(.msg == "agent.assigned") | "\(.instance) \(.ts | ms)"' | sort -k1,1 >"$BENCH_TMP/seen"
	join "$BENCH_TMP/placed" "$BENCH_TMP/seen" | awk -v a="$1" -v b="$2" \
		'$1 >= a && $1 <= b { print $3 - $2 }' | sort -n >"$BENCH_TMP/k"
	join "$BENCH_TMP/placed" "$BENCH_TMP/reported" | awk '{ print $3 - $2 }' | sort -n >"$BENCH_TMP/r"
	KN=$(wc -l <"$BENCH_TMP/k") RN=$(wc -l <"$BENCH_TMP/r")
	[ "$KN" -ge $(($2 - $1 + 1)) ] && [ "$RN" -ge $(($2 - $1 + 1)) ] ||
		die "instances $1..$2: $KN seen by their agents, $RN reported"
	K50=$(pct 50 "$BENCH_TMP/k") K99=$(pct 99 "$BENCH_TMP/k") KMAX=$(tail -n 1 "$BENCH_TMP/k")
	R50=$(pct 50 "$BENCH_TMP/r") R99=$(pct 99 "$BENCH_TMP/r") RMAX=$(tail -n 1 "$BENCH_TMP/r")
}

say "placing $SINGLES instances one at a time"
for i in $(seq 1 "$SINGLES"); do
	api POST /api/v1/instances "{\"definition\":\"bench\",\"owner\":\"s$i\",\
\"timeslot_start\":\"$start\",\"timeslot_end\":\"$end\"}" >/dev/null
	sleep 0.1
done
wait_running "$SINGLES"
measure 1 "$SINGLES"
S=("$K50" "$K99" "$KMAX" "$KN" "$R50" "$R99" "$RMAX" "$RN")
say "placing $BATCHES batches of $AGENTS"
for b in $(seq 1 "$BATCHES"); do
	api POST /api/v1/instances "{\"definition\":\"bench\",\"owner\":\"b$b\",\
\"timeslot_start\":\"$start\",\"timeslot_end\":\"$end\",\"count\":$AGENTS}" >/dev/null
	sleep 0.3	# one pass a batch
done
total=$((SINGLES + AGENTS * BATCHES))
wait_running "$total"
measure $((SINGLES + 1)) "$total"
B=("$K50" "$K99" "$KMAX" "$KN" "$R50" "$R99" "$RMAX" "$RN")

# The reference: plain round trips to the same server, one at a time.
for _ in $(seq 1 300); do
	curl -s -o /dev/null -w '%{time_total}\n' "$OP_URL/healthz"
done | awk '{ printf "%.3f\n", $1 * 1000 }' | sort -n >"$BENCH_TMP/rtt"
r50=$(pct 50 "$BENCH_TMP/rtt")
r99=$(pct 99 "$BENCH_TMP/rtt")
hist=$(curl -s "$OP_URL/metrics" | grep '^outpost_assignment_latency_seconds_bucket' |
	sed 's/.*le="\([^"]*\)"} \(.*\)/le \1 s: \2/' | tr '\n' ';' | sed 's/;$//')

say "terminating the instances"
for id in $(seq 1 "$total"); do
	curl -s -o /dev/null -X POST -H "Authorization: Bearer $OP_TOKEN" \
		"$OP_URL/api/v1/instances/$id/terminate"
done

{
	echo "## Assignment latency: placement to the agent, $AGENTS agents"
	echo
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo))," \
		"Linux $(uname -r), shared and noisy"
	echo "- outpostd: $("$OUTPOSTD" --version 2>&1 | head -n 1); libwebsockets" \
		"$(dpkg-query -W -f '${Version}' libwebsockets-dev 2>/dev/null ||
			pkg-config --modversion libwebsockets 2>/dev/null || echo unknown)"
	echo "- agents: $AGENTS outpost-agent processes on loopback, spread placement, no instantiate" \
		"hook (the first report is at once); $SINGLES single placements 0.1 s apart, then" \
		"$BATCHES batches of $AGENTS 0.3 s apart"
	echo
	echo "| placement → | p50 ms | p99 ms | max ms | n |"
	echo "|---|---|---|---|---|"
	echo "| one at a time: the agent knows it | ${S[0]} | ${S[1]} | ${S[2]} | ${S[3]} |"
	echo "| one at a time: the agent's first report, committed | ${S[4]} | ${S[5]} | ${S[6]} | ${S[7]} |"
	echo "| $AGENTS at once: the agent knows it | ${B[0]} | ${B[1]} | ${B[2]} | ${B[3]} |"
	echo "| $AGENTS at once: the agent's first report, committed | ${B[4]} | ${B[5]} | ${B[6]} | ${B[7]} |"
	echo "| reference: one HTTP round trip (GET /healthz) | $r50 | $r99 | | 300 |"
	echo
	echo "One at a time, an assignment reaches its agent in $(div "${S[0]}" "$r50" %.1f)× one round" \
		"trip at the median, $(div "${S[1]}" "$r50" %.1f)× at p99; $AGENTS at once, $(div "${B[0]}" "$r50" %.1f)×" \
		"and $(div "${B[1]}" "$r50" %.1f)×. The target is an assignment at its agent within 100 ms."
	echo "The server's own histogram (outpost_assignment_latency_seconds): $hist."
	echo
	score "assignment, $AGENTS agents at once" "p99 ${B[1]} ms" "one round trip: p99 $r99 ms" \
		"$(div "${B[1]}" "$r99")" "p99 < 100 ms" "$(is_lt "${B[1]}" 100)"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
