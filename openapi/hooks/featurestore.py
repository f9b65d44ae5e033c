"""schemathesis hooks for openapi/featurestore.yaml (see openapi/README.md).

- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header), or when it is the 501 `UNIMPLEMENTED` of an operation
  the document says is not emulated (deleting an operation): those are the documented 5xx;
  any other is a failure.
- A body's `entityType` (value calls) or `parent` (batch create, top-level and per request)
  must name the entity type of the URL, a rule between the path and a body field that
  OpenAPI cannot state. Bodies generated as valid get the URL's entity type there, so that
  they reach the store instead of all stopping at the 400; bodies generated as invalid keep
  what was generated, and the document's own examples are sent as written.
- Which resources exist is server state that OpenAPI cannot name, so random path ids would
  almost all answer 404. In half of the requests generated as valid (picked by a hash of
  the generated path), other than deletes, the path names the pre-created resources instead
  (`test-project`, `asia-southeast1`, `finscore_fs`, `score_features` and one of its
  features), so that they reach the store. Deletes keep their generated ids, so that a run
  does not delete the pre-created featurestore that the rest of it works on.
- The `x-vendor-mock-scenario` request header must name one of the loaded scenarios (else
  the mock's own 400), a set the scenario files decide, not the document. Headers generated
  as valid get a shipped scenario name (or `default`), picked by a hash of the generated
  value; `slow` is left out (3 s per call). Headers generated as invalid keep their value.
"""

import zlib

import schemathesis
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

SCENARIO_HEADER = "x-vendor-mock-scenario"
# The shipped scenarios a generated header may name (`slow` takes 3 s a call).
SCENARIOS = ("default", "pending", "ratelimited", "flaky")
# The resources scenarios/featurestore.toml pre-creates.
PRECREATED = {
    "project": "test-project",
    "location": "asia-southeast1",
    "featurestore": "finscore_fs",
    "entityType": "score_features",
}
PRECREATED_FEATURES = (
    "code",
    "score",
    "band",
    "address_check",
    "msisdn_check",
    "time_with_smart",
    "subscription_type",
    "sms_usage",
    "top_up",
    "mobile_data_usage",
    "avg_daily_activities",
)


def entity_type_name(path_parameters):
    """The full name of the entity type a value call or batch create is about."""
    p = path_parameters or {}
    keys = ("project", "location", "featurestore", "entityType")
    if not all(k in p for k in keys):
        return None
    return "projects/{project}/locations/{location}/featurestores/{featurestore}/entityTypes/{entityType}".format(
        **p
    )


def documents_not_emulated(case, response):
    """A 501 `UNIMPLEMENTED` answer of an operation whose only success is that 501."""
    if response.status_code != 501:
        return False
    responses = case.operation.definition.raw.get("responses", {})
    if "501" not in responses or any(str(s).startswith("2") for s in responses):
        return False
    try:
        return response.json()["error"]["status"] == "UNIMPLEMENTED"
    except (ValueError, KeyError, TypeError):
        return False


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, ServerError):
        scenario = response.headers.get(SCENARIO_HEADER, [""])[0]
        return scenario != "flaky" and not documents_not_emulated(case, response)
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
    path = case.path_parameters
    if path and case.method.upper() != "DELETE" and not meta.is_negative_at(ParameterLocation.PATH):
        generated = zlib.crc32(repr(sorted(path.items())).encode("utf-8", "surrogatepass"))
        if generated % 2 == 0:
            for key, value in PRECREATED.items():
                if key in path:
                    path[key] = value
            if "feature" in path:
                path["feature"] = PRECREATED_FEATURES[(generated >> 1) % len(PRECREATED_FEATURES)]
    if meta.is_negative_at(ParameterLocation.BODY):
        return case
    body = case.body
    name = entity_type_name(case.path_parameters)
    if not isinstance(body, dict) or name is None:
        return case
    for key in ("entityType", "entity_type", "parent"):
        if isinstance(body.get(key), str):
            body[key] = name
    for request in body.get("requests") or []:
        if isinstance(request, dict) and isinstance(request.get("parent"), str):
            request["parent"] = name
    return case
