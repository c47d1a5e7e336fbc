#!/usr/bin/env python3
"""An OTLP/HTTP (JSON) trace receiver for the tests, on 127.0.0.1 and an ephemeral port.

    otlpsink.py DIR [--blackhole | --huge | --redirect URL]

Writes its port to DIR/port once it listens. Each POST /v1/traces is checked
against the shape OTLP's JSON encoding gives ExportTraceServiceRequest:
resourceSpans[].resource.attributes (service.name among them),
resourceSpans[].scopeSpans[].spans[] with traceId (32 lower-case hex, not all
zero), spanId (16), parentSpanId (16, optional), a name, a kind (1 to 5),
startTimeUnixNano and endTimeUnixNano (decimal strings, end >= start),
attributes as {key, value: {stringValue | intValue (a decimal string) |
boolValue | doubleValue}}, and status.code (0 to 2). A request that passes is
answered 200 {} and each of its spans appended as one JSON line to DIR/spans
(with "service" added: the resource's service.name); one that does not is
answered 400 and what is wrong appended to DIR/errors. DIR/requests counts
the POSTs. With --blackhole it accepts connections and never answers nor
reads them: a collector that hangs. Hostile collectors: --huge answers every
POST 200 with a body of 8 MiB; --redirect URL answers 307 to URL.
"""
import json
import os
import re
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

HEX32 = re.compile(r"^[0-9a-f]{32}$")
HEX16 = re.compile(r"^[0-9a-f]{16}$")
DIGITS = re.compile(r"^[0-9]+$")
lock = threading.Lock()


def check_attrs(attrs, where):
    if not isinstance(attrs, list):
        raise ValueError(f"{where}.attributes is not a list")
    for k, a in enumerate(attrs):
        w = f"{where}.attributes[{k}]"
        if not isinstance(a, dict) or not isinstance(a.get("key"), str) or not a["key"]:
            raise ValueError(f"{w} has no key")
        v = a.get("value")
        if not isinstance(v, dict) or len(v) != 1:
            raise ValueError(f"{w}.value is not an object of one field")
        kind, val = next(iter(v.items()))
        if kind == "stringValue":
            ok = isinstance(val, str)
        elif kind == "intValue":
            ok = isinstance(val, str) and re.match(r"^-?[0-9]+$", val)
        elif kind == "boolValue":
            ok = isinstance(val, bool)
        elif kind == "doubleValue":
            ok = isinstance(val, (int, float))
        else:
            ok = False
        if not ok:
            raise ValueError(f"{w}.value: {kind} {val!r} is not an OTLP value")


def check(doc):
    """The spans of one request, each with its service; ValueError on a bad shape."""
    out = []
    rss = doc.get("resourceSpans") if isinstance(doc, dict) else None
    if not isinstance(rss, list) or not rss:
        raise ValueError("resourceSpans is not a non-empty list")
    for i, rs in enumerate(rss):
        res = rs.get("resource")
        if not isinstance(res, dict):
            raise ValueError(f"resourceSpans[{i}].resource is not an object")
        check_attrs(res.get("attributes"), f"resourceSpans[{i}].resource")
        service = [a["value"].get("stringValue") for a in res["attributes"]
                   if a["key"] == "service.name"]
        if len(service) != 1 or not service[0]:
            raise ValueError(f"resourceSpans[{i}].resource has no service.name")
        sss = rs.get("scopeSpans")
        if not isinstance(sss, list) or not sss:
            raise ValueError(f"resourceSpans[{i}].scopeSpans is not a non-empty list")
        for j, ss in enumerate(sss):
            if not isinstance(ss.get("scope"), dict) or not ss["scope"].get("name"):
                raise ValueError(f"scopeSpans[{j}].scope has no name")
            spans = ss.get("spans")
            if not isinstance(spans, list) or not spans:
                raise ValueError(f"scopeSpans[{j}].spans is not a non-empty list")
            for k, sp in enumerate(spans):
                w = f"spans[{k}]"
                if not HEX32.match(str(sp.get("traceId"))) or set(sp["traceId"]) == {"0"}:
                    raise ValueError(f"{w}.traceId {sp.get('traceId')!r}")
                if not HEX16.match(str(sp.get("spanId"))) or set(sp["spanId"]) == {"0"}:
                    raise ValueError(f"{w}.spanId {sp.get('spanId')!r}")
                if "parentSpanId" in sp and not HEX16.match(str(sp["parentSpanId"])):
                    raise ValueError(f"{w}.parentSpanId {sp.get('parentSpanId')!r}")
                if not isinstance(sp.get("name"), str) or not sp["name"]:
                    raise ValueError(f"{w}.name is empty")
                if sp.get("kind") not in (1, 2, 3, 4, 5):
                    raise ValueError(f"{w}.kind {sp.get('kind')!r}")
                st, en = sp.get("startTimeUnixNano"), sp.get("endTimeUnixNano")
                if not (isinstance(st, str) and DIGITS.match(st) and isinstance(en, str) and
                        DIGITS.match(en) and int(en) >= int(st) > 10**18):
                    raise ValueError(f"{w} times {st!r} {en!r}")
                check_attrs(sp.get("attributes"), w)
                if sp.get("status", {}).get("code", 0) not in (0, 1, 2):
                    raise ValueError(f"{w}.status.code")
                out.append(dict(sp, service=service[0]))
    return out


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        d = self.server.dir
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n)
        with lock:
            with open(os.path.join(d, "requests"), "a") as f:
                f.write(f"{self.path} {n}\n")
        if self.server.mode == "--huge":
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(8 << 20))
            self.end_headers()
            try:
                for _ in range(8 << 10):
                    self.wfile.write(b" " * 1024)
            except OSError:
                pass	# the client stopped reading: what it should do
            return
        if self.server.mode == "--redirect":
            self.send_response(307)
            self.send_header("Location", self.server.target)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            if self.path != "/v1/traces":
                raise ValueError(f"POST to {self.path}, not /v1/traces")
            if self.headers.get("Content-Type") != "application/json":
                raise ValueError(f"Content-Type {self.headers.get('Content-Type')!r}")
            spans = check(json.loads(body))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            with lock:
                with open(os.path.join(d, "errors"), "a") as f:
                    f.write(f"{e}\n")
            self.answer(400, {"error": str(e)})
            return
        with lock:
            with open(os.path.join(d, "spans"), "a") as f:
                for sp in spans:
                    f.write(json.dumps(sp) + "\n")
        self.answer(200, {})


def blackhole(d):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    held = []
    write_port(d, s.getsockname()[1])
    while True:
        c, _ = s.accept()
        held.append(c)	# never read, never answered, never closed
        with open(os.path.join(d, "requests"), "a") as f:
            f.write("connection\n")


def write_port(d, port):
    tmp = os.path.join(d, "port.tmp")
    with open(tmp, "w") as f:
        f.write(f"{port}\n")
    os.rename(tmp, os.path.join(d, "port"))


def main():
    d = sys.argv[1]
    os.makedirs(d, exist_ok=True)
    if "--blackhole" in sys.argv[2:]:
        blackhole(d)
        return
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.dir = d
    srv.mode = sys.argv[2] if len(sys.argv) > 2 else ""
    srv.target = sys.argv[3] if len(sys.argv) > 3 else ""
    write_port(d, srv.server_address[1])
    srv.serve_forever()


if __name__ == "__main__":
    main()
