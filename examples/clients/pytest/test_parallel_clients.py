"""A lender's test suite, run in parallel against one vendor-mock: every test in its own
sandbox (the `sandbox` fixture, conftest.py), moving its own clock and resetting at will.

    pytest -n 4 examples/clients/pytest

The small clients below stand for the lender's own integration code.
"""
import base64
import hashlib
import uuid

import pytest
from conftest import Sandbox

FINBOX_KEY = "test-finbox-key"
FINBOX_HASH = "test-finbox-hash"
CREDEAU_HEADERS = {"x-client-id": "test-client", "x-auth-token": "test-token"}


class Credolab:
    """Logs in, and logs in again when the API says the token expired."""

    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.token = None

    def login(self):
        r = self.sandbox.http.post(
            self.sandbox.url("/credolab/v6.0/account/login"),
            json={"userEmail": "test@example.com", "password": "test-password"},
        )
        r.raise_for_status()
        self.token = r.json()["access_token"]

    def insight(self, reference, renew=True):
        if self.token is None:
            self.login()
        r = self.sandbox.http.get(
            self.sandbox.url(f"/credolab/v6.0/datasets/{reference}/datasetinsight"),
            headers={"Authorization": f"Bearer {self.token}"},
        )
        if r.status_code == 401 and renew:
            self.login()
            return self.insight(reference, renew=False)
        return r


def credeau_job(sandbox, user_id, headers=None, polls=5):
    """Credeau's async insights: poll while 202, retry a 502 twice. Returns the answers."""
    answers = []
    for _ in range(polls):
        r = sandbox.http.post(
            sandbox.url("/credeau/api/async_insights"),
            headers={**CREDEAU_HEADERS, **(headers or {})},
            json={"user_id": user_id, "client_id": "test-client", "groupings": ["sms"]},
        )
        answers.append(r.status_code)
        if r.status_code == 202:
            sandbox.advance(10)  # the client waits 10 s between polls: on the mock clock
            continue
        if r.status_code in (502, 504) and answers.count(r.status_code) <= 2:
            continue
        break
    return answers


def finbox_salt(customer_id):
    customer_hash = hashlib.md5(customer_id.encode()).hexdigest().upper()
    return base64.b64encode(hashlib.sha256((customer_hash + FINBOX_HASH).encode()).digest()).decode()


def finbox_predictors(sandbox, customer_id, retries=3):
    """FinBox predictors, retrying a 429 as the doc says (backoff on the mock clock)."""
    statuses = []
    for attempt in range(retries):
        r = sandbox.http.post(
            sandbox.url("/finbox/v2/risk/predictors"),
            headers={"x-api-key": FINBOX_KEY},
            json={"customer_id": customer_id, "version": 1, "salt": finbox_salt(customer_id)},
        )
        statuses.append(r.status_code)
        if r.status_code != 429:
            return statuses, r
        sandbox.advance(2 if attempt == 0 else 5)
    return statuses, r


# Eight copies of the same test run at once under -n 4: each moves its own clock an hour
# forward and gets its own expired token, whatever the others are doing.
@pytest.mark.parametrize("copy", range(8))
def test_an_expired_credolab_token_is_renewed(sandbox, copy):
    client = Credolab(sandbox)
    assert client.insight("loan-42").status_code == 200
    first = client.token
    assert sandbox.advance(3700) == "2026-01-15T11:01:40Z"
    r = client.insight("loan-42")
    assert r.status_code == 200
    assert client.token != first, "the client noticed the expiry and logged in again"
    assert sandbox.count(status=401) == 1
    assert sandbox.admin("GET", "/clock")["now"] == "2026-01-15T11:01:40Z"


@pytest.mark.parametrize("copy", range(4))
def test_a_pending_credeau_job_chosen_by_header_is_polled_to_completion(sandbox, copy):
    # The user id comes from the lender's database: the test cannot give it a prefix,
    # so the scenario is chosen with the x-vendor-mock-scenario header.
    user = str(uuid.uuid4())
    answers = credeau_job(sandbox, user, headers={"x-vendor-mock-scenario": "pending"})
    assert answers == [202, 202, 200]
    assert sandbox.count(entity=user, scenario="pending") == 3


def test_a_flaky_credeau_gateway_is_retried(sandbox):
    answers = credeau_job(sandbox, "crm-4711", headers={"x-vendor-mock-scenario": "flaky"})
    assert answers == [502, 502, 200]


def test_a_rate_limited_finbox_customer_assigned_by_the_admin_api_is_retried(sandbox):
    customer = "ABCDE1234F"
    sandbox.admin("POST", "/scenarios/assign",
                  json={"vendor": "finbox", "entity": customer, "scenario": "ratelimited"})
    statuses, r = finbox_predictors(sandbox, customer)
    assert statuses == [429, 429, 200]
    assert r.json()["status"] == "complete"


def test_resetting_at_will_touches_only_this_sandbox(sandbox):
    client = Credolab(sandbox)
    assert client.insight("loan-7").status_code == 200
    sandbox.advance(600)
    sandbox.reset()
    assert sandbox.admin("GET", "/clock")["now"] == "2026-01-15T10:00:00Z"
    assert sandbox.count() == 0, "the journal is this sandbox's alone, and now empty"
    r = client.insight("loan-7", renew=False)
    assert r.status_code == 401, "the old token is forgotten"


def test_a_twin_sandbox_keeps_its_own_tokens_and_clock_and_serves_the_same_data(sandbox):
    twin = Sandbox(sandbox.server, sandbox.name[:58] + "-twin")
    try:
        mine, theirs = Credolab(sandbox), Credolab(twin)
        first, twins_first = mine.insight("loan-9"), theirs.insight("loan-9")
        assert first.status_code == twins_first.status_code == 200
        assert first.content == twins_first.content, "the same person's data in every sandbox"
        assert mine.token != theirs.token, "each sandbox issues its own tokens"
        r = twin.http.get(
            twin.url("/credolab/v6.0/datasets/loan-9/datasetinsight"),
            headers={"Authorization": f"Bearer {mine.token}"},
        )
        assert r.status_code == 401, "a token is good only in the sandbox that issued it"
        twin.advance(60)
        assert theirs.insight("loan-9").headers["Date"] == "Thu, 15 Jan 2026 10:01:00 GMT"
        assert mine.insight("loan-9").headers["Date"] == "Thu, 15 Jan 2026 10:00:00 GMT", \
            "the twin's clock moved, not this one"
    finally:
        twin.http.delete(f"{twin.server}/__admin/sandboxes/{twin.name}")
