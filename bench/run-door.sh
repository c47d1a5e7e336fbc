#!/bin/bash
# The body-pinning attack against the front door: ATTACKERS (100) connections
# without credentials, each announcing a 1 MiB body to POST /api/v1/tokens,
# sending PREFILL bytes of it at once (default all but its last KiB: what a
# server that buffers bodies before it knows the caller would then hold) and
# then one byte every 3 s, opened again whenever the server closes them, for
# DURATION seconds. Measured while it runs: outpostd's RSS
# growth (VmRSS of /proc/PID/status, four times a second) and the latency of
# GET /healthz (PROBE_RATE a second on one kept-alive connection, timed one by
# one). Reference, in the same run and on the same server: the same probe for
# the same time just before, without the attack.
# Target: RSS growth under 10 MB and /healthz p99 under 20 ms during the attack.
#
# Usage: bench/run-door.sh [--out FILE]
# Environment: DURATION (30), ATTACKERS (100), PREFILL (1047552), PROBE_RATE (100), OUTPOSTD,
# BENCH_PIN (0).
set -u
. "$(dirname "$0")/lib.sh"

DURATION=${DURATION:-30}
ATTACKERS=${ATTACKERS:-100}
PROBE_RATE=${PROBE_RATE:-100}
PREFILL=${PREFILL:-1047552}
OUT=$(out_arg "$@")

need python3 python3
need curl curl
need_outpostd
bench_init

door() { on_client_cpu timeout $((DURATION + 30)) python3 "$BENCH_DIR/door.py" "$@"; }

start_outpostd door
PORT=${OP_URL##*:}
curl -sf "$OP_URL/healthz" >/dev/null || die "outpostd does not answer /healthz"

# cpu_ms: the server's CPU time so far (user and system), from /proc/PID/stat.
cpu_ms() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000 / hz }' \
	"/proc/$OP_PID/stat"; }

say "reference: /healthz alone for ${DURATION}s"
c0=$(cpu_ms)
read -r r_n r_p50 r_p99 r_max r_err r_rss0 r_rssmax <<<"$(door probe "$PORT" "$OP_PID" \
	"$DURATION" "$PROBE_RATE")"
[ "$r_err" = 0 ] || die "the reference probe had $r_err errors"
r_cpu=$(($(cpu_ms) - c0))

say "attack: $ATTACKERS connections, one byte every 3 s, for ${DURATION}s"
rss_before=$(awk '/^VmRSS:/ { print $2 }' "/proc/$OP_PID/status")
client_exec_bg() { client_exec timeout $((DURATION + 30)) python3 "$BENCH_DIR/door.py" "$@"; }
client_exec_bg attack "$PORT" "$ATTACKERS" 3 $((DURATION + 2)) "$PREFILL" >"$BENCH_TMP/attack.out" &
ATTACK_PID=$!
BENCH_PIDS="$BENCH_PIDS $ATTACK_PID"
sleep 1
c1=$(cpu_ms)
read -r a_n a_p50 a_p99 a_max a_err a_rss0 a_rssmax <<<"$(door probe "$PORT" "$OP_PID" \
	"$DURATION" "$PROBE_RATE")"
a_cpu=$(($(cpu_ms) - c1))
wait "$ATTACK_PID" || die "the attacker failed: $(cat "$BENCH_TMP/attack.out")"
forget_pid "$ATTACK_PID"
read -r opened answers bytes <"$BENCH_TMP/attack.out"
kill -0 "$OP_PID" 2>/dev/null || die "outpostd died under the attack"
stop_outpostd

mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
{
	echo "### The body-pinning attack: RSS and /healthz latency"
	echo
	machine_info | grep -v '^- wrk\|^- rounds'
	echo "- attack: $ATTACKERS connections at once without credentials, each" \
		"\`POST /api/v1/tokens\` with \`Content-Length: 1048576\`, $PREFILL bytes of it at" \
		"once, then one byte every 3 s, reopened when closed, for ${DURATION} s:" \
		"$opened connections opened," \
		"$answers answers read, $bytes body bytes sent"
	echo "- probe: \`GET /healthz\` $PROBE_RATE times a second on one kept-alive connection"
	echo
	echo "| run | requests | errors | p50 (ms) | p99 (ms) | max (ms) | RSS at start (MB) |" \
		"RSS growth, at most (MB) | server CPU |"
	echo "|---|---|---|---|---|---|---|---|---|"
	echo "| reference, no attack | $r_n | $r_err | $r_p50 | $r_p99 | $r_max |" \
		"$(mb "$r_rss0") | $(mb $((r_rssmax - r_rss0))) | $(div "$r_cpu" $((DURATION * 10)) %.1f)% |"
	echo "| under the attack | $a_n | $a_err | $a_p50 | $a_p99 | $a_max |" \
		"$(mb "$rss_before") | $(mb $((a_rssmax - rss_before))) |" \
		"$(div "$a_cpu" $((DURATION * 10)) %.1f)% |"
	echo
	echo "Target: RSS growth under 10 MB and p99 under 20 ms under the attack."
	echo
	g=$(mb $((a_rssmax - rss_before)))
	score "body-pinning attack, /healthz" "p99 $a_p99 ms, RSS +$g MB" \
		"no attack: p99 $r_p99 ms" "$(div "$a_p99" "$r_p99")" "p99 < 20 ms, RSS < +10 MB" \
		"$( [ "$(is_lt "$a_p99" 20)" = yes ] && [ "$(is_lt "$g" 10)" = yes ] && echo yes || echo no)"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
