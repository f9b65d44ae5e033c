#!/usr/bin/env python3
"""Memory: what one entry of each store costs, and large requests against the budgets.

Two measurements, each on a fresh server (frozen clock, bench/scenarios so no rate limit
applies), reading the server's resident set (VmRSS) and its own count of what its stores
hold (GET /__admin/memory), so the count can be checked against the resident set:

  entries   for each store, N new entries through the requests a client makes (a new
            entity id each), then RSS and the count again: bytes per entry, both ways.
            The journal keeps 1 entry (--journal-limit 1) except when the journal is
            what is measured, so each row is one store's cost.
  large     1000 requests of 900 KB, spread over the fields each vendor keeps (FinBox
            `metadata` and `customer_id`, a Feature Store value, Credeau's `user_id`, a
            finX `user_id`, Credolab's `realIp`), at the root and in sandboxes; RSS after
            every 100, and after POST /__admin/reset.

    cargo build --release --bin vendor-mock
    python3 bench/memory.py entries [--n 5000] [--binary target/debug/vendor-mock]
    python3 bench/memory.py large [--requests 1000]

Bounded: a fixed number of requests, on 127.0.0.1 only; the server is terminated at the end.
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
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release", "vendor-mock")
FINX_BASIC = "Basic " + base64.b64encode(b"test-client:test-secret").decode()
FINSCORE_BASIC = FINX_BASIC
FS_ET = ("/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs"
         "/entityTypes/score_features")
FS_FEATURES = ["code", "score", "band", "address_check", "msisdn_check", "time_with_smart",
               "subscription_type", "sms_usage", "top_up", "mobile_data_usage", "avg_daily_activities"]
JSON = {"Content-Type": "application/json"}
CREDEAU = dict(JSON, **{"x-client-id": "test-client", "x-auth-token": "test-token"})
FINBOX = dict(JSON, **{"x-api-key": "test-finbox-key"})
FS_AUTH = dict(JSON, **{"Authorization": "Bearer ya29.bench-token"})


def rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def settled(pid):
    """VmRSS once it stops moving (up to 3 s)."""
    last = rss_kb(pid)
    for _ in range(30):
        time.sleep(0.1)
        now = rss_kb(pid)
        if now == last:
            break
        last = now
    return last


class Server:
    def __init__(self, binary, *args):
        self.proc = subprocess.Popen(
            [binary, "serve", "--listen", "127.0.0.1:0", "--frozen-clock", "2026-01-15T10:00:00Z",
             "--scenarios", os.path.join(ROOT, "bench", "scenarios"), *args],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, RUST_LOG="error"))
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", self.proc.stdout.readline())
        if not m:
            self.stop()
            sys.exit("vendor-mock did not print its address")
        self.port = int(m.group(1))
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def send(self, method, path, headers=None, body=None):
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        for attempt in (0, 1):
            try:
                self.conn.request(method, path, body=data, headers=headers or {})
                r = self.conn.getresponse()
                return r.status, r.read(), r.headers
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise

    def ok(self, method, path, headers=None, body=None, status=200):
        s, payload, h = self.send(method, path, headers, body)
        if s != status:
            raise RuntimeError(f"{method} {path}: {s} (wanted {status}): {payload[:300]!r}")
        return payload, h

    def memory(self, prefix=""):
        return json.loads(self.ok("GET", prefix + "/__admin/memory")[0])

    def rss(self):
        return settled(self.proc.pid)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def finbox_salt(customer, server_hash="test-finbox-hash"):
    h = hashlib.md5(customer.encode()).hexdigest().upper() + server_hash
    return base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


# ---- one new entry of each store ----

def entity(s, i, p=""):
    """Entity state (and a Credeau answer in the journal)."""
    s.ok("POST", p + "/credeau/api/insights", CREDEAU, {"user_id": f"mem-user-{i}", "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]})


def journal(s, i, p=""):
    """A journal entry: a Credeau 401 (no entity state, no cache) with a new user id."""
    s.ok("POST", p + "/credeau/api/insights", dict(CREDEAU, **{"x-auth-token": "wrong"}),
         {"user_id": f"mem-user-{i}", "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]}, status=401)


def finx_flow(s, i, p=""):
    """A finX flow started (its entity state is not made until the report is read)."""
    s.ok("POST", p + "/finx/onetime/risk-report", dict(JSON, Authorization=FINX_BASIC),
         {"redirect_uri": "https://lender.example/callback", "user_id": f"mem-user-{i}", "name": "Max Mustermann"},
         status=201)


def finx_report(s, i, p="", user=None):
    """A whole finX flow: start, widget, code exchange, report (entity state, four journal entries)."""
    body, _ = s.ok("POST", p + "/finx/onetime/risk-report", dict(JSON, Authorization=FINX_BASIC),
                   {"redirect_uri": "https://lender.example/callback", "user_id": user or f"mem-user-{i}",
                    "name": "Max Mustermann"}, status=201)
    flow = json.loads(body)
    _, h = s.ok("GET", path_of(flow["location"]), status=302)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)["code"][0]
    body, _ = s.ok("POST", p + "/finx/auth/token", dict(JSON, Authorization=FINX_BASIC),
                   {"grant_type": "authorization_code", "code": code})
    auth = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    s.ok("GET", f"{p}/finx/rest/risk-reports/{flow['id']}", auth)


def feature_entity(s, i, p=""):
    """A Feature Store entity with all eleven FinScore features written."""
    payload = {"entityId": f"63918{i:07d}", "featureValues": {
        f: {"stringValue": str(100 + k) if f != "code" else "0000"} for k, f in enumerate(FS_FEATURES)}}
    s.ok("POST", p + FS_ET + ":writeFeatureValues", FS_AUTH, {"payloads": [payload]})


def credolab_ref(s, i, p="", token={}):
    """A Credolab reference number answered as a dataset (remembered for verify)."""
    if p not in token:
        body, _ = s.ok("POST", p + "/credolab/v6.0/account/login", JSON,
                       {"userEmail": "test@example.com", "password": "test-password"})
        token[p] = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    s.ok("GET", f"{p}/credolab/v6.0/datasets/mem-ref-{i}/datasetinsight", token[p])


def finscore_token(s, i, p=""):
    """A FinScore access token."""
    s.ok("POST", p + "/finscore/auth/connect/token",
         {"Content-Type": "application/x-www-form-urlencoded", "Authorization": FINSCORE_BASIC},
         b"grant_type=client_credentials")


STORES = [
    # (row name, request, which counted part grows, journal kept, most entries that fit
    # the default byte budgets without an eviction)
    ("entity state (Credeau user)", entity, "state", False, 20_000),
    ("journal entry (Credeau 401)", journal, "journal", True, 10_000),
    ("finX flow (started)", finx_flow, "finx", False, 1_000),
    ("finX flow (to its report)", finx_report, "total", False, 400),
    ("Feature Store entity (11 values)", feature_entity, "featurestore", False, 1_000),
    ("Credolab answered reference", credolab_ref, "credolab", False, 8_000),
    ("FinScore token", finscore_token, "finscore", False, 5_000),
]


def counted(mem, part):
    """The instance's whole count (what the resident set is compared with: a request also
    adds entity state), and the part that is the row's own store."""
    b = mem["bytes"]
    own = b[part] if part in ("state", "journal", "total") else b["vendors"].get(part, 0)
    return b["total"], own


def entries(args):
    print(f"| entry | entries | RSS per entry (B) | counted per entry (B) | of which its own store (B) | counted / RSS |")
    print(f"| --- | --- | --- | --- | --- | --- |")
    for name, make, part, keep_journal, most in STORES:
        n = min(args.n, most)
        extra = [] if keep_journal else ["--journal-limit", "1"]
        s = Server(args.binary, *extra)
        try:
            # Warm up: the first requests allocate the runtime's buffers, caches fill.
            for i in range(-200, 0):
                make(s, i)
            before_rss, before = s.rss(), counted(s.memory(), part)
            for i in range(n):
                make(s, i)
            after_rss, after = s.rss(), counted(s.memory(), part)
        finally:
            s.stop()
        rss = (after_rss - before_rss) * 1024 / n
        mine = (after[0] - before[0]) / n
        own = (after[1] - before[1]) / n
        ratio = f"{mine / rss:.2f}" if rss > 0 else "-"
        print(f"| {name} | {n:,} | {rss:,.0f} | {mine:,.0f} | {own:,.0f} | {ratio} |", flush=True)


def large(args):
    big = "x" * (900 * 1000)
    s = Server(args.binary)
    try:
        idle = s.rss()
        print(f"idle: {idle / 1024:.1f} MB", file=sys.stderr)
        rows = [(0, idle)]
        status = {}
        for i in range(args.requests):
            p = "" if i % 2 == 0 else f"/~big{i % 7}"
            kind = (i // 2) % 6
            if kind == 0:
                body = {"customer_id": f"c{i}", "version": 1, "salt": finbox_salt(f"c{i}"), "metadata": {"blob": big}}
                r = s.send("POST", p + "/finbox/v2/risk/predictors", FINBOX, body)
            elif kind == 1:
                cid = f"c{i}{big}"
                body = {"customer_id": cid, "version": 1, "salt": finbox_salt(cid)}
                r = s.send("POST", p + "/finbox/v2/risk/predictors", FINBOX, body)
            elif kind == 2:
                payload = {"entityId": f"e{i}", "featureValues": {"code": {"stringValue": big}}}
                r = s.send("POST", p + FS_ET + ":writeFeatureValues", FS_AUTH, {"payloads": [payload]})
            elif kind == 3:
                r = s.send("POST", p + "/credeau/api/insights", CREDEAU, {"user_id": f"u{i}{big}", "client_id": "test-client", "groupings": ["sms"]})
            elif kind == 4:
                r = s.send("POST", p + "/finx/onetime/risk-report", dict(JSON, Authorization=FINX_BASIC),
                           {"redirect_uri": "https://lender.example/callback", "user_id": f"u{i}{big}"})
            else:
                r = s.send("POST", p + "/credolab/api/datasets/v1/upload",
                           dict(JSON, **{"Authorization": "Bearer test-uploader-key"}),
                           {"referenceNumber": f"r{i}", "realIp": big, "data": big[:1000]})
            status[r[0]] = status.get(r[0], 0) + 1
            if (i + 1) % 100 == 0:
                rows.append((i + 1, rss_kb(s.proc.pid)))
                print(f"{i + 1:6d} requests  {rows[-1][1] / 1024:6.1f} MB", file=sys.stderr, flush=True)
        end = s.rss()
        mem = s.memory()
        peak = 0
        with open(f"/proc/{s.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    peak = int(line.split()[1])
        s.ok("POST", "/__admin/reset")
        reset = s.rss()
    finally:
        s.stop()
    print("| requests of 900 KB | resident (MB) |")
    print("| --- | --- |")
    for n, kb in rows:
        print(f"| {n:,} | {kb / 1024:.1f} |")
    print(f"| end (settled) | {end / 1024:.1f} |")
    print(f"| after `POST /__admin/reset` | {reset / 1024:.1f} |")
    print()
    print(f"- peak (VmHWM) {peak / 1024:.1f} MB; counted by the server at the end: "
          f"{mem['server']['bytes'] / 1048576:.1f} MiB of {mem['server']['max_bytes'] / 1048576:.0f} MiB; "
          f"statuses: {dict(sorted(status.items()))}")
    return 0 if end < 64 * 1024 else 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("what", choices=["entries", "large"])
    ap.add_argument("--n", type=int, default=5000,
                    help="entries per store, at most what fits its default byte budget (no eviction)")
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--binary", default=RELEASE)
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: cargo build --release --bin vendor-mock (or pass --binary)")
    if not 0 < args.n <= 100_000 or not 0 < args.requests <= 10_000:
        sys.exit("--n: 1 to 100000; --requests: 1 to 10000")
    sys.exit(entries(args) if args.what == "entries" else large(args))


if __name__ == "__main__":
    main()
