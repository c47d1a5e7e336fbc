#!/usr/bin/python3
# Each burst of the soak: its time at curl, outpostd's own, and who had the CPUs.
#
#   soak-burst.py CPU_SAMPLES OUTPOSTD_LOG LATENCY_BURST_CSV EVERY
#
# CPU_SAMPLES is soak-cpu.py's output. For each burst: curl's p50 and p95 (from
# each transfer's start to its last byte); outpostd's first parse and last answer
# of the burst, in ms from the burst's start; how long outpostd's loop ran and
# how long it waited for a CPU, from the burst's start to the first parse and
# from there to the last answer; and the processes that used the most CPU time
# in the 2 s around the burst, and the machine's whole (out of 2,000 ms a core).
import bisect
import csv
import datetime
import json
import sys

samples_path, log_path, phases_path, every = sys.argv[1:5]
every = float(every)

S, W = [], {}
for line in open(samples_path):
    f = line.split()
    if f[0] == "s":
        S.append((float(f[1]), int(f[2]), int(f[3])))
    elif f[0] == "w":
        W.setdefault(round(float(f[1])), []).append((f[2], float(f[3])))
T = [s[0] for s in S]


def at(t, b):
    """The sample at t, if t lies in burst b's window and a sample is near it."""
    if not b - 0.5 <= t <= b + 1.5:
        return None
    i = bisect.bisect_left(T, t)
    near = [S[k] for k in (i - 1, i) if 0 <= k < len(S) and abs(S[k][0] - t) < 0.05]
    return min(near, key=lambda s: abs(s[0] - t)) if near else None


def ts(s):
    return datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


server = {}
for line in open(log_path):
    if "soak-burst-" not in line:
        continue
    try:
        j = json.loads(line)
    except ValueError:
        continue
    if j.get("msg") != "http.request" or "ms" not in j:
        continue
    end = ts(j["ts"])
    b = round(end // every * every)
    server.setdefault(b, {})[j["request_id"]] = (end - j["ms"] / 1000, end)

client = {}
for r in csv.DictReader(open(phases_path)):
    client[r["rid"]] = float(r["total"]) * 1000


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p + 0.999) - 1)] if v else float("nan")


print("| burst | curl p50 / p95 ms | first parse, last answer ms | loop ran / waited before"
      " the first parse ms | ran / waited, first parse to last answer ms | most CPU in the"
      " 2 s around it, ms |")
print("|---|---|---|---|---|---|")
for n, b in enumerate(sorted(server)):
    g = server[b]
    first = min(s for s, _ in g.values())
    last = max(e for _, e in g.values())
    c = [client[r] for r in g if r in client]
    a, p, z = at(b, b), at(first, b), at(last, b)
    w = W.get(b, [])
    every_cpu = dict(w).get("(all)")
    top = ", ".join("%s %.0f" % (name, ms) for name, ms in [x for x in w if x[0] != "(all)"][:5])
    if every_cpu is not None:
        top = "all: %.0f; %s" % (every_cpu, top)
    if a is None or p is None or z is None:
        before = after = "not sampled"
    else:
        before = "%.1f / %.1f" % ((p[1] - a[1]) / 1e6, (p[2] - a[2]) / 1e6)
        after = "%.1f / %.1f" % ((z[1] - p[1]) / 1e6, (z[2] - p[2]) / 1e6)
    print("| %d (%s) | %.1f / %.1f | %.0f, %.0f | %s | %s | %s |" % (
        n + 1, datetime.datetime.fromtimestamp(b, datetime.timezone.utc).strftime("%H:%M:%S"),
        pct(c, 0.5), pct(c, 0.95), (first - b) * 1000, (last - b) * 1000, before, after,
        top or "not sampled"))
