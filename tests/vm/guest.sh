#!/bin/bash
# The checks tests/vm/cgroup-v2.sh runs inside its Debian 12 VM (pure cgroup v2,
# systemd 252), as the unit outpost-vm-check.service (Delegate=yes) at boot.
# Writes RESULT lines ("PASS|FAIL|SKIP NAME SECONDS [why]") to its output (the
# unit sends it to the console) and to $OUT/results, the logs beside them; the
# unit then powers the VM off.
#
# Two parts: the integration tests that need real cgroups, each agent given a
# delegated cgroup of its own (lib.sh's OUTPOST_TEST_CGROUP); then the shipped
# outpost-agent@.service under this systemd, with an instance running across
# `systemctl restart`, and across `systemctl stop` + `start`.
set -u
SRC=${OUTPOST_VM_SRC:-/opt/outpost/src}
BUILD=${OUTPOST_VM_BUILD:-/opt/outpost/build}
OUT=${OUTPOST_VM_OUT:-/var/log/outpost-vm}
mkdir -p "$OUT"
: >"$OUT/results"

say() { echo "outpost-vm: $*"; }
result() {	# PASS|FAIL|SKIP NAME SECONDS [why]
	echo "RESULT $*" >>"$OUT/results"
	say "RESULT $*"
}

say "kernel $(uname -r); $(systemctl --version | head -n 1)"
say "cgroup2 root controllers: $(cat /sys/fs/cgroup/cgroup.controllers)"
say "cgroup v1 mounts: $(grep -c ' - cgroup ' /proc/self/mountinfo)"
echo "kernel $(uname -r)" >>"$OUT/results"
echo "systemd $(systemctl --version | head -n 1)" >>"$OUT/results"

# This unit's cgroup (Delegate=yes) is split: the checks' own processes in the leaf
# "harness", the tests' agents below "agents", which gets the three controllers.
own=/sys/fs/cgroup$(sed -n 's/^0:://p' /proc/self/cgroup)
mkdir -p "$own/harness" "$own/agents"
echo $$ >"$own/harness/cgroup.procs"
echo "+memory +cpu +pids" >"$own/cgroup.subtree_control" &&
	echo "+memory +cpu +pids" >"$own/agents/cgroup.subtree_control" ||
	say "cannot enable the controllers in $own"
export OUTPOST_TEST_CGROUP=$own/agents

# A first start under emulation reads each binary and library from the disk, which can
# take longer than the tests' deadlines: one outpostd is started and stopped first.
warm=$(mktemp -d)
"$BUILD/src/server/outpostd" --listen 127.0.0.1:0 --state-dir "$warm/state" \
	--log-format json >"$warm/log" 2>&1 &
warm_pid=$!
for _ in $(seq 240); do
	grep -q outpostd.listening "$warm/log" && break
	sleep 0.5
done
kill "$warm_pid"
wait "$warm_pid"
"$BUILD/src/agent/outpost-agent" --help >/dev/null 2>&1
"$BUILD/src/cli/outpost" --help >/dev/null 2>&1
rm -rf "$warm"
say "warmed up in $SECONDS s"

for t in ${OUTPOST_VM_TESTS-containment containment_restart containment_usage hook_users usage}; do
	start=$SECONDS
	top_srcdir=$SRC top_builddir=$BUILD timeout 600 bash "$SRC/tests/integration/$t.sh" \
		>"$OUT/$t.log" 2>&1
	rc=$?
	case $rc in
	0) result PASS "$t" $((SECONDS - start)) ;;
	77) result SKIP "$t" $((SECONDS - start)) "$(grep -m1 SKIP "$OUT/$t.log")" ;;
	*) result FAIL "$t" $((SECONDS - start)) "$(grep -m1 FAIL "$OUT/$t.log")" ;;
	esac
	[ "$rc" = 0 ] || tail -n 30 "$OUT/$t.log" | sed "s/^/outpost-vm: $t: /"
done

start=$SECONDS
OUTPOST_VM_OUT=$OUT top_srcdir=$SRC top_builddir=$BUILD timeout 900 \
	bash "$SRC/tests/vm/guest_systemd.sh" >"$OUT/systemd.log" 2>&1
rc=$?
sed 's/^/outpost-vm: systemd: /' "$OUT/systemd.log"
if [ "$rc" = 0 ]; then
	result PASS systemd $((SECONDS - start))
else
	result FAIL systemd $((SECONDS - start)) "$(grep -m1 FAIL "$OUT/systemd.log")"
fi
say "done"
sync
