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
# Settings (environment): OUTPOST_VM_DIR, the cache (/var/tmp/outpost-vm);
# OUTPOST_VM_MIRROR, the Debian mirror (else the first of apt's sources for
# bookworm); OUTPOST_VM_TIMEOUT, the most the VM may run in seconds (3600);
# OUTPOST_VM_TESTS, the integration tests to run in it.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
CACHE=${OUTPOST_VM_DIR:-/var/tmp/outpost-vm}
TIMEOUT=${OUTPOST_VM_TIMEOUT:-3600}
PACKAGES=systemd,systemd-sysv,dbus,libwebsockets17,libjansson4,libcurl4,libsqlite3-0,\
libncursesw6,libssl3,libsystemd0,curl,jq,procps,python3,sqlite3,psmisc,iproute2,e2fsprogs

skip() { echo "SKIP: cgroup-v2: $*" >&2; exit 77; }
say() { echo "cgroup-v2: $*" >&2; }

[ "$(id -u)" = 0 ] || skip "needs root (debootstrap, a chroot, mkfs.ext4 -d with owners)"
for t in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs timeout chroot; do
	command -v "$t" >/dev/null 2>&1 ||
		skip "needs $t (apt-get install qemu-system-x86 debootstrap e2fsprogs)"
done
for b in server/outpostd cli/outpost agent/outpost-agent agent/outpost-shim; do
	[ -x "$top_builddir/src/$b" ] || { echo "FAIL: cgroup-v2: $b is not built" >&2; exit 1; }
done
mkdir -p "$CACHE" || exit 1

# ---- the base image (once; cached): debootstrap, and a kernel in the chroot ----
mirror() {
	[ -n "${OUTPOST_VM_MIRROR:-}" ] && { echo "$OUTPOST_VM_MIRROR"; return; }
	{
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			awk '$3 == "bookworm" { print $2 }'
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = "" }
			/(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ && match($0, /URIs: *[^ \n]+/) {
				s = substr($0, RSTART, RLENGTH); sub(/URIs: */, "", s); print s }'
	} | head -n 1
}

BASE=$CACHE/base
if [ ! -f "$CACHE/base.done" ]; then
	m=$(mirror)
	[ -n "$m" ] || skip "no Debian bookworm mirror in apt's sources (set OUTPOST_VM_MIRROR)"
	say "building the base image from $m (once; several minutes)"
	rm -rf "$BASE"
	if ! debootstrap --variant=minbase --include="$PACKAGES" bookworm "$BASE" "$m" \
		>"$CACHE/debootstrap.log" 2>&1; then
		tail -n 5 "$CACHE/debootstrap.log" >&2
		skip "debootstrap from $m failed (log: $CACHE/debootstrap.log)"
	fi
	# The kernel and its initrd, made in the image: nothing is installed on this host.
	# The initrd needs only what mounts a virtio disk's ext4 (small, quickly made).
	mkdir -p "$BASE/etc/initramfs-tools/conf.d"
	echo MODULES=list >"$BASE/etc/initramfs-tools/conf.d/outpost-vm.conf"
	printf '%s\n' virtio_pci virtio_blk ext4 >>"$BASE/etc/initramfs-tools/modules"
	if ! DEBIAN_FRONTEND=noninteractive chroot "$BASE" apt-get install -y -q \
		--no-install-recommends linux-image-amd64 initramfs-tools >"$CACHE/kernel.log" 2>&1; then
		tail -n 5 "$CACHE/kernel.log" >&2
		skip "cannot install a kernel in the image (log: $CACHE/kernel.log)"
	fi
	chroot "$BASE" apt-get clean
	touch "$CACHE/base.done"
fi
kernel=$(ls "$BASE"/boot/vmlinuz-* 2>/dev/null | tail -n 1)
initrd=$BASE/boot/initrd.img-${kernel##*/vmlinuz-}
[ -n "$kernel" ] && [ -s "$initrd" ] || skip "no kernel or initrd in $BASE/boot"

# ---- this build, in a copy of the base ----
ROOT=$CACHE/root
rm -rf "$ROOT" "$CACHE/out"
cp -a "$BASE" "$ROOT" || exit 1
make -s -C "$top_builddir" install DESTDIR="$ROOT" >"$CACHE/install.log" 2>&1 ||
	{ tail -n 5 "$CACHE/install.log" >&2; echo "FAIL: cgroup-v2: make install" >&2; exit 1; }
mkdir -p "$ROOT/opt/outpost/src/tests" "$ROOT/opt/outpost/build/src"
cp -a "$top_srcdir/tests/integration" "$top_srcdir/tests/vm" "$ROOT/opt/outpost/src/tests/"
for d in server cli agent tui; do
	mkdir -p "$ROOT/opt/outpost/build/src/$d"
	find "$top_builddir/src/$d" -maxdepth 1 -type f -perm -u+x -name 'outpost*' \
		-exec cp {} "$ROOT/opt/outpost/build/src/$d/" \;
done
echo outpost-vm >"$ROOT/etc/hostname"
echo "/dev/vda / ext4 rw 0 1" >"$ROOT/etc/fstab"
cat >"$ROOT/etc/systemd/system/outpost-vm-check.service" <<'EOF'
[Unit]
Description=Outpost's cgroup v2 checks (tests/vm)
After=basic.target systemd-journald.service
[Service]
Type=oneshot
Delegate=yes
ExecStart=/opt/outpost/src/tests/vm/guest.sh
ExecStopPost=/usr/bin/systemctl --no-block poweroff
StandardOutput=journal+console
TimeoutStartSec=infinity
[Install]
WantedBy=multi-user.target
EOF
ln -sf ../outpost-vm-check.service \
	"$ROOT/etc/systemd/system/multi-user.target.wants/outpost-vm-check.service"
[ -n "${OUTPOST_VM_TESTS+set}" ] &&
	echo "OUTPOST_VM_TESTS=$OUTPOST_VM_TESTS" >"$ROOT/etc/outpost-vm.env" &&
	sed -i 's|^ExecStart=|EnvironmentFile=/etc/outpost-vm.env\nExecStart=|' \
		"$ROOT/etc/systemd/system/outpost-vm-check.service"
IMG=$CACHE/disk.img
rm -f "$IMG"
mkfs.ext4 -q -F -L outpost-vm -d "$ROOT" "$IMG" 6G >/dev/null || exit 1
rm -rf "$ROOT"

# ---- the boot: 1 vCPU, 2 GiB, bounded in time ----
accel=tcg
[ -w /dev/kvm ] && accel=kvm
say "booting (qemu, $accel; at most $TIMEOUT s); the console: $CACHE/console.log"
started=$(date +%s)
timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel "$accel" -m 2048 -smp 1 \
	-nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
	-append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0" \
	-drive "file=$IMG,format=raw,if=virtio,cache=unsafe" </dev/null >"$CACHE/console.log" 2>&1
qrc=$?
say "the VM ran $(($(date +%s) - started)) s (qemu exit $qrc)"
[ "$qrc" = 124 ] && say "timed out after $TIMEOUT s"

# ---- what it found ----
mkdir -p "$CACHE/out"
debugfs -R "rdump /var/log/outpost-vm $CACHE/out" "$IMG" >/dev/null 2>&1
R=$CACHE/out/outpost-vm/results
if [ ! -s "$R" ]; then
	grep 'outpost-vm:' "$CACHE/console.log" | tail -n 20 >&2
	echo "FAIL: cgroup-v2: the VM wrote no results (console: $CACHE/console.log)" >&2
	exit 1
fi
echo "---- cgroup v2 in a VM: $(grep -m1 '^kernel' "$R"); $(grep -m1 '^systemd' "$R") ----"
grep '^RESULT ' "$R" | cut -d' ' -f2-
echo "(logs: $CACHE/out/outpost-vm)"
n_fail=$(grep -c '^RESULT FAIL' "$R")
n_pass=$(grep -c '^RESULT PASS' "$R")
n_skip=$(grep -c '^RESULT SKIP' "$R")
if [ "$n_fail" -gt 0 ] || [ "$n_skip" -gt 0 ] || [ "$n_pass" = 0 ] ||
	! grep -q '^RESULT [A-Z]* systemd ' "$R"; then
	echo "FAIL: cgroup-v2: $n_pass passed, $n_fail failed, $n_skip skipped" >&2
	exit 1
fi
echo "PASS: cgroup-v2: $n_pass passed"
