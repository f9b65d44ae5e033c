"""Run schemathesis on every vendor's OpenAPI document, each against a freshly started mock.

    .ci/venv/bin/python openapi/run_schemathesis.py [--max-examples N] [--seed N] [VENDOR ...]
    .ci/venv/bin/python openapi/run_schemathesis.py --check        # the README's commands only

The commands are the ones openapi/README.md documents, read from it: under each vendor's
`## ` heading, the first `sh` block holds the mock's `serve` line and then the
schemathesis command. First the driver compares the vendors that have a command with the
vendors the mock serves a document for (its `GET /__admin/openapi`), and exits 1 on a
difference: a README section that lost its block must not quietly drop a vendor from CI.
It also exits 1 when a command does not load its vendor's hooks
(`SCHEMATHESIS_HOOKS=openapi/hooks/<vendor>.py`, with the `filter_failure` that excuses the
`flaky` scenario's 5xx and no other), or names a configuration that lets
`not_a_server_error` accept statuses (`expected-statuses`). (`--check` stops there.)
Then, for each vendor, it:

1. starts the mock binary (`VENDOR_MOCK_BIN`, else the newer of target/release and
   target/debug `vendor-mock`, which `cargo test` builds) with that `serve` line's
   arguments, on a free port (`--listen 127.0.0.1:0`, read back from its `listening on`
   line);
2. runs the schemathesis command as written (its environment assignments, such as
   `SCHEMATHESIS_HOOKS`, included), with `--url` moved to that port, `--max-examples` and
   `--seed` set to this run's (fixed, so a CI run is reproducible), one worker, and
   `--suppress-health-check too_slow` (a loaded CI machine must not fail a run for the
   time hypothesis takes to generate data);
3. stops the mock, and prints one line: the vendor, passed or FAILED, the test cases
   schemathesis counted and the seconds it took. A failed run's full output follows, and
   the last lines the mock logged.

Every run's output is written to target/schemathesis/<vendor>.log, and the mock's own log
(its standard error: one line per request) to target/schemathesis/<vendor>.mock.log
(`VENDOR_MOCK_SCHEMATHESIS_LOGS` names another folder). Exits 1 if any vendor failed (a
failing check, an error, a mock that did not start, a run that generated no test case),
else 0.
"""

import argparse
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
import tomllib
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
README = os.path.join(HERE, "README.md")
LOGS = os.environ.get("VENDOR_MOCK_SCHEMATHESIS_LOGS") or os.path.join(ROOT, "target", "schemathesis")
# Where the mock's README commands listen; any address in them is replaced.
LISTEN = re.compile(r"^https?://127\.0\.0\.1:\d+")
# How long the mock may take to print its `listening on` line.
START_TIMEOUT = 30
# How long one vendor's schemathesis run may take before it is killed and fails: far above
# what the CI bounds need (the slowest vendor takes a few minutes on a loaded debug build).
RUN_TIMEOUT = 900
# How many of the mock's last log lines a failed run prints.
MOCK_LOG_TAIL = 40


def commands(readme=README):
    """{vendor: (serve arguments, env, schemathesis argv)} from openapi/README.md, in order."""
    text = open(readme, encoding="utf-8").read()
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


def start_mock(binary, serve_args, log):
    """(process, base URL) of a mock started with `serve_args` on a free port, its
    standard error written to the open file `log`; (None, None) when it did not start."""
    args = list(serve_args)
    args = with_option(args, "--listen", "127.0.0.1:0")
    proc = subprocess.Popen(
        [binary, "serve", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
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


def test_cases(output):
    """N of schemathesis's closing `Test cases: N generated, …` line; None without one."""
    m = re.findall(r"Test cases:\s*\n?\s*(\d[\d,]*) generated", output)
    return int(m[-1].replace(",", "")) if m else None


def tail(path, lines=MOCK_LOG_TAIL):
    """The last `lines` lines of the file at `path`, as text."""
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError as e:
        return f"(cannot read {path}: {e})\n"


def mock_vendors(binary):
    """The vendors the mock serves a document for (its `GET /__admin/openapi`)."""
    os.makedirs(LOGS, exist_ok=True)
    log_path = os.path.join(LOGS, "vendors.mock.log")
    with open(log_path, "w", encoding="utf-8") as log:
        proc, base = start_mock(binary, [], log)
        if proc is None:
            sys.exit(f"run_schemathesis: the mock did not start ({binary} serve); it logged:\n{tail(log_path)}")
        try:
            with urllib.request.urlopen(f"{base}/__admin/openapi", timeout=60) as r:
                listed = json.load(r)
        finally:
            stop_mock(proc)
    return [d["vendor"] for d in listed["documents"]]


def sets_expected_statuses(node):
    """Whether a schemathesis configuration lets `not_a_server_error` accept statuses."""
    if isinstance(node, dict):
        check = node.get("not_a_server_error")
        if isinstance(check, dict) and "expected-statuses" in check:
            return True
        return any(sets_expected_statuses(v) for v in node.values())
    if isinstance(node, list):
        return any(sets_expected_statuses(v) for v in node)
    return False


def problems(table, served, readme=README):
    """Why the README's commands are not fit for CI: the vendors they cover are not exactly
    the ones the mock serves, or a command does not load its vendor's hooks (whose
    `filter_failure` is the one place a 5xx is excused: a `flaky` scenario's), or its
    configuration accepts a 5xx status wholesale."""
    out = []
    missing = [v for v in served if v not in table]
    extra = [v for v in table if v not in served]
    if missing:
        out.append(
            f"no schemathesis command for {', '.join(missing)} in {readme}: under each vendor's "
            "`## ` heading the first `sh` block must hold the mock's `serve` line and the command"
        )
    if extra:
        out.append(f"commands for {', '.join(extra)}, which the mock serves no document for")
    for vendor, (_, env, argv) in table.items():
        hooks = f"openapi/hooks/{vendor}.py"
        path = os.path.join(ROOT, hooks)
        if env.get("SCHEMATHESIS_HOOKS") != hooks:
            out.append(f"{vendor}: the command loads no SCHEMATHESIS_HOOKS={hooks} (its filter_failure)")
        elif not os.path.isfile(path) or "def filter_failure(" not in open(path, encoding="utf-8").read():
            out.append(f"{vendor}: {hooks} defines no filter_failure hook")
        if "--config-file" in argv:
            config = os.path.join(ROOT, argv[argv.index("--config-file") + 1])
            with open(config, "rb") as f:
                if sets_expected_statuses(tomllib.load(f)):
                    out.append(
                        f"{vendor}: {config} sets `expected-statuses` for not_a_server_error: a 5xx "
                        "is excused only by filter_failure, for the `flaky` scenario's answers"
                    )
    return out


def run(vendor, serve_args, env, argv, binary, max_examples, seed):
    started = time.monotonic()
    os.makedirs(LOGS, exist_ok=True)
    mock_log_path = os.path.join(LOGS, f"{vendor}.mock.log")
    mock_log = open(mock_log_path, "w", encoding="utf-8")
    proc, base = start_mock(binary, serve_args, mock_log)
    if proc is None:
        mock_log.close()
        return (
            False,
            f"{vendor}: FAILED: the mock did not start ({binary} serve {' '.join(serve_args)})",
            f"The mock's log ({mock_log_path}) ends:\n{tail(mock_log_path)}",
        )
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
        # Hypothesis's "too slow" health check times data generation, which a loaded
        # machine slows down: a verdict about the machine, not the mock.
        argv = with_option(argv, "--suppress-health-check", "too_slow")
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
        mock_log.close()
    seconds = time.monotonic() - started
    with open(os.path.join(LOGS, f"{vendor}.log"), "w", encoding="utf-8") as f:
        f.write(" ".join(shlex.quote(a) for a in argv) + "\n\n" + output)
    cases = test_cases(output)
    if cases is None:
        ok, count = False, "test cases not reported (no `Test cases: N generated` line)"
    elif cases == 0:
        ok, count = False, "0 test cases generated"
    else:
        count = f"{cases} test cases"
    verdict = "passed" if ok else "FAILED"
    line = f"{vendor}: {verdict}: {count}, --max-examples {max_examples} --seed {seed}, {seconds:.0f} s"
    if not ok:
        output += f"\nThe mock's log ({mock_log_path}) ends:\n{tail(mock_log_path)}"
    return ok, line, output


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-examples", type=int, default=int(os.environ.get("VENDOR_MOCK_SCHEMATHESIS_EXAMPLES", "10")))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--readme", default=README, help="read the commands from this file (default: openapi/README.md)")
    parser.add_argument("--check", action="store_true", help="only compare the README's commands with the mock's vendors")
    parser.add_argument("vendors", nargs="*", help="only these vendors (default: every one the README documents)")
    args = parser.parse_args()
    table = commands(args.readme)
    binary = mock_binary()
    found = problems(table, mock_vendors(binary), args.readme)
    for p in found:
        print(f"run_schemathesis: {p}", flush=True)
    if found:
        return 1
    if args.check:
        print(f"run_schemathesis: a command for each of the {len(table)} vendors: {', '.join(table)}")
        return 0
    unknown = [v for v in args.vendors if v not in table]
    if unknown:
        sys.exit(f"run_schemathesis: no command for {', '.join(unknown)} in {args.readme}; there are {', '.join(table)}")
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
