#!/usr/bin/env python3
"""Instructions per request, counted by valgrind's callgrind: the steady figure for tuning.

Wall-clock throughput on a shared 2-core VM drifts by tens of percent; instruction counts do
not (same binary, same requests, same count). For each case of bench/run.py (insights, 401),
this runs vendor-mock and the bare hyper server under callgrind, sends warm-up requests over
one keep-alive connection, zeroes the counters, sends the measured requests, and prints
user-space instructions per request. Kernel work (sending the bytes) is not counted. The
mock's journal is limited to half the warm-up so it is full, and recycling entries, as on a
server that has been running for a while.

Caveat: valgrind hides the CPU's SHA extensions, so the SHA-256 behind generated ids runs
in software here and costs several times what it costs natively (~3.5k instructions per
digest instead of a few hundred).

Needs valgrind (Debian package). Run from the repository root after a release build:
    cargo build --release --bin vendor-mock --example bare_hyper
    python3 bench/instructions.py [--requests 500] [--annotate]
--annotate prints callgrind_annotate's inclusive top functions of vendor-mock for each case.
"""
import argparse
import glob
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MOCK = os.path.join(ROOT, "target", "release", "vendor-mock")
BARE = os.path.join(ROOT, "target", "release", "examples", "bare_hyper")
BODY = json.dumps({"user_id": "bench-user", "client_id": "test-client",
                   "groupings": ["sms", "fraud", "extracted_sms"]}).encode()


def request(token):
    return (b"POST /credeau/api/insights HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"x-client-id: test-client\r\nx-auth-token: " + token.encode()
            + b"\r\nContent-Length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY)


def exchange(sock, req, buf):
    """Send one request; return (status, body, leftover bytes)."""
    sock.sendall(req)
    while b"\r\n\r\n" not in buf:
        buf += sock.recv(65536)
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.split(b"\r\n")
    length = next(int(l.split(b":", 1)[1]) for l in lines if l.lower().startswith(b"content-length:"))
    while len(rest) < length:
        rest += sock.recv(262144)
    return int(lines[0].split()[1]), rest[:length], rest[length:]


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def measure(cmd, port, req, warmup, n, out, annotate):
    p = subprocess.Popen(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", "--dump-instr=no"] + cmd,
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ, RUST_LOG="warn"))
    try:
        deadline = time.time() + 60
        while True:
            try:
                sock = socket.create_connection(("127.0.0.1", port))
                break
            except OSError:
                if time.time() > deadline:
                    raise RuntimeError(f"{cmd[0]} did not start under valgrind")
                time.sleep(0.1)
        buf = b""
        for _ in range(warmup):
            status, body, buf = exchange(sock, req, buf)
        subprocess.run(["callgrind_control", "-z", str(p.pid)], check=True, capture_output=True)
        for _ in range(n):
            _, _, buf = exchange(sock, req, buf)
        subprocess.run(["callgrind_control", "-d", "measured", str(p.pid)], check=True, capture_output=True)
        sock.close()
    finally:
        p.terminate()
        p.wait()
    total = 0
    dumps = []
    for d in glob.glob(out + ".*"):
        with open(d) as f:
            text = f.read()
        if "Trigger: dump measured" in text[:4000]:
            dumps.append(d)
            total += next(int(l.split()[1]) for l in text.splitlines() if l.startswith("summary:"))
    if annotate:
        for d in dumps:
            top = subprocess.run(["callgrind_annotate", "--inclusive=yes", "--threshold=100", "--auto=no", d],
                                 capture_output=True, text=True).stdout.splitlines()
            print("\n".join(l[:160] for l in top if "vendor_mock" in l or "serde" in l or "sha2" in l)[:6000])
    return status, body, total / n


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--annotate", action="store_true")
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install valgrind)")
    for binary in (MOCK, BARE):
        if not os.path.exists(binary):
            sys.exit(f"{binary} is missing: cargo build --release --bin vendor-mock --example bare_hyper")
    tmp = tempfile.mkdtemp()
    print("| case | vendor-mock instructions/request | bare hyper | difference |")
    print("| --- | --- | --- | --- |")
    for case, token in [("insights", "test-token"), ("401", "wrong-token")]:
        port = free_port()
        mock_cmd = [MOCK, "serve", "--listen", f"127.0.0.1:{port}", "--frozen-clock", "2026-01-15T10:00:00Z",
                    "--scenarios", os.path.join(ROOT, "bench", "scenarios"),
                    # Full before the measured requests, as on a server that has run a while.
                    "--journal-limit", str(max(1, args.warmup // 2))]
        status, body, mock = measure(mock_cmd, port, request(token), args.warmup, args.requests,
                                     os.path.join(tmp, f"mock-{case}.out"), args.annotate)
        body_file = os.path.join(tmp, f"{case}.body")
        with open(body_file, "wb") as f:
            f.write(body)
        port = free_port()
        bare_cmd = [BARE, f"127.0.0.1:{port}", str(status), "application/json", body_file]
        _, _, bare = measure(bare_cmd, port, request(token), args.warmup, args.requests,
                             os.path.join(tmp, f"bare-{case}.out"), False)
        print(f"| {case} ({status}, {len(body)} B) | {mock:,.0f} | {bare:,.0f} | +{mock - bare:,.0f} |")
    shutil.rmtree(tmp)


if __name__ == "__main__":
    main()
