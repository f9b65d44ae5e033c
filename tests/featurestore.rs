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
    s.request("GET", path, AUTH, "").await
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
    let other = get(&s, "/featurestore/v1/projects/p/locations/l/endpoints").await;
    assert_eq!(other.status, 404);
    assert_eq!(other.json()["error"]["status"], "NOT_FOUND");
}

#[tokio::test]
async fn a_missing_bearer_token_gets_googles_401() {
    let s = TestServer::start().await;
    let r = s
        .request("GET", &format!("{LOC}/featurestores"), &[], "")
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    let empty = s
        .request(
            "GET",
            &format!("{LOC}/featurestores"),
            &[("authorization", "Bearer ")],
            "",
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
