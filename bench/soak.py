# The soak's load (run-soak.sh runs it with locust, headless): operators using
# the API, bursts of 100 concurrent creates, websocket clients that come and
# go, and runbook runs. Every request's latency is kept per route and per
# minute; at the end they go to SOAK_LATENCY (CSV: minute,route,count,failures,
# p50,p95,p99,max in ms), the whole run's to SOAK_LATENCY.total, and each
# failure's route and reason, counted, to SOAK_LATENCY.failures.
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
import gevent.subprocess
import websocket
from locust import HttpUser, User, constant_throughput, events, task

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


@events.request.add_listener
def on_request(request_type, name, response_time, exception, **_kw):
    key = (int((time.time() - T0) // 60), request_type + " " + name)
    samples[key].append(response_time)
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


class ApiUser(HttpUser):
    """An operator at the web app or the CLI: mostly reading, some writing."""
    fixed_count = API_USERS
    wait_time = constant_throughput(0.5)
    ids = []

    def remember(self, resp):
        try:
            doc = resp.json()
        except ValueError:
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
            with self.client.get(url, headers=AUTH, name="/api/v1/instances?limit=50",
                                 catch_response=True) as r:
                if r.status_code != 200:
                    r.failure("status %d" % r.status_code)
                    return
                nxt = r.json().get("next")
            if not nxt:
                return
            url = "/api/v1/instances?limit=50&after=" + nxt

    @task(4)
    def list_live(self):
        self.client.get("/api/v1/instances?state=pending,scheduled,instantiating,running&limit=100",
                        headers=AUTH, name="/api/v1/instances?state=…")

    @task(10)
    def get_one(self):
        if not ApiUser.ids:
            return
        with self.client.get("/api/v1/instances/%d" % random.choice(ApiUser.ids),
                             headers=AUTH, name="/api/v1/instances/{id}",
                             catch_response=True) as r:
            # 404: pruned by prune-history since this client saw it; an answer.
            if r.status_code in (200, 404):
                r.success()

    @task(4)
    def workers(self):
        self.client.get("/api/v1/workers?limit=100", headers=AUTH, name="/api/v1/workers")

    @task(3)
    def events_page(self):
        self.client.get("/api/v1/events?limit=100", headers=AUTH, name="/api/v1/events")

    @task(3)
    def site(self):
        self.client.get("/api/v1/site", headers=AUTH, name="/api/v1/site")

    @task(2)
    def create(self):
        r = self.client.post("/api/v1/instances", data=create_body(), headers=AUTH,
                             name="/api/v1/instances")
        self.remember(r)

    @task(1)
    def create_batch(self):
        r = self.client.post("/api/v1/instances", data=create_body(3), headers=AUTH,
                             name="/api/v1/instances count=3")
        self.remember(r)

    @task(1)
    def stop_or_terminate(self):
        if not ApiUser.ids:
            return
        what = random.choice(["stop", "terminate"])
        with self.client.post("/api/v1/instances/%d/%s" % (random.choice(ApiUser.ids), what),
                              headers=AUTH, name="/api/v1/instances/{id}/" + what,
                              catch_response=True) as r:
            # 409: the instance is past that already; 404: pruned. Answers, not failures.
            if r.status_code in (200, 202, 404, 409):
                r.success()


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
                f.write('data = "%s"\n' % create_body().replace('"', '\\"'))
                f.write('output = "/dev/null"\n')
                f.write('write-out = "%{time_total} %{http_code}\\n"\n')
        p = gevent.subprocess.run(["curl", "-s", "--parallel", "--parallel-immediate",
                                   "--parallel-max", str(BURST), "--max-time", "30",
                                   "-K", cfg], stdout=gevent.subprocess.PIPE,
                                  stderr=gevent.subprocess.DEVNULL)
        lines = p.stdout.decode().split("\n")
        got = 0
        for line in lines:
            f = line.split()
            if len(f) != 2:
                continue
            got += 1
            ms = float(f[0]) * 1000
            bad = None if f[1] == "201" else Exception("HTTP %s" % f[1])
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


class OpsUser(HttpUser):
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
        r = self.client.post("/api/v1/runbooks/%s/runs" % name, data=json.dumps(body),
                             headers=AUTH, name="/api/v1/runbooks/{name}/runs")
        if r.status_code != 202:
            return
        rid = r.json()["id"]
        for _ in range(120):
            gevent.sleep(0.5)
            s = self.client.get("/api/v1/runs/%d" % rid, headers=AUTH, name="/api/v1/runs/{id}")
            if s.status_code == 200 and s.json().get("status") != "running":
                return
