#!/usr/bin/env python3
"""Regenerate the profile the release build is optimized with (profile-guided optimization).

`pgo/rustc-wrapper` (cargo's rustc wrapper, `.cargo/config.toml`) compiles every optimized
build of x86_64 Linux, dependencies included, with `-Cprofile-use=pgo/vendor-mock.llvmN.profdata`
when this rustc's LLVM major version is N. This script writes that file:

  1. builds an instrumented release binary (`-Cprofile-generate`) into target/pgo-generate;
  2. starts it (frozen clock, bench/scenarios so no rate limit applies) and trains it:
     every bench/endpoints.py endpoint, at the root and in a sandbox, under wrk
     (--seconds each, 16 connections), then bench/soak.py's mix of every vendor with a new
     entity per request (--soak seconds) so entity creation and the stores' growth are in
     the profile too; then stops it with SIGTERM (a clean exit writes the counts);
  3. merges the counts with the toolchain's own llvm-profdata (`rustup component add
     llvm-tools`, done here if missing) into pgo/vendor-mock.llvmN.profdata (sparse: only
     the functions that ran), removing the profiles of other LLVM versions.

Only the code's layout and inlining change; no answer does. A profile goes stale as the
code changes (changed functions lose their counts, the rest keep them), like the start-up
lists of bench/startup_order.py: rerun both before a release or a benchmark. After it,
`cargo build --release` rebuilds everything with the new profile.

    python3 bench/pgo.py [--seconds 2] [--soak 20]

Needs wrk, like bench/run.py. The instrumented build has its own target directory, kept:
the first run compiles every dependency once more (about 6 minutes on two cores), a rerun
only this crate.
"""
import argparse
import glob
import hashlib
import multiprocessing
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import endpoints as ep  # noqa: E402
import run  # noqa: E402
import soak  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET_DIR = os.path.join(ROOT, "target", "pgo-generate")
PGO_DIR = os.path.join(ROOT, "pgo")


def rustc_facts():
    """(LLVM major version, host triple, sysroot) of the rustc cargo will use here."""
    out = subprocess.run(["rustc", "-vV"], cwd=ROOT, check=True, capture_output=True, text=True).stdout
    llvm = re.search(r"^LLVM version: (\d+)", out, re.M)
    host = re.search(r"^host: (\S+)", out, re.M)
    if not llvm or not host:
        sys.exit(f"cannot read the LLVM version and host from `rustc -vV`:\n{out}")
    sysroot = subprocess.run(["rustc", "--print", "sysroot"], cwd=ROOT, check=True,
                             capture_output=True, text=True).stdout.strip()
    return llvm.group(1), host.group(1), sysroot


def llvm_profdata(host, sysroot):
    """The llvm-profdata shipped with this toolchain (its LLVM reads what it writes)."""
    path = os.path.join(sysroot, "lib", "rustlib", host, "bin", "llvm-profdata")
    if not os.path.exists(path):
        print("pgo: installing the toolchain's llvm-tools (rustup component add llvm-tools)", flush=True)
        subprocess.run(["rustup", "component", "add", "llvm-tools"], cwd=ROOT, check=False)
    if not os.path.exists(path):
        sys.exit(f"{path} is missing: `rustup component add llvm-tools` installs it")
    return path


def train(binary, raw_dir, seconds, soak_seconds):
    """Run the instrumented binary through the workload; its counts land in raw_dir."""
    run.MOCK = binary
    port = run.free_port()
    proc, _ = run.start_mock(port, {"LLVM_PROFILE_FILE": os.path.join(raw_dir, "server-%p.profraw")})
    tmp = tempfile.mkdtemp()
    try:
        for name in ep.ENDPOINTS:
            for prefix in ("", run.SANDBOX):
                call, status, _, _ = ep.setup(port, name, prefix)
                files = run.wrk_files(call, os.path.join(tmp, "call"))
                r = run.wrk(f"http://127.0.0.1:{port}{call.path}", seconds, 16, files)
                run.check_statuses(name, r, status)
                if not r["requests"]:
                    sys.exit(f"pgo: {name}: wrk completed no request; the profile would miss it")
                print(f"pgo: {name:24} {prefix or 'root':8} {r['rps']:8.0f} req/s", flush=True)
        if soak_seconds > 0:
            deadline = time.time() + soak_seconds
            done = multiprocessing.Value("q", 0)
            bad = multiprocessing.Value("q", 0)
            per_vendor = multiprocessing.Array("q", len(soak.VENDORS))
            workers = [multiprocessing.Process(target=soak.worker, args=(port, i, deadline, done, bad, per_vendor))
                       for i in range(2)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            print(f"pgo: soak mix: {done.value} requests, {bad.value} with another status", flush=True)
            if bad.value or not done.value or any(w.exitcode != 0 for w in workers):
                sys.exit("pgo: the soak mix failed (a worker's set-up, or unexpected statuses); "
                         "the profile would not be representative")
        proc.send_signal(signal.SIGTERM)
        if proc.wait(timeout=30) != 0:
            sys.exit(f"pgo: the instrumented server exited with {proc.returncode}")
    finally:
        if proc.poll() is None:
            proc.kill()
        shutil.rmtree(tmp, ignore_errors=True)


def name_profile(profile):
    """Write the profile's digest into .cargo/config.toml's rustflags: cargo rebuilds every
    crate when its flags change, and nothing else tells it the profile did."""
    with open(profile, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:12]
    config = os.path.join(ROOT, ".cargo", "config.toml")
    with open(config) as f:
        text = f.read()
    new, n = re.subn(r'vendor_mock_pgo=\\"[0-9a-f]*\\"', f'vendor_mock_pgo=\\\\"{digest}\\\\"', text)
    if n != 1:
        sys.exit(f"pgo: {config} has no `vendor_mock_pgo=\\\"…\\\"` rustflag to update")
    with open(config, "w") as f:
        f.write(new)


def check_dockerfile(llvm):
    """Warn when the Dockerfile's Rust is not the one that wrote the profile: the wrapper
    would then build the image without it."""
    version = subprocess.run(["rustc", "--version"], cwd=ROOT, capture_output=True, text=True).stdout
    m = re.match(r"rustc (\d+)\.(\d+)", version)
    with open(os.path.join(ROOT, "Dockerfile")) as f:
        tag = re.search(r"^FROM rust:(\S+)", f.read(), re.M)
    if m and tag and not tag.group(1).startswith(f"{m.group(1)}.{m.group(2)}-"):
        print(f"pgo: WARNING: the Dockerfile builds with rust:{tag.group(1)}, this profile is for "
              f"rustc {m.group(1)}.{m.group(2)} (LLVM {llvm}): the image would be built without it",
              flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=2, help="wrk seconds per endpoint and place (root, sandbox)")
    ap.add_argument("--soak", type=int, default=20, help="seconds of bench/soak.py's mix (0: none)")
    args = ap.parse_args()
    if not 1 <= args.seconds <= 60 or not 0 <= args.soak <= 600:
        sys.exit("--seconds: 1..60, --soak: 0..600")
    if shutil.which("wrk") is None:
        sys.exit("wrk is missing (apt-get install wrk)")
    llvm, host, sysroot = rustc_facts()
    if host != "x86_64-unknown-linux-gnu":
        sys.exit(f"pgo/rustc-wrapper applies the profile on x86_64-unknown-linux-gnu only; this host is {host}")
    profdata = llvm_profdata(host, sysroot)

    # A fixed directory: the flag is part of what cargo fingerprints, so a rerun only
    # rebuilds what changed.
    raw_dir = os.path.join(TARGET_DIR, "profraw")
    shutil.rmtree(raw_dir, ignore_errors=True)
    os.makedirs(raw_dir)
    try:
        print("pgo: building the instrumented binary (target/pgo-generate)", flush=True)
        # RUSTFLAGS replaces the configured flags (a RUSTFLAGS of your own too: the profile is
        # written for the configured build); the wrapper passes -Cprofile-generate through.
        build_env = dict(os.environ, RUSTFLAGS=f"-Cprofile-generate={raw_dir}")
        subprocess.run(["cargo", "build", "--release", "--bin", "vendor-mock", "--target-dir", TARGET_DIR],
                       cwd=ROOT, env=build_env, check=True)
        # Build scripts and proc macros ran instrumented too: only the server's counts are kept.
        for f in glob.glob(os.path.join(raw_dir, "*.profraw")):
            os.remove(f)
        train(os.path.join(TARGET_DIR, "release", "vendor-mock"), raw_dir, args.seconds, args.soak)
        raws = glob.glob(os.path.join(raw_dir, "server-*.profraw"))
        if not raws:
            sys.exit("pgo: the instrumented server wrote no profile")
        # Merged beside the run's counts first: pgo/ and the config's digest change together
        # at the end, or not at all (a half-written profile under the old digest would
        # leave the dependencies built without it, silently).
        merged = os.path.join(raw_dir, "merged.profdata")
        subprocess.run([profdata, "merge", "--sparse", "-o", merged, *raws], check=True)
        out = os.path.join(PGO_DIR, f"vendor-mock.llvm{llvm}.profdata")
        name_profile(merged)
        os.replace(merged, out)
        for old in glob.glob(os.path.join(PGO_DIR, "vendor-mock.llvm*.profdata")):
            if old != out:
                os.remove(old)
        print(f"pgo: wrote {os.path.relpath(out, ROOT)} ({os.path.getsize(out) // 1024} KiB); "
              "`cargo build --release` now rebuilds every crate with it. Then regenerate the "
              "start-up lists (bench/startup_order.py) and build once more.", flush=True)
        check_dockerfile(llvm)
    finally:
        shutil.rmtree(raw_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
