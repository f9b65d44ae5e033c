"""schemathesis hooks for openapi/finscore.yaml (see openapi/README.md).

- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header): those are the documented 503s; any other is a failure.
- The `x-vendor-mock-scenario` request header must name one of the loaded scenarios (else
  the mock's own 400), a set the scenario files decide, not the document. Headers generated
  as valid get a shipped scenario name (or `default`), picked by a hash of the generated
  value; `slow` is left out (3 s per call). Headers generated as invalid keep their value,
  and the document's own examples are sent as written.
"""

import zlib

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

SCENARIO_HEADER = "x-vendor-mock-scenario"
# The shipped scenarios a generated header may name (`slow` takes 3 s a call).
SCENARIOS = ("default", "nodata", "error", "ratelimited", "flaky")


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
    return case
