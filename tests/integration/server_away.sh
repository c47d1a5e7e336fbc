#!/bin/sh
# The server stops answering (SIGSTOP: it takes connections and says
# nothing). A hook's timeout is its shim's, so it comes on time; the agent
# goes on with its instances, its reports waiting, and says them when the
# server is back. An agent killed meanwhile and started again runs no hook
# twice: what it did was on disk before it tried to say so.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4 --heartbeat 1s
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
cat >"$H/slow.sh" <<'EOF'
#!/bin/sh
date +%s%N >"$OUTPOST_WORK_DIR/started"
trap 'date +%s%N >"$OUTPOST_WORK_DIR/termed"; exit 1' TERM
sleep 60 &
wait
EOF
cat >"$H/count.sh" <<'EOF'
#!/bin/sh
echo "$OUTPOST_HOOK" >>"$OUTPOST_WORK_DIR/../../../../../starts.$OUTPOST_INSTANCE_ID"
[ "$OUTPOST_HOOK" = run ] && exec sleep 100
exit 0
EOF

# ---- a timeout while the server does not answer ----
define slow "\"hooks\":{\"instantiate\":[\"sh\",\"$H/slow.sh\"],\"run\":[\"sleep\",\"100\"]},\
\"timeouts\":{\"instantiate\":\"2s\"}"
create_now slow ana 3600
id=$INSTANCE_ID
dir=$WORK/agents/w1/instances/$id/work
wait_for 10 "the instantiate hook of $id to start" test -s "$dir/started"
kill -STOP "$SERVER_PID"
wait_for 20 "the SIGTERM of the 2s timeout" test -s "$dir/termed"
late=$((($(cat "$dir/termed") - $(cat "$dir/started")) / 1000000))
kill -CONT "$SERVER_PID"
[ "$late" -lt 4000 ] || fail "a timeout of 2s came after $late ms while the server did not answer"
wait_state "$id" failed 30
assert_eq "hook_timeout: instantiate ran past its timeout of 2s" "$(inst "$id" .state_reason)" \
	"why instance $id failed, said once the server was back"

# ---- the agent killed while its reports wait ----
# Instantiated at once, its slot starts a few seconds later: then the agent
# reports running and starts run, with the server stopped.
define twice "\"hooks\":{\"instantiate\":[\"sh\",\"$H/count.sh\"],\"run\":[\"sh\",\"$H/count.sh\"]}"
TOKEN=$SERVER_TOKEN api_ok 201 POST /api/v1/instances "{\"definition\":\"twice\",\"owner\":\"ben\",\
\"timeslot_start\":\"$(at_offset 4)\",\"timeslot_end\":\"$(at_offset 3600)\"}"
id=$(jbody .id)
wait_for 10 "the instantiate hook of $id" grep -qx instantiate "$WORK/starts.$id"
wait_for 10 "the instantiate hook of $id to end" \
	test -s "$WORK/agents/w1/instances/$id/instantiate.exit"
kill -STOP "$SERVER_PID"
wait_for 30 "the run hook of $id, the server stopped" grep -qx run "$WORK/starts.$id"
kill_agent w1
kill -CONT "$SERVER_PID"
start_agent w1 --capacity cpu=4,memory_mb=4096,slots=4 --heartbeat 1s
wait_state "$id" running 20
# The restarted agent's loop has gone round since (a heartbeat a second later, after its
# steps): a run it would start again has started.
t=$(date +%s)
wait_for 15 "a heartbeat of w1 after $t" heard_after w1 $((t + 1))
assert_eq "instantiate run" "$(tr '\n' ' ' <"$WORK/starts.$id" | sed 's/ $//')" \
	"the hooks of $id that started, across the agent's restart"
assert_contains '"agent.recovered"' "$(grep "\"instance\":\"$id\"" "$WORK/agent.w1.log")" \
	"the restarted agent took back the run hook of $id"
exit 0
