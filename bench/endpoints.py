"""Every vendor's main endpoints, each with the set-up a client does before calling it.

Shared by bench/run.py (wrk), bench/instructions.py (callgrind) and bench/soak.py. A set-up
runs against a live server through `Client` and returns the `Call` to measure: method, path
(with the sandbox prefix, if any), headers, body and the status the mock must answer with.
The measured call is the same request every time (a load test of one endpoint), so its
set-up is done once: a login, a flow with its widget and code exchange, a token, values
written to the Feature Store.

Names (for --endpoints):
  finx-report            GET  /finx/rest/risk-reports/{id}          (flow start, widget, code exchange)
  finx-transactions      GET  /finx/rest/transactions?categories=…  (a report href; same set-up)
  credolab-insight       GET  /credolab/v6.0/datasets/{ref}/datasetinsight (login)
  credolab-iovation      POST /credolab/v6.0/datasets/{ref}/iovation/fraud/checks/default (login)
  credolab-insights-v1   GET  /credolab/api/insights/v1/{ref}       (Requester API key)
  featurestore-read      POST …/entityTypes/score_features:readFeatureValues (values written first)
  featurestore-streaming POST …:streamingReadFeatureValues, three entities (values written first)
  finbox-predictors      POST /finbox/v2/risk/predictors            (salt)
  finbox-device-ids      POST /finbox/v2/device-ids                 (salt)
  finscore-score         POST /finscore/score/api/v2/score          (client-credentials token)
  finscore-token         POST /finscore/auth/connect/token
  credeau-insights       POST /credeau/api/insights
  credeau-401            POST /credeau/api/insights with a wrong token
"""
import base64
import hashlib
import http.client
import json
import urllib.parse

FINX_BASIC = "Basic " + base64.b64encode(b"test-client:test-secret").decode()
FINSCORE_BASIC = "Basic " + base64.b64encode(b"test-client:test-secret").decode()
FS_ET = ("/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs"
         "/entityTypes/score_features")
FS_FEATURES = ["code", "score", "band", "address_check", "msisdn_check", "time_with_smart",
               "subscription_type", "sms_usage", "top_up", "mobile_data_usage", "avg_daily_activities"]
JSON = {"Content-Type": "application/json"}


class Call:
    """One HTTP request to measure, and the status it must get."""

    def __init__(self, method, path, headers=None, body=b"", status=200):
        self.method = method
        self.path = path
        self.headers = dict(headers or {})
        self.body = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.status = status

    def raw(self, host="127.0.0.1"):
        """The request as bytes on the wire (HTTP/1.1, keep-alive)."""
        head = [f"{self.method} {self.path} HTTP/1.1", f"Host: {host}"]
        head += [f"{k}: {v}" for k, v in self.headers.items()]
        if self.body or self.method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(head) + "\r\n\r\n").encode() + self.body


class Client:
    """A keep-alive HTTP/1.1 client of one server."""

    def __init__(self, port, host="127.0.0.1"):
        self.host, self.port = host, port
        self.conn = http.client.HTTPConnection(host, port, timeout=60)

    def send(self, method, path, headers=None, body=None):
        """(status, content type, body bytes, headers)."""
        data = body if body is None or isinstance(body, bytes) else json.dumps(body).encode()
        h = dict(headers or {})
        if data is not None and isinstance(body, (dict, list)):
            h.setdefault("Content-Type", "application/json")
        try:
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
        except (http.client.HTTPException, OSError):
            self.conn.close()
            self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            self.conn.request(method, path, body=data, headers=h)
            r = self.conn.getresponse()
        payload = r.read()
        return r.status, r.headers.get("content-type"), payload, r.headers

    def call(self, c):
        return self.send(c.method, c.path, c.headers, c.body)

    def ok(self, method, path, headers=None, body=None, status=200):
        s, _, payload, h = self.send(method, path, headers, body)
        if s != status:
            raise RuntimeError(f"{method} {path}: {s} (wanted {status}): {payload[:300]!r}")
        return payload, h


def finbox_salt(customer, server_hash="test-finbox-hash"):
    h = hashlib.md5(customer.encode()).hexdigest().upper() + server_hash
    return base64.b64encode(hashlib.sha256(h.encode()).digest()).decode()


def path_of(url):
    u = urllib.parse.urlsplit(url)
    return u.path + ("?" + u.query if u.query else "")


# ---- set-ups, one per entity: the soak calls them with a new entity each time ----

def finx_flow(c, p, user):
    """A finX flow through to its access token: (report id, bearer header)."""
    body, _ = c.ok("POST", p + "/finx/onetime/risk-report", {"Authorization": FINX_BASIC},
                   {"redirect_uri": "https://lender.example/callback", "user_id": user, "name": "Max Mustermann"}, status=201)
    flow = json.loads(body)
    _, h = c.ok("GET", path_of(flow["location"]), status=302)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(h["location"]).query)["code"][0]
    body, _ = c.ok("POST", p + "/finx/auth/token", {"Authorization": FINX_BASIC},
                   {"grant_type": "authorization_code", "code": code})
    return flow["id"], {"Authorization": "Bearer " + json.loads(body)["access_token"]}


def finx_report(c, p, user="bench-user"):
    report, auth = finx_flow(c, p, user)
    return Call("GET", f"{p}/finx/rest/risk-reports/{report}", auth)


def finx_transactions(c, p, user="bench-user"):
    report, auth = finx_flow(c, p, user)
    body, _ = c.ok("GET", f"{p}/finx/rest/risk-reports/{report}", auth)
    # The salary stream's href: what a client drilling into the primary income follows.
    return Call("GET", path_of(json.loads(body)["income"]["primary"]["href"]), auth)


def credolab_token(c, p):
    body, _ = c.ok("POST", p + "/credolab/v6.0/account/login", JSON,
                   {"userEmail": "test@example.com", "password": "test-password"})
    return {"Authorization": "Bearer " + json.loads(body)["access_token"]}


def credolab_insight(c, p, ref="bench-ref"):
    return Call("GET", f"{p}/credolab/v6.0/datasets/{ref}/datasetinsight", credolab_token(c, p))


IOVATION_BODY = {"iovationRequestParams": {"accountCode": "bench-account", "transactionInsight": {
    "email": "acc@domain.com", "eventId": "168200gsd851", "mobilePhoneNumber": "+15032246010"}}}


def credolab_iovation(c, p, ref="bench-ref"):
    return Call("POST", f"{p}/credolab/v6.0/datasets/{ref}/iovation/fraud/checks/default",
                dict(JSON, **credolab_token(c, p)), IOVATION_BODY)


def credolab_insights_v1(c, p, ref="bench-ref"):
    return Call("GET", f"{p}/credolab/api/insights/v1/{ref}", {"Authorization": "Bearer test-requester-key"})


FS_AUTH = {"Authorization": "Bearer ya29.bench-token"}


def featurestore_write(c, p, entities):
    """Write all eleven FinScore features of each entity, as the FinScore ingestion does."""
    payloads = [{"entityId": e, "featureValues": {
        f: {"stringValue": str(100 + i) if f != "code" else "0000"} for i, f in enumerate(FS_FEATURES)}}
        for e in entities]
    c.ok("POST", p + FS_ET + ":writeFeatureValues", dict(JSON, **FS_AUTH), {"payloads": payloads})


def featurestore_read(c, p, entity="639181234567"):
    featurestore_write(c, p, [entity])
    return Call("POST", p + FS_ET + ":readFeatureValues", dict(JSON, **FS_AUTH),
                {"entityId": entity, "featureSelector": {"idMatcher": {"ids": ["*"]}}})


def featurestore_streaming(c, p, entity="639181234567"):
    entities = [entity, entity + "1", entity + "2"]
    featurestore_write(c, p, entities)
    return Call("POST", p + FS_ET + ":streamingReadFeatureValues", dict(JSON, **FS_AUTH),
                {"entityIds": entities, "featureSelector": {"idMatcher": {"ids": ["*"]}}})


def finbox_body(customer):
    return {"customer_id": customer, "version": 1, "salt": finbox_salt(customer)}


FINBOX_HEADERS = dict(JSON, **{"x-api-key": "test-finbox-key"})


def finbox_predictors(c, p, customer="bench-customer"):
    return Call("POST", p + "/finbox/v2/risk/predictors", FINBOX_HEADERS, finbox_body(customer))


def finbox_device_ids(c, p, customer="bench-customer"):
    return Call("POST", p + "/finbox/v2/device-ids", FINBOX_HEADERS, finbox_body(customer))


FINSCORE_TOKEN = Call("POST", "/finscore/auth/connect/token",
                      {"Content-Type": "application/x-www-form-urlencoded", "Authorization": FINSCORE_BASIC},
                      b"grant_type=client_credentials")


def finscore_token(c, p, number=None):
    return Call(FINSCORE_TOKEN.method, p + FINSCORE_TOKEN.path, FINSCORE_TOKEN.headers, FINSCORE_TOKEN.body)


def finscore_score(c, p, number="639181234567"):
    body, _ = c.ok("POST", p + FINSCORE_TOKEN.path, FINSCORE_TOKEN.headers, FINSCORE_TOKEN.body)
    auth = {"Authorization": "Bearer " + json.loads(body)["access_token"]}
    return Call("POST", p + "/finscore/score/api/v2/score", dict(JSON, **auth),
                {"mobilenumber": number, "productids": "Q1;", "requestid": "1796128510940"})


CREDEAU_HEADERS = dict(JSON, **{"x-client-id": "test-client", "x-auth-token": "test-token"})


def credeau_body(user):
    return {"user_id": user, "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]}


def credeau_insights(c, p, user="bench-user"):
    return Call("POST", p + "/credeau/api/insights", CREDEAU_HEADERS, credeau_body(user))


def credeau_401(c, p, user="bench-user"):
    return Call("POST", p + "/credeau/api/insights", dict(CREDEAU_HEADERS, **{"x-auth-token": "wrong-token"}),
                credeau_body(user), status=401)


ENDPOINTS = {
    "finx-report": finx_report,
    "finx-transactions": finx_transactions,
    "credolab-insight": credolab_insight,
    "credolab-iovation": credolab_iovation,
    "credolab-insights-v1": credolab_insights_v1,
    "featurestore-read": featurestore_read,
    "featurestore-streaming": featurestore_streaming,
    "finbox-predictors": finbox_predictors,
    "finbox-device-ids": finbox_device_ids,
    "finscore-score": finscore_score,
    "finscore-token": finscore_token,
    "credeau-insights": credeau_insights,
    "credeau-401": credeau_401,
}


def select(spec):
    """`--endpoints a,b` → names, in ENDPOINTS order; `all` or empty → every one."""
    if not spec or spec == "all":
        return list(ENDPOINTS)
    names = [n.strip() for n in spec.split(",") if n.strip()]
    unknown = [n for n in names if n not in ENDPOINTS]
    if unknown:
        raise SystemExit(f"unknown endpoint(s) {', '.join(unknown)}; known: {', '.join(ENDPOINTS)}")
    return [n for n in ENDPOINTS if n in names]


def setup(port, name, prefix=""):
    """Run `name`'s set-up against the server on `port`; (call, status, content type, body)
    of one answer to it, checked to have the expected status."""
    c = Client(port)
    call = ENDPOINTS[name](c, prefix)
    status, ctype, body, _ = c.call(call)
    if status != call.status:
        raise RuntimeError(f"{name}: {call.method} {call.path} answered {status}, not {call.status}: {body[:300]!r}")
    c.conn.close()
    return call, status, ctype, body
