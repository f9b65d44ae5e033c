"""schemathesis hooks for openapi/credeau.yaml (see openapi/README.md).

- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header): those are the documented 5xx; any other is a failure.
- The body's `client_id` must equal the `x-client-id` header, a rule between a header and a
  body field that OpenAPI cannot state. Bodies generated as valid get the header's value, so
  that they reach the scenario instead of all stopping at the 401; bodies generated as
  invalid keep what was generated, and the documents' own examples are sent as written.
- The `x-vendor-mock-scenario` request header must name one of the loaded scenarios (else
  the mock's own 400), a set the scenario files decide, not the document. Headers generated
  as valid get a shipped scenario name (or `default`), picked by a hash of the generated
  value; `slow` is left out (3 s per call). Headers generated as invalid keep their value.
"""

import zlib

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

CLIENT_ID = "test-client"
SCENARIO_HEADER = "x-vendor-mock-scenario"
# The shipped scenarios a generated header may name (`slow` takes 3 s a call).
SCENARIOS = ("default", "pending", "notfound", "nodata", "ratelimited", "flaky")


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
    if isinstance(body, dict) and isinstance(body.get("client_id"), str):
        body["client_id"] = CLIENT_ID
    return case


@schemathesis.deserializer("text/html")
def html(ctx, response):
    """Credeau's nginx pages, as text, so their schemas (each page exactly) are checked."""
    return response.content.decode("utf-8")
