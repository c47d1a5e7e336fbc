#!/bin/sh
# `outpost instance transitions|logs|placement` and `outpost worker drain`
# against a real outpostd, the test acting as the agent with curl: the
# history and the placement agree with the API; logs prints every chunk in
# order, a header where the hook changes, across pages, filtered by hook;
# logs --follow prints what comes while it runs and ends by itself once the
# instance is over, or at SIGINT with exit 0; drain sends its deadline as
# given; a bad --hook or --deadline is a usage error that sends nothing.
. "$(dirname "$0")/lib.sh"

if [ ! -x "$OUTPOST" ]; then
	fail "$OUTPOST is not built"
fi

# No agent sends heartbeats here: the workers must stay online for the whole
# test. Debug logging writes a line for every request, which is how we see
# that a usage error sent none.
OUTPOST_WORKER_OFFLINE_AFTER=1h OUTPOST_WORKER_LOST_AFTER=2h start_server --log-level debug
cli_as_admin

# How many requests the server has logged for PATH (without its query).
requests_to() {
	grep -c "\"msg\":\"http.request\".*\"path\":\"$1\"" "$SERVER_LOG"
}

create_token agent1 agent
AGENT_TOKEN=$NEW_TOKEN

# as_agent STATUS METHOD PATH BODY: a call of the agent's (with the join token).
as_agent() {
	TOKEN=$AGENT_TOKEN api_ok "$@"
}

# register NAME CAPACITY-JSON: a worker, with the join token; its own token is
# kept for the calls of its agent (worker_token NAME).
register() {
	as_agent 201 POST /api/v1/agent/register "{\"name\":\"$1\",\"capacity\":$2}"
	eval "WORKER_TOKEN_$1=\$(jbody -r .token)"
}
worker_token() {
	eval echo "\$WORKER_TOKEN_$1"
}

# report ID WORKER FROM TO [REASON]: a step of the instance's first attempt
report() {
	TOKEN=$(worker_token "$2") api_ok 200 POST "/api/v1/agent/instances/$1/report" \
		"{\"name\":\"$2\",\"attempt\":1,\"from\":\"$3\",\"to\":\"$4\"\
${5:+,\"reason\":\"$5\"}}"
}

# chunk ID WORKER HOOK OFFSET TEXT (TEXT as a JSON string's inside: "a\n")
chunk() {
	TOKEN=$(worker_token "$2") api_ok 200 POST "/api/v1/agent/instances/$1/log" \
		"{\"name\":\"$2\",\"attempt\":1,\"hook\":\"$3\",\"offset\":$4,\"text\":\"$5\"}"
}

register w1 '{"cpu":4,"memory_mb":4096,"slots":4}'
define d '"hooks":{"run":["sleep","100"]}'
define z '"labels":{"zone":"x"},"hooks":{"run":["sleep","100"]}'

# ---- an instance on w1 with a history and a log of three hooks ----
create_now d ana 3600
id=$INSTANCE_ID
wait_state "$id" scheduled 10
report "$id" w1 scheduled instantiating
# No newline at its end: the next header must still start a line.
chunk "$id" w1 instantiate 0 'making it'
report "$id" w1 instantiating running
want=$(printf '==> instantiate (attempt 1) <==\nmaking it\n==> run (attempt 1) <==')
off=0
for n in $(seq 1 60); do
	chunk "$id" w1 run "$off" "line $n\\n"
	off=$((off + ${#n} + 6))
	want=$want$'\n'"line $n"
done
chunk "$id" w1 collect 0 'collected\n'
want=$want$'\n==> collect (attempt 1) <==\ncollected'

# ---- transitions ----
api_ok 200 GET "/api/v1/instances/$id/transitions"
api_transitions=$BODY
assert_eq 4 "$(jbody '.items | length')" "the instance has four transitions"
cli 0 instance transitions "$id"
assert_eq "$(printf 'AT FROM TO ACTOR REASON\n'; jbody '.items[] |
	[.at, (.from // "-"), .to, (.actor // "-"), (.reason // "-")] | join(" ")')" \
	"$(printf '%s\n' "$OUT" | tr -s ' ')" "the transitions table is the API's history"
cli 0 instance transitions "$id" -o json
assert_eq "$(printf %s "$api_transitions" | jq -S .)" "$(printf %s "$OUT" | jq -S .)" \
	"transitions -o json is the server's answer"
cli 1 instance transitions 9999
assert_contains "(field: id)" "$ERR" "transitions of an unknown instance"

# ---- logs ----
api_ok 200 GET "/api/v1/instances/$id/log"
assert_ne null "$(jbody .next)" "62 chunks are more than the server's first page"
cli 0 instance logs "$id"
assert_eq "$want" "$OUT" "logs: every chunk in order, a header at each hook"
assert_eq "" "$ERR" "logs says nothing on stderr"
cli 0 instance logs "$id" -o json
assert_eq null "$(printf %s "$OUT" | jq .next)" "logs -o json: one answer, next null"
api_ok 200 GET "/api/v1/instances/$id/log?limit=500"
assert_eq "$(jbody -c .items)" "$(printf %s "$OUT" | jq -c .items)" \
	"logs -o json holds every page's items"
cli 0 instance logs "$id" --hook run
assert_eq 61 "$(printf '%s\n' "$OUT" | wc -l)" "--hook run: a header and 60 lines"
assert_eq "==> run (attempt 1) <==" "$(printf '%s\n' "$OUT" | head -n 1)" "--hook run header"
assert_eq "line 60" "$(printf '%s\n' "$OUT" | tail -n 1)" "--hook run reaches the last page"
cli 0 instance logs "$id" --hook collect -o json
assert_eq collect "$(printf %s "$OUT" | jq -r '[.items[].hook] | unique | join(",")')" \
	"--hook collect -o json"
cli 0 instance logs "$id" --hook instantiate --attempt 1
assert_eq "$(printf '==> instantiate (attempt 1) <==\nmaking it')" "$OUT" "--hook with --attempt"
cli 0 instance logs "$id" --attempt 2
assert_eq "" "$OUT" "no chunk of a second attempt: nothing at all"

before=$(requests_to "/api/v1/instances/$id/log")
cli 2 instance logs "$id" --hook bad
assert_contains "--hook" "$ERR" "a bad --hook is named"
assert_contains "instantiate, run, collect, grade or stop" "$ERR" "... with the valid hooks"
cli 2 instance logs "$id" --attempt 0
assert_contains "--attempt" "$ERR" "a bad --attempt is named"
cli 2 instance logs "$id" --attempt x
assert_match "--attempt must be .*, not 'x'" "$ERR" "a bad --attempt is named, with its value"
cli 2 instance logs abc
assert_match "instance ID must be .*, not 'abc'" "$ERR" "a bad ID is named"
# Exit 2, not 3: the flags were refused before any connection was tried.
cli 2 --server http://127.0.0.1:1 instance logs "$id" --hook bad
assert_match "--hook must be .*, not 'bad'" "$ERR" "a bad --hook, refused before connecting"
assert_eq "$before" "$(requests_to "/api/v1/instances/$id/log")" "usage errors send nothing"
cli 1 instance logs 9999
assert_contains "(field: id)" "$ERR" "logs of an unknown instance"
cli 3 --server http://127.0.0.1:1 instance logs "$id"
assert_contains "cannot reach the server at http://127.0.0.1:1" "$ERR" "logs unreachable"

# ---- placement ----
register w2 '{"cpu":2,"memory_mb":2048,"slots":2}'
create_now z ben 3600
pending=$INSTANCE_ID
api_ok 200 GET "/api/v1/instances/$pending/placement"
api_placement=$BODY
assert_eq false "$(jbody .placed)" "an instance that needs zone=x is not placed"
cli 0 instance placement "$pending"
assert_eq "$(jbody .summary)" "$(printf '%s\n' "$OUT" | head -n 1)" \
	"placement: the summary comes first"
assert_contains "lack label zone=x" "$(printf '%s\n' "$OUT" | head -n 1)" \
	"the summary says what is missing"
assert_match $'\nWORKER +STATE +HEALTH +FITS +REASON\n' "$OUT" "placement: the workers' table"
assert_match $'\nw1 +ready +online +no +lacks label zone=x\n' "$OUT" "w1 lacks the label"
assert_match $'\nw2 +ready +online +no +lacks label zone=x$' "$OUT" "w2 lacks the label"
cli 0 instance placement "$pending" -o json
assert_eq "$(printf %s "$api_placement" | jq -S .)" "$(printf %s "$OUT" | jq -S .)" \
	"placement -o json is the server's answer"
api_ok 200 GET "/api/v1/instances/$id/placement"
cli 0 instance placement "$id"
assert_eq "$(jbody .summary)" "$OUT" "a placed instance: the summary alone, no table"
assert_match '^on w1; placed by ' "$OUT" "... naming its worker"
cli 0 instance placement "$id" -o json
assert_eq "true w1" "$(printf %s "$OUT" | jq -r '"\(.placed) \(.worker)"')" "placed on w1"
cli 1 instance placement 9999
assert_contains "no instance with id 9999 (field: id)" "$ERR" "placement of an unknown instance"

# ---- logs --follow ----
create_now d cem 3600
followed=$INSTANCE_ID
wait_state "$followed" scheduled 10
fw=$(inst "$followed" .worker)
report "$followed" "$fw" scheduled instantiating
report "$followed" "$fw" instantiating running
chunk "$followed" "$fw" run 0 'before\n'

# post PATH BODY: the agent's call from the background, with files of its own.
post() {
	curl -sS -o /dev/null -w '%{http_code}' --max-time 10 \
		-H "Authorization: Bearer $(worker_token "$fw")" -H 'Content-Type: application/json' \
		--data-binary "$2" "$SERVER_URL$1" \
		2>>"$WORK/bg.err" | grep -q '^200$'
}
has_text() {	# FILE TEXT
	grep -qF -- "$2" "$1" 2>/dev/null
}
# Once the follower has printed what exists, more output, then the end.
(
	wait_for 10 "the follower to print the first chunk" has_text "$WORK/follow.out" before
	post "/api/v1/agent/instances/$followed/log" \
		"{\"name\":\"$fw\",\"attempt\":1,\"hook\":\"run\",\"offset\":7,\
\"text\":\"after\\n\"}" ||
		fail "the background chunk was refused"
	wait_for 10 "the follower to print the second chunk" has_text "$WORK/follow.out" after
	post "/api/v1/agent/instances/$followed/report" \
		"{\"name\":\"$fw\",\"attempt\":1,\"from\":\"running\",\"to\":\"failed\",\
\"reason\":\"x\"}" ||
		fail "the background report was refused"
) &
bg=$!
track_pid "$bg"
timeout 20 "$OUTPOST" instance logs "$followed" --follow >"$WORK/follow.out" 2>"$WORK/follow.err"
rc=$?
[ "$rc" = 124 ] && fail "logs --follow did not end once the instance failed"
assert_eq 0 "$rc" "logs --follow exit status (stderr: $(cat "$WORK/follow.err"))"
wait "$bg" || fail "the background agent did not finish: $(cat "$WORK/bg.err" 2>/dev/null)"
assert_eq failed "$(inst "$followed" .state)" "the followed instance failed"
assert_eq "$(printf '==> run (attempt 1) <==\nbefore\nafter')" "$(cat "$WORK/follow.out")" \
	"--follow printed what came while it ran, once"

# SIGINT ends a follow of an instance that goes on; -o json is a chunk a line.
"$OUTPOST" instance logs "$id" --follow -o json >"$WORK/sigint.out" 2>"$WORK/sigint.err" &
follower=$!
track_pid "$follower"
wait_for 10 "the follower to print the log" has_text "$WORK/sigint.out" collected
kill -INT "$follower"
wait_exit "$follower" 10
assert_eq 0 "$EXIT_RC" "SIGINT ends logs --follow with exit 0"
assert_eq 62 "$(jq -s length "$WORK/sigint.out")" "--follow -o json: one chunk a line"

# ---- worker drain ----
cli 0 worker drain w2
assert_match $'\n +[0-9]+ +w2 +- +draining +online ' "$OUT" "drain prints the worker's row"
cli 0 worker get w2 -o json
assert_eq "draining null" "$(printf %s "$OUT" | jq -r '"\(.state) \(.drain_deadline)"')" \
	"a drain without --deadline has none"
cli 1 worker drain w2
assert_contains "outpost: the worker is already draining" "$ERR" \
	"a second drain prints the server's message"
cli 0 worker uncordon w2
t0=$(date +%s)
cli 0 worker drain w2 --deadline 10m -o json
assert_eq draining "$(printf %s "$OUT" | jq -r .state)" "drain --deadline 10m"
cli 0 worker get w2 -o json
deadline=$(date -d "$(printf %s "$OUT" | jq -r .drain_deadline)" +%s) ||
	fail "drain_deadline is not a time: $OUT"
[ "$deadline" -ge $((t0 + 590)) ] && [ "$deadline" -le $(($(date +%s) + 610)) ] ||
	fail "drain_deadline should be 10 minutes from now: $(printf %s "$OUT" | jq -c .)"
cli 0 worker uncordon w2
cli 0 worker drain w2 --deadline 2030-01-01T10:00:00+01:00 -o json
assert_eq 2030-01-01T09:00:00Z "$(printf %s "$OUT" | jq -r .drain_deadline)" \
	"an RFC 3339 deadline reaches the server"
cli 0 worker uncordon w2

before=$(requests_to /api/v1/workers/w2/drain)
cli 2 worker drain w2 --deadline tomorrow
assert_contains "--deadline" "$ERR" "a bad --deadline is named"
for bad in now 31d ""; do
	cli 2 worker drain w2 --deadline "$bad"
	assert_match "--deadline must be .*up to 30d.*, not '$bad'" "$ERR" \
		"--deadline '$bad' is named, with what is valid"
done
cli 2 --server http://127.0.0.1:1 worker drain w2 --deadline tomorrow
assert_match "--deadline must be .*, not 'tomorrow'" "$ERR" \
	"a bad --deadline, refused before connecting"
assert_eq "$before" "$(requests_to /api/v1/workers/w2/drain)" "a bad --deadline sends nothing"
cli 0 worker get w2 -o json
assert_eq ready "$(printf %s "$OUT" | jq -r .state)" "w2 is still ready"
cli 1 worker drain w9
assert_contains "no worker with id or name w9 (field: id)" "$ERR" "drain of an unknown worker"
cli 3 --server http://127.0.0.1:1 worker drain w2
assert_contains "cannot reach the server at http://127.0.0.1:1" "$ERR" "drain unreachable"

cli 0 worker drain --help
assert_contains "--deadline WHEN" "$OUT" "drain --help lists --deadline"
cli 0 --help
assert_eq "" "$(printf '%s\n' "$OUT" | awk 'length($0) > 99')" "outpost --help fits 99 columns"
for c in "instance transitions" "instance logs" "instance placement" "worker drain"; do
	cli 0 $c --help
	assert_eq "" "$(printf '%s\n' "$OUT" | awk 'length($0) > 99')" "$c --help fits 99 columns"
done
exit 0
