#!/bin/sh
# outpost-agent as a real process: it registers its worker with the capacity
# and labels it is given, keeps it online with heartbeats, is seen offline
# then lost once killed, registers again when restarted, keeps its work
# directory to itself, tells hooks their directory absolutely, and refuses
# bad flags (exit 2) and a token or registration the server refuses (exit 1)
# with a message.
. "$(dirname "$0")/lib.sh"

AGENT=$top_builddir/src/agent/outpost-agent
[ -x "$AGENT" ] || fail "$AGENT is not built"

OUTPOST_WORKER_OFFLINE_AFTER=1s OUTPOST_WORKER_LOST_AFTER=2s start_server
create_token agent-1 agent
printf '%s\n' "$NEW_TOKEN" >"$WORK/agent.token"

start_agent() {
	"$AGENT" --server "$SERVER_URL" --token-file "$WORK/agent.token" --name w-a \
		--capacity cpu=4,memory_mb=8192,slots=3 --labels zone=a,arch=x86_64 \
		--work-dir "$WORK/agent-work" --heartbeat 300ms --log-format json \
		>>"$WORK/agent.log" 2>&1 &
	AGENT_PID=$!
	track_pid "$AGENT_PID"
}
health_is() {
	TOKEN=$SERVER_TOKEN api GET /api/v1/workers/w-a
	[ "$STATUS" = 200 ] && [ "$(jbody .health)" = "$1" ]
}

start_agent
wait_for 10 "the agent to register w-a" health_is online
assert_eq '{"cpu":4,"memory_mb":8192,"slots":3}' "$(jbody -c .capacity)" "capacity of w-a"
assert_eq '{"arch":"x86_64","zone":"a"}' "$(jbody -c -S .labels)" "labels of w-a"
assert_eq ready "$(jbody .state)" "state of w-a"
[ -d "$WORK/agent-work" ] || fail "the agent did not make its work directory"

# Heartbeats keep it online well past worker_offline_after: a worker registered now that
# says nothing is lost (the health checks of worker_lost_after have run), and w-a never
# left online meanwhile.
get_last_seq
since=$LAST_SEQ
health_marker
assert_eq online "$(health_is online; jbody .health)" "health while the agent runs"
api_ok 200 GET "/api/v1/events?since=$since&types=worker.health&limit=1000"
assert_eq "" "$(jbody -r '[.items[] | select(.data.worker.name == "w-a") | .data.to] |
	join(" ")')" "w-a's health changes while its agent runs"

# kill -9: offline, then lost.
kill -KILL "$AGENT_PID"
wait_for 10 "w-a to be lost after its agent was killed" health_is lost

# Restarted, it registers again and is online.
start_agent
wait_for 10 "w-a online again" health_is online
api_ok 200 GET "/api/v1/events?types=worker.registered"
assert_eq 2 "$(jbody '[.items[] | select(.data.worker.name == "w-a")] | length')" \
	"worker.registered events for w-a"

# A second agent on the same work directory would take the first one's hooks for its own.
timeout 10 "$AGENT" --server "$SERVER_URL" --token-file "$WORK/agent.token" --name w-c \
	--work-dir "$WORK/agent-work" >"$WORK/second.out" 2>&1
assert_eq 2 "$?" "exit code of a second agent on the same work directory"
assert_contains "another outpost-agent runs on this work directory" "$(cat "$WORK/second.out")" \
	"why the second agent stopped"

# SIGTERM stops it with 0, and so does SIGHUP (a closed terminal).
kill -TERM "$AGENT_PID"
wait_exit "$AGENT_PID" 10
assert_eq 0 "$EXIT_RC" "exit code of the agent after SIGTERM"
start_agent
wait_for 10 "w-a online again" health_is online
kill -HUP "$AGENT_PID"
wait_exit "$AGENT_PID" 10
assert_eq 0 "$EXIT_RC" "exit code of the agent after SIGHUP"

# A relative work directory: the hooks are told where they are, absolutely.
_has_agents=1	# hooks start: the cleanup kills what is left of them
mkdir -p "$WORK/rel"
api_ok 201 POST /api/v1/definitions '{"name":"where","hooks":{"run":["sh","-c",
	"cd \"$OUTPOST_WORK_DIR\" && pwd > seen; exec sleep 60"]}}'
(cd "$WORK/rel" && exec "$AGENT" --server "$SERVER_URL" --token-file "$WORK/agent.token" \
	--name w-rel --work-dir here --heartbeat 300ms --log-format json) >>"$WORK/rel.log" 2>&1 &
track_pid $!
wait_for 10 "w-rel online" sh -c "curl -s -H 'Authorization: Bearer $SERVER_TOKEN' \
	$SERVER_URL/api/v1/workers/w-rel | jq -e '.health == \"online\"' >/dev/null"
api_ok 200 POST /api/v1/workers/w-a/cordon
api_ok 201 POST /api/v1/instances "{\"definition\":\"where\",\"owner\":\"o\",\
\"timeslot_start\":\"$(date -u +%Y-%m-%dT%H:%M:%SZ)\",\"timeslot_end\":\"$SLOT_END\"}"
id=$(jbody .id)
wait_for 10 "the hook to say where it runs" test -s "$WORK/rel/here/instances/$id/work/seen"
assert_eq "$WORK/rel/here/instances/$id/work" "$(cat "$WORK/rel/here/instances/$id/work/seen")" \
	"OUTPOST_WORK_DIR with a relative --work-dir"
api_ok 200 POST "/api/v1/instances/$id/terminate"

# A registration the server refuses says why, and stops (exit 1).
timeout 10 "$AGENT" --server "$SERVER_URL" --token-file "$WORK/agent.token" --name w-d \
	--labels 'Zone=a' --work-dir "$WORK/agent-d" >"$WORK/refused-reg.out" 2>&1
assert_eq 1 "$?" "exit code for a registration the server refuses"
assert_contains "refused the registration of w-d" "$(cat "$WORK/refused-reg.out")" \
	"the refused registration's message"
assert_contains "(field: labels" "$(cat "$WORK/refused-reg.out")" "the field of the refusal"

# Bad flags: exit 2, naming the flag.
"$AGENT" --capacity cpu=0 --token-file "$WORK/agent.token" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for --capacity cpu=0"
assert_contains "outpost-agent: --capacity: capacity is cpu=N,memory_mb=N,slots=N with positive" \
	"$(cat "$WORK/bad.out")" "--capacity cpu=0 is named, with what is valid"
"$AGENT" --heartbeat soon --token-file "$WORK/agent.token" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for --heartbeat soon"
assert_contains "outpost-agent: --heartbeat: heartbeat must be a duration from 100ms to 10m" \
	"$(cat "$WORK/bad.out")" "--heartbeat soon is named, with what is valid"
"$AGENT" --cgroup-root sys/fs/cgroup --token-file "$WORK/agent.token" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code for a relative --cgroup-root"
assert_contains "outpost-agent: --cgroup-root: cgroup_root must be an absolute path" \
	"$(cat "$WORK/bad.out")" "a relative --cgroup-root is named, with what is valid"
"$AGENT" --server "$SERVER_URL" >"$WORK/bad.out" 2>&1
assert_eq 2 "$?" "exit code without a token file"
assert_contains "outpost-agent: --token-file is required" "$(cat "$WORK/bad.out")" \
	"a missing --token-file is named"

# Without its shim beside it (nor installed), the agent does not start: exit 2.
mkdir -p "$WORK/lone"
cp "$AGENT" "$WORK/lone/outpost-agent"
timeout 10 "$WORK/lone/outpost-agent" --server "$SERVER_URL" --token-file "$WORK/agent.token" \
	--name w-e --work-dir "$WORK/agent-e" >"$WORK/lone.out" 2>&1
rc=$?
if grep -q "cannot find outpost-shim beside outpost-agent or in /" "$WORK/lone.out"; then
	assert_eq 2 "$rc" "exit code without outpost-shim"
elif grep -q '"agent.starting"' "$WORK/lone.out"; then
	note "an installed outpost-shim was found: the missing shim's error is not seen here"
else
	fail "an agent without its shim: exit $rc, $(cat "$WORK/lone.out")"
fi

# A token the server refuses: exit 1 with its message (a viewer token is not an agent's).
create_token viewer-1 viewer
printf '%s\n' "$NEW_TOKEN" >"$WORK/viewer.token"
timeout 10 "$AGENT" --server "$SERVER_URL" --token-file "$WORK/viewer.token" --name w-b \
	--work-dir "$WORK/agent-b" \
	>"$WORK/refused.out" 2>&1
assert_eq 1 "$?" "exit code with a viewer token"
grep -q "agent role" "$WORK/refused.out" || fail "no reason given: $(cat "$WORK/refused.out")"
exit 0
