#!/usr/bin/env python3
"""Idle resident memory of the release binary, measured as bench/run.py does.

Starts the server N times (default 5) with bench/run.py's `start_mock` (its flags,
`--scenarios bench/scenarios`, RUST_LOG=warn), waits 0.5 s after the first answer to
GET /__admin/health, reads /proc/PID/status and stops the server. Prints the median and
the spread (min-max) of VmRSS, RssAnon and RssFile, how much of link/startup.ld and
link/startup.order the binary matches (build.rs; a stale list leaves the start-up code scattered), and with
--breakdown where the resident set of the median run lies (per mapping, from
/proc/PID/smaps: the binary's text, its read-only data, the shared libraries, the heap
and anonymous memory, thread stacks).

    cargo build --release --bin vendor-mock
    python3 bench/idle.py [--runs 5] [--binary target/release/vendor-mock] [--breakdown]
    python3 bench/idle.py --layout-only    # only the match of the two lists (nm), as .ci/run prints it

Bounded: N short-lived servers on 127.0.0.1, each killed after its reading.
"""
import argparse
import collections
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402
import startup_order  # noqa: E402

FIELDS = ("VmRSS", "RssAnon", "RssFile", "RssShmem")


def status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            key = line.split(":", 1)[0]
            if key in FIELDS:
                out[key] = int(line.split()[1])
    return out


def breakdown(pid, binary):
    """Resident kB per kind of mapping."""
    rows = collections.Counter()
    name = None
    real = os.path.realpath(binary)
    with open(f"/proc/{pid}/smaps") as f:
        for line in f:
            parts = line.split()
            if "-" in parts[0] and len(parts) >= 5 and not parts[0].endswith(":"):
                perms = parts[1]
                path = parts[5] if len(parts) >= 6 else ""
                if path == real:
                    kind = "binary " + ("text" if "x" in perms else "rw data" if "w" in perms else "read-only")
                elif path.startswith("/"):
                    kind = os.path.basename(path).split(".so")[0] + " (" + ("text" if "x" in perms else "data") + ")"
                elif path:
                    kind = path
                else:
                    kind = "anonymous"
                name = kind
            elif parts[0] == "Rss:":
                rows[name] += int(parts[1])
    return rows


def newest_source():
    """When a file under src/ last changed."""
    return max((os.path.getmtime(os.path.join(d, f)) for d, _, fs in os.walk(os.path.join(run.ROOT, "src")) for f in fs),
               default=0)


def ordering(binary):
    """How much of link/startup.ld and link/startup.order the binary matches. Exact names
    go stale with any change to src/ (generic instances' hashes and LTO's `.2337` suffixes
    move with the code) and with a new toolchain or dependency versions; the script's
    hash-free patterns still place most of the start-up code, less tightly: rerun
    bench/startup_order.py before a release or a benchmark."""
    script = os.path.join(run.ROOT, "link", "startup.ld")
    order = os.path.join(run.ROOT, "link", "startup.order")
    if not (os.path.exists(script) and os.path.exists(order)):
        return "start-up layout: no link/startup.ld or link/startup.order"
    with open(script) as f:
        entries = re.findall(r"\*\(\.text\.(\S+) ", f.read())
    with open(order) as f:
        exact = [line.strip() for line in f if line.strip() and not line.startswith("#")]
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    names = {f[2] for f in (line.split() for line in out.splitlines()) if len(f) == 3}
    known = names | {startup_order.pattern(n) for n in names}
    found = sum(1 for e in entries if e in known)
    named = sum(1 for n in exact if n in names)
    # A rebuild with freshly written lists still matches only about half of the exact names
    # (the link arguments change, and LTO's numeric suffixes with them: BENCHMARKS.md,
    # "Session 7"), so only the script's share says whether the lists are out of date.
    stale = " (stale: rerun bench/startup_order.py and rebuild)" if found < 0.7 * len(entries) else ""
    if os.path.getmtime(binary) < newest_source():
        stale += " (the binary is older than src/: cargo build --release for a current figure)"
    return (f"start-up layout: {found} of the {len(entries)} entries of link/startup.ld and {named} of the "
            f"{len(exact)} names of link/startup.order match the binary{stale}")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--binary", default=run.MOCK)
    ap.add_argument("--layout-only", action="store_true",
                    help="only how much of the start-up layout the binary matches (nm; no server started)")
    ap.add_argument("--breakdown", action="store_true", help="also where the median run's resident set lies")
    args = ap.parse_args()
    if args.layout_only:
        print(ordering(args.binary))
        return
    run.MOCK = args.binary
    samples, starts = [], []
    for _ in range(args.runs):
        p, t = run.start_mock(run.free_port())
        try:
            time.sleep(0.5)
            s = status(p.pid)
            if args.breakdown:
                s["rows"] = breakdown(p.pid, args.binary)
        finally:
            p.kill()
            p.wait()
        samples.append(s)
        starts.append(t * 1000)
    print(f"{args.runs} runs of {args.binary}")
    print(ordering(args.binary))
    print(f"first answer: best {min(starts):.1f} ms, median {run.median(starts):.1f} ms")
    for k in FIELDS:
        xs = sorted(s[k] for s in samples)
        print(f"{k:9} median {run.median(xs) / 1024:6.2f} MB  spread {xs[0] / 1024:.2f}-{xs[-1] / 1024:.2f} MB")
    if args.breakdown:
        mid = sorted(samples, key=lambda s: s["VmRSS"])[len(samples) // 2]
        print(f"\nthe median run ({mid['VmRSS']} kB), resident kB by mapping:")
        for kind, kb in mid["rows"].most_common():
            if kb:
                print(f"  {kb:7d}  {kind}")


if __name__ == "__main__":
    main()
