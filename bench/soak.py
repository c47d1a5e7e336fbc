# The soak's load (run-soak.sh runs it with locust, headless): operators using
# the API, bursts of 100 concurrent creates, websocket clients that come and
# go, and runbook runs. Every request's latency is kept per route and per
# minute; at the end they go to SOAK_LATENCY (CSV: minute,route,count,failures,
# p50,p95,p99,max in ms), the whole run's to SOAK_LATENCY.total, each
# failure's route and reason, counted, to SOAK_LATENCY.failures, and each API
# request's X-Request-Id, route and time to SOAK_LATENCY.rids.
#
# Settings, from the environment (run-soak.sh sets them): OUTPOST_TOKEN (an
# operator's or admin's), SOAK_API_USERS, SOAK_BURST (creates per burst),
# SOAK_BURST_EVERY (seconds), SOAK_WS_USERS, SOAK_SLOT_MIN/MAX (seconds).

import json
import os
import random
import time
from collections import defaultdict
from datetime import datetime, timedelta, timezone

import gevent
import gevent.os
import websocket
from locust import FastHttpUser, User, constant_throughput, events, task

TOKEN = os.environ["OUTPOST_TOKEN"]
AUTH = {"Authorization": "Bearer " + TOKEN}
API_USERS = int(os.environ.get("SOAK_API_USERS", "20"))
BURST = int(os.environ.get("SOAK_BURST", "100"))
BURST_EVERY = float(os.environ.get("SOAK_BURST_EVERY", "300"))
WS_USERS = int(os.environ.get("SOAK_WS_USERS", "10"))
SLOT_MIN = int(os.environ.get("SOAK_SLOT_MIN", "10"))
SLOT_MAX = int(os.environ.get("SOAK_SLOT_MAX", "30"))
OUT = os.environ.get("SOAK_LATENCY", "soak-latency.csv")

T0 = time.time()
# (minute, route) -> [ms, ...]; (minute, route) -> failures
samples = defaultdict(list)
failures = defaultdict(int)
reasons = defaultdict(int)


# Each API request carries an X-Request-Id, which outpostd logs with the
# time it took from the request's parse to its answer: run-soak.sh joins the
# two to tell the server's share of a route's latency from the client's.
rids = []
# The burst's phases, as curl times them (seconds from the transfer's start):
# connected, request about to be sent, first byte of the answer, last byte.
burst_phases = []
next_rid = iter(range(1, 1 << 62))


def hdrs():
    return {"Authorization": AUTH["Authorization"], "X-Request-Id": "soak-%d" % next(next_rid)}


@events.request.add_listener
def on_request(request_type, name, response_time, exception, response=None, **_kw):
    key = (int((time.time() - T0) // 60), request_type + " " + name)
    samples[key].append(response_time)
    rid = getattr(getattr(response, "request", None), "headers", {}).get("X-Request-Id")
    if rid:
        rids.append((rid, request_type + " " + name, response_time))
    if exception is not None:
        failures[key] += 1
        reasons[(key[1], str(exception)[:120])] += 1


def pct(sorted_ms, p):
    if not sorted_ms:
        return 0.0
    i = max(0, min(len(sorted_ms) - 1, int(len(sorted_ms) * p / 100.0 + 0.999) - 1))
    return sorted_ms[i]


@events.quitting.add_listener
def write_latency(**_kw):
    routes = defaultdict(list)
    with open(OUT, "w") as f:
        f.write("minute,route,count,failures,p50,p95,p99,max\n")
        for (minute, route) in sorted(samples):
            v = sorted(samples[(minute, route)])
            routes[route].extend(v)
            f.write("%d,%s,%d,%d,%.1f,%.1f,%.1f,%.1f\n" % (
                minute, route, len(v), failures[(minute, route)],
                pct(v, 50), pct(v, 95), pct(v, 99), v[-1]))
    with open(OUT + ".failures", "w") as f:
        for (route, why), n in sorted(reasons.items()):
            f.write("%d\t%s\t%s\n" % (n, route, why))
    with open(OUT + ".rids", "w") as f:
        for rid, route, ms in rids:
            f.write("%s,%s,%.3f\n" % (rid, route, ms))
    with open(OUT + ".burst", "w") as f:
        f.write("rid,connect,pretransfer,starttransfer,total\n")
        for p in burst_phases:
            f.write(",".join(p) + "\n")
    with open(OUT + ".total", "w") as f:
        f.write("route,count,failures,p50,p95,p99,max\n")
        for route in sorted(routes):
            v = sorted(routes[route])
            fails = sum(n for (m, r), n in failures.items() if r == route)
            f.write("%s,%d,%d,%.1f,%.1f,%.1f,%.1f\n" % (
                route, len(v), fails, pct(v, 50), pct(v, 95), pct(v, 99), v[-1]))


def slot():
    now = datetime.now(timezone.utc)
    end = now + timedelta(seconds=random.randint(SLOT_MIN, SLOT_MAX))
    return now.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")


def create_body(count=None):
    start, end = slot()
    body = {"definition": random.choice(["soak", "soak", "soak-exam"]),
            "owner": "u%d" % random.randint(1, 500),
            "timeslot_start": start, "timeslot_end": end}
    if count is not None:
        body["count"] = count
    return json.dumps(body)


def call(client, method, url, name, ok=(200, 201, 202), **kw):
    """One request through locust's fast client, timed here to the
    microsecond (FastHttpSession keeps whole milliseconds); a status not in
    ok is a failure, with the connection's error when there was one.
    Returns the response, its body read."""
    h = hdrs()
    if "data" in kw:
        h["Content-Type"] = "application/json"
    t0 = time.perf_counter()
    resp = client.request(method, url, name=name, headers=h, catch_response=True, **kw)
    if not hasattr(resp, "request_meta"):
        return resp  # an answer it could not parse: locust counted the failure itself
    with resp as r:
        r.request_meta["response_time"] = (time.perf_counter() - t0) * 1000
        if r.status_code in ok:
            r.success()
        else:
            r.failure(getattr(r, "error", None) or "status %d" % r.status_code)
    return r


class ApiUser(FastHttpUser):
    """An operator at the web app or the CLI: mostly reading, some writing.

    locust's FastHttpUser (geventhttpclient), not HttpUser (requests): with
    requests, the client's own time was most of every route's latency here
    (a cached list page: 3.2 ms at p50 against outpostd's 0.1 ms for the same
    requests; at p95, 26 ms against 2.6), and the soak measures the server.
    The summary's "where the time goes" shows what is left of the gap.
    """
    fixed_count = API_USERS
    wait_time = constant_throughput(0.5)
    ids = []

    def on_start(self):
        # Operators do not act in step. locust starts the users within a fraction
        # of a second, and constant_throughput then keeps each one's phase: all
        # of them would send their requests in the same few hundred ms of every
        # 2 s (up to 48 requests in 100 ms, seen), measuring the clump's queue
        # in this one Python process. A random phase in the period, kept by
        # constant_throughput, spreads them with the same rate.
        gevent.sleep(random.uniform(0, 2))

    def remember(self, resp):
        try:
            doc = resp.json()
        except (TypeError, ValueError):  # no body (a failed request) or not JSON
            return
        items = doc.get("items", [doc]) if isinstance(doc, dict) else []
        for it in items:
            if isinstance(it, dict) and "id" in it:
                ApiUser.ids.append(it["id"])
        del ApiUser.ids[:-2000]

    @task(14)
    def list_pages(self):
        # Pagination under load: up to five pages of 50, following "next".
        url = "/api/v1/instances?limit=50"
        for _ in range(5):
            r = call(self.client, "GET", url, "/api/v1/instances?limit=50")
            if r.status_code != 200:
                return
            nxt = r.json().get("next")
            if not nxt:
                return
            url = "/api/v1/instances?limit=50&after=" + nxt

    @task(4)
    def list_live(self):
        call(self.client, "GET",
             "/api/v1/instances?state=pending,scheduled,instantiating,running&limit=100",
             "/api/v1/instances?state=…")

    @task(10)
    def get_one(self):
        if not ApiUser.ids:
            return
        # 404: pruned by prune-history since this client saw it; an answer.
        call(self.client, "GET", "/api/v1/instances/%d" % random.choice(ApiUser.ids),
             "/api/v1/instances/{id}", ok=(200, 404))

    @task(4)
    def workers(self):
        call(self.client, "GET", "/api/v1/workers?limit=100", "/api/v1/workers")

    @task(3)
    def events_page(self):
        call(self.client, "GET", "/api/v1/events?limit=100", "/api/v1/events")

    @task(3)
    def site(self):
        call(self.client, "GET", "/api/v1/site", "/api/v1/site")

    @task(2)
    def create(self):
        self.remember(call(self.client, "POST", "/api/v1/instances", "/api/v1/instances",
                           data=create_body()))

    @task(1)
    def create_batch(self):
        self.remember(call(self.client, "POST", "/api/v1/instances",
                           "/api/v1/instances count=3", data=create_body(3)))

    @task(1)
    def stop_or_terminate(self):
        if not ApiUser.ids:
            return
        what = random.choice(["stop", "terminate"])
        # 409: the instance is past that already; 404: pruned. Answers, not failures.
        call(self.client, "POST", "/api/v1/instances/%d/%s" % (random.choice(ApiUser.ids), what),
             "/api/v1/instances/{id}/" + what, ok=(200, 202, 404, 409))


def spawn_read(argv):
    """argv's standard output, read without stopping the other users.

    posix_spawn is a vfork: nothing of locust's memory is copied, where
    gevent.subprocess forked the whole process, which every other user of it
    waits out. At each burst the other users' requests of the same second took
    up to 0.34 s at the client and 13 ms at the server; this fork was one of
    the two suspects (run-soak.sh says the other). The end is the pipe's:
    curl's output closes when it exits.
    """
    r, w = os.pipe()
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=[
            (os.POSIX_SPAWN_DUP2, w, 1),
            (os.POSIX_SPAWN_OPEN, 2, "/dev/null", os.O_WRONLY, 0)])
    finally:
        os.close(w)
    gevent.os.make_nonblocking(r)
    out = []
    while True:
        b = gevent.os.nb_read(r, 65536)
        if not b:
            break
        out.append(b)
    os.close(r)
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass  # reaped by gevent's own child watcher
    return b"".join(out).decode()


class BurstUser(User):
    """SOAK_BURST creates at once, every SOAK_BURST_EVERY seconds, each on a
    connection of its own as that many separate clients would open.

    The burst is sent and timed by curl's parallel mode (one C process, one
    event loop), not by locust's Python client: 100 requests at once in one
    gevent process measure Python, not the server. Side by side on the same
    server and machine, in the same minute, the same burst measured p95
    470 to 710 ms through gevent and requests, and 114 to 163 ms through curl.
    Each transfer's time goes to locust's figures like any other request.
    """
    fixed_count = 1

    def wait_time(self):
        return BURST_EVERY - (time.time() % BURST_EVERY) + random.random() * 0.01

    def on_start(self):
        # The first burst at the first boundary too, not at the spawn: then
        # every user, agent and stream of the soak is starting at once.
        gevent.sleep(self.wait_time())

    @task
    def burst(self):
        cfg = os.path.join(os.getcwd(), "burst.curl")
        with open(cfg, "w") as f:
            for i in range(BURST):
                if i > 0:
                    f.write("next\n")
                f.write('url = "%s/api/v1/instances"\nrequest = "POST"\n' % self.host)
                f.write('header = "Authorization: Bearer %s"\n' % TOKEN)
                f.write('header = "Content-Type: application/json"\n')
                f.write('header = "X-Request-Id: soak-burst-%d"\n' % next(next_rid))
                f.write('data = "%s"\n' % create_body().replace('"', '\\"'))
                f.write('output = "/dev/null"\n')
                f.write('write-out = "%{time_connect} %{time_pretransfer} '
                        '%{time_starttransfer} %{time_total} %{http_code} '
                        '%header{x-request-id}\\n"\n')
        lines = spawn_read(["curl", "-s", "--parallel", "--parallel-immediate",
                            "--parallel-max", str(BURST), "--max-time", "30",
                            "-K", cfg]).split("\n")
        got = 0
        for line in lines:
            f = line.split()
            if len(f) == 6:
                burst_phases.append((f[5], f[0], f[1], f[2], f[3]))
            f = f[3:]
            if len(f) not in (2, 3):
                continue
            got += 1
            ms = float(f[0]) * 1000
            bad = None if f[1] == "201" else Exception("HTTP %s" % f[1])
            if len(f) == 3:
                rids.append((f[2], "POST /api/v1/instances (burst)", ms))
            events.request.fire(request_type="POST", name="/api/v1/instances (burst)",
                                response_time=ms, response_length=0, exception=bad,
                                context={})
        for _ in range(got, BURST):
            events.request.fire(request_type="POST", name="/api/v1/instances (burst)",
                                response_time=0, response_length=0,
                                exception=Exception("curl gave no answer"), context={})


class WsUser(User):
    """A dashboard that comes and goes: lists, subscribes from the list's seq,
    follows for 10 to 40 s, leaves."""
    fixed_count = WS_USERS

    def wait_time(self):
        return random.uniform(1, 5)

    @task
    def follow(self):
        import requests
        base = self.host
        t = time.time()
        try:
            seq = requests.get(base + "/api/v1/instances?limit=1", headers=AUTH,
                               timeout=10).json()["seq"]
            ws = websocket.create_connection(
                base.replace("http://", "ws://") + "/api/v1/events",
                header=["Authorization: Bearer " + TOKEN],
                subprotocols=["outpost.events.v1"], timeout=10)
            ws.send(json.dumps({"subscribe": {"since": seq}}))
            while True:
                msg = json.loads(ws.recv())
                if "caught_up" in msg:
                    break
        except Exception as e:  # noqa: BLE001 (any failure is the measure's)
            events.request.fire(request_type="WS", name="subscribe to caught_up",
                                response_time=(time.time() - t) * 1000, response_length=0,
                                exception=e, context={})
            return
        events.request.fire(request_type="WS", name="subscribe to caught_up",
                            response_time=(time.time() - t) * 1000, response_length=0,
                            exception=None, context={})
        end = time.time() + random.uniform(10, 40)
        n = 0
        try:
            ws.settimeout(1)
            while time.time() < end:
                try:
                    ws.recv()
                    n += 1
                except websocket.WebSocketTimeoutException:
                    pass
        except Exception as e:  # noqa: BLE001
            events.request.fire(request_type="WS", name="follow", response_time=0,
                                response_length=n, exception=e, context={})
        finally:
            ws.close()


class OpsUser(FastHttpUser):
    """The admin: a runbook run a minute, followed to its end."""
    fixed_count = 1
    wait_time = constant_throughput(1 / 60.0)
    turn = 0

    @task
    def run_runbook(self):
        choices = [
            ("prune-history", {"params": {"events_older_than": "10m",
                                          "instances_older_than": "5m"}, "confirm": True}),
            ("recover-stuck-instances", {"params": {"state": "collecting", "older_than": "10m"},
                                         "dry_run": True}),
            ("check-database", {}),
            ("backup-database", {}),
        ]
        name, body = choices[OpsUser.turn % len(choices)]
        OpsUser.turn += 1
        r = call(self.client, "POST", "/api/v1/runbooks/%s/runs" % name,
                 "/api/v1/runbooks/{name}/runs", data=json.dumps(body))
        if r.status_code != 202:
            return
        rid = r.json()["id"]
        for _ in range(120):
            gevent.sleep(0.5)
            s = call(self.client, "GET", "/api/v1/runs/%d" % rid, "/api/v1/runs/{id}")
            if s.status_code == 200 and s.json().get("status") != "running":
                return
