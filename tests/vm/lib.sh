# shellcheck shell=bash
# What the VM checks share (cgroup-v2.sh, deb.sh). Sourced, not run.
#
#   vm_base          the base image (debootstrap of Debian 12 with a kernel),
#                    made once and cached in $CACHE/base; sets KERNEL and INITRD
#   vm_root          a copy of the base in $CACHE/root to add to; sets ROOT
#   vm_boot NAME CMD makes ROOT a disk whose systemd runs CMD once at boot (a
#                    oneshot unit with Delegate=yes) and then powers off; boots it
#                    under qemu (1 vCPU, 2 GiB, at most $TIMEOUT s, no network);
#                    copies the guest's /var/log/outpost-vm to $CACHE/out
#   vm_results NAME  prints the guest's RESULT lines; 0 when all passed
#
# The guest writes "RESULT PASS|FAIL|SKIP NAME SECONDS [why]" lines to
# /var/log/outpost-vm/results, its logs beside them.
#
# Settings (environment): OUTPOST_VM_DIR, the cache (/var/tmp/outpost-vm);
# OUTPOST_VM_MIRROR, the Debian mirror (else the first of apt's sources for
# bookworm); OUTPOST_VM_TIMEOUT, the most the VM may run in seconds (3600).

CACHE=${OUTPOST_VM_DIR:-/var/tmp/outpost-vm}
TIMEOUT=${OUTPOST_VM_TIMEOUT:-3600}
VM_PACKAGES=systemd,systemd-sysv,dbus,libwebsockets17,libjansson4,libcurl4,libsqlite3-0,\
libncursesw6,libssl3,libsystemd0,curl,jq,procps,python3,sqlite3,psmisc,iproute2,e2fsprogs

vm_skip() { echo "SKIP: $VM_NAME: $*" >&2; exit 77; }
vm_say() { echo "$VM_NAME: $*" >&2; }

vm_need() {
	[ "$(id -u)" = 0 ] || vm_skip "needs root (debootstrap, a chroot, mkfs.ext4 -d with owners)"
	for t in qemu-system-x86_64 debootstrap mkfs.ext4 debugfs timeout chroot "$@"; do
		command -v "$t" >/dev/null 2>&1 ||
			vm_skip "needs $t (apt-get install qemu-system-x86 debootstrap e2fsprogs)"
	done
	mkdir -p "$CACHE" || exit 1
}

vm_mirror() {
	[ -n "${OUTPOST_VM_MIRROR:-}" ] && { echo "$OUTPOST_VM_MIRROR"; return; }
	{
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
			awk '$3 == "bookworm" { print $2 }'
		cat /etc/apt/sources.list.d/*.sources 2>/dev/null | awk 'BEGIN { RS = "" }
			/(^|\n)Suites:([^\n]* )?bookworm( |\n|$)/ && match($0, /URIs: *[^ \n]+/) {
				s = substr($0, RSTART, RLENGTH); sub(/URIs: */, "", s); print s }'
	} | head -n 1
}

vm_base() {
	local base=$CACHE/base m
	if [ ! -f "$CACHE/base.done" ]; then
		m=$(vm_mirror)
		[ -n "$m" ] || vm_skip "no Debian bookworm mirror in apt's sources (set OUTPOST_VM_MIRROR)"
		vm_say "building the base image from $m (once; several minutes)"
		rm -rf "$base"
		if ! debootstrap --variant=minbase --include="$VM_PACKAGES" bookworm "$base" "$m" \
			>"$CACHE/debootstrap.log" 2>&1; then
			tail -n 5 "$CACHE/debootstrap.log" >&2
			vm_skip "debootstrap from $m failed (log: $CACHE/debootstrap.log)"
		fi
		# The kernel and its initrd, made in the image: nothing is installed on this host.
		# The initrd needs only what mounts a virtio disk's ext4 (small, quickly made).
		mkdir -p "$base/etc/initramfs-tools/conf.d"
		echo MODULES=list >"$base/etc/initramfs-tools/conf.d/outpost-vm.conf"
		printf '%s\n' virtio_pci virtio_blk ext4 >>"$base/etc/initramfs-tools/modules"
		if ! DEBIAN_FRONTEND=noninteractive chroot "$base" apt-get install -y -q \
			--no-install-recommends linux-image-amd64 initramfs-tools >"$CACHE/kernel.log" 2>&1; then
			tail -n 5 "$CACHE/kernel.log" >&2
			vm_skip "cannot install a kernel in the image (log: $CACHE/kernel.log)"
		fi
		chroot "$base" apt-get clean
		touch "$CACHE/base.done"
	fi
	KERNEL=$(ls "$base"/boot/vmlinuz-* 2>/dev/null | tail -n 1)
	INITRD=$base/boot/initrd.img-${KERNEL##*/vmlinuz-}
	[ -n "$KERNEL" ] && [ -s "$INITRD" ] || vm_skip "no kernel or initrd in $base/boot"
}

vm_root() {
	ROOT=$CACHE/root
	rm -rf "$ROOT" "$CACHE/out"
	cp -a "$CACHE/base" "$ROOT" || exit 1
}

vm_boot() {
	local name=$1 cmd=$2 img=$CACHE/disk.img accel=tcg started qrc
	echo outpost-vm >"$ROOT/etc/hostname"
	echo "/dev/vda / ext4 rw 0 1" >"$ROOT/etc/fstab"
	cat >"$ROOT/etc/systemd/system/outpost-vm-check.service" <<EOF
[Unit]
Description=Outpost's checks in a VM (tests/vm: $name)
After=basic.target systemd-journald.service
[Service]
Type=oneshot
Delegate=yes
ExecStart=$cmd
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
	rm -f "$img"
	mkfs.ext4 -q -F -L outpost-vm -d "$ROOT" "$img" 6G >/dev/null || exit 1
	rm -rf "$ROOT"

	[ -w /dev/kvm ] && accel=kvm
	vm_say "booting (qemu, $accel; at most $TIMEOUT s); the console: $CACHE/console.log"
	started=$(date +%s)
	timeout --kill-after=10 "$TIMEOUT" qemu-system-x86_64 -accel "$accel" -m 2048 -smp 1 \
		-nographic -no-reboot -nic none -kernel "$KERNEL" -initrd "$INITRD" \
		-append "root=/dev/vda rw console=ttyS0 panic=-1 systemd.show_status=0" \
		-drive "file=$img,format=raw,if=virtio,cache=unsafe" </dev/null >"$CACHE/console.log" 2>&1
	qrc=$?
	vm_say "the VM ran $(($(date +%s) - started)) s (qemu exit $qrc)"
	[ "$qrc" = 124 ] && vm_say "timed out after $TIMEOUT s"
	mkdir -p "$CACHE/out"
	debugfs -R "rdump /var/log/outpost-vm $CACHE/out" "$img" >/dev/null 2>&1
}

vm_results() {
	local title=$1 r=$CACHE/out/outpost-vm/results n_fail n_pass n_skip
	if [ ! -s "$r" ]; then
		grep 'outpost-vm:' "$CACHE/console.log" | tail -n 20 >&2
		echo "FAIL: $VM_NAME: the VM wrote no results (console: $CACHE/console.log)" >&2
		return 1
	fi
	echo "---- $title: $(grep -m1 '^kernel' "$r"); $(grep -m1 '^systemd' "$r") ----"
	grep '^RESULT ' "$r" | cut -d' ' -f2-
	echo "(logs: $CACHE/out/outpost-vm)"
	n_fail=$(grep -c '^RESULT FAIL' "$r")
	n_pass=$(grep -c '^RESULT PASS' "$r")
	n_skip=$(grep -c '^RESULT SKIP' "$r")
	if [ "$n_fail" -gt 0 ] || [ "$n_skip" -gt 0 ] || [ "$n_pass" = 0 ]; then
		echo "FAIL: $VM_NAME: $n_pass passed, $n_fail failed, $n_skip skipped" >&2
		return 1
	fi
	echo "PASS: $VM_NAME: $n_pass passed"
}
