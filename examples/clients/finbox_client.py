#!/usr/bin/env python3
"""A FinBox DeviceConnect Insights client written from FinBox's documentation alone, run
against vendor-mock. Standard library only.

It computes the salt with the doc's Python sample, polls `in_progress` every 10 seconds for at
most 120 seconds (the integration-flow page), retries 5xx and 429 twice with the documented
backoff (2 s, then 5 s), and, with a webhook port, receives the webhook and then fetches the
pre-computed result with `?source=webhook&request_id=`. Usage:

    python3 examples/clients/finbox_client.py BASE_URL [--webhook-port N] [--mock-clock ADMIN_URL]

BASE_URL is the only thing that differs from production: `http://127.0.0.1:8080/finbox/v2/`
instead of `https://insights.finbox.in/v2/`. With `--mock-clock`, waiting advances vendor-mock's
clock (`POST ADMIN_URL/__admin/clock/advance`) instead of sleeping, so a frozen-clock server runs
the whole flow in well under a second. It prints one line per documented case and exits
non-zero if any case misbehaves.
"""
import base64
import hashlib
import http.server
import json
import queue
import sys
import threading
import time
import urllib.error
import urllib.request

SERVER_API_KEY = "test-finbox-key"
SERVER_HASH = "test-finbox-hash"
DC_PREDICTORS_VERSION = 1


def create_salt(customer_id, server_hash):
    """The doc's salt: upper-case hex MD5 of the customer id, then SERVER_HASH, then
    SHA-256 (the digest, not the hexdigest), then base64."""
    customer_hash = hashlib.md5(customer_id.encode('utf-8')).hexdigest().upper()
    intermediate_hash = customer_hash + server_hash
    salt_encoded = hashlib.sha256(intermediate_hash.encode('utf-8')).digest()
    salt = base64.b64encode(salt_encoded).decode()
    return salt


class Client:
    def __init__(self, base_url, mock_clock=None):
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.mock_clock = mock_clock

    def wait(self, seconds):
        if self.mock_clock:
            req = urllib.request.Request(
                self.mock_clock + "/__admin/clock/advance",
                data=json.dumps({"seconds": seconds}).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            urllib.request.urlopen(req).read()
        else:
            time.sleep(seconds)

    def post(self, path, customer_id, query=""):
        body = {
            "customer_id": customer_id,
            "version": DC_PREDICTORS_VERSION,
            "salt": create_salt(customer_id, SERVER_HASH),
        }
        req = urllib.request.Request(
            self.base_url + path + query,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "x-api-key": SERVER_API_KEY},
            method="POST",
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def predictors(self, customer_id):
        """Poll until a final status: every 10 s while in progress (120 s at most);
        5xx and 429 retried twice, after 2 s and then 5 s."""
        waited = 0
        retries = [2, 5]
        while True:
            status, body = self.post("risk/predictors", customer_id)
            if status == 202 and body["status"] == "in_progress":
                if waited >= 120:
                    raise RuntimeError("still in progress after 120 s")
                self.wait(10)
                waited += 10
                continue
            if status == 429 or status >= 500:
                if not retries:
                    raise RuntimeError(f"{status}: {body['message']}")
                self.wait(retries.pop(0))
                continue
            return status, body


class WebhookReceiver(http.server.BaseHTTPRequestHandler):
    received = queue.Queue()

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        WebhookReceiver.received.put(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    args = sys.argv[1:]
    base = args[0] if args else "http://127.0.0.1:8080/finbox/v2/"
    opt = lambda name: args[args.index(name) + 1] if name in args else None
    client = Client(base, opt("--mock-clock"))
    failures = 0

    def case(name, ok):
        nonlocal failures
        print(("ok      " if ok else "FAILED  ") + name)
        failures += 0 if ok else 1

    status, body = client.predictors("1234ABCD4567")
    case("complete with predictors", status == 200 and body["status"] == "complete"
         and all({"name", "value"} <= set(p) for p in body["data"]))
    case("dates have a colon before the milliseconds",
         body["date_processed"][19] == ":" and len(body["date_processed"]) == 23)
    case("request_id fits 32 characters", len(body["request_id"]) <= 32)
    for prefix in ["pending-", "callback-", "flaky-", "ratelimited-"]:
        status, body = client.predictors(prefix + "doc")
        case(f"{prefix} ends complete", status == 200 and body["status"] == "complete")
    status, body = client.predictors("notfound-doc")
    case("not_found", status == 200 and body["status"] == "not_found" and body["data"] is None)
    status, body = client.predictors("nodata-doc")
    case("no_data", status == 200 and body["status"] == "no_data" and body["data"] is None)

    port = opt("--webhook-port")
    if port:
        server = http.server.HTTPServer(("127.0.0.1", int(port)), WebhookReceiver)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        status, body = client.post("risk/predictors", "callback-hook")
        case("in_progress registers a webhook", status == 202)
        request_id = body["request_id"]
        query = f"?source=webhook&request_id={request_id}"
        _, early = client.post("risk/predictors", "callback-hook", query)
        case("webhook_not_found before the webhook", early["status"] == "webhook_not_found")
        client.wait(10)
        # Webhooks of the earlier in-progress requests may arrive too (their first
        # attempts found no receiver and are retried): match by request_id.
        hook = WebhookReceiver.received.get(timeout=30)
        while hook["request_id"] != request_id:
            hook = WebhookReceiver.received.get(timeout=30)
        case("the webhook carries the final response", hook["request_id"] == request_id
             and hook["status"] == "complete")
        status, fetched = client.post("risk/predictors", "callback-hook", query)
        case("source=webhook returns the pre-computed result", status == 200 and fetched == hook)
        server.shutdown()

    if failures:
        sys.exit(1)
    print("all documented cases behave")


if __name__ == "__main__":
    main()
