#!/usr/bin/env python3
"""Soak: every vendor, a new entity id per request, for N minutes; resident memory sampled.

Starts the release binary (frozen clock, bench/scenarios so no rate limit applies, the
default caps), then worker processes send requests over keep-alive connections until the
time is up, turning through the vendors with a new entity each time:
  finbox    POST /finbox/v2/risk/predictors       a new customer_id (its salt)
  credeau   POST /credeau/api/insights            a new user_id
  finx      a new flow: start, widget, code exchange, then GET the report (4 requests)
  credolab  GET /credolab/v6.0/datasets/{new ref}/datasetinsight (a login per worker)
  finscore  POST /finscore/score/api/v2/score     a new subscriber number (a token per worker)
  features  writeFeatureValues for a new entity, then readFeatureValues of it
Every 10 s (--sample) the main process reads the server's VmRSS and prints a row. At the
end it stops the load, reads the resident set, sends POST /__admin/reset and reads it again
once it settles. Every answer must have its expected status; the count of others is
printed (and makes the exit status 1).

The loop is bounded: it stops by itself after --minutes (and each worker after the same
deadline), and the server is terminated at the end.

    cargo build --release --bin vendor-mock
    python3 bench/soak.py --minutes 10 [--workers 2] [--markdown]
"""
import argparse
import multiprocessing
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import endpoints as ep  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RELEASE = os.path.join(ROOT, "target", "release", "vendor-mock")
VENDORS = ["finbox", "credeau", "finx", "credolab", "finscore", "featurestore"]


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def settle(pid):
    """VmRSS once it stops moving (up to 3 s)."""
    last = status_kb(pid, "VmRSS")
    for _ in range(30):
        time.sleep(0.1)
        now = status_kb(pid, "VmRSS")
        if now == last:
            break
        last = now
    return last


def worker(port, index, deadline, done, bad, per_vendor):
    """Send requests until `deadline` (time.time()), a new entity each."""
    c = ep.Client(port)
    credolab = ep.credolab_token(c, "")
    token, _ = c.ok("POST", ep.FINSCORE_TOKEN.path, ep.FINSCORE_TOKEN.headers, ep.FINSCORE_TOKEN.body)
    finscore = {"Authorization": "Bearer " + __import__("json").loads(token)["access_token"]}
    n = 0
    while time.time() < deadline:
        vendor = VENDORS[n % len(VENDORS)]
        entity = f"soak-{index}-{n}"
        try:
            if vendor == "finbox":
                calls = [ep.finbox_predictors(c, "", entity)]
            elif vendor == "credeau":
                calls = [ep.credeau_insights(c, "", entity)]
            elif vendor == "finx":
                # The flow's four requests count like the others; the report is the call.
                calls = [ep.finx_report(c, "", entity)]
                with done.get_lock():
                    done.value += 3
            elif vendor == "credolab":
                calls = [ep.Call("GET", f"/credolab/v6.0/datasets/{entity}/datasetinsight", credolab)]
            elif vendor == "finscore":
                # 63 + a 10-digit number that no shipped scenario prefix (63999…) matches.
                number = f"639{(index * 100_000_000 + n) % 1_000_000_000:09d}"
                number = number if not number.startswith("63999") else "638" + number[3:]
                calls = [ep.Call("POST", "/finscore/score/api/v2/score", dict(ep.JSON, **finscore),
                                 {"mobilenumber": number, "productids": "Q1;", "requestid": str(n)})]
            else:
                calls = [ep.featurestore_read(c, "", entity)]
                with done.get_lock():
                    done.value += 1
            for call in calls:
                status, _, _, _ = c.call(call)
                if status != call.status:
                    with bad.get_lock():
                        bad.value += 1
        except Exception:  # a refused set-up step: counted, and the loop goes on
            with bad.get_lock():
                bad.value += 1
        with done.get_lock():
            done.value += 1
        with per_vendor.get_lock():
            per_vendor[VENDORS.index(vendor)] += 1
        n += 1


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, required=True)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--sample", type=float, default=10.0, help="seconds between RSS samples")
    ap.add_argument("--binary", default=RELEASE)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not os.path.exists(args.binary):
        sys.exit(f"{args.binary} is missing: cargo build --release --bin vendor-mock (or pass --binary)")
    if not 0 < args.minutes <= 240:
        sys.exit("--minutes: more than 0, at most 240")

    proc = subprocess.Popen(
        [args.binary, "serve", "--listen", "127.0.0.1:0", "--frozen-clock", "2026-01-15T10:00:00Z",
         "--scenarios", os.path.join(ROOT, "bench", "scenarios")],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=dict(os.environ, RUST_LOG="warn"))
    workers = []
    rows = []
    try:
        m = re.match(r"listening on http://127\.0\.0\.1:(\d+)", proc.stdout.readline())
        if not m:
            sys.exit("vendor-mock did not print its address")
        port = int(m.group(1))
        time.sleep(0.5)
        idle = status_kb(proc.pid, "VmRSS")
        start = time.time()
        deadline = start + args.minutes * 60
        done = multiprocessing.Value("q", 0)
        bad = multiprocessing.Value("q", 0)
        per_vendor = multiprocessing.Array("q", len(VENDORS))
        workers = [multiprocessing.Process(target=worker, args=(port, i, deadline, done, bad, per_vendor), daemon=True)
                   for i in range(args.workers)]
        for w in workers:
            w.start()
        rows.append((0.0, 0, 0.0, idle / 1024))
        print(f"{'seconds':>8} {'requests':>10} {'req/s':>8} {'RSS MB':>8}", file=sys.stderr)
        last_t, last_n = start, 0
        while time.time() < deadline:
            time.sleep(max(0.0, min(args.sample, deadline - time.time())))
            now, n = time.time(), done.value
            rss = status_kb(proc.pid, "VmRSS") / 1024
            rows.append((now - start, n, (n - last_n) / max(1e-9, now - last_t), rss))
            print(f"{now - start:8.0f} {n:10d} {rows[-1][2]:8.0f} {rss:8.1f}", file=sys.stderr, flush=True)
            last_t, last_n = now, n
        for w in workers:
            w.join(timeout=120)
        end_rss = settle(proc.pid) / 1024
        peak = status_kb(proc.pid, "VmHWM") / 1024
        c = ep.Client(port)
        c.ok("POST", "/__admin/reset")
        reset_rss = settle(proc.pid) / 1024
    finally:
        for w in workers:
            if w.is_alive():
                w.terminate()
        proc.terminate()
        proc.wait(timeout=10)

    counts = ", ".join(f"{v} {per_vendor[i]}" for i, v in enumerate(VENDORS))
    if args.markdown:
        print("| seconds | requests | req/s | resident (MB) |")
        print("| --- | --- | --- | --- |")
        for t, n, rate, rss in rows:
            print(f"| {t:.0f} | {n:,} | {rate:,.0f} | {rss:.1f} |")
        print(f"| end (settled) | {done.value:,} | | {end_rss:.1f} |")
        print(f"| after `POST /__admin/reset` | | | {reset_rss:.1f} |")
        print()
    else:
        for t, n, rate, rss in rows:
            print(f"{t:8.0f} s {n:10d} requests {rate:8.0f} req/s {rss:8.1f} MB")
        print(f"end (settled): {end_rss:.1f} MB; after POST /__admin/reset: {reset_rss:.1f} MB")
    print(f"- idle {idle / 1024:.1f} MB, peak (VmHWM) {peak:.1f} MB; new entities per vendor: {counts}; "
          f"answers with another status than expected: {bad.value}")
    sys.exit(1 if bad.value else 0)


if __name__ == "__main__":
    main()
