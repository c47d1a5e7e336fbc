#!/usr/bin/env bash
# The soak: SOAK_MINUTES (30) of a mixed workload on loopback, and whether
# anything grows without bound or slows down.
#
# outpostd runs with a `local` template of 4 to 10 agents (5 slots each, at nice
# SOAK_AGENT_NICE) and two definitions whose slots last 10 to 30 s. Against it,
# locust (soak.py) runs
# operators reading and writing through the API (pagination included), a
# burst of 100 concurrent creates every 5 minutes (sent and timed by curl's
# parallel mode: see soak.py), websocket clients that
# subscribe, follow and leave, and a runbook a minute (prune-history,
# recover-stuck-instances as a dry run, check-database, backup-database).
# Beside it, every CHURN seconds (45) the workers churn, in turn: an agent
# killed with SIGKILL (the provisioner starts it again), the template scaled
# to a random count from 4 to 10 (agents started and stopped), a worker
# cordoned, and uncordoned.
#
# Every SAMPLE seconds (60): outpostd's RSS and open fds, the event ring
# (events, bytes), the database and WAL sizes, instances by state, workers
# online, websocket clients. Per minute and route: p50, p95 and p99 (soak.py).
# The summary (stdout, and --out FILE) gives the per-route figures for the
# whole run, the samples, two plots (gnuplot's text terminal) and the verdicts:
# p95 of every API route under 50 ms, and no growth of RSS, fds or the ring
# over the second half of the run beyond 10%.
#
#   SOAK_MINUTES=30 SAMPLE=60 CHURN=45 bench/run-soak.sh --out soak.md
#   SOAK_KEEP=DIR   also keep the raw CSVs, locust's and outpostd's logs in DIR
#   SOAK_AGENT_NICE=N  the agents' nice, and so their hooks' (10: they share
#                   this host with outpostd as a site's local workers would, at
#                   the nice docs/configuration.md advises for them; 0 to
#                   compare). Soaks before this setting had them at the soak's.
#   SOAK_NICE=N     run the soak (outpostd, locust, and the agents where
#                   SOAK_AGENT_NICE is not above N) at nice N: on a
#                   machine shared with other work, a negative N (as root) keeps
#                   the others' builds from being measured as the server's latency
set -u
. "$(dirname "$0")/lib.sh"

OUT=$(out_arg "$@")
SOAK_MINUTES=${SOAK_MINUTES:-30}
SAMPLE=${SAMPLE:-60}
CHURN=${CHURN:-45}
AGENT=${AGENT:-$(cd "$(dirname "$OUTPOSTD")/../agent" 2>/dev/null && pwd)/outpost-agent}
export SOAK_API_USERS=${SOAK_API_USERS:-20} SOAK_BURST=${SOAK_BURST:-100}
export SOAK_BURST_EVERY=${SOAK_BURST_EVERY:-300} SOAK_WS_USERS=${SOAK_WS_USERS:-10}
SOAK_AGENT_NICE=${SOAK_AGENT_NICE:-10}

need curl curl
need jq jq
need locust python3-locust
need gnuplot gnuplot-nox
/usr/bin/python3 -c 'import websocket' 2>/dev/null ||
	die "python3's websocket module is missing: apt-get install python3-websocket"
need_outpostd
[ -x "$AGENT" ] || die "no outpost-agent at $AGENT: build it or set AGENT"
bench_init
if [ -n "${SOAK_NICE:-}" ]; then
	renice -n "$SOAK_NICE" -p $$ >/dev/null || die "cannot renice to $SOAK_NICE"
fi

kill_agents() {
	local d
	kill_under_tmp
	for d in /proc/[0-9]*; do
		case $(cat "$d/comm" 2>/dev/null) in
		outpost-agent | outpost-shim)
			tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$BENCH_TMP/" &&
				kill -KILL "${d#/proc/}" 2>/dev/null ;;
		esac
	done
}
trap 'kill_agents; bench_cleanup' EXIT

api() {
	local m=$1 p=$2
	shift 2
	curl -s -X "$m" -H "Authorization: Bearer $OP_TOKEN" "$OP_URL$p" ${1:+-d "$1"}
}

# The server, with the template and the definitions.
mkdir -p "$BENCH_TMP/templates"
cat >"$BENCH_TMP/templates/soak.json" <<JSON
{
  "description": "the soak's agents, on this host",
  "capacity": { "cpu": 8, "memory_mb": 8192, "slots": 5 },
  "min": 4, "max": 10, "cooldown": "20s", "idle_timeout": "2m",
  "provisioner": { "type": "local", "agent": "$AGENT", "heartbeat": "5s", "nice": $SOAK_AGENT_NICE }
}
JSON
# At debug, outpostd logs every request with its time and the X-Request-Id
# soak.py sent: the summary's "where the time goes" joins the two.
start_outpostd soak "" --template-dir "$BENCH_TMP/templates" --runbook-dir "$TOP_DIR/runbooks" \
	--log-level debug
for _ in $(seq 1 100); do
	curl -fs "$OP_URL/readyz" >/dev/null 2>&1 && break
	sleep 0.1
done
for d in soak:reschedule soak-exam:fail; do
	api POST /api/v1/definitions "{\"name\":\"${d%%:*}\",\"resources\":{\"cpu\":1,\"memory_mb\":64},
\"hooks\":{\"instantiate\":[\"sh\",\"-c\",\"echo ready > status\"],
\"run\":[\"sh\",\"-c\",\"while :; do sleep 5; done\"],
\"collect\":[\"sh\",\"-c\",\"date > done.txt\"],
\"grade\":[\"sh\",\"-c\",\"echo '{\\\"score\\\": 1}'\"],
\"stop\":[\"sh\",\"-c\",\"rm -f status\"]},
\"max_duration\":\"1h\",\"on_worker_loss\":\"${d#*:}\"}" | jq -e .name >/dev/null ||
		die "could not make the definition ${d%%:*}"
done
for _ in $(seq 1 300); do
	n=$(api GET "/api/v1/workers?health=online&limit=100" | jq '.items | length')
	[ "${n:-0}" -ge 4 ] && break
	sleep 0.2
done
[ "${n:-0}" -ge 4 ] || die "only ${n:-0} of 4 agents came online"

metric() { awk -v m="$1" '$1 == m { print $2; exit }' "$BENCH_TMP/metrics"; }
sample() {
	local t=$1 rss fds db wal
	curl -s "$OP_URL/metrics" >"$BENCH_TMP/metrics"
	rss=$(awk '/^VmRSS:/ { print $2 }' "/proc/$OP_PID/status" 2>/dev/null)
	fds=$(ls "/proc/$OP_PID/fd" 2>/dev/null | wc -l)
	db=$(stat -c %s "$OP_STATE/outpost.db" 2>/dev/null || echo 0)
	wal=$(stat -c %s "$OP_STATE/outpost.db-wal" 2>/dev/null || echo 0)
	printf '%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s\n' "$t" "$rss" "$fds" \
		"$(metric outpost_event_ring_events)" "$(metric outpost_event_ring_bytes)" "$db" "$wal" \
		"$(metric 'outpost_instances{state="pending"}')" \
		"$(metric 'outpost_instances{state="running"}')" \
		"$(awk '/^outpost_instances\{/ { n += $2 } END { print n + 0 }' "$BENCH_TMP/metrics")" \
		"$(metric 'outpost_workers_health{health="online"}')" "$(metric outpost_ws_clients)" \
		"$(metric outpost_events_total)" "$(cut -d' ' -f1 /proc/loadavg)" >>"$BENCH_TMP/samples.csv"
}

churn() {
	local turn=0 ids pid cordoned=""
	while :; do
		sleep "$CHURN"
		case $((turn % 4)) in
		0)
			pid=$(for d in /proc/[0-9]*; do
				[ "$(cat "$d/comm" 2>/dev/null)" = outpost-agent ] &&
					tr '\0' ' ' <"$d/cmdline" 2>/dev/null | grep -qF -- "$OP_STATE/" &&
					echo "${d#/proc/}"
			done | shuf -n 1)
			[ -n "$pid" ] && kill -KILL "$pid" && echo "$(date +%s) kill -9 agent $pid" ;;
		1)
			n=$(shuf -i 4-10 -n 1)
			api POST /api/v1/templates/soak/scale "{\"count\":$n}" >/dev/null &&
				echo "$(date +%s) scale to $n" ;;
		2)
			cordoned=$(api GET "/api/v1/workers?state=ready&limit=100" | jq -r '.items[].id' | shuf -n 1)
			[ -n "$cordoned" ] && api POST "/api/v1/workers/$cordoned/cordon" >/dev/null &&
				echo "$(date +%s) cordon $cordoned" ;;
		3)
			[ -n "$cordoned" ] && api POST "/api/v1/workers/$cordoned/uncordon" >/dev/null &&
				echo "$(date +%s) uncordon $cordoned" ;;
		esac
		turn=$((turn + 1))
	done
}

echo "t,rss_kb,fds,ring_events,ring_bytes,db_bytes,wal_bytes,pending,running,instances,workers_online,ws_clients,events_total,load1" \
	>"$BENCH_TMP/samples.csv"
# How much of the run some task of the machine's waited for a CPU (the
# kernel's pressure stall figure): how crowded the two cores were, this
# run's noise beside another's.
cpu_wait_us() { sed -n 's/^some .*total=\([0-9]*\).*/\1/p' /proc/pressure/cpu 2>/dev/null; }
wait0=$(cpu_wait_us)
t0=$(date +%s)
sample 0
churn >"$BENCH_TMP/churn.log" 2>&1 &
CHURN_PID=$!
BENCH_PIDS="$BENCH_PIDS $CHURN_PID"
users=$((SOAK_API_USERS + 1 + SOAK_WS_USERS + 1))
say "soak: $SOAK_MINUTES minutes, $users locust users, outpostd $OP_URL (pid $OP_PID)"
# Two locust processes: the API users, the burst and the runbooks in one; the
# websocket users, who read every event, in the other. With all in one, the
# API users' requests of a burst's first second waited up to 0.34 s at the
# client, answered by outpostd in 13 ms: the process was busy reading the
# burst's events in Python, or forking itself to start curl (now posix_spawn,
# in soak.py).
(cd "$BENCH_TMP" && OUTPOST_TOKEN=$OP_TOKEN SOAK_LATENCY=$BENCH_TMP/latency.csv \
	exec locust -f "$BENCH_DIR/soak.py" --headless --only-summary --loglevel ERROR \
	-u "$((users - SOAK_WS_USERS))" -r 50 -t "${SOAK_MINUTES}m" --stop-timeout 10 \
	--host "$OP_URL" ApiUser BurstUser OpsUser >"$BENCH_TMP/locust.log" 2>&1) &
LOCUST_PID=$!
(cd "$BENCH_TMP" && OUTPOST_TOKEN=$OP_TOKEN SOAK_LATENCY=$BENCH_TMP/latency-ws.csv \
	exec locust -f "$BENCH_DIR/soak.py" --headless --only-summary --loglevel ERROR \
	-u "$SOAK_WS_USERS" -r 50 -t "${SOAK_MINUTES}m" --stop-timeout 10 \
	--host "$OP_URL" WsUser >"$BENCH_TMP/locust-ws.log" 2>&1) &
LOCUST_WS_PID=$!
BENCH_PIDS="$BENCH_PIDS $LOCUST_PID $LOCUST_WS_PID"
# Around each burst: outpostd's loop, ran and waited for a CPU, and every
# process's CPU time (soak-cpu.py; the summary's per-burst table).
/usr/bin/python3 "$BENCH_DIR/soak-cpu.py" "$OP_PID" "$SOAK_BURST_EVERY" "$((SOAK_MINUTES * 60))" \
	"$BENCH_TMP/cpu.txt" &
BENCH_PIDS="$BENCH_PIDS $!"
# The probe: the list page from one curl on one kept connection, 10 a second
# for the whole run (it ends by itself a few seconds before locust does: a
# curl killed would lose the lines it has not written yet), each timed by curl:
# the same route as locust's busiest, from a client in C, to set beside it.
PROBES=$(((SOAK_MINUTES * 60 - 5) * 10))
for i in $(seq 1 "$PROBES"); do
	[ "$i" -gt 1 ] && echo next
	echo "url = \"$OP_URL/api/v1/instances?limit=50\""
	echo "header = \"Authorization: Bearer $OP_TOKEN\""
	echo "header = \"X-Request-Id: probe-$i\""
	echo 'output = "/dev/null"'
	echo 'write-out = "%{time_total} %{http_code} %header{x-request-id}\n"'
done >"$BENCH_TMP/probe.curl"
curl -s --rate 10/s --max-time 5 -K "$BENCH_TMP/probe.curl" >"$BENCH_TMP/probe.out" 2>/dev/null &
PROBE_PID=$!
BENCH_PIDS="$BENCH_PIDS $PROBE_PID"
next=$((t0 + SAMPLE))
while kill -0 "$LOCUST_PID" 2>/dev/null; do
	if [ "$(date +%s)" -ge "$next" ]; then
		sample $((next - t0))
		say "soak: $(((next - t0) / 60)) min, $(tail -n 1 "$BENCH_TMP/samples.csv")"
		next=$((next + SAMPLE))
	fi
	sleep 1
done
wait "$LOCUST_PID"
wait "$LOCUST_WS_PID"
# The websocket users' routes join the others' (each file less its header).
for f in "" .total .failures; do
	[ -s "$BENCH_TMP/latency-ws.csv$f" ] || continue
	if [ "$f" = .failures ]; then
		cat "$BENCH_TMP/latency-ws.csv$f" >>"$BENCH_TMP/latency.csv$f"
	else
		tail -n +2 "$BENCH_TMP/latency-ws.csv$f" >>"$BENCH_TMP/latency.csv$f"
	fi
done
wait "$PROBE_PID" 2>/dev/null
awk '$2 == 200 && NF == 3 { printf "%s,GET /api/v1/instances?limit=50 (curl probe),%.3f\n", $3, $1 * 1000 }' \
	"$BENCH_TMP/probe.out" >>"$BENCH_TMP/latency.csv.rids"
probe_ok=$(awk '$2 == 200 && NF == 3' "$BENCH_TMP/probe.out" | wc -l)
wait1=$(cpu_wait_us)
cpu_wait="not known (no /proc/pressure/cpu)"
[ -n "$wait0" ] && [ -n "$wait1" ] &&
	cpu_wait="$(((wait1 - wait0) / 10000 / ($(date +%s) - t0)))% of the run"
sample "$(($(date +%s) - t0))"
kill "$CHURN_PID" 2>/dev/null
kill -0 "$OP_PID" 2>/dev/null || die "outpostd died during the soak (see its log)"
curl -s "$OP_URL/metrics" >"$BENCH_TMP/metrics"
[ -s "$BENCH_TMP/latency.csv.total" ] || { cat "$BENCH_TMP/locust.log" >&2; die "locust wrote no figures"; }
if [ -n "${SOAK_KEEP:-}" ]; then
	mkdir -p "$SOAK_KEEP"
	cp "$BENCH_TMP"/samples.csv "$BENCH_TMP"/latency.csv "$BENCH_TMP"/latency.csv.total \
		"$BENCH_TMP"/latency.csv.failures "$BENCH_TMP"/churn.log "$BENCH_TMP"/metrics \
		"$BENCH_TMP"/locust.log "$BENCH_TMP"/locust-ws.log "$BENCH_TMP"/latency.csv.rids \
		"$BENCH_TMP"/latency.csv.burst \
		"$BENCH_TMP"/cpu.txt "$SOAK_KEEP"/
	cp "$OP_STATE/outpostd.log" "$SOAK_KEEP"/
fi

# The verdicts. Growth: the last sample against the one at the middle of the run.
S=$BENCH_TMP/samples.csv
growth() {
	awk -F, -v c="$1" 'NR > 1 { v[NR - 1] = $c } END { n = NR - 1; m = int((n + 1) / 2);
		if (v[m] > 0) printf "%.0f%%", (v[n] - v[m]) * 100 / v[m]; else print "n/a" }' "$S"
}
grown() {
	awk -F, -v c="$1" 'NR > 1 { v[NR - 1] = $c } END { n = NR - 1; m = int((n + 1) / 2);
		exit !(v[m] > 0 && v[n] > v[m] * 1.10) }' "$S"
}
slow=$(awk -F, 'NR > 1 && $1 !~ /^WS/ && $5 >= 50 { printf "%s%s (%s ms)", n++ ? ", " : "", $1, $5 }' \
	"$BENCH_TMP/latency.csv.total")
fails=$(awk -F, 'NR > 1 { n += $3 } END { print n + 0 }' "$BENCH_TMP/latency.csv.total")
reqs=$(awk -F, 'NR > 1 { n += $2 } END { print n + 0 }' "$BENCH_TMP/latency.csv.total")

export BENCH_TMP
# The plots: RSS and the ring over time; p95 per minute of the busiest routes.
awk -F, 'NR > 1 { printf "%.1f %.1f %.2f\n", $1 / 60, $2 / 1024, $5 / 1048576 }' "$S" >"$BENCH_TMP/mem.dat"
awk -F, 'NR > 1 && ($2 == "GET /api/v1/instances?limit=50" || $2 == "POST /api/v1/instances") {
	print $1 + 0.5, $6 > (ENVIRON["BENCH_TMP"] "/p95-" ($2 ~ /^GET/ ? "list" : "create") ".dat") }' \
	"$BENCH_TMP/latency.csv"
# hist_pct METRICS: per route (and the loop's lag), the upper bound of the
# bucket in which p50, p95 and p99 fall.
hist_pct() {
	awk '
	/^outpost_http_request_duration_seconds_bucket\{/ || /^outpost_loop_lag_seconds_bucket\{/ {
		r = "(the loop held)"
		if (match($1, /route="[^"]*"/)) r = substr($1, RSTART + 7, RLENGTH - 8)
		match($1, /le="[^"]*"/); le = substr($1, RSTART + 4, RLENGTH - 5)
		if (!(r in n)) order[++k] = r
		n[r]++; les[r, n[r]] = le; cum[r, n[r]] = $2
	}
	function at(r, p,   i, total) {
		total = cum[r, n[r]]
		for (i = 1; i <= n[r]; i++)
			if (cum[r, i] >= total * p) return les[r, i] == "+Inf" ? "∞" : les[r, i] * 1000
	}
	END {
		for (j = 1; j <= k; j++) {
			r = order[j]
			if (cum[r, n[r]] == 0) continue
			printf "| `%s` | %d | %s | %s | %s |\n", r, cum[r, n[r]], at(r, 0.5), at(r, 0.95), at(r, 0.99)
		}
	}' "$1"
}
plot() {
	gnuplot -e "set terminal dumb 78 20; set key top left; set xlabel 'minute';
		$1" 2>/dev/null | sed 's/[[:space:]]*$//'
}
{
	echo "### Soak: $SOAK_MINUTES minutes ($(date -u +%Y-%m-%d), $(nproc) cores)"
	echo
	echo "$reqs requests, $fails failed; $(grep -c . "$BENCH_TMP/churn.log") churn actions" \
		"($(grep -c 'kill -9' "$BENCH_TMP/churn.log") agents killed);" \
		"$(awk -F, 'END { print $13 }' "$S") events written. Some task of the machine's" \
		"waited for a CPU $cpu_wait."
	echo
	echo "| route | requests | failed | p50 ms | p95 ms | p99 ms | max ms |"
	echo "|---|---|---|---|---|---|---|"
	awk -F, 'NR > 1 { printf "| `%s` | %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6, $7 }' \
		"$BENCH_TMP/latency.csv.total"
	echo
	echo "Inside outpostd, from its own histograms at the end (the bucket each percentile falls"
	echo "in: the time from a request's parse to its answer, and how long the loop was held):"
	echo
	echo "| route | requests | p50 ≤ ms | p95 ≤ ms | p99 ≤ ms |"
	echo "|---|---|---|---|---|"
	hist_pct "$BENCH_TMP/metrics"
	echo
	echo "Where the time goes: each request the API users sent, the client's time (locust's)"
	echo "against outpostd's own for the same request (its log line, joined by X-Request-Id:"
	echo "from the request's parse to its answer written), in ms. The curl probe: $PROBES requests,"
	echo "$((PROBES - probe_ok)) not answered 200."
	echo
	/usr/bin/python3 "$BENCH_DIR/soak-split.py" "$BENCH_TMP/latency.csv.rids" "$OP_STATE/outpostd.log"
	echo
	# The burst as curl saw it, from each transfer's start: its connection
	# made, the answer's first byte, its last.
	if [ -s "$BENCH_TMP/latency.csv.burst" ]; then
		for col in 2 4 5; do
			awk -F, -v c=$col 'NR > 1 { print $c * 1000 }' "$BENCH_TMP/latency.csv.burst" |
				sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.1f %.1f\n",
					v[int((NR + 1) / 2)], v[int(NR * 0.95 + 0.999)] }'
		done | paste -sd' ' | {
			read -r c50 c95 f50 f95 t50 t95
			echo "The bursts as curl timed them, p50/p95 in ms from each transfer's start:" \
				"connected $c50/$c95, the answer's first byte $f50/$f95, its last $t50/$t95."
		}
		echo
		echo "Each burst: curl's figures; outpostd's first parse and last answer, from the"
		echo "burst's second; its loop's time running and waiting for a CPU (its schedstat,"
		echo "every 5 ms); the processes with the most CPU time from 0.5 s before the burst"
		echo "to 1.5 s after, and the machine's whole (2,000 ms on each of its $(nproc) cores): what no"
		echo "process alive at the window's end accounts for (one that ended inside it) is"
		echo "\"(ended in the window)\"."
		echo
		/usr/bin/python3 "$BENCH_DIR/soak-burst.py" "$BENCH_TMP/cpu.txt" "$OP_STATE/outpostd.log" \
			"$BENCH_TMP/latency.csv.burst" "$SOAK_BURST_EVERY"
		echo
	fi
	echo "Failures, by route and reason:"
	echo
	if [ -s "$BENCH_TMP/latency.csv.failures" ]; then
		sed 's/^\([0-9]*\)\t\([^\t]*\)\t\(.*\)$/- \1 × `\2`: \3/' "$BENCH_TMP/latency.csv.failures"
	else
		echo "- none"
	fi
	echo
	echo "Samples (outpostd; sizes in KiB):"
	echo
	echo "| min | RSS | fds | ring events | ring KiB | db KiB | wal KiB | pending | running | instances | workers online | ws clients | load |"
	echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
	awk -F, 'NR > 1 { printf "| %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %d | %s |\n",
		$1 / 60, $2, $3, $4, $5 / 1024, $6 / 1024, $7 / 1024, $8, $9, $10, $11, $12, $14 }' "$S"
	echo
	echo '```'
	plot "set ylabel 'MiB'; plot '$BENCH_TMP/mem.dat' using 1:2 with lines title 'outpostd RSS',
		'' using 1:3 with lines title 'event ring'"
	echo '```'
	echo
	echo '```'
	plot "set ylabel 'p95 ms'; plot '$BENCH_TMP/p95-list.dat' with lines title 'GET instances?limit=50',
		'$BENCH_TMP/p95-create.dat' with lines title 'POST instances'"
	echo '```'
	echo
	echo "Second half of the run, last sample against the middle one: RSS $(growth 2)," \
		"fds $(growth 3), ring bytes $(growth 5), db $(growth 6)."
	echo
	if [ -z "$slow" ]; then
		echo "- p95 under 50 ms on every API route: **met**"
	else
		echo "- p95 under 50 ms on every API route: **not met**: $slow"
	fi
	v=met
	for c in 2 3 5; do grown "$c" && v="not met"; done
	echo "- RSS, fds and the ring grow less than 10% over the second half: **$v**"
	echo
	worst=$(awk -F, 'NR > 1 && $1 !~ /^WS/ && $5 > w { w = $5; r = $1 } END { printf "%s|%s", w + 0, r }' \
		"$BENCH_TMP/latency.csv.total")
	score "soak, $SOAK_MINUTES min: the slowest API route's p95" "${worst%%|*} ms (${worst#*|})" "-" "-" \
		"< 50 ms on every route" "$( [ -z "$slow" ] && echo yes || echo no)"
	score "soak, $SOAK_MINUTES min: growth over the second half" \
		"RSS $(growth 2), fds $(growth 3), ring $(growth 5)" "the run's middle sample" "-" "< 10%" "$( [ "$v" = met ] && echo yes || echo no)"
} | tee ${OUT:+"$OUT"}
