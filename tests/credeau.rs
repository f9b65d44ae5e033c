//! Credeau DeviceInsights over HTTP: every documented case.

use serde_json::{json, Map, Value};

use crate::support::{self, Reply, TestServer};

const AUTH: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
];
const INSIGHTS: &str = "/credeau/api/insights";
const ASYNC: &str = "/credeau/api/async_insights";
const EXTRACT: &str = "/credeau/api/fetch_extracted_data";
const HEADERS: &[&str] = &[
    "content-type",
    "allow",
    "x-vendor-mock-scenario",
    "x-vendor-mock-warning",
];

fn body(user: &str) -> Value {
    json!({"user_id": user, "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]})
}

/// The whole answer `r` matches its operation's schema in `openapi/credeau.yaml`
/// (skipped outside CI without the venv's jsonschema).
fn assert_matches_the_document(r: &Reply) {
    if let Some((matched, out)) = support::check_exchange(&r.exchange(HEADERS)) {
        assert!(matched, "{out}");
    }
}

/// A completed answer is ~2800 features; snapshots keep its frame and a few features.
/// Without its request line: a summary is no answer the mock gave, so
/// `openapi/check_snapshots.py` must not check it against the schema (it is listed in
/// openapi/unmapped_snapshots.toml); the whole answer is checked instead, by
/// [`assert_matches_the_document`], before it is summarised.
fn summarize(r: &Reply) -> Value {
    assert_matches_the_document(r);
    let mut v = r.exchange(HEADERS);
    v.as_object_mut().unwrap().shift_remove("request");
    let all = v["body"].as_object().unwrap().clone();
    let keys: Vec<&String> = all.keys().collect();
    let mut short = Map::new();
    for k in keys
        .iter()
        .take(8)
        .chain(keys.iter().skip(keys.len().saturating_sub(2)))
    {
        short.insert(k.to_string(), all[k.as_str()].clone());
    }
    short.insert("(fields)".into(), json!(all.len()));
    v["body"] = Value::Object(short);
    v
}

#[tokio::test]
async fn a_known_user_gets_featurization_completed_with_the_documented_frame() {
    let s = TestServer::start().await;
    let r = s.post_json(INSIGHTS, AUTH, &body("user-1")).await;
    insta::assert_json_snapshot!(summarize(&r));
    let v = r.json();
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(&keys[..3], ["user_id", "request_id", "data_requested_time"]);
    assert_eq!(&keys[keys.len() - 2..], ["message", "data_processed_time"]);
    assert!(
        (2500..=3500).contains(&(keys.len() - 5)),
        "about 3000 features, got {}",
        keys.len() - 5
    );
}

#[tokio::test]
async fn features_are_consistent_and_deterministic_per_user() {
    let s = TestServer::start().await;
    let a = s.post_json(INSIGHTS, AUTH, &body("user-2")).await.json();
    let b = s.post_json(ASYNC, AUTH, &body("user-2")).await.json();
    let n = |v: &Value, k: &str| v[k].as_i64().unwrap_or_else(|| panic!("{k} is an integer"));
    assert!(n(&a, "txn_sms_count_nlp") <= n(&a, "all_sms_count_nlp"));
    assert!(
        n(&a, "credit_sms_count_nlp") + n(&a, "debit_sms_count_nlp") <= n(&a, "txn_sms_count_nlp")
    );
    assert!(n(&a, "bank_sms_count_30d") <= n(&a, "bank_sms_count_60d"));
    for k in [
        "all_sms_count_nlp",
        "txn_sms_count_nlp",
        "credit_sms_count_nlp",
        "credeau_payday_score",
        "fraud_flag",
    ] {
        assert_eq!(a[k], b[k], "{k} differs between calls");
    }
    assert_ne!(
        a["request_id"], b["request_id"],
        "every call gets its own request id"
    );
    let id = a["request_id"].as_str().unwrap();
    assert!(
        id.len() == 32
            && id
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c)),
        "{id}"
    );
}

#[tokio::test]
async fn timestamps_use_the_documented_format_from_the_mock_clock() {
    let s = TestServer::start().await;
    s.advance(3600).await;
    let v = s.post_json(INSIGHTS, AUTH, &body("user-3")).await.json();
    assert_eq!(v["data_processed_time"], "2026-01-15 11:00:00");
    let requested = v["data_requested_time"].as_str().unwrap();
    assert!(
        requested.starts_with("2026-01-15 10:59:5"),
        "processing took a few seconds: {requested}"
    );
}

/// A clock frozen in a leap second (`--frozen-clock 2016-12-31T23:59:60Z`) gives the
/// `:60` that chrono writes and every other vendor answers, not the `:59` of the
/// hand-written digits Credeau used to give it.
#[tokio::test]
async fn a_leap_second_is_written_as_second_60() {
    let s = TestServer::frozen_at("2016-12-31T23:59:60Z").await;
    for path in [INSIGHTS, ASYNC] {
        let v = s.post_json(path, AUTH, &body("user-3")).await.json();
        assert_eq!(v["data_processed_time"], "2016-12-31 23:59:60", "{path}");
    }
}

#[tokio::test]
async fn the_async_endpoint_answers_202_while_pending_then_200() {
    let s = TestServer::start().await;
    let first = s.post_json(ASYNC, AUTH, &body("pending-1")).await;
    insta::assert_json_snapshot!(first.exchange(HEADERS));
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-1")).await.status,
        202
    );
    let done = s.post_json(ASYNC, AUTH, &body("pending-1")).await;
    assert_eq!(done.status, 200);
    assert_eq!(done.json()["message"], "featurization completed");
}

#[tokio::test]
async fn the_sync_endpoint_never_answers_202() {
    let s = TestServer::start().await;
    for _ in 0..3 {
        let r = s.post_json(INSIGHTS, AUTH, &body("pending-2")).await;
        assert_eq!(r.status, 200);
        assert_eq!(r.json()["message"], "featurization completed");
    }
}

#[tokio::test]
async fn notfound_and_nodata_users_get_user_not_found_with_status_200() {
    let s = TestServer::start().await;
    let r = s.post_json(INSIGHTS, AUTH, &body("notfound-1")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let r = s.post_json(ASYNC, AUTH, &body("nodata-1")).await;
    assert_eq!(
        (r.status, r.json()["message"].as_str()),
        (200, Some("user not found"))
    );
}

#[tokio::test]
async fn wrong_or_missing_credentials_get_401_with_a_fresh_request_id() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            INSIGHTS,
            &[("x-client-id", "test-client"), ("x-auth-token", "wrong")],
            &body("u"),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let again = s.post_json(INSIGHTS, &[], &body("u")).await;
    assert_eq!(again.status, 401);
    assert_ne!(
        r.json(),
        again.json(),
        "each refusal has its own request id"
    );
    let msg = again.json()["error"].as_str().unwrap().to_string();
    assert!(msg.starts_with("Could not validate credentials. (request_id=") && msg.ends_with("). It has been logged successfully on our servers. Please contact us with the request_id for assistance."));
}

#[tokio::test]
async fn a_body_client_id_other_than_the_header_is_refused() {
    let s = TestServer::start().await;
    let r = s.post_json(INSIGHTS, AUTH, &json!({"user_id": "u", "client_id": "someone-else", "groupings": ["sms", "fraud", "extracted_sms"]})).await;
    assert_eq!(r.status, 401);
}

#[tokio::test]
async fn missing_fields_get_fastapis_422_listing_each_with_the_input() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            INSIGHTS,
            AUTH,
            &json!({"client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let r = s.post_json(INSIGHTS, AUTH, &json!({})).await;
    let locs: Vec<Value> = r.json()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["loc"].clone())
        .collect();
    assert_eq!(
        locs,
        [
            json!(["body", "user_id"]),
            json!(["body", "client_id"]),
            json!(["body", "groupings"])
        ]
    );
}

#[tokio::test]
async fn wrong_types_and_malformed_json_get_422_in_fastapis_shape() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            INSIGHTS,
            AUTH,
            &json!({"user_id": 7, "client_id": "test-client", "groupings": "sms"}),
        )
        .await;
    insta::assert_json_snapshot!("wrong_types", r.exchange(HEADERS));
    let r = s
        .request(
            "POST",
            INSIGHTS,
            &[AUTH[0], AUTH[1], ("content-type", "application/json")],
            r#"{"user_id": "u", "client_id": }"#,
        )
        .await;
    insta::assert_json_snapshot!("malformed_json", r.exchange(HEADERS));
}

#[tokio::test]
async fn a_body_valid_but_for_an_extra_field_the_parser_rejects_still_gets_422() {
    let s = TestServer::start().await;
    let headers = &[AUTH[0], AUTH[1], ("content-type", "application/json")];
    let ok = r#"{"user_id":"u","client_id":"test-client","groupings":["sms"],"x":1}"#;
    assert_eq!(s.request("POST", INSIGHTS, headers, ok).await.status, 200);
    let out_of_range = r#"{"user_id":"u","client_id":"test-client","groupings":["sms"],"x":1e400}"#;
    let r = s.request("POST", INSIGHTS, headers, out_of_range).await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "json_invalid");
}

#[tokio::test]
async fn groupings_other_than_the_documented_three_give_a_partial_answer_and_a_warning() {
    let s = TestServer::start().await;
    let full = s.post_json(INSIGHTS, AUTH, &body("user-4")).await;
    assert!(full.header("x-vendor-mock-warning").is_none());
    let partial = s
        .post_json(
            INSIGHTS,
            AUTH,
            &json!({"user_id": "user-4", "client_id": "test-client", "groupings": ["sms"]}),
        )
        .await;
    assert_eq!(partial.status, 200);
    let warning = partial
        .header("x-vendor-mock-warning")
        .expect("a warning header");
    assert!(warning.contains("sms"), "{warning}");
    let (f, p) = (full.json(), partial.json());
    assert!(p.as_object().unwrap().len() < f.as_object().unwrap().len());
    assert_eq!(
        p["all_sms_count_nlp"], f["all_sms_count_nlp"],
        "the sms features are the same"
    );
    assert!(p.get("fraud_flag").is_none(), "fraud features are missing");
    let none = s
        .post_json(
            INSIGHTS,
            AUTH,
            &json!({"user_id": "user-4", "client_id": "test-client", "groupings": []}),
        )
        .await;
    assert_eq!(none.json().as_object().unwrap().len(), 5, "only the frame");
}

#[tokio::test]
async fn unknown_paths_get_the_nginx_403_page() {
    let s = TestServer::start().await;
    let r = s.post_json("/credeau/api/insight", AUTH, &body("u")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn a_known_path_with_the_wrong_method_gets_405() {
    let s = TestServer::start().await;
    let r = s.get(INSIGHTS).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn health_answers_200_without_credentials() {
    let s = TestServer::start().await;
    let r = s.get("/credeau/health").await;
    assert_eq!((r.status, r.json()), (200, json!({"status": "ok"})));
}

#[tokio::test]
async fn addresses_outside_allowed_ips_get_the_403_page() {
    let only_elsewhere = "vendor = \"credeau\"\nallowed_ips = [\"10.0.0.0/8\"]\n";
    let s = TestServer::with_scenarios(&[("credeau.toml", only_elsewhere)]).await;
    let r = s.post_json(INSIGHTS, AUTH, &body("u")).await;
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<center><h1>403 Forbidden</h1></center>"));
    let local = "vendor = \"credeau\"\nallowed_ips = [\"127.0.0.1\"]\n";
    let s = TestServer::with_scenarios(&[("credeau.toml", local)]).await;
    assert_eq!(s.post_json(INSIGHTS, AUTH, &body("u")).await.status, 200);
}

#[tokio::test]
async fn ratelimited_users_get_two_429_pages_then_success() {
    let s = TestServer::start().await;
    let first = s.post_json(INSIGHTS, AUTH, &body("ratelimited-1")).await;
    insta::assert_json_snapshot!(first.exchange(HEADERS));
    assert_eq!(
        s.post_json(INSIGHTS, AUTH, &body("ratelimited-1"))
            .await
            .status,
        429
    );
    assert_eq!(
        s.post_json(INSIGHTS, AUTH, &body("ratelimited-1"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn flaky_users_get_two_502s_then_success() {
    let s = TestServer::start().await;
    let first = s.post_json(ASYNC, AUTH, &body("flaky-1")).await;
    insta::assert_json_snapshot!(first.exchange(HEADERS));
    assert_eq!(s.post_json(ASYNC, AUTH, &body("flaky-1")).await.status, 502);
    assert_eq!(s.post_json(ASYNC, AUTH, &body("flaky-1")).await.status, 200);
}

#[tokio::test]
async fn slow_users_still_get_their_answer() {
    // The 3 s delay is real time; this only checks the answer arrives intact.
    let s = TestServer::start().await;
    let r = s.post_json(INSIGHTS, AUTH, &body("slow-1")).await;
    assert_eq!(
        (r.status, r.header("x-vendor-mock-scenario")),
        (200, Some("slow"))
    );
}

#[tokio::test]
async fn extracted_sms_records_agree_with_the_features() {
    let s = TestServer::start().await;
    let features = s.post_json(INSIGHTS, AUTH, &body("user-5")).await.json();
    let r = s
        .post_json(
            EXTRACT,
            AUTH,
            &json!({"user_id": "user-5", "client_id": "test-client"}),
        )
        .await;
    assert_eq!(r.status, 200);
    let records = r.json()["extracted_sms_data"].as_array().unwrap().clone();
    let count = |t: &str| {
        records
            .iter()
            .filter(|r| r["transaction_type"] == t)
            .count() as i64
    };
    assert_eq!(
        records.len() as i64,
        features["txn_sms_count_nlp"].as_i64().unwrap()
    );
    assert_eq!(
        count("credit-transaction"),
        features["credit_sms_count_nlp"].as_i64().unwrap()
    );
    assert_eq!(
        count("debit-transaction"),
        features["debit_sms_count_nlp"].as_i64().unwrap()
    );
    let dates: Vec<&str> = records
        .iter()
        .map(|r| r["sms_inbox_date"].as_str().unwrap())
        .collect();
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "newest first");
    let mut first = records[0].clone();
    for k in [
        "sms_body",
        "sms_sender",
        "transaction",
        "transaction_party",
        "transaction_type",
        "sms_type",
        "sms_sub_type",
        "sms_nlp_tag",
        "is_extracted",
        "is_transactional",
        "transaction_nlp",
    ] {
        first.as_object_mut().unwrap().remove(k);
    }
    let keys: Vec<&String> = records[0].as_object().unwrap().keys().collect();
    insta::assert_json_snapshot!("extracted_record_keys", keys);
}

#[tokio::test]
async fn cnt_sms_threshold_caps_the_records_returned() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            EXTRACT,
            AUTH,
            &json!({"user_id": "user-6", "client_id": "test-client", "cnt_sms_threshold": 3}),
        )
        .await;
    assert_eq!(r.json()["extracted_sms_data"].as_array().unwrap().len(), 3);
    let r = s
        .post_json(
            EXTRACT,
            AUTH,
            &json!({"user_id": "user-6", "client_id": "test-client", "cnt_sms_threshold": "2"}),
        )
        .await;
    assert_eq!(
        r.json()["extracted_sms_data"].as_array().unwrap().len(),
        2,
        "pydantic accepts numeric strings"
    );
    let r = s
        .post_json(
            EXTRACT,
            AUTH,
            &json!({"user_id": "user-6", "client_id": "test-client", "cnt_sms_threshold": "many"}),
        )
        .await;
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["detail"][0]["type"], "int_parsing");
}

#[tokio::test]
async fn extracted_data_for_an_unknown_user_is_an_empty_list() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            EXTRACT,
            AUTH,
            &json!({"user_id": "notfound-9", "client_id": "test-client"}),
        )
        .await;
    assert_eq!(
        (r.status, r.json()),
        (200, json!({"extracted_sms_data": []}))
    );
}

#[tokio::test]
async fn credeaus_own_python_examples_pass_against_the_mock() {
    if !crate::support::python_has(Some("requests")) {
        return;
    }
    let s = TestServer::start().await;
    crate::support::run_client("credeau_client.py", vec![format!("{}/credeau", s.base)]).await;
}

#[tokio::test]
async fn the_cached_and_the_patchable_renderings_give_the_same_bytes() {
    // An empty patch forces the answer through the JSON value a patch applies to;
    // without one it is assembled from the cached feature fragment.
    let through_json = "vendor = \"credeau\"\n[[scenario]]\nname = \"as-json\"\nid_prefix = \"user-\"\nsteps = [{ outcome = \"completed\", patch = {} }]\n";
    let plain = TestServer::start().await;
    let patched = TestServer::with_scenarios(&[("json.toml", through_json)]).await;
    let cases = [
        ("user-7", json!(["sms", "fraud", "extracted_sms"])),
        ("user-7", json!(["fraud"])),
        // Characters JSON must escape, and one it need not.
        (
            "user-\"q\" \\ \t é",
            json!(["sms", "fraud", "extracted_sms"]),
        ),
        // Again: answered from the cache (the features and the processing delay).
        ("user-7", json!(["sms", "fraud", "extracted_sms"])),
    ];
    for (user, groupings) in cases {
        let b = json!({"user_id": user, "client_id": "test-client", "groupings": groupings});
        let a = plain.post_json(INSIGHTS, AUTH, &b).await;
        let p = patched.post_json(INSIGHTS, AUTH, &b).await;
        assert_eq!(p.header("x-vendor-mock-scenario"), Some("as-json"));
        assert!(
            a.body == p.body,
            "the two renderings differ for groupings {groupings}"
        );
        assert_eq!(a.header("content-length"), p.header("content-length"));
    }
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    crate::support::assert_openapi_document_validates("credeau");
}

/// A user copying an example from `openapi/credeau.yaml` gets what its summary promises:
/// Credeau's own sample (its placeholder `client_id` is not the header's) the 401, every
/// other example the scenario its `user_id` names.
#[tokio::test]
async fn every_request_example_of_the_openapi_document_gets_the_answer_it_describes() {
    let Some(doc) = crate::support::openapi_document("credeau") else {
        return;
    };
    let examples = crate::support::openapi_request_examples(&doc);
    assert!(examples.len() >= 10, "{} examples", examples.len());
    let s = TestServer::start().await;
    for (path, name, body) in examples {
        let r = s.post_json(&format!("/credeau{path}"), AUTH, &body).await;
        if name == "vendorDocument" {
            assert_eq!(r.status, 401, "{path} {name}: {}", r.text());
            continue;
        }
        let user = body["user_id"].as_str().expect("examples name a user");
        assert!(
            [200, 202, 429, 502].contains(&r.status),
            "{path} {name}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(
            r.header("x-vendor-mock-scenario"),
            Some(crate::support::shipped_scenario_of(user)),
            "{path} {name}"
        );
    }
}
