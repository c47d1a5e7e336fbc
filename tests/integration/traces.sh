#!/bin/sh
# Traces: a real outpostd and a real outpost-agent send their spans to an OTLP/HTTP
# receiver written for the test (tests/tools/otlpsink.py, which checks each payload's shape):
#  a. POST /api/v1/instances with a traceparent: the answer's traceparent continues it
#     with the server's span; the instance.created event and the request's log line carry
#     the trace; the receiver gets one tree: the request's span under the given parent,
#     the placement under it, the agent's `run` hook span below them (parentSpanId
#     links followed up to the request's span), and the hook's TRACEPARENT names that span;
#  b. a malformed traceparent is ignored (a new trace, never an error);
#  c. a runbook run and its steps are spans of the request that started it, and an exec
#     step's TRACEPARENT names its step's span;
#  d. with no otlp_endpoint nothing is sent or queued: every count stays 0;
#  e. an endpoint that never answers: requests stay fast, spans are dropped and
#     counted (outpost_trace_spans_total{result="dropped"}), and SIGTERM is not held up;
#  f. hostile endpoints: an answer of 8 MiB is not read past its cap, a redirect is not
#     followed; both count their spans failed.
# And a bad otlp_endpoint stops outpostd and the agent (exit 2) with a message naming it.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
SINK=$top_srcdir/tests/tools/otlpsink.py

# start_sink DIR [--blackhole]: sets SINK_URL.
start_sink() {
	python3 "$SINK" "$@" >"$1.log" 2>&1 &
	track_pid $!
	wait_for 10 "the OTLP receiver's port" test -s "$1/port"
	SINK_URL=http://127.0.0.1:$(cat "$1/port")
}

# spans DIR JQ: jq -s over the spans DIR's receiver took.
spans() {
	touch "$1/spans"
	jq -r -s "$2" "$1/spans"
}

# The counter outpost_trace_spans_total{result=$1} of the server's /metrics.
spans_total() {
	curl -s --max-time 10 "$SERVER_URL/metrics" |
		sed -n "s/^outpost_trace_spans_total{result=\"$1\"} //p"
}

# ============================================================================
# A bad otlp_endpoint: exit 2, the setting named, for outpostd and the agent.
# ============================================================================
for bad in ftp://127.0.0.1:4318 127.0.0.1:4318 http:// "http://a b" http://127.0.0.1:4318/ \
	"http://127.0.0.1:4318?x=1" "http://[::1" http://u:secret@127.0.0.1:4318; do
	"$OUTPOSTD" --state-dir "$WORK/bad" --listen 127.0.0.1:0 --otlp-endpoint "$bad" \
		>"$WORK/bad.out" 2>&1
	rc=$?
	assert_eq 2 "$rc" "outpostd's exit status with --otlp-endpoint \"$bad\""
	assert_contains "otlp_endpoint must be an http:// or https:// URL" "$(cat "$WORK/bad.out")" \
		"outpostd's message for --otlp-endpoint \"$bad\""
	"$AGENT" --server http://127.0.0.1:1 --token-file /dev/null --work-dir "$WORK/badagent" \
		--otlp-endpoint "$bad" >"$WORK/bad.out" 2>&1
	rc=$?
	assert_eq 2 "$rc" "the agent's exit status with --otlp-endpoint \"$bad\""
	assert_contains "otlp_endpoint must be an http:// or https:// URL" "$(cat "$WORK/bad.out")" \
		"the agent's message for --otlp-endpoint \"$bad\""
done
[ ! -e "$WORK/bad/outpost.db" ] || fail "outpostd made a database with a bad otlp_endpoint"

# ============================================================================
# a. One tree from the request to the agent's run hook.
# ============================================================================
S=$WORK/sink
start_sink "$S"
runbook hello '{"name": "hello", "description": "two steps", "role": "operator",
  "steps": [{"exec": ["sh", "-c", "echo \"tp=$TRACEPARENT\""]}, {"exec": ["true"]}]}'
start_server --otlp-endpoint "$SINK_URL"
start_agent w1 --otlp-endpoint "$SINK_URL"
wait_online w1
define traced '"hooks":{"run":["/bin/sh","-c","echo \"tp=$TRACEPARENT\"; exec sleep 60"]}'

T=4bf92f3577b34da6a3ce929d0e0e4736
P=00f067aa0ba902b7
body="{\"definition\":\"traced\",\"owner\":\"ana\",\"timeslot_start\":\"$(at_offset 0)\",\
\"timeslot_end\":\"$(at_offset 3)\"}"
api -H "traceparent: 00-$T-$P-01" POST /api/v1/instances "$body"
assert_status 201
id=$(jbody .id)
tp=$(header traceparent)
assert_match "^00-$T-[0-9a-f]{16}-01\$" "$tp" "the answer's traceparent"
R=$(printf %s "$tp" | cut -d- -f3)
assert_ne "$P" "$R" "the server's span id (its own, not the caller's)"

# The event the change wrote carries the request's span.
api_ok 200 GET "/api/v1/events?types=instance.created&limit=1000"
assert_eq "$tp" "$(jbody --arg id "$id" '.items[] | select(.id == ($id | tonumber)) | .trace')" \
	"the instance.created event's trace"
# The request's log line says its trace.
wait_for 5 "the request's log line" grep -q '"msg":"http.request".*"trace_id":"'"$T"'"' "$SERVER_LOG"
grep '"msg":"http.request"' "$SERVER_LOG" | grep '"trace_id":"'"$T"'"' |
	grep -q '"method":"POST","path":"/api/v1/instances"' ||
	fail "no http.request line of POST /api/v1/instances with trace_id $T"

_has_run_span() { [ -n "$(spans "$S" '.[] | select(.name == "hook run") | .spanId')" ]; }
wait_for 30 "the agent's run hook span at the receiver" _has_run_span
[ ! -s "$S/errors" ] || fail "the receiver refused payloads: $(head -n 3 "$S/errors")"

# The request's span: a server span under the caller's, named by its route.
req=$(spans "$S" ".[] | select(.spanId == \"$R\")")
assert_eq "$T" "$(printf %s "$req" | jq -r .traceId)" "the request span's trace"
assert_eq "$P" "$(printf %s "$req" | jq -r .parentSpanId)" "the request span's parent"
assert_eq "POST /api/v1/instances" "$(printf %s "$req" | jq -r .name)" "the request span's name"
assert_eq 2 "$(printf %s "$req" | jq -r .kind)" "the request span's kind (server)"
assert_eq outpostd "$(printf %s "$req" | jq -r .service)" "the request span's service"
assert_eq 201 "$(printf %s "$req" | jq -r '.attributes[] | select(.key ==
	"http.response.status_code") | .value.intValue')" "the request span's status code"

# The run hook's span: the agent's, in the same trace, the request's span an ancestor.
run=$(spans "$S" '[.[] | select(.name == "hook run")][0]')
assert_eq "$T" "$(printf %s "$run" | jq -r .traceId)" "the run hook span's trace"
assert_eq outpost-agent "$(printf %s "$run" | jq -r .service)" "the run hook span's service"
assert_eq "$id" "$(printf %s "$run" | jq -r '.attributes[] | select(.key ==
	"outpost.instance_id") | .value.intValue')" "the run hook span's instance"
chain=$(jq -r -s --arg start "$(printf %s "$run" | jq -r .spanId)" '
	(map({key: .spanId, value: .}) | from_entries) as $by |
	[$start | recurse(($by[.].parentSpanId // empty) | select($by[.] != null))] |
	map($by[.].name) | join(" < ")' "$S/spans")
assert_eq "hook run < placement < POST /api/v1/instances" "$chain" \
	"the run hook span's ancestors, by parentSpanId"
# The agent's reports are in the trace too: requests under the placement's span.
assert_eq "POST /api/v1/agent/instances/{id}/report < placement < POST /api/v1/instances" \
	"$(jq -r -s --arg t "$T" '[.[] | select(.traceId == $t)] |
	(map({key: .spanId, value: .}) | from_entries) as $by |
	[[.[] | select(.name == "POST /api/v1/agent/instances/{id}/report")][0].spanId |
	recurse(($by[.].parentSpanId // empty) | select($by[.] != null))] |
	map($by[.].name) | join(" < ")' "$S/spans")" "a report's ancestors"
# Every span of the trace is in one tree: its root's parent is the caller's span.
assert_eq "$P" "$(jq -r -s --arg t "$T" '[.[] | select(.traceId == $t)] |
	(map(.spanId)) as $ids | [.[] | select((.parentSpanId // "") as $p | $ids | index($p) |
	not) | .parentSpanId] | unique | join(",")' "$S/spans")" "the trace's one root parent"

# The hook was told its own span: TRACEPARENT is 00-TRACE-RUNSPAN-01.
_log_has_tp() { inst_log "$id" | grep -q '^tp=00-'; }
wait_for 10 "the run hook's output" _log_has_tp
assert_eq "00-$T-$(printf %s "$run" | jq -r .spanId)-01" \
	"$(inst_log "$id" | sed -n 's/^tp=//p' | head -n 1)" "the run hook's TRACEPARENT"
assert_eq 0 "$(spans_total dropped)" "spans dropped"
[ "$(spans_total exported)" -gt 0 ] || fail "outpost_trace_spans_total{result=\"exported\"} is 0"
note "a: one tree from POST /api/v1/instances to the agent's run hook ok"

# ============================================================================
# b. A malformed traceparent starts a new trace; it is never an error.
# ============================================================================
for bad in "00-$(printf %s "$T" | tr a-f A-F)-$P-01" "ff-$T-$P-01" "01-$T-$P-01" \
	"00-00000000000000000000000000000000-$P-01" "00-$T-0000000000000000-01" \
	"00-$T-$P-01-extra" "00-$T-$P-1" "00_${T}_${P}_01" "00-$T-$P-0g" " "; do
	api -H "traceparent: $bad" GET /api/v1/instances
	assert_status 200 "GET /api/v1/instances with traceparent \"$bad\""
	tp=$(header traceparent)
	assert_match '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' "$tp" "the answer's traceparent to \"$bad\""
	[ "$(printf %s "$tp" | cut -d- -f2)" != "$T" ] ||
		fail "traceparent \"$bad\" was continued: $tp"
done
# None at all: a new trace too, and two requests have two.
api GET /healthz
t1=$(header traceparent)
api GET /healthz
t2=$(header traceparent)
assert_match '^00-[0-9a-f]{32}-[0-9a-f]{16}-01$' "$t1" "the traceparent of a request without one"
assert_ne "$(printf %s "$t1" | cut -d- -f2)" "$(printf %s "$t2" | cut -d- -f2)" "two new traces"
# Not sampled (flags 00): continued, answered, and no span of it exported.
U=0af7651916cd43dd8448eb211c80319c
api -H "traceparent: 00-$U-b7ad6b7169203331-00" GET /api/v1/definitions
assert_match "^00-$U-[0-9a-f]{16}-00\$" "$(header traceparent)" "an unsampled trace's answer"
note "b: malformed traceparents ignored ok"

# ============================================================================
# c. A runbook's run and its steps: spans of the request that started it.
# ============================================================================
V=11111111111111111111111111111111
api -H "traceparent: 00-$V-2222222222222222-01" POST /api/v1/runbooks/hello/runs '{}'
assert_status 202
run_id=$(jbody .id)
wait_run "$run_id" succeeded
_has_run_spans() {
	[ "$(spans "$S" "[.[] | select(.traceId == \"$V\") | .name] | sort | join(\",\")")" = \
		"POST /api/v1/runbooks/{name}/runs,runbook.run,runbook.step,runbook.step" ]
}
wait_for 10 "the run's spans" _has_run_spans
assert_eq "runbook.step < runbook.run < POST /api/v1/runbooks/{name}/runs" \
	"$(jq -r -s --arg t "$V" '[.[] | select(.traceId == $t)] |
	(map({key: .spanId, value: .}) | from_entries) as $by |
	[[.[] | select(.name == "runbook.step")][0].spanId |
	recurse(($by[.].parentSpanId // empty) | select($by[.] != null))] |
	map($by[.].name) | join(" < ")' "$S/spans")" "a step's ancestors"
# The exec step's program was told its step's span.
assert_eq "00-$V-$(jq -r -s --arg t "$V" '[.[] | select(.traceId == $t and .name ==
	"runbook.step") | select(any(.attributes[]; .key == "outpost.step.index" and
	.value.intValue == "0"))][0].spanId' "$S/spans")-01" \
	"$(run_output "$run_id" | sed -n 's/^tp=//p')" "the first step's TRACEPARENT"
[ ! -s "$S/errors" ] || fail "the receiver refused payloads: $(head -n 3 "$S/errors")"
note "c: a run and its steps ok"
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit status"

# ============================================================================
# d. No otlp_endpoint: nothing sent, nothing queued.
# ============================================================================
rm -f "$S/requests"
start_server --state-dir "$WORK/d"
for i in 1 2 3 4 5; do
	api -H "traceparent: 00-$T-$P-01" GET /api/v1/instances
	assert_status 200
done
# The trace is still honoured and returned (with its log line), only not exported.
assert_match "^00-$T-[0-9a-f]{16}-01\$" "$(header traceparent)" "the traceparent with no endpoint"
for r in exported dropped failed; do
	assert_eq 0 "$(spans_total $r)" "outpost_trace_spans_total{result=\"$r\"} with no endpoint"
done
stop_server
[ ! -e "$S/requests" ] || fail "a server without otlp_endpoint sent: $(cat "$S/requests")"
note "d: no endpoint, nothing sent or queued ok"

# ============================================================================
# e. An endpoint that never answers: the loop stays quick, drops are counted.
# ============================================================================
B=$WORK/blackhole
start_sink "$B" --blackhole
start_server --state-dir "$WORK/e" --otlp-endpoint "$SINK_URL"
# 3000 requests on kept connections: more spans than the queue holds while the exporter's
# first send hangs (its 5 s timeout).
for i in $(seq 3000); do echo "url = \"$SERVER_URL/healthz\""; done >"$WORK/many.curl"
t0=$(date +%s%N)
curl -s --max-time 60 -K "$WORK/many.curl" -o /dev/null -o /dev/null >/dev/null ||
	fail "the 3000 requests failed"
ms=$((($(date +%s%N) - t0) / 1000000))
note "e: 3000 requests in $ms ms with a black-holed endpoint"
wait_for 10 "the exporter to connect to the black hole" grep -q connection "$B/requests"
# While the exporter hangs, a request is answered at once.
for i in 1 2 3 4 5; do
	t=$(curl -s -o /dev/null -w '%{time_total}' --max-time 10 "$SERVER_URL/healthz")
	awk -v t="$t" 'BEGIN { exit !(t < 0.5) }' || fail "GET /healthz took $t s with a black hole"
done
dropped=$(spans_total dropped)
[ "$dropped" -gt 0 ] || fail "no span counted dropped after 3000 requests (dropped $dropped)"
assert_eq 0 "$(spans_total exported)" "spans exported to a black hole"
t0=$(date +%s)
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit status with a black-holed endpoint"
[ $(($(date +%s) - t0)) -le 5 ] || fail "SIGTERM took $(($(date +%s) - t0)) s with a black hole"
grep -q '"msg":"otlp.send_failed"' "$SERVER_LOG" || fail "no otlp.send_failed in the log"
note "e: a black-holed endpoint: $dropped spans dropped, requests fast, quick stop ok"

# ============================================================================
# f. Hostile endpoints: a huge answer, a redirect.
# ============================================================================
rm -f "$S/requests"
H=$WORK/huge
start_sink "$H" --huge
start_server --state-dir "$WORK/f1" --otlp-endpoint "$SINK_URL"
api GET /api/v1/instances
_failed() { [ "$(spans_total failed)" -gt 0 ]; }
wait_for 15 "the spans sent to an 8 MiB answer counted failed" _failed
assert_eq 0 "$(spans_total exported)" "spans exported to an endpoint whose answer is 8 MiB"
stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit status"
Rd=$WORK/redirect
start_sink "$Rd" --redirect "http://127.0.0.1:$(cat "$S/port")/v1/traces"
start_server --state-dir "$WORK/f2" --otlp-endpoint "$SINK_URL"
api GET /api/v1/instances
wait_for 15 "the spans sent to a redirect counted failed" _failed
assert_eq 0 "$(spans_total exported)" "spans exported through a redirect"
stop_server
[ ! -e "$S/requests" ] || fail "the redirect was followed: $(cat "$S/requests")"
note "f: a huge answer and a redirect: spans failed, nothing followed ok"
