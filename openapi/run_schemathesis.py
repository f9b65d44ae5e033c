"""Run schemathesis on every vendor's OpenAPI document, each against a freshly started mock.

    .ci/venv/bin/python openapi/run_schemathesis.py [--max-examples N] [--seed N] [VENDOR ...]

The commands are the ones openapi/README.md documents, read from it: under each vendor's
`## ` heading, the first `sh` block holds the mock's `serve` line and then the
schemathesis command. For each vendor the driver:

1. starts the mock binary (`VENDOR_MOCK_BIN`, else the newer of target/release and
   target/debug `vendor-mock`, which `cargo test` builds) with that `serve` line's
   arguments, on a free port (`--listen 127.0.0.1:0`, read back from its `listening on`
   line);
2. runs the schemathesis command as written (its environment assignments, such as
   `SCHEMATHESIS_HOOKS`, included), with `--url` moved to that port, `--max-examples` and
   `--seed` set to this run's (fixed, so a CI run is reproducible), and one worker;
3. stops the mock, and prints one line: the vendor, passed or FAILED, the test cases
   schemathesis counted and the seconds it took. A failed run's full output follows.

Every run's output is also written to target/schemathesis/<vendor>.log. Exits 1 if any
vendor failed (a failing check, an error, a mock that did not start), else 0.
"""

import argparse
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
README = os.path.join(HERE, "README.md")
LOGS = os.path.join(ROOT, "target", "schemathesis")
# Where the mock's README commands listen; any address in them is replaced.
LISTEN = re.compile(r"^https?://127\.0\.0\.1:\d+")
# How long the mock may take to print its `listening on` line.
START_TIMEOUT = 30
# How long one vendor's schemathesis run may take before it is killed and fails: far above
# what the CI bounds need (the slowest vendor takes a few minutes on a loaded debug build).
RUN_TIMEOUT = 900


def commands():
    """{vendor: (serve arguments, env, schemathesis argv)} from openapi/README.md, in order."""
    text = open(README, encoding="utf-8").read()
    out = {}
    for section in re.split(r"^## ", text, flags=re.M)[1:]:
        block = re.search(r"```sh\n(.*?)```", section, flags=re.S)
        if block is None:
            continue
        lines = block.group(1).replace("\\\n", " ").splitlines()
        serve = next((l for l in lines if re.search(r"\bserve\b", l)), None)
        run = next((l for l in lines if re.search(r"schemathesis\b.*\brun\b", l)), None)
        if serve is None or run is None:
            continue
        serve_args = shlex.split(serve.rstrip().removesuffix("&"))
        serve_args = serve_args[serve_args.index("serve") + 1 :]
        words = shlex.split(run)
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            k, _, v = words.pop(0).partition("=")
            env[k] = v
        url = words[words.index("--url") + 1]
        vendor = url.rstrip("/").rsplit("/", 1)[1]
        out[vendor] = (serve_args, env, words)
    return out


def mock_binary():
    if os.environ.get("VENDOR_MOCK_BIN"):
        return os.environ["VENDOR_MOCK_BIN"]
    found = [
        os.path.join(ROOT, "target", kind, "vendor-mock")
        for kind in ("release", "debug")
        if os.path.exists(os.path.join(ROOT, "target", kind, "vendor-mock"))
    ]
    if not found:
        sys.exit("run_schemathesis: no target/debug/vendor-mock: run `cargo build` (or `cargo test`) first")
    # The newer one: a release binary left from an older build must not stand in for the code.
    return max(found, key=os.path.getmtime)


def with_option(argv, name, value):
    """`argv` with `name value` set (replaced where present, else appended)."""
    argv = list(argv)
    if name in argv:
        argv[argv.index(name) + 1] = value
    else:
        argv += [name, value]
    return argv


def start_mock(binary, serve_args):
    args = list(serve_args)
    args = with_option(args, "--listen", "127.0.0.1:0")
    proc = subprocess.Popen(
        [binary, "serve", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    found = {}

    def read():
        for line in proc.stdout:
            m = re.match(r"listening on (http://\S+)", line)
            if m and "url" not in found:
                found["url"] = m.group(1)
        # Keep draining so the mock never blocks on a full pipe.

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + START_TIMEOUT
    while "url" not in found:
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_mock(proc)
            return None, None
        time.sleep(0.05)
    return proc, found["url"]


def stop_mock(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summary(output):
    """`N test cases` from schemathesis's closing lines, where it prints them."""
    m = re.findall(r"Test cases:\s*\n?\s*(\d[\d,]*) generated", output)
    if m:
        return f"{m[-1]} test cases"
    m = re.findall(r"(\d[\d,]*) test cases", output)
    return f"{m[-1]} test cases" if m else "test cases not reported"


def run(vendor, serve_args, env, argv, binary, max_examples, seed):
    started = time.monotonic()
    proc, base = start_mock(binary, serve_args)
    if proc is None:
        return False, f"{vendor}: FAILED: the mock did not start ({binary} serve {' '.join(serve_args)})", ""
    try:
        url_at = argv.index("--url") + 1
        argv = list(argv)
        argv[url_at] = LISTEN.sub(base, argv[url_at])
        argv[0] = os.path.join(os.path.dirname(sys.executable), "schemathesis")
        argv = with_option(argv, "--max-examples", str(max_examples))
        argv = with_option(argv, "--seed", str(seed))
        argv = with_option(argv, "--workers", "1")
        # No examples remembered from earlier runs (hypothesis's database would replay
        # them), so a run depends on the seed alone.
        argv = with_option(argv, "--generation-database", "none")
        argv.append("--no-color")
        full_env = {**os.environ, **env, "NO_COLOR": "1"}
        try:
            done = subprocess.run(
                argv,
                cwd=ROOT,
                env=full_env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                timeout=RUN_TIMEOUT,
            )
            output, ok = done.stdout, done.returncode == 0
        except subprocess.TimeoutExpired as e:
            output = (e.stdout or b"").decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
            output += f"\nrun_schemathesis: killed after {RUN_TIMEOUT} s\n"
            ok = False
    finally:
        stop_mock(proc)
    seconds = time.monotonic() - started
    os.makedirs(LOGS, exist_ok=True)
    with open(os.path.join(LOGS, f"{vendor}.log"), "w", encoding="utf-8") as f:
        f.write(" ".join(shlex.quote(a) for a in argv) + "\n\n" + output)
    verdict = "passed" if ok else "FAILED"
    line = f"{vendor}: {verdict}: {summary(output)}, --max-examples {max_examples} --seed {seed}, {seconds:.0f} s"
    return ok, line, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("VENDOR_MOCK_SCHEMATHESIS_EXAMPLES", "10")))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("vendors", nargs="*", help="only these vendors (default: every one the README documents)")
    args = parser.parse_args()
    table = commands()
    unknown = [v for v in args.vendors if v not in table]
    if unknown:
        sys.exit(f"run_schemathesis: no command for {', '.join(unknown)} in {README}; there are {', '.join(table)}")
    binary = mock_binary()
    results = []
    for vendor in args.vendors or list(table):
        serve_args, env, argv = table[vendor]
        ok, line, output = run(vendor, serve_args, env, argv, binary, args.max_examples, args.seed)
        print(line, flush=True)
        if not ok:
            print(output, flush=True)
        results.append(ok)
    failed = len(results) - sum(results)
    # Not in the form "N passed, N failed": CI reads that as the test runner's count.
    print(f"schemathesis: {'every vendor passed' if not failed else f'{failed} vendor(s) FAILED'} ({len(results)} run)", flush=True)
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
