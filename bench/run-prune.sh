#!/bin/bash
# The loop while the prune-history runbook runs over EVENTS (100000) events:
# the run's start (its answer, 202), and how late the server's 50 ms timer
# fires while a dry run counts, a real one finds nothing to delete and another
# deletes (outpost_loop_lag_seconds, read from /metrics before and after each
# run), with the commits that took over 5 ms (outpost_db_commit_duration_seconds)
# and the checkpoints the server's thread ran (outpost_db_checkpoints_total).
#
# The events are those of EVENTS instances made 1,000 a request; the run is
# asked to delete the events older than 1 s (all but the newest 1,000), and
# the terminated instances older than 5 min (none).
# Reference, in the same go and on the same server: its lag at rest for 2 s
# before the runs, and one HTTP round trip (GET /healthz, 100 one at a time).
# Targets: the start's answer under 50 ms (the soak's bound for every route);
# no lag above 25 ms while the runs go on.
#
# Usage: bench/run-prune.sh [--out FILE]
# Environment: EVENTS (100000), OUTPOSTD, BENCH_PIN (0).
set -u
. "$(dirname "$0")/lib.sh"

EVENTS=${EVENTS:-100000}
OUT=$(out_arg "$@")
case $EVENTS in '' | *[!0-9]*) die "EVENTS: a whole number" ;; esac
[ "$EVENTS" -ge 10000 ] && [ "$EVENTS" -le 1000000 ] || die "EVENTS: 10000 to 1000000"

need curl curl
need jq jq
need_outpostd
bench_init

# commits_over5 / ckpts: from /metrics, now.
commits_over5() {
	curl -s "$OP_URL/metrics" | awk '
		/^outpost_db_commit_duration_seconds_bucket\{le="0.005"\}/ { le = $2 }
		/^outpost_db_commit_duration_seconds_count/ { n = $2 }
		END { print n - le }'
}
ckpts() {
	curl -s "$OP_URL/metrics" | sed -n 's/^outpost_db_checkpoints_total{by="thread",outcome="done"} //p' |
		grep . || echo "-"
}

# run BODY: one prune-history run; prints "START_MS OBS OVER10 MAXLE COMMITS_OVER5 CKPTS".
run() {
	local before after start id st c0 k0
	before=$(lag_buckets)
	c0=$(commits_over5) k0=$(ckpts)
	start=$(curl -s -o "$BENCH_TMP/run" -w '%{time_total}' -X POST \
		-H "Authorization: Bearer $OP_TOKEN" -H 'Content-Type: application/json' \
		--data-binary "$1" "$OP_URL/api/v1/runbooks/prune-history/runs")
	id=$(jq -er .id "$BENCH_TMP/run") || die "the run did not start: $(head -c 300 "$BENCH_TMP/run")"
	for _ in $(seq 1 600); do
		st=$(api GET "/api/v1/runs/$id" | jq -r .status)
		[ "$st" != running ] && break
		sleep 0.1
	done
	[ "$st" = succeeded ] || die "run $id: $st"
	sleep 0.2	# the timer fires after the last slice
	after=$(lag_buckets)
	echo "$(div "$start" 0.001 %.1f) $(lag_delta "$before" "$after") $(($(commits_over5) - c0))" \
		"$([ "$k0" = - ] && echo - || echo $(($(ckpts) - k0)))"
}

start_outpostd prune "" --runbook-dir "$TOP_DIR/runbooks"
say "storing $EVENTS instances (and their events)"
store_instances "$EVENTS"
for _ in $(seq 1 100); do
	curl -s -o /dev/null -w '%{time_total}\n' "$OP_URL/healthz"
done | awk '{ printf "%.3f\n", $1 * 1000 }' | sort -n >"$BENCH_TMP/rtt"
RTT=$(awk '{ v[NR] = $1 } END { print v[int(NR / 2) + 1] }' "$BENCH_TMP/rtt")
sleep 1	# every event older than the run's 1 s
r0=$(lag_buckets)
sleep 2
read -r REST_OBS REST_OVER REST_MAX <<<"$(lag_delta "$r0" "$(lag_buckets)")"
P='"params":{"events_older_than":"1s","instances_older_than":"5m"},"confirm":true'
say "a dry run"
read -r DS DO DV DM DC DK <<<"$(run "{$P,\"dry_run\":true}")"
say "a real run with nothing to delete (events_older_than 1h)"
read -r NS NO NV NM NC NK <<<"$(run '{"params":{"events_older_than":"1h","instances_older_than":"5m"},"confirm":true}')"
say "a real run"
read -r RS RO RV RM RC RK <<<"$(run "{$P}")"
left=$(api GET "/api/v1/events?since=0&limit=1" | jq -r '.items[0].seq')
stop_outpostd

worst=$(printf '%s\n%s\n%s\n' "$DM" "$NM" "$RM" | sed 's/+Inf/inf/' | sort -g | tail -n 1 | sed 's/inf/+Inf/')
slowest=$(printf '%s\n%s\n%s\n' "$DS" "$NS" "$RS" | sort -g | tail -n 1)
{
	echo "### prune-history over $EVENTS events: the loop"
	echo
	machine_info | grep -v '^- wrk\|^- rounds'
	echo "- one HTTP round trip (GET /healthz, median of 100): $RTT ms"
	echo "- the oldest event left after the real run: seq $left"
	echo
	echo "| while | the start's answer (ms) | lag observations | above 10 ms |" \
		"the largest, at most (s) | commits over 5 ms | checkpoints by the thread |"
	echo "|---|---|---|---|---|---|---|"
	echo "| at rest, 2 s | - | $REST_OBS | $REST_OVER | $REST_MAX | - | - |"
	echo "| a dry run (counts) | $DS | $DO | $DV | $DM | $DC | $DK |"
	echo "| a real run, nothing to delete | $NS | $NO | $NV | $NM | $NC | $NK |"
	echo "| a real run (deletes) | $RS | $RO | $RV | $RM | $RC | $RK |"
	echo
	score "prune-history start, $EVENTS events" "$slowest ms" "one round trip: $RTT ms" \
		"$(div "$slowest" "$RTT" %.1f)" "< 50 ms" "$(is_lt "$slowest" 50)"
	score "prune-history over $EVENTS events: the loop's largest lag" "<= $worst s" \
		"at rest: <= $REST_MAX s" "-" "<= 0.025 s" "$(is_le "$worst" 0.025)"
} | tee ${OUT:+"$OUT"}
