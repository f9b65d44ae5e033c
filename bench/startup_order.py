#!/usr/bin/env python3
"""Write link/startup.order: the functions the binary runs from exec to an idle server.

build.rs hands the file to the linker (lld's --symbol-ordering-file), which places those
functions side by side, so the pages of text an idle server keeps resident are few (the
kernel maps 64 KiB around every page fault: scattered start-up code makes most of the
text resident). This runs the release binary under callgrind as bench/run.py starts it
(bench/scenarios, frozen clock), waits for its first answer to GET /__admin/health, lets
it idle for a second, and lists every function of the binary that ran, by its mangled
name (the names the linker sees), sorted so a rerun gives a small diff.

When to rerun: after a toolchain or dependency update (mangled names carry hashes that
change then: stale names are skipped, and the idle resident set grows back), or after a
change to what runs at start-up. Check with bench/idle.py before and after.

    cargo build --release --bin vendor-mock
    python3 bench/startup_order.py [--binary target/release/vendor-mock]
    cargo build --release --bin vendor-mock && python3 bench/idle.py

Needs valgrind (Debian package). Bounded: one server on 127.0.0.1, killed at the end.
"""
import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

ORDER = os.path.join(run.ROOT, "link", "startup.order")


def ran(binary):
    """Mangled names of the binary's functions that ran, from a callgrind profile."""
    tmp = tempfile.mkdtemp()
    out = os.path.join(tmp, "callgrind.out")
    port = run.free_port()
    p = subprocess.Popen(["valgrind", "--tool=callgrind", "--demangle=no", "--dump-instr=no",
                          "--compress-strings=no", f"--callgrind-out-file={out}",
                          binary, "serve", "--listen", f"127.0.0.1:{port}", "--frozen-clock", "2026-01-15T10:00:00Z",
                          "--scenarios", os.path.join(run.ROOT, "bench", "scenarios")],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    try:
        deadline = time.time() + 120
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
                    s.sendall(b"GET /__admin/health HTTP/1.0\r\n\r\n")
                    if s.recv(12)[8:12] == b" 200":
                        break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError("vendor-mock did not answer under valgrind within 120 s")
                time.sleep(0.05)
        time.sleep(1.0)
        subprocess.run(["callgrind_control", "-d", "idle", str(p.pid)], check=True, capture_output=True)
    finally:
        p.kill()
        p.wait()
    names = set()
    real = os.path.realpath(binary)
    for path in glob.glob(out + "*"):
        ob = None
        with open(path, errors="replace") as f:
            for line in f:
                if line.startswith("ob="):
                    ob = line[3:].strip()
                elif line.startswith("fn=") and ob == real:
                    # callgrind marks recursion levels with 'N.
                    names.add(line[3:].strip().split("'")[0])
    shutil.rmtree(tmp, ignore_errors=True)
    return names


def defined(binary):
    """Names of the binary's function symbols."""
    out = subprocess.run(["nm", "--defined-only", binary], capture_output=True, text=True, check=True).stdout
    return {f[2] for f in (line.split() for line in out.splitlines()) if len(f) == 3 and f[1] in "tT"}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=run.MOCK)
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "nm"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    names = sorted(ran(args.binary) & defined(args.binary))
    os.makedirs(os.path.dirname(ORDER), exist_ok=True)
    with open(ORDER, "w") as f:
        f.write("# Written by bench/startup_order.py: the functions that run from exec to an idle\n"
                "# server, for lld's --symbol-ordering-file (build.rs). Regenerate, do not edit.\n")
        f.write("".join(n + "\n" for n in names))
    print(f"{len(names)} functions written to {os.path.relpath(ORDER, run.ROOT)}")


if __name__ == "__main__":
    main()
