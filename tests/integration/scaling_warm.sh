#!/bin/sh
# A warm pool's deficit is demand too: a definition with warm_pool.depth 2 and
# no worker that fits its instances scales a local template (min 0) up by the
# workers the pool members need, one scale_up event that says so, and the
# pool fills: two warm instances on the new workers. Nothing is made past
# what the pool needs.
. "$(dirname "$0")/lib.sh"

[ -x "$AGENT" ] || fail "$AGENT is not built"
mkdir -p "$WORK/templates"
start_server --agent-program "$AGENT"

T=warm
TOKEN=$SERVER_TOKEN api PUT "/api/v1/templates/$T" '{"capacity":{"cpu":1,"memory_mb":512,"slots":1},
	"labels":{"kind":"warm"},"min":0,"max":4,"cooldown":"1s","idle_timeout":"10m",
	"provision_timeout":"30s","autoscale":true,
	"provisioner":{"type":"local","heartbeat":"300ms"}}'
assert_status 201 "PUT /api/v1/templates/$T"
assert_eq 0 "$(jbody .desired)" "desired of $T (min 0)"

define lab "\"resources\":{\"cpu\":1,\"memory_mb\":256},\"labels\":{\"kind\":\"warm\"},\
\"hooks\":{\"instantiate\":[\"true\"],\"run\":[\"sleep\",\"600\"]},\"warm_pool\":{\"depth\":2}"

_two_warm() {
	TOKEN=$SERVER_TOKEN api_ok 200 GET "/api/v1/instances?definition=lab&state=warm&limit=100"
	[ "$(jbody '.items | length')" = 2 ]
}
wait_for 30 "two warm instances of lab on new workers of $T" _two_warm
workers=$(jbody -r '[.items[].worker] | sort | join(" ")')
assert_eq "$T-1 $T-2" "$workers" "the workers of the warm instances"

ev=$(events_of scale_up)
assert_eq 1 "$(printf %s "$ev" | jq length)" "scale_up events of $T"
assert_match "^2 pending need cpu=2, memory_mb=512, free cpu=0, memory_mb=0 -> \\+2 workers of $T \\(0 to 2, max 4\\)\$" \
	"$(printf %s "$ev" | jq -r '.[0].data.reason')" "the reason of the scale_up"
# Two cooldowns later nothing more was made: the pool is full. A tick of the scaler that
# begins past them (it provisions a marker template) would have scaled $T up again.
up_ms=$(date -u -d "$(printf %s "$ev" | jq -r '.[0].ts')" +%s%3N)
wait_for 10 "two cooldowns (1s) past the scale_up" clock_past_ms $((up_ms + 2000))
scaler_marker
TOKEN=$SERVER_TOKEN api_ok 200 GET /api/v1/templates/$T
assert_eq "2 2" "$(jbody -r '"\(.desired) \(.workers.live)"')" "desired and live workers of $T"
assert_eq 1 "$(events_of scale_up | jq length)" "scale_up events of $T, later"
stop_server
assert_eq 0 "$EXIT_RC" "exit code of outpostd after SIGTERM"
