"""schemathesis hooks for openapi/finbox.yaml (see openapi/README.md).

- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header): those are the documented 5xx; any other is a failure.
- Every body carries a `salt` computed from its entity id and SERVER_HASH, a rule between two
  fields that OpenAPI cannot state (see the `apiKey` security scheme). Bodies generated as
  valid, and bodies built from links, get the salt of their entity (computed exactly as FinBox
  documents it, with the mock's default SERVER_HASH), so that they reach the scenario instead
  of all stopping at 403 `Incorrect Salt`. Bodies generated as invalid keep what was
  generated, and the document's own examples are sent as written (its `vendorDocument`
  example carries a salt made with FinBox's hash, and is answered 403 `Incorrect Salt`).
- The `x-vendor-mock-scenario` request header must name one of the loaded scenarios (else
  the mock's own 400), a set the scenario files decide, not the document. Headers generated
  as valid get a shipped scenario name (or `default`), picked by a hash of the generated
  value; `slow` is left out (3 s per call). Headers generated as invalid keep their value.
"""

import base64
import hashlib
import zlib

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

SERVER_HASH = "test-finbox-hash"
DEVICE_ROUTES = ("/transactions", "/accounts")
SCENARIO_HEADER = "x-vendor-mock-scenario"
# The shipped scenarios a generated header may name (`slow` takes 3 s a call).
SCENARIOS = ("default", "pending", "callback", "notfound", "nodata", "ratelimited", "flaky")


def salt(entity: str, server_hash: str = SERVER_HASH) -> str:
    """FinBox's salt: base64(SHA-256(upper-case hex MD5(entity) + SERVER_HASH))."""
    a = hashlib.md5(entity.encode("utf-8")).hexdigest().upper()
    return base64.b64encode(hashlib.sha256((a + server_hash).encode("utf-8")).digest()).decode()


def entity(path: str, body: dict):
    """The id the mock salts: `customer_id`, or on the device routes a non-empty `user_hash`."""
    if path.endswith(DEVICE_ROUTES):
        user_hash = body.get("user_hash")
        if user_hash not in (None, ""):
            return user_hash
    return body.get("customer_id")


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, ServerError):
        scenario = response.headers.get(SCENARIO_HEADER, [""])[0]
        return scenario != "flaky"
    return True


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.phase.name == "examples":
        return case
    headers = case.headers
    if headers and SCENARIO_HEADER in headers and not meta.is_negative_at(ParameterLocation.HEADER):
        generated = str(headers[SCENARIO_HEADER]).encode("utf-8", "surrogatepass")
        headers[SCENARIO_HEADER] = SCENARIOS[zlib.crc32(generated) % len(SCENARIOS)]
    if meta.is_negative_at(ParameterLocation.BODY):
        return case
    body = case.body
    if isinstance(body, dict):
        e = entity(case.path, body)
        if isinstance(e, str):
            body["salt"] = salt(e)
    return case
