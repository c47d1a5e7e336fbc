# shellcheck shell=bash
# Shared helpers for the bench/run-*.sh scripts. Sourced, not run.
#
# Everything a script starts is recorded here and stopped by bench_cleanup,
# which the scripts run on EXIT, INT and TERM; the temp directory goes too.

BENCH_DIR=$(cd "$(dirname "$0")" && pwd)
TOP_DIR=$(cd "$BENCH_DIR/.." && pwd)
OUTPOSTD=${OUTPOSTD:-$TOP_DIR/src/server/outpostd}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-5}
THREADS=${THREADS:-2}
CONNS=${CONNS:-64}
# BENCH_PIN=1: servers on CPU 0, wrk (and the SQLite reference) on CPU 1.
BENCH_PIN=${BENCH_PIN:-0}

BENCH_PIDS=""
BENCH_TMP=""

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

bench_cleanup() {
	local pid
	for pid in $BENCH_PIDS; do
		kill -TERM "$pid" 2>/dev/null
	done
	for pid in $BENCH_PIDS; do
		for _ in 1 2 3 4 5 6 7 8 9 10; do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.2
		done
		kill -KILL "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	done
	BENCH_PIDS=""
	if [ -n "$BENCH_TMP" ] && [ -d "$BENCH_TMP" ]; then
		rm -rf "$BENCH_TMP"
	fi
}

bench_init() {
	trap bench_cleanup EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
	BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/outpost-bench.XXXXXX") || die "mktemp failed"
}

# Kills whatever has its working directory under the temp dir (what the
# servers' children left: agents, stubs, hooks), before the directory goes.
kill_under_tmp() {
	local d
	for d in /proc/[0-9]*; do
		case $(readlink "$d/cwd" 2>/dev/null) in
		"$BENCH_TMP"/*) kill -KILL "${d#/proc/}" 2>/dev/null ;;
		esac
	done
}

# out_arg "$@": the FILE of a first argument "--out FILE", or nothing.
out_arg() {
	if [ "${1:-}" = "--out" ]; then
		[ -n "${2:-}" ] || die "--out needs a file"
		echo "$2"
	fi
}

forget_pid() {
	local p out=""
	for p in $BENCH_PIDS; do
		[ "$p" = "$1" ] || out="$out $p"
	done
	BENCH_PIDS=$out
}

# need TOOL DEBIAN-PACKAGE
need() {
	command -v "$1" >/dev/null 2>&1 ||
		die "$1 is not installed: apt-get install $2"
}

need_outpostd() {
	[ -x "$OUTPOSTD" ] ||
		die "no outpostd at $OUTPOSTD: build it (make -C src/common && make -C src/server) or set OUTPOSTD"
}

# Only for "server_exec ... &": the background subshell becomes the server, so
# its $! is the server's own pid.
server_exec() { if [ "$BENCH_PIN" = 1 ]; then exec taskset -c 0 "$@"; else exec "$@"; fi; }
on_client_cpu() { if [ "$BENCH_PIN" = 1 ]; then taskset -c 1 "$@"; else "$@"; fi; }
# Only for "client_exec ... &": as server_exec, for a client that runs in the background.
client_exec() { if [ "$BENCH_PIN" = 1 ]; then exec taskset -c 1 "$@"; else exec "$@"; fi; }

# start_outpostd NAME [BASE [FLAG...]]: starts a fresh outpostd with its own state
# directory under the temp dir (or BASE, when not empty), with FLAGs besides;
# sets OP_PID, OP_URL, OP_TOKEN, OP_STATE.
start_outpostd() {
	local name=$1
	OP_STATE=${2:-$BENCH_TMP}/$name
	shift $(($# < 2 ? $# : 2))
	mkdir -p "$OP_STATE"
	: >"$BENCH_TMP/empty.conf"
	server_exec "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$OP_STATE" \
		--config "$BENCH_TMP/empty.conf" --log-format json --log-level info "$@" \
		>"$OP_STATE/outpostd.log" 2>&1 &
	OP_PID=$!
	BENCH_PIDS="$BENCH_PIDS $OP_PID"
	OP_URL=""
	for _ in $(seq 1 100); do
		OP_URL=$(sed -n 's/.*"msg":"outpostd.listening".*"url":"\([^"]*\)".*/\1/p' \
			"$OP_STATE/outpostd.log" | head -n 1)
		[ -n "$OP_URL" ] && break
		kill -0 "$OP_PID" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$OP_URL" ] || { cat "$OP_STATE/outpostd.log" >&2; die "outpostd did not start"; }
	case $OP_URL in
	http://127.0.0.1:*) ;;
	*) die "outpostd listens on $OP_URL, not on loopback" ;;
	esac
	OP_TOKEN=$(cat "$OP_STATE/admin.token") || die "no admin token"
}

stop_outpostd() {
	kill -TERM "$OP_PID" 2>/dev/null
	for _ in $(seq 1 50); do
		kill -0 "$OP_PID" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$OP_PID" 2>/dev/null
	wait "$OP_PID" 2>/dev/null
	forget_pid "$OP_PID"
}

# api METHOD PATH [BODY]: prints the body; fails unless 2xx.
api() {
	local code
	code=$(curl -sS -o "$BENCH_TMP/api.out" -w '%{http_code}' -X "$1" \
		-H "Authorization: Bearer $OP_TOKEN" -H 'Content-Type: application/json' \
		${3:+--data-binary "$3"} "$OP_URL$2") || die "curl $1 $2 failed"
	case $code in
	2*) cat "$BENCH_TMP/api.out" ;;
	*) cat "$BENCH_TMP/api.out" >&2; die "$1 $2 answered $code" ;;
	esac
}

# run_wrk OUTFILE wrk-args...: wrk bounded in time; fails on socket errors
# other than the timeouts wrk counts at the very end of a run.
run_wrk() {
	local out=$1
	shift
	on_client_cpu timeout $((DURATION + 30)) wrk --latency "$@" >"$out" 2>&1 ||
		{ cat "$out" >&2; die "wrk failed"; }
	grep -q '^Requests/sec:' "$out" || { cat "$out" >&2; die "wrk printed no rate"; }
}

# wrk_rps FILE; wrk_pct FILE 50|99 (in ms); wrk_bad FILE (non-2xx/3xx + socket errors)
wrk_rps() { awk '/^Requests\/sec:/ { print $2 }' "$1"; }
wrk_pct() {
	awk -v p="$2%" '$1 == p {
		v = $2
		if (v ~ /us$/) { sub(/us$/, "", v); v = v / 1000 }
		else if (v ~ /ms$/) { sub(/ms$/, "", v); v = v + 0 }
		else if (v ~ /m$/) { sub(/m$/, "", v); v = v * 60000 }
		else if (v ~ /s$/) { sub(/s$/, "", v); v = v * 1000 }
		printf "%.3f\n", v
	}' "$1"
}
wrk_bad() {
	awk '/Non-2xx or 3xx responses:/ { n += $5 }
	     /Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 }
	     END { print n + 0 }' "$1"
}

# median of the numbers given as arguments
median() {
	printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
		END { if (NR == 0) { print "nan"; exit }
		      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# div A B [FORMAT]
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.2f}" 'BEGIN { if (b == 0) print "nan"; else printf f "\n", a / b }'; }

machine_info() {
	local cpu
	cpu=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "- machine: $(nproc) cores ($cpu), Linux $(uname -r), shared and noisy"
	echo "- temp dir filesystem: $(df -T "$BENCH_TMP" | awk 'NR == 2 { print $2 }')"
	echo "- outpostd: $("$OUTPOSTD" --version 2>&1 | head -n 1)"
	echo "- libwebsockets: $(dpkg-query -W -f '${Version}' libwebsockets-dev 2>/dev/null ||
		pkg-config --modversion libwebsockets 2>/dev/null || echo unknown)"
	echo "- wrk: $(wrk -v 2>&1 | head -n 1 | awk '{ print $1, $2 }')"
	echo "- rounds: $ROUNDS interleaved, ${DURATION}s each; wrk $THREADS threads, pinned: $BENCH_PIN"
}

# store_instances N [OWNERS]: the definition "bench" and N instances of it on OP_URL,
# 1000 a request, their slots years ahead (never due: nothing moves unless the benchmark
# makes it); owner "o", or owner-0 .. owner-(OWNERS-1), one a request in turn.
store_instances() {
	local left=$1 owners=${2:-0} i=0 k owner=o
	api POST /api/v1/definitions '{"name":"bench","hooks":{"run":["true"]}}' >/dev/null
	while [ "$left" -gt 0 ]; do
		k=$((left > 1000 ? 1000 : left))
		[ "$owners" -gt 0 ] && owner=owner-$((i % owners))
		api POST /api/v1/instances "{\"definition\":\"bench\",\"owner\":\"$owner\",\"timeslot_start\":\"2030-01-01T10:00:00Z\",\"timeslot_end\":\"2030-01-01T11:00:00Z\",\"count\":$k}" >/dev/null
		left=$((left - k))
		i=$((i + 1))
	done
}

# The buckets of outpost_loop_lag_seconds (how late the server's 50 ms timer fires).
LE="0.001 0.0025 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5"

# lag_buckets: the histogram's cumulative counts, one line "LE COUNT" a bucket, and "count N".
lag_buckets() {
	curl -s "$OP_URL/metrics" | sed -n \
		-e 's/^outpost_loop_lag_seconds_bucket{le="\([^"]*\)"} \(.*\)/\1 \2/p' \
		-e 's/^outpost_loop_lag_seconds_count \(.*\)/count \1/p'
}

# lag_delta BEFORE AFTER: the observations between two readings: "OBS OVER10 MAXLE".
lag_delta() {
	printf '%s\n%s\n' "$1" "$2" | awk -v les="$LE" -v half="$(printf '%s\n' "$1" | wc -l)" '
		NR <= half { b[$1] = $2; next }
		{ a[$1] = $2 }
		END {
			n = split(les, le, " ")
			obs = a["count"] - b["count"]
			over = obs - (a["0.01"] - b["0.01"])
			max = "0.001"
			for (i = 1; i <= n; i++)
				if (a["+Inf"] - b["+Inf"] > a[le[i]] - b[le[i]])
					max = (i < n) ? le[i + 1] : "+Inf"
			print obs, over, max
		}'
}

# score PATH FIGURE REFERENCE RATIO TARGET MET: one row of the scorecard that
# run-all.sh collects from every script's output (the last lines of each).
score() { printf 'SCORE|%s|%s|%s|%s|%s|%s\n' "$@"; }
# is_lt A B, is_le A B, is_ge A B: "yes" or "no" (decimal numbers; "nan" is no).
is_lt() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "nan" && a + 0 < b + 0) ? "yes" : "no" }'; }
is_le() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "nan" && a + 0 <= b + 0) ? "yes" : "no" }'; }
is_ge() { awk -v a="$1" -v b="$2" 'BEGIN { print (a != "nan" && a + 0 >= b + 0) ? "yes" : "no" }'; }
