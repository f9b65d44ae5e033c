#!/usr/bin/env python3
"""Load benchmark: vendor-mock against a bare hyper server serving the same bytes.

For every vendor's main endpoints (bench/endpoints.py lists them, each with the set-up a
client does first: salt, login, flow + widget + code exchange, token, written values),
at the root and inside a sandbox (`/~bench/...`), at each number of connections:
  - the set-up runs against vendor-mock, then one answer to the measured request is
    taken; bench/bare_hyper.rs is started answering every request with exactly that
    status, content type and body;
  - a warm-up of each, then interleaved rounds (mock, then bare) of wrk with 2 threads
    (this machine's speed drifts from minute to minute: each round compares the two under
    the same conditions, and the medians are reported);
  - requests/s, p50/p99 latency, and server CPU time per request (user + system from
    /proc/PID/stat over the answered requests: the steadiest figure on a shared machine),
    in all and in user space alone (the kernel's share is about the same for both).
Also: time from exec to the first answered request (best of 5), resident memory idle and
at the end (VmHWM).

The server loads bench/scenarios/: Credeau and FinBox without their rate limits (with the
shipped 1000 requests/minute a load test measures the 429 answer). Every round checks
that the mock gave the expected status to every request (wrk's non-2xx count).

Needs wrk (Debian package `wrk`). Run from the repository root:
    python3 bench/run.py [--endpoints finx-report,credolab-insight] [--where root,sandbox]
                         [--connections 16,32] [--rounds 3] [--seconds 5] [--markdown]
It builds the release binaries itself (--no-build to skip). BENCHMARKS.md holds recorded runs.
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import endpoints  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK = os.path.join(ROOT, "target", "release", "vendor-mock")
BARE = os.path.join(ROOT, "target", "release", "examples", "bare_hyper")
LUA = os.path.join(ROOT, "bench", "request.lua")
SANDBOX = "/~bench"


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
    """(user, system) CPU time of a process so far, in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return int(fields[11]) / tick, int(fields[12]) / tick


def wait_port(port, timeout=10.0):
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < timeout:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.005)
    raise RuntimeError(f"nothing listens on {port}")


def start_mock(port, env=None):
    """Start MOCK on `port` (with `env` added to the environment); (process, seconds to its first answer)."""
    t0 = time.perf_counter()
    p = subprocess.Popen([MOCK, "serve", "--listen", f"127.0.0.1:{port}", "--frozen-clock", "2026-01-15T10:00:00Z",
                          "--scenarios", os.path.join(ROOT, "bench", "scenarios")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                         env=dict(os.environ, RUST_LOG="warn", **(env or {})))
    # Poll with raw sockets: an HTTP library's own overhead would be counted otherwise.
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


def median(xs):
    xs = sorted(xs)
    return xs[len(xs) // 2]


def wrk(url, seconds, connections, files):
    env = dict(os.environ, WRK_METHOD=files["method"], WRK_HEADERS_FILE=files["headers"], WRK_BODY_FILE=files["body"])
    out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", LUA, url],
                         capture_output=True, text=True, env=env, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))

    def pct(p):
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    m = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    errors = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "requests": total, "p50_ms": pct(50), "p99_ms": pct(99),
            "non_2xx": int(m.group(1)) if m else 0, "socket_errors": errors.group(0) if errors else None}


def measured(pid, url, seconds, connections, files):
    """One wrk run, plus the server's CPU time per answered request (in microseconds): in
    all, and in user space alone. The kernel's share (one recvfrom and one writev a request,
    for both servers) is about the same for the mock and bare hyper; the user-space share is
    where the mock's own work shows."""
    (user0, sys0) = cpu_seconds(pid)
    r = wrk(url, seconds, connections, files)
    (user1, sys1) = cpu_seconds(pid)
    n = max(1, r["requests"])
    r["cpu_us_per_req"] = (user1 - user0 + sys1 - sys0) * 1e6 / n
    r["user_us_per_req"] = (user1 - user0) * 1e6 / n
    return r


def check_statuses(name, r, status):
    """Every request got the status the set-up saw (wrk counts only non-2xx/3xx)."""
    wanted = 0 if status < 400 else r["requests"]
    # wrk counts requests still in flight at the deadline in `requests` but not in
    # the non-2xx count: allow one per connection for an error status.
    if (status < 400 and r["non_2xx"]) or (status >= 400 and abs(r["non_2xx"] - wanted) > 64):
        sys.exit(f"{name}: {r['non_2xx']} of {r['requests']} answers were not {status}: "
                 "the benchmark is not measuring what it says")


def wrk_files(call, stem):
    """`call`'s headers and body written to STEM.headers and STEM.body, as wrk (request.lua) reads them."""
    files = {"method": call.method, "headers": stem + ".headers", "body": stem + ".body"}
    with open(files["headers"], "w") as f:
        f.write("".join(f"{k}: {v}\n" for k, v in call.headers.items()))
    with open(files["body"], "wb") as f:
        f.write(call.body)
    return files


def run_case(mock, port, name, where, conns, args, tmp):
    prefix = SANDBOX if where == "sandbox" else ""
    call, status, ctype, payload = endpoints.setup(port, name, prefix)
    stem = os.path.join(tmp, f"{name}-{where}")
    files = wrk_files(call, stem)
    with open(stem + ".resp", "wb") as f:
        f.write(payload)
    bare_port = free_port()
    bare = subprocess.Popen([BARE, f"127.0.0.1:{bare_port}", str(status), ctype or "application/json", stem + ".resp"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results = []
    try:
        wait_port(bare_port)
        mock_url = f"http://127.0.0.1:{port}{call.path}"
        bare_url = f"http://127.0.0.1:{bare_port}{call.path}"
        for c in conns:
            check_statuses(name, wrk(mock_url, args.warmup, c, files), status)
            wrk(bare_url, args.warmup, c, files)
            rounds = []
            for _ in range(args.rounds):
                m = measured(mock.pid, mock_url, args.seconds, c, files)
                check_statuses(name, m, status)
                b = measured(bare.pid, bare_url, args.seconds, c, files)
                rounds.append((m, b))
            pick = lambda side, key: median([r[side][key] for r in rounds])  # noqa: E731
            results.append({
                "endpoint": name, "where": where, "connections": c, "method": call.method,
                "path": call.path, "status": status, "bytes": len(payload),
                "mock": {k: pick(0, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "user_us_per_req")},
                "bare": {k: pick(1, k) for k in ("rps", "p50_ms", "p99_ms", "cpu_us_per_req", "user_us_per_req")},
                "ratio": median([m["rps"] / b["rps"] for m, b in rounds]),
                "ratios": [round(m["rps"] / b["rps"], 2) for m, b in rounds],
            })
            r = results[-1]
            print(f"{name} {where} c{c}: {r['ratio']:.2f}x {r['ratios']} cpu {r['mock']['cpu_us_per_req']:.1f}"
                  f"/{r['bare']['cpu_us_per_req']:.1f} us/req (user {r['mock']['user_us_per_req']:.1f}"
                  f"/{r['bare']['user_us_per_req']:.1f})", file=sys.stderr, flush=True)
    finally:
        bare.kill()
        bare.wait()
    return results


def markdown(summary):
    print("| endpoint | where | conns | answer | vendor-mock req/s | bare hyper req/s | ratio (median; per round) "
          "| p50 mock / bare (ms) | p99 mock / bare (ms) | server CPU µs/req mock / bare | of which user space |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in summary["cases"]:
        print(f"| {r['endpoint']} | {r['where']} | {r['connections']} | {r['status']}, {r['bytes']} B "
              f"| {r['mock']['rps']:.0f} | {r['bare']['rps']:.0f} "
              f"| {r['ratio']:.2f}× ({', '.join(map(str, r['ratios']))}) "
              f"| {r['mock']['p50_ms']:.2f} / {r['bare']['p50_ms']:.2f} | {r['mock']['p99_ms']:.2f} / {r['bare']['p99_ms']:.2f} "
              f"| {r['mock']['cpu_us_per_req']:.1f} / {r['bare']['cpu_us_per_req']:.1f} "
              f"| {r['mock']['user_us_per_req']:.1f} / {r['bare']['user_us_per_req']:.1f} |")
    print()
    print(f"- exec to first answer: {summary['first_answer_ms']:.1f} ms (best of 5: {summary['first_answer_ms_all']})")
    print(f"- resident memory: idle {summary['idle_rss_mb']:.1f} MB, peak {summary['peak_rss_mb']:.1f} MB")
    print(f"- load average before / after: {summary['load_before']} / {summary['load_after']}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", default="all", help="comma-separated names from bench/endpoints.py, or all")
    ap.add_argument("--where", default="root,sandbox", help="root, sandbox or both")
    ap.add_argument("--connections", default="16,32", help="comma-separated connection counts")
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per server and connection count")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--json", help="also write the results to this file")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--binary", help="the vendor-mock binary to measure (implies --no-build)")
    args = ap.parse_args()
    names = endpoints.select(args.endpoints)
    wheres = [w.strip() for w in args.where.split(",") if w.strip()]
    if not set(wheres) <= {"root", "sandbox"}:
        sys.exit("--where takes root, sandbox or both")
    conns = [int(c) for c in args.connections.split(",")]
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed (apt-get install wrk)")
    if args.binary:
        global MOCK
        MOCK = args.binary
    elif not args.no_build:
        # Two builds, not one: an example brings the dev-dependencies, whose features
        # (tokio's test-util) would otherwise be compiled into the measured binary too.
        for target in (["--example", "bare_hyper"], ["--bin", "vendor-mock"]):
            subprocess.run(["cargo", "build", "--release", *target], cwd=ROOT, check=True)
    load_before = open("/proc/loadavg").read().split()[:3]

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
    tmp = tempfile.mkdtemp()
    cases = []
    try:
        for name in names:
            for where in wheres:
                cases += run_case(mock, port, name, where, conns, args, tmp)
        peak_kb = rss_kb(mock.pid, "VmHWM")
    finally:
        mock.terminate()
        mock.wait()
        shutil.rmtree(tmp, ignore_errors=True)

    summary = {"first_answer_ms": min(starts) * 1000, "first_answer_ms_all": [round(s * 1000, 1) for s in starts],
               "idle_rss_mb": idle_kb / 1024, "peak_rss_mb": peak_kb / 1024, "cases": cases,
               "seconds": args.seconds, "rounds": args.rounds, "cores": os.cpu_count(),
               "load_before": " ".join(load_before), "load_after": " ".join(open("/proc/loadavg").read().split()[:3])}
    if args.json:
        with open(args.json, "w") as f:
            json.dump(summary, f, indent=2)
    if args.markdown:
        markdown(summary)
    else:
        print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
