#!/bin/sh
# Templates' provisioners, driven by real programs and real agents:
#  a. command: the provision program gets OUTPOST_ACTION, _WORKER, _TEMPLATE,
#     _SERVER, _CAPACITY, _LABELS and a fresh agent token in OUTPOST_JOIN_TOKEN
#     (in a process group of its own, stdin /dev/null, none of outpostd's own
#     OUTPOST_* settings); the agent it starts with them registers and the
#     worker is ready; terminate runs deprovision, and the token is revoked.
#  b. a provision that fails (exit 3) is retried with a doubling backoff, each
#     failure a provision_failed event with the exit, the program's last line
#     and the next try; each failed worker is deprovisioned and terminated.
#  c. static: nothing runs, the worker waits for an agent; past
#     provision_timeout it fails and is terminated, the next one is made after
#     the backoff, and an agent started by hand under that name makes it ready.
#  d. systemd: the env and token files (0600; every value quoted, a label's
#     quotes, '$', '`' and '\\' reaching the agent as they were), systemctl
#     start|stop UNIT@NAME, and both files removed after terminate.
# The templates that name programs (command, systemd) are files of the
# server's template_dir, read on SIGHUP: the API may not name them (see
# api_programs.sh).
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"

mkdir -p "$WORK/templates" "$WORK/bin" "$WORK/etc"
# The server's own settings in its environment must not reach the programs it runs.
OUTPOST_WORKER_OFFLINE_AFTER=2s OUTPOST_WORKER_LOST_AFTER=30s start_server

# ---- helpers ----

# Milliseconds since the epoch of an RFC 3339 time (with or without its .mmm).
ts_ms() {
	local s
	s=$(date -u -d "$1" +%s%3N 2>/dev/null) || fail "cannot read the time '$1'"
	echo "$s"
}


worker_field() {	# NAME JQ: the worker's field now (empty if there is no such worker)
	TOKEN=$SERVER_TOKEN api GET "/api/v1/workers/$1"
	[ "$STATUS" = 200 ] && jbody "$2"
}

_worker_state_is() {	# NAME STATE
	[ "$(worker_field "$1" .state)" = "$2" ]
}


_exists() { [ -e "$1" ]; }
_gone() { [ ! -e "$1" ]; }
_pid_gone() { ! kill -0 "$1" 2>/dev/null; }

# env_var FILE NAME: the value of NAME in an `env` dump (empty if absent).
env_var() {
	sed -n "s/^$2=//p" "$1" | head -n 1
}

# A comma list, sorted (labels' order is not part of the contract).
sorted_list() {
	printf '%s' "$1" | tr ',' '\n' | sort | paste -sd, -
}

token_record() {	# NAME: the token's record from GET /api/v1/tokens (JSON, or empty)
	TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/tokens
	jbody -c --arg n "$1" '[.items[] | select(.name == $n)][0] // empty'
}

_token_revoked() {
	local rec
	rec=$(token_record "$1")
	[ -n "$rec" ] && [ "$(printf %s "$rec" | jq -r '.revoked_at // empty')" != "" ]
}

put_template() {	# NAME JSON: a 201 (a new template)
	TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$1" "$2"
	assert_status 201 "PUT /api/v1/templates/$1"
}

# file_template NAME JSON: the template as NAME.json of the server's
# template_dir, read on SIGHUP; BODY is then its GET.
file_template() {
	printf '%s\n' "$2" >"$WORK/templates/$1.json"
	kill -HUP "$SERVER_PID"
	wait_for 10 "template $1 read from its file" _template_is "$1" \
		"$(printf %s "$2" | jq -cS '[.provisioner, (.min // 0), .max]')"
	assert_eq config "$(jbody -r .source)" "source of $1"
}

_template_is() {	# NAME [PROVISIONER,MIN,MAX]
	TOKEN=$SERVER_TOKEN api GET "/api/v1/templates/$1"
	[ "$STATUS" = 200 ] && [ "$(jbody -cS '[.provisioner, .min, .max]')" = "$2" ]
}

# envfile_var FILE NAME: NAME's value in an environment file, read by sh as the
# systemctl stub below reads it (double quotes, as systemd.exec(5) reads them).
envfile_var() {
	sh -c '. "$1" && eval "printf %s \"\${$2}\""' _ "$1" "$2"
}

scale() {	# NAME COUNT
	TOKEN=$SERVER_TOKEN api POST "/api/v1/templates/$1/scale" "{\"count\":$2}"
	assert_status 200 "scale $1 to $2"
	assert_eq "$2" "$(jbody .desired)" "desired of $1 after scaling it to $2"
}

# ============================================================================
# a. The command provisioner: a real agent from the program's environment.
# ============================================================================
cat >"$WORK/bin/provision" <<EOF
#!/bin/sh
env >"$WORK/env.\$OUTPOST_WORKER"
echo "pid=\$\$ pgid=\$(ps -o pgid= -p \$\$ | tr -d ' ') stdin=\$(readlink /proc/\$\$/fd/0)" \\
	>"$WORK/proc.\$OUTPOST_WORKER"
printf '%s\n' "\$OUTPOST_JOIN_TOKEN" >"$WORK/join.\$OUTPOST_WORKER.token"
"$AGENT" --server "\$OUTPOST_SERVER" --token-file "$WORK/join.\$OUTPOST_WORKER.token" \\
	--name "\$OUTPOST_WORKER" --capacity "\$OUTPOST_CAPACITY" --labels "\$OUTPOST_LABELS" \\
	--work-dir "$WORK/agents/\$OUTPOST_WORKER" --heartbeat 300ms --log-format json \\
	</dev/null >>"$WORK/agent.\$OUTPOST_WORKER.log" 2>&1 &
echo \$! >"$WORK/agent.\$OUTPOST_WORKER.pid"
echo "provisioning \$OUTPOST_WORKER: agent \$!"
EOF
cat >"$WORK/bin/deprovision" <<EOF
#!/bin/sh
env >"$WORK/deprov-env.\$OUTPOST_WORKER"
echo "\$OUTPOST_WORKER" >>"$WORK/deprovisioned"
f="$WORK/agent.\$OUTPOST_WORKER.pid"
if [ -f "\$f" ]; then
	kill "\$(cat "\$f")" 2>/dev/null
fi
echo "deprovisioned \$OUTPOST_WORKER"
exit 0
EOF
chmod +x "$WORK/bin/provision" "$WORK/bin/deprovision"

file_template cmd "$(jq -cn --arg p "$WORK/bin/provision" --arg d "$WORK/bin/deprovision" '{
	description: "hosts made by a program", capacity: {cpu: 2, memory_mb: 2048, slots: 2},
	labels: {zone: "z1", kind: "cmd"}, max: 3, autoscale: false, provision_timeout: "30s",
	provisioner: {type: "command", provision: [$p], deprovision: [$d]}}')"
assert_eq 0 "$(jbody .desired)" "desired of a new template with min 0"
assert_eq command "$(jbody .provisioner.type)" "provisioner.type of cmd"

scale cmd 1
wait_for 20 "cmd-1 ready and online (its agent registered with the join token)" \
	_worker_ready_online cmd-1
assert_eq cmd "$(jbody .template)" "template of cmd-1"
assert_eq '{"cpu":2,"memory_mb":2048,"slots":2}' "$(jbody -c .capacity)" "capacity of cmd-1"
assert_eq '{"kind":"cmd","zone":"z1"}' "$(jbody -c -S .labels)" "labels of cmd-1"

env_file=$WORK/env.cmd-1
[ -s "$env_file" ] || fail "the provision program recorded no environment"
assert_eq provision "$(env_var "$env_file" OUTPOST_ACTION)" "OUTPOST_ACTION of provision"
assert_eq cmd-1 "$(env_var "$env_file" OUTPOST_WORKER)" "OUTPOST_WORKER"
assert_eq cmd "$(env_var "$env_file" OUTPOST_TEMPLATE)" "OUTPOST_TEMPLATE"
assert_eq "$SERVER_URL" "$(env_var "$env_file" OUTPOST_SERVER)" "OUTPOST_SERVER"
assert_eq "cpu=2,memory_mb=2048,slots=2" "$(env_var "$env_file" OUTPOST_CAPACITY)" "OUTPOST_CAPACITY"
assert_eq "kind=cmd,zone=z1" "$(sorted_list "$(env_var "$env_file" OUTPOST_LABELS)")" "OUTPOST_LABELS"
join=$(env_var "$env_file" OUTPOST_JOIN_TOKEN)
assert_match '^opt_[A-Za-z0-9_-]{43}$' "$join" "OUTPOST_JOIN_TOKEN"
if grep -q '^OUTPOST_WORKER_OFFLINE_AFTER=\|^OUTPOST_WORKER_LOST_AFTER=' "$env_file"; then
	fail "outpostd's own OUTPOST_* settings reached the provision program: \
$(grep '^OUTPOST_' "$env_file" | sed 's/TOKEN=.*/TOKEN=.../' | tr '\n' ' ')"
fi
read -r pid_kv pgid_kv stdin_kv <"$WORK/proc.cmd-1"
assert_eq "${pid_kv#pid=}" "${pgid_kv#pgid=}" "the provision program's process group (its own)"
assert_eq /dev/null "${stdin_kv#stdin=}" "the provision program's stdin"
# Its output went to the worker's provision.log.
plog=$SERVER_DIR/workers/cmd-1/provision.log
[ -f "$plog" ] || fail "no $plog"
assert_contains "provisioning cmd-1: agent" "$(cat "$plog")" "provision.log of cmd-1"

# The join token is a token of its own, with the agent role, for that worker only.
rec=$(token_record worker:cmd-1)
[ -n "$rec" ] || fail "no token named worker:cmd-1 in GET /api/v1/tokens"
assert_eq agent "$(printf %s "$rec" | jq -r .role)" "role of the join token"
assert_eq "" "$(printf %s "$rec" | jq -r '.revoked_at // empty')" "revoked_at of the live join token"
TOKEN=$join api GET /api/v1/templates
assert_status 403 "the join token on a route that is not the agent's"

# The template counts its worker.
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/cmd
assert_eq 1 "$(jbody .workers.live)" "workers.live of cmd"
assert_eq '{"ready":1}' "$(jbody -c .workers.by_state)" "workers.by_state of cmd"
assert_eq config "$(jbody .source)" "source of cmd (its file)"
ev=$(events_of provision cmd)
assert_eq 1 "$(printf %s "$ev" | jq length)" "provision events of cmd"
assert_eq cmd-1 "$(printf %s "$ev" | jq -r '.[0].data.worker')" "the provision event's worker"
assert_contains "command provisioner" "$(printf %s "$ev" | jq -r '.[0].data.reason')" \
	"the provision event's reason"

# Terminate: deprovision runs with the same variables (no join token), the agent goes.
agent_pid=$(cat "$WORK/agent.cmd-1.pid")
kill -0 "$agent_pid" 2>/dev/null || fail "the agent the provision program started is not running"
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/cmd-1/terminate
assert_status 200 "terminate cmd-1"
wait_for 15 "deprovision of cmd-1 to run" _exists "$WORK/deprov-env.cmd-1"
denv=$WORK/deprov-env.cmd-1
assert_eq deprovision "$(env_var "$denv" OUTPOST_ACTION)" "OUTPOST_ACTION of deprovision"
assert_eq cmd-1 "$(env_var "$denv" OUTPOST_WORKER)" "OUTPOST_WORKER of deprovision"
assert_eq cmd "$(env_var "$denv" OUTPOST_TEMPLATE)" "OUTPOST_TEMPLATE of deprovision"
assert_eq "$SERVER_URL" "$(env_var "$denv" OUTPOST_SERVER)" "OUTPOST_SERVER of deprovision"
assert_eq "cpu=2,memory_mb=2048,slots=2" "$(env_var "$denv" OUTPOST_CAPACITY)" \
	"OUTPOST_CAPACITY of deprovision"
assert_eq "" "$(env_var "$denv" OUTPOST_JOIN_TOKEN)" "OUTPOST_JOIN_TOKEN of deprovision (none)"
wait_for 15 "the agent of cmd-1 (pid $agent_pid) to be gone" _pid_gone "$agent_pid"
wait_for 15 "cmd-1 terminated" _worker_state_is cmd-1 terminated
wait_for 15 "deprovision.log of cmd-1" _exists "$SERVER_DIR/workers/cmd-1/deprovision.log"
assert_contains "deprovisioned cmd-1" "$(cat "$SERVER_DIR/workers/cmd-1/deprovision.log")" \
	"deprovision.log of cmd-1"
# One worker fewer was meant: the template's count follows (no cmd-2 is made).
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/cmd
assert_eq 0 "$(jbody .desired)" "desired of cmd after its worker was terminated"
assert_eq 0 "$(jbody .workers.live)" "workers.live of cmd after terminate"
# Once its agent is silent, the join token is revoked.
wait_for 20 "the join token worker:cmd-1 to be revoked" _token_revoked worker:cmd-1
TOKEN=$join api GET /api/v1/agent/work
assert_status 401 "the revoked join token"
note "a: command provisioner ok"

# ============================================================================
# b. A provision that fails: bounded retries with a doubling backoff.
# ============================================================================
cat >"$WORK/bin/provision-fail" <<EOF
#!/bin/sh
echo "\$OUTPOST_WORKER \$(date +%s%3N)" >>"$WORK/nq.attempts"
echo "asking for a host for \$OUTPOST_WORKER"
echo "no quota left" >&2
exit 3
EOF
cat >"$WORK/bin/deprovision-fail" <<EOF
#!/bin/sh
echo "\$OUTPOST_WORKER \$OUTPOST_ACTION" >>"$WORK/nq.deprovisioned"
EOF
chmod +x "$WORK/bin/provision-fail" "$WORK/bin/deprovision-fail"

t0=$(date +%s%3N)
file_template nq "$(jq -cn --arg p "$WORK/bin/provision-fail" --arg d "$WORK/bin/deprovision-fail" '{
	capacity: {cpu: 1, memory_mb: 512, slots: 1}, min: 1, max: 2, autoscale: false,
	retry_backoff: "500ms", provision_timeout: "20s",
	provisioner: {type: "command", provision: [$p], deprovision: [$d]}}')"
assert_eq 1 "$(jbody .desired)" "desired of a new template with min 1"
# Watch it for 6 s (the observation window itself, not a wait for a condition).
while [ $(($(date +%s%3N) - t0)) -lt 6000 ]; do
	sleep 0.2
done
n_window=$(wc -l <"$WORK/nq.attempts" 2>/dev/null || echo 0)
# Stop it: min 0 (desired stays 1, within the new bounds), then scale to 0.
file_template nq "$(jq -cn --arg p "$WORK/bin/provision-fail" \
	--arg d "$WORK/bin/deprovision-fail" '{
	capacity: {cpu: 1, memory_mb: 512, slots: 1}, min: 0, max: 2, autoscale: false,
	retry_backoff: "500ms", provision_timeout: "20s",
	provisioner: {type: "command", provision: [$p], deprovision: [$d]}}')"
assert_eq 1 "$(jbody .desired)" "desired of nq kept within the new [0, 2]"
scale nq 0

_nq_settled() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?template=nq&limit=500"
	[ "$(jbody '[.items[] | select(.state != "terminated")] | length')" = 0 ]
}
wait_for 20 "every worker of nq terminated" _nq_settled
names=$(jbody -r '[.items[].name] | join(" ")')
n=$(wc -l <"$WORK/nq.attempts")
note "b: $n_window attempts in the first 6 s ($n in all): $(cut -d' ' -f1 "$WORK/nq.attempts" | tr '\n' ' ')"
[ "$n_window" -ge 2 ] || fail "only $n_window provision attempts in 6 s with a 500ms backoff"
[ "$n_window" -lt 8 ] || fail "$n_window provision attempts in 6 s: the backoff does not hold"
[ "$n" -lt 9 ] || fail "$n provision attempts in all: the backoff does not hold"

# Names are never reused: nq-1, nq-2, ... in order, one a try.
expect_names=$(seq -f 'nq-%g' 1 "$n" | paste -sd' ' -)
assert_eq "$expect_names" "$(cut -d' ' -f1 "$WORK/nq.attempts" | paste -sd' ' -)" \
	"the names of the attempts"
assert_eq "$expect_names" "$names" "the workers of nq"

# Between two tries, at least the backoff of the failures so far: 0.5 s, 1 s, 2 s, 4 s.
prev=
k=0
while read -r _ at; do
	if [ -n "$prev" ]; then
		want=$((500 << (k - 1)))
		[ $((at - prev)) -ge "$want" ] ||
			fail "try $((k + 1)) came $((at - prev)) ms after try $k; the backoff is $want ms"
	fi
	prev=$at
	k=$((k + 1))
done <"$WORK/nq.attempts"

# One provision_failed event a try, saying the exit, the last line and the next try.
ev=$(events_of provision_failed nq)
assert_eq "$n" "$(printf %s "$ev" | jq length)" "provision_failed events of nq (one per try)"
backoffs=(500ms 1s 2s 4s 8s 16s 32s 1m4s)
for ((i = 0; i < n; i++)); do
	r=$(printf %s "$ev" | jq -r ".[$i].data.reason")
	w=$(printf %s "$ev" | jq -r ".[$i].data.worker")
	assert_eq "nq-$((i + 1))" "$w" "the worker of provision_failed event $((i + 1))"
	assert_contains "provision exited with 3: no quota left" "$r" "reason of failure $((i + 1))"
	assert_contains "$((i + 1)) failed in a row, the next try in ${backoffs[$i]}" "$r" \
		"reason of failure $((i + 1))"
done
# Each failed worker went failed, then (deprovisioned) terminated.
for w in $names; do
	grep -qx "$w deprovision" "$WORK/nq.deprovisioned" ||
		fail "deprovision did not run for $w (ran for: $(tr '\n' ' ' <"$WORK/nq.deprovisioned"))"
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=$w&limit=100"
	assert_eq "provisioning>failed failed>terminated" \
		"$(jbody -r '[.items[].data | "\(.from)>\(.to)"] | join(" ")')" "the states of $w"
	assert_contains "no quota left" "$(cat "$SERVER_DIR/workers/$w/provision.log")" \
		"provision.log of $w"
done
note "b: failing provisions ok"

# ============================================================================
# c. static: a worker waits for an agent, up to provision_timeout.
# ============================================================================
put_template st '{"capacity": {"cpu": 1, "memory_mb": 512, "slots": 1}, "max": 2,
	"autoscale": false, "provision_timeout": "5s", "retry_backoff": "1s",
	"provisioner": {"type": "static"}}'
scale st 1
wait_for 10 "st-1 provisioning" _worker_state_is st-1 provisioning
ev=$(events_of provision st)
assert_eq st-1 "$(printf %s "$ev" | jq -r '.[0].data.worker')" "the worker of st's provision"
assert_contains "waiting for an agent to register as st-1" \
	"$(printf %s "$ev" | jq -r '.[0].data.reason')" "the reason of st-1's provision"
prov_at=$(ts_ms "$(printf %s "$ev" | jq -r '.[0].ts')")
wait_for 15 "st-1 terminated past its provision_timeout" _worker_state_is st-1 terminated
# st-2 comes 1 s later. Its agent is started by hand below, after the checks of st-1,
# which took more than its 5 s under the sanitizers at a load of 13: a longer timeout,
# read by the scaler at each tick, keeps it provisioning until then.
TOKEN=$SERVER_TOKEN api PUT /api/v1/templates/st '{"capacity": {"cpu": 1, "memory_mb": 512,
	"slots": 1}, "max": 2, "autoscale": false, "provision_timeout": "60s", "retry_backoff": "1s",
	"provisioner": {"type": "static"}}'
assert_status 200 "PUT /api/v1/templates/st, a longer provision_timeout"
ev=$(events_of provision_failed st)
assert_eq st-1 "$(printf %s "$ev" | jq -r '.[0].data.worker')" "the worker of st's provision_failed"
r=$(printf %s "$ev" | jq -r '.[0].data.reason')
assert_contains "it did not register within provision_timeout (5s)" "$r" "st-1's failure"
assert_contains "1 failed in a row, the next try in 1s" "$r" "st-1's failure"
fail_at=$(ts_ms "$(printf %s "$ev" | jq -r '.[0].ts')")
[ $((fail_at - prov_at)) -ge 5000 ] ||
	fail "st-1 failed $((fail_at - prov_at)) ms after it was made; provision_timeout is 5s"
[ ! -e "$SERVER_DIR/workers/st-1/provision.log" ] || fail "a static provisioner ran something"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=st-1&limit=100"
assert_eq "provisioning>failed failed>terminated" \
	"$(jbody -r '[.items[].data | "\(.from)>\(.to)"] | join(" ")')" "the states of st-1"

# After the backoff, the next one; an agent started by hand under its name makes it ready.
wait_for 10 "st-2 provisioning after the backoff" _worker_state_is st-2 provisioning
start_agent st-2 --capacity cpu=1,memory_mb=512,slots=1
wait_for 15 "st-2 ready and online" _worker_ready_online st-2
assert_eq st "$(jbody .template)" "template of st-2"
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/st
assert_eq 1 "$(jbody .workers.live)" "workers.live of st"
assert_eq '{"ready":1}' "$(jbody -c .workers.by_state)" "workers.by_state of st"
# The name of a terminated worker is not given back.
curl -sS -o "$WORK/reg.out" -w '%{http_code}' -H "Authorization: Bearer $(cat "$AGENT_TOKEN_FILE")" \
	-H 'Content-Type: application/json' -X POST "$SERVER_URL/api/v1/agent/register" \
	-d '{"name":"st-1","capacity":{"cpu":1,"memory_mb":512,"slots":1}}' >"$WORK/reg.status"
assert_eq 409 "$(cat "$WORK/reg.status")" "registering as st-1, terminated"
note "c: static provisioner ok"

# ============================================================================
# d. systemd: env and token files, systemctl start|stop outpost-agent@NAME.
# ============================================================================
cat >"$WORK/bin/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$WORK/systemctl.argv"
name=\${2#outpost-agent@}
case "\$1" in
start)
	set -a
	. "$WORK/etc/agent-\$name.env"
	set +a
	OUTPOST_NAME=\$name
	OUTPOST_WORK_DIR=$WORK/sd-work/\$name
	OUTPOST_HEARTBEAT=300ms
	OUTPOST_LOG_FORMAT=json
	export OUTPOST_NAME OUTPOST_WORK_DIR OUTPOST_HEARTBEAT OUTPOST_LOG_FORMAT
	mkdir -p "$WORK/sd-work"
	cd "$WORK/sd-work" || exit 1
	"$AGENT" </dev/null >>"$WORK/agent.\$name.log" 2>&1 &
	echo \$! >"$WORK/sd.\$name.pid"
	;;
stop)
	pid=\$(cat "$WORK/sd.\$name.pid") || exit 5
	kill "\$pid" 2>/dev/null
	i=0
	while kill -0 "\$pid" 2>/dev/null && [ \$i -lt 100 ]; do
		sleep 0.1
		i=\$((i + 1))
	done
	;;
*)
	exit 1
	;;
esac
EOF
chmod +x "$WORK/bin/systemctl"

# A label with what double quotes must escape: it reaches the agent as it is.
odd='say "hi" $HOME `id` \\ back'
file_template sd "$(jq -cn --arg s "$WORK/bin/systemctl" --arg e "$WORK/etc" --arg o "$odd" '{
	capacity: {cpu: 3, memory_mb: 1024, slots: 2}, labels: {site: "lab", odd: $o}, max: 2,
	autoscale: false, provision_timeout: "30s",
	provisioner: {type: "systemd", systemctl: $s, env_dir: $e}}')"
scale sd 1
wait_for 20 "sd-1 ready and online (its agent read the env file)" _worker_ready_online sd-1
assert_eq '{"cpu":3,"memory_mb":1024,"slots":2}' "$(jbody -c .capacity)" "capacity of sd-1"
assert_eq "$(jq -cnS --arg o "$odd" '{site: "lab", odd: $o}')" "$(jbody -cS .labels)" \
	"labels of sd-1 (from the env file, through the agent)"
envf=$WORK/etc/agent-sd-1.env
tokf=$WORK/etc/agent-sd-1.token
[ -f "$envf" ] || fail "no $envf"
[ -f "$tokf" ] || fail "no $tokf"
assert_eq "$SERVER_URL" "$(envfile_var "$envf" OUTPOST_SERVER)" "OUTPOST_SERVER in the env file"
assert_eq "$tokf" "$(envfile_var "$envf" OUTPOST_TOKEN_FILE)" "OUTPOST_TOKEN_FILE in the env file"
assert_eq "cpu=3,memory_mb=1024,slots=2" "$(envfile_var "$envf" OUTPOST_CAPACITY)" \
	"OUTPOST_CAPACITY in the env file"
assert_eq "odd=$odd,site=lab" "$(sorted_list "$(envfile_var "$envf" OUTPOST_LABELS)")" \
	"OUTPOST_LABELS in the env file"
assert_eq "\"cpu=3,memory_mb=1024,slots=2\"" "$(env_var "$envf" OUTPOST_CAPACITY)" \
	"OUTPOST_CAPACITY's line (quoted)"
bad=$(grep -v '^#' "$envf" | grep -v '^$' | grep -v '^OUTPOST_\(SERVER\|TOKEN_FILE\|CAPACITY\|LABELS\)="')
assert_eq "" "$bad" "other lines in the env file"
assert_eq 600 "$(stat -c %a "$tokf")" "mode of the token file"
assert_match '^opt_[A-Za-z0-9_-]{43}$' "$(head -n 1 "$tokf")" "the token file's token"
assert_eq "start outpost-agent@sd-1" "$(head -n 1 "$WORK/systemctl.argv")" "systemctl's first call"
sd_pid=$(cat "$WORK/sd.sd-1.pid")

TOKEN=$SERVER_TOKEN api POST /api/v1/workers/sd-1/terminate
assert_status 200 "terminate sd-1"
_sd_stopped() { grep -q "^stop outpost-agent@sd-1" "$WORK/systemctl.argv"; }
wait_for 15 "systemctl stop outpost-agent@sd-1" _sd_stopped
wait_for 15 "the agent of sd-1 (pid $sd_pid) to be gone" _pid_gone "$sd_pid"
wait_for 15 "$envf removed" _gone "$envf"
wait_for 15 "$tokf removed" _gone "$tokf"
wait_for 15 "sd-1 terminated" _worker_state_is sd-1 terminated
# Removed: the cgroup its instances ran under (outpost-instances@, docs/containment.md) goes too.
assert_eq "start outpost-agent@sd-1|stop outpost-agent@sd-1 outpost-instances@sd-1" \
	"$(paste -sd'|' "$WORK/systemctl.argv")" "every systemctl call"
note "d: systemd provisioner ok"

# The server is fine after all of it, and stops cleanly.
kill -0 "$SERVER_PID" 2>/dev/null || fail "outpostd died"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"

# ============================================================================
# e. public_url: what the command provisioner's programs are told to reach.
# ============================================================================
printf '#!/bin/sh\nenv >"%s/penv.$OUTPOST_WORKER"\n' "$WORK" >"$WORK/bin/provision-env"
chmod +x "$WORK/bin/provision-env"
start_server --state-dir "$SERVER_DIR" --public-url http://outpost.example.test:8080
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates
assert_eq "cmd nq sd st" "$(jbody -r '[.items[].name] | join(" ")')" "the templates after a restart"
file_template pub "$(jq -cn --arg p "$WORK/bin/provision-env" '{
	capacity: {cpu: 1, memory_mb: 512, slots: 1}, max: 1, autoscale: false,
	provisioner: {type: "command", provision: [$p], deprovision: ["/bin/true"]}}')"
scale pub 1
wait_for 15 "the provision program of pub-1 to run" _exists "$WORK/penv.pub-1"
assert_eq http://outpost.example.test:8080 "$(env_var "$WORK/penv.pub-1" OUTPOST_SERVER)" \
	"OUTPOST_SERVER with public_url set"

# ============================================================================
# f. A removal while the provision program still runs is no failed provision;
#    a terminate whose deprovision fails is tried again, the worker stopped
#    until its host is gone.
# ============================================================================
printf '#!/bin/sh\necho "$OUTPOST_WORKER" >>"%s/slow.started"\nsleep 30\n' "$WORK" \
	>"$WORK/bin/provision-slow"
printf '#!/bin/sh\necho "$OUTPOST_WORKER" >>"%s/slow.deprovisioned"\nsleep 2\n' "$WORK" \
	>"$WORK/bin/deprovision-slow"
chmod +x "$WORK/bin/provision-slow" "$WORK/bin/deprovision-slow"
file_template slow "$(jq -cn --arg p "$WORK/bin/provision-slow" --arg d "$WORK/bin/deprovision-slow" '{
	capacity: {cpu: 1, memory_mb: 512, slots: 1}, max: 1, autoscale: false,
	retry_backoff: "200ms", provisioner: {type: "command", provision: [$p], deprovision: [$d]}}')"
scale slow 1
wait_for 15 "the provision program of slow-1 to start" _exists "$WORK/slow.started"
scale slow 0
wait_for 15 "slow-1 terminated" _worker_state_is slow-1 terminated
# The killed provision program has ended, and a tick of the scaler since has reaped it.
wait_for 10 "the provision program of slow-1 to end" no_process "$WORK/bin/provision-slow"
scaler_marker
assert_eq "[]" "$(events_of provision_failed slow)" "provision_failed events of a removed slow-1"
assert_eq slow-1 "$(paste -sd' ' "$WORK/slow.deprovisioned")" "the deprovisions of slow-1 (once)"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/workers?template=slow&limit=100"
assert_eq slow-1 "$(jbody -r '[.items[].name] | join(" ")')" "the workers of slow (none made again)"

# deprovision fails twice, then works.
printf '#!/bin/sh\necho x >>"%s/flaky.tries"\n[ "$(wc -l <"%s/flaky.tries")" -ge 3 ]\n' "$WORK" \
	"$WORK" >"$WORK/bin/deprovision-flaky"
chmod +x "$WORK/bin/deprovision-flaky"
file_template flaky "$(jq -cn --arg p "$WORK/bin/provision-env" --arg d "$WORK/bin/deprovision-flaky" '{
	capacity: {cpu: 1, memory_mb: 512, slots: 1}, max: 1, autoscale: false,
	retry_backoff: "200ms", provision_timeout: "30s",
	provisioner: {type: "command", provision: [$p], deprovision: [$d]}}')"
scale flaky 1
wait_for 15 "the provision program of flaky-1 to run" _exists "$WORK/penv.flaky-1"
# The token the program is given is flaky-1's own: its agent uses it as it is (a join
# token would be refused: flaky-1 has its own token).
env_var "$WORK/penv.flaky-1" OUTPOST_JOIN_TOKEN >"$WORK/flaky-1.token"
AGENT_TOKEN_FILE=$WORK/flaky-1.token start_agent flaky-1 --capacity cpu=1,memory_mb=512,slots=1
wait_for 15 "flaky-1 ready and online" _worker_ready_online flaky-1
TOKEN=$SERVER_TOKEN api POST /api/v1/workers/flaky-1/terminate
assert_status 200 "terminate flaky-1"
assert_eq stopped "$(jbody -r .state)" "flaky-1 right after its terminate (deprovisioning)"
wait_for 20 "flaky-1 terminated after its deprovision worked" _worker_state_is flaky-1 terminated
assert_eq 3 "$(wc -l <"$WORK/flaky.tries")" "deprovision tries of flaky-1"
assert_eq 2 "$(events_of deprovision_failed flaky | jq length)" "deprovision_failed events of flaky-1"
TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/events?types=worker.state&worker=flaky-1&limit=100"
assert_eq "provisioning>ready ready>stopped stopped>terminated" \
	"$(jbody -r '[.items[].data | "\(.from)>\(.to)"] | join(" ")')" "the states of flaky-1"
note "f: removals ok"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
exit 0
