#!/usr/bin/env python3
"""A webhook receiver for the alert tests: it records every POST and answers
as its path says, so a test can watch outpostd's retries.

  /flaky     500 for the first --fail requests, then 200
  /down      always 500
  /redirect  302 to /sink (a receiver must not follow it)
  /sink      200; a request here means a redirect was followed
  /hang      answers nothing for --hang seconds, then 200
  /big       200 with 8 MiB of body (a receiver's answer is read up to 64 KiB)

Each request is one JSON line in --log: its path, when it came (time.time()),
the X-Outpost-* headers, whether the signature verifies with the secret of
--secret-file over "TIMESTAMP.BODY", and the body. It listens on 127.0.0.1
(an ephemeral port, written to --port-file) and ends by itself after
--max-life seconds.
"""
import argparse
import hashlib
import hmac
import http.server
import json
import os
import threading
import time

ap = argparse.ArgumentParser()
ap.add_argument("--port-file", required=True)
ap.add_argument("--log", required=True)
ap.add_argument("--secret-file", required=True)
ap.add_argument("--fail", type=int, default=2)
ap.add_argument("--hang", type=float, default=60)
ap.add_argument("--max-life", type=float, default=120)
args = ap.parse_args()

with open(args.secret_file, "rb") as f:
    secret = f.read().rstrip()
counts = {}
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n)
        ts = self.headers.get("X-Outpost-Timestamp", "")
        sig = self.headers.get("X-Outpost-Signature", "")
        want = "sha256=" + hmac.new(secret, ts.encode() + b"." + body,
                                    hashlib.sha256).hexdigest()
        with lock:
            counts[self.path] = counts.get(self.path, 0) + 1
            seen = counts[self.path]
            try:
                parsed = json.loads(body)
            except ValueError:
                parsed = None
            rec = {"path": self.path, "at": time.time(), "timestamp": ts,
                   "delivery": self.headers.get("X-Outpost-Delivery", ""),
                   "signature_ok": hmac.compare_digest(sig, want),
                   "content_type": self.headers.get("Content-Type", ""),
                   "body": parsed}
            with open(args.log, "a") as f:
                f.write(json.dumps(rec) + "\n")
        if self.path == "/hang":
            time.sleep(args.hang)
        if self.path == "/flaky":
            code = 500 if seen <= args.fail else 200
        elif self.path == "/redirect":
            code = 302
        elif self.path in ("/sink", "/hang", "/big"):
            code = 200
        else:
            code = 500
        self.send_response(code)
        if code == 302:
            self.send_header("Location", "/sink")
        msg = b"no thanks\n" if code >= 300 else b"ok\n"
        if self.path == "/big":
            msg = b"x" * (8 << 20)
        self.send_header("Content-Length", str(len(msg)))
        self.end_headers()
        try:
            self.wfile.write(msg)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *a):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(args.port_file + ".tmp", "w") as f:
    f.write("%d\n" % srv.server_address[1])
os.rename(args.port_file + ".tmp", args.port_file)
threading.Timer(args.max_life, srv.shutdown).start()
srv.serve_forever()
