# The two sides of bench/run-door.sh, on loopback only, each bounded in time.
#
#   door.py attack PORT CONNS INTERVAL SECONDS PREFILL
#       CONNS connections at once, each a POST /api/v1/tokens without credentials
#       announcing a 1 MiB body, sending PREFILL bytes of it at once and then one
#       byte every INTERVAL seconds; a connection the server closes is opened
#       again. Prints "connections answers bytes" at the end.
#   door.py probe PORT PID SECONDS RATE
#       GET /healthz RATE times a second on one kept-alive connection, timing each
#       answer, and the server's VmRSS (/proc/PID/status) four times a second.
#       Prints "requests p50_ms p99_ms max_ms errors rss_first_kb rss_max_kb".
import selectors
import socket
import sys
import time

HOST = "127.0.0.1"


def attack(port, conns, interval, seconds, prefill):
    head = (b"POST /api/v1/tokens HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1048576\r\n\r\n")
    sel = selectors.DefaultSelector()
    due = {}
    opened = answers = sent = 0
    end = time.time() + seconds

    def open_one():
        nonlocal opened
        s = socket.create_connection((HOST, port), timeout=5)
        try:
            s.sendall(head + b" " * prefill)
        except OSError:
            pass	# closed while sending: seen as a close below
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
        due[s] = time.time() + interval
        opened += 1

    def drop(s):
        sel.unregister(s)
        del due[s]
        s.close()

    for _ in range(conns):
        open_one()
    while time.time() < end:
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            try:
                d = s.recv(65536)
            except OSError:
                d = b""
            if d.startswith(b"HTTP/"):
                answers += 1
            if not d:
                drop(s)
                open_one()
        now = time.time()
        for s in [s for s, t in due.items() if t <= now]:
            try:
                s.send(b" ")
                sent += 1
                due[s] = now + interval
            except OSError:
                drop(s)
                open_one()
    for s in list(due):
        drop(s)
    print(opened, answers, sent)


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def probe(port, pid, seconds, rate):
    req = b"GET /healthz HTTP/1.1\r\nHost: bench\r\n\r\n"
    lat, errors, rss = [], 0, [rss_kb(pid)]
    s = None
    start = time.time()
    next_rss = start + 0.25
    n = 0
    while time.time() - start < seconds:
        n += 1
        at = start + n / rate
        if at > time.time():
            time.sleep(at - time.time())
        t0 = time.perf_counter()
        try:
            if s is None:
                s = socket.create_connection((HOST, port), timeout=5)
            s.sendall(req)
            got = b""
            while not got.endswith(b"ok\n"):
                d = s.recv(4096)
                if not d:
                    raise OSError("closed")
                got += d
            lat.append((time.perf_counter() - t0) * 1000)
        except OSError:
            errors += 1
            if s is not None:
                s.close()
            s = None
        if time.time() >= next_rss:
            rss.append(rss_kb(pid))
            next_rss += 0.25
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(len(lat) * p / 100))] if lat else float("nan")
    print(len(lat), "%.3f" % pct(50), "%.3f" % pct(99), "%.3f" % (lat[-1] if lat else 0),
          errors, rss[0], max(rss))


if __name__ == "__main__":
    port = int(sys.argv[2])
    if sys.argv[1] == "attack":
        attack(port, int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]))
    else:
        probe(port, int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]))
