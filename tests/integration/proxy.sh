#!/bin/sh
# outpostd behind Debian's nginx with the shipped site (packaging/nginx/):
# TLS at nginx, the API, the event stream over wss:// and the web sign-in
# (cookie, CSRF header, Origin equal to Host) through it; X-Forwarded-For
# and -Proto believed from the trusted proxy alone, and the client's own
# address in the request log.
. "$(dirname "$0")/lib.sh"

NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "SKIP: $TEST_NAME needs nginx" >&2; exit 77; }
command -v openssl >/dev/null || { echo "SKIP: $TEST_NAME needs openssl" >&2; exit 77; }
command -v python3 >/dev/null || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }
site=$top_srcdir/packaging/nginx/outpost.conf
[ -f "$site" ] || fail "no $site"

pki=$WORK/pki
mkdir -p "$pki"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/ca.key" \
	-out "$pki/ca.crt" -days 2 -subj "/CN=outpost test CA" 2>/dev/null || fail "openssl CA"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$pki/site.key" \
	-out "$pki/site.csr" -subj "/CN=localhost" 2>/dev/null || fail "openssl req"
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >"$pki/ext"
openssl x509 -req -in "$pki/site.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
	-out "$pki/site.crt" -days 2 -extfile "$pki/ext" 2>/dev/null || fail "openssl x509"

# GETs that go well are logged at debug level: the log must have them. One
# connection an address: nginx (one address for all its clients, with its kept
# upstream connections and the event stream) is held by max_connections alone.
start_server --trusted-proxies 127.0.0.1 --log-level debug --max-connections-per-address 1
upstream=${SERVER_URL#http://}

# ---- nginx with the shipped site, on a free port of its own ----
ngx=$WORK/nginx
mkdir -p "$ngx/tmp"
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# The shipped file with only its CHANGE lines (and the listen) made this test's.
write_conf() {	# PORT
	{
		printf 'daemon off;\nmaster_process off;\npid %s/nginx.pid;\n' "$ngx"
		printf 'error_log %s/error.log warn;\nevents { worker_connections 256; }\nhttp {\n' "$ngx"
		printf '\taccess_log %s/access.log;\n' "$ngx"
		for t in client_body proxy fastcgi uwsgi scgi; do
			printf '\t%s_temp_path %s/tmp/%s;\n' "$t" "$ngx" "$t"
		done
		sed -e "s|server 127.0.0.1:8080;|server $upstream;|" \
			-e "s|listen 443 ssl;|listen 127.0.0.1:$1 ssl;|" \
			-e '/listen \[::\]:443 ssl;/d' \
			-e "s|server_name outpost.example.org;|server_name localhost;|" \
			-e "s|/etc/ssl/certs/outpost.crt|$pki/site.crt|" \
			-e "s|/etc/ssl/private/outpost.key|$pki/site.key|" "$site"
		printf '}\n'
	} >"$ngx/nginx.conf"
}
_nginx_up() { curl -s -o /dev/null --cacert "$pki/ca.crt" "https://localhost:$port/healthz"; }
started=
for attempt in 1 2 3 4 5; do
	port=$(free_port)
	write_conf "$port"
	"$NGINX" -t -p "$ngx" -c "$ngx/nginx.conf" >"$ngx/check.out" 2>&1 ||
		fail "nginx -t refuses the shipped site: $(cat "$ngx/check.out")"
	"$NGINX" -p "$ngx" -c "$ngx/nginx.conf" >"$ngx/nginx.out" 2>&1 &
	nginx_pid=$!
	track_pid "$nginx_pid"
	for _ in $(seq 100); do
		_nginx_up && break
		kill -0 "$nginx_pid" 2>/dev/null || break
		sleep 0.05
	done
	if _nginx_up; then
		started=1
		break
	fi
	# Another process took the port between the probe and nginx: another one.
	grep -q 'Address already in use' "$ngx/error.log" "$ngx/nginx.out" 2>/dev/null ||
		fail "nginx did not start: $(tail -n 5 "$ngx/error.log" "$ngx/nginx.out" 2>/dev/null)"
	kill "$nginx_pid" 2>/dev/null
	wait "$nginx_pid" 2>/dev/null
done
[ -n "$started" ] || fail "nginx found no free port in 5 attempts"
PROXY=https://localhost:$port

# pcurl ARGS...: curl through nginx, verifying its certificate.
pcurl() { curl -sS --max-time 20 --cacert "$pki/ca.crt" "$@"; }

# ---- the API ----
out=$(pcurl "$PROXY/healthz")
assert_eq ok "$out" "GET /healthz through nginx"
out=$(pcurl -H "Authorization: Bearer $SERVER_TOKEN" "$PROXY/api/v1/tokens")
assert_eq admin "$(printf %s "$out" | jq -r '.items[0].name')" "GET /api/v1/tokens through nginx"
out=$("$OUTPOST" --server "$PROXY" --token "$SERVER_TOKEN" --ca-file "$pki/ca.crt" \
	token create --name via-proxy --role viewer -o json 2>&1)
assert_eq 0 $? "outpost token create through nginx: $out"

# ---- the client's address: from the proxy's X-Forwarded-For, from nobody else's ----
# request_log PATH: the client of the request log line for PATH.
request_client() {
	grep '"http.request"' "$SERVER_LOG" | jq -r --arg p "$1" 'select(.path == $p) | .client' |
		tail -n 1
}
pcurl -o /dev/null --interface 127.0.0.2 -H "Authorization: Bearer $SERVER_TOKEN" \
	"$PROXY/api/v1/definitions"
_logged() { [ -n "$(request_client "$1")" ]; }
wait_for 5 "the request log line of /api/v1/definitions" _logged /api/v1/definitions
assert_eq 127.0.0.2 "$(request_client /api/v1/definitions)" \
	"the client address logged for a request through nginx from 127.0.0.2"
# Straight to outpostd from an address that is no proxy: its claim is ignored.
curl -sS -o /dev/null --interface 127.0.0.2 -H 'X-Forwarded-For: 203.0.113.66' \
	-H "Authorization: Bearer $SERVER_TOKEN" "$SERVER_URL/api/v1/templates"
wait_for 5 "the request log line of /api/v1/templates" _logged /api/v1/templates
assert_eq 127.0.0.2 "$(request_client /api/v1/templates)" \
	"the client address of a request that forged X-Forwarded-For"
# Nor is its X-Forwarded-Proto: a plain sign-in that claims https gets no Secure cookie.
hdrs=$(curl -sS -D - -o /dev/null --interface 127.0.0.2 -H 'X-Outpost-CSRF: 1' \
	-H 'X-Forwarded-Proto: https' -H 'Content-Type: application/json' \
	--data "{\"token\":\"$SERVER_TOKEN\"}" "$SERVER_URL/api/v1/session" | tr -d '\r')
assert_match '^HTTP/1.1 201' "$hdrs" "sign-in straight to outpostd from 127.0.0.2"
case $hdrs in
*Secure*) fail "X-Forwarded-Proto from an untrusted address made the cookie Secure" ;;
esac

# ---- the web sign-in through nginx: Origin equals Host, the cookie is Secure ----
hdrs=$(pcurl -D - -o "$WORK/signin.body" -H 'X-Outpost-CSRF: 1' -H "Origin: $PROXY" \
	-H 'Content-Type: application/json' --data "{\"token\":\"$SERVER_TOKEN\"}" \
	"$PROXY/api/v1/session" | tr -d '\r')
assert_match '^HTTP/1.1 201' "$hdrs" "sign-in through nginx: $(cat "$WORK/signin.body")"
assert_match 'set-cookie: outpost_session=[^;]+;.*; Secure' "$hdrs" "the cookie through nginx"
sid=$(printf '%s\n' "$hdrs" | sed -n 's/^set-cookie: outpost_session=\([^;]*\);.*/\1/p')
cookie="Cookie: outpost_session=$sid"
out=$(pcurl -H "$cookie" "$PROXY/api/v1/site")
printf %s "$out" | jq -e .instances >/dev/null || fail "GET /api/v1/site with the cookie: $out"
# A change with the cookie, from the page's own origin, through nginx.
code=$(pcurl -o "$WORK/change.body" -w '%{http_code}' -H "$cookie" -H 'X-Outpost-CSRF: 1' \
	-H "Origin: $PROXY" -H 'Content-Type: application/json' \
	--data '{"name":"proxied","hooks":{"run":["/bin/true"]}}' "$PROXY/api/v1/definitions")
assert_eq 201 "$code" "a definition made with the cookie through nginx: $(cat "$WORK/change.body")"
# Another origin is still refused through the proxy.
code=$(pcurl -o "$WORK/foreign.body" -w '%{http_code}' -H "$cookie" -H 'X-Outpost-CSRF: 1' \
	-H 'Origin: https://evil.example' -H 'Content-Type: application/json' \
	--data '{"name":"foreign","hooks":{"run":["/bin/true"]}}' "$PROXY/api/v1/definitions")
assert_eq 403 "$code" "a change with the cookie from another origin through nginx"

# ---- the event stream through nginx ----
# The browser's websocket: the cookie and its own Origin, upgraded (101).
pcurl --http1.1 -i -N --max-time 3 -H "$cookie" -H "Origin: $PROXY" \
	-H 'Connection: Upgrade' -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
	-H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' \
	-H 'Sec-WebSocket-Protocol: outpost.events.v1' "$PROXY/api/v1/events" \
	>"$WORK/ws.out" 2>/dev/null
assert_match '^HTTP/1.1 101' "$(head -n 1 "$WORK/ws.out" | tr -d '\r')" \
	"the websocket upgrade with the cookie through nginx"
# The CLI's stream over wss:// through nginx: a change made meanwhile arrives live.
"$OUTPOST" --server "$PROXY" --token "$SERVER_TOKEN" --ca-file "$pki/ca.crt" \
	events --follow --type 'token.*' >"$WORK/follow.out" 2>"$WORK/follow.err" &
track_pid $!
_follow_has() { grep -q "$1" "$WORK/follow.out"; }
wait_for 10 "the replay through nginx" _follow_has 'via-proxy'
TOKEN=$SERVER_TOKEN create_token live-through-proxy viewer
wait_for 10 "a live event through nginx" _follow_has 'live-through-proxy'

echo "PASS: $TEST_NAME"
