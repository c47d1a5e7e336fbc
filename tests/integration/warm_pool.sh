#!/bin/sh
# Warm pools: a definition with warm_pool.depth 2 has two instances made and
# instantiated ahead, waiting warm. A new instance whose slot has begun
# claims one: it is running at once, in the create answer, without
# instantiating again, and its run hook starts within a second with the new
# owner; the pool fills up again. A new version without a pool stops the
# warm ones. A pool whose agent came back without its instances is made up
# at once; one whose instantiate hook always fails backs off instead of
# making instances in a loop.
. "$(dirname "$0")/lib.sh"

start_server
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8
wait_online w1
H=$WORK/hooks
mkdir -p "$H"
shared_file notes	# every instance's hooks add their lines
cat >"$H/note.sh" <<'EOS'
#!/bin/sh
echo "$OUTPOST_HOOK id=$OUTPOST_INSTANCE_ID owner=$OUTPOST_OWNER pool=$OUTPOST_WARM_POOL" \
	>>"$OUTPOST_WORK_DIR/../../../../../notes"
EOS
cat >"$H/run.sh" <<'EOS'
#!/bin/sh
sh "$(dirname "$0")/note.sh"
date +%s%N >"$OUTPOST_WORK_DIR/../../../../../started.$OUTPOST_INSTANCE_ID"
while :; do sleep 0.2; done
EOS
hooks="\"instantiate\":[\"sh\",\"$H/note.sh\"],\"run\":[\"sh\",\"$H/run.sh\"],\"stop\":[\"sh\",\"$H/note.sh\"]"
define pool "\"hooks\":{$hooks},\"warm_pool\":{\"depth\":2}"

warm_ids() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?definition=pool&state=warm&limit=500"
	jbody '[.items[].id] | join(" ")'
}
two_warm() {
	[ "$(warm_ids | wc -w)" = 2 ]
}
wait_for 15 "two warm instances" two_warm
warm=$(warm_ids)
for id in $warm; do
	assert_eq warm-pool "$(inst "$id" .owner)" "owner of warm instance $id"
	assert_eq true "$(inst "$id" .pool)" "pool of warm instance $id"
	grep -qx "instantiate id=$id owner= pool=1" "$WORK/notes" ||
		fail "instance $id was not instantiated as a pool's (notes: $(cat "$WORK/notes"))"
done
api_ok 200 GET /metrics
assert_match 'outpost_instances_warm\{definition="pool"\} 2' "$BODY" "the warm gauge"

# ---- a claim: running in the answer, its run hook within a second ----
t0=$(date +%s%N)
create_now pool ana 3600
id=$INSTANCE_ID
assert_eq running "$(jbody .state)" "the state in the create answer"
assert_eq ana "$(jbody .owner)" "the owner in the create answer"
assert_eq false "$(jbody .pool)" "a claimed instance is no longer the pool's"
case " $warm " in
*" $id "*) ;;
*) fail "instance $id is not one of the warm ones ($warm)" ;;
esac
wait_for 5 "the run hook of the claimed instance" test -s "$WORK/started.$id"
ms=$((($(cat "$WORK/started.$id") - t0) / 1000000))
note "claimed instance $id: run hook started ${ms} ms after the request"
[ "$ms" -lt 1000 ] || fail "the claimed instance's run hook started ${ms} ms after the request"
grep -qx "run id=$id owner=ana pool=0" "$WORK/notes" || fail "run did not see its owner ana"
assert_eq 1 "$(grep -c "^instantiate id=$id " "$WORK/notes")" "instantiate runs of instance $id"
api_ok 200 GET "/api/v1/instances/$id/transitions"
assert_eq "pending scheduled instantiating warm running" "$(jbody '[.items[].to] | join(" ")')" \
	"the transitions of the claimed instance"
assert_eq "claimed from the warm pool for ana" "$(jbody -r '.items[-1].reason')" "why it runs"
api_ok 200 GET "/api/v1/instances/$id/placement"
assert_contains "claimed from the warm pool for ana" "$(jbody .summary)" "its placement"
api_ok 200 GET /metrics
assert_match 'outpost_scheduling_decisions_total\{result="claimed"\} 1' "$BODY" "claims counted"

# The pool fills up again.
wait_for 15 "two warm instances again" two_warm
assert_ne "$warm" "$(warm_ids)" "the warm instances after the refill"
# A slot that begins later does not take a warm instance: it has time to instantiate.
api_ok 201 POST /api/v1/instances "{\"definition\":\"pool\",\"owner\":\"ben\",\
\"timeslot_start\":\"$(at_offset 120)\",\"timeslot_end\":\"$(at_offset 3600)\"}"
assert_ne running "$(jbody .state)" "an instance whose slot starts in 2 minutes"
assert_eq ben "$(jbody .owner)" "its owner"
later=$(jbody .id)
api_ok 200 POST "/api/v1/instances/$later/terminate"

# ---- a new version without a pool: the warm ones stop ----
warm=$(warm_ids)
define pool "\"hooks\":{$hooks},\"warm_pool\":{\"depth\":0}"
for w in $warm; do
	wait_state "$w" stopped 15
	grep -qx "stop id=$w owner= pool=1" "$WORK/notes" || fail "warm instance $w's stop hook did not run"
done
# A definition without a pool leaves the gauge (its series ends, as Prometheus expects).
api_ok 200 GET /metrics
case $BODY in
*'outpost_instances_warm{definition="pool"} '[1-9]*) fail "warm instances counted after the pool went" ;;
esac
assert_eq running "$(inst "$id" .state)" "the claimed instance is no longer the pool's"

# ---- an agent back without its instances: the pool is made up at once ----
define again '"resources":{"cpu":1,"memory_mb":128},"hooks":{"instantiate":["true"],"run":["sleep","100"]},"warm_pool":{"depth":3}'
three_warm() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?definition=again&state=warm&limit=500"
	[ "$(jbody '.items | length')" = 3 ]
}
wait_for 15 "three warm instances of again" three_warm
kill_agent w1
# The host is back without its work directory (reinstalled, or a tmpfs), but with the
# worker's own token (a join token would be refused: w1 has its own token).
mkdir -p "$WORK/agents/w1-new"
cp "$WORK/agents/w1/worker.token" "$WORK/agents/w1-new/worker.token"
start_agent w1 --capacity cpu=8,memory_mb=8192,slots=8 --work-dir "$WORK/agents/w1-new"
wait_for 10 "again's failed instances" sh -c "curl -s -H 'Authorization: Bearer $TOKEN' \
	'$SERVER_URL/api/v1/instances?definition=again&state=failed' | jq -e '.items | length == 3' >/dev/null"
api_ok 200 GET "/api/v1/instances?definition=again&state=failed"
assert_match '^agent_restarted: ' "$(jbody -r '.items[0].state_reason')" "why again's instances failed"
# Not the definition's fault: no pause (3 failures would pause it for 20 s).
wait_for 10 "three warm instances of again after the restart" three_warm
grep '"pool.backoff"' "$SERVER_LOG" | grep -q '"definition":"again"' &&
	fail "a pool paused for instances its agent lost"

# ---- a pool that cannot instantiate backs off ----
define broken '"hooks":{"instantiate":["false"],"run":["sleep","100"]},"warm_pool":{"depth":1}'
sleep 8	# the window the rate is counted over, not a wait for something
api_ok 200 GET "/api/v1/instances?definition=broken&limit=500"
n=$(jbody '.items | length')
note "a failing pool made $n instances in 8 s"
[ "$n" -ge 2 ] || fail "a failing pool tried $n times in 8 s; it should retry"
[ "$n" -le 4 ] || fail "a failing pool made $n instances in 8 s: it does not back off"
grep -q '"pool.backoff"' "$SERVER_LOG" || fail "no pool.backoff in the server's log"
exit 0
