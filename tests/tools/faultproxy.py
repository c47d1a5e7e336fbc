#!/usr/bin/env python3
"""A fault-injecting TCP proxy for the tests: between agents and outpostd.

It listens on --count ports of 127.0.0.1 (ephemeral), each a proxy of its
own (one for each agent, say) to one loopback target, and is driven at run
time through a control port on 127.0.0.1: one command a line, "N COMMAND"
for proxy N (1 to --count) or "all COMMAND" for every one, answered "ok"
once it holds (or "error ..."):

  pass                   forward as is; heals every fault below
  latency MS [JITTER]    each chunk, either way, waits MS +- JITTER ms (in order)
  drop                   every open connection is cut now (RST)
  cut N                  every connection, open or new, is cut after N more bytes
                         from the server (mid-answer, mid-websocket-frame)
  blackhole              nothing is forwarded, nothing answered: bytes are read
                         and held; new connections are accepted and held too.
                         The next mode cuts the held connections (their peers
                         have given up on them by then)
  halfopen               the server's side of every connection goes; the client's
                         stays open, read and never answered, until the proxy ends
                         (pass heals only new connections); new ones are accepted
                         and never answered
  slow BPS               the server's bytes reach the client at BPS bytes a second
  stats                  "ok conns=N open=N cuts=N bytes_up=N bytes_down=N mode=M",
                         one such group for each proxy named (cuts: connections
                         the proxy cut)
  quit                   ends the proxy

Bounded: it binds loopback only, forwards to a loopback target only, and
ends by itself after --max-life seconds. It writes "CONTROL_PORT PORT1
PORT2 ..." to --port-file once all listen.

  faultproxy.py --target 127.0.0.1:8080 --port-file F [--count N] [--max-life 300]
"""
import argparse
import asyncio
import ipaddress
import os
import random
import socket
import struct
import sys

CHUNK = 16384


class Proxy:
    def __init__(self, host, port):
        self.host = host
        self.port = port
        self.mode = "pass"
        self.latency = 0.0
        self.jitter = 0.0
        self.cut_after = None
        self.bps = 0
        self.conns = set()
        self.halfopen = set()
        self.nconns = 0
        self.up = 0
        self.down = 0
        self.cuts = 0

    # ---- modes ----

    def set_mode(self, words):
        cmd = words[0]
        if cmd == "pass":
            self.heal()
            self.mode = "pass"
            self.latency = self.jitter = 0.0
            self.cut_after = None
            self.bps = 0
        elif cmd == "latency":
            ms = int(words[1])
            jit = int(words[2]) if len(words) > 2 else 0
            if ms < 0 or jit < 0 or jit > ms:
                raise ValueError("latency MS [JITTER]: 0 <= JITTER <= MS")
            self.heal()
            self.mode = "latency"
            self.latency = ms / 1000.0
            self.jitter = jit / 1000.0
        elif cmd == "drop":
            for c in list(self.conns):
                c.reset()
        elif cmd == "cut":
            n = int(words[1])
            if n < 0:
                raise ValueError("cut N: N >= 0")
            self.heal()
            self.mode = "cut"
            self.cut_after = n
            for c in list(self.conns):
                c.budget = n
        elif cmd == "blackhole":
            self.mode = "blackhole"
        elif cmd == "halfopen":
            self.mode = "halfopen"
            for c in list(self.conns):
                c.go_halfopen()
        elif cmd == "slow":
            bps = int(words[1])
            if bps < 1:
                raise ValueError("slow BPS: BPS >= 1")
            self.heal()
            self.mode = "slow"
            self.bps = bps
        else:
            raise ValueError("unknown command " + cmd)

    def heal(self):
        """Leaving a black hole: the connections it held are cut."""
        if self.mode == "blackhole":
            for c in list(self.conns):
                if c.was_held:
                    c.reset()

    # ---- connections ----

    async def accept(self, reader, writer):
        self.nconns += 1
        c = Conn(self, reader, writer)
        self.conns.add(c)
        try:
            await c.run()
        finally:
            self.conns.discard(c)


class Conn:
    def __init__(self, proxy, reader, writer):
        self.p = proxy
        self.cr = reader
        self.cw = writer
        self.sr = None
        self.sw = None
        self.budget = proxy.cut_after if proxy.mode == "cut" else None
        self.was_held = False
        self.is_halfopen = False
        self.done = asyncio.Event()

    def reset(self):
        """Cut now, with a RST to the client (SO_LINGER 0), as a dropped path does."""
        if not self.done.is_set():
            self.p.cuts += 1
        sock = self.cw.get_extra_info("socket")
        if sock is not None:
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        for w in (self.cw, self.sw):
            if w is not None:
                w.close()
        self.done.set()

    def go_halfopen(self):
        """The server's side goes; the client's stays, and hears nothing more."""
        self.is_halfopen = True
        if self.sw is not None:
            self.sw.close()
        self.p.halfopen.add(self)

    async def hold_while(self, cond):
        while cond() and not self.done.is_set():
            await asyncio.sleep(0.02)

    async def run(self):
        p = self.p
        if p.mode == "blackhole":
            # Accepted, read, never answered; cut when the black hole ends.
            self.was_held = True
            drain = asyncio.ensure_future(self.discard())
            await self.hold_while(lambda: p.mode == "blackhole")
            drain.cancel()
            self.reset()
            return
        if p.mode == "halfopen":
            # Accepted, read, never answered, never closed.
            self.is_halfopen = True
            p.halfopen.add(self)
            await self.discard()
            return
        try:
            self.sr, self.sw = await asyncio.open_connection(p.host, p.port)
        except OSError:
            self.reset()
            return
        up = asyncio.ensure_future(self.pipe(self.cr, self.sw, True))
        down = asyncio.ensure_future(self.pipe(self.sr, self.cw, False))
        await self.done.wait()
        for t in (up, down):
            t.cancel()
        for w in (self.cw, self.sw):
            w.close()

    async def discard(self):
        try:
            while not self.done.is_set():
                if not await self.cr.read(CHUNK):
                    await asyncio.Event().wait()	# EOF: held open all the same
        except (OSError, asyncio.CancelledError):
            pass

    async def pipe(self, src, dst, is_up):
        p = self.p
        try:
            while True:
                if self.is_halfopen:
                    if is_up:
                        await self.discard()
                    else:
                        await asyncio.Event().wait()
                    return
                data = await src.read(CHUNK if p.mode != "slow" else max(1, p.bps // 10))
                if not data:
                    break
                if p.mode == "blackhole":
                    self.was_held = True
                    await self.hold_while(lambda: p.mode == "blackhole")
                    if self.done.is_set():
                        return
                if self.is_halfopen:
                    continue
                if p.mode == "latency" and p.latency > 0:
                    await asyncio.sleep(max(0.0, p.latency + random.uniform(-p.jitter, p.jitter)))
                if not is_up and self.budget is not None:
                    if len(data) >= self.budget:
                        data = data[:self.budget]
                        if data:
                            dst.write(data)
                            await dst.drain()
                        self.reset()
                        return
                    self.budget -= len(data)
                if not is_up and p.mode == "slow":
                    for k in range(0, len(data), max(1, p.bps // 10)):
                        piece = data[k:k + max(1, p.bps // 10)]
                        dst.write(piece)
                        await dst.drain()
                        await asyncio.sleep(len(piece) / p.bps)
                else:
                    dst.write(data)
                    await dst.drain()
                if is_up:
                    p.up += len(data)
                else:
                    p.down += len(data)
        except (OSError, asyncio.CancelledError):
            pass
        if not self.is_halfopen:
            self.done.set()


async def control(proxies, reader, writer, stop):
    try:
        while True:
            line = await reader.readline()
            if not line:
                break
            words = line.decode("ascii", "replace").split()
            if not words:
                continue
            try:
                if words[0] == "quit":
                    writer.write(b"ok\n")
                    await writer.drain()
                    stop.set()
                    break
                if words[0] == "all":
                    which = proxies
                elif words[0].isdigit() and 1 <= int(words[0]) <= len(proxies):
                    which = [proxies[int(words[0]) - 1]]
                else:
                    raise ValueError("a command is N COMMAND (N from 1 to %d) or all COMMAND"
                                     % len(proxies))
                if len(words) < 2:
                    raise ValueError("no command")
                if words[1] == "stats":
                    writer.write(("ok %s\n" % " ".join(
                        "conns=%d open=%d cuts=%d bytes_up=%d bytes_down=%d mode=%s" % (
                            p.nconns, len(p.conns), p.cuts, p.up, p.down, p.mode)
                        for p in which)).encode())
                else:
                    for p in which:
                        p.set_mode(words[1:])
                    writer.write(b"ok\n")
            except (ValueError, IndexError) as e:
                writer.write(("error %s\n" % e).encode())
            await writer.drain()
    except OSError:
        pass
    writer.close()


def loopback(addr):
    try:
        return ipaddress.ip_address(addr).is_loopback
    except ValueError:
        return False


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", required=True, help="HOST:PORT of outpostd (loopback)")
    ap.add_argument("--port-file", required=True)
    ap.add_argument("--count", type=int, default=1, help="how many proxies (ports)")
    ap.add_argument("--max-life", type=float, default=300.0)
    a = ap.parse_args()
    host, _, port = a.target.rpartition(":")
    if not loopback(host) or not port.isdigit():
        print("faultproxy: --target must be a loopback HOST:PORT", file=sys.stderr)
        return 2
    if not 1 <= a.count <= 64:
        print("faultproxy: --count is 1 to 64", file=sys.stderr)
        return 2
    if not 0 < a.max_life <= 3600:
        print("faultproxy: --max-life is 1 to 3600 seconds", file=sys.stderr)
        return 2
    proxies = [Proxy(host, int(port)) for _ in range(a.count)]
    stop = asyncio.Event()
    srvs = [await asyncio.start_server(p.accept, "127.0.0.1", 0) for p in proxies]
    ctl = await asyncio.start_server(lambda r, w: control(proxies, r, w, stop), "127.0.0.1", 0)
    tmp = a.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(" ".join(str(s.sockets[0].getsockname()[1]) for s in [ctl] + srvs) + "\n")
    os.rename(tmp, a.port_file)
    try:
        await asyncio.wait_for(stop.wait(), a.max_life)
    except asyncio.TimeoutError:
        print("faultproxy: max life of %gs reached" % a.max_life, file=sys.stderr)
    for s in srvs + [ctl]:
        s.close()
    for p in proxies:
        for c in list(p.conns):
            c.reset()
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
