#!/usr/bin/env python3
"""Hostile connections against vendor-mock: does a fresh client still get an answer?

Four cases, each against a freshly started release binary with its default limits
(4096 connections):
  idle:      N connections (default 5 000) that send nothing;
  slowloris: N connections that each send one byte of a request head every 0.5 s;
  slow body: N connections that each send a whole request head announcing a 100 000-byte
             body, then one byte of that body every 0.5 s;
  sigterm:   SIGTERM with a half-sent request head, a half-sent body and idle keep-alive
             connections open: how long until the process exits, and its exit code.
In the first three, connections the server closes are opened again at once (an attacker
that keeps its count up), and while they are held a fresh client asks
GET /__admin/health on a new connection every 0.25 s; the script reports the slowest and
median answer times. The requirement: every answer within 1 s; exit within 1 s with code 0.

Run from the repository root (builds the release binary unless --binary is given):
    python3 bench/connections.py [--connections 5000] [--seconds 15] [--binary PATH]
It raises its own open-file limit to the hard limit; it needs about N + 100 descriptors.
"""
import argparse
import os
import resource
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK = os.path.join(ROOT, "target", "release", "vendor-mock")
HEALTH = b"GET /__admin/health HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
HEAD_START = b"GET /__admin/health HTTP/1.1\r\nHost: bench\r\nX-Slow: "
BODY_START = (b"POST /credeau/api/insights HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\n"
              b"x-client-id: test-client\r\nx-auth-token: test-token\r\nContent-Length: 100000\r\n\r\n{\"user_id\"")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start(binary, port):
    p = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{port}"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                         env=dict(os.environ, RUST_LOG="warn"))
    deadline = time.time() + 10
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return p
        except OSError:
            time.sleep(0.01)
    p.kill()
    raise RuntimeError("vendor-mock did not start")


def health(port, timeout=60.0):
    """Seconds until a fresh client has the whole answer to /__admin/health."""
    t0 = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.settimeout(timeout)
        s.sendall(HEALTH)
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"unexpected answer: {data[:80]!r}")
    return time.perf_counter() - t0


class Attack:
    """Holds `n` connections open; reopens those the server closes. With `start`, each
    sends it on opening, then one more byte every `interval` seconds."""

    def __init__(self, port, n, start, interval=0.5):
        self.port, self.n, self.start, self.interval = port, n, start, interval
        self.trickle = start is not None
        self.sel = selectors.DefaultSelector()
        self.socks = set()
        self.reopened = 0
        self.stop = threading.Event()

    def open_one(self):
        s = socket.socket()
        s.settimeout(5)
        try:
            s.connect(("127.0.0.1", self.port))
            if self.trickle:
                s.sendall(self.start)
        except OSError:
            s.close()
            return False
        s.setblocking(False)
        self.sel.register(s, selectors.EVENT_READ)
        self.socks.add(s)
        return True

    def drop(self, s):
        self.sel.unregister(s)
        self.socks.discard(s)
        s.close()

    def fill(self):
        while len(self.socks) < self.n and not self.stop.is_set():
            if self.open_one():
                self.reopened += 1

    def run(self):
        next_byte = time.time() + self.interval
        while not self.stop.is_set():
            for key, _ in self.sel.select(timeout=0.05):
                try:
                    if key.fileobj.recv(4096):
                        continue  # an answer (431 past the head cap): the server closes next
                except OSError:
                    pass
                self.drop(key.fileobj)
            if self.trickle and time.time() >= next_byte:
                for s in list(self.socks):
                    try:
                        s.send(b"a")
                    except OSError:
                        self.drop(s)
                next_byte += self.interval
            self.fill()

    def close(self):
        self.stop.set()
        for s in list(self.socks):
            s.close()


def attack_case(binary, n, seconds, first_bytes):
    port = free_port()
    p = start(binary, port)
    attack = Attack(port, n, first_bytes)
    t0 = time.time()
    attack.fill()
    opened_in = time.time() - t0
    attack.reopened = 0
    worker = threading.Thread(target=attack.run, daemon=True)
    worker.start()
    times, failures = [], 0
    end = time.time() + seconds
    while time.time() < end:
        try:
            times.append(health(port))
        except (OSError, RuntimeError) as e:
            failures += 1
            print(f"  health failed: {e}", file=sys.stderr)
        time.sleep(0.25)
    rss = rss_kb(p.pid)
    held = len(attack.socks)
    attack.close()
    worker.join()
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(timeout=15)
    except subprocess.TimeoutExpired:
        p.kill()
    return {"opened_in": opened_in, "times": times, "failures": failures, "held": held,
            "reopened": attack.reopened, "rss_mb": rss / 1024}


def sigterm_case(binary):
    port = free_port()
    p = start(binary, port)
    keep = []
    for _ in range(10):  # idle keep-alive connections, each after one answered request
        s = socket.create_connection(("127.0.0.1", port))
        s.sendall(HEALTH.replace(b"Connection: close\r\n", b""))
        s.recv(4096)
        keep.append(s)
    half = socket.create_connection(("127.0.0.1", port))
    half.sendall(b"POST /credeau/api/insights HTTP/1.1\r\nHost: bench\r\nContent-Ty")
    half_body = socket.create_connection(("127.0.0.1", port))
    half_body.sendall(BODY_START)
    time.sleep(0.2)
    t0 = time.perf_counter()
    p.send_signal(signal.SIGTERM)
    try:
        code = p.wait(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        code = "killed after 30 s"
    took = time.perf_counter() - t0
    for s in keep + [half, half_body]:
        s.close()
    return took, code


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--connections", type=int, default=5000)
    ap.add_argument("--seconds", type=int, default=15)
    ap.add_argument("--binary", default=MOCK)
    args = ap.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < args.connections + 100:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    if args.binary == MOCK:
        subprocess.run(["cargo", "build", "--release", "--bin", "vendor-mock"], cwd=ROOT, check=True)

    print(f"binary: {args.binary}")
    print("| case | connections held | reopened during the run | health answers | failed | median | slowest | server RSS |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    ok = True
    for name, first_bytes in [("idle", None), ("slowloris (1 byte / 0.5 s)", HEAD_START),
                              ("slow body (1 byte / 0.5 s)", BODY_START)]:
        r = attack_case(args.binary, args.connections, args.seconds, first_bytes)
        t = r["times"]
        slowest = max(t) if t else float("nan")
        print(f"| {name} | {r['held']} of {args.connections} | {r['reopened']} | {len(t)} | {r['failures']} | "
              f"{statistics.median(t) * 1000 if t else float('nan'):.1f} ms | {slowest * 1000:.1f} ms | {r['rss_mb']:.1f} MB |")
        ok &= bool(t) and r["failures"] == 0 and slowest < 1.0
    took, code = sigterm_case(args.binary)
    print(f"\nSIGTERM with a half-sent head, a half-sent body and 10 idle keep-alive connections: "
          f"exit code {code} after {took * 1000:.0f} ms")
    ok &= code == 0 and took < 1.0
    print("\nrequirement (every answer within 1 s; exit 0 within 1 s):", "met" if ok else "NOT met")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
