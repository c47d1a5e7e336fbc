#!/usr/bin/env bash
# The two commands of the quick start.
#
#   ./dev.sh run    install missing Debian packages, build, start outpostd on ./var
#                   with a local template of two workers (outpost-agent processes
#                   outpostd starts itself) and demo definitions, and
#                   say where to point the browser and CLI
#   ./dev.sh test   install missing Debian packages, build, run every test under
#                   AddressSanitizer and UBSan (and the unit, client and timing tests
#                   in the plain build too), make distcheck, make check-deb (the Debian
#                   packages built and started), run each fuzz harness
#                   briefly (FUZZ_SECONDS, 8 s each); the last line is "N passed, N failed"
#
# Builds go to build/ (and build-asan/ for the sanitizer run), out of the source tree.
set -euo pipefail

top=$(cd "$(dirname "$0")" && pwd)
cd "$top"
jobs=$(nproc 2>/dev/null || echo 2)

build_pkgs="build-essential autoconf automake libtool pkg-config libwebsockets-dev
	libsqlite3-dev libjansson-dev libcurl4-openssl-dev libncurses-dev libssl-dev
	libsystemd-dev libcmocka-dev libjs-bootstrap5"
# The browser test drives Debian's chromium with playwright-core from npm.
test_pkgs="curl jq procps tmux chromium nodejs npm nginx openssl python3 sqlite3
	clang-14 libclang-rt-14-dev bash-completion dpkg-dev debhelper lintian prometheus
	prometheus-alertmanager"

say() { printf 'dev.sh: %s\n' "$*" >&2; }

# Installs whichever of the named Debian packages are missing.
need_packages() {
	local missing=() p
	for p in "$@"; do
		# node and npm from another source (NodeSource's nodejs carries npm) will do.
		case $p in
		nodejs) command -v node >/dev/null && continue ;;
		npm) command -v npm >/dev/null && continue ;;
		esac
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
	done
	((${#missing[@]})) || return 0
	say "installing Debian packages: ${missing[*]}"
	local sudo=()
	if [ "$(id -u)" -ne 0 ]; then
		command -v sudo >/dev/null || { say "run as root or install: ${missing[*]}"; exit 1; }
		sudo=(sudo)
	fi
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
	"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
		"${missing[@]}" >/dev/null
}

# build DIR [configure flags...]: configure once, then make.
build() {
	local dir=$1
	shift
	[ -x configure ] || autoreconf -fi >/dev/null 2>&1 || autoreconf -fi
	mkdir -p "$dir"
	if [ ! -f "$dir/Makefile" ]; then
		(cd "$dir" && "$top/configure" -q "$@")
	fi
	make -C "$dir" -j"$jobs" -s >/dev/null
}

cmd_run() {
	# shellcheck disable=SC2086
	need_packages $build_pkgs curl
	build build
	local state=${OUTPOST_STATE_DIR:-./var} listen=${OUTPOST_LISTEN:-127.0.0.1:8080}
	local log=$state/outpostd.log
	mkdir -p "$state/templates"
	# The local template: outpostd itself keeps two outpost-agent processes on this
	# host (up to four when pending instances need them), labelled with its arch.
	cat >"$state/templates/local.json" <<JSON
{
  "description": "outpost-agent processes on this host, started and stopped by outpostd",
  "capacity": { "cpu": 4, "memory_mb": 4096, "slots": 4 },
  "labels": { "arch": "$(uname -m)" },
  "min": 2,
  "max": 4,
  "cooldown": "30s",
  "idle_timeout": "10m",
  "provisioner": { "type": "local" }
}
JSON
	# The example alert rules, once: the operator's edits to them stay.
	[ -f "$state/alerts.json" ] || cp packaging/alerts/alerts.json.example "$state/alerts.json"
	build/src/server/outpostd --listen "$listen" --state-dir "$state" --log-format text \
		--template-dir "$state/templates" --runbook-dir "$top/runbooks" --web-dir "$top/web" \
		--alerts-file "$state/alerts.json" 2> >(tee -a "$log" >&2) &
	local pid=$!
	trap 'kill -TERM $pid 2>/dev/null; wait $pid' INT TERM
	local url="" i
	for i in $(seq 100); do
		url=$(grep 'outpostd.listening' "$log" 2>/dev/null | tail -n 1 |
			sed -n 's/.* url=\([^ ]*\).*/\1/p') || true
		[ -n "$url" ] && curl -fs "$url/readyz" >/dev/null 2>&1 && break
		kill -0 $pid 2>/dev/null || { say "outpostd did not start (see $log)"; exit 1; }
		sleep 0.1
	done
	local cli=(build/src/cli/outpost --server "$url" --token-file "$state/admin.token")
	local f name
	for f in demo/definitions/*.json; do
		name=$(sed -n 's/.*"name": *"\([^"]*\)".*/\1/p' "$f" | head -n 1)
		"${cli[@]}" definition get "$name" >/dev/null 2>&1 ||
			"${cli[@]}" definition create -f "$f" >/dev/null
	done
	cat >&2 <<MSG

  Outpost is running (pid $pid), with the template "local": two outpost-agent
  processes on this host (local-1, local-2), up to four as pending instances need.
    in a browser:      $url/  (sign in with the admin token: paste the
                       contents of $state/admin.token)
    in a terminal:     build/src/tui/outpost-top --server $url --token-file $state/admin.token
                       (the dashboard; over SSH too: ? lists its keys, q quits)
    API:               $url  (the event stream: $url/api/v1/events)
    admin token:       $state/admin.token
    command line:      build/src/cli/outpost --server $url --token-file $state/admin.token instance list
    start an instance: build/src/cli/outpost --server $url --token-file $state/admin.token \\
                         instance create --definition lab-linux --owner ana --start now --duration 10m
    the workers:       build/src/cli/outpost --server $url --token-file $state/admin.token worker list
    demo definitions:  $(ls demo/definitions | sed 's/\.json$//' | tr '\n' ' ')
    runbooks:          build/src/cli/outpost --server $url --token-file $state/admin.token runbook list
                       (from $top/runbooks; alert rules in $state/alerts.json, SIGHUP reloads)
    logs:              $log, $state/workers/NAME/agent.log
  Ctrl-C stops the server and its agents; the state stays in $state, and hooks still
  running go on under their shims until the agents, started again with the server,
  take them back.

MSG
	wait $pid
}

# Reads automake's test-suite.log summaries and prints the one closing line.
summarize() {
	local pass=0 fail=0 skip=0 f n
	for f in "$@"; do
		[ -f "$f" ] || continue
		n=$(sed -n 's/^# PASS: *//p' "$f" | head -n 1); pass=$((pass + ${n:-0}))
		n=$(sed -n 's/^# FAIL: *//p' "$f" | head -n 1); fail=$((fail + ${n:-0}))
		n=$(sed -n 's/^# ERROR: *//p' "$f" | head -n 1); fail=$((fail + ${n:-0}))
		n=$(sed -n 's/^# XPASS: *//p' "$f" | head -n 1); fail=$((fail + ${n:-0}))
		n=$(sed -n 's/^# SKIP: *//p' "$f" | head -n 1); skip=$((skip + ${n:-0}))
	done
	echo "$pass $fail $skip"
}

# check NAME DIR all|plain [configure flags...]: builds DIR and runs its tests: all
# of them (make check), or the plain build's share (tests/Makefile.am's
# check-plain, and the fuzz harnesses' replays).
check() {
	local name=$1 dir=$2 which=$3
	shift 3
	say "$name: build, then make check ($which)"
	rm -f "$dir/tests/test-suite.log" "$dir/tests/fuzz/test-suite.log"
	if ! build "$dir" "$@" >"$dir/build.out" 2>&1; then
		cat "$dir/build.out" >&2
		return 1
	fi
	# For make check only (local: the fuzz step and distcheck set their own).
	local -x ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
	local -x UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
	if [ "$which" = plain ]; then
		{
			make -C "$dir/tests" check-plain -j"$jobs" &&
				make -C "$dir/tests/fuzz" check -j"$jobs"
		} >"$dir/check.out" 2>&1
	else
		make -C "$dir" check -j"$jobs" >"$dir/check.out" 2>&1
	fi
}

cmd_test() {
	# shellcheck disable=SC2086
	need_packages $build_pkgs $test_pkgs
	local rc=0 pass=0 fail=0 skip=0 p f s dir
	local logs=(build/tests/test-suite.log build-asan/tests/test-suite.log
		build/tests/fuzz/test-suite.log build-asan/tests/fuzz/test-suite.log)

	mkdir -p build build-asan
	# Every test runs in the sanitizer build; the plain one runs its share (see
	# PLAIN_TESTS in tests/Makefile.am): the whole suite twice took most of CI's time.
	check "warnings as errors" build plain --enable-werror || rc=1
	check "AddressSanitizer and UBSan" build-asan all --enable-werror --enable-sanitizers || rc=1
	for dir in build build-asan; do
		# What failed and why: the harness's line and log for each failed test.
		grep -hE '^(FAIL|ERROR|XPASS):' "$dir/check.out" >&2 2>/dev/null || true
		for f in "$dir/tests/test-suite.log" "$dir/tests/fuzz/test-suite.log"; do
			if [ -f "$f" ] && grep -qE '^# (FAIL|ERROR|XPASS): *[1-9]' "$f"; then
				cat "$f" >&2
			fi
		done
	done
	read -r p f s < <(summarize "${logs[@]}")
	pass=$p fail=$f skip=$s
	# The tarball builds, installs, and passes its tests from a read-only source tree.
	say "make distcheck"
	if make -C build distcheck -j"$jobs" >build/distcheck.out 2>&1; then
		pass=$((pass + 1))
	else
		echo "FAIL: make distcheck" >&2
		tail -n 40 build/distcheck.out >&2
		fail=$((fail + 1))
	fi
	# The Debian packages: built, checked by lintian, unpacked and started (make check-deb).
	say "make check-deb"
	if make -C build check-deb >build/check-deb.out 2>&1; then
		pass=$((pass + 1))
	elif grep -q '^SKIP: ' build/check-deb.out; then
		skip=$((skip + 1))
	else
		echo "FAIL: make check-deb" >&2
		tail -n 40 build/check-deb.out >&2
		fail=$((fail + 1))
	fi
	# The fuzz harnesses, each briefly (tests/fuzz, docs/fuzzing.md): one test each.
	local secs=${FUZZ_SECONDS:-8} fz
	say "fuzz: each harness for $secs s"
	fz=0
	make -C build fuzz FUZZ_SECONDS="$secs" FUZZ_JOBS="${FUZZ_JOBS:-2}" >build/fuzz.out 2>&1 || fz=1
	p=$(grep -c '^PASS: fuzz/' build/fuzz.out || true)
	f=$(grep -c '^FAIL: fuzz/' build/fuzz.out || true)
	[ $fz -ne 0 ] && [ "$f" -eq 0 ] && f=1	# it failed before a harness ran
	pass=$((pass + p)) fail=$((fail + f))
	if [ $fz -ne 0 ]; then
		grep -E '^(FAIL: fuzz/|  )' build/fuzz.out >&2 || tail -n 20 build/fuzz.out >&2
	fi
	# A build that broke before its tests ran is a failure, not zero tests.
	if [ $rc -ne 0 ] && [ "$fail" -eq 0 ]; then
		tail -n 30 build/check.out build-asan/check.out >&2 2>/dev/null || true
		fail=$((fail + 1))
	fi
	if [ "$skip" -gt 0 ]; then
		echo "$pass passed, $fail failed, $skip skipped"
	else
		echo "$pass passed, $fail failed"
	fi
	[ "$fail" -eq 0 ]
}

case "${1:-}" in
run) cmd_run ;;
test) cmd_test ;;
*)
	echo "usage: ./dev.sh run|test" >&2
	exit 2
	;;
esac
