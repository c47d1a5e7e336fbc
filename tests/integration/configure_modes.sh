#!/usr/bin/env bash
# What configure makes of the tree in its other modes, in build directories of
# this test's own (configure, and the few make targets that matter; no
# compiling): outpostd.service is Type=notify with its watchdog only in a build
# that can notify (libsystemd), else Type=exec with no watchdog line; and
# --enable-agent-only configures where pkg-config knows neither SQLite, ncurses,
# libssl nor libsystemd (where a full build refuses, naming what to install),
# and installs the agent's unit, example and man page, none of the server's.
. "$(dirname "$0")/lib.sh"

# check_unit FILE notify|exec: the unit's type, and the watchdog only with notify.
check_unit() {
	local u=$1 type=$2
	[ -f "$u" ] || fail "$u was not made"
	assert_eq "Type=$type" "$(grep '^Type=' "$u")" "$u: its type"
	if [ "$type" = notify ]; then
		assert_eq "WatchdogSec=30" "$(grep '^WatchdogSec=' "$u")" "$u: the watchdog"
		assert_eq "NotifyAccess=main" "$(grep '^NotifyAccess=' "$u")" "$u: NotifyAccess"
	else
		grep -q '^WatchdogSec=\|^NotifyAccess=' "$u" && fail "$u: a watchdog line in Type=exec"
	fi
	grep -qE '@[A-Za-z_]+@' "$u" && fail "$u: a placeholder left: $(grep -E '@[A-Za-z_]+@' "$u")"
	grep -q '^ExecStart=/' "$u" || fail "$u: no ExecStart= with a path"
}

# This build's unit.
if grep -q '^#define HAVE_SYSTEMD 1' "$top_builddir/config.h"; then
	mine=notify other=exec other_flag=--without-systemd
else
	mine=exec other=notify other_flag=--with-systemd
fi
check_unit "$top_builddir/packaging/systemd/outpostd.service" "$mine"

# The other mode (with libsystemd only where this host has it).
if [ "$other" = exec ] || pkg-config --exists libsystemd; then
	mkdir -p "$WORK/other"
	(cd "$WORK/other" && "$top_srcdir/configure" --without-cmocka "$other_flag") \
		>"$WORK/other.log" 2>&1 || fail "configure $other_flag: $(tail -n 5 "$WORK/other.log")"
	assert_contains "outpostd.service: Type=$other" "$(cat "$WORK/other.log")" \
		"configure's summary of the unit"
	make -s -C "$WORK/other/packaging/systemd" outpostd.service >>"$WORK/other.log" 2>&1 ||
		fail "make outpostd.service ($other_flag): $(tail -n 5 "$WORK/other.log")"
	check_unit "$WORK/other/packaging/systemd/outpostd.service" "$other"
else
	note "no libsystemd on this host: the Type=notify build is not configured"
fi

# A pkg-config that knows all but SQLite, ncurses, libssl/libcrypto and libsystemd.
mkdir -p "$WORK/pc"
for d in $(pkg-config --variable pc_path pkg-config | tr ':' ' '); do
	for f in "$d"/*.pc; do
		[ -f "$f" ] || continue
		case $(basename "$f") in
		sqlite3.pc | ncurses*.pc | libssl.pc | libcrypto.pc | openssl.pc | libsystemd.pc) ;;
		*) ln -sf "$f" "$WORK/pc/" ;;
		esac
	done
done
export PKG_CONFIG_LIBDIR=$WORK/pc

mkdir -p "$WORK/full"
(cd "$WORK/full" && "$top_srcdir/configure" -q --without-cmocka) >"$WORK/full.log" 2>&1 &&
	fail "a full build configured without SQLite"
assert_contains "sqlite3 >= 3.37 was not found by pkg-config: install the Debian package libsqlite3-dev" \
	"$(cat "$WORK/full.log")" "a full build without SQLite: what to install"

mkdir -p "$WORK/agent"
(cd "$WORK/agent" && "$top_srcdir/configure" --enable-agent-only) >"$WORK/agent.log" 2>&1 ||
	fail "configure --enable-agent-only: $(tail -n 5 "$WORK/agent.log")"
assert_contains "agent only:    yes" "$(cat "$WORK/agent.log")" "configure's summary"
(cd "$WORK/agent" && "$top_srcdir/configure" -q --enable-agent-only=maybe) \
	>"$WORK/agent-bad.log" 2>&1 && fail "--enable-agent-only=maybe was taken"
assert_contains "--enable-agent-only takes no value" "$(cat "$WORK/agent-bad.log")" \
	"a bad --enable-agent-only"
# What it installs of the units, examples and man pages: the agent's alone.
for d in packaging/systemd docs; do
	make -s -C "$WORK/agent/$d" install DESTDIR="$WORK/root" >>"$WORK/agent.log" 2>&1 ||
		fail "make install in $d (agent only): $(tail -n 5 "$WORK/agent.log")"
done
got=$(cd "$WORK/root" && find . -type f | sed 's|.*/||' | sort | tr '\n' ' ')
assert_eq "agent.conf.example outpost-agent.8 outpost-agent@.service outpost-instances@.service " \
	"$got" "what an agent-only build installs of packaging/systemd and docs"
exit 0
