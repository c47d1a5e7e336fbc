#!/usr/bin/env bash
# make fuzz: builds each harness of this directory with clang's libFuzzer,
# AddressSanitizer and UBSan (objects of their own, under the build
# directory: the normal build is untouched), then runs each for
# FUZZ_SECONDS (default 60), one after the other, on a corpus kept in the
# build directory with the seeds and regression inputs of the source tree
# (read, never written). A crash, a leak, a hang (-timeout) or a UBSan
# report fails the harness; its input is written under the build
# directory's fuzz/crashes/. Prints "PASS: fuzz/NAME" or "FAIL: fuzz/NAME"
# for each, then "fuzz: N passed, N failed"; exits 1 when one failed.
#
#   FUZZ_SECONDS=N       seconds each harness runs (0: build only)
#   FUZZ_HARNESSES="a b" only these harnesses
#   FUZZ_JOBS=N          harnesses run at once (default 1)
#   FUZZ_CC              the compiler (default clang-14, else clang)
#   FUZZ_TUI_CFLAGS      flags for outpost-top's files only (ncurses')
#
# Called by the Makefile with srcdir, builddir and the flags configure found.
set -euo pipefail

: "${srcdir:?}" "${builddir:?}" "${top_srcdir:?}" "${top_builddir:?}"
seconds=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-1}
cc=${FUZZ_CC:-}
if [ -z "$cc" ]; then
	if command -v clang-14 >/dev/null 2>&1; then cc=clang-14; else cc=clang; fi
fi
command -v "$cc" >/dev/null 2>&1 || { echo "fuzz: $cc not found (install clang-14)" >&2; exit 1; }

out=$builddir/fuzz-build
mkdir -p "$out/obj" "$out/bin" "$builddir/fuzz-corpus" "$builddir/fuzz-crashes" "$builddir/fuzz-logs"
# shellcheck disable=SC2206
cflags=(-Wall -Wextra -Wno-unused-parameter -fsanitize=address,undefined
	-fno-sanitize-recover=undefined -fno-omit-frame-pointer -g -O1
	-I"$top_builddir" -I"$top_srcdir/src/common" -I"$top_srcdir/src/server"
	-I"$top_srcdir/src/agent" -I"$top_srcdir/src/tui" -I"$srcdir" ${FUZZ_DEP_CFLAGS:-})
defs=(-DSYSCONFDIR='"/etc"' -DDATADIR='"/usr/share"' -DBINDIR='"/usr/bin"'
	-DWEBDIR='"/usr/share/outpost/web"' -DBOOTSTRAP_CSS='""'
	-DPKGLIBEXECDIR='"/usr/libexec/outpost"')
# shellcheck disable=SC2206
libs=(${FUZZ_DEP_LIBS:-} -lm)

# obj SRC: the object of a product file, compiled (in the background, $ncpu at
# a time) when older than a source or header; a failure leaves $out/obj/FAILED.
ncpu=$(nproc 2>/dev/null || echo 2)
obj() {
	local o
	o=$out/obj/$(echo "$1" | sed 's|/|_|g; s|\.c$|.o|')
	if [ ! -f "$o" ] || [ -n "$(find "$top_srcdir/src/common" "$top_srcdir/src/server" \
		"$top_srcdir/src/agent" "$top_srcdir/src/tui" -name '*.[ch]' -newer "$o" 2>/dev/null | head -n 1)" ]; then
		while [ "$(jobs -rp | wc -l)" -ge "$ncpu" ]; do
			wait -n || true
		done
		# shellcheck disable=SC2046
		{ "$cc" -c -fsanitize=fuzzer-no-link "${cflags[@]}" "${defs[@]}" \
			$(case $1 in src/tui/*) echo "${FUZZ_TUI_CFLAGS:-}" ;; esac) -o "$o.tmp" \
			"$top_srcdir/$1" >&2 && mv "$o.tmp" "$o"; } || touch "$out/obj/FAILED" &
	fi
	echo "$o"
}

# objs GLOB...: the objects of the product files matching, main()s left out.
objs() {
	local f
	for f in $(cd "$top_srcdir" && ls $1 | grep -v -e '/main\.c$' -e '/shim_main\.c$'); do
		obj "$f"
	done
	wait
	[ ! -f "$out/obj/FAILED" ]
}

# The harnesses: NAME, what they link (common, server, agent), -max_len, their flags.
harnesses() {
	cat <<'LIST'
route server 2048
body_definitions server 16384 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/definitions"'
body_instances server 4096 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/instances"'
body_templates server 8192 -DFUZZ_METHOD='"PUT"' -DFUZZ_TARGET='"/api/v1/templates/fz"'
body_tokens server 4096 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/tokens"'
body_register server 4096 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/agent/register"'
body_heartbeat server 1024 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/agent/heartbeat"'
body_sync server 4096 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/agent/sync"'
body_report server 4096 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/agent/instances/1/report"'
body_log server 8192 -DFUZZ_METHOD='"POST"' -DFUZZ_TARGET='"/api/v1/agent/instances/1/log"'
runbook_run server 4096
file_runbook server 16384 -DFUZZ_FILE_RUNBOOK
file_template server 8192 -DFUZZ_FILE_TEMPLATE
file_alerts server 8192 -DFUZZ_FILE_ALERTS
config server 4096
parsers server 1024
ws_subscribe server 2048
evstream common 8192
evsummary common 4096
agent_work agent 16384
tui_events tui 16384
LIST
}

# The harness's source: body_* share fuzz_body.c, file_* fuzz_file.c.
source_of() {
	case $1 in
	body_*) echo fuzz_body.c ;;
	file_*) echo fuzz_file.c ;;
	*) echo "fuzz_$1.c" ;;
	esac
}

want() {
	[ -z "${FUZZ_HARNESSES:-}" ] && return 0
	case " $FUZZ_HARNESSES " in *" $1 "*) return 0 ;; esac
	return 1
}

# build_one NAME KIND LEN [FLAGS...]
build_one() {
	local name=$1 kind=$2 extra=()
	shift 3
	[ "$kind" = server ] && extra=("$srcdir/fuzz_server.c")
	# shellcheck disable=SC2046
	"$cc" -fsanitize=fuzzer "${cflags[@]}" "$@" -DFUZZ_RUNBOOK_DIR="\"$top_srcdir/runbooks\"" \
		-o "$out/bin/fuzz_$name" "$srcdir/$(source_of "$name")" "$srcdir/fuzz_tmp.c" \
		"${extra[@]}" $(eval echo "\$objs_$kind") "${libs[@]}"
}

echo "fuzz: building with $cc" >&2
rm -f "$out/obj/FAILED"
objs_common=$(objs 'src/common/*.c') || exit 1
objs_server="$(objs 'src/server/*.c') $objs_common" || exit 1
objs_agent="$(objs 'src/agent/*.c') $objs_common" || exit 1
objs_tui="$(objs 'src/tui/*.c') $objs_common" || exit 1
while read -r name kind len flags; do
	want "$name" || continue
	# shellcheck disable=SC2086
	eval "build_one $name $kind $len $flags" || { echo "FAIL: fuzz/$name (build)"; exit 1; }
done < <(harnesses)
[ "$seconds" -gt 0 ] || exit 0

# run NAME LEN: one harness for $seconds; PASS or FAIL, with its figures.
run_one() {
	name=$1 len=$2
	corpus=$builddir/fuzz-corpus/$name
	log=$builddir/fuzz-logs/$name.log
	mkdir -p "$corpus"
	set -- "$corpus"
	for d in "$srcdir/seeds/$name" "$srcdir/regress/$name"; do
		[ -d "$d" ] && set -- "$@" "$d"
	done
	t0=$(date +%s)
	if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1} "$out/bin/fuzz_$name" -max_total_time="$seconds" \
		-max_len="$len" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$builddir/fuzz-crashes/$name-" "$@" >"$log" 2>&1; then
		res=PASS
	else
		res=FAIL
	fi
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
	echo "$res: fuzz/$name ($(($(date +%s) - t0)) s, ${runs:-?} runs)"
	[ "$res" = PASS ] || { grep -m 1 -E 'ERROR|SUMMARY|runtime error' "$log" || true; echo "  see $log"; }
}

results=$builddir/fuzz-results.txt
: >"$results"
while read -r name kind len flags; do
	want "$name" || continue
	while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do
		wait -n || true
	done
	run_one "$name" "$len" | tee -a "$results" &
done < <(harnesses)
wait
pass=$(grep -c '^PASS' "$results" || true)
fail=$(grep -c '^FAIL' "$results" || true)
echo "fuzz: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
