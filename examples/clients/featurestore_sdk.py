#!/usr/bin/env python3
"""Google's own Vertex AI SDK, unmodified, against vendor-mock's Feature Store (legacy).

The SDK is `google-cloud-aiplatform` (pinned in .ci/requirements.txt) with its REST
transport. The only thing that points it at the mock is `aiplatform.init(...)` in
`connect()` below: REST transport, an `http://` endpoint, and a credentials object that
carries a static token (the mock accepts any non-empty bearer token;
`AnonymousCredentials` send no header at all). Usage:

    python3 examples/clients/featurestore_sdk.py http://127.0.0.1:8080

The mock must run with a frozen clock (`--frozen-clock`), since the pending-create case
moves it. The script prints one line per case and exits non-zero if any misbehaves.
Needs `google-cloud-aiplatform`, `pandas` (which `EntityType.read` answers in) and
`requests`.
"""
import sys
import threading
import time
import traceback

import requests
from google.api_core import exceptions
from google.auth import credentials as ga_credentials
from google.cloud import aiplatform
from google.cloud.aiplatform.compat.types import featurestore as gca_featurestore
from google.protobuf import field_mask_pb2

SERVER = sys.argv[1].rstrip("/") if len(sys.argv) > 1 else "http://127.0.0.1:8080"
ENDPOINT = SERVER + "/featurestore"
ADMIN = SERVER + "/__admin"
PROJECT = "test-project"
LOCATION = "asia-southeast1"
LOC = f"projects/{PROJECT}/locations/{LOCATION}"


class StaticToken(ga_credentials.Credentials):
    """Credentials with a fixed bearer token that never needs refreshing."""

    def __init__(self, token):
        super().__init__()
        self.token = token

    def refresh(self, request):
        pass


def connect(token="test-token"):
    aiplatform.init(
        project=PROJECT,
        location=LOCATION,
        api_transport="rest",
        api_endpoint=ENDPOINT,
        credentials=StaticToken(token),
    )


def journal(path="/featurestore/", entity=None):
    """The mock's journal of Feature Store calls under `path`, for one entity if given."""
    r = requests.get(ADMIN + "/requests", params={"vendor": "featurestore", "path": path}, timeout=10)
    r.raise_for_status()
    return [e for e in r.json() if entity is None or e.get("entity") == entity]


def advance(seconds):
    r = requests.post(ADMIN + "/clock/advance", json={"seconds": seconds}, timeout=10)
    r.raise_for_status()


def expect(exc_type, fn, needle=None):
    """Run fn and require the SDK to raise exc_type (with needle in its message)."""
    try:
        fn()
    except exc_type as e:
        if needle is not None and needle not in str(e):
            raise AssertionError(f"{exc_type.__name__} without {needle!r}: {e}")
        return e
    raise AssertionError(f"expected {exc_type.__name__}")


# A FinScore answer as finscore-featurestore.txt shows one: every value becomes a
# STRING feature of `score_features`, the response code kept as feature `code`.
FINSCORE_ANSWER = {
    "code": "0000",
    "requestid": "338791112",
    "transactionid": "4036a2f8ff1d4386928d98d22e9a06c5",
    "result": "ok",
    "scores": {"10": [["score", 560], ["band", 6]]},
}


def finscore_ingestion_job(featurestore_id, number, answer):
    """A FinScore ingestion job as a lender writes it with the SDK: create what is
    missing, write the answer's values, read them back, clean up."""
    try:
        fs = aiplatform.Featurestore(featurestore_id)
    except exceptions.NotFound:
        fs = aiplatform.Featurestore.create(
            featurestore_id=featurestore_id, online_store_fixed_node_count=1
        )
    try:
        et = fs.get_entity_type("score_features")
    except exceptions.NotFound:
        et = fs.create_entity_type(
            entity_type_id="score_features",
            description="FinScore answers, one entity per subscriber number",
        )
    values = {"code": str(answer["code"])}
    for product, pairs in answer.get("scores", {}).items():
        for key, value in pairs:
            values[key] = str(value)
    existing = {f.name for f in et.list_features()}
    missing = {k: {"value_type": "STRING"} for k in values if k not in existing}
    if missing:
        et.batch_create_features(feature_configs=missing)
    et.write_feature_values(instances={number: values})
    frame = et.read(entity_ids=number, feature_ids=list(values))
    back = {k: frame.iloc[0][k] for k in values}
    fs.delete(force=True)
    return back


def case_finscore_ingestion_job_runs_unmodified():
    back = finscore_ingestion_job("finscore_job_fs", "639181234567", FINSCORE_ANSWER)
    assert back == {"code": "0000", "score": "560", "band": "6"}, back
    expect(exceptions.NotFound, lambda: aiplatform.Featurestore("finscore_job_fs"))


def while_moving_the_clock_once_seen_running(entity, fn):
    """Run fn (which creates `entity` under the `pending` scenario and waits for it).

    The SDK polls with real sleeps; a helper thread waits until the journal shows a poll
    of `entity` answered "still running", then moves the mock clock past the 30 s the
    `pending` scenario holds creates for, so the next poll finds the operation done.
    Returns fn's result; fails if the create was never seen running."""
    moved = threading.Event()
    seen = len([c for c in journal(entity=entity) if c.get("note") == "operation still running"])

    def move_clock_after_a_running_poll():
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                polls = journal(entity=entity, path="/featurestore/ui/")
                if len([p for p in polls if p.get("note") == "operation still running"]) > seen:
                    moved.set()
                    break
                time.sleep(0.05)
        finally:
            # Moved in any case, even when reading the journal failed, so that a failing
            # run ends instead of polling for 15 minutes.
            advance(30)

    helper = threading.Thread(target=move_clock_after_a_running_poll, daemon=True)
    helper.start()
    result = fn()
    helper.join(timeout=60)
    assert moved.is_set(), f"the create of {entity} was never seen running"
    return result


def case_a_pending_create_is_polled_under_ui_until_the_mock_clock_passes_30_s():
    fs = while_moving_the_clock_once_seen_running(
        "pending_sdk_fs",
        lambda: aiplatform.Featurestore.create(
            featurestore_id="pending_sdk_fs",
            online_store_fixed_node_count=1,
            labels={"team": "risk"},
        ),
    )
    assert fs.resource_name == f"{LOC}/featurestores/pending_sdk_fs", fs.resource_name
    calls = journal(entity="pending_sdk_fs")
    notes = [c.get("note") for c in calls]
    assert notes[0] == "operation running", notes
    assert notes[-1] == "operation done", notes
    assert "operation still running" in notes, notes
    polls = [c for c in calls if c["method"] == "GET"]
    assert all(c["path"].startswith("/featurestore/ui/projects/") for c in polls), polls
    # Created when it was asked for, 30 s before it was done.
    assert fs.gca_resource.create_time.isoformat().startswith("2026-01-15T10:00:00"), fs.gca_resource.create_time


def case_a_rerun_of_the_ingestion_job_pends_again():
    # The job creates its featurestore if missing and deletes it at the end: each run
    # creates it anew, and each create follows the `pending` scenario from its start.
    for run in (1, 2):
        back = while_moving_the_clock_once_seen_running(
            "pending_job_fs",
            lambda: finscore_ingestion_job("pending_job_fs", "639170000001", FINSCORE_ANSWER),
        )
        assert back == {"code": "0000", "score": "560", "band": "6"}, (run, back)
    notes = [c.get("note") for c in journal(entity="pending_job_fs")]
    assert notes.count("operation running") == 2, notes


def case_batch_create_write_read_and_streaming_read():
    fs = aiplatform.Featurestore.create(featurestore_id="sdk_fs", online_store_fixed_node_count=1)
    et = fs.create_entity_type(entity_type_id="applicants", labels={"team": "risk"})
    et.batch_create_features(
        feature_configs={
            "age": {"value_type": "INT64", "description": "age in years"},
            "income": {"value_type": "DOUBLE"},
            "verified": {"value_type": "BOOL"},
            "city": {"value_type": "STRING", "labels": {"pii": "no"}},
        }
    )
    names = [f.name for f in et.list_features(order_by="feature_id")]
    assert names == ["age", "city", "income", "verified"], names
    et.write_feature_values(
        instances={
            "a1": {"age": 41, "income": 5200.5, "verified": True, "city": "Manila"},
            "a2": {"age": 29, "city": "Cebu"},
        }
    )
    one = et.read(entity_ids="a1", feature_ids=["age", "income", "verified", "city"])
    row = one.iloc[0]
    assert (row["entity_id"], row["age"], row["income"], row["verified"], row["city"]) == (
        "a1", 41, 5200.5, True, "Manila"), one
    many = et.read(entity_ids=["a1", "a2", "never"], feature_ids=["age", "city"])
    assert list(many["entity_id"]) == ["a1", "a2", "never"], many
    assert list(many["city"][:2]) == ["Manila", "Cebu"], many
    streamed = journal(path=f"/featurestore/v1/{et.resource_name}:streamingReadFeatureValues")
    assert len(streamed) == 1, streamed


def case_lists_filter_and_order_on_the_server():
    advance(60)
    aiplatform.Featurestore.create(
        featurestore_id="sdk_other_fs", online_store_fixed_node_count=2, labels={"team": "growth"}
    )
    risk = aiplatform.Featurestore.list(filter='labels.team="risk"')
    assert [f.name for f in risk] == ["pending_sdk_fs"], [f.name for f in risk]
    newest_first = aiplatform.Featurestore.list(order_by="create_time desc")
    assert newest_first[0].name == "sdk_other_fs", [f.name for f in newest_first]
    late = aiplatform.Featurestore.list(
        filter='create_time > "2026-01-15T10:00:30Z" AND online_serving_config.fixed_node_count >= 2'
    )
    assert [f.name for f in late] == ["sdk_other_fs"], [f.name for f in late]
    ets = aiplatform.EntityType.list(featurestore_name="sdk_fs", filter="labels.team: *")
    assert [e.name for e in ets] == ["applicants"], ets
    et = aiplatform.EntityType(entity_type_name="applicants", featurestore_id="sdk_fs")
    strings = et.list_features(filter="value_type = STRING")
    assert [f.name for f in strings] == ["city"], strings
    # A filter the mock cannot evaluate is refused, naming it, never ignored.
    expect(exceptions.BadRequest, lambda: aiplatform.Featurestore.list(filter='display_name="x"'), "display_name")
    expect(exceptions.BadRequest, lambda: aiplatform.Featurestore.list(order_by="feature_id"), "feature_id")


def case_updates_change_fields_and_etags_and_a_stale_etag_is_refused():
    fs = aiplatform.Featurestore("sdk_fs")
    before = fs.gca_resource.etag
    advance(60)
    fs.update(labels={"team": "risk", "tier": "gold"})
    fs.update_online_store(fixed_node_count=3)
    fs = aiplatform.Featurestore("sdk_fs")
    assert dict(fs.labels) == {"team": "risk", "tier": "gold"}, fs.labels
    assert fs.gca_resource.online_serving_config.fixed_node_count == 3, fs.gca_resource
    assert fs.gca_resource.etag != before
    assert fs.gca_resource.update_time > fs.gca_resource.create_time
    et = fs.get_entity_type("applicants")
    et.update(description="loan applicants", labels={"team": "credit"})
    assert aiplatform.EntityType(et.resource_name).gca_resource.description == "loan applicants"
    feature = et.get_feature("age")
    feature.update(description="age in whole years")
    assert aiplatform.Feature(feature.resource_name).gca_resource.description == "age in whole years"
    # A read-modify-write with an etag that is no longer current: Vertex answers
    # ABORTED (HTTP 409), which the REST transport raises as Conflict.
    stale = gca_featurestore.Featurestore(name=fs.resource_name, labels={"team": "x"}, etag=before)
    expect(
        exceptions.Conflict,
        lambda: fs.api_client.update_featurestore(
            featurestore=stale, update_mask=field_mask_pb2.FieldMask(paths=["labels"])
        ),
        "does not match server `etag`",
    )
    current = gca_featurestore.Featurestore(
        name=fs.resource_name, labels={"team": "x"}, etag=fs.gca_resource.etag
    )
    fs.api_client.update_featurestore(
        featurestore=current, update_mask=field_mask_pb2.FieldMask(paths=["labels"])
    ).result()
    assert dict(aiplatform.Featurestore("sdk_fs").labels) == {"team": "x"}


def case_deletes_need_force_for_children_and_take_the_values_along():
    fs = aiplatform.Featurestore("sdk_fs")
    # Google's own sentence (recorded from the real API), and the mock's extrapolation
    # of it for entity types.
    expect(exceptions.BadRequest, lambda: fs.delete(), "There are entity types in the featurestore")
    et = fs.get_entity_type("applicants")
    et.get_feature("verified").delete()
    expect(exceptions.NotFound, lambda: et.get_feature("verified"))
    expect(exceptions.BadRequest, lambda: et.delete(), "set `force` in the request")
    et.delete(force=True)
    expect(exceptions.NotFound, lambda: fs.get_entity_type("applicants"))
    fs.delete()
    expect(exceptions.NotFound, lambda: aiplatform.Featurestore("sdk_fs"))


def case_each_error_class_the_sdk_raises():
    et = aiplatform.EntityType(
        entity_type_name="score_features", featurestore_id="finscore_fs"
    )
    # 404 NOT_FOUND
    expect(exceptions.NotFound, lambda: aiplatform.Featurestore("no_such_fs"), "not found")
    # 409 ALREADY_EXISTS
    expect(exceptions.Conflict, lambda: aiplatform.Featurestore.create(
        featurestore_id="finscore_fs", online_store_fixed_node_count=1), "already exists")
    # 400 INVALID_ARGUMENT: a value of the wrong type for a STRING feature
    expect(exceptions.BadRequest, lambda: et.write_feature_values(
        instances={"e1": {"code": 5}}), "Value type mismatch")
    # 501 UNIMPLEMENTED: a Google route the mock does not emulate
    expect(exceptions.MethodNotImplemented, lambda: aiplatform.Feature.search(query="code"), "does not emulate")
    # … and another Vertex AI collection under the location (GET …/locations/{l}/models)
    expect(exceptions.MethodNotImplemented, lambda: aiplatform.Model.list(), "does not emulate")
    # 429 RESOURCE_EXHAUSTED and 503 UNAVAILABLE from the shipped scenarios (the SDK
    # sets no retry on reads and writes)
    expect(exceptions.TooManyRequests, lambda: et.read(entity_ids="ratelimited-sdk"))
    expect(exceptions.ServiceUnavailable, lambda: et.write_feature_values(
        instances={"flaky-sdk": {"code": "0000"}}))
    # 401 UNAUTHENTICATED: a credentials object with an empty token
    connect(token="")
    try:
        expect(exceptions.Unauthorized, lambda: aiplatform.Featurestore.list(), "authentication credential")
    finally:
        connect()


CASES = [
    case_finscore_ingestion_job_runs_unmodified,
    case_a_pending_create_is_polled_under_ui_until_the_mock_clock_passes_30_s,
    case_a_rerun_of_the_ingestion_job_pends_again,
    case_batch_create_write_read_and_streaming_read,
    case_lists_filter_and_order_on_the_server,
    case_updates_change_fields_and_etags_and_a_stale_etag_is_refused,
    case_deletes_need_force_for_children_and_take_the_values_along,
    case_each_error_class_the_sdk_raises,
]


def main():
    connect()
    failed = 0
    for case in CASES:
        name = case.__name__[len("case_"):]
        try:
            case()
            print(f"ok: {name}")
        except Exception:
            failed += 1
            print(f"MISBEHAVES: {name}")
            traceback.print_exc(file=sys.stdout)
    if failed:
        print(f"{failed} of {len(CASES)} cases misbehave")
        sys.exit(1)
    print("all documented cases behave")


if __name__ == "__main__":
    main()
