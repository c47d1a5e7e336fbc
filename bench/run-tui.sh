#!/bin/bash
# outpost-top at site scale: 10,000 instances loaded, scrolled a page at a
# time, filtered as each key is typed, a burst of 1,000 new instances taken
# in live, the CPU it uses while nothing happens, and its resident memory
# once the rows are loaded and at the end. The program runs in a tmux window
# of its own (120x40); figures are its own CPU time from /proc/PID/schedstat
# (nanoseconds on a CPU; /proc/PID/stat's clock ticks where there is no
# schedstat), which tmux and the polling of the screen do not count, and
# wall-clock times from a key to the screen showing its effect (capture-pane
# polled every 10 ms, so they include tmux). The last lines of stdout are the
# scorecard's rows (SCORE|path|figure|reference|ratio|target|met).
# See bench/README.md. Usage: bench/run-tui.sh [--out FILE]
# Environment: INSTANCES (10000), ROUNDS (5), IDLE (10 s), OUTPOSTD, TOP.
set -u
. "$(dirname "$0")/lib.sh"

OUT=""
[ "${1:-}" = "--out" ] && OUT=${2:?--out needs a file}
INSTANCES=${INSTANCES:-10000}
IDLE=${IDLE:-10}
TOP=${TOP:-$TOP_DIR/src/tui/outpost-top}
need tmux tmux
need curl curl
need_outpostd
[ -x "$TOP" ] || die "no outpost-top at $TOP: build it or set TOP"
bench_init
SOCK=outpost-bench-$$
tm() { tmux -L "$SOCK" -f /dev/null "$@"; }
trap 'tm kill-server 2>/dev/null; bench_cleanup' EXIT

start_outpostd op
say "outpostd at $OP_URL; storing $INSTANCES instances"
store_instances "$INSTANCES" 10
printf '%s\n' "$OP_TOKEN" >"$BENCH_TMP/token"

ms() { echo $(($(date +%s%N) / 1000000)); }
screen() { tm capture-pane -p -t top; }
# wait_for_screen REGEX: polls every 10 ms, at most 60 s.
wait_for_screen() {
	local deadline=$(($(ms) + 60000))
	until screen | grep -qE -- "$1"; do
		[ "$(ms)" -lt "$deadline" ] || { screen >&2; die "the screen never showed /$1/"; }
		sleep 0.01
	done
}
ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
HZ=$(getconf CLK_TCK)
tick_ms() { awk -v t="$1" -v hz="$HZ" -v n="$2" 'BEGIN { printf "%.2f", t * 1000 / hz / n }'; }
# cpu: nanoseconds its threads have run (schedstat's first field), else its ticks as ns.
cpu() {
	if [ -r "/proc/$PID/schedstat" ]; then
		cat /proc/"$PID"/task/*/schedstat | awk '{ t += $1 } END { printf "%.0f\n", t }'
	else
		awk -v hz="$HZ" '{ printf "%.0f\n", ($14 + $15) * 1e9 / hz }' "/proc/$PID/stat"
	fi
}
# cpu_ms NS N: N's share of NS nanoseconds, in ms.
cpu_ms() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.2f", t / 1e6 / n }'; }
rss_kb() { awk '/^VmRSS/ { print $2 }' "/proc/$PID/status"; }
CPU_FROM="/proc/PID/schedstat (ns)"
[ -r /proc/self/schedstat ] || CPU_FROM="/proc/PID/stat (clock ticks)"
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

t0=$(ms)
tm new-session -d -s top -x 120 -y 40 "env LANG=C.UTF-8 $TOP --server $OP_URL --token-file $BENCH_TMP/token; sleep 600"
wait_for_screen "Instances $INSTANCES: pending $INSTANCES"
wait_for_screen "live, seq"
LOAD_MS=$(($(ms) - t0))
PID=$(pgrep -n -f "^$TOP --server $OP_URL")
[ -n "$PID" ] || die "no outpost-top process"
LOAD_CPU=$(cpu_ms "$(cpu)" 1)
# A moment for the first frames, then its memory with every row loaded.
sleep 1
RSS_LOAD=$(rss_kb)
say "loaded in $LOAD_MS ms ($LOAD_CPU ms of CPU); RSS $RSS_LOAD kB"

# ---- scrolling: PgDn through the whole list and back ----
pages=100
c0=$(cpu)
for _ in $(seq 1 $pages); do tm send-keys -t top NPage; done
for _ in $(seq 1 $pages); do tm send-keys -t top PPage; done
tm send-keys -t top g
wait_for_screen "^1 +pending"
sleep 0.5
SCROLL_CPU=$(cpu_ms $(($(cpu) - c0)) $((pages * 2)))
lat=()
for r in $(seq 1 "$ROUNDS"); do
	tm send-keys -t top g
	wait_for_screen "^1 +pending"
	s=$(ms)
	tm send-keys -t top End
	wait_for_screen "^$INSTANCES +pending"
	lat+=($(($(ms) - s)))
done
SCROLL_LAT=$(printf '%s\n' "${lat[@]}" | median)
say "scroll: $SCROLL_CPU ms of CPU a page; Home to End on screen in $SCROLL_LAT ms (median)"

# ---- filtering: each key refilters all rows ----
c0=$(cpu)
keys=0
lat=()
for r in $(seq 1 "$ROUNDS"); do
	s=$(ms)
	tm send-keys -t top / o w n e r - 7
	wait_for_screen "$((INSTANCES / 10))/$INSTANCES filter: owner-7"
	lat+=($(($(ms) - s)))
	tm send-keys -t top C-u Enter
	wait_for_screen " $INSTANCES/$INSTANCES"
	keys=$((keys + 9))
done
sleep 0.5
FILTER_CPU=$(cpu_ms $(($(cpu) - c0)) "$keys")
FILTER_LAT=$(printf '%s\n' "${lat[@]}" | median)
say "filter: $FILTER_CPU ms of CPU a key; '/owner-7' typed to its rows on screen in $FILTER_LAT ms"

# ---- sorting by another column and back ----
c0=$(cpu)
for r in $(seq 1 "$ROUNDS"); do
	tm send-keys -t top '>'
	wait_for_screen "sorted by STATE"
	tm send-keys -t top '<'
	wait_for_screen "sorted by ID"
done
sleep 0.5
SORT_CPU=$(cpu_ms $(($(cpu) - c0)) $((ROUNDS * 2)))
say "sort: $SORT_CPU ms of CPU a sort of $INSTANCES rows"

# ---- a burst: 1,000 instances created while it watches ----
c0=$(cpu)
s=$(ms)
api POST /api/v1/instances "{\"definition\":\"bench\",\"owner\":\"burst\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"count\":1000}" >/dev/null
wait_for_screen "Instances $((INSTANCES + 1000)):"
BURST_LAT=$(($(ms) - s))
sleep 0.5
BURST_CPU=$(cpu_ms $(($(cpu) - c0)) 1)
say "burst: 1000 instance.created events on screen in $BURST_LAT ms ($BURST_CPU ms of CPU)"

# ---- idle ----
sleep 1
c0=$(ticks)
sleep "$IDLE"
IDLE_TICKS=$(($(ticks) - c0))
IDLE_CPU=$(tick_ms "$IDLE_TICKS" 1)
RSS=$(rss_kb)
say "idle: $IDLE_TICKS ticks ($IDLE_CPU ms) of CPU in $IDLE s; RSS $RSS kB"

# ---- references, in the same go, on the same machine ----
# Loading: the instance pages outpost-top loads (500 a page), fetched by curl
# alone, each page's cursor cut out with grep: the same bytes, nothing parsed
# or drawn.
ref_fetch() {
	local after="" page=$BENCH_TMP/page.json
	while :; do
		curl -s -o "$page" -H "Authorization: Bearer $OP_TOKEN" \
			"$OP_URL/api/v1/instances?limit=500${after:+&after=$after}"
		after=$(grep -o '"next":"[^"]*"' "$page" | cut -d'"' -f4)
		[ -n "$after" ] || break
	done
}
lat=()
for r in $(seq 1 "$ROUNDS"); do
	s=$(ms)
	ref_fetch
	lat+=($(($(ms) - s)))
done
REF_FETCH=$(printf '%s\n' "${lat[@]}" | median)
# Filtering and sorting: the same rows as text lines, through grep and sort(1).
ref_rows=$BENCH_TMP/rows.txt
: >"$ref_rows"
after=""
while :; do
	body=$(curl -s -H "Authorization: Bearer $OP_TOKEN" \
		"$OP_URL/api/v1/instances?limit=500${after:+&after=$after}")
	printf '%s' "$body" | jq -r '.items[] | "\(.id) \(.state) \(.definition)@\(.definition_version) \(.owner) - \(.timeslot_end) -"' >>"$ref_rows"
	after=$(printf '%s' "$body" | jq -r '.next // empty')
	[ -n "$after" ] || break
done
# Four times the rounds: the reference is short, and its median steadier so.
lat=()
for r in $(seq 1 $((ROUNDS * 4))); do
	s=$(date +%s%N)
	grep -i owner-7 "$ref_rows" | sort -k2,2 -k1,1n >/dev/null
	lat+=($((($(date +%s%N) - s) / 1000)))
done
REF_FILTER_US=$(printf '%s\n' "${lat[@]}" | median)
REF_FILTER_WALL=$(awk -v u="$REF_FILTER_US" 'BEGIN { printf "%.2f", u / 1000 }')
# And their CPU (user + system of grep and sort, from the shell's times), the
# like of outpost-top's figure: on a loaded machine the wall clock counts the
# waits for a CPU too. The scorecard compares CPU with CPU.
n_ref=$((ROUNDS * 4))
REF_FILTER=$( (for _ in $(seq 1 "$n_ref"); do
	grep -i owner-7 "$ref_rows" | sort -k2,2 -k1,1n >/dev/null
done; times) | awk -v n="$n_ref" 'END {
	split($1, u, /[ms]/); split($2, s, /[ms]/)
	printf "%.2f", (u[1] * 60 + u[2] + s[1] * 60 + s[2]) * 1000 / n }')
# ratio A B: A/B, to 3 places under 0.1; "-" without a B.
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		if (b <= 0) print "-"; else printf (a / b < 0.1 ? "%.3f" : "%.2f"), a / b }'
}
say "references: the pages by curl in $REF_FETCH ms;" \
	"grep | sort of the rows in $REF_FILTER_WALL ms ($REF_FILTER ms of CPU)"

summary() {
	cat <<MD
### outpost-top with $INSTANCES instances

| what | figure |
|---|---|
| start to all $INSTANCES rows on screen, live | $LOAD_MS ms wall, $LOAD_CPU ms CPU |
| resident memory with the $INSTANCES rows loaded | $RSS_LOAD kB |
| a page down or up (CPU, mean of $((pages * 2))) | $SCROLL_CPU ms |
| first row to last row on screen (End, median of $ROUNDS) | $SCROLL_LAT ms wall |
| one key of a filter: $INSTANCES rows refiltered, the frame drawn (CPU, mean of $keys) | $FILTER_CPU ms |
| "/owner-7" typed until its $((INSTANCES / 10)) rows show (median of $ROUNDS) | $FILTER_LAT ms wall |
| a sort by another column (CPU, mean of $((ROUNDS * 2))) | $SORT_CPU ms |
| a burst of 1,000 instance.created events until the header counts them | $BURST_LAT ms wall, $BURST_CPU ms CPU |
| idle, nothing changing, $IDLE s | $IDLE_TICKS ticks ($IDLE_CPU ms) of CPU |
| resident memory after all that ($((INSTANCES + 1000)) rows) | $RSS kB |

CPU is from $CPU_FROM; clock ticks are 1/$HZ s.
Wall-clock figures include tmux and the 10 ms polling of its screen.

Against references run in the same go (the machine is shared: the ratios are the figures to
compare from one run to the next):

| what | outpost-top | reference | ratio |
|---|---|---|---|
| loading the $INSTANCES instances | $LOAD_MS ms wall, to the screen, live | $REF_FETCH ms: the same pages by curl, nothing parsed or drawn | $(ratio "$LOAD_MS" "$REF_FETCH") |
| one key of a filter, all rows refiltered | $FILTER_CPU ms CPU | $REF_FILTER ms CPU: \`grep -i owner-7 \| sort\` of the same rows as text (mean of $n_ref; $REF_FILTER_WALL ms wall, median) | $(ratio "$FILTER_CPU" "$REF_FILTER") |
| a sort by another column | $SORT_CPU ms CPU | the same grep and sort, CPU | $(ratio "$SORT_CPU" "$REF_FILTER") |
MD
}
# The scorecard's rows: the filter against grep and sort, the memory against 20 MB.
scores() {
	local r mb
	r=$(ratio "$FILTER_CPU" "$REF_FILTER")
	mb=$(awk -v k="$RSS_LOAD" 'BEGIN { printf "%.1f", k * 1024 / 1e6 }')
	printf 'SCORE|outpost-top filter, %dk rows|%s ms CPU a key|%s ms grep+sort|%sx|<= 1.0x|%s\n' \
		$((INSTANCES / 1000)) "$FILTER_CPU" "$REF_FILTER" "$r" \
		"$(awk -v r="$r" 'BEGIN { print (r != "-" && r <= 1.0) ? "yes" : "no" }')"
	printf 'SCORE|outpost-top RSS, %dk rows|%s MB|-|-|< 20 MB|%s\n' $((INSTANCES / 1000)) "$mb" \
		"$(awk -v m="$mb" 'BEGIN { print (m < 20) ? "yes" : "no" }')"
}
summary
[ -n "$OUT" ] && summary >"$OUT"
scores
exit 0
