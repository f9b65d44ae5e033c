"""schemathesis hooks for openapi/finx.yaml (see openapi/README.md).

- Authentication, as a finX client does it. The flow start and `/auth/token` take HTTP Basic
  client credentials (the mock's defaults). The `/rest` calls take the bearer `access_token`
  of one flow, which no configuration value or OpenAPI link can carry (OpenAPI ignores
  `Authorization` header parameters, and a token is made by three calls). So a call of
  `getRiskReport` on a flow this run started gets a token of that flow (the one the run's own
  code exchange answered, else one this hook gets by opening the flow's widget and exchanging
  its code); every other `/rest` call, and a report id the run did not start, gets the token
  of one flow the hook starts itself (an ongoing flow, `user_id` `schemathesis-openapi`).
- A 5xx is accepted only when the mock says the `flaky` scenario gave it (its
  `x-vendor-mock-scenario` header): those are the documented 5xx; any other is a failure.
- `accounts[].id` of a flow start must be an IBAN with valid ISO 13616 check digits, which a
  JSON Schema pattern cannot state. Bodies generated as valid get the right check digits for
  the IBAN generated, so that they reach the flow instead of all stopping at the 400; bodies
  generated as invalid keep what was generated, and the document's examples are sent as
  written.
- schemathesis's dependency analysis reads the flow start's `user_id` as a reference to a
  "User" resource that no operation creates, and so never starts its stateful scenarios from a
  flow start, the one operation every finX flow begins with (`user_id` is the client's own id
  of its user, not a reference). `after_load_schema` drops that input from the flow starts, so
  the stateful phase starts flows and follows their links (widget, code, token, report).
- A flow's `redirect_uri` comes back in the widget's `Location`. python-requests, which
  schemathesis sends with, parses every `Location` even when it does not follow it, and
  raises on what Python's URL parser refuses (an unbalanced `[` in the host part:
  `a://[x`), which the mock accepts as an absolute URI. Generated bodies get such brackets
  percent-encoded (`a://%5Bx`), so that the stateful phase can open the widget.
- The `x-vendor-mock-scenario` request header must name one of the loaded scenarios (else
  the mock's own 400), a set the scenario files decide, not the document. Headers generated
  as valid get a shipped scenario name (or `default`), picked by a hash of the generated
  value; `slow` is left out (3 s per call). Headers generated as invalid keep their value.
"""

import base64
import json
import re
import threading
import zlib
from urllib.parse import urlsplit

import requests
import schemathesis
import urllib3
from schemathesis.core.failures import ServerError
from schemathesis.core.parameters import ParameterLocation

CLIENT = ("test-client", "test-secret")
SCENARIO_HEADER = "x-vendor-mock-scenario"
# The shipped scenarios a generated header may name (`slow` takes 3 s a call).
SCENARIOS = ("default", "pending", "ratelimited", "flaky", "cancel")
FLOW_STARTS = ("startOnetimeRiskReport", "startOngoingRiskReport")
CLIENT_OPERATIONS = (*FLOW_STARTS, "createAccessToken")
BEARER_OPERATIONS = (
    "getRiskReport",
    "listTransactions",
    "listAccounts",
    "getAccount",
    "getAccountBalance",
    "listAccountTransactions",
)
# The flow whose token every `/rest` call that names no flow of this run gets.
OWN_FLOW = {"redirect_uri": "https://lender.example/finx/callback", "user_id": "schemathesis-openapi"}
OWN = "own"

# What this run has seen: flow id → widget location, and flow id → access token.
_lock = threading.Lock()
_locations: dict[str, str] = {}
_tokens: dict[str, str] = {}


def _flow_of_token(access_token: str):
    """The flow id an access token opens: its JWT's `sub` claim."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return claims.get("sub")
    except (IndexError, ValueError, AttributeError):
        return None


def _op(case) -> str:
    return case.operation.definition.raw.get("operationId", "")


def _flow_key(case, context) -> str:
    """The flow a bearer call is about: a report id this run started, else the hook's own flow."""
    if _op(case) == "getRiskReport":
        report = (case.path_parameters or {}).get("id")
        with _lock:
            if report in _locations:
                return report
    return OWN


def _exchange(base: str, location: str):
    """Open a widget link and exchange its code; None when the widget gives no code."""
    # urllib3, not requests: requests parses every `Location` even when not following it, and
    # a generated `redirect_uri` need not be a URL that Python's parser accepts.
    redirect = urllib3.request("GET", location, redirect=False, timeout=30)
    match = re.search(r"[?&]code=(O[0-9a-f]{40})", redirect.headers.get("location", ""))
    if redirect.status != 302 or match is None:
        return None
    answer = requests.post(
        f"{base}/auth/token",
        auth=CLIENT,
        json={"grant_type": "authorization_code", "code": match.group(1)},
        timeout=30,
    )
    return answer.json()["access_token"] if answer.status_code == 200 else None


@schemathesis.auth(cache_by_key=_flow_key).apply_to(operation_id=list(BEARER_OPERATIONS))
class FlowToken:
    """`Authorization: Bearer` with an access token of the flow the call is about."""

    def get(self, case, context):
        base = case.operation.base_url.rstrip("/")
        flow = _flow_key(case, context)
        if flow != OWN:
            with _lock:
                token, location = _tokens.get(flow), _locations.get(flow)
            token = token or _exchange(base, location)
            if token:
                return token
        with _lock:
            token = _tokens.get(OWN)
        if token is None:
            started = requests.post(f"{base}/ongoing/risk-report", auth=CLIENT, json=OWN_FLOW, timeout=30)
            started.raise_for_status()
            token = _exchange(base, started.json()["location"])
            if token is None:
                raise RuntimeError("the hook's own flow gave no access token")
            with _lock:
                _tokens[OWN] = token
        return token

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


@schemathesis.auth().apply_to(operation_id=list(CLIENT_OPERATIONS))
class ClientCredentials:
    """HTTP Basic with the mock's default client id and secret."""

    def get(self, case, context):
        return CLIENT

    def set(self, case, data, context):
        case.headers = case.headers or {}
        raw = f"{data[0]}:{data[1]}".encode()
        case.headers["Authorization"] = "Basic " + base64.b64encode(raw).decode()


@schemathesis.hook
def after_load_schema(context, schema):
    graph = schema.analysis.dependency_graph
    for label, node in graph.operations.items():
        if label.split(" ", 1)[-1] in ("/onetime/risk-report", "/ongoing/risk-report"):
            node.inputs = [slot for slot in node.inputs if slot.parameter_name != "user_id"]


@schemathesis.hook
def after_call(context, case, response):
    """Remember the flows this run started and the tokens its code exchanges answered."""
    if response.status_code == 201 and _op(case) in FLOW_STARTS:
        body = response.json()
        with _lock:
            _locations[body["id"]] = body["location"]
    elif response.status_code == 200 and _op(case) == "createAccessToken":
        token = response.json().get("access_token", "")
        flow = _flow_of_token(token)
        if flow:
            with _lock:
                _tokens.setdefault(flow, token)


@schemathesis.hook
def filter_failure(context, failure, case, response):
    if isinstance(failure, ServerError):
        scenario = response.headers.get(SCENARIO_HEADER, [""])[0]
        return scenario != "flaky"
    return True


def _with_check_digits(iban: str) -> str:
    """`iban` (spaces and case as given) with the ISO 13616 check digits of its country and BBAN."""
    compact = iban.replace(" ", "").upper()
    digits = "".join(str(int(c, 36)) for c in compact[4:] + compact[:2] + "00")
    check = f"{98 - int(digits) % 97:02d}"
    # Replace the two digits after the country code, wherever the spaces put them.
    out, seen = [], 0
    for c in iban:
        if c != " ":
            seen += 1
            if seen in (3, 4):
                c = check[seen - 3]
        out.append(c)
    return "".join(out)


def _parseable(uri: str) -> str:
    """`uri`, with its brackets percent-encoded when Python's URL parser refuses it."""
    try:
        urlsplit(uri)
        return uri
    except ValueError:
        return uri.replace("[", "%5B").replace("]", "%5D")


@schemathesis.hook
def map_case(context, case):
    meta = case.meta
    if meta is None or meta.phase.name == "examples":
        return case
    headers = case.headers
    if headers and SCENARIO_HEADER in headers and not meta.is_negative_at(ParameterLocation.HEADER):
        generated = str(headers[SCENARIO_HEADER]).encode("utf-8", "surrogatepass")
        headers[SCENARIO_HEADER] = SCENARIOS[zlib.crc32(generated) % len(SCENARIOS)]
    body = case.body
    if _op(case) not in FLOW_STARTS or not isinstance(body, dict):
        return case
    if isinstance(body.get("redirect_uri"), str):
        # Also in bodies generated as invalid: encoding brackets only lengthens a URI, so it
        # never makes an invalid one valid, and the mock may accept a body schemathesis meant
        # as invalid elsewhere.
        body["redirect_uri"] = _parseable(body["redirect_uri"])
    if meta.is_negative_at(ParameterLocation.BODY):
        return case
    if isinstance(body.get("accounts"), list):
        for account in body["accounts"]:
            if isinstance(account, dict) and isinstance(account.get("id"), str):
                account["id"] = _with_check_digits(account["id"])
    return case
