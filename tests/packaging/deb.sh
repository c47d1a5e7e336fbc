#!/usr/bin/env bash
# make check-deb: the Debian packages, built and used. From the source this
# build directory was made from (make distdir, and debian/ beside it, in a
# temporary directory: dpkg-buildpackage writes beside the tree),
# dpkg-buildpackage -us -uc -b makes outpost and outpost-agent; lintian finds
# no error in them; outpost-agent depends on neither SQLite nor ncurses; each
# package holds its files and its units, enabled the Debian way. Then both are
# unpacked (dpkg -x, never installed) into a scratch root, and the installed
# outpostd and outpost-agent are started with their units' own ExecStart lines
# (%i filled in; the program's path under the scratch root; the directories
# systemd would give through the environment, as systemd gives them): the
# server is ready and serves the web app, a worker registers with a join token
# made by the installed outpost, from an agent.conf written from the installed
# example, and runs an instance's hook; both stop with 0.
#
# Skipped (77) without dpkg-buildpackage, debhelper or lintian, or when the
# packages' build dependencies are missing (dpkg-checkbuilddeps says which).
. "$(dirname "$0")/../integration/lib.sh"

for tool in dpkg-buildpackage dh lintian dpkg-checkbuilddeps; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "SKIP: $TEST_NAME needs $tool (apt-get install dpkg-dev debhelper lintian)" >&2
		exit 77
	fi
done
[ -d "$top_srcdir/debian" ] || fail "$top_srcdir has no debian/ (a release tarball has none)"
if ! deps=$(cd "$top_srcdir" && dpkg-checkbuilddeps 2>&1); then
	echo "SKIP: $TEST_NAME: $deps" >&2
	exit 77
fi

# The package's version is configure's.
version=$(sed -n 's/^AC_INIT(\[outpost\], \[\([^]]*\)\].*/\1/p' "$top_srcdir/configure.ac")
[ -n "$version" ] || fail "no version in configure.ac's AC_INIT"
assert_eq "$version" "$(cd "$top_srcdir" && dpkg-parsechangelog -S Version)" \
	"debian/changelog's version against configure.ac's AC_INIT"

# ---- the build ----

src=$WORK/src/outpost-$version
mkdir -p "$WORK/src"
# (distdir must be relative: automake's subdirectories put ../.. before it)
make -s -C "$top_builddir" distdir distdir="$(realpath --relative-to="$top_builddir" "$src")" \
	>"$WORK/distdir.log" 2>&1 ||
	fail "make distdir: $(tail -n 5 "$WORK/distdir.log")"
[ ! -e "$src/debian" ] || fail "the release tarball holds debian/"
cp -R "$top_srcdir/debian" "$src/debian"
jobs=$(nproc 2>/dev/null || echo 2)
note "dpkg-buildpackage -us -uc -b (minutes)"
(cd "$src" && DEB_BUILD_OPTIONS="nocheck parallel=$jobs" dpkg-buildpackage -us -uc -b) \
	>"$WORK/build.log" 2>&1 || fail "dpkg-buildpackage: $(tail -n 20 "$WORK/build.log")"
deb=$WORK/src/outpost_${version}_$(dpkg --print-architecture).deb
agent_deb=$WORK/src/outpost-agent_${version}_$(dpkg --print-architecture).deb
changes=$WORK/src/outpost_${version}_$(dpkg --print-architecture).changes
for f in "$deb" "$agent_deb" "$changes"; do
	[ -f "$f" ] || fail "dpkg-buildpackage made no $(basename "$f"): $(ls "$WORK/src")"
done
# OUTPOST_DEB_KEEP=DIR: the packages are kept there too (tests/vm/deb.sh installs them).
if [ -n "${OUTPOST_DEB_KEEP:-}" ]; then
	mkdir -p "$OUTPOST_DEB_KEEP" && cp "$deb" "$agent_deb" "$OUTPOST_DEB_KEEP/" ||
		fail "cannot keep the packages in $OUTPOST_DEB_KEEP"
fi

# lintian: no error (what it warns of is listed, and explained in debian/README.source).
lintian --fail-on error --no-tag-display-limit "$changes" >"$WORK/lintian.log" 2>&1
rc=$?
grep -E '^[EW]: ' "$WORK/lintian.log" >&2
[ "$rc" -eq 0 ] || fail "lintian found errors (exit $rc): $(grep '^E: ' "$WORK/lintian.log")"

# What each package depends on: the agent's, what it links alone.
depends() { dpkg-deb -f "$1" Depends; }
agent_depends=$(depends "$agent_deb")
note "outpost-agent Depends: $agent_depends"
for lib in libsqlite3 libncurses libtinfo; do
	case $agent_depends in
	*"$lib"*) fail "outpost-agent depends on $lib: $agent_depends" ;;
	esac
done
for lib in libwebsockets libjansson libcurl; do
	assert_contains "$lib" "$agent_depends" "outpost-agent's dependencies"
done
assert_contains "libsqlite3" "$(depends "$deb")" "outpost's dependencies"

# What each holds.
contents() { dpkg-deb -c "$1" | awk '{ print $6 }' | sed 's|^\.||'; }
for f in /usr/bin/outpost-agent /usr/libexec/outpost/outpost-shim \
	/lib/systemd/system/outpost-agent@.service /lib/systemd/system/outpost-instances@.service \
	/etc/outpost/agent.conf.example /usr/share/man/man8/outpost-agent.8.gz; do
	contents "$agent_deb" | grep -qx "$f" || fail "outpost-agent does not hold $f"
done
for f in /usr/sbin/outpostd /usr/bin/outpost /usr/bin/outpost-top \
	/lib/systemd/system/outpostd.service /usr/share/outpost/web/index.html \
	/usr/share/bash-completion/completions/outpost /etc/outpost/outpostd.conf.example \
	/etc/outpost/runbooks/backup-database.json /usr/share/man/man8/outpostd.8.gz \
	/usr/share/man/man1/outpost.1.gz; do
	contents "$deb" | grep -qx "$f" || fail "outpost does not hold $f"
done
contents "$deb" | grep -q 'outpost-agent\|outpost-shim' && fail "outpost holds the agent"

# The units, the Debian way: outpostd enabled and started; the templates never enabled.
dpkg-deb -e "$deb" "$WORK/ctl"
dpkg-deb -e "$agent_deb" "$WORK/agent-ctl"
assert_contains "deb-systemd-helper enable 'outpostd.service'" "$(cat "$WORK/ctl/postinst")" \
	"outpost's postinst enables outpostd.service"
grep -q 'deb-systemd-helper enable\|deb-systemd-invoke start' "$WORK/agent-ctl/postinst" &&
	fail "outpost-agent's postinst enables or starts a unit: $(cat "$WORK/agent-ctl/postinst")"
cat "$WORK/agent-ctl/postinst" "$WORK/agent-ctl/prerm" "$WORK/agent-ctl/postrm" 2>/dev/null |
	grep -v '^[[:space:]]*#' | grep -q 'outpost-instances' &&
	fail "outpost-agent's scripts touch outpost-instances@ (stopping one ends its instances)"

# ---- installed in a scratch root ----

root=$WORK/root
dpkg -x "$deb" "$root"
dpkg -x "$agent_deb" "$root"
unit_dir=$root/lib/systemd/system
grep -qx 'Type=notify' "$unit_dir/outpostd.service" ||
	fail "the packaged outpostd.service (built with libsystemd) is not Type=notify"

# exec_start UNIT INSTANCE: sets CMD, the unit's ExecStart= (continuations joined, %i filled in).
exec_start() {
	local line
	line=$(sed -e ':a' -e '/\\$/{N;s/\\\n//;ba' -e '}' "$1" | sed -n 's/^ExecStart=//p')
	[ -n "$line" ] || fail "$1 has no ExecStart="
	line=${line//%i/$2}
	read -r -a CMD <<<"$line"
}
# unit_env UNIT NAME: the value the unit's Environment= gives NAME.
unit_env() {
	sed -n "s/^Environment=$2=//p" "$1"
}

# outpostd, as its unit starts it: StateDirectory= is $STATE_DIRECTORY.
exec_start "$unit_dir/outpostd.service" ""
assert_eq "/usr/sbin/outpostd" "${CMD[*]}" "outpostd.service's ExecStart"
mkdir -p "$WORK/var/lib/outpost"
chmod 700 "$WORK/var/lib/outpost"
SERVER_DIR=$WORK/var/lib/outpost
SERVER_LOG=$WORK/outpostd.log
(
	_ws_close_fds_but
	export STATE_DIRECTORY=$SERVER_DIR OUTPOST_LISTEN=127.0.0.1:0 OUTPOST_LOG_FORMAT=json \
		OUTPOST_WEB_DIR=$root/usr/share/outpost/web \
		OUTPOST_RUNBOOK_DIR=$root/etc/outpost/runbooks \
		OUTPOST_TEMPLATE_DIR=$root/etc/outpost/templates \
		OUTPOST_ALERTS_FILE=$WORK/alerts.json
	unset NOTIFY_SOCKET OUTPOST_CONFIG
	exec "$root${CMD[0]}" "${CMD[@]:1}"
) >"$SERVER_LOG" 2>&1 &
SERVER_PID=$!
track_pid "$SERVER_PID"
wait_for 30 "the installed outpostd listening" sh -c "grep -q outpostd.listening '$SERVER_LOG'"
SERVER_URL=$(log_url "$SERVER_LOG")
SERVER_TOKEN=$(head -n 1 "$SERVER_DIR/admin.token")
TOKEN=$SERVER_TOKEN
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "$SERVER_URL/readyz")" "/readyz"
assert_contains "<html" "$(curl -s "$SERVER_URL/")" "the installed web app at /"
api_ok 200 GET /api/v1/runbooks
assert_contains "backup-database" "$BODY" "the installed runbooks"

# The installed command line makes a join token; agent.conf from the installed example.
cli=("$root/usr/bin/outpost" --server "$SERVER_URL" --token-file "$SERVER_DIR/admin.token")
"${cli[@]}" token create --name hosts --role agent --names 'pkg-*' --uses 1 \
	>"$WORK/join.token" 2>"$WORK/token.err" || fail "outpost token create: $(cat "$WORK/token.err")"
chmod 600 "$WORK/join.token"
mkdir -p "$WORK/etc"
sed -e "s|^server = .*|server = $SERVER_URL|" -e "s|^token_file = .*|token_file = $WORK/join.token|" \
	"$root/etc/outpost/agent.conf.example" >"$WORK/etc/agent.conf"
grep -q "^server = $SERVER_URL\$" "$WORK/etc/agent.conf" ||
	fail "agent.conf.example has no server line to set"

# outpost-agent@pkg-01, as its unit starts it: OUTPOST_CONFIG from Environment=,
# StateDirectory= as $STATE_DIRECTORY (mode 0711); hook uids of this test's own.
conf=$(unit_env "$unit_dir/outpost-agent@.service" OUTPOST_CONFIG)
assert_eq /etc/outpost/agent.conf "$conf" "the agent unit's OUTPOST_CONFIG"
exec_start "$unit_dir/outpost-agent@.service" pkg-01
assert_eq "/usr/bin/outpost-agent --name pkg-01" "${CMD[*]:0:3}" "the agent unit's ExecStart"
agent_dir=$WORK/var/lib/outpost-agent/pkg-01
mkdir -p "$agent_dir"
chmod 711 "$WORK/var/lib/outpost-agent" "$agent_dir"
_hook_uids pkg-01
_has_agents=1
(
	_ws_close_fds_but
	export OUTPOST_CONFIG=$WORK/etc${conf#/etc/outpost} STATE_DIRECTORY=$agent_dir \
		OUTPOST_HOOK_UIDS=$HOOK_UIDS OUTPOST_HEARTBEAT=300ms OUTPOST_LOG_FORMAT=json
	exec "$root${CMD[0]}" "${CMD[@]:1}"
) >"$WORK/agent.pkg-01.log" 2>&1 &
AGENT_PID=$!
track_pid "$AGENT_PID"
wait_online pkg-01

# It runs an instance: the hook, under the installed shim, writes where it ran.
api_ok 201 POST /api/v1/definitions '{"name":"pkg","hooks":{"run":["sh","-c",
	"echo \"ran on $OUTPOST_WORKER\" > \"$OUTPOST_WORK_DIR/seen\"; exec sleep 60"]}}'
api_ok 201 POST /api/v1/instances "{\"definition\":\"pkg\",\"owner\":\"o\",\
\"timeslot_start\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"timeslot_end\":\"$SLOT_END\"}"
id=$(jbody .id)
wait_for 20 "the hook of instance $id" test -s "$agent_dir/instances/$id/work/seen"
assert_eq "ran on pkg-01" "$(cat "$agent_dir/instances/$id/work/seen")" "the hook's output"
wait_state "$id" running
api_ok 200 POST "/api/v1/instances/$id/terminate"
wait_state "$id" terminated

# Both stop with 0.
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 20
assert_eq 0 "$EXIT_RC" "the installed agent's exit status after SIGTERM"
kill -TERM "$SERVER_PID"
wait_exit "$SERVER_PID" 20
assert_eq 0 "$EXIT_RC" "the installed outpostd's exit status after SIGTERM"
exit 0
