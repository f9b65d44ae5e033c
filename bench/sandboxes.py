#!/usr/bin/env python3
"""What a sandbox costs: resident memory per sandbox, idle and used.

Starts `vendor-mock serve --listen 127.0.0.1:0` (frozen clock, --max-sandboxes above the
largest count), reads its bound address from stdout, warms it up, then over one keep-alive
connection:
  - idle:    makes sandboxes with `GET /~NAME/__admin/clock` (a sandbox is made on first
             use; this touches its clock and nothing else), measuring the resident set
             (VmRSS) at 1000 and at 10 000 sandboxes;
  - credeau: in fresh sandboxes, one Credeau insights request each (the sandbox's Credeau
             object, one entity, a journal entry with its 4 KiB answer prefix);
  - every vendor: in fresh sandboxes, one request to each of the six vendors.
Each phase reports bytes per sandbox (the growth of the resident set divided by the number
of sandboxes) and the growth per 1000 sandboxes. Resident memory moves in pages and the
allocator keeps freed memory, so the figures are for many sandboxes, not one.

Run from the repository root after a build (release by default, --binary to choose):
    cargo build --release --bin vendor-mock
    python3 bench/sandboxes.py [--markdown]
"""
import argparse
import base64
import hashlib
import http.client
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release", "vendor-mock")


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def settle(pid):
    """The resident set once it stops moving (freed pages are not given back at once)."""
    last = rss_kb(pid)
    for _ in range(20):
        time.sleep(0.1)
        now = rss_kb(pid)
        if now == last:
            break
        last = now
    return last


def finbox_salt(customer):
    h = hashlib.md5(customer.encode()).hexdigest().upper() + "test-finbox-hash"
    return base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()


class Client:
    def __init__(self, addr):
        host, port = addr.rsplit(":", 1)
        self.conn = http.client.HTTPConnection(host, int(port), timeout=30)

    def call(self, method, path, body=None, headers=None):
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        r.read()
        return r.status


def every_vendor(c, prefix, i):
    """One request to each vendor, each answered 2xx."""
    user = f"bench-{i}"
    calls = [
        ("POST", "/finbox/v2/risk/predictors",
         {"customer_id": user, "version": 1, "salt": finbox_salt(user)}, {"x-api-key": "test-finbox-key"}),
        ("POST", "/credeau/api/insights",
         {"user_id": user, "client_id": "test-client", "groupings": ["sms"]},
         {"x-client-id": "test-client", "x-auth-token": "test-token"}),
        ("POST", "/finx/onetime/risk-report", {"redirect_uri": "https://lender.example/cb", "user_id": user},
         {"Authorization": "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ="}),
        ("POST", "/credolab/v6.0/account/login", {"userEmail": "test@example.com", "password": "test-password"}, {}),
        ("GET", "/finscore/", None, {}),
        ("GET", "/featurestore/v1/projects/p/locations/l/featurestores", None, {"Authorization": "Bearer t"}),
    ]
    for method, path, body, headers in calls:
        status = c.call(method, prefix + path, body, headers)
        # FinScore and the Feature Store answer an unknown path or a listing: any answer
        # makes the vendor's object; the others must succeed.
        if status >= 500 or (status >= 400 and "finscore" not in path):
            raise RuntimeError(f"{method} {prefix}{path}: {status}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=RELEASE)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: cargo build --release --bin vendor-mock (or pass --binary)")

    def credeau(c, prefix, i):
        c.call("POST", prefix + "/credeau/api/insights",
               {"user_id": f"u{i}", "client_id": "test-client", "groupings": ["sms"]},
               {"x-client-id": "test-client", "x-auth-token": "test-token"})

    phases = (
        ("idle (made by one admin call)", lambda c, p, i: c.call("GET", p + "/__admin/clock")),
        ("one Credeau insights answer (34.7 KB)", credeau),
        ("one request to each of the six vendors", every_vendor),
    )
    results = []
    after_drop = None
    # Each phase on a fresh server, so no phase reuses memory another one freed.
    for name, touch in phases:
        proc = subprocess.Popen(
            [args.binary, "serve", "--listen", "127.0.0.1:0", "--frozen-clock", "2026-01-15T10:00:00Z",
             "--max-sandboxes", "100000"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, RUST_LOG="warn"))
        try:
            line = proc.stdout.readline()
            m = re.match(r"listening on http://(\S+)", line)
            if not m:
                sys.exit(f"vendor-mock did not print its address: {line!r}")
            c = Client(m.group(1))
            # Warm up the code paths at the root and in a few sandboxes; few, so that
            # memory they free is not what the first measured sandboxes reuse.
            for i in range(50):
                every_vendor(c, "", i)
            for i in range(3):
                every_vendor(c, f"/~warm{i}", i)
            c.call("POST", "/__admin/reset")
            base = settle(proc.pid)
            marks = {}
            n = 0
            for target in (1000, 10_000):
                while n < target:
                    touch(c, f"/~s{n}", n)
                    n += 1
                marks[target] = settle(proc.pid)
            results.append((name, base, marks))
            c.call("POST", "/__admin/reset")  # drops every sandbox
            after_drop = settle(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=10)

    rows = []
    for name, base, marks in results:
        per = (marks[10_000] - base) * 1024 / 10_000
        per_1000 = (marks[1000] - base) / 1024
        rows.append((name, base / 1024, per, per_1000, (marks[10_000] - base) / 1024))
    if args.markdown:
        print("| sandboxes | resident before (MB) | bytes per sandbox (over 10 000) | growth for 1000 (MB) | growth for 10 000 (MB) |")
        print("| --- | --- | --- | --- | --- |")
        for name, before, per, k, tk in rows:
            print(f"| {name} | {before:.1f} | {per:,.0f} | {k:.1f} | {tk:.1f} |")
    else:
        for name, before, per, k, tk in rows:
            print(f"{name}: {per:,.0f} bytes per sandbox; +{k:.1f} MB for 1000, +{tk:.1f} MB for 10 000 "
                  f"(resident before: {before:.1f} MB)")
    print(f"after the last phase, a root reset dropped every sandbox: {after_drop / 1024:.1f} MB resident "
          "(the allocator keeps freed memory for reuse)")


if __name__ == "__main__":
    main()
