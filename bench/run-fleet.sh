#!/bin/bash
# A fleet of simulated agents against one real outpostd: fleet-sim (built
# here from fleet-sim.c, fleet-http.c and fleet-phases.c) runs N agents of
# the real agent protocol on one libwebsockets loop
# (register with a join token, sync, the event stream for its worker, a
# heartbeat every HEARTBEAT seconds, the work on each doorbell, each step
# reported at once, as an agent whose definition has no hooks would), for
# each N in FLEET (100 300 1000), each on a fresh outpostd at its default
# worker_offline_after (15s) and worker_lost_after (60s), spread placement.
#
# Measured, for each N:
#   - outpostd's CPU (utime+stime from /proc/PID/stat) over IDLE seconds
#     with the fleet idle: every agent registered, subscribed, heartbeating;
#     and the simulator's own, to show it is not the bottleneck;
#   - assignment latency: SINGLES instances created one at a time, GAP_MS
#     apart, then one batch of N (at most 1000: each agent gets one) in one
#     request; from each placement (its transition to scheduled, stamped by
#     outpostd) and from the create's answer to its agent's work listing it;
#   - every instance then stopped and followed by its agent to stopped.
# Reference, in the same go and on the same server just before the fleet
# joins it: its CPU over IDLE seconds with no agent, and one HTTP round trip
# (GET /healthz on a kept connection, 300 one at a time).
# Targets: outpostd under 5% of a core with 1000 agents idle; the single
# assignments' p99 under 100 ms with 1000 agents.
#
# Usage: bench/run-fleet.sh [--out FILE]
# Environment: FLEET ("100 300 1000"), IDLE (30), HEARTBEAT (5: the agent's
# default, in seconds), SINGLES (200), GAP_MS (20), OUTPOSTD, CC, BENCH_PIN.
set -u
. "$(dirname "$0")/lib.sh"

OUT=$(out_arg "$@")
FLEET=${FLEET:-100 300 1000}
IDLE=${IDLE:-30}
HEARTBEAT=${HEARTBEAT:-5}
SINGLES=${SINGLES:-200}
GAP_MS=${GAP_MS:-20}

need curl curl
need jq jq
need "${CC:-cc}" gcc
need pkg-config pkg-config
need_outpostd
for n in $FLEET; do
	case $n in
	'' | *[!0-9]*) die "FLEET: $n is not a number of agents" ;;
	esac
	[ "$n" -ge 1 ] && [ "$n" -le 5000 ] || die "FLEET: $n agents: 1 to 5000"
done
case $IDLE$HEARTBEAT$SINGLES$GAP_MS in
*[!0-9]*) die "IDLE, HEARTBEAT, SINGLES and GAP_MS are whole numbers" ;;
esac
bench_init
MAXCONN=10000

say "building fleet-sim"
${CC:-cc} -O2 -Wall -o "$BENCH_TMP/fleet-sim" "$BENCH_DIR/fleet-sim.c" "$BENCH_DIR/fleet-http.c" \
	"$BENCH_DIR/fleet-phases.c" $(pkg-config --cflags --libs libwebsockets jansson) ||
	die "cannot build fleet-sim.c: apt-get install libwebsockets-dev libjansson-dev"

# get KEY FILE: the value of a "key value" line of the simulator's output.
get() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }

# sim OUTFILE AGENTS [FLAG...]: the simulator against the running outpostd, bounded in time.
sim() {
	local out=$1 n=$2
	shift 2
	on_client_cpu timeout 900 "$BENCH_TMP/fleet-sim" --url "$OP_URL" --pid "$OP_PID" \
		--join-token-file "$BENCH_TMP/join.token" --admin-token-file "$OP_STATE/admin.token" \
		--agents "$n" --heartbeat-ms $((HEARTBEAT * 1000)) --idle-ms $((IDLE * 1000)) "$@" \
		>"$out" 2>"$out.err" || { cat "$out.err" >&2; die "fleet-sim failed ($n agents)"; }
}

ROWS=""
for n in $FLEET; do
	start_outpostd "fleet$n"
	# Every simulated agent comes from 127.0.0.1 and holds two connections (its
	# calls, its stream): the caps are raised for that, and said in the summary.
	printf 'scheduler_policy = spread\nmax_connections = %d\nmax_connections_per_address = %d\n' \
		"$MAXCONN" "$MAXCONN" >"$BENCH_TMP/empty.conf"
	kill -HUP "$OP_PID"
	for _ in $(seq 1 50); do
		grep -q '"config.reloaded"' "$OP_STATE/outpostd.log" && break
		sleep 0.1
	done
	grep -q '"config.reloaded"' "$OP_STATE/outpostd.log" || die "outpostd did not reload its config"
	api POST /api/v1/tokens "{\"name\":\"fleet-join\",\"role\":\"agent\",\"uses\":$n}" |
		jq -r .token >"$BENCH_TMP/join.token"
	api POST /api/v1/definitions '{"name":"fleet","resources":{"cpu":1,"memory_mb":64},
		"hooks":{"run":["sleep","3600"]}}' >/dev/null
	batch=$((n < 1000 ? n : 1000))
	say "$n agents: the reference (no agent, ${IDLE}s)"
	sim "$BENCH_TMP/sim.ref$n" 0 --settle-ms 2000 --singles 0
	say "$n agents: joining, ${IDLE}s idle, $SINGLES single placements, a batch of $batch"
	sim "$BENCH_TMP/sim.fleet$n" "$n" --settle-ms $((HEARTBEAT * 1000)) --singles "$SINGLES" \
		--gap-ms "$GAP_MS" --batch "$batch" --rtts 0
	[ "$(get http_errors "$BENCH_TMP/sim.fleet$n")" = 0 ] ||
		die "$n agents: $(get http_errors "$BENCH_TMP/sim.fleet$n") calls failed"
	[ "$(get heartbeat_errors "$BENCH_TMP/sim.fleet$n")" = 0 ] ||
		die "$n agents: $(get heartbeat_errors "$BENCH_TMP/sim.fleet$n") heartbeats refused"
	# Every worker online and every instance stopped, as the server sees them.
	online=$(curl -s "$OP_URL/metrics" | sed -n 's/^outpost_workers_health{health="online"} //p')
	stopped=$(curl -s "$OP_URL/metrics" | sed -n 's/^outpost_instances{state="stopped"} //p')
	[ "${online:-0}" = "$n" ] || die "$n agents: ${online:-0} workers online"
	[ "${stopped:-0}" = "$(get stopped "$BENCH_TMP/sim.fleet$n")" ] ||
		die "$n agents: ${stopped:-0} instances stopped, not $(get stopped "$BENCH_TMP/sim.fleet$n")"
	stop_outpostd
	ROWS="$ROWS $n"
done

f() { get "$1" "$BENCH_TMP/sim.fleet$2"; }
r() { get "$1" "$BENCH_TMP/sim.ref$2"; }
last=${FLEET##* }
{
	echo "## A fleet of simulated agents"
	echo
	machine_info | grep -v '^- wrk:\|^- rounds:'
	echo "- fleet: fleet-sim, one process, one libwebsockets loop; heartbeat ${HEARTBEAT}s" \
		"(the agent's default), lease lost_after_ms $(f lost_after_ms "$last") as outpostd" \
		"says; idle window ${IDLE}s; max_connections and max_connections_per_address" \
		"$MAXCONN (the fleet is one address); $SINGLES single creates ${GAP_MS} ms apart," \
		"then a batch of one instance per agent; spread placement"
	echo
	echo "| agents | outpostd idle, % of a core | no agent (same server) | fleet-sim idle, % |" \
		"heartbeats in window | outpostd's syncs a second (commits) | its loop waiting in them, % |"
	echo "|---|---|---|---|---|---|---|"
	for n in $ROWS; do
		echo "| $n | $(f idle_server_cpu_pct "$n") | $(r idle_server_cpu_pct "$n") |" \
			"$(f idle_sim_cpu_pct "$n") | $(f idle_heartbeats "$n") |" \
			"$(f idle_syncs_per_s "$n") ($(f idle_commits_per_s "$n")) | $(f idle_sync_wait_pct "$n") |"
	done
	echo
	echo "| agents | load | placement → agent knows, p50 / p99 / max ms | create's answer → agent knows, p50 / p99 ms | known → running committed, p50 / p99 ms | n |"
	echo "|---|---|---|---|---|---|"
	for n in $ROWS; do
		for k in single batch; do
			echo "| $n | $([ $k = single ] && echo "one at a time" || echo "one each, at once") |" \
				"$(f ${k}_placed_known_p50 "$n") / $(f ${k}_placed_known_p99 "$n") /" \
				"$(f ${k}_placed_known_max "$n") |" \
				"$(f ${k}_answered_known_p50 "$n") / $(f ${k}_answered_known_p99 "$n") |" \
				"$(f ${k}_known_running_p50 "$n") / $(f ${k}_known_running_p99 "$n") |" \
				"$(f ${k}_placed_known_n "$n") |"
		done
	done
	echo
	echo "| agents | reference: GET /healthz round trip, p50 / p99 ms | outpostd CPU while assigning, % | fleet-sim, % | reports (conflicts) | events (echoes) | reconnects: http / ws |"
	echo "|---|---|---|---|---|---|---|"
	for n in $ROWS; do
		echo "| $n | $(r rtt_p50 "$n") / $(r rtt_p99 "$n") | $(f assign_server_cpu_pct "$n") |" \
			"$(f assign_sim_cpu_pct "$n") | $(f reports "$n") ($(f report_conflicts "$n")) |" \
			"$(f events "$n") ($(f echoes "$n")) | $(f http_reconnects "$n") / $(f ws_reconnects "$n") |"
	done
	echo
	cpu=$(f idle_server_cpu_pct "$last")
	cref=$(r idle_server_cpu_pct "$last")
	p99=$(f single_placed_known_p99 "$last")
	rtt=$(r rtt_p99 "$last")
	met() { awk -v a="$1" -v b="$2" 'BEGIN { print (a + 0 < b + 0) ? "yes" : "no" }'; }
	echo "SCORE|fleet idle CPU, $last agents|$cpu% of a core|$cref% (no agent)|$(div "$cpu" "$cref" %.1f)|< 5%|$(met "$cpu" 5)"
	echo "SCORE|assignment p99, $last agents|$p99 ms|$rtt ms (HTTP round trip p99)|$(div "$p99" "$rtt" %.1f)|< 100 ms|$(met "$p99" 100)"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
