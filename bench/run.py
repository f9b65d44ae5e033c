#!/usr/bin/env python3
"""Load benchmark: vendor-mock against a bare hyper server serving the same bytes.

Measures, in one run on this machine:
  - requests/s and p50/p99 latency under wrk for two cases:
      insights: POST /credeau/api/insights (a ~100 KB body of ~2800 features)
      401:      the same request with a wrong token (a small body)
    each against vendor-mock and against bench/bare_hyper.rs answering with the exact bytes
    vendor-mock gave for that request;
  - time from exec to the first answered request (GET /__admin/health), best of 5;
  - resident memory: idle after start, and peak (VmHWM) after the load.

Needs wrk (Debian package `wrk`). Run from the repository root:
    python3 bench/run.py [--seconds 5] [--rounds 5] [--connections 16] [--markdown]
It builds the release binaries itself. Results are printed; BENCHMARKS.md holds a recorded run.
"""
import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK = os.path.join(ROOT, "target", "release", "vendor-mock")
BARE = os.path.join(ROOT, "target", "release", "examples", "bare_hyper")
BODY = {"user_id": "bench-user", "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]}


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def rss_kb(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_ready(url, timeout=10.0):
    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        try:
            with urllib.request.urlopen(url, timeout=1) as r:
                if r.status == 200:
                    return time.perf_counter() - start
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.0005)
    raise RuntimeError(f"{url} never answered")


def start_mock(port):
    t0 = time.perf_counter()
    p = subprocess.Popen([MOCK, "serve", "--listen", f"127.0.0.1:{port}", "--frozen-clock", "2026-01-15T10:00:00Z",
                          "--scenarios", os.path.join(ROOT, "bench", "scenarios")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    # Poll with raw sockets: urllib's own overhead would be counted otherwise.
    while time.perf_counter() - t0 < 10:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET /__admin/health HTTP/1.0\r\n\r\n")
                if s.recv(12)[8:12] == b" 200":  # "HTTP/1.x 200"
                    return p, time.perf_counter() - t0
        except OSError:
            time.sleep(0.0002)
    p.kill()
    raise RuntimeError("vendor-mock did not answer within 10 s")


def fetch(url, headers):
    req = urllib.request.Request(url, data=json.dumps(BODY).encode(), method="POST", headers=dict({"Content-Type": "application/json"}, **headers))
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, r.headers.get("content-type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type"), e.read()


def measured(pid, url, seconds, connections, body_file, token):
    """One wrk run, plus the server's CPU time per answered request (in microseconds)."""
    before = cpu_seconds(pid)
    r = wrk(url, seconds, connections, body_file, token)
    r["cpu_us_per_req"] = (cpu_seconds(pid) - before) * 1e6 / max(1.0, r["rps"] * seconds)
    return r


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def wrk(url, seconds, connections, body_file, token):
    env = dict(os.environ, WRK_BODY_FILE=body_file, WRK_AUTH_TOKEN=token)
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", os.path.join(ROOT, "bench", "post.lua"), url],
                         capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99), "non_2xx": int(m.group(1)) if m else 0}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--markdown", action="store_true")
    args = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    subprocess.run(["cargo", "build", "--release", "--bin", "vendor-mock", "--example", "bare_hyper"], cwd=ROOT, check=True)

    starts = []
    for _ in range(5):
        p, t = start_mock(free_port())
        starts.append(t)
        p.kill()
        p.wait()

    port = free_port()
    mock, _ = start_mock(port)
    time.sleep(0.5)
    idle_kb = rss_kb(mock.pid)
    base = f"http://127.0.0.1:{port}"
    tmp = tempfile.mkdtemp()
    body_file = os.path.join(tmp, "body.json")
    with open(body_file, "w") as f:
        json.dump(BODY, f)

    results = {}
    for case, token in [("insights", "test-token"), ("401", "wrong-token")]:
        status, ctype, payload = fetch(base + "/credeau/api/insights", {"x-client-id": "test-client", "x-auth-token": token})
        resp_file = os.path.join(tmp, f"{case}.resp")
        with open(resp_file, "wb") as f:
            f.write(payload)
        bare_port = free_port()
        bare = subprocess.Popen([BARE, f"127.0.0.1:{bare_port}", str(status), ctype, resp_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            time.sleep(0.3)
            wrk(base + "/credeau/api/insights", 2, args.connections, body_file, token)  # warm-up
            wrk(f"http://127.0.0.1:{bare_port}/x", 2, args.connections, body_file, token)
            # Interleaved rounds: this machine's speed drifts, so each round compares the two
            # under the same conditions and the medians are reported.
            rounds = []
            for _ in range(args.rounds):
                m = measured(mock.pid, base + "/credeau/api/insights", args.seconds, args.connections, body_file, token)
                b = measured(bare.pid, f"http://127.0.0.1:{bare_port}/credeau/api/insights", args.seconds, args.connections, body_file, token)
                if case == "insights" and m["non_2xx"]:
                    sys.exit(f"the insights run got {m['non_2xx']} non-2xx answers: the benchmark is not measuring what it says")
                rounds.append((m, b))
        finally:
            bare.kill()
            bare.wait()
        pick = lambda side, key: median([r[side][key] for r in rounds])
        results[case] = {
            "status": status, "bytes": len(payload),
            "mock": {k: pick(0, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")},
            "bare": {k: pick(1, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req")},
            "ratio": median([m["rps"] / b["rps"] for m, b in rounds]),
            "ratios": [round(m["rps"] / b["rps"], 2) for m, b in rounds],
        }
    peak_kb = rss_kb(mock.pid, "VmHWM")
    mock.terminate()
    mock.wait()

    summary = {"first_answer_ms": min(starts) * 1000, "first_answer_ms_all": [round(s * 1000, 1) for s in starts],
               "idle_rss_mb": idle_kb / 1024, "peak_rss_mb": peak_kb / 1024, "cases": results,
               "connections": args.connections, "seconds": args.seconds, "cores": os.cpu_count()}
    if args.markdown:
        print("| case | answer | vendor-mock req/s | bare hyper req/s | ratio (median; per round) | p50 mock / bare (ms) | p99 mock / bare (ms) | server CPU µs/req mock / bare |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for case, r in results.items():
            print(f"| {case} | {r['status']}, {r['bytes']} B | {r['mock']['rps']:.0f} | {r['bare']['rps']:.0f} | {r['ratio']:.2f}× ({', '.join(map(str, r['ratios']))}) | "
                  f"{r['mock']['p50_ms']:.2f} / {r['bare']['p50_ms']:.2f} | {r['mock']['p99_ms']:.2f} / {r['bare']['p99_ms']:.2f} | "
                  f"{r['mock']['cpu_us_per_req']:.1f} / {r['bare']['cpu_us_per_req']:.1f} |")
        print()
        print(f"- exec to first answer: {summary['first_answer_ms']:.1f} ms (best of 5: {summary['first_answer_ms_all']})")
        print(f"- resident memory: idle {summary['idle_rss_mb']:.1f} MB, peak {summary['peak_rss_mb']:.1f} MB")
    else:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
