#!/bin/sh
# The log a machine reads: every line one JSON object; numbers and booleans
# typed as such (status, ms, a count), ids and names strings even when they
# look like numbers; the client's address, the proxy's only from a trusted
# one; a sane X-Request-Id kept, any other replaced; under journald
# (JOURNAL_STREAM naming stderr) each line led by its syslog priority, and
# not when the variable names another stream.
. "$(dirname "$0")/lib.sh"

cat >"$WORK/alerts.json" <<'JSON'
{ "rules": [ { "name": "no-room", "cooldown": "1h",
  "condition": { "type": "free_capacity_below", "resource": "slots", "threshold": 1 } } ] }
JSON
start_server --log-level debug
rid() {	# X-REQUEST-ID: GET /healthz with it; RID_OUT gets the answer's
	RID_OUT=$(curl -sS -o /dev/null -D - --max-time 10 -H "X-Request-Id: $1" "$SERVER_URL/healthz" |
		tr -d '\r' | awk -F': ' 'tolower($1) == "x-request-id" { print $2 }')
}
rid 12345
assert_eq 12345 "$RID_OUT" "a numeric-looking X-Request-Id kept"
rid "abc-DEF_1.2:3"
assert_eq "abc-DEF_1.2:3" "$RID_OUT" "an X-Request-Id of the safe characters kept"
long=$(printf 'a%.0s' $(seq 65))
rid "$long"
assert_ne "$long" "$RID_OUT" "a 65-byte X-Request-Id"
[ -n "$RID_OUT" ] || fail "no X-Request-Id made in place of a 65-byte one"
rid 'a"b'
assert_ne 'a"b' "$RID_OUT" "an X-Request-Id with a quote"
made=$RID_OUT
rid 'a b'
assert_ne 'a b' "$RID_OUT" "an X-Request-Id with a space"
curl -sS -o /dev/null -H 'X-Forwarded-For: 203.0.113.9' -H 'X-Request-Id: xff' "$SERVER_URL/healthz"
api_ok 200 GET /api/v1/workers
wait_for 10 "the alert.fired line" grep -q '"msg":"alert.fired"' "$SERVER_LOG"

# Every line is JSON.
n=0
while IFS= read -r line; do
	printf '%s' "$line" | jq -e 'type == "object" and (.ts | type) == "string" and
		(.level | type) == "string" and .prog == "outpostd"' >/dev/null ||
		fail "a log line that is not a JSON object of ts, level, prog: $line"
	n=$((n + 1))
done <"$SERVER_LOG"
[ "$n" -ge 8 ] || fail "only $n log lines"

req() { grep '"msg":"http.request"' "$SERVER_LOG" | jq -c "select($1)"; }
line=$(req '.request_id == "12345"' | head -n 1)
[ -n "$line" ] || fail "no http.request line with the request id 12345"
assert_eq "string number number string string" \
	"$(printf '%s' "$line" | jq -r '[.request_id, .status, .ms, .client, .path] | map(type) | join(" ")')" \
	"the types of request_id, status, ms, client, path"
assert_eq "200 127.0.0.1 false" "$(printf '%s' "$line" | jq -r '"\(.status) \(.client) \(has("proxy"))"')" \
	"the request's status and client"
[ -n "$(req '.request_id == "abc-DEF_1.2:3"')" ] || fail "no line with the kept request id"
[ -z "$(req ".request_id == \"$long\"")" ] || fail "a 65-byte request id logged"
[ -n "$(req ".request_id == \"$made\"")" ] || fail "no line with the id made for a bad one"
# X-Forwarded-For from a peer that is no trusted proxy: not believed, no proxy field.
assert_eq "127.0.0.1 false" "$(req '.request_id == "xff"' | jq -r '"\(.client) \(has("proxy"))"')" \
	"a forwarded-for from an untrusted peer"
assert_eq number "$(grep '"msg":"alerts.loaded"' "$SERVER_LOG" | head -n 1 | jq -r '.rules | type')" \
	"alerts.loaded's rules"
assert_eq warn "$(grep '"msg":"alert.fired"' "$SERVER_LOG" | head -n 1 | jq -r .level)" "alert.fired's level"
stop_server

# From a trusted proxy: the client it names, and the proxy beside it.
start_server --trusted-proxies 127.0.0.1 --log-level debug
curl -sS -o /dev/null -H 'X-Forwarded-For: 203.0.113.9' -H 'X-Request-Id: via-proxy' "$SERVER_URL/healthz"
wait_for 5 "the proxied request's line" grep -q '"request_id":"via-proxy"' "$SERVER_LOG"
assert_eq "203.0.113.9 127.0.0.1" "$(req '.request_id == "via-proxy"' | jq -r '"\(.client) \(.proxy)"')" \
	"client and proxy through a trusted proxy"
stop_server

# Under journald: JOURNAL_STREAM is stderr's dev:inode, and each line starts with <N>.
journal_run() {	# LOG JOURNAL_STREAM: outpostd with stderr on LOG; URL once it listens
	local log=$1 js=$2
	(
		_ws_close_fds_but
		JOURNAL_STREAM=$js exec "$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/jstate" \
			--log-format json --log-level debug --template-dir "$WORK/templates" \
			--runbook-dir "$WORK/runbooks" --alerts-file "$WORK/alerts.json"
	) 2>>"$log" >/dev/null &
	JPID=$!
	track_pid "$JPID"
	wait_for 15 "outpostd listening (journal)" grep -q '"outpostd.listening"' "$log"
	JURL=$(grep '"outpostd.listening"' "$log" | sed 's/^<[0-9]>//' | jq -r .url)
}
: >"$WORK/journal.log"
journal_run "$WORK/journal.log" "$(stat -c '%d:%i' "$WORK/journal.log")"
curl -sS -o /dev/null "$JURL/healthz"
wait_for 10 "alert.fired (journal)" grep -q '"msg":"alert.fired"' "$WORK/journal.log"
kill "$JPID"; wait "$JPID" 2>/dev/null
grep -v '^<[3467]>{' "$WORK/journal.log" | head -n 3 | grep . &&
	fail "lines under journald without a <N> priority before their JSON"
assert_eq "<6>" "$(grep '"outpostd.listening"' "$WORK/journal.log" | cut -c1-3)" "an info line's priority"
assert_eq "<4>" "$(grep '"msg":"alert.fired"' "$WORK/journal.log" | head -n 1 | cut -c1-3)" \
	"a warn line's priority"
assert_eq "<7>" "$(grep '"msg":"http.request"' "$WORK/journal.log" | head -n 1 | cut -c1-3)" \
	"a debug line's priority"
sed 's/^<[0-9]>//' "$WORK/journal.log" | jq -e . >/dev/null || fail "a journal line is not JSON after its <N>"
# JOURNAL_STREAM left from a parent whose stderr was another stream: no prefix.
: >"$WORK/other.log"
journal_run "$WORK/other.log" "$(stat -c '%d:%i' "$WORK/journal.log")"
kill "$JPID"; wait "$JPID" 2>/dev/null
if grep -q '^<' "$WORK/other.log"; then fail "a <N> prefix when JOURNAL_STREAM names another file"; fi
