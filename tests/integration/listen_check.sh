#!/bin/sh
# outpostd serves only where it was asked: when libwebsockets cannot read the
# interface list (here getifaddrs() fails, as it does in a sandbox that
# forbids netlink sockets) it binds every interface, so outpostd refuses to
# start instead.
. "$(dirname "$0")/lib.sh"

command -v cc >/dev/null || { echo "SKIP: listen_check needs cc" >&2; exit 77; }
cat >"$WORK/noifaddrs.c" <<'C'
/* getifaddrs() fails as it does where netlink sockets are forbidden (EAFNOSUPPORT). */
#include <errno.h>
#include <ifaddrs.h>

int
getifaddrs(struct ifaddrs **ifap)
{
	*ifap = 0;
	errno = EAFNOSUPPORT;
	return -1;
}
C
cc -shared -fPIC -o "$WORK/noifaddrs.so" "$WORK/noifaddrs.c" || fail "cannot build the shim"

# Without netlink, 127.0.0.1 cannot be honoured: refused, with the reason.
LD_PRELOAD=$WORK/noifaddrs.so ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
	timeout 10 "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/a" --log-format json \
	>"$WORK/a.log" 2>&1
rc=$?
[ "$rc" -eq 1 ] || fail "outpostd without netlink exited $rc, not 1: $(tail -n 3 "$WORK/a.log")"
grep -q "bound every interface" "$WORK/a.log" || fail "no reason given: $(tail -n 3 "$WORK/a.log")"
grep -q '"outpostd.listening"' "$WORK/a.log" && fail "it said it was listening"

# Asked for every interface, the same sandbox is fine (nothing was narrowed).
LD_PRELOAD=$WORK/noifaddrs.so ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=0 \
	"$OUTPOSTD" --listen :0 --state-dir "$WORK/b" --log-format json >"$WORK/b.log" 2>&1 &
track_pid $!
wait_for 10 "outpostd on every interface to listen" grep -q '"outpostd.listening"' "$WORK/b.log"

# And normally, 127.0.0.1 is what it binds.
start_server
port=${SERVER_URL##*:}
ss -ltn 2>/dev/null | grep -q "127.0.0.1:$port " || [ ! -x "$(command -v ss)" ] ||
	fail "not bound to 127.0.0.1:$port: $(ss -ltn | grep ":$port ")"
exit 0
