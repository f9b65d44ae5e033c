"""One vendor-mock for the whole pytest run, a sandbox of it for every test.

This is the part of a test suite that makes it safe to run in parallel
(`pytest -n 4` with pytest-xdist): every test gets its own sandbox, `/~NAME/`, with its
own mock clock, entity state, vendor tokens, journal and admin API, so a test that
moves its clock past a token's lifetime or resets its state never disturbs another.

Where the server comes from, in order:
  - `VENDOR_MOCK_URL` (e.g. a docker-compose sidecar): used as it is;
  - otherwise pytest starts `vendor-mock serve --listen 127.0.0.1:0` once, in the
    controller process, reads the address it printed (`listening on http://ADDR`) and
    hands it to every xdist worker. The binary is `VENDOR_MOCK_BIN`, else `vendor-mock`
    on the PATH.

At the end the controller prints the coverage table (`vendor-mock coverage`): which
outcomes, scenarios and documented error statuses the suite met, and which it never did.
"""
import hashlib
import os
import re
import shutil
import subprocess
import urllib.parse

import pytest
import requests

FROZEN = "2026-01-15T10:00:00Z"


def _binary():
    return os.environ.get("VENDOR_MOCK_BIN") or shutil.which("vendor-mock") or "vendor-mock"


def _start_server(config):
    proc = subprocess.Popen(
        [_binary(), "serve", "--listen", "127.0.0.1:0", "--frozen-clock", FROZEN, "--seed", "7"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=dict(os.environ, RUST_LOG="warn"),
    )
    line = proc.stdout.readline()
    match = re.match(r"listening on (http://\S+)", line)
    if not match:
        proc.kill()
        raise pytest.UsageError(f"vendor-mock did not say where it listens: {line!r}")
    config._vendor_mock = proc
    return match.group(1)


def pytest_configure(config):
    worker = getattr(config, "workerinput", None)
    if worker is not None:
        config.mock_url = worker["mock_url"]  # an xdist worker: the controller's server
    elif os.environ.get("VENDOR_MOCK_URL"):
        config.mock_url = os.environ["VENDOR_MOCK_URL"].rstrip("/")
    else:
        config.mock_url = _start_server(config)


def pytest_configure_node(node):
    """xdist: every worker uses the one server the controller knows."""
    node.workerinput["mock_url"] = node.config.mock_url


def pytest_unconfigure(config):
    proc = getattr(config, "_vendor_mock", None)
    if proc is not None:
        proc.terminate()
        proc.wait(timeout=10)


def pytest_terminal_summary(terminalreporter, config):
    if hasattr(config, "workerinput"):
        return
    out = subprocess.run(
        [_binary(), "coverage", "--url", config.mock_url],
        capture_output=True,
        text=True,
    )
    terminalreporter.section("vendor-mock coverage")
    terminalreporter.write(out.stdout or out.stderr)


class Sandbox:
    """One test's own vendor-mock: `url(path)` for the vendors, `admin(...)` for its admin API."""

    def __init__(self, server, name):
        self.server = server
        self.name = name
        self.base = f"{server}/~{name}"
        self.http = requests.Session()

    def url(self, path):
        return self.base + path

    def admin(self, method, path, **kwargs):
        r = self.http.request(method, f"{self.base}/__admin{path}", **kwargs)
        r.raise_for_status()
        return r.json()

    def advance(self, seconds):
        return self.admin("POST", "/clock/advance", json={"seconds": seconds})["now"]

    def reset(self):
        return self.admin("POST", "/reset")

    def count(self, **filters):
        return self.admin("GET", "/requests/count", params=filters)["count"]


def _sandbox_name(nodeid):
    """A valid sandbox name (1-64 of A-Z a-z 0-9 _ . -), unique per test."""
    readable = re.sub(r"[^A-Za-z0-9_.-]", "-", nodeid.split("::", 1)[-1])
    return f"{readable[:48]}-{hashlib.sha1(nodeid.encode()).hexdigest()[:10]}"


@pytest.fixture
def sandbox(request):
    server = request.config.mock_url
    box = Sandbox(server, _sandbox_name(request.node.nodeid))
    yield box
    # Drop it: its state is gone, what it covered stays in the server's coverage.
    requests.delete(f"{server}/__admin/sandboxes/{urllib.parse.quote(box.name)}").raise_for_status()
