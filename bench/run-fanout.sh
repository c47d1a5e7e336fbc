#!/bin/bash
# Websocket fan-out: SUBSCRIBERS (1000) event-stream subscribers on one
# libwebsockets loop in one client process (ws-fanout.c, built here), then
# EVENTS (10) instance creates, 100 ms apart; for each subscriber, the time
# from just before the POST was sent to the arrival of its event (p50, p95,
# p99, max over every subscriber and event), and the server's RSS
# (/proc/PID/status VmRSS) before the first subscriber and with all of them,
# as KB per subscriber. Every event is checked gapless at every subscriber.
#
# References, in the same round, with the same client:
#   - one subscriber alone on the same server: the POST, its commit and its
#     sync, and one send: the floor under any fan-out;
#   - a trivial broadcast server on the same library (ws-fanout serve): one
#     message of the same size as outpostd's events, rendered once and written
#     to every subscriber; it has no store, no auth, no filter. Its latency and
#     KB per subscriber are what libwebsockets itself costs on this machine now.
# The client's own CPU time per fan-out (getrusage) and the server's
# (/proc/PID/schedstat) are printed beside the latencies: a client whose CPU
# per event is well under the latency is not what is measured.
#
# Usage: bench/run-fanout.sh [--out FILE]
# Environment: ROUNDS (3), SUBSCRIBERS (1000), EVENTS (10), OUTPOSTD, CC, BENCH_PIN (0).
set -u
. "$(dirname "$0")/lib.sh"

ROUNDS=${ROUNDS:-3}
SUBSCRIBERS=${SUBSCRIBERS:-1000}
EVENTS=${EVENTS:-10}
OUT=$(out_arg "$@")

need curl curl
need pkg-config pkg-config
need "${CC:-cc}" gcc
need_outpostd
case $SUBSCRIBERS in '' | *[!0-9]*) die "SUBSCRIBERS must be a number" ;; esac
[ "$SUBSCRIBERS" -ge 1 ] && [ "$SUBSCRIBERS" -le 4000 ] || die "SUBSCRIBERS: 1 to 4000"
case $EVENTS in '' | *[!0-9]*) die "EVENTS must be a number" ;; esac
[ "$EVENTS" -ge 1 ] && [ "$EVENTS" -le 100 ] || die "EVENTS: 1 to 100"
[ "$(ulimit -Hn)" = unlimited ] || [ "$(ulimit -Hn)" -gt $((SUBSCRIBERS + 256)) ] ||
	die "ulimit -Hn is $(ulimit -Hn): SUBSCRIBERS + 256 descriptors are needed"
bench_init

say "building ws-fanout"
# shellcheck disable=SC2046
${CC:-cc} -O2 -Wall $(pkg-config --cflags libwebsockets) -o "$BENCH_TMP/ws-fanout" \
	"$BENCH_DIR/ws-fanout.c" $(pkg-config --libs libwebsockets) ||
	die "cannot build ws-fanout.c: apt-get install libwebsockets-dev"
FAN=$BENCH_TMP/ws-fanout

# key FILE NAME: a value from ws-fanout's "key value" lines.
key() { awk -v k="$2" '$1 == k { print $2 }' "$1"; }

# fan NAME PORT TOKENFILE N PID MODE: one client run, its lines in $BENCH_TMP/NAME.
fan() {
	local out=$BENCH_TMP/$1
	on_client_cpu timeout 150 "$FAN" client 127.0.0.1 "$2" "$3" "$4" "$EVENTS" "$5" "$6" \
		>"$out" 2>"$out.err" || { cat "$out.err" >&2; die "ws-fanout ($1) failed"; }
	[ "$(key "$out" gaps)" = 0 ] && [ "$(key "$out" mismatches)" = 0 ] ||
		die "ws-fanout ($1): an event was missed or out of order"
}

for r in $(seq 1 "$ROUNDS"); do
	say "round $r: outpostd, one subscriber then $SUBSCRIBERS"
	start_outpostd "op$r" "" --max-connections $((SUBSCRIBERS + 64)) \
		--max-connections-per-address $((SUBSCRIBERS + 64))
	api POST /api/v1/definitions '{"name":"bench","hooks":{"run":["true"]}}' >/dev/null
	printf '%s\n' "$OP_TOKEN" >"$BENCH_TMP/token"
	port=${OP_URL##*:}
	fan "one.$r" "$port" "$BENCH_TMP/token" 1 "$OP_PID" outpost
	fan "op.$r" "$port" "$BENCH_TMP/token" "$SUBSCRIBERS" "$OP_PID" outpost
	kill -0 "$OP_PID" 2>/dev/null || die "outpostd died"
	stop_outpostd
	rm -rf "$OP_STATE"

	say "round $r: the reference broadcast server, $SUBSCRIBERS subscribers"
	rm -f "$BENCH_TMP/ref.port"
	server_exec "$FAN" serve "$BENCH_TMP/ref.port" "$(key "$BENCH_TMP/op.$r" msg_bytes)" \
		>/dev/null 2>"$BENCH_TMP/ref.err" &
	REF_PID=$!
	BENCH_PIDS="$BENCH_PIDS $REF_PID"
	for _ in $(seq 1 50); do
		[ -s "$BENCH_TMP/ref.port" ] && break
		sleep 0.1
	done
	[ -s "$BENCH_TMP/ref.port" ] || { cat "$BENCH_TMP/ref.err" >&2; die "the reference did not start"; }
	fan "ref.$r" "$(cat "$BENCH_TMP/ref.port")" "$BENCH_TMP/token" "$SUBSCRIBERS" "$REF_PID" ref
	kill -TERM "$REF_PID" 2>/dev/null
	wait "$REF_PID" 2>/dev/null
	forget_pid "$REF_PID"
done

# med PREFIX KEY: the median over the rounds.
med() {
	local r vals=""
	for r in $(seq 1 "$ROUNDS"); do
		vals="$vals $(key "$BENCH_TMP/$1.$r" "$2")"
	done
	# shellcheck disable=SC2086
	median $vals
}
row() {
	local p=$1 name=$2
	echo "| $name | $(med "$p" p50_ms) | $(med "$p" p95_ms) | $(med "$p" p99_ms) |" \
		"$(med "$p" max_ms) | $(med "$p" kb_per_sub) | $(med "$p" server_cpu_ms_per_event) |" \
		"$(med "$p" client_cpu_ms_per_event) |"
}

p99=$(med op p99_ms)
ref99=$(med ref p99_ms)
kb=$(med op kb_per_sub)
refkb=$(med ref kb_per_sub)
{
	echo "### Websocket fan-out: $SUBSCRIBERS subscribers, one event each"
	echo
	machine_info | grep -v '^- wrk\|^- rounds'
	echo "- $ROUNDS rounds (outpostd, then the reference); $EVENTS events a round, 100 ms" \
		"apart; all $SUBSCRIBERS subscribers on one loop in one client process;" \
		"events of $(med op msg_bytes) bytes; pinned: $BENCH_PIN;" \
		"load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo
	echo "Latency from just before the POST to the event's arrival, over every subscriber and" \
		"event (ms; medians of the rounds), KB of server RSS per subscriber, and CPU time per" \
		"event (ms, the whole fan-out):"
	echo
	echo "| run | p50 | p95 | p99 | max | KB/subscriber | server CPU/event | client CPU/event |"
	echo "|---|---|---|---|---|---|---|---|"
	row one "outpostd, 1 subscriber"
	row op "outpostd, $SUBSCRIBERS subscribers"
	row ref "reference broadcast server, $SUBSCRIBERS subscribers"
	echo
	echo "From the event's own \`ts\` (stamped in its transaction, ms resolution) to its" \
		"arrival, outpostd, $SUBSCRIBERS subscribers: p50 $(med op stamp_p50_ms) ms," \
		"p99 $(med op stamp_p99_ms) ms."
	echo
	for r in $(seq 1 "$ROUNDS"); do
		echo "- round $r: outpostd p99 $(key "$BENCH_TMP/op.$r" p99_ms) ms," \
			"$(key "$BENCH_TMP/op.$r" kb_per_sub) KB each" \
			"($(key "$BENCH_TMP/op.$r" rss_before_kb) KB before," \
			"$(key "$BENCH_TMP/op.$r" rss_with_kb) KB with them); reference p99" \
			"$(key "$BENCH_TMP/ref.$r" p99_ms) ms, $(key "$BENCH_TMP/ref.$r" kb_per_sub) KB each"
	done
	echo
	echo "Targets: p99 under 20 ms with $SUBSCRIBERS subscribers; under 6 KB of server RSS" \
		"each."
	echo
	echo "SCORE|ws fan-out p99, $SUBSCRIBERS subscribers|$p99 ms|$ref99 ms (plain lws)|$(div "$p99" "$ref99")|< 20 ms|$(awk -v v="$p99" 'BEGIN { print (v < 20) ? "yes" : "no" }')"
	echo "SCORE|ws RSS per subscriber|$kb KB|$refkb KB (plain lws)|$(div "$kb" "$refkb")|< 6 KB|$(awk -v v="$kb" 'BEGIN { print (v < 6) ? "yes" : "no" }')"
} | if [ -n "$OUT" ]; then tee "$OUT"; else cat; fi
