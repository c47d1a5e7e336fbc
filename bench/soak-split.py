# Where a route's time goes: the client's time of each request (soak.py's
# SOAK_LATENCY.rids: request id, route, ms) joined by X-Request-Id with
# outpostd's own for it (its JSON log's http.request lines: the time from the
# request's parse to its answer written). Prints a Markdown table per route:
# the client's p50/p95/p99 and, for the same requests, the server's.
#
#   python3 soak-split.py latency.csv.rids outpostd.log

import json
import sys
from collections import defaultdict


def pct(v, p):
    if not v:
        return 0.0
    return v[max(0, min(len(v) - 1, int(len(v) * p / 100.0 + 0.999) - 1))]


def main(rids_path, log_path):
    server = {}
    with open(log_path, errors="replace") as f:
        for line in f:
            if '"http.request"' not in line:
                continue
            try:
                j = json.loads(line)
            except ValueError:
                continue
            rid = j.get("request_id")
            if rid and "ms" in j:
                server[rid] = float(j["ms"])
    client = defaultdict(list)
    inside = defaultdict(list)
    with open(rids_path) as f:
        for line in f:
            rid, route, ms = line.rstrip("\n").rsplit(",", 2)
            if rid in server:
                client[route].append(float(ms))
                inside[route].append(server[rid])
    print("| route | joined | client p50 | p95 | p99 | outpostd p50 | p95 | p99 |")
    print("|---|---|---|---|---|---|---|---|")
    for route in sorted(client):
        c = sorted(client[route])
        s = sorted(inside[route])
        print("| `%s` | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %.1f |" % (
            route, len(c), pct(c, 50), pct(c, 95), pct(c, 99), pct(s, 50), pct(s, 95), pct(s, 99)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
