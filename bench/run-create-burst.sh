#!/bin/bash
# A burst of CLIENTS (100) creates at once, each client on a connection of its
# own (the soak's burst, alone): sent and timed by curl's parallel mode, one
# C process with one event loop, so the client costs little and the same for
# both servers. Reference, in the same go and interleaved burst by burst:
# nginx (one worker) answering each of the same requests 201 with the bytes
# of a real create's answer, which is what the client and the kernel cost.
#
# Measured per burst: each request's time from curl's start to its answer's
# last byte; a burst's p50 and p95 over its CLIENTS requests; the figure is
# the median of the bursts' p95. The servers' CPU a burst (utime+stime from
# /proc, in clock ticks, over all their bursts; nginx's worker's) says what
# each spent.
# Target (issue 20's soak): p95 under 50 ms.
#
# Usage: bench/run-create-burst.sh [--out FILE]
# Environment: ROUNDS (5), BURSTS (10 a round, each server), CLIENTS (100),
# OUTPOSTD, BENCH_PIN.
set -u
. "$(dirname "$0")/lib.sh"
. "$BENCH_DIR/reads.sh"

OUT=$(out_arg "$@")
ROUNDS=${ROUNDS:-5}
BURSTS=${BURSTS:-10}
CLIENTS=${CLIENTS:-100}
case $ROUNDS$BURSTS$CLIENTS in
*[!0-9]*) die "ROUNDS, BURSTS and CLIENTS are whole numbers" ;;
esac
[ "$CLIENTS" -ge 20 ] && [ "$CLIENTS" -le 500 ] || die "CLIENTS: $CLIENTS: 20 to 500"
need curl curl
need nginx nginx-light
need_outpostd
bench_init

start_outpostd burst
api POST /api/v1/definitions '{"name":"bench","hooks":{"run":["true"]}}' >/dev/null
# Slots far ahead: the instances stay pending, nothing but the creates runs.
BODY='{"definition":"bench","owner":"o","timeslot_start":"2030-01-01T10:00:00Z","timeslot_end":"2030-01-01T11:00:00Z"}'
ANSWER=$(api POST /api/v1/instances "$BODY")
case $ANSWER in
*"'"* | *'$'* | *'\'*) die "a create's answer has a character nginx's return would change" ;;
esac

# nginx: one worker, its own config, loopback only; 201 and a real create's bytes.
NG=$BENCH_TMP/nginx
mkdir -p "$NG/www"
NGINX_SERVER="location = /api/v1/instances { default_type application/json; return 201 '$ANSWER\n'; }"
start_nginx "$NG" application/json
[ "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$NG_URL/api/v1/instances")" = 201 ] ||
	die "nginx does not answer the create 201"
NG_WORKER=$(pgrep -P "$NG_PID" | head -n 1)
[ -n "$NG_WORKER" ] || die "nginx has no worker process"
say "outpostd at $OP_URL, nginx at $NG_URL"

# burst_config URL FILE: CLIENTS transfers of the same create, one connection each.
burst_config() {
	local i
	for i in $(seq 1 "$CLIENTS"); do
		[ "$i" -gt 1 ] && echo next
		printf 'url = "%s/api/v1/instances"\nrequest = "POST"\n' "$1"
		printf 'header = "Authorization: Bearer %s"\n' "$OP_TOKEN"
		printf 'header = "Content-Type: application/json"\n'
		printf 'data = "%s"\n' "${BODY//\"/\\\"}"
		printf 'output = "/dev/null"\nwrite-out = "%%{time_total} %%{http_code}\\n"\n'
	done >"$2"
}
burst_config "$OP_URL" "$BENCH_TMP/op.curl"
burst_config "$NG_URL" "$BENCH_TMP/ng.curl"

# burst CONFIG: one burst; prints "p50 p95" in ms; fails unless every answer is a 201.
burst() {
	local out=$BENCH_TMP/burst.out
	on_client_cpu curl -s --no-progress-meter --parallel --parallel-immediate \
		--parallel-max "$CLIENTS" --max-time 30 -K "$1" >"$out" || true
	awk '$2 == 201 { print $1 * 1000 }' "$out" | sort -n | awk -v n="$CLIENTS" '
		{ t[NR] = $1 } END {
		if (NR != n) { print "bad " NR; exit }
		printf "%.1f %.1f\n", t[int(n * 0.5)], t[int(n * 0.95)] }'
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

say "warm-up"
burst "$BENCH_TMP/op.curl" >/dev/null
burst "$BENCH_TMP/ng.curl" >/dev/null

op95=() ng95=() op50=() ng50=() ROWS=""
op_ticks=0 ng_ticks=0
for r in $(seq 1 "$ROUNDS"); do
	r_op=() r_ng=()
	for _ in $(seq 1 "$BURSTS"); do
		c0=$(cpu_ticks "$OP_PID")
		read -r a50 a95 <<<"$(burst "$BENCH_TMP/op.curl")"
		op_ticks=$((op_ticks + $(cpu_ticks "$OP_PID") - c0))
		[ "$a50" = bad ] && die "outpostd: a burst got $a95 of $CLIENTS answers 201"
		c0=$(cpu_ticks "$NG_WORKER")
		read -r b50 b95 <<<"$(burst "$BENCH_TMP/ng.curl")"
		ng_ticks=$((ng_ticks + $(cpu_ticks "$NG_WORKER") - c0))
		[ "$b50" = bad ] && die "nginx: a burst got $b95 of $CLIENTS answers 201"
		op50+=("$a50") op95+=("$a95") ng50+=("$b50") ng95+=("$b95")
		r_op+=("$a95") r_ng+=("$b95")
		sleep 0.2
	done
	row="| $r | $(median "${r_op[@]}") | $(median "${r_ng[@]}") | $(div "$(median "${r_op[@]}")" "$(median "${r_ng[@]}")") |"
	ROWS="$ROWS$row"$'\n'
	say "$row"
done
n=$((ROUNDS * BURSTS))
m_op=$(median "${op95[@]}") m_ng=$(median "${ng95[@]}")
ratio=$(div "$m_op" "$m_ng")
tick_ms=$(awk -v h="$(getconf CLK_TCK)" 'BEGIN { print 1000 / h }')
op_cpu=$(awk -v t="$op_ticks" -v n="$n" -v m="$tick_ms" 'BEGIN { printf "%.1f", t * m / n }')
ng_cpu=$(awk -v t="$ng_ticks" -v n="$n" -v m="$tick_ms" 'BEGIN { printf "%.1f", t * m / n }')

report() {
	echo "## A burst of $CLIENTS creates at once"
	echo
	machine_info
	echo "- nginx: $(nginx -v 2>&1 | sed 's/^nginx version: //'), 1 worker, answering 201 with a real create's $(($(printf '%s' "$ANSWER" | wc -c) + 1)) bytes"
	echo "- $ROUNDS rounds of $BURSTS bursts a server, interleaved burst by burst; each burst $CLIENTS POSTs on $CLIENTS connections (curl --parallel)"
	echo
	echo "| round | outpostd p95 ms (median of bursts) | nginx p95 ms | ratio |"
	echo "|---|---|---|---|"
	printf '%s' "$ROWS"
	echo "| **all** | **$m_op** | **$m_ng** | **$ratio** |"
	echo
	echo "Medians over all $n bursts: p50 outpostd $(median "${op50[@]}") ms, nginx $(median "${ng50[@]}") ms;" \
		"p95 outpostd $m_op ms, nginx $m_ng ms. CPU a burst: outpostd $op_cpu ms, nginx $ng_cpu ms."
	echo
	score "a burst of $CLIENTS creates at once: p95" "$m_op ms" "nginx, the same answer: $m_ng ms" \
		"$ratio" "< 50 ms" "$(is_lt "$m_op" 50)"
}
report
[ -n "$OUT" ] && report >"$OUT"
exit 0
