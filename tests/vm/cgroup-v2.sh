#!/bin/bash
# The agent's containment on a real cgroup v2 host under systemd 252: a Debian
# 12 VM under qemu (software emulation will do), built here from the host's
# Debian mirror with debootstrap, the outpost of this build tree installed in it.
# At boot the VM runs tests/vm/guest.sh (the integration tests that need
# cgroups, then the shipped outpost-agent@.service across restarts) and powers
# off; this script prints its PASS/FAIL summary and exits 0 when all passed.
# Not part of `make check`: run `make check-vm` (as root) from the build tree.
# See tests/vm/README.md. Exit 77: no qemu, debootstrap or root here.
#
# Settings (environment): those of tests/vm/lib.sh (the cache, the mirror, the
# time bound); OUTPOST_VM_TESTS, the integration tests to run in it.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
VM_NAME=cgroup-v2
. "$top_srcdir/tests/vm/lib.sh"

vm_need
for b in server/outpostd cli/outpost agent/outpost-agent agent/outpost-shim; do
	[ -x "$top_builddir/src/$b" ] || { echo "FAIL: cgroup-v2: $b is not built" >&2; exit 1; }
done
vm_base

# ---- this build, in a copy of the base ----
vm_root
make -s -C "$top_builddir" install DESTDIR="$ROOT" >"$CACHE/install.log" 2>&1 ||
	{ tail -n 5 "$CACHE/install.log" >&2; echo "FAIL: cgroup-v2: make install" >&2; exit 1; }
mkdir -p "$ROOT/opt/outpost/src/tests" "$ROOT/opt/outpost/build/src"
cp -a "$top_srcdir/tests/integration" "$top_srcdir/tests/vm" "$ROOT/opt/outpost/src/tests/"
for d in server cli agent tui; do
	mkdir -p "$ROOT/opt/outpost/build/src/$d"
	find "$top_builddir/src/$d" -maxdepth 1 -type f -perm -u+x -name 'outpost*' \
		-exec cp {} "$ROOT/opt/outpost/build/src/$d/" \;
done

# ---- the boot, and what it found ----
vm_boot cgroup-v2 /opt/outpost/src/tests/vm/guest.sh
vm_results "cgroup v2 in a VM" || exit 1
grep -q '^RESULT [A-Z]* systemd ' "$CACHE/out/outpost-vm/results" ||
	{ echo "FAIL: cgroup-v2: the systemd checks did not run" >&2; exit 1; }
