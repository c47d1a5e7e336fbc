#!/bin/sh
# TLS in outpostd: settings that do not fit are refused naming the setting;
# the TLS listener beside the plain one; only TLS 1.2 and later; the CLI and
# the agent (REST and the websocket) verify the certificate against --ca-file
# and refuse, saying so, without it; the session cookie is Secure over TLS;
# SIGHUP puts a new certificate in place without dropping an open connection,
# and a bad pair on SIGHUP keeps the running one. Certificates are made here
# with openssl.
. "$(dirname "$0")/lib.sh"

command -v openssl >/dev/null || { echo "SKIP: $TEST_NAME needs openssl" >&2; exit 77; }
AGENT=$top_builddir/src/agent/outpost-agent
pki=$WORK/pki
mkdir -p "$pki"

# cert NAME CN: a key and a certificate for localhost and 127.0.0.1, signed by the test's CA.
cert() {
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/$1.key" \
		-out "$pki/$1.csr" -subj "/CN=$2" 2>/dev/null || fail "openssl req $1"
	printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/ext"
	openssl x509 -req -in "$pki/$1.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
		-CAcreateserial -out "$pki/$1.crt" -days 2 -extfile "$pki/ext" 2>/dev/null ||
		fail "openssl x509 $1"
}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
	-out "$pki/ca.crt" -days 2 -subj "/CN=outpost test CA" 2>/dev/null || fail "openssl CA"
cert one "outpost one"
cert two "outpost two"
# A CA the server's certificate does not chain to.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/other.key" \
	-out "$pki/other.crt" -days 2 -subj "/CN=another CA" 2>/dev/null || fail "openssl other CA"

# ---- settings that do not fit: exit 2, naming the setting ----
refused() {	# WHAT NEEDLE ARGS...
	local what=$1 needle=$2 out
	shift 2
	out=$("$OUTPOSTD" --listen 127.0.0.1:0 --state-dir "$WORK/bad" "$@" 2>&1)
	assert_eq 2 $? "$what: exit status"
	assert_contains "$needle" "$out" "$what: the message"
}
refused "tls_listen alone" "tls_listen needs tls_cert and tls_key" --tls-listen 127.0.0.1:0
refused "tls_cert alone" "used only with tls_listen" --tls-cert "$pki/one.crt" \
	--tls-key "$pki/one.key"
refused "a missing certificate" "tls_cert $pki/none.crt: cannot read it" \
	--tls-listen 127.0.0.1:0 --tls-cert "$pki/none.crt" --tls-key "$pki/one.key"
refused "a key of another certificate" "tls_key $pki/two.key is not the key of tls_cert" \
	--tls-listen 127.0.0.1:0 --tls-cert "$pki/one.crt" --tls-key "$pki/two.key"
refused "a key file that is a certificate" "tls_key $pki/one.crt: no PEM private key" \
	--tls-listen 127.0.0.1:0 --tls-cert "$pki/one.crt" --tls-key "$pki/one.crt"
refused "a bad tls_listen" "tls_listen must be HOST:PORT" --tls-listen nowhere \
	--tls-cert "$pki/one.crt" --tls-key "$pki/one.key"
[ ! -e "$WORK/bad/outpost.db" ] || fail "a refused start made a database"

# ---- the two listeners ----
cp "$pki/one.crt" "$pki/live.crt"
cp "$pki/one.key" "$pki/live.key"
start_server --tls-listen 127.0.0.1:0 --tls-cert "$pki/live.crt" --tls-key "$pki/live.key"
TLS_URL=$(grep '"outpostd.listening"' "$SERVER_LOG" | tail -n 1 | jq -r '.tls_url // empty')
assert_match '^https://127\.0\.0\.1:[0-9]+$' "$TLS_URL" "the listening line's tls_url"
port=${TLS_URL##*:}
TLS_URL=https://localhost:$port
grep '"tls.certificate"' "$SERVER_LOG" | grep -q 'outpost one' ||
	fail "no tls.certificate log line naming the certificate"
api_ok 200 GET /healthz	# the plain listener still serves

out=$(curl -sS --cacert "$pki/ca.crt" "$TLS_URL/healthz" 2>&1)
assert_eq ok "$out" "GET /healthz over TLS"
curl -s -o /dev/null --cacert "$pki/other.crt" "$TLS_URL/healthz"
assert_eq 60 $? "curl with a CA the certificate does not chain to (60: refused)"
curl -s -o /dev/null --cacert "$pki/ca.crt" --tls-max 1.1 "$TLS_URL/healthz"
rc=$?
[ "$rc" -ne 0 ] || fail "a TLS 1.1 handshake was accepted"
out=$(openssl s_client -connect "127.0.0.1:$port" -tls1_1 </dev/null 2>&1)
assert_contains "alert protocol version" "$out" "openssl s_client -tls1_1"
out=$(curl -sS --cacert "$pki/ca.crt" --tlsv1.2 --tls-max 1.2 "$TLS_URL/healthz" 2>&1)
assert_eq ok "$out" "TLS 1.2"
# Plain HTTP to the TLS port gets no API answer.
out=$(curl -s --max-time 5 "http://127.0.0.1:$port/healthz" 2>/dev/null)
[ "$out" != ok ] || fail "plain HTTP was served on the TLS port"

# ---- the CLI: verified against --ca-file, refused without it ----
out=$("$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" --ca-file "$pki/ca.crt" \
	token list -o json 2>&1)
assert_eq 0 $? "outpost token list over TLS: $out"
assert_contains '"admin"' "$out" "outpost token list over TLS"
out=$(OUTPOST_CA_FILE=$pki/ca.crt "$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" \
	token list -o json 2>&1)
assert_eq 0 $? "OUTPOST_CA_FILE: $out"
out=$("$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" --ca-file "$pki/other.crt" \
	token list 2>&1)
assert_eq 3 $? "outpost with a CA that does not sign the certificate: exit status"
assert_contains "TLS certificate could not be verified" "$out" "outpost's message"
assert_contains "--ca-file" "$out" "outpost's message names --ca-file"
out=$("$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" --ca-file "$pki/none.crt" \
	token list 2>&1)
assert_eq 2 $? "outpost --ca-file of a missing file: exit status"
assert_contains "--ca-file: cannot read $pki/none.crt" "$out" "the message names the flag"
out=$(OUTPOST_CA_FILE=$pki/none.crt "$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" \
	token list 2>&1)
assert_eq 2 $? "OUTPOST_CA_FILE of a missing file: exit status"
assert_contains "OUTPOST_CA_FILE" "$out" "the message names the variable"

# The event stream over wss:// with the CA; a token made meanwhile arrives.
"$OUTPOST" --server "$TLS_URL" --token "$SERVER_TOKEN" --ca-file "$pki/ca.crt" \
	events --follow --type 'token.*' >"$WORK/follow.out" 2>"$WORK/follow.err" &
follow=$!
track_pid $follow
_follow_has() { grep -q "$1" "$WORK/follow.out"; }
wait_for 10 "the follower's replay" _follow_has 'name=admin'
TOKEN=$SERVER_TOKEN create_token over-wss viewer
wait_for 10 "the event of a token made while following over wss" _follow_has 'over-wss'

# ---- an agent over TLS: registered, online, and its instance run ----
TOKEN=$SERVER_TOKEN create_token agents agent
AGENT_TOKEN_FILE=$WORK/agent.token
printf '%s\n' "$NEW_TOKEN" >"$AGENT_TOKEN_FILE"
SERVER_URL=$TLS_URL start_agent tls-w1 --ca-file "$pki/ca.crt"
wait_online tls-w1
TOKEN=$SERVER_TOKEN define tlsdef '"hooks":{"run":["sleep","60"]}'
create_now tlsdef alice 30
wait_state "$INSTANCE_ID" running
# Without the CA it says why, and never registers.
SERVER_URL=$TLS_URL start_agent tls-w2
_agent_said_ca() { grep -q 'ca-file' "$WORK/agent.tls-w2.log"; }
wait_for 15 "the agent without the CA to say why it cannot connect" _agent_said_ca
TOKEN=$SERVER_TOKEN api GET /api/v1/workers/tls-w2
assert_status 404 "a worker whose agent refused the server's certificate"
kill -TERM "$AGENT_PID" 2>/dev/null

# ---- outpost-top over TLS, in a real terminal ----
if command -v tmux >/dev/null 2>&1; then
	. "$(dirname "$0")/tui_lib.sh"
	SERVER_URL=$TLS_URL top_start 100 30 --ca-file "$pki/ca.crt"
	wait_screen 10 "outpost-top live over TLS" "live, seq [0-9]+"
	keys q
	_top_exited() { [ -s "$WORK/top.exit" ]; }
	wait_for 10 "outpost-top to quit" _top_exited
	_tmux kill-server 2>/dev/null
	rm -f "$WORK/top.exit"
	# Without the CA: it says why and exits 3 (the server cannot be reached).
	printf '%s\n' "$SERVER_TOKEN" >"$WORK/top.token"
	top_session "env LANG=C.UTF-8 LC_ALL=C.UTF-8 $TOP --server $TLS_URL \
		--token-file $WORK/top.token 2>$WORK/top.log; \
		echo \"outpost-top exited \$?\" >$WORK/top.exit; sleep 600"
	wait_for 10 "outpost-top without the CA to exit" _top_exited
	assert_eq "outpost-top exited 3" "$(cat "$WORK/top.exit")" "outpost-top without the CA"
	assert_contains "TLS certificate could not be verified" "$(cat "$WORK/top.log")" \
		"outpost-top's message without the CA"
	_tmux kill-server 2>/dev/null
fi

# ---- the session cookie: Secure over TLS, not over plain HTTP ----
hdrs=$(curl -sS --cacert "$pki/ca.crt" -D - -o /dev/null -H 'X-Outpost-CSRF: 1' \
	-H 'Content-Type: application/json' --data "{\"token\":\"$SERVER_TOKEN\"}" \
	"$TLS_URL/api/v1/session" | tr -d '\r')
assert_match 'set-cookie: outpost_session=[^;]+;.*; Secure' "$hdrs" "the cookie over TLS"
api -H 'X-Outpost-CSRF: 1' POST /api/v1/session "{\"token\":\"$SERVER_TOKEN\"}"
assert_status 201 "sign-in over plain HTTP"
case $(header set-cookie) in
*Secure*) fail "the cookie over plain HTTP is Secure: $(header set-cookie)" ;;
esac

# ---- SIGHUP: a new certificate for new handshakes; the open connection lives on ----
serial_now() {
	openssl s_client -connect "127.0.0.1:$port" -servername localhost </dev/null 2>/dev/null |
		openssl x509 -noout -serial
}
serial_one=$(openssl x509 -noout -serial -in "$pki/one.crt")
serial_two=$(openssl x509 -noout -serial -in "$pki/two.crt")
assert_eq "$serial_one" "$(serial_now)" "the certificate served before SIGHUP"
# A kept-alive TLS connection, open across the reload.
mkfifo "$WORK/s_in"
exec {s_in}<>"$WORK/s_in"
openssl s_client -connect "127.0.0.1:$port" -CAfile "$pki/ca.crt" -quiet -ign_eof \
	<"$WORK/s_in" >"$WORK/s_out" 2>"$WORK/s_err" &
track_pid $!
s_client=$!
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$s_in"
_answers() { [ "$(grep -c '^ok' "$WORK/s_out" 2>/dev/null)" -ge "$1" ]; }
wait_for 10 "the first answer on the kept-alive TLS connection" _answers 1
cp "$pki/two.crt" "$pki/live.crt"
cp "$pki/two.key" "$pki/live.key"
kill -HUP "$SERVER_PID"
_reloaded() { [ "$(grep -c '"tls.reloaded"' "$SERVER_LOG")" -ge "$1" ]; }
wait_for 10 "tls.reloaded in the log" _reloaded 1
grep '"tls.reloaded"' "$SERVER_LOG" | grep -q 'outpost two' || fail "tls.reloaded names another cert"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$s_in"
wait_for 10 "an answer on the same connection after SIGHUP" _answers 2
kill -0 "$s_client" 2>/dev/null || fail "the kept-alive TLS connection ended at the reload"
assert_eq "$serial_two" "$(serial_now)" "the certificate of a new handshake after SIGHUP"
exec {s_in}>&-

# A bad pair on SIGHUP: logged, and the running certificate kept.
cp "$pki/one.key" "$pki/live.key"	# the key of the other certificate
kill -HUP "$SERVER_PID"
_reload_refused() { grep -q '"tls.reload"' "$SERVER_LOG"; }
wait_for 10 "the refused reload in the log" _reload_refused
grep '"tls.reload"' "$SERVER_LOG" | grep -q 'kept the running certificate' ||
	fail "the refused reload does not say the certificate was kept"
assert_eq "$serial_two" "$(serial_now)" "the certificate served after a refused reload"
out=$(curl -sS --cacert "$pki/ca.crt" "$TLS_URL/healthz" 2>&1)
assert_eq ok "$out" "GET /healthz after a refused reload"

stop_server
assert_eq 0 "$EXIT_RC" "outpostd's exit status"
echo "PASS: $TEST_NAME"
