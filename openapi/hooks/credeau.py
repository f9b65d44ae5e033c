"""schemathesis hooks for openapi/credeau.yaml (see openapi/README.md).

- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header): those are the documented 5xx; any other is a failure.
- The body's `client_id` must equal the `x-client-id` header, a rule between a header and a
  body field that OpenAPI cannot state. Bodies generated as valid get the header's value, so
  that they reach the scenario instead of all stopping at the 401; bodies generated as
  invalid keep what was generated, and the documents' own examples are sent as written.
"""

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

CLIENT_ID = "test-client"


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, ServerError):
        scenario = response.headers.get("x-vendor-mock-scenario", [""])[0]
        return scenario != "flaky"
    return True


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.is_negative_at(ParameterLocation.BODY):
        return case
    if meta.phase.name == "examples":
        return case
    body = case.body
    if isinstance(body, dict) and isinstance(body.get("client_id"), str):
        body["client_id"] = CLIENT_ID
    return case


@schemathesis.deserializer("text/html")
def html(ctx, response):
    """Credeau's nginx pages, as text, so their schemas (each page exactly) are checked."""
    return response.content.decode("utf-8")
