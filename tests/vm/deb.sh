#!/bin/bash
# The Debian packages on a clean Debian 12: built from this tree (by
# tests/packaging/deb.sh, which checks them first), installed with apt in a VM
# that has nothing of Outpost (the base image of tests/vm/lib.sh, booted under
# qemu with systemd 252 and no network), then used as
# docs/operations/worker-host-deb.md says: the server the package started
# answers, a join token, agent.conf from the example, outpost-agent@lab-01
# enabled, an instance that runs there, and terminated (tests/vm/guest_deb.sh).
# Not part of `make check`: `make check-vm-deb` (as root), minutes under
# emulation. Exit 77: no qemu, debootstrap or root here.
#
# Settings (environment): those of tests/vm/lib.sh; OUTPOST_DEBS, a directory
# that holds outpost_*.deb and outpost-agent_*.deb already built (else they are
# built here).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
VM_NAME=vm-deb
. "$top_srcdir/tests/vm/lib.sh"

vm_need
debs=${OUTPOST_DEBS:-}
if [ -z "$debs" ]; then
	debs=$CACHE/debs
	rm -rf "$debs"
	vm_say "building the packages (tests/packaging/deb.sh; minutes)"
	top_srcdir=$top_srcdir top_builddir=$top_builddir OUTPOST_DEB_KEEP=$debs \
		bash "$top_srcdir/tests/packaging/deb.sh" >"$CACHE/deb-build.log" 2>&1 ||
		{ tail -n 20 "$CACHE/deb-build.log" >&2; echo "FAIL: $VM_NAME: the packages" >&2; exit 1; }
fi
ls "$debs"/outpost_*.deb "$debs"/outpost-agent_*.deb >/dev/null 2>&1 ||
	{ echo "FAIL: $VM_NAME: no outpost_*.deb and outpost-agent_*.deb in $debs" >&2; exit 1; }
vm_base

# ---- a copy of the base: the packages, and what they need from Debian in apt's cache ----
vm_root
mkdir -p "$ROOT/opt/debs" "$ROOT/opt/outpost"
cp "$debs"/outpost_*.deb "$debs"/outpost-agent_*.deb "$ROOT/opt/debs/"
cp "$top_srcdir/tests/vm/guest_deb.sh" "$ROOT/opt/outpost/"
cp /etc/resolv.conf "$ROOT/etc/resolv.conf" 2>/dev/null
# Only downloaded here (the host's mirror, as the VM's apt would have fetched them).
if ! chroot "$ROOT" sh -c 'apt-get update -q && cd /opt/debs &&
	apt-get install -y -q --download-only ./outpost_*.deb ./outpost-agent_*.deb' \
	>"$CACHE/deb-deps.log" 2>&1; then
	tail -n 5 "$CACHE/deb-deps.log" >&2
	vm_skip "cannot fetch the packages' dependencies into the image (log: $CACHE/deb-deps.log)"
fi
dpkg-query --root="$ROOT" -W 'outpost*' >/dev/null 2>&1 &&
	{ echo "FAIL: $VM_NAME: the base image already holds outpost" >&2; exit 1; }

# ---- the boot, and what it found ----
vm_boot deb /opt/outpost/guest_deb.sh
vm_results "the Debian packages on a clean Debian 12"
