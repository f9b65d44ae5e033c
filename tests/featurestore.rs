//! Vertex AI Feature Store (legacy) over HTTP, and the FinScore ingestion flow end to end.

use serde_json::{json, Map, Value};

use crate::support::{Reply, TestServer};

const HEADERS: &[&str] = &["content-type", "x-vendor-mock-scenario", "www-authenticate"];
const AUTH: &[(&str, &str)] = &[("authorization", "Bearer ya29.test-token")];
const LOC: &str = "/featurestore/v1/projects/test-project/locations/asia-southeast1";
const ET: &str = "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features";
const ET_NAME: &str = "projects/test-project/locations/asia-southeast1/featurestores/finscore_fs/entityTypes/score_features";

async fn write(s: &TestServer, body: &Value) -> Reply {
    s.post_json(&format!("{ET}:writeFeatureValues"), AUTH, body)
        .await
}

async fn read(s: &TestServer, entity: &str, ids: &[&str]) -> Reply {
    s.post_json(
        &format!("{ET}:readFeatureValues"),
        AUTH,
        &json!({"entityId": entity, "featureSelector": {"idMatcher": {"ids": ids}}}),
    )
    .await
}

async fn get(s: &TestServer, path: &str) -> Reply {
    s.get_with(path, AUTH).await
}

#[tokio::test]
async fn the_default_scenario_precreates_the_finscore_entity_type_with_string_features() {
    let s = TestServer::start().await;
    let fs = get(&s, &format!("{LOC}/featurestores/finscore_fs")).await;
    assert_eq!(fs.status, 200, "{}", fs.text());
    let features = get(&s, &format!("{ET}/features")).await;
    insta::assert_json_snapshot!(features.exchange(HEADERS));
}

#[tokio::test]
async fn creating_resources_answers_completed_operations_that_can_be_fetched_again() {
    let s = TestServer::start().await;
    let fs = s
        .post_json(
            &format!("{LOC}/featurestores?featurestoreId=loans_fs"),
            AUTH,
            &json!({"onlineServingConfig": {"fixedNodeCount": 1}, "labels": {"team": "risk"}}),
        )
        .await;
    insta::assert_json_snapshot!("create_featurestore", fs.exchange(HEADERS));
    let op = fs.json()["name"].as_str().unwrap().to_string();
    let again = get(&s, &format!("/featurestore/v1/{op}")).await;
    assert_eq!(again.json(), fs.json());

    let fs_path = format!("{LOC}/featurestores/loans_fs");
    let et = s
        .post_json(
            &format!("{fs_path}/entityTypes?entityTypeId=applicants"),
            AUTH,
            &json!({"description": "loan applicants"}),
        )
        .await;
    assert_eq!(et.status, 200, "{}", et.text());
    assert_eq!(et.json()["done"], true);
    let f = s
        .post_json(
            &format!("{fs_path}/entityTypes/applicants/features?featureId=age"),
            AUTH,
            &json!({"valueType": "INT64", "description": "age in years"}),
        )
        .await;
    insta::assert_json_snapshot!("create_feature", f.exchange(HEADERS));

    let got = get(
        &s,
        &format!("{fs_path}/entityTypes/applicants/features/age"),
    )
    .await;
    assert_eq!(got.json()["valueType"], "INT64");
    let list = get(&s, &format!("{LOC}/featurestores")).await.json();
    let names: Vec<&str> = list["featurestores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "projects/test-project/locations/asia-southeast1/featurestores/finscore_fs",
            "projects/test-project/locations/asia-southeast1/featurestores/loans_fs"
        ]
    );
    let ets = get(&s, &format!("{fs_path}/entityTypes")).await.json();
    assert_eq!(ets["entityTypes"][0]["description"], "loan applicants");
}

#[tokio::test]
async fn lists_page_with_page_size_and_page_token() {
    let s = TestServer::start().await;
    let first = get(&s, &format!("{ET}/features?pageSize=4")).await.json();
    assert_eq!(first["features"].as_array().unwrap().len(), 4);
    let token = first["nextPageToken"].as_str().unwrap();
    let rest = get(&s, &format!("{ET}/features?pageSize=100&pageToken={token}"))
        .await
        .json();
    assert_eq!(rest["features"].as_array().unwrap().len(), 7);
    assert!(rest.get("nextPageToken").is_none());
    let empty = get(
        &s,
        &format!(
            "{LOC}/featurestores/finscore_fs/entityTypes/score_features/features?pageToken=zz"
        ),
    )
    .await;
    assert_eq!(empty.status, 400);
}

#[tokio::test]
async fn creating_a_resource_twice_is_already_exists() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            &format!("{ET}/features?featureId=code"),
            AUTH,
            &json!({"valueType": "STRING"}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn invalid_ids_are_invalid_arguments() {
    let s = TestServer::start().await;
    let long = "a".repeat(61);
    for id in ["Loans", "1loans", "loans-fs", "", long.as_str()] {
        let r = s
            .post_json(
                &format!("{LOC}/featurestores?featurestoreId={id}"),
                AUTH,
                &json!({}),
            )
            .await;
        assert_eq!(r.status, 400, "{id}: {}", r.text());
        assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    }
    let r = s
        .post_json(
            &format!("{LOC}/featurestores?featurestoreId=1loans"),
            AUTH,
            &json!({}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let f = s
        .post_json(
            &format!("{ET}/features?featureId=TimeWithSmart"),
            AUTH,
            &json!({"valueType": "STRING"}),
        )
        .await;
    assert_eq!(f.status, 400);
    let no_type = s
        .post_json(
            &format!("{ET}/features?featureId=new_one"),
            AUTH,
            &json!({}),
        )
        .await;
    assert_eq!(no_type.status, 400);
    let bad_type = s
        .post_json(
            &format!("{ET}/features?featureId=new_one"),
            AUTH,
            &json!({"valueType": "TEXT"}),
        )
        .await;
    assert_eq!(bad_type.status, 400);
}

#[tokio::test]
async fn unknown_resources_are_not_found() {
    let s = TestServer::start().await;
    let r = get(&s, &format!("{LOC}/featurestores/nope")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let et = s
        .post_json(
            &format!("{LOC}/featurestores/nope/entityTypes?entityTypeId=x"),
            AUTH,
            &json!({}),
        )
        .await;
    assert_eq!(et.status, 404);
    let w = s
        .post_json(
            &format!("{LOC}/featurestores/finscore_fs/entityTypes/nope:writeFeatureValues"),
            AUTH,
            &json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": "0000"}}}]}),
        )
        .await;
    assert_eq!(w.json()["error"]["status"], "NOT_FOUND");
    let unknown_feature = write(
        &s,
        &json!({"payloads": [{"entityId": "e", "featureValues": {"colour": {"stringValue": "red"}}}]}),
    )
    .await;
    assert_eq!(unknown_feature.status, 404, "{}", unknown_feature.text());
    assert_eq!(read(&s, "e", &["colour"]).await.status, 404);
    assert_eq!(
        get(&s, &format!("{LOC}/featurestores/finscore_fs/operations/1"))
            .await
            .status,
        404
    );
    // A path Google does not serve at all.
    let other = get(
        &s,
        "/featurestore/v1/projects/p/locations/l/featurestores/x/other",
    )
    .await;
    assert_eq!(other.status, 404);
    assert_eq!(other.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn a_missing_bearer_token_gets_googles_401() {
    let s = TestServer::start().await;
    let r = s.get(&format!("{LOC}/featurestores")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let empty = s
        .get_with(
            &format!("{LOC}/featurestores"),
            &[("authorization", "Bearer ")],
        )
        .await;
    assert_eq!(empty.status, 401);
}

#[tokio::test]
async fn written_values_are_read_back_with_their_generate_time() {
    let s = TestServer::start().await;
    let w = write(
        &s,
        &json!({"payloads": [
            {"entityId": "639181234567", "featureValues": {"code": {"stringValue": "0000"}, "score": {"stringValue": "512"}}},
            {"entity_id": "639191234567", "feature_values": {"code": {"string_value": "1000"}}},
        ]}),
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.text());
    assert_eq!(w.json(), json!({}));
    s.advance(60).await;
    let r = read(&s, "639181234567", &["code", "score", "band"]).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn a_later_write_replaces_a_value_and_keeps_the_others() {
    let s = TestServer::start().await;
    let one = |f: &str, v: &str| json!({"payloads": [{"entityId": "e1", "featureValues": {f: {"stringValue": v}}}]});
    write(&s, &one("code", "0000")).await;
    write(&s, &one("band", "4")).await;
    write(&s, &one("code", "1000")).await;
    let r = read(&s, "e1", &["*"]).await.json();
    let data = r["entityView"]["data"].as_array().unwrap();
    assert_eq!(data.len(), 11);
    assert_eq!(data[0]["value"]["stringValue"], "1000");
    assert_eq!(data[2]["value"]["stringValue"], "4");
    assert_eq!(data[1], json!({}));
}

#[tokio::test]
async fn streaming_read_answers_a_header_then_one_view_per_entity() {
    let s = TestServer::start().await;
    write(
        &s,
        &json!({"payloads": [{"entityId": "a", "featureValues": {"code": {"stringValue": "0000"}}}]}),
    )
    .await;
    let r = s
        .post_json(
            &format!("{ET}:streamingReadFeatureValues"),
            AUTH,
            &json!({"entityIds": ["a", "never-written"], "featureSelector": {"idMatcher": {"ids": ["code"]}}}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn values_of_the_wrong_type_are_refused_and_nothing_is_stored() {
    let s = TestServer::start().await;
    let r = write(
        &s,
        &json!({"payloads": [{"entityId": "e2", "featureValues": {"code": {"stringValue": "0000"}, "score": {"int64Value": "512"}}}]}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let back = read(&s, "e2", &["code"]).await.json();
    assert_eq!(back["entityView"]["data"][0], json!({}));
}

#[tokio::test]
async fn malformed_value_calls_are_invalid_arguments_and_never_panic() {
    let s = TestServer::start().await;
    let bodies = [
        json!({}),
        json!({"payloads": []}),
        json!({"payloads": {}}),
        json!({"payloads": [1]}),
        json!({"payloads": [{"featureValues": {"code": {"stringValue": "x"}}}]}),
        json!({"payloads": [{"entityId": "e"}]}),
        json!({"payloads": [{"entityId": "e", "featureValues": {}}]}),
        json!({"payloads": [{"entityId": "e", "featureValues": {"code": "0000"}}]}),
        json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": "x"}}, "extra": 1}]}),
        json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": "x", "metadata": {"generateTime": "2015-01-01T00:00:00Z"}}}}]}),
        json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": "x"}}}], "entityType": "projects/x"}),
        json!({"entityIds": ["e"]}),
        json!([1]),
    ];
    for b in bodies {
        let r = write(&s, &b).await;
        assert_eq!(r.status, 400, "{b}: {}", r.text());
        assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT", "{b}");
    }
    let garbage = s
        .request(
            "POST",
            &format!("{ET}:writeFeatureValues"),
            AUTH,
            "{\"payloads\": [",
        )
        .await;
    assert_eq!(garbage.status, 400);
    for b in [
        json!({"entityId": "e"}),
        json!({"featureSelector": {"idMatcher": {"ids": ["*"]}}}),
        json!({"entityId": "e", "featureSelector": {"idMatcher": {"ids": []}}}),
    ] {
        let r = s
            .post_json(&format!("{ET}:readFeatureValues"), AUTH, &b)
            .await;
        assert_eq!(r.status, 400, "{b}: {}", r.text());
    }
    let r = s
        .post_json(
            &format!("{ET}:streamingReadFeatureValues"),
            AUTH,
            &json!({"entityIds": [], "featureSelector": {"idMatcher": {"ids": ["*"]}}}),
        )
        .await;
    assert_eq!(r.status, 400);
    let wrong_method = get(&s, &format!("{ET}:writeFeatureValues")).await;
    assert_eq!(wrong_method.status, 404);
}

#[tokio::test]
async fn admin_reset_forgets_values_and_created_resources_but_keeps_the_precreated_ones() {
    let s = TestServer::start().await;
    write(
        &s,
        &json!({"payloads": [{"entityId": "e3", "featureValues": {"code": {"stringValue": "0000"}}}]}),
    )
    .await;
    s.post_json(
        &format!("{LOC}/featurestores?featurestoreId=tmp_fs"),
        AUTH,
        &json!({}),
    )
    .await;
    assert_eq!(
        s.post_json("/__admin/reset", &[], &json!({})).await.status,
        200
    );
    assert_eq!(
        read(&s, "e3", &["code"]).await.json()["entityView"]["data"][0],
        json!({})
    );
    assert_eq!(
        get(&s, &format!("{LOC}/featurestores/tmp_fs")).await.status,
        404
    );
    assert_eq!(get(&s, &format!("{ET}/features/code")).await.status, 200);
}

#[tokio::test]
async fn writes_are_visible_in_the_journal() {
    let s = TestServer::start().await;
    write(
        &s,
        &json!({"payloads": [{"entityId": "639181234567", "featureValues": {"code": {"stringValue": "0000"}, "band": {"stringValue": "4"}}}]}),
    )
    .await;
    let j = s.journal("?vendor=featurestore").await;
    let last = j.last().unwrap();
    assert_eq!(last["entity"], "639181234567");
    assert_eq!(
        last["note"],
        "stored 2 feature values: 639181234567 {code=0000, band=4}"
    );
    assert!(last["body"]
        .as_str()
        .unwrap()
        .contains("\"stringValue\":\"0000\""));
}

#[tokio::test]
async fn a_flaky_entity_gets_two_503s_then_the_write_lands() {
    let s = TestServer::start().await;
    let body = json!({"payloads": [{"entityId": "flaky-1", "featureValues": {"code": {"stringValue": "0000"}}}]});
    let first = write(&s, &body).await;
    assert_eq!(first.json()["error"]["status"], "UNAVAILABLE");
    assert_eq!(read(&s, "flaky-1", &["code"]).await.status, 503);
    assert_eq!(write(&s, &body).await.status, 200);
    assert_eq!(
        read(&s, "flaky-1", &["code"]).await.json()["entityView"]["data"][0]["value"]
            ["stringValue"],
        "0000"
    );
}

#[tokio::test]
async fn a_ratelimited_entity_gets_two_429s() {
    let s = TestServer::start().await;
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(read(&s, "ratelimited-1", &["*"]).await.status);
    }
    assert_eq!(got, [429, 429, 200]);
}

#[tokio::test]
async fn the_entity_types_of_the_scenario_file_replace_the_default() {
    let s = TestServer::with_scenarios(&[(
        "featurestore.toml",
        r#"
vendor = "featurestore"

[[entity_type]]
name = "projects/p/locations/us-central1/featurestores/fs/entityTypes/users"
value_type = "INT64"
features = ["age"]
"#,
    )])
    .await;
    let base =
        "/featurestore/v1/projects/p/locations/us-central1/featurestores/fs/entityTypes/users";
    let w = s
        .post_json(
            &format!("{base}:writeFeatureValues"),
            AUTH,
            &json!({"payloads": [{"entityId": "u", "featureValues": {"age": {"int64Value": 41}}}]}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text());
    let r = s
        .post_json(
            &format!("{base}:readFeatureValues"),
            AUTH,
            &json!({"entityId": "u", "featureSelector": {"idMatcher": {"ids": ["age"]}}}),
        )
        .await
        .json();
    assert_eq!(r["entityView"]["data"][0]["value"]["int64Value"], "41");
    assert_eq!(
        get(&s, &format!("{LOC}/featurestores/finscore_fs"))
            .await
            .status,
        404
    );
}

/// finscore-featurestore.txt's job: a FinScore answer becomes STRING features of
/// `score_features` (the response code kept as feature `code`), written and read back.
#[tokio::test]
async fn a_finscore_answer_is_ingested_as_string_features_and_read_back() {
    let s = TestServer::start().await;
    let number = "639181234567";
    let token = crate::finscore::token(&s).await;
    let answer = crate::finscore::score(
        &s,
        &token,
        &json!({"mobilenumber": number, "productids": "10;20;30;40", "guarantornumber": "639191234567"}),
    )
    .await
    .json();
    assert_eq!(answer["code"], "0000");

    let features = to_features(&answer);
    let ids: Vec<&str> = features.keys().map(String::as_str).collect();
    assert_eq!(
        ids,
        [
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
            "avg_daily_activities"
        ]
    );
    let values: Map<String, Value> = features
        .iter()
        .map(|(k, v)| (k.clone(), json!({ "stringValue": v })))
        .collect();
    let w = write(
        &s,
        &json!({"payloads": [{"entityId": number, "featureValues": values}]}),
    )
    .await;
    assert_eq!(w.status, 200, "{}", w.text());

    let back = read(&s, number, &["*"]).await.json();
    let header: Vec<&str> = back["header"]["featureDescriptors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(header, ids);
    let read: Vec<&str> = back["entityView"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["value"]["stringValue"].as_str().unwrap())
        .collect();
    let written: Vec<&str> = features.values().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(read, written);
    assert_eq!(back["entityView"]["entityId"], number);
    assert_eq!(back["header"]["entityType"], ET_NAME);
}

/// The conversion finscore-featurestore.txt describes: every answer value as a STRING,
/// `code` kept, the profile keys in snake_case (feature ids allow only `[a-z0-9_]`).
fn to_features(answer: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    out.insert("code".into(), json!(text(&answer["code"])));
    if let Some(pairs) = answer["scores"]["10"].as_array() {
        for p in pairs {
            out.insert(text(&p[0]), json!(text(&p[1])));
        }
    }
    if let Some(v) = answer["address_check"]["20"].as_str() {
        out.insert("address_check".into(), json!(v));
    }
    if let Some(v) = answer["msisdn_check"]["30"].as_str() {
        out.insert("msisdn_check".into(), json!(v));
    }
    for p in answer["customer_profile"].as_array().into_iter().flatten() {
        out.insert(snake(p[0].as_str().unwrap()), json!(text(&p[1])));
    }
    out.into_iter()
        .map(|(k, v)| (k, Value::String(text(&v))))
        .collect()
}

fn snake(key: &str) -> String {
    let mut s = String::new();
    for (i, c) in key.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                s.push('_');
            }
            s.push(c.to_ascii_lowercase());
        } else {
            s.push(c);
        }
    }
    s
}

#[tokio::test]
async fn clients_asking_for_integer_enums_get_and_may_send_numbers() {
    let s = TestServer::start().await;
    let q = "%24alt=json%3Benum-encoding%3Dint";
    let f = s
        .post_json(
            &format!("{ET}/features?featureId=extra&{q}"),
            AUTH,
            &json!({"valueType": 9}),
        )
        .await;
    assert_eq!(f.status, 200, "{}", f.text());
    assert_eq!(f.json()["response"]["valueType"], 9);
    let named = get(&s, &format!("{ET}/features/extra")).await.json();
    assert_eq!(named["valueType"], "INT64");
    let fs = get(&s, &format!("{LOC}/featurestores/finscore_fs?{q}"))
        .await
        .json();
    assert_eq!(fs["state"], 1);
    let bad = s
        .post_json(
            &format!("{ET}/features?featureId=other"),
            AUTH,
            &json!({"valueType": 5}),
        )
        .await;
    assert_eq!(bad.status, 400);
}

// ---- The SDK's surface beyond the everyday path (issue 13) ----

const FS: &str = "/featurestore/v1/projects/test-project/locations/asia-southeast1/featurestores";

async fn send_json(s: &TestServer, method: &str, path: &str, body: &Value) -> Reply {
    let h = [AUTH[0], ("content-type", "application/json")];
    s.request(method, path, &h, serde_json::to_vec(body).unwrap())
        .await
}

async fn create_fs(s: &TestServer, id: &str, body: &Value) -> Reply {
    send_json(s, "POST", &format!("{FS}?featurestoreId={id}"), body).await
}

/// Create featurestore `id` with an online store of one node.
async fn create_online_fs(s: &TestServer, id: &str) -> Reply {
    create_fs(
        s,
        id,
        &json!({"onlineServingConfig": {"fixedNodeCount": 1}}),
    )
    .await
}

/// Create entity type `et` (no fields set) in featurestore `fs`.
async fn create_et(s: &TestServer, fs: &str, et: &str) -> Reply {
    let path = format!("{FS}/{fs}/entityTypes?entityTypeId={et}");
    send_json(s, "POST", &path, &json!({})).await
}

/// Create feature `id` of `value_type` in the entity type at `et_path`.
async fn create_feature(s: &TestServer, et_path: &str, id: &str, value_type: &str) -> Reply {
    let path = format!("{et_path}/features?featureId={id}");
    send_json(s, "POST", &path, &json!({ "valueType": value_type })).await
}

/// An operation's name as a path below the vendor prefix, under `/v1/` or `/ui/`.
fn op_path(op: &Reply, version: &str) -> String {
    let name = op.json()["name"].as_str().unwrap().to_string();
    format!("/featurestore/{version}/{name}")
}

#[tokio::test]
async fn operations_are_served_under_ui_as_well_as_v1() {
    let s = TestServer::start().await;
    let fs = create_online_fs(&s, "ops_fs").await;
    let et = create_et(&s, "ops_fs", "users").await;
    let f = create_feature(
        &s,
        &format!("{FS}/ops_fs/entityTypes/users"),
        "age",
        "INT64",
    )
    .await;
    for op in [&fs, &et, &f] {
        assert_eq!(op.status, 200, "{}", op.text());
        for version in ["v1", "ui"] {
            let again = get(&s, &op_path(op, version)).await;
            assert_eq!(again.json(), op.json(), "{version}");
        }
    }
    assert!(f.json()["name"]
        .as_str()
        .unwrap()
        .contains("/entityTypes/users/features/age/operations/"));
}

#[tokio::test]
async fn a_pending_create_stays_running_for_30_mock_seconds_then_its_poll_finds_it_done() {
    let s = TestServer::start().await;
    let body = json!({"onlineServingConfig": {"fixedNodeCount": 1}, "labels": {"team": "risk"}});
    let started = create_fs(&s, "pending_fs", &body).await;
    insta::assert_json_snapshot!("pending_create_running", started.exchange(HEADERS));
    let poll = op_path(&started, "ui");

    // Not visible while running, but its name is taken.
    assert_eq!(get(&s, &format!("{FS}/pending_fs")).await.status, 404);
    assert_eq!(create_fs(&s, "pending_fs", &body).await.status, 409);
    s.advance(29).await;
    let still = get(&s, &poll).await;
    assert_eq!(still.json(), started.json());
    assert_eq!(still.header("x-vendor-mock-scenario"), Some("pending"));

    s.advance(1).await;
    let done = get(&s, &poll).await;
    insta::assert_json_snapshot!("pending_create_done", done.exchange(HEADERS));
    // Done stays done.
    assert_eq!(get(&s, &op_path(&started, "v1")).await.json(), done.json());
    let fs = get(&s, &format!("{FS}/pending_fs")).await.json();
    assert_eq!(fs["createTime"], "2026-01-15T10:00:00Z");
    let notes: Vec<Value> = s
        .journal("?vendor=featurestore")
        .await
        .iter()
        .filter(|e| e["entity"] == "pending_fs")
        .map(|e| e["note"].clone())
        .collect();
    assert_eq!(
        notes,
        [
            json!("operation running"),
            Value::Null, // the second create, refused
            json!("operation still running"),
            json!("operation done"),
            json!("operation done")
        ]
    );
}

/// An operation polled under `/ui/`, and a GET of `resource`.
async fn settled(s: &TestServer, op: &Reply, resource: &str) -> (Value, Reply) {
    let polled = get(s, &op_path(op, "ui")).await.json();
    (polled, get(s, resource).await)
}

#[tokio::test]
async fn a_pending_create_finishes_on_the_mock_clock_whether_or_not_anyone_polls() {
    let s = TestServer::start().await;
    let online = json!({"onlineServingConfig": {"fixedNodeCount": 1}});
    let started = create_fs(&s, "pending_x", &online).await;
    assert!(started.json().get("done").is_none(), "{}", started.text());
    s.advance(29).await;
    assert_eq!(get(&s, &format!("{FS}/pending_x")).await.status, 404);
    // Nobody polls: at 30 s the featurestore is there for every kind of access.
    s.advance(1).await;
    let fs = get(&s, &format!("{FS}/pending_x")).await;
    assert_eq!(fs.status, 200, "{}", fs.text());
    let listed = get(&s, FS).await.json();
    assert!(
        listed["featurestores"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"].as_str().unwrap().ends_with("/pending_x")),
        "{listed}"
    );
    let child = create_et(&s, "pending_x", "users").await;
    assert_eq!(child.json()["done"], true, "{}", child.text());
    assert_eq!(create_fs(&s, "pending_x", &online).await.status, 409);

    // Polled long after, the operation finished at the end of the 30 s, not at the poll.
    let later = create_fs(&s, "pending_y", &online).await;
    s.advance(120).await;
    let (op, fs) = settled(&s, &later, &format!("{FS}/pending_y")).await;
    assert_eq!(fs.status, 200);
    assert_eq!(op["done"], true);
    assert_eq!(
        op["metadata"]["genericMetadata"],
        json!({"createTime": "2026-01-15T10:00:30Z", "updateTime": "2026-01-15T10:01:00Z"})
    );
    assert_eq!(op["response"]["createTime"], "2026-01-15T10:00:30Z");
}

#[tokio::test]
async fn each_pending_create_runs_on_the_timeline_of_its_own_resource_name() {
    let s = TestServer::start().await;
    let online = json!({"onlineServingConfig": {"fixedNodeCount": 1}});
    for fs in ["fs_one", "fs_two"] {
        create_fs(&s, fs, &online).await;
    }
    let create_et = |fs: &'static str| {
        let path = format!("{FS}/{fs}/entityTypes?entityTypeId=pending_et");
        let s = &s;
        async move { send_json(s, "POST", &path, &json!({})).await }
    };
    // A create refused for its missing parent takes no step of the scenario.
    let refused = create_et("fs_none").await;
    assert_eq!(refused.status, 404, "{}", refused.text());
    s.advance(30).await;
    // The same id under two featurestores: two timelines, 20 s apart.
    let one = create_et("fs_one").await;
    assert!(one.json().get("done").is_none(), "{}", one.text());
    s.advance(20).await;
    let two = create_et("fs_two").await;
    assert!(two.json().get("done").is_none(), "{}", two.text());
    s.advance(10).await;
    let et = |fs: &str| format!("{FS}/{fs}/entityTypes/pending_et");
    assert_eq!(get(&s, &et("fs_one")).await.status, 200);
    assert_eq!(get(&s, &et("fs_two")).await.status, 404);
    s.advance(20).await;
    assert_eq!(get(&s, &et("fs_two")).await.status, 200);

    // Deleted and created again (a rerun of a create-if-missing job): it pends again.
    let gone = s.request("DELETE", &et("fs_one"), AUTH, "").await;
    assert_eq!(gone.status, 200, "{}", gone.text());
    let again = create_et("fs_one").await;
    assert!(again.json().get("done").is_none(), "{}", again.text());
    assert_eq!(get(&s, &et("fs_one")).await.status, 404);
    s.advance(30).await;
    assert_eq!(get(&s, &et("fs_one")).await.status, 200);
}

#[tokio::test]
async fn a_create_retried_after_a_failing_step_continues_its_timeline_and_polls_count_call_steps() {
    let s = TestServer::with_scenarios(&[(
        "fs_extra.toml",
        r#"
vendor = "featurestore"

[[scenario]]
name = "shaky"
id_prefix = "shaky_"
description = "one 503, then a create that runs for the create and one poll, then done"
steps = [
  { outcome = "unavailable", times = 1 },
  { outcome = "running", times = 2 },
  { outcome = "ok" },
]
"#,
    )])
    .await;
    let online = json!({"onlineServingConfig": {"fixedNodeCount": 1}});
    let first = create_fs(&s, "shaky_fs", &online).await;
    assert_eq!(first.status, 503, "{}", first.text());
    assert_eq!(get(&s, &format!("{FS}/shaky_fs")).await.status, 404);
    let started = create_fs(&s, "shaky_fs", &online).await;
    assert!(started.json().get("done").is_none(), "{}", started.text());
    // Steps that end by count wait for polls, however long the clock runs.
    s.advance(3600).await;
    assert_eq!(get(&s, &format!("{FS}/shaky_fs")).await.status, 404);
    let still = get(&s, &op_path(&started, "ui")).await.json();
    assert!(still.get("done").is_none(), "{still}");
    s.advance(5).await;
    let done = get(&s, &op_path(&started, "ui")).await;
    assert_eq!(done.header("x-vendor-mock-scenario"), Some("shaky"));
    let done = done.json();
    assert_eq!(done["done"], true, "{done}");
    assert_eq!(
        done["metadata"]["genericMetadata"]["updateTime"],
        "2026-01-15T11:00:05Z"
    );
    assert_eq!(get(&s, &format!("{FS}/shaky_fs")).await.status, 200);
}

#[tokio::test]
async fn a_running_create_whose_parent_is_deleted_meanwhile_fails_in_its_operation() {
    let s = TestServer::start().await;
    create_online_fs(&s, "parent_fs").await;
    let started = create_et(&s, "parent_fs", "pending_users").await;
    assert!(started.json().get("done").is_none(), "{}", started.text());
    let gone = s
        .request("DELETE", &format!("{FS}/parent_fs"), AUTH, "")
        .await;
    assert_eq!(gone.status, 200, "{}", gone.text());
    s.advance(30).await;
    let done = get(&s, &op_path(&started, "ui")).await.json();
    assert_eq!(done["done"], true);
    assert_eq!(done["error"]["code"], 5, "{done}");
    assert!(done.get("response").is_none());
}

#[tokio::test]
async fn batch_create_answers_one_operation_listing_every_created_feature() {
    let s = TestServer::start().await;
    let path = format!("{ET}/features:batchCreate");
    let r = send_json(
        &s,
        "POST",
        &path,
        &json!({"requests": [
            {"featureId": "score_v2", "feature": {"valueType": "INT64", "description": "score, as a number"}},
            {"feature_id": "flags", "feature": {"value_type": 12, "labels": {"source": "finscore"}}, "parent": ET_NAME},
        ]}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let f = get(&s, &format!("{ET}/features/flags")).await.json();
    assert_eq!(f["valueType"], "STRING_ARRAY");

    // All or nothing: one existing id fails the batch and creates none of it.
    let again = send_json(
        &s,
        "POST",
        &path,
        &json!({"requests": [
            {"featureId": "fresh", "feature": {"valueType": "STRING"}},
            {"featureId": "code", "feature": {"valueType": "STRING"}},
        ]}),
    )
    .await;
    assert_eq!(again.json()["error"]["status"], "ALREADY_EXISTS");
    assert_eq!(get(&s, &format!("{ET}/features/fresh")).await.status, 404);
    for bad in [
        json!({}),
        json!({"requests": []}),
        json!({"requests": [{"featureId": "x"}]}),
        json!({"requests": [{"feature": {"valueType": "STRING"}}]}),
        json!({"requests": [{"featureId": "Bad-Id", "feature": {"valueType": "STRING"}}]}),
        json!({"requests": [{"featureId": "a", "feature": {"valueType": "STRING"}}, {"featureId": "a", "feature": {"valueType": "STRING"}}]}),
        json!({"requests": [{"featureId": "a", "feature": {"valueType": "STRING"}, "parent": "projects/x"}]}),
        json!({"requests": [{"featureId": "a", "feature": {"valueType": "STRING", "colour": "red"}}]}),
    ] {
        let r = send_json(&s, "POST", &path, &bad).await;
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
}

#[tokio::test]
async fn patch_with_an_update_mask_changes_only_the_masked_fields_and_the_etag() {
    let s = TestServer::start().await;
    create_fs(
        &s,
        "upd_fs",
        &json!({"onlineServingConfig": {"fixedNodeCount": 1}, "labels": {"team": "risk"}}),
    )
    .await;
    let before = get(&s, &format!("{FS}/upd_fs")).await.json();
    s.advance(60).await;
    let fs = send_json(
        &s,
        "PATCH",
        &format!("{FS}/upd_fs?updateMask=labels,onlineServingConfig.fixedNodeCount"),
        &json!({"labels": {"team": "credit"}, "onlineServingConfig": {"fixedNodeCount": 3}, "onlineStorageTtlDays": 7}),
    )
    .await;
    insta::assert_json_snapshot!("update_featurestore", fs.exchange(HEADERS));
    let after = get(&s, &format!("{FS}/upd_fs")).await.json();
    assert_ne!(after["etag"], before["etag"]);
    assert_eq!(after["onlineStorageTtlDays"], 4000, "not in the mask");

    // Entity types and features answer themselves, not an operation.
    let et = send_json(
        &s,
        "PATCH",
        &format!("{ET}?update_mask=description"),
        &json!({"description": "FinScore answers", "labels": {"ignored": "yes"}}),
    )
    .await
    .json();
    assert_eq!(et["description"], "FinScore answers");
    assert!(et.get("labels").is_none(), "{et}");
    assert_eq!(et["updateTime"], "2026-01-15T10:01:00Z");
    // No mask: the non-empty fields given overwrite.
    let f = send_json(
        &s,
        "PATCH",
        &format!("{ET}/features/code"),
        &json!({"labels": {"kind": "status"}, "description": ""}),
    )
    .await
    .json();
    assert_eq!(f["labels"], json!({"kind": "status"}));
    assert_eq!(f["valueType"], "STRING");
    // Clearing with a mask and an absent field.
    let cleared = send_json(
        &s,
        "PATCH",
        &format!("{ET}/features/code?updateMask=labels"),
        &json!({}),
    )
    .await
    .json();
    assert!(cleared.get("labels").is_none(), "{cleared}");

    for (path, body) in [
        (
            format!("{ET}/features/code?updateMask=value_type"),
            json!({"valueType": "INT64"}),
        ),
        (format!("{ET}?updateMask=name"), json!({})),
        (
            format!("{FS}/upd_fs?updateMask=labels"),
            json!({"labels": {"Team": "x"}}),
        ),
        (
            format!("{FS}/upd_fs"),
            json!({"onlineServingConfig": {"fixedNodeCount": -1}}),
        ),
        (format!("{FS}/upd_fs"), json!({"colour": "red"})),
        (format!("{FS}/upd_fs"), json!({"etag": 5})),
    ] {
        let r = send_json(&s, "PATCH", &path, &body).await;
        assert_eq!(r.status, 400, "{path} {body}: {}", r.text());
        assert_eq!(r.json()["error"]["status"], "INVALID_ARGUMENT");
    }
    let missing = send_json(
        &s,
        "PATCH",
        &format!("{FS}/nope?updateMask=labels"),
        &json!({}),
    )
    .await;
    assert_eq!(missing.status, 404);
}

#[tokio::test]
async fn a_stale_etag_on_update_is_aborted_and_the_current_one_is_accepted() {
    let s = TestServer::start().await;
    let first = get(&s, ET).await.json()["etag"].clone();
    let ok = send_json(
        &s,
        "PATCH",
        &format!("{ET}?updateMask=description"),
        &json!({"description": "one", "etag": first}),
    )
    .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let stale = send_json(
        &s,
        "PATCH",
        &format!("{ET}?updateMask=description"),
        &json!({"description": "two", "etag": first}),
    )
    .await;
    insta::assert_json_snapshot!(stale.exchange(HEADERS));
    assert_eq!(get(&s, ET).await.json()["description"], "one");
    let current = ok.json()["etag"].clone();
    let again = send_json(
        &s,
        "PATCH",
        &format!("{ET}?updateMask=description"),
        &json!({"description": "two", "etag": current}),
    )
    .await;
    assert_eq!(again.status, 200);
}

#[tokio::test]
async fn deleting_a_featurestore_with_entity_types_needs_force_and_takes_their_values() {
    let s = TestServer::start().await;
    write(
        &s,
        &json!({"payloads": [{"entityId": "e9", "featureValues": {"code": {"stringValue": "0000"}}}]}),
    )
    .await;
    let refused = s
        .request("DELETE", &format!("{FS}/finscore_fs"), AUTH, "")
        .await;
    insta::assert_json_snapshot!("delete_without_force", refused.exchange(HEADERS));
    let no = s
        .request("DELETE", &format!("{FS}/finscore_fs?force=false"), AUTH, "")
        .await;
    assert_eq!(no.status, 400);
    let bad = s
        .request("DELETE", &format!("{FS}/finscore_fs?force=yes"), AUTH, "")
        .await;
    assert_eq!(
        bad.json()["error"]["message"],
        "Invalid value at 'force' (TYPE_BOOL), \"yes\""
    );
    let done = s
        .request("DELETE", &format!("{FS}/finscore_fs?force=true"), AUTH, "")
        .await;
    insta::assert_json_snapshot!("delete_featurestore", done.exchange(HEADERS));
    assert_eq!(get(&s, &op_path(&done, "ui")).await.json(), done.json());
    for path in [
        format!("{FS}/finscore_fs"),
        ET.to_string(),
        format!("{ET}/features/code"),
    ] {
        assert_eq!(get(&s, &path).await.status, 404, "{path}");
    }
    // Created again, it holds none of the old values.
    create_online_fs(&s, "finscore_fs").await;
    create_et(&s, "finscore_fs", "score_features").await;
    create_feature(&s, ET, "code", "STRING").await;
    assert_eq!(
        read(&s, "e9", &["code"]).await.json()["entityView"]["data"][0],
        json!({})
    );
}

#[tokio::test]
async fn deleting_a_feature_answers_an_operation_and_forgets_its_values() {
    let s = TestServer::start().await;
    write(
        &s,
        &json!({"payloads": [{"entityId": "e8", "featureValues": {"code": {"stringValue": "0000"}, "band": {"stringValue": "4"}}}]}),
    )
    .await;
    let refused = s.request("DELETE", ET, AUTH, "").await;
    assert_eq!(
        (refused.status, refused.json()["error"].clone()),
        (
            400,
            json!({"code": 400, "status": "FAILED_PRECONDITION", "message": "There are features in the entity type. Please delete the child features or set `force` in the request to explicitly cascade delete."})
        )
    );
    let done = s
        .request("DELETE", &format!("{ET}/features/band"), AUTH, "")
        .await
        .json();
    assert_eq!(done["done"], true);
    assert_eq!(
        done["metadata"]["@type"],
        "type.googleapis.com/google.cloud.aiplatform.v1.DeleteOperationMetadata"
    );
    assert_eq!(
        done["response"],
        json!({"@type": "type.googleapis.com/google.protobuf.Empty"})
    );
    let back = read(&s, "e8", &["*"]).await.json();
    let ids: Vec<&str> = back["header"]["featureDescriptors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert!(!ids.contains(&"band"), "{ids:?}");
    create_feature(&s, ET, "band", "STRING").await;
    assert_eq!(
        read(&s, "e8", &["band", "code"]).await.json()["entityView"]["data"][0],
        json!({})
    );
    // Deleting a feature takes no `force`; nor does anything take an `etag` query
    // parameter: Google refuses parameters its request messages do not have.
    for path in [
        format!("{ET}/features/code?force=true"),
        format!("{FS}/finscore_fs?etag=abc"),
    ] {
        let r = s.request("DELETE", &path, AUTH, "").await;
        assert_eq!(r.status, 400, "{path}");
        assert!(r.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Cannot bind query parameter"));
    }
}

#[tokio::test]
async fn an_unknown_query_parameter_is_refused_as_google_does() {
    let s = TestServer::start().await;
    let r = get(&s, &format!("{FS}?pagesize=5")).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    // System parameters and proto names are fine.
    for q in [
        "prettyPrint=false",
        "page_size=5",
        "%24alt=json%3Benum-encoding%3Dint",
        "alt=json",
    ] {
        assert_eq!(get(&s, &format!("{FS}?{q}")).await.status, 200, "{q}");
    }
}

#[tokio::test]
async fn lists_filter_by_labels_and_create_time_and_order_as_asked() {
    let s = TestServer::start().await;
    let online =
        |labels: Value| json!({"onlineServingConfig": {"fixedNodeCount": 1}, "labels": labels});
    // finscore_fs is created by the first call, at 10:00:00; the others 10:00:30,
    // 10:01:30 and 10:02:30.
    get(&s, FS).await;
    s.advance(30).await;
    create_fs(
        &s,
        "risk_a",
        &online(json!({"team": "risk", "env": "prod"})),
    )
    .await;
    s.advance(60).await;
    create_fs(&s, "risk_b", &online(json!({"team": "risk"}))).await;
    s.advance(60).await;
    create_fs(
        &s,
        "growth",
        &json!({"labels": {"team": "growth"}, "onlineServingConfig": {"fixedNodeCount": 4}}),
    )
    .await;
    let names = |r: Reply| -> Vec<String> {
        let v = r.json();
        assert!(v.get("error").is_none(), "{v}");
        v["featurestores"]
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|f| {
                        f["name"]
                            .as_str()
                            .unwrap()
                            .rsplit('/')
                            .next()
                            .unwrap()
                            .to_string()
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let q = |filter: &str| {
        let mut p = form_urlencoded_pair("filter", filter);
        p.insert_str(0, &format!("{FS}?"));
        p
    };
    let cases: [(&str, &[&str]); 9] = [
        ("labels.team=\"risk\"", &["risk_a", "risk_b"]),
        ("labels.team = risk AND labels.env = prod", &["risk_a"]),
        ("labels.env:*", &["risk_a"]),
        (
            "create_time > \"2026-01-15T10:01:00Z\"",
            &["risk_b", "growth"],
        ),
        (
            "createTime <= \"2026-01-15T10:01:30Z\" AND labels.team = \"risk\"",
            &["risk_a", "risk_b"],
        ),
        (
            "create_time < \"2026-01-15T10:00:30Z\" OR create_time > \"2026-01-15T10:02:00Z\"",
            &["finscore_fs", "growth"],
        ),
        ("online_serving_config.fixed_node_count > 1", &["growth"]),
        ("NOT labels.team = risk", &["finscore_fs", "growth"]),
        ("labels.team = nobody", &[]),
    ];
    for (filter, want) in cases {
        assert_eq!(names(get(&s, &q(filter)).await), want, "{filter}");
    }
    assert_eq!(
        names(get(&s, &format!("{FS}?orderBy=create_time%20desc")).await),
        ["growth", "risk_b", "risk_a", "finscore_fs"]
    );
    assert_eq!(
        names(
            get(
                &s,
                &format!("{FS}?orderBy=online_serving_config.fixed_node_count%20desc,create_time")
            )
            .await
        ),
        ["growth", "finscore_fs", "risk_a", "risk_b"]
    );
    let features = get(
        &s,
        &format!("{ET}/features?filter=value_type%3DSTRING&orderBy=feature_id&pageSize=3"),
    )
    .await
    .json();
    let ids: Vec<&str> = features["features"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(ids, ["address_check", "avg_daily_activities", "band"]);
}

/// `k=v`, form-encoded as a query string.
fn form_urlencoded_pair(k: &str, v: &str) -> String {
    form_urlencoded::Serializer::new(String::new())
        .append_pair(k, v)
        .finish()
}

#[tokio::test]
async fn filters_and_orderings_the_mock_cannot_evaluate_are_invalid_arguments_naming_them() {
    let s = TestServer::start().await;
    let r = get(
        &s,
        &format!(
            "{FS}?{}",
            form_urlencoded_pair("filter", "display_name = \"x\"")
        ),
    )
    .await;
    insta::assert_json_snapshot!("unsupported_filter", r.exchange(HEADERS));
    let filter = |base: &str, f: &str| format!("{base}?{}", form_urlencoded_pair("filter", f));
    let et_list = format!("{FS}/finscore_fs/entityTypes");
    let cases = [
        (filter(FS, "labels.team != risk"), "labels.team != risk"),
        (
            filter(FS, "labels.a = b labels.c = d"),
            "expected AND or OR",
        ),
        (filter(&et_list, "value_type = STRING"), "value_type"),
        (format!("{FS}?orderBy=feature_id"), "feature_id"),
        (
            format!("{ET}/features?orderBy=create_time%20sideways"),
            "sideways",
        ),
        (format!("{FS}?readMask=colour"), "colour"),
        (format!("{ET}/features?latestStatsCount=11"), "11"),
        (format!("{FS}?pageSize=many"), "TYPE_INT32"),
        (format!("{FS}?pageSize=-1"), "-1"),
    ];
    for (path, needle) in cases {
        let r = get(&s, &path).await;
        assert_eq!(r.status, 400, "{path}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains(needle), "{path}: {msg}");
    }
}

#[tokio::test]
async fn featurestore_pages_hold_at_most_100_and_tokens_belong_to_their_query() {
    let s = TestServer::start().await;
    for i in 0..100 {
        let r = create_fs(&s, &format!("fs_{i:03}"), &json!({})).await;
        assert_eq!(r.status, 200);
    }
    let first = get(&s, &format!("{FS}?pageSize=500")).await.json();
    assert_eq!(first["featurestores"].as_array().unwrap().len(), 100);
    let token = first["nextPageToken"].as_str().unwrap().to_string();
    let rest = get(&s, &format!("{FS}?pageToken={token}")).await.json();
    assert_eq!(rest["featurestores"].as_array().unwrap().len(), 1);
    assert!(rest.get("nextPageToken").is_none());
    // A token is for the filter and orderBy it was issued with.
    let other = get(&s, &format!("{FS}?pageToken={token}&orderBy=create_time")).await;
    assert_eq!(other.status, 400, "{}", other.text());
    // Entity types and features: up to 1000 a page.
    let requests: Vec<Value> = (0..1000)
        .map(|i| json!({"featureId": format!("f_{i:04}"), "feature": {"valueType": "STRING"}}))
        .collect();
    let batch = send_json(
        &s,
        "POST",
        &format!("{ET}/features:batchCreate"),
        &json!({ "requests": requests }),
    )
    .await;
    assert_eq!(batch.status, 200, "{}", batch.text());
    let features = get(&s, &format!("{ET}/features?pageSize=5000"))
        .await
        .json();
    assert_eq!(features["features"].as_array().unwrap().len(), 1000);
    assert!(features.get("nextPageToken").is_some());
    let masked = get(
        &s,
        &format!("{FS}?pageSize=1&readMask=name,onlineServingConfig.fixedNodeCount"),
    )
    .await
    .json();
    assert_eq!(
        masked["featurestores"][0],
        json!({"name": "projects/test-project/locations/asia-southeast1/featurestores/finscore_fs", "onlineServingConfig": {"fixedNodeCount": 1}})
    );
}

#[tokio::test]
async fn google_routes_that_are_not_emulated_answer_501_unimplemented() {
    let s = TestServer::start().await;
    let r = s
        .post_json(&format!("{ET}:importFeatureValues"), AUTH, &json!({}))
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    for (method, path) in [
        ("POST", format!("{ET}:exportFeatureValues")),
        ("POST", format!("{ET}:deleteFeatureValues")),
        ("POST", format!("{FS}/finscore_fs:batchReadFeatureValues")),
        ("POST", format!("{FS}/finscore_fs:getIamPolicy")),
        ("GET", format!("{FS}:searchFeatures")),
        ("GET", format!("{FS}/finscore_fs/operations")),
        (
            "GET",
            "/featurestore/v1/projects/p/locations/l/models".to_string(),
        ),
        (
            "GET",
            "/featurestore/v1beta1/projects/p/locations/l/featurestores".to_string(),
        ),
        (
            "GET",
            "/featurestore/v1/publishers/google/models/gemini-2.0-flash".to_string(),
        ),
        (
            "POST",
            "/featurestore/v1/publishers/google/models/gemini-2.0-flash:generateContent"
                .to_string(),
        ),
    ] {
        let r = s.request(method, &path, AUTH, "").await;
        assert_eq!(
            (r.status, r.json()["error"]["status"].clone()),
            (501, json!("UNIMPLEMENTED")),
            "{method} {path}"
        );
    }
    // Without a token, Google's 401 still comes first.
    let anon = s.get(&format!("{FS}:searchFeatures")).await;
    assert_eq!(anon.status, 401);
}

/// Each request gets `status`: 404 the `NOT_FOUND` of a URL Google does not serve (its
/// message says so), 501 the `UNIMPLEMENTED` of a Google route the mock does not emulate.
async fn assert_routes(s: &TestServer, cases: &[(&str, String, u16)]) {
    for (method, path, status) in cases {
        let r = s.request(method, path, AUTH, "").await;
        let want = if *status == 404 {
            "NOT_FOUND"
        } else {
            "UNIMPLEMENTED"
        };
        assert_eq!(
            (r.status, r.json()["error"]["status"].clone()),
            (*status, json!(want)),
            "{method} {path}"
        );
        if *status == 404 {
            assert!(
                r.json()["error"]["message"]
                    .as_str()
                    .is_some_and(|m| m.starts_with("The requested URL")),
                "{method} {path}: {}",
                r.text()
            );
        }
    }
}

/// Below a location Google routes only Vertex AI's own collections: a name that is none
/// of them (a typo, a case flip) is Google's 404 for a URL it does not serve, not the
/// 501 of a collection the mock does not emulate.
#[tokio::test]
async fn an_unknown_collection_under_a_location_is_404_and_a_known_one_501() {
    let s = TestServer::start().await;
    let typo = get(&s, &format!("{LOC}/featurestore/finscore_fs")).await;
    insta::assert_json_snapshot!(typo.exchange(HEADERS));
    let v1beta1 = "/featurestore/v1beta1/projects/p/locations/l";
    assert_routes(
        &s,
        &[
            ("GET", format!("{LOC}/featurestore"), 404),
            ("GET", format!("{LOC}/featurestorEs/finscore_fs"), 404),
            (
                "POST",
                format!(
                    "{LOC}/Featurestores/finscore_fs/entityTypes/score_features:readFeatureValues"
                ),
                404,
            ),
            ("GET", format!("{LOC}/featureonlinestores"), 404),
            ("GET", format!("{LOC}/tuningjobs/1/operations/2"), 404),
            ("GET", format!("{v1beta1}/nonsense"), 404),
            ("GET", format!("{LOC}/featureOnlineStores"), 501),
            ("GET", format!("{LOC}/tuningJobs/1/operations/2"), 501),
            ("POST", format!("{LOC}/endpoints/e:predict"), 501),
            ("GET", format!("{v1beta1}/serverlessRayJobs"), 501),
        ],
    )
    .await;
    // The 404 comes before the token is looked at, as for any URL Google does not serve.
    let anon = s.get(&format!("{LOC}/featurestorEs")).await;
    assert_eq!(anon.status, 404, "{}", anon.text());
}

/// Vertex AI's routes outside a location's collections that Google serves (its client
/// libraries' HTTP bindings) are 501 too: the methods on a location, on the API and on
/// Model Garden's EULA, and the top-level collections; others there stay 404.
#[tokio::test]
async fn vertex_methods_and_top_level_collections_google_serves_are_501() {
    let s = TestServer::start().await;
    let v1beta1 = "/featurestore/v1beta1";
    assert_routes(
        &s,
        &[
            ("POST", format!("{LOC}:retrieveContexts"), 501),
            ("POST", format!("{LOC}:augmentPrompt"), 501),
            ("POST", format!("{LOC}:corroborateContent"), 501),
            ("POST", format!("{LOC}:evaluateInstances"), 501),
            ("POST", format!("{LOC}:generateSyntheticData"), 501),
            ("POST", format!("{LOC}:deploy"), 501),
            ("POST", format!("{LOC}:askContexts"), 501),
            ("POST", format!("{LOC}:asyncRetrieveContexts"), 501),
            (
                "POST",
                format!("{v1beta1}/projects/p/locations/l:recommendSpec"),
                501,
            ),
            (
                "POST",
                format!("{v1beta1}/projects/p/modelGardenEula:check"),
                501,
            ),
            ("POST", format!("{v1beta1}:evaluateInstances"), 501),
            (
                "POST",
                "/featurestore/v1/endpoints/e:generateContent".into(),
                501,
            ),
            ("GET", "/featurestore/v1/datasets".into(), 501),
            ("POST", format!("{v1beta1}/reasoningEngines/r:query"), 501),
            ("GET", format!("{LOC}:retrieveContexts"), 404),
            ("POST", format!("{LOC}:nonsense"), 404),
            ("POST", format!("{v1beta1}:nonsense"), 404),
            ("GET", "/featurestore/v1/endpoints".into(), 404),
        ],
    )
    .await;
    // As for every Google route, the token comes first.
    let anon = s
        .request("POST", &format!("{LOC}:retrieveContexts"), &[], "")
        .await;
    assert_eq!(anon.status, 401, "{}", anon.text());
}

#[tokio::test]
async fn a_feature_selector_with_a_string_for_ids_names_the_field() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            &format!("{ET}:readFeatureValues"),
            AUTH,
            &json!({"entityId": "e", "featureSelector": {"idMatcher": {"ids": "code"}}}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    for body in [
        json!({"entityIds": ["e"], "featureSelector": {"idMatcher": {"ids": "*"}}}),
        json!({"entityIds": ["e"], "featureSelector": {"idMatcher": {}}}),
        json!({"entityIds": ["e"], "featureSelector": {}}),
        json!({"entityIds": ["e"], "featureSelector": {"idMatcher": {"ids": [1]}}}),
    ] {
        let r = s
            .post_json(&format!("{ET}:streamingReadFeatureValues"), AUTH, &body)
            .await;
        assert_eq!(r.status, 400, "{body}");
        let msg = r.json()["error"]["message"].as_str().unwrap().to_string();
        assert!(msg.contains("feature_selector"), "{msg}");
    }
}

#[tokio::test]
async fn a_featurestore_without_an_online_store_cannot_take_or_serve_values() {
    let s = TestServer::start().await;
    let fs = create_fs(&s, "offline_fs", &json!({})).await.json();
    assert!(fs["response"].get("onlineServingConfig").is_none(), "{fs}");
    create_et(&s, "offline_fs", "users").await;
    create_feature(
        &s,
        &format!("{FS}/offline_fs/entityTypes/users"),
        "age",
        "INT64",
    )
    .await;
    let et = format!("{FS}/offline_fs/entityTypes/users");
    let w = s
        .post_json(
            &format!("{et}:writeFeatureValues"),
            AUTH,
            &json!({"payloads": [{"entityId": "u", "featureValues": {"age": {"int64Value": "41"}}}]}),
        )
        .await;
    assert_eq!(
        (w.status, w.json()["error"]["status"].clone()),
        (400, json!("FAILED_PRECONDITION")),
        "{}",
        w.text()
    );
    // Given nodes, it serves.
    send_json(
        &s,
        "PATCH",
        &format!("{FS}/offline_fs?updateMask=online_serving_config.fixed_node_count"),
        &json!({"onlineServingConfig": {"fixedNodeCount": 1}}),
    )
    .await;
    let w = s
        .post_json(
            &format!("{et}:writeFeatureValues"),
            AUTH,
            &json!({"payloads": [{"entityId": "u", "featureValues": {"age": {"int64Value": "41"}}}]}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text());
}

#[tokio::test]
async fn googles_own_python_sdk_drives_the_whole_surface_unmodified() {
    if !crate::support::python_has(Some("google.cloud.aiplatform, pandas, requests")) {
        return;
    }
    let s = TestServer::start().await;
    crate::support::run_client("featurestore_sdk.py", vec![s.base.clone()]).await;
}

#[test]
fn a_client_that_outlives_its_time_limit_is_killed_and_its_output_kept() {
    if !crate::support::python_has(None) {
        return;
    }
    let started = std::time::Instant::now();
    let script = "import sys, time\nprint('polling', flush=True)\nprint('still', file=sys.stderr, flush=True)\ntime.sleep(600)";
    let (status, stdout, stderr) = crate::support::run_python(
        &["-c".to_string(), script.to_string()],
        std::time::Duration::from_secs(10),
    );
    assert!(status.is_none(), "{status:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(120));
    assert_eq!((stdout.as_str(), stderr.as_str()), ("polling\n", "still\n"));
    let (status, stdout, _) = crate::support::run_python(
        &["-c".to_string(), "print('done')".to_string()],
        std::time::Duration::from_secs(60),
    );
    assert!(status.is_some_and(|s| s.success()));
    assert_eq!(stdout, "done\n");
}

#[tokio::test]
async fn resources_whose_id_is_operations_are_created_read_polled_and_deleted() {
    let s = TestServer::start().await;
    let fs = create_online_fs(&s, "operations").await;
    assert_eq!(fs.json()["done"], true, "{}", fs.text());
    let got = get(&s, &format!("{FS}/operations")).await;
    assert_eq!(got.status, 200, "{}", got.text());
    let et = create_et(&s, "operations", "operations").await;
    assert_eq!(et.json()["done"], true, "{}", et.text());
    let et_path = format!("{FS}/operations/entityTypes/operations");
    for op in [&fs, &et] {
        assert_eq!(get(&s, &op_path(op, "ui")).await.json(), op.json());
    }
    let features = create_feature(&s, &et_path, "operations", "STRING").await;
    assert_eq!(features.json()["done"], true, "{}", features.text());
    let w = s
        .post_json(
            &format!("{et_path}:writeFeatureValues"),
            AUTH,
            &json!({"payloads": [{"entityId": "e", "featureValues": {"operations": {"stringValue": "x"}}}]}),
        )
        .await;
    assert_eq!(w.status, 200, "{}", w.text());
    let listed = get(&s, &format!("{et_path}/features")).await.json();
    assert_eq!(listed["features"].as_array().unwrap().len(), 1, "{listed}");
    let gone = s
        .request("DELETE", &format!("{FS}/operations?force=true"), AUTH, "")
        .await;
    assert_eq!(gone.json()["done"], true, "{}", gone.text());
    assert_eq!(get(&s, &format!("{FS}/operations")).await.status, 404);
}

#[tokio::test]
async fn monitoring_enums_are_checked_kept_as_names_and_numbered_on_request() {
    let s = TestServer::start().await;
    let q = "%24alt=json%3Benum-encoding%3Dint";
    let created = send_json(
        &s,
        "POST",
        &format!("{FS}/finscore_fs/entityTypes?entityTypeId=watched&{q}"),
        &json!({
            "monitoringConfig": {
                "importFeaturesAnalysis": {"state": 2, "anomalyDetectionBaseline": "MOST_RECENT_SNAPSHOT_STATS"},
                "snapshotAnalysis": {"disabled": false, "monitoring_interval_days": 3},
                "numericalThresholdConfig": {"value": 0.3}
            }
        }),
    )
    .await
    .json();
    let numbered = &created["response"];
    assert_eq!(
        numbered["monitoringConfig"]["importFeaturesAnalysis"],
        json!({"state": 2, "anomalyDetectionBaseline": 2}),
        "{created}"
    );
    let et = format!("{FS}/finscore_fs/entityTypes/watched");
    let named = get(&s, &et).await.json();
    assert_eq!(
        named["monitoringConfig"],
        json!({
            "importFeaturesAnalysis": {"state": "ENABLED", "anomalyDetectionBaseline": "MOST_RECENT_SNAPSHOT_STATS"},
            "snapshotAnalysis": {"disabled": false, "monitoringIntervalDays": 3},
            "numericalThresholdConfig": {"value": 0.3}
        })
    );
    let listed = get(&s, &format!("{FS}/finscore_fs/entityTypes?{q}"))
        .await
        .json();
    let watched = listed["entityTypes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"].as_str().unwrap().ends_with("/watched"))
        .unwrap()
        .clone();
    assert_eq!(
        watched["monitoringConfig"]["importFeaturesAnalysis"]["state"],
        2
    );
    let masked = send_json(
        &s,
        "PATCH",
        &format!("{et}?updateMask=monitoring_config.import_features_analysis.state"),
        &json!({"monitoringConfig": {"importFeaturesAnalysis": {"state": "DISABLED"}}}),
    )
    .await
    .json();
    assert_eq!(
        masked["monitoringConfig"]["importFeaturesAnalysis"],
        json!({"state": "DISABLED", "anomalyDetectionBaseline": "MOST_RECENT_SNAPSHOT_STATS"})
    );
    let bad = send_json(
        &s,
        "PATCH",
        &format!("{et}?updateMask=monitoring_config.import_features_analysis.state"),
        &json!({"monitoringConfig": {"importFeaturesAnalysis": {"state": "SOMETIMES"}}}),
    )
    .await;
    insta::assert_json_snapshot!("bad_monitoring_enum", bad.exchange(HEADERS));
    for (body, field) in [
        (
            json!({"monitoringConfig": {"importFeaturesAnalysis": {"anomalyDetectionBaseline": 9}}}),
            "entity_type.monitoring_config.import_features_analysis.anomaly_detection_baseline",
        ),
        (
            json!({"monitoringConfig": {"snapshotAnalysis": {"disabled": "no"}}}),
            "entity_type.monitoring_config.snapshot_analysis.disabled",
        ),
        (
            json!({"monitoringConfig": {"snapshotAnalysis": {"stalenessDays": 1e12}}}),
            "entity_type.monitoring_config.snapshot_analysis.staleness_days",
        ),
        (
            json!({"monitoringConfig": {"snapshotAnalysis": {"cadence": 1}}}),
            "entity_type.monitoring_config.snapshot_analysis",
        ),
        (
            json!({"monitoringConfig": {"categoricalThresholdConfig": "high"}}),
            "entity_type.monitoring_config.categorical_threshold_config",
        ),
    ] {
        let r = send_json(&s, "PATCH", &et, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(
            r.json()["error"]["details"][0]["fieldViolations"][0]["field"],
            field,
            "{body}"
        );
    }
    assert_eq!(
        get(&s, &et).await.json()["monitoringConfig"],
        masked["monitoringConfig"],
        "refused updates change nothing"
    );
}

#[tokio::test]
async fn parse_errors_carry_googles_bad_request_details_naming_the_field() {
    let s = TestServer::start().await;
    let unknown = create_fs(&s, "detail_fs", &json!({"colour": "red"})).await;
    insta::assert_json_snapshot!("parse_error_details", unknown.exchange(HEADERS));
    let cases = [
        (
            get(&s, &format!("{FS}?pageSize=many")).await,
            Some("page_size"),
        ),
        (
            s.request("POST", &format!("{FS}?featurestoreId=x"), AUTH, "{not json")
                .await,
            None,
        ),
        (
            s.post_json(
                &format!("{ET}:writeFeatureValues"),
                AUTH,
                &json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": "x"}}, "when": 1}]}),
            )
            .await,
            Some("payloads[0]"),
        ),
        (
            s.post_json(
                &format!("{ET}:readFeatureValues"),
                AUTH,
                &json!({"entityId": "e", "featureSelector": {"idMatcher": {"ids": "code"}}}),
            )
            .await,
            Some("feature_selector.id_matcher.ids"),
        ),
        (
            send_json(&s, "PATCH", ET, &json!({"description": 5})).await,
            Some("entity_type.description"),
        ),
    ];
    for (r, field) in cases {
        let error = &r.json()["error"];
        assert_eq!(r.status, 400, "{error}");
        let violation = &error["details"][0]["fieldViolations"][0];
        assert_eq!(
            error["details"][0]["@type"],
            "type.googleapis.com/google.rpc.BadRequest"
        );
        assert_eq!(violation["description"], error["message"]);
        assert_eq!(
            violation.get("field").and_then(Value::as_str),
            field,
            "{error}"
        );
    }
    // Errors of the API itself, not of parsing, carry no details.
    let invalid_id = create_fs(&s, "Bad-Id", &json!({})).await.json();
    assert!(invalid_id["error"].get("details").is_none(), "{invalid_id}");
    let missing = get(&s, &format!("{FS}/nope")).await.json();
    assert!(missing["error"].get("details").is_none(), "{missing}");
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    crate::support::assert_openapi_document_validates("featurestore");
}

/// Every example in `openapi/featurestore.yaml` (request bodies, answers, schema examples) matches
/// the schema it illustrates, so a vendor sample copied into the document is one the mock's
/// schemas accept (`openapi/check_examples.py`, JSON Schema 2020-12).
#[test]
fn every_example_of_the_openapi_document_matches_its_schema() {
    if !crate::support::python_has(Some("yaml, jsonschema, referencing")) {
        return;
    }
    let args = ["openapi/check_examples.py", "openapi/featurestore.yaml"].map(String::from);
    let (status, out, err) = crate::support::run_python(&args, std::time::Duration::from_secs(120));
    assert!(status.is_some_and(|s| s.success()), "{out}{err}");
    assert!(out.contains(", 0 do not match"), "{out}");
}

/// A path of `openapi/featurestore.yaml` with its parameters filled in: the pre-created
/// resources, and `operation` as given.
fn documented_path(template: &str, operation: &str) -> String {
    let path = template
        .replace("{project}", "test-project")
        .replace("{location}", "asia-southeast1")
        .replace("{featurestore}", "finscore_fs")
        .replace("{entityType}", "score_features")
        .replace("{feature}", "code")
        .replace("{operation}", operation);
    format!("/featurestore{path}")
}

/// The values of a create's id parameter (`featurestoreId`, …) given as examples.
fn id_examples(operation: &Value) -> Option<(String, Vec<String>)> {
    let p = operation["parameters"]
        .as_array()?
        .iter()
        .find(|p| p["in"] == "query" && p["required"] == true)?;
    let values = p["examples"]
        .as_object()?
        .values()
        .map(|e| e["value"].as_str().unwrap().to_string())
        .collect();
    Some((p["name"].as_str().unwrap().to_string(), values))
}

/// A user copying an example from `openapi/featurestore.yaml` gets what its summary
/// promises, with the path parameters of the pre-created resources: every create example
/// an operation (running for a `pending_` id, done otherwise), every value example the
/// scenario its entity id names and otherwise a 200 of the documented shape.
#[tokio::test]
async fn every_request_example_of_the_openapi_document_gets_the_answer_it_describes() {
    let Some(doc) = crate::support::openapi_document("featurestore") else {
        return;
    };
    let examples = crate::support::openapi_request_examples(&doc);
    assert!(examples.len() >= 10, "{} examples", examples.len());
    let s = TestServer::start().await;
    let mut index: std::collections::HashMap<String, usize> = Default::default();
    for (template, name, body) in examples {
        let operation = &doc["paths"][&template]["post"];
        let mut path = documented_path(&template, "0");
        let mut pending = false;
        if let Some((param, ids)) = id_examples(operation) {
            // The id examples in turn, one per body example.
            let i = index.entry(template.clone()).or_default();
            let id = &ids[*i % ids.len()];
            *i += 1;
            pending = id.starts_with("pending_");
            path = format!("{path}?{param}={id}");
        }
        let r = s.post_json(&path, AUTH, &body).await;
        let entity = body["payloads"][0]["entityId"]
            .as_str()
            .or(body["entityId"].as_str())
            .or(body["entityIds"][0].as_str());
        let scenario = entity.map_or("default", crate::support::shipped_scenario_of);
        let want = match scenario {
            "ratelimited" => 429,
            "flaky" => 503,
            _ => 200,
        };
        assert_eq!(r.status, want, "{template} {name}: {}", r.text());
        assert_eq!(
            r.header("x-vendor-mock-scenario"),
            Some(if pending { "pending" } else { scenario }),
            "{template} {name}"
        );
        if want != 200 {
            continue;
        }
        let b = r.json();
        if template.ends_with(":writeFeatureValues") {
            assert_eq!(b, json!({}), "{name}");
        } else if template.ends_with(":readFeatureValues") {
            assert_eq!(b["entityView"]["entityId"], body["entityId"], "{name}");
        } else if template.ends_with(":streamingReadFeatureValues") {
            let views = body["entityIds"].as_array().unwrap().len();
            assert_eq!(b.as_array().unwrap().len(), 1 + views, "{name}: {b}");
        } else {
            // A create: its operation, running for a `pending_` id and done otherwise.
            assert!(b["name"].as_str().unwrap().contains("/operations/"), "{b}");
            assert_eq!(
                b["done"].as_bool(),
                (!pending).then_some(true),
                "{name}: {b}"
            );
        }
    }
}

/// Every path and method `openapi/featurestore.yaml` documents is one the mock routes (the
/// answer is never the 404 for a URL Google does not serve), and the operations it
/// documents as not emulated answer 501.
#[tokio::test]
async fn every_operation_of_the_openapi_document_is_a_route_of_the_mock() {
    let Some(doc) = crate::support::openapi_document("featurestore") else {
        return;
    };
    let s = TestServer::start().await;
    let mut count = 0;
    for (template, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            if method == "parameters" {
                continue;
            }
            count += 1;
            let path = documented_path(template, "1");
            let r = s
                .request(&method.to_uppercase(), &path, AUTH, "{}".to_string())
                .await;
            let message = r.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            assert!(
                !message.starts_with("The requested URL"),
                "{method} {template}: {message}"
            );
            let not_emulated = operation["responses"].get("501").is_some();
            assert_eq!(
                r.status == 501,
                not_emulated,
                "{method} {template}: {}",
                r.text()
            );
        }
    }
    assert!(count >= 30, "{count} operations");
}

/// Read answers are kept per instance: the root and a sandbox with the same resources
/// and a row written once each (so the same counts and stamps) answer their own
/// values, read again and again; after `/__admin/reset` (the sandbox's, then the
/// root's, which drops the sandboxes too) and the same write with another value, the
/// instance reset answers the new one.
#[tokio::test]
async fn kept_read_answers_are_per_instance_and_dropped_by_a_reset() {
    let s = TestServer::start().await;
    let write_in = |prefix: &'static str, text: &'static str| {
        let s = &s;
        async move {
            let body = json!({"payloads": [{"entityId": "e", "featureValues": {"code": {"stringValue": text}}}]});
            let r = s
                .post_json(&format!("{prefix}{ET}:writeFeatureValues"), AUTH, &body)
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
    };
    let read_in = |prefix: &'static str| {
        let s = &s;
        async move {
            let body = json!({"entityId": "e", "featureSelector": {"idMatcher": {"ids": ["*"]}}});
            let r = s
                .post_json(&format!("{prefix}{ET}:readFeatureValues"), AUTH, &body)
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
            r.json()["entityView"]["data"][0]["value"]["stringValue"].clone()
        }
    };
    write_in("", "root").await;
    write_in("/~memo", "sandbox").await;
    for _ in 0..3 {
        assert_eq!(read_in("").await, "root");
        assert_eq!(read_in("/~memo").await, "sandbox");
    }
    let reset = |prefix: &'static str| {
        let s = &s;
        async move {
            let r = s
                .post_json(&format!("{prefix}/__admin/reset"), &[], &json!({}))
                .await;
            assert_eq!(r.status, 200, "{}", r.text());
        }
    };
    reset("/~memo").await;
    write_in("/~memo", "sandbox after reset").await;
    assert_eq!(read_in("/~memo").await, "sandbox after reset");
    assert_eq!(read_in("").await, "root");
    reset("").await;
    write_in("", "root after reset").await;
    assert_eq!(read_in("").await, "root after reset");
}
