#!/bin/bash
# What tests/vm/deb.sh runs inside its clean Debian 12 VM, as the unit
# outpost-vm-check.service at boot: the Debian packages installed with apt as an
# operator would, then the steps of docs/operations/worker-host-deb.md, as
# written, and a backup restored as docs/operations/restore.md says, under the
# package's DynamicUser service. Writes RESULT lines ("PASS|FAIL NAME SECONDS [why]") to its output and
# to $OUT/results, the logs beside them; the unit then powers the VM off.
#
# The VM has no network: deb.sh put the packages in /opt/debs and what they need
# from Debian (libjs-bootstrap5 and such) in apt's cache, so apt installs them
# as it would have fetched them.
set -u
OUT=${OUTPOST_VM_OUT:-/var/log/outpost-vm}
URL=http://127.0.0.1:8080
mkdir -p "$OUT"
: >"$OUT/results"
export DEBIAN_FRONTEND=noninteractive

say() { echo "outpost-vm: $*"; }
result() {	# PASS|FAIL NAME SECONDS [why]
	echo "RESULT $*" >>"$OUT/results"
	say "RESULT $*"
}
echo "kernel $(uname -r)" >>"$OUT/results"
echo "systemd $(systemctl --version | head -n 1)" >>"$OUT/results"
t0=$(date +%s)
since() { echo $(($(date +%s) - t0)); }
# step NAME CMD...: runs a step; its failure ends the checks (what follows needs it).
step() {
	local name=$1
	shift
	t0=$(date +%s)
	if "$@" >"$OUT/$name.log" 2>&1; then
		result PASS "$name" "$(since)"
	else
		result FAIL "$name" "$(since)" "$(tail -n 3 "$OUT/$name.log" | tr '\n' ' ')"
		journalctl --no-pager -n 200 >"$OUT/journal.log" 2>&1
		exit 0
	fi
}
wait_for() {	# SECONDS CMD...
	local n=$(($1 * 2))
	shift
	while [ "$n" -gt 0 ]; do
		"$@" && return 0
		sleep 0.5
		n=$((n - 1))
	done
	"$@"
}
op() { outpost --server "$URL" --token-file /var/lib/outpost/admin.token "$@"; }

install_packages() {
	apt-get install -y /opt/debs/outpost_*.deb /opt/debs/outpost-agent_*.deb
}
server_started() {
	systemctl is-enabled outpostd.service && systemctl is-active outpostd.service &&
		wait_for 60 curl -fsS "$URL/readyz" && curl -fsS "$URL/" | grep -qi '<html' &&
		test -s /var/lib/outpost/admin.token
}
# docs/operations/worker-host-deb.md, steps 2 to 4.
join_token() {
	op token create --name lab-hosts --role agent --names 'lab-*' --uses 2 --expires-in 1d \
		>/root/join.token &&
		install -m 600 /dev/null /etc/outpost/join.token &&
		cat /root/join.token >/etc/outpost/join.token && test -s /etc/outpost/join.token
}
agent_conf() {
	cp /etc/outpost/agent.conf.example /etc/outpost/agent.conf &&
		sed -i "s|^server = .*|server = $URL|; s|^token_file = .*|token_file = /etc/outpost/join.token|" \
			/etc/outpost/agent.conf && grep -q "^server = $URL" /etc/outpost/agent.conf
}
_online() { op worker get lab-01 -o json | jq -e '.state == "ready" and .health == "online"'; }
agent_enabled() {
	systemctl enable --now outpost-agent@lab-01 && wait_for 120 _online &&
		systemctl is-active outpost-instances@lab-01.service
}
_running() { [ "$(op instance get "$(cat /root/instance.id)" -o json | jq -r .state)" = running ]; }
instance_runs() {
	cat >/root/def.json <<'EOF'
{ "name": "vm-check", "resources": { "cpu": 1, "memory_mb": 64 },
  "hooks": { "run": ["sh", "-c", "echo running > state; exec sleep 3600"] } }
EOF
	op definition create -f /root/def.json &&
		op instance create --definition vm-check --owner vm --start now --duration 10m -o json |
		jq -r .id >/root/instance.id && wait_for 120 _running &&
		pgrep -f 'sleep 3600' >/dev/null
}
# docs/operations/restore.md under systemd's DynamicUser: a backup, a change after
# it, the drill, then the server stopped, the backup restored by root, the server
# started again: the change is gone, the rest is there, the service can open it.
_gone() { ! op instance get "$(cat /root/after.id)" >/dev/null 2>&1; }
backup_restored() {
	local file owner
	op backup create &&
		file=$(ls /var/lib/outpost/backups/outpost-*.db | tail -n 1) &&
		test -s "$file.json" &&
		op instance create --definition vm-check --owner after --start now --duration 10m -o json |
		jq -r .id >/root/after.id && op instance get "$(cat /root/after.id)" >/dev/null &&
		outpostd restore-drill --state-dir /var/lib/outpost "$file" &&
		systemctl stop outpostd &&
		outpostd restore --state-dir /var/lib/outpost "$file" &&
		owner=$(stat -c %u /var/lib/private/outpost) &&
		[ "$(stat -c '%u %a' /var/lib/private/outpost/outpost.db)" = "$owner 600" ] &&
		systemctl start outpostd && wait_for 60 curl -fsS "$URL/readyz" &&
		_gone && wait_for 60 _running
}
_terminated() { [ "$(op instance get "$(cat /root/instance.id)" -o json | jq -r .state)" = terminated ]; }
cleaned_up() {
	op instance terminate "$(cat /root/instance.id)" && wait_for 60 _terminated &&
		! pgrep -f 'sleep 3600' >/dev/null
}

say "kernel $(uname -r); $(systemctl --version | head -n 1)"
step install_packages install_packages
step server_started server_started
step join_token join_token
step agent_conf agent_conf
step agent_enabled agent_enabled
step instance_runs instance_runs
step backup_restored backup_restored
step cleaned_up cleaned_up
journalctl --no-pager -u outpostd -u 'outpost-agent@*' -n 200 >"$OUT/journal.log" 2>&1
dpkg -l 'outpost*' >"$OUT/dpkg.log" 2>&1
exit 0
