#!/bin/sh
# A burst of 32 local provisions does not hold the loop: outpost_loop_lag_seconds
# (how late the loop's 50 ms timer fires) sees no observation above 250 ms while
# the scaler makes 32 workers of a local template from one tick's decision. Each
# provision is a few commits and a fork; made all in one callback (or, before,
# waiting up to 50 ms for each agent's exec) they held the loop for all of them:
# a second and more on a loaded machine. Made one a loop turn, a turn costs one
# provision.
#
# The bound is generous on purpose: the lag is wall-clock time, and a shared
# 2-core machine running other tests can leave the server without a CPU for tens
# of milliseconds. bench/run-burst.sh measures the figure itself (under 10 ms a
# turn), on the disk and in memory, beside the fsync floor. The state directory
# is in memory here when /dev/shm is there, so that a slow disk's fsync (which
# every commit pays, a request's as much as a provision's) is not what is tested.
#
# The agents are a stub (the server's agent_program): a shell that
# records its --name and sleeps, so that what is measured is the server, not
# 32 real agents starting on two cores.
. "$(dirname "$0")/lib.sh"

N=32
BOUND=0.25	# a bucket of the histogram: 250 ms

mkdir -p "$WORK/templates" "$WORK/bin" "$WORK/started"
cat >"$WORK/bin/stub-agent" <<EOF
#!/bin/sh
# Records its worker's name, then waits to be stopped (in the test's directory,
# so that the cleanup finds it).
while [ \$# -gt 0 ]; do
	[ "\$1" = --name ] && : >"$WORK/started/\$2"
	shift
done
cd "$WORK" && exec sleep 300
EOF
chmod +x "$WORK/bin/stub-agent"
# The state directory in memory when there is some: a commit's fsync is the disk's time,
# not the loop's work (bench/run-burst.sh measures both).
STATE=$WORK/state
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
	STATE=$(mktemp -d /dev/shm/outpost-burst.XXXXXX) ||
		fail "cannot make a directory in /dev/shm"
	_rm_state() { rm -rf "$STATE"; }
	CLEANUP_HOOKS+=(_rm_state)
fi
start_server --state-dir "$STATE" --agent-program "$WORK/bin/stub-agent"

# The lag histogram's observations above BOUND, and all of them: "OVER COUNT".
lag_over() {
	TOKEN= api_ok 200 GET /metrics
	printf '%s\n' "$BODY" | awk -v le="$BOUND" '
		$1 == "outpost_loop_lag_seconds_bucket{le=\"" le "\"}" { under = $2 }
		$1 == "outpost_loop_lag_seconds_count" { n = $2 }
		END { if (n == "" || under == "") exit 1; print n - under, n }'
}

_started() {	# N: that many stub agents started
	[ "$(find "$WORK/started" -type f | wc -l)" -ge "$1" ]
}

_lag_seen_after() {	# COUNT: the lag timer fired 10 more times (half a second of loop)
	local over n
	read -r over n <<EOF2
$(lag_over)
EOF2
	[ "$n" -ge $(($1 + 10)) ]
}

TOKEN= api_ok 200 GET /metrics
printf '%s\n' "$BODY" | grep -qx '# TYPE outpost_loop_lag_seconds histogram' ||
	fail "/metrics lacks '# TYPE outpost_loop_lag_seconds histogram'"
wait_for 5 "the lag timer's first observations" _lag_seen_after 0

TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/burst "$(jq -cn \
	--argjson n "$N" '{capacity: {cpu: 1, memory_mb: 64, slots: 1}, min: 0, max: $n,
	autoscale: false, provision_timeout: "10m", provisioner: {type: "local"}}')"
assert_status 201 "PUT /api/v1/templates/burst"

read -r over_before n_before <<EOF
$(lag_over)
EOF
TOKEN=$SERVER_TOKEN api_ok 200 POST /api/v1/templates/burst/scale "{\"count\":$N}"
wait_for 30 "$N stub agents started" _started "$N"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=scaling.action&limit=1000"
assert_eq "$N" "$(jbody '[.items[] | select(.data.action == "provision")] | length')" \
	"provision events of the burst"
read -r over n <<EOF
$(lag_over)
EOF
wait_for 5 "the lag timer to fire after the burst" _lag_seen_after "$n"
read -r over_after n_after <<EOF
$(lag_over)
EOF

note "$((n_after - n_before)) lag observations over the burst," \
	"$((over_after - over_before)) above ${BOUND}s"
assert_eq 0 "$((over_after - over_before))" \
	"observations of outpost_loop_lag_seconds above ${BOUND}s in a burst of $N provisions"
