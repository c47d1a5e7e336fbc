#!/bin/sh
# The front door: what a client can make the server hold before it knows who
# the client is. Each attack is repeated over raw sockets on loopback against
# the real server, and the answer checked:
#
# - a POST without credentials that announces 1 MiB is answered 401 at once,
#   before any byte of its body is sent;
# - a body sent a byte at a time is cut at body_timeout (408), however its
#   bytes come;
# - a sign-in body over its 4 KiB cap is answered 413 before it is read;
# - two Content-Length headers, "5, 45" and -1 are answered 400 naming it;
# - an encoded CR, LF or control character in the query is answered with the
#   API's JSON 400 naming the parameter;
# - connections over max_connections_per_address and max_connections are
#   answered 503 with Retry-After;
# - 20 Python urllib clients posting 1.1 MiB each all read the 413 (the body
#   is drained, not met by a closed socket and a broken pipe);
#
# and none of it changes anything.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || { echo "SKIP: $TEST_NAME needs python3" >&2; exit 77; }

cat >"$WORK/door.py" <<'EOF'
# door.py PORT MODE ARGS: one attack over raw sockets; prints what came back.
import socket, sys, threading, time, urllib.error, urllib.request

port = int(sys.argv[1])
mode = sys.argv[2]
args = sys.argv[3:]


def connect(src="127.0.0.1"):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((src, 0))
    s.settimeout(10)
    s.connect(("127.0.0.1", port))
    return s


def read_answer(s, t0):
    """Reads to the close; the ms of the first byte and of the close, and what came."""
    out, first = b"", None
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            if first is None:
                first = time.time()
            out += d
    except OSError:
        pass
    end = time.time()
    return out, int(((first or end) - t0) * 1000), int((end - t0) * 1000)


def status(out):
    parts = out.split(b" ", 2)
    return parts[1].decode() if len(parts) > 1 and out.startswith(b"HTTP/") else "none"


def body(out):
    return out.split(b"\r\n\r\n", 1)[1].decode(errors="replace") if b"\r\n\r\n" in out else ""


if mode == "raw":
    # raw REQUEST [SRC]: the request as written (escapes decoded), no more.
    req = args[0].encode().decode("unicode_escape").encode("latin1")
    s = connect(args[1] if len(args) > 1 else "127.0.0.1")
    t0 = time.time()
    s.sendall(req)
    out, first, closed = read_answer(s, t0)
    retry = [l for l in out.split(b"\r\n") if l.lower().startswith(b"retry-after:")]
    print(status(out), first, closed, retry[0].split(b":")[1].strip().decode() if retry else "-")
    print(body(out).strip())
elif mode == "drip":
    # drip TOKEN: a 1000-byte body, one byte every 0.3 s.
    s = connect()
    s.sendall(("POST /api/v1/definitions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
               "Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n" % args[0]).encode())
    t0 = time.time()
    sent = 0
    try:
        while sent < 1000 and time.time() - t0 < 15:
            s.sendall(b" ")
            sent += 1
            time.sleep(0.3)
    except OSError:
        pass
    out, first, closed = read_answer(s, t0)
    print(status(out), first, closed, sent)
elif mode == "hold":
    # hold SRC N TOKEN: N event-stream websockets from SRC, each upgraded, kept open (an
    # idle HTTP connection would be closed after the keep-alive timeout).
    held = []
    for _ in range(int(args[1])):
        s = connect(args[0])
        s.sendall(("GET /api/v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: outpost.events.v1\r\n"
                   "Authorization: Bearer %s\r\n\r\n" % args[2]).encode())
        got = b""
        while b"\r\n\r\n" not in got:
            d = s.recv(4096)
            if not d:
                sys.exit("a held connection was closed: %r" % got)
            got += d
        if not got.startswith(b"HTTP/1.1 101"):
            sys.exit("a held connection was not upgraded: %r" % got[:200])
        held.append(s)
    print("held", flush=True)
    time.sleep(60)
elif mode == "urllib":
    # urllib TOKEN N SIZE: N clients at once, each posting SIZE bytes.
    data = b" " * int(args[2])
    results = []

    def one():
        rq = urllib.request.Request("http://127.0.0.1:%d/api/v1/definitions" % port, data=data,
                                    headers={"Authorization": "Bearer " + args[0],
                                             "Content-Type": "application/json"})
        try:
            urllib.request.urlopen(rq, timeout=20)
            results.append("2xx")
        except urllib.error.HTTPError as e:
            results.append(str(e.code))
        except Exception as e:
            results.append(type(e).__name__)
    threads = [threading.Thread(target=one) for _ in range(int(args[1]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join(sorted(results)))
EOF

PORT=
door() { python3 "$WORK/door.py" "$PORT" "$@"; }

# raw_check WHAT STATUS CODE FIELD REQUEST [SRC]: the answer's status, and its JSON error.
raw_check() {
	local what=$1 st=$2 code=$3 field=$4 out
	shift 4
	out=$(door raw "$@") || fail "$what: door.py failed"
	RAW_LINE=$(printf '%s\n' "$out" | head -n 1)
	BODY=$(printf '%s\n' "$out" | sed 1d)
	assert_eq "$st" "${RAW_LINE%% *}" "$what: status (got: $(printf %s "$out" | head -c 300))"
	assert_eq "$code" "$(jbody '.error.code')" "$what: error.code"
	assert_eq "$field" "$(jbody '.error.field')" "$what: error.field"
}

start_server --body-timeout 2s
PORT=${SERVER_URL##*:}
get_last_seq
seq_before=$LAST_SEQ
api_ok 200 GET /api/v1/tokens
tokens_before=$(jbody '.items | length')

# ---- the body is not read before the caller is known ----
raw_check "a POST without a token announcing 1 MiB" 401 unauthenticated "" \
	'POST /api/v1/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1048576\r\n\r\n'
first_ms=$(printf %s "$RAW_LINE" | cut -d' ' -f2)
[ "$first_ms" -lt 1000 ] ||
	fail "the 401 to a body never sent came after $first_ms ms: the server waited for the body"
raw_check "a sign-in body over its cap" 413 payload_too_large "" \
	'POST /api/v1/session HTTP/1.1\r\nHost: x\r\nX-Outpost-CSRF: 1\r\nContent-Type: application/json\r\nContent-Length: 8192\r\n\r\n'
first_ms=$(printf %s "$RAW_LINE" | cut -d' ' -f2)
[ "$first_ms" -lt 1000 ] || fail "the sign-in 413 came after $first_ms ms, not at the headers"

# ---- a body has a deadline that its chunks do not move ----
read -r st first closed sent <<EOF2
$(door drip "$SERVER_TOKEN")
EOF2
assert_eq 408 "$st" "a body sent a byte every 0.3 s (closed after $closed ms, $sent bytes sent)"
[ "$first" -ge 1500 ] && [ "$first" -lt 5000 ] ||
	fail "the 408 came $first ms after the headers; body_timeout is 2 s"

# ---- framing ----
for cl in 'Content-Length: 5\r\nContent-Length: 45' 'Content-Length: 5, 45' 'Content-Length: -1' \
	'Content-Length: 1e3'; do
	raw_check "$cl" 400 invalid_argument Content-Length \
		"POST /api/v1/tokens HTTP/1.1\\r\\nHost: x\\r\\n$cl\\r\\n\\r\\nhello"
done

# ---- the query ----
raw_check "an encoded LF in the query" 400 invalid_argument types \
	'GET /api/v1/events?types=worker.state%0a&limit=2 HTTP/1.1\r\nHost: x\r\n\r\n'
raw_check "an encoded CR in the query" 400 invalid_argument limit \
	'GET /api/v1/events?limit=1%0d&bogus=1 HTTP/1.1\r\nHost: x\r\n\r\n'
raw_check "an encoded control character in the query" 400 invalid_argument owner \
	'GET /api/v1/instances?owner=%01 HTTP/1.1\r\nHost: x\r\n\r\n'
# A NUL or bad percent-encoding is refused by libwebsockets' parser before the
# request reaches outpostd (a closed connection, or its 403): never served.
for q in 'state=%00' 'owner=%ZZ' 'after=%%%garbage'; do
	out=$(door raw "GET /api/v1/instances?$q HTTP/1.1\\r\\nHost: x\\r\\n\\r\\n")
	case ${out%% *} in
	none | 403) ;;
	*) fail "GET /api/v1/instances?$q was answered $(printf %s "$out" | head -c 200)" ;;
	esac
done

# ---- a refused body is drained, so the client reads the answer ----
results=$(door urllib "$SERVER_TOKEN" 20 $((1100 * 1024)))
assert_eq "$(printf '413 %.0s' $(seq 20) | sed 's/ $//')" "$results" \
	"20 urllib clients posting 1.1 MiB each"

# Nothing of the above changed anything.
get_last_seq
assert_eq "$seq_before" "$LAST_SEQ" "the last event after every refused request"
api_ok 200 GET /api/v1/tokens
assert_eq "$tokens_before" "$(jbody '.items | length')" "tokens after every refused request"
stop_server

# ---- connection caps: 3 from one address, 5 in all, websockets counted ----
start_server --state-dir "$WORK/state2" --max-connections 5 --max-connections-per-address 3
PORT=${SERVER_URL##*:}
python3 "$WORK/door.py" "$PORT" hold 127.0.0.2 3 "$SERVER_TOKEN" >"$WORK/hold2.out" 2>&1 &
hold2=$!
track_pid $hold2
wait_for 10 "3 connections held from 127.0.0.2" grep -q held "$WORK/hold2.out"
raw_check "a fourth connection from 127.0.0.2" 503 unavailable "" \
	'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.2
assert_eq 1 "$(printf %s "$RAW_LINE" | cut -d' ' -f4)" "Retry-After of the 503"
raw_check "a websocket over the cap" 503 unavailable "" \
	'GET /api/v1/events HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: outpost.events.v1\r\n\r\n' 127.0.0.2
python3 "$WORK/door.py" "$PORT" hold 127.0.0.3 2 "$SERVER_TOKEN" >"$WORK/hold3.out" 2>&1 &
hold3=$!
track_pid $hold3
wait_for 10 "2 connections held from 127.0.0.3" grep -q held "$WORK/hold3.out"
raw_check "a sixth connection, from a third address" 503 unavailable "" \
	'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n' 127.0.0.4
# Connections that close make room again.
kill "$hold2" "$hold3"
wait_for 10 "a connection from 127.0.0.2 to be served once the others closed" \
	sh -c "python3 '$WORK/door.py' $PORT raw 'GET /healthz HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n' 127.0.0.2 | head -n 1 | grep -q '^200 '"
exit 0
