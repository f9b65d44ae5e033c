#!/usr/bin/env python3
"""Write link/startup.ld and link/startup.order: the functions the binary runs from exec to
an idle server.

build.rs hands both to a release link where the linker takes them (lld: it asks by linking
a trivial program), which places those functions first in .text,
side by side, so the pages of text an idle server keeps resident are few (the kernel maps
64 KiB around every page fault: scattered start-up code makes most of the text resident).
This runs the release binary under callgrind as bench/run.py starts it (bench/scenarios,
frozen clock), waits for its first answer to GET /__admin/health, lets it idle for a
second, and lists every function of the binary that ran.

Mangled names carry hashes that change with the compiler version, the versions of the
dependencies and the code itself (generic instances' hashes, and the `.2337` suffixes LTO
gives the local symbols it renames: 498 of 981 exact names went stale after session 7's
code-only merges), so there are two lists:
  link/startup.ld     a linker script that only adds to the default layout (INSERT), by
                      section name (`.text.` + mangled name), with the hashes as wildcards
                      (`17h*E` for the legacy scheme's, `Cs*_` for a crate's in the v0
                      scheme) wherever that matches no other function of the binary; where
                      it would also take in other instances of a generic function that do
                      not run at start-up, the exact name, and the pattern after all the
                      rest (see `entries`). Most of it survives a code, toolchain or dependency change.
  link/startup.order  the exact names, for --symbol-ordering-file: it also finds what the
                      script does not name by section (jemalloc's constructor, in
                      `.text.startup.*`), placed after the script's part.
Both sorted, so a rerun gives a small diff.

When to rerun: after any change to src/, before a release or a benchmark (the exact names
go stale: the generic instances are then laid out among their siblings, ~0.7 MB more
resident; meanwhile the script's wildcards keep most of the saving), and after a toolchain
or dependency update. Check with bench/idle.py (`--layout-only`: nm alone, as .ci/run
prints it), which says how much of both lists the binary matches.

    cargo build --release --bin vendor-mock
    python3 bench/startup_order.py [--binary target/release/vendor-mock]
    cargo build --release --bin vendor-mock && python3 bench/idle.py

Needs valgrind (Debian package). Bounded: one server on 127.0.0.1, killed at the end.
"""
import argparse
import collections
import glob
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run  # noqa: E402

SCRIPT = os.path.join(run.ROOT, "link", "startup.ld")
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
        # On a busy machine callgrind_control can return before the dump is written: wait
        # for the file's closing `totals:` line (the functions of the shutdown that follows
        # must not be counted, so no dump at exit is used).
        while not any("\ntotals:" in open(d, errors="replace").read() for d in glob.glob(out + ".*")):
            if time.time() > deadline + 120:
                raise RuntimeError("callgrind wrote no complete profile")
            time.sleep(0.2)
    finally:
        p.kill()
        p.wait()
    names = set()
    real = os.path.realpath(binary)
    for path in glob.glob(out + ".*"):
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


def pattern(name):
    """The name with its hashes as wildcards (see the module doc)."""
    return re.sub(r"Cs[0-9A-Za-z]+_", "Cs*_", re.sub(r"17h[0-9a-f]{16}E", "17h*E", name))


def entries(ran_names, all_names):
    """Section name patterns, in the order to write them: first one per function that ran
    (hash-free where that takes in no other function, else the exact name), then the
    hash-free patterns of the generic functions written by exact name. A section goes to
    the first pattern it matches: with the names current, the instances that do not run
    come after all that do; with the exact names stale, the instances that run still
    land in .text's first part, among their siblings."""
    by_pattern = collections.defaultdict(set)
    for n in all_names:
        by_pattern[pattern(n)].add(n)
    first, then = set(), set()
    for n in ran_names:
        p = pattern(n)
        if by_pattern[p] <= ran_names:
            first.add(p)
        else:
            first.add(n)
            then.add(p)
    return sorted(first) + sorted(then)


def script(names):
    lines = [
        "/* Written by bench/startup_order.py: the functions that run from exec to an idle server,",
        "   placed first in .text (build.rs passes this to lld). Regenerate, do not edit. */",
        "SECTIONS {",
        "  .text : {",
    ]
    lines += [f"    *(.text.{n} .text.unlikely.{n})" for n in names]
    lines += ["  }", "} INSERT BEFORE .init;", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=run.MOCK)
    args = ap.parse_args()
    for tool in ("valgrind", "callgrind_control", "nm"):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed")
    all_names = defined(args.binary)
    ran_names = ran(args.binary) & all_names
    names = entries(ran_names, all_names)
    os.makedirs(os.path.dirname(SCRIPT), exist_ok=True)
    with open(SCRIPT, "w") as f:
        f.write(script(names))
    with open(ORDER, "w") as f:
        f.write("# Written by bench/startup_order.py: the functions that run from exec to an idle server,\n"
                "# by exact name, for lld's --symbol-ordering-file (build.rs). Regenerate, do not edit.\n")
        f.write("".join(n + "\n" for n in sorted(ran_names)))
    exact = sum(1 for n in names if pattern(n) != n)
    print(f"{len(ran_names)} functions ran, written to link/startup.order and to link/startup.ld as {len(names)} "
          f"entries ({exact} exact names of generic instances, then their patterns)")


if __name__ == "__main__":
    main()
