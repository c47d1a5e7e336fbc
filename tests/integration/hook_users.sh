#!/bin/sh
# Hooks run unprivileged: an agent run as root gives each instance a uid of its own
# from hook_uids (never 0, two running instances never the same, kept across the
# agent's restart), and a hook of one instance cannot read the agent's token, its
# records or another instance's work directory, nor signal another instance's hook or
# the agent. What a hook left running is killed when its instance is forgotten. An
# agent that cannot switch users says why and runs hooks as itself; bad settings exit 2.
. "$(dirname "$0")/lib.sh"

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: $TEST_NAME: hooks run as users of their own only under an agent run as root" >&2
	exit 77
fi

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
A=$WORK/agents/w1
H=$WORK/hooks
mkdir -p "$H"

# The victim: keeps a secret in its work directory and runs until it is ended.
cat >"$H/victim.sh" <<'EOS'
#!/bin/sh
echo "victim's secret" >"$OUTPOST_WORK_DIR/secret"
echo $$ >"$OUTPOST_WORK_DIR/run.pid"
while :; do sleep 0.2; done
EOS
# The attacker: tries what the target file names, says what each attempt did, and leaves
# a sleeper behind in a session of its own (out of its group's reach).
cat >"$H/attack.sh" <<'EOS'
#!/bin/sh
W=$OUTPOST_WORK_DIR/../../..
read -r vid vpid agent <"$OUTPOST_WORK_DIR/../../../../../target"
try() {	# WHAT CMD...
	what=$1
	shift
	if "$@" >/dev/null 2>&1; then echo "$what: done"; else echo "$what: refused"; fi
}
{
	echo "uid: $(id -u) gid: $(id -g) groups: $(id -G)"
	echo "nonewprivs: $(awk '/^NoNewPrivs/ { print $2 }' /proc/self/status)"
	echo "home: $HOME"
	try token cat "$W/worker.token"
	try records cat "$W/instances/$vid/record.json"
	try list ls "$W/instances/$vid/work"
	try secret cat "$W/instances/$vid/work/secret"
	try log cat "$W/instances/$vid/run.log"
	try kill-victim kill -TERM "$vpid"
	try kill-agent kill -TERM "$agent"
	try chown chown 0 "$OUTPOST_WORK_DIR"
} >"$OUTPOST_WORK_DIR/result" 2>&1
setsid sh -c 'exec sleep 3600' </dev/null >/dev/null 2>&1 &
echo $$ >"$OUTPOST_WORK_DIR/run.pid"
while :; do sleep 0.2; done
EOS
define victim "\"hooks\":{\"run\":[\"sh\",\"$H/victim.sh\"]}"
define attack "\"hooks\":{\"run\":[\"sh\",\"$H/attack.sh\"]}"

hook_uid() {	# PID: the uid the process runs as
	ps -o uid= -p "$1" | tr -d ' '
}

create_now victim v 3600
vid=$INSTANCE_ID
wait_state "$vid" running 15
wait_for 10 "the victim's pid" test -s "$A/instances/$vid/work/run.pid"
vpid=$(cat "$A/instances/$vid/work/run.pid")
vuid=$(hook_uid "$vpid")
echo "$vid $vpid $(agent_pid w1)" >"$WORK/target"

create_now attack a 3600
aid=$INSTANCE_ID
wait_state "$aid" running 15
wait_for 10 "the attacker's result" test -s "$A/instances/$aid/work/run.pid"
apid=$(cat "$A/instances/$aid/work/run.pid")
auid=$(hook_uid "$apid")
result=$(cat "$A/instances/$aid/work/result")
note "the attacker's attempts: $(printf %s "$result" | tr '\n' ';')"

# Each instance its own uid from the range, never root.
assert_match '^[0-9]+$' "$vuid" "the victim's uid"
assert_match '^[0-9]+$' "$auid" "the attacker's uid"
_hook_uids w1	# the range start_agent gave w1
lo=${HOOK_UIDS%-*}
hi=${HOOK_UIDS#*-}
[ "$vuid" -ge "$lo" ] && [ "$vuid" -le "$hi" ] || fail "the victim's uid $vuid is not of hook_uids $HOOK_UIDS"
[ "$auid" -ge "$lo" ] && [ "$auid" -le "$hi" ] || fail "the attacker's uid $auid is not of hook_uids $HOOK_UIDS"
assert_ne "$vuid" "$auid" "the uids of two running instances"
assert_contains "uid: $auid gid: $auid groups: $auid" "$result" "the attacker's identity"
assert_contains "nonewprivs: 1" "$result" "the hook's no_new_privs"
assert_contains "home: $A/instances/$aid/work" "$result" "the hook's HOME"

# Each attempt refused, and nothing harmed.
for what in token records list secret log kill-victim kill-agent chown; do
	assert_contains "$what: refused" "$result" "the attacker's attempt '$what'"
done
kill -0 "$vpid" 2>/dev/null || fail "the victim's hook was killed"
kill -0 "$(agent_pid w1)" 2>/dev/null || fail "the agent was killed"
assert_eq running "$(inst "$vid" .state)" "the victim's state"

# What is on disk: the work directories their users' alone, the agent's files its own.
assert_eq "700 $vuid" "$(stat -c '%a %u' "$A/instances/$vid/work")" "the victim's work directory"
assert_eq "700 $auid" "$(stat -c '%a %u' "$A/instances/$aid/work")" "the attacker's work directory"
assert_eq "711 0" "$(stat -c '%a %u' "$A")" "the agent's work directory"
assert_eq "711 0" "$(stat -c '%a %u' "$A/instances/$vid")" "the victim's instance directory"
assert_eq "600 0" "$(stat -c '%a %u' "$A/worker.token")" "the agent's token file"
assert_eq "600 0" "$(stat -c '%a %u' "$A/instances/$vid/record.json")" "the victim's record"
assert_eq "$vuid" "$(jq -r .user.uid "$A/instances/$vid/record.json")" "the uid in the record"

# The agent killed and started again: the victim keeps its uid, and a new instance gets
# another one.
kill_agent w1
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
_registered_twice() { [ "$(grep -c '"agent.registered"' "$WORK/agent.w1.log")" -ge 2 ]; }
wait_for 15 "the restarted agent to register" _registered_twice
create_now victim n 3600
nid=$INSTANCE_ID
wait_state "$nid" running 15
wait_for 10 "the new instance's pid" test -s "$A/instances/$nid/work/run.pid"
nuid=$(hook_uid "$(cat "$A/instances/$nid/work/run.pid")")
assert_ne "$vuid" "$nuid" "the uid of a new instance beside the victim, after a restart"
assert_ne "$auid" "$nuid" "the uid of a new instance beside the attacker, after a restart"

# Terminated: every process of the attacker's uid ends, the setsid sleeper too.
pgrep -u "$auid" -x sleep >/dev/null || fail "the attacker's sleeper is not running"
api_ok 200 POST "/api/v1/instances/$aid/terminate"
wait_for 15 "the attacker's directory to be removed" test ! -e "$A/instances/$aid"
# (A zombie has ended: it waits only for its reaper.)
[ -z "$(ps -o stat= -u "$auid" | grep -v '^Z')" ] ||
	fail "processes of uid $auid outlived their instance: $(ps -o pid=,stat=,args= -u "$auid")"
kill -0 "$vpid" 2>/dev/null || fail "the victim's hook was killed with the attacker's"
api_ok 200 POST "/api/v1/instances/$vid/terminate"
api_ok 200 POST "/api/v1/instances/$nid/terminate"

# A work directory others cannot reach: hooks run as the agent, and it says why.
mkdir -m 0700 "$WORK/closed"
start_agent w2 --work-dir "$WORK/closed/w2"
wait_online w2
grep '"agent.hook_users"' "$WORK/agent.w2.log" | grep -q "does not let other users through" ||
	fail "no agent.hook_users warning for a closed work directory: \
$(grep hook_users "$WORK/agent.w2.log")"

# Bad settings: exit 2, naming the setting.
"$AGENT" --hook-uids 5000-4000 --token-file "$AGENT_TOKEN_FILE" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for --hook-uids 5000-4000"
assert_contains "outpost-agent: --hook-uids: hook_uids is FIRST-LAST" "$(cat "$WORK/bad.out")" \
	"--hook-uids 5000-4000 is named"
"$AGENT" --hook-user no-such-user-here --token-file "$AGENT_TOKEN_FILE" \
	--work-dir "$WORK/agent-x" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for --hook-user no-such-user-here"
assert_contains "hook_user no-such-user-here: no such user" "$(cat "$WORK/bad.out")" \
	"a hook_user that does not exist"
"$AGENT" --hook-user root --token-file "$AGENT_TOKEN_FILE" --work-dir "$WORK/agent-x" \
	>"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for --hook-user root"
assert_contains "hooks never run as root" "$(cat "$WORK/bad.out")" "hook_user root"
exit 0
