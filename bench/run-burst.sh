#!/bin/bash
# The loop's lag while the scaler makes a burst of BURST (32) workers of a
# local template: outpost_loop_lag_seconds, how late the server's 50 ms timer
# fires, read from /metrics before and after each burst. A burst is one
# tick's decision; each provision (the worker's row and event, its join
# token, its token file, the agent's fork and exec, its pid recorded) is made
# in a loop turn of its own, so the lag is one provision's time, not 32.
#
# Two places for the state directory, in interleaved rounds:
#   - disk:   the temp dir (a commit is an fdatasync there);
#   - memory: /dev/shm (the loop's own work alone).
# Reference, in the same run: one 4 KiB write with O_DSYNC on the same disk
# (dd oflag=dsync), the floor of any commit, a request's as much as a
# provision's (a provision makes three commits and one synced file).
# Target: no observation above 10 ms in memory.
#
# The agents are a stub (the server's agent_program): a small static
# program that waits to be stopped, so that what is measured is the server, not
# BURST real agents (or shells) starting on the same cores.
#
# Usage: bench/run-burst.sh [--out FILE]
# Environment: ROUNDS (5), BURST (32), OUTPOSTD, CC (for the stub), BENCH_PIN (0).
set -u
. "$(dirname "$0")/lib.sh"

BURST=${BURST:-32}
OUT=$(out_arg "$@")

need curl curl
need jq jq
need dd coreutils
need "${CC:-cc}" gcc
need_outpostd
[ -d /dev/shm ] && [ -w /dev/shm ] || die "no writable /dev/shm for the in-memory runs"
bench_init
SHM=$(mktemp -d /dev/shm/outpost-bench.XXXXXX) || die "mktemp in /dev/shm failed"
# The stubs wait in the temp dir: whatever is left there is killed before it goes.
trap 'kill_under_tmp; rm -rf "$SHM"; bench_cleanup' EXIT

# The stub: a program that waits in the temp dir for its SIGTERM, made here so that it
# starts in a fraction of a millisecond (a shell would take a core's time from the server).
mkdir -p "$BENCH_TMP/bin" "$BENCH_TMP/wait"
printf '#include <unistd.h>\nint main(void) { if (chdir(WAIT_DIR) != 0) return 1; pause(); }\n' \
	>"$BENCH_TMP/stub-agent.c"
${CC:-cc} -O2 -static -DWAIT_DIR="\"$BENCH_TMP/wait\"" -o "$BENCH_TMP/bin/stub-agent" \
	"$BENCH_TMP/stub-agent.c" 2>/dev/null ||
	${CC:-cc} -O2 -DWAIT_DIR="\"$BENCH_TMP/wait\"" -o "$BENCH_TMP/bin/stub-agent" \
	"$BENCH_TMP/stub-agent.c" || die "cannot build the stub agent with ${CC:-cc}"

# burst PLACE: one server with its state there; a second at rest, then one burst.
# Prints "REST_OBS REST_OVER10 REST_MAXLE BURST_OBS BURST_OVER10 BURST_MAXLE CPU_MS", the
# last the server's CPU time during the burst (/proc/PID/schedstat) per provision.
burst() {
	local base=$1 t0 before after n cpu0 cpu1
	# The stub is the server's agent_program: the API names no program.
	OUTPOST_AGENT_PROGRAM=$BENCH_TMP/bin/stub-agent start_outpostd "burst-$RANDOM" "$base"
	api PUT /api/v1/templates/burst "$(jq -cn \
		--argjson n "$BURST" '{capacity: {cpu: 1, memory_mb: 64, slots: 1}, min: 0,
		max: $n, autoscale: false, provision_timeout: "10m",
		provisioner: {type: "local"}}')" >/dev/null
	sleep 0.2
	t0=$(lag_buckets)
	sleep 1	# the reference: the same server at rest, on the same host, just before
	before=$(lag_buckets)
	cpu0=$(cut -d' ' -f1 "/proc/$OP_PID/schedstat")
	api POST /api/v1/templates/burst/scale "{\"count\":$BURST}" >/dev/null
	for _ in $(seq 1 300); do
		n=$(grep -c '"msg":"scaler.agent"' "$OP_STATE/outpostd.log")
		[ "$n" -ge "$BURST" ] && break
		sleep 0.1
	done
	[ "$n" -ge "$BURST" ] || die "only $n of $BURST agents started"
	sleep 0.5	# the timer fires after the last one
	after=$(lag_buckets)
	cpu1=$(cut -d' ' -f1 "/proc/$OP_PID/schedstat")
	stop_outpostd
	rm -rf "$OP_STATE"
	echo "$(lag_delta "$t0" "$before") $(lag_delta "$before" "$after")" \
		"$(div $((cpu1 - cpu0)) $((BURST * 1000000)) %.2f)"
}

say "the fsync floor: 200 writes of 4 KiB with O_DSYNC in $BENCH_TMP"
fs=$( { LC_ALL=C dd if=/dev/zero of="$BENCH_TMP/dsync" bs=4k count=200 oflag=dsync; } 2>&1 |
	awk '/copied/ { for (i = 1; i <= NF; i++) if ($i ~ /^s,?$/) t = $(i - 1); print t }')
SYNC_MS=$(div "$fs" 0.2 %.2f)
rm -f "$BENCH_TMP/dsync"

declare -a D_OBS D_OVER D_MAX M_OBS M_OVER M_MAX DR_OBS DR_OVER DR_MAX MR_OBS MR_OVER MR_MAX
declare -a D_CPU M_CPU
for r in $(seq 1 "$ROUNDS"); do
	say "round $r: disk"
	read -r ro rv rm o v m c <<<"$(burst "$BENCH_TMP")"
	DR_OBS+=("$ro") DR_OVER+=("$rv") DR_MAX+=("$rm") D_OBS+=("$o") D_OVER+=("$v") D_MAX+=("$m")
	D_CPU+=("$c")
	say "round $r: memory"
	read -r ro rv rm o v m c <<<"$(burst "$SHM")"
	MR_OBS+=("$ro") MR_OVER+=("$rv") MR_MAX+=("$rm") M_OBS+=("$o") M_OVER+=("$v") M_MAX+=("$m")
	M_CPU+=("$c")
done

maxle() { printf '%s\n' "$@" | sed 's/+Inf/inf/' | sort -g | tail -n 1 | sed 's/inf/+Inf/'; }
sum() { local s=0 x; for x in "$@"; do s=$((s + x)); done; echo "$s"; }
{
	echo "### A burst of $BURST local provisions: the loop's lag"
	echo
	machine_info | grep -v '^- wrk\|^- rounds'
	echo "- rounds: $ROUNDS, each place in turn; pinned: $BENCH_PIN"
	echo "- a 4 KiB write with O_DSYNC in the temp dir (the floor of a commit): $SYNC_MS ms"
	echo "- the server's CPU time a provision (median of the rounds): memory" \
		"$(median "${M_CPU[@]}") ms, disk $(median "${D_CPU[@]}") ms"
	echo
	echo "| state directory | while | lag observations | above 10 ms |" \
		"the largest, at most (s) | per round |"
	echo "|---|---|---|---|---|---|"
	echo "| memory (/dev/shm) | a burst | $(sum "${M_OBS[@]}") | $(sum "${M_OVER[@]}") |" \
		"$(maxle "${M_MAX[@]}") | ${M_MAX[*]} |"
	echo "| memory (/dev/shm) | 1 s at rest before it | $(sum "${MR_OBS[@]}") |" \
		"$(sum "${MR_OVER[@]}") | $(maxle "${MR_MAX[@]}") | ${MR_MAX[*]} |"
	echo "| disk (temp dir) | a burst | $(sum "${D_OBS[@]}") | $(sum "${D_OVER[@]}") |" \
		"$(maxle "${D_MAX[@]}") | ${D_MAX[*]} |"
	echo "| disk (temp dir) | 1 s at rest before it | $(sum "${DR_OBS[@]}") |" \
		"$(sum "${DR_OVER[@]}") | $(maxle "${DR_MAX[@]}") | ${DR_MAX[*]} |"
	echo
	echo "\"at most\" is the upper bound of the histogram's highest bucket that got an" \
		"observation (buckets: $LE s)."
	echo
	score "a burst of $BURST local provisions: the loop held > 10 ms (memory)" \
		"$(sum "${M_OVER[@]}") of $(sum "${M_OBS[@]}") observations" \
		"at rest: $(sum "${MR_OVER[@]}") of $(sum "${MR_OBS[@]}")" "-" "0" \
		"$( [ "$(sum "${M_OVER[@]}")" -eq 0 ] && echo yes || echo no)"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
