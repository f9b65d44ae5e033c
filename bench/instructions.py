#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: the steady figure for tuning.

Wall-clock throughput on a shared 2-core VM drifts by tens of percent; instruction counts do
not (same binary, same requests, about the same count). For each endpoint of bench/run.py
(bench/endpoints.py, each with its client set-up), at the root and inside a sandbox, this
runs vendor-mock under callgrind, does the set-up, sends warm-up requests over one
keep-alive connection, zeroes the counters, sends the measured requests and dumps the
counts; then the bare hyper server answering the same bytes, the same way. It prints
user-space instructions per request. Kernel work (sending the bytes) is not counted. The
mock's journal is limited to half the warm-up so it is full, and recycling entries, as on
a server that has been running for a while. One mock process serves every case in turn.

Caveat: valgrind hides the CPU's SHA extensions, so the SHA-256 behind generated ids runs
in software here and costs several times what it costs natively (~3.5k instructions per
digest instead of a few hundred).

With two runtime workers the count moves by a few hundred per request from run to run (how
often the workers park and wake); TOKIO_WORKER_THREADS=1 in the environment steadies it.

Needs valgrind (Debian package). Run from the repository root after a release build (two
commands: built together, the example's dev-dependencies would add tokio's test-util to the
binary measured):
    cargo build --release --example bare_hyper && cargo build --release --bin vendor-mock
    python3 bench/instructions.py [--endpoints finx-report,finx-transactions] [--where root]
                                  [--requests 500] [--warmup 200] [--annotate]
--annotate prints callgrind_annotate's inclusive top functions of vendor-mock for each case.
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
import endpoints  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK = os.path.join(ROOT, "target", "release", "vendor-mock")
BARE = os.path.join(ROOT, "target", "release", "examples", "bare_hyper")


def exchange(sock, req, buf):
    """Send one request; return (status, body, leftover bytes)."""
    sock.sendall(req)
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            raise RuntimeError("the server closed the connection")
        buf += chunk
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in lines if line.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(262144)
    return int(lines[0].split()[1]), rest[:length], rest[length:]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start(cmd, port, out):
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"] + cmd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    deadline = time.time() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return p
        except OSError:
            if time.time() > deadline:
                p.kill()
                raise RuntimeError(f"{cmd[0]} did not start under valgrind")
            time.sleep(0.1)


def count(p, port, req, warmup, n, out, reason):
    """Instructions per request of `req` on the server `p`, dumped under `reason`."""
    sock = socket.create_connection(("127.0.0.1", port))
    buf = b""
    for _ in range(warmup):
        status, body, buf = exchange(sock, req, buf)
    subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
    for _ in range(n):
        _, _, buf = exchange(sock, req, buf)
    subprocess.run(["callgrind_control", "-d", reason, str(p.pid)], check=True, capture_output=True)
    sock.close()
    total = 0
    dumps = []
    for d in glob.glob(out + ".*"):
        with open(d, errors="replace") as f:
            text = f.read()
        if f"Trigger: dump {reason}\n" in text[:4000]:
            dumps.append(d)
            total += next(int(line.split()[1]) for line in text.splitlines() if line.startswith("summary:"))
    return status, body, total / n, dumps


def annotate(dumps):
    for d in dumps:
        top = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", d],
                             capture_output=True, text=True).stdout.splitlines()
        print("\n".join(line[:160] for line in top if "vendor_mock" in line or "serde" in line or "sha2" in line)[:6000])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoints", default="all")
    ap.add_argument("--where", default="root,sandbox")
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--no-bare", action="store_true", help="count vendor-mock only")
    ap.add_argument("--annotate", action="store_true")
    ap.add_argument("--binary", default=MOCK, help="the vendor-mock binary (default: the release build)")
    args = ap.parse_args()
    names = endpoints.select(args.endpoints)
    wheres = [w.strip() for w in args.where.split(",") if w.strip()]
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install valgrind)")
    for binary in (args.binary, BARE):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: cargo build --release --example bare_hyper && "
                     "cargo build --release --bin vendor-mock")
    tmp = tempfile.mkdtemp()
    port = free_port()
    mock_out = os.path.join(tmp, "mock.out")
    mock = start([args.binary, "serve", "--listen", f"127.0.0.1:{port}", "--frozen-clock", "2026-01-15T10:00:00Z",
                  "--scenarios", os.path.join(ROOT, "bench", "scenarios"),
                  # Full before the measured requests, as on a server that has run a while.
                  "--journal-limit", str(max(1, args.warmup // 2))], port, mock_out)
    print("| endpoint | where | answer | vendor-mock instructions/request | bare hyper | difference |")
    print("| --- | --- | --- | --- | --- | --- |")
    try:
        for name in names:
            for where in wheres:
                call, status, ctype, _ = endpoints.setup(port, name, "/~bench" if where == "sandbox" else "")
                req = call.raw()
                got, body, mine, dumps = count(mock, port, req, args.warmup, args.requests, mock_out, f"{name}-{where}")
                if got != status:
                    sys.exit(f"{name} {where}: answered {got}, not {status}")
                if args.annotate:
                    annotate(dumps)
                if args.no_bare:
                    print(f"| {name} | {where} | {status}, {len(body)} B | {mine:,.0f} | | |", flush=True)
                    continue
                body_file = os.path.join(tmp, f"{name}-{where}.body")
                with open(body_file, "wb") as f:
                    f.write(body)
                bare_port = free_port()
                bare_out = os.path.join(tmp, f"bare-{name}-{where}.out")
                bare = start([BARE, f"127.0.0.1:{bare_port}", str(status), ctype or "application/json", body_file],
                             bare_port, bare_out)
                try:
                    _, _, theirs, _ = count(bare, bare_port, req, args.warmup, args.requests, bare_out, "measured")
                finally:
                    bare.terminate()
                    bare.wait()
                print(f"| {name} | {where} | {status}, {len(body)} B | {mine:,.0f} | {theirs:,.0f} "
                      f"| +{mine - theirs:,.0f} |", flush=True)
    finally:
        mock.terminate()
        mock.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
