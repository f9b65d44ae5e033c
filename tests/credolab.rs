//! Credolab v6.0 and its API-key surface over HTTP.

use bytes::Bytes;
use serde_json::{json, Value};

use crate::support::{config, Reply, TestServer};

/// Headers worth pinning in Credolab snapshots.
const SHOWN: &[&str] = &[
    "content-type",
    "www-authenticate",
    "allow",
    "retry-after",
    "x-vendor-mock-scenario",
];

const LOGIN: &str = "/credolab/v6.0/account/login";
const REFRESH: &str = "/credolab/v6.0/account/login/refreshToken";
const REQUESTER: &str = "Bearer test-requester-key";
const UPLOADER: &str = "Bearer test-uploader-key";

fn insight(reference: &str) -> String {
    format!("/credolab/v6.0/datasets/{reference}/datasetinsight")
}

fn fraud(reference: &str, ruleset: &str) -> String {
    format!("/credolab/v6.0/datasets/{reference}/iovation/fraud/checks/{ruleset}")
}

fn iovation_body(account: &str) -> Value {
    json!({"iovationRequestParams": {"accountCode": account, "transactionInsight": {"email": "acc@domain.com", "eventId": "168200gsd851", "mobilePhoneNumber": "+15032246010"}}})
}

/// Post a login with `email` and `password` to `path` (the v6.0 login or an alias).
async fn login_at(s: &TestServer, path: &str, email: &str, password: &str) -> Reply {
    s.post_json(
        path,
        &[],
        &json!({"userEmail": email, "password": password}),
    )
    .await
}

async fn login_as(s: &TestServer, email: &str) -> Reply {
    login_at(s, LOGIN, email, "test-password").await
}

/// Log in as the default user; the whole token answer.
async fn login(s: &TestServer) -> Value {
    let r = login_as(s, "test@example.com").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn bearer(token: &Value) -> String {
    format!("Bearer {}", token["access_token"].as_str().unwrap())
}

async fn get_with(s: &TestServer, path: &str, auth: &str) -> Reply {
    s.request("GET", path, &[("authorization", auth)], Bytes::new())
        .await
}

async fn upload(s: &TestServer, auth: &str, body: &Value) -> Reply {
    s.post_json(
        "/credolab/api/datasets/v1/upload",
        &[("authorization", auth)],
        body,
    )
    .await
}

// ---- login and tokens ----

#[tokio::test]
async fn login_returns_a_bearer_token_that_expires_60_minutes_later_on_the_mock_clock() {
    let s = TestServer::start().await;
    let r = login_as(&s, "test@example.com").await;
    insta::assert_json_snapshot!(r.exchange(SHOWN));
    let t = r.json();
    assert_eq!(t["token_type"], "bearer");
    assert_eq!(t[".issued"], "2026-01-15T10:00:00.0000000Z");
    assert_eq!(t[".expires"], "2026-01-15T11:00:00.0000000Z");
}

#[tokio::test]
async fn the_v5_login_is_an_alias_and_emails_ignore_case() {
    let s = TestServer::start().await;
    let r = login_at(
        &s,
        "/credolab/v5.0/account/login",
        "Test@Example.com",
        "test-password",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json();
    let d = get_with(&s, &insight("R-1"), &bearer(&token)).await;
    assert_eq!(d.status, 200);
    assert_eq!(d.json()["requestor"], "test@example.com");
}

#[tokio::test]
async fn the_intermediate_api_login_path_is_another_alias() {
    let s = TestServer::start().await;
    let r = login_at(
        &s,
        "/credolab/api/account/v1/login",
        "test@example.com",
        "test-password",
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json();
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token[".expires"], "2026-01-15T11:00:00.0000000Z");
    let d = get_with(&s, &insight("R-1"), &bearer(&token)).await;
    assert_eq!(d.status, 200);
    let wrong = login_at(
        &s,
        "/credolab/api/account/v1/login",
        "test@example.com",
        "nope",
    )
    .await;
    assert_eq!(wrong.json()["title"], "password_invalid");
    let get = s.get("/credolab/api/account/v1/login").await;
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
}

#[tokio::test]
async fn field_names_bind_ignoring_case_as_asp_net_core_does() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            LOGIN,
            &[],
            &json!({"UserEmail": "test@example.com", "Password": "test-password"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.json();
    let r = s
        .post_json(
            REFRESH,
            &[],
            &json!({"RefreshToken": token["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let auth = bearer(&r.json());

    let up = upload(
        &s,
        UPLOADER,
        &json!({"ReferenceNumber": "case-1", "DATA": "H4sI", "RealIp": "36.80.1.2"}),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text());
    let check = s
        .post_json(
            &fraud("case-1", "default"),
            &[("authorization", &auth)],
            &json!({"IovationRequestParams": {"AccountCode": "acc"}}),
        )
        .await;
    assert_eq!(check.status, 200, "{}", check.text());
    assert_eq!(check.json()["value"]["statedIp"], "36.80.1.2");

    // A wrong type under a differently cased name is still that field's error.
    let bad = s
        .post_json(LOGIN, &[], &json!({"USEREMAIL": ["x"], "password": "p"}))
        .await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["errors"]["userEmail"][0],
        "Unexpected character encountered while parsing value: [. Path 'userEmail'."
    );
}

#[tokio::test]
async fn login_refusals_carry_the_documented_problem_titles() {
    let s = TestServer::start().await;
    let cases = [
        ("nobody@example.com", "test-password"),
        ("test@example.com", "wrong"),
        ("suspended@example.com", "test-password"),
        ("inactive@example.com", "test-password"),
    ];
    let mut got = Vec::new();
    for (email, password) in cases {
        let r = login_at(&s, LOGIN, email, password).await;
        got.push(r.exchange(SHOWN));
    }
    insta::assert_json_snapshot!(got);
}

#[tokio::test]
async fn login_body_mistakes_get_the_asp_net_validation_envelope() {
    let s = TestServer::start().await;
    let mut got = Vec::new();
    for body in [
        json!({}),
        json!({"userEmail": "", "password": null}),
        json!({"userEmail": {"a": 1}, "password": "x"}),
        json!([1, 2]),
    ] {
        got.push(s.post_json(LOGIN, &[], &body).await.exchange(SHOWN));
    }
    for raw in ["", "{\"userEmail\": ", "{\"userEmail\" \"x\"}"] {
        got.push(
            s.request("POST", LOGIN, &[("content-type", "application/json")], raw)
                .await
                .exchange(SHOWN),
        );
    }
    insta::assert_json_snapshot!(got);
}

#[tokio::test]
async fn a_wrong_media_type_gets_415_and_a_wrong_method_405_with_allow() {
    let s = TestServer::start().await;
    let body = r#"{"userEmail":"test@example.com","password":"test-password"}"#;
    let plain = s
        .request("POST", LOGIN, &[("content-type", "text/plain")], body)
        .await;
    let missing = s.request("POST", LOGIN, &[], body).await;
    let get = s.get(LOGIN).await;
    let post_insight = s.request("POST", &insight("R-1"), &[], Bytes::new()).await;
    let unknown = s.get("/credolab/v6.0/datasets/R-1").await;
    insta::assert_json_snapshot!([
        plain.exchange(SHOWN),
        missing.exchange(SHOWN),
        get.exchange(SHOWN),
        post_insight.exchange(SHOWN),
        unknown.exchange(SHOWN),
    ]);
}

#[tokio::test]
async fn missing_unknown_and_foreign_tokens_get_401_with_a_bearer_challenge() {
    let s = TestServer::start().await;
    let none = s.get(&insight("R-1")).await;
    let unknown = get_with(&s, &insight("R-1"), "Bearer not-a-token").await;
    let basic = get_with(&s, &insight("R-1"), "Basic dGVzdDp0ZXN0").await;
    let api_key = get_with(&s, &insight("R-1"), REQUESTER).await;
    insta::assert_json_snapshot!([
        none.exchange(SHOWN),
        unknown.exchange(SHOWN),
        basic.exchange(SHOWN),
        api_key.exchange(SHOWN),
    ]);
}

#[tokio::test]
async fn a_token_expiring_mid_session_is_refused_and_refresh_token_issues_a_working_one() {
    let s = TestServer::start().await;
    let first = login(&s).await;
    let auth = bearer(&first);
    assert_eq!(get_with(&s, &insight("R-7"), &auth).await.status, 200);

    // One second before `.expires` the token still works; at `.expires` it does not.
    s.advance(3599).await;
    assert_eq!(get_with(&s, &insight("R-7"), &auth).await.status, 200);
    s.advance(1).await;
    let expired = get_with(&s, &insight("R-7"), &auth).await;
    insta::assert_json_snapshot!("expired_token", expired.exchange(SHOWN));

    let r = s
        .post_json(
            REFRESH,
            &[],
            &json!({"refreshToken": first["refresh_token"]}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let second = r.json();
    assert_eq!(second[".issued"], "2026-01-15T11:00:00.0000000Z");
    assert_eq!(second[".expires"], "2026-01-15T12:00:00.0000000Z");
    assert_ne!(second["access_token"], first["access_token"]);
    assert_ne!(second["refresh_token"], first["refresh_token"]);
    assert_eq!(
        get_with(&s, &insight("R-7"), &bearer(&second)).await.status,
        200
    );

    // Refresh tokens rotate: the used one is no longer registered.
    let again = s
        .post_json(
            REFRESH,
            &[],
            &json!({"refreshToken": first["refresh_token"]}),
        )
        .await;
    assert_eq!(again.status, 404);
    assert_eq!(again.json()["title"], "refresh_token_invalid");
}

#[tokio::test]
async fn an_unknown_refresh_token_gets_404_refresh_token_invalid() {
    let s = TestServer::start().await;
    let unknown = s
        .post_json(
            REFRESH,
            &[],
            &json!({"refreshToken": "sample refresh token"}),
        )
        .await;
    let missing = s.post_json(REFRESH, &[], &json!({})).await;
    insta::assert_json_snapshot!([unknown.exchange(SHOWN), missing.exchange(SHOWN)]);
}

#[tokio::test]
async fn a_user_suspended_during_the_session_cannot_refresh() {
    let s = TestServer::start().await;
    let mut got = Vec::new();
    for email in ["suspended-later@example.com", "inactive-later@example.com"] {
        let r = login_as(&s, email).await;
        assert_eq!(r.status, 200, "{email} logs in while still active");
        got.push(r.json());
    }
    s.advance(31 * 60).await;
    let mut refused = Vec::new();
    for t in &got {
        // The token issued before the change stays valid until it expires.
        assert_eq!(get_with(&s, &insight("R-2"), &bearer(t)).await.status, 200);
        refused.push(
            s.post_json(REFRESH, &[], &json!({"refreshToken": t["refresh_token"]}))
                .await
                .exchange(SHOWN),
        );
    }
    insta::assert_json_snapshot!(refused);
    // A new login is refused too, now that the state applies.
    let again = login_as(&s, "suspended-later@example.com").await;
    assert_eq!(again.status, 400);
    assert_eq!(
        again.json()["detail"],
        "Unable to login to the suspended subscription."
    );
}

#[tokio::test]
async fn the_token_lifetime_comes_from_the_scenario_file() {
    let s = TestServer::with_scenarios(&[(
        "credolab.toml",
        "vendor = \"credolab\"\n[auth]\ntoken_lifetime_minutes = 5\n",
    )])
    .await;
    let t = login(&s).await;
    assert_eq!(t[".expires"], "2026-01-15T10:05:00.0000000Z");
    s.advance(299).await;
    assert_eq!(get_with(&s, &insight("R-1"), &bearer(&t)).await.status, 200);
    s.advance(1).await;
    assert_eq!(get_with(&s, &insight("R-1"), &bearer(&t)).await.status, 401);
}

#[tokio::test]
async fn tokens_are_deterministic_but_never_reused_after_a_reset() {
    let a = TestServer::start().await;
    let b = TestServer::start().await;
    let ta = login(&a).await;
    assert_eq!(ta, login(&b).await, "same seed, same requests, same tokens");

    let r = a.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(r.status, 200);
    let after = login(&a).await;
    assert_ne!(after["access_token"], ta["access_token"]);
    assert_ne!(after["refresh_token"], ta["refresh_token"]);
    // The reset forgot the old token.
    assert_eq!(
        get_with(&a, &insight("R-1"), &bearer(&ta)).await.status,
        401
    );
    let refresh = a
        .post_json(REFRESH, &[], &json!({"refreshToken": ta["refresh_token"]}))
        .await;
    assert_eq!(refresh.status, 404);
}

// ---- dataset insight ----

#[tokio::test]
async fn dataset_insights_follow_the_documented_shape_per_platform() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut got = Vec::new();
    for r in ["android-12345678", "ios-123456789", "web-1"] {
        got.push(get_with(&s, &insight(r), &auth).await.exchange(SHOWN));
    }
    insta::assert_json_snapshot!(got);
    assert_eq!(got[0]["body"]["datasetInfo"]["source"], 0);
    assert_eq!(got[1]["body"]["datasetInfo"]["source"], 1);
    assert_eq!(got[2]["body"]["datasetInfo"]["source"], 2);
    // Web: no standard fragments, only the subscription's client-specific one.
    assert_eq!(
        got[2]["body"]["fragments"],
        json!([{"code": "device", "value": {"deviceId": got[2]["body"]["fragments"][0]["value"]["deviceId"]}}])
    );
    assert!(got[2]["body"]["fragments"][0]["value"]["deviceId"].is_string());
}

#[tokio::test]
async fn a_reference_number_always_shows_the_same_dataset_and_only_requested_date_moves() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let first = get_with(&s, &insight("R-42"), &auth).await.json();
    s.advance(90).await;
    let mut second = get_with(&s, &insight("R-42"), &auth).await.json();
    assert_eq!(second["requestedDate"], "2026-01-15T10:01:30.000000");
    second["requestedDate"] = first["requestedDate"].clone();
    assert_eq!(first, second);
    let other = get_with(&s, &insight("R-43"), &auth).await.json();
    assert_ne!(first["scores"], other["scores"]);
}

#[tokio::test]
async fn scores_agree_with_probabilities_across_many_datasets() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut pairs = Vec::new();
    let mut platforms = [0; 3];
    for n in 0..60 {
        let d = get_with(&s, &insight(&format!("ref-{n}")), &auth)
            .await
            .json();
        // Two scorecards by default, as a production lender's subscription has.
        assert_eq!(d["scores"].as_array().unwrap().len(), 2);
        assert_eq!(
            (&d["scores"][0]["code"], &d["scores"][1]["code"]),
            (&json!("SC01"), &json!("SC02"))
        );
        let first = d["scores"][0]["value"].as_i64().unwrap();
        let second = d["scores"][1]["value"].as_i64().unwrap();
        assert!(
            (first - second).abs() <= 25,
            "scorecards agree: {first} {second}"
        );
        for sc in d["scores"].as_array().unwrap() {
            let value = sc["value"].as_i64().unwrap();
            let p = sc["probability"].as_f64().unwrap();
            assert!((300..=850).contains(&value), "{value}");
            assert_eq!((p * 10_000.0).round() / 10_000.0, p, "4 decimals: {p}");
            pairs.push((value, p));
        }
        platforms[d["datasetInfo"]["source"].as_u64().unwrap() as usize] += 1;
        let upload = d["datasetInfo"]["uploadDate"].as_str().unwrap();
        assert!(
            upload < d["requestedDate"].as_str().unwrap(),
            "uploaded before asked"
        );
    }
    pairs.sort_by(|a, b| a.partial_cmp(b).unwrap());
    for w in pairs.windows(2) {
        assert!(w[0].1 >= w[1].1, "higher score, lower PD: {w:?}");
    }
    assert!(
        platforms.iter().all(|n| *n > 0),
        "all platforms drawn: {platforms:?}"
    );
}

#[tokio::test]
async fn android_and_ios_fragments_use_the_documented_permission_names() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let android = get_with(&s, &insight("android-p"), &auth).await.json();
    let ios = get_with(&s, &insight("ios-p"), &auth).await.json();
    let codes = |d: &Value| -> Vec<String> {
        d["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["code"].as_str().unwrap().to_string())
            .collect()
    };
    // The doc's standard fragments in its samples' order, then the client-specific one.
    assert_eq!(
        codes(&android),
        ["velocity", "device_info", "permission", "device"]
    );
    assert_eq!(
        codes(&ios),
        ["permissions", "device_info", "velocity", "device"]
    );
    let names = |d: &Value, i: usize| -> Vec<String> {
        d["fragments"][i]["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["permission"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(names(&android, 2)[0], "READ_CONTACTS");
    assert!(names(&android, 2).contains(&"QUERY_ALL_PACKAGES".to_string()));
    assert_eq!(names(&ios, 0)[1], "NSContactsUsageDescription");
    let v = &android["fragments"][0]["value"];
    let count: u32 = v["associatedDatasetsCount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(v["isRepeatableUpload"] == "1", count > 1);
}

#[tokio::test]
async fn dataset_scenarios_answer_their_documented_errors() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut got = Vec::new();
    for r in ["notfound-1", "removed-1", "notconfigured-1"] {
        got.push(get_with(&s, &insight(r), &auth).await.exchange(SHOWN));
    }
    insta::assert_json_snapshot!(got);
}

#[tokio::test]
async fn a_pending_dataset_is_not_found_twice_then_ready() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let r = get_with(&s, &insight("pending-1"), &auth).await;
        assert_eq!(r.header("x-vendor-mock-scenario"), Some("pending"));
        statuses.push(r.status);
        if r.status == 404 {
            assert_eq!(r.json()["title"], "reference_number_invalid");
        }
    }
    assert_eq!(statuses, [404, 404, 200]);
}

#[tokio::test]
async fn rate_limited_and_flaky_datasets_recover_on_the_third_call() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut got = Vec::new();
    for r in ["ratelimited-1", "flaky-1"] {
        let mut statuses = Vec::new();
        for n in 0..3 {
            let reply = get_with(&s, &insight(r), &auth).await;
            if n == 0 {
                got.push(reply.exchange(SHOWN));
            }
            statuses.push(reply.status);
        }
        assert_eq!(statuses[2], 200, "{r}");
        assert_eq!(statuses[0], statuses[1], "{r}");
    }
    insta::assert_json_snapshot!(got);
}

#[tokio::test]
async fn a_slow_dataset_still_answers() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let started = std::time::Instant::now();
    let r = get_with(&s, &insight("slow-1"), &auth).await;
    let waited = started.elapsed();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("slow"));
    // The delay is real time (a client's timeout is what this scenario tests).
    assert!(
        waited >= std::time::Duration::from_secs(3),
        "answered after {waited:?}"
    );
}

// ---- Iovation ----

#[tokio::test]
async fn an_iovation_fraud_check_returns_the_full_documented_shape() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let r = s
        .post_json(
            &fraud("android-12345678", "default"),
            &[("authorization", &auth)],
            &iovation_body("acc-1"),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(SHOWN));
}

#[tokio::test]
async fn iovation_results_are_deterministic_consistent_and_rulesets_ignore_case() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let mut results = std::collections::HashSet::new();
    for n in 0..40 {
        let reference = format!("fc-{n}");
        let a = s
            .post_json(
                &fraud(&reference, "default"),
                &[("authorization", &auth)],
                &iovation_body("acc"),
            )
            .await
            .json();
        let b = s
            .post_json(
                &fraud(&reference, "DeFaUlT"),
                &[("authorization", &auth)],
                &iovation_body("acc"),
            )
            .await
            .json();
        let v = &a["value"];
        assert_eq!(v["result"], b["value"]["result"], "{reference}");
        assert_eq!(
            v["details"]["ruleResults"],
            b["value"]["details"]["ruleResults"]
        );
        let rr = &v["details"]["ruleResults"];
        let rules = rr["rules"].as_array().unwrap();
        let sum: i64 = rules.iter().map(|r| r["score"].as_i64().unwrap()).sum();
        assert_eq!(rr["score"], sum);
        assert_eq!(rr["rulesMatched"], rules.len());
        let want = if sum <= -100 {
            "D"
        } else if sum < 0 {
            "R"
        } else {
            "A"
        };
        assert_eq!(v["result"], want);
        let simulator = rules.iter().any(|r| r["type"] == "Device Anomaly");
        if !v["details"]["device"]["mobile"].is_null() {
            assert_eq!(
                v["details"]["device"]["mobile"]["system"]["simulator"],
                simulator
            );
        }
        results.insert(v["result"].as_str().unwrap().to_string());
    }
    assert!(results.len() >= 2, "results vary: {results:?}");
}

#[tokio::test]
async fn iovation_device_facts_agree_with_the_velocity_fragment() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let (mut velocity_seen, mut new_seen) = (0, 0);
    // Web datasets have no velocity fragment.
    for n in 0..150 {
        let platform = if n % 2 == 0 { "android" } else { "ios" };
        let reference = format!("{platform}-vel-{n}");
        let insights = get_with(
            &s,
            &format!("/credolab/api/insights/v1/{reference}?codes=velocity"),
            REQUESTER,
        )
        .await
        .json();
        let frag = &insights["insights"][0]["value"];
        // iOS sends `velocity` as an array of one object.
        let frag = if frag.is_array() { &frag[0] } else { frag };
        let associated: u32 = frag["associatedDatasetsCount"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        let check = s
            .post_json(
                &fraud(&reference, "default"),
                &[("authorization", &auth)],
                &iovation_body("acc"),
            )
            .await
            .json();
        let rules = check["value"]["details"]["ruleResults"]["rules"]
            .as_array()
            .unwrap()
            .clone();
        let has = |kind: &str| rules.iter().any(|r| r["type"] == kind);
        assert_eq!(
            has("Accounts Per Device"),
            associated > 2,
            "{reference}: {associated} associated datasets, rules {rules:?}"
        );
        if associated > 1 {
            assert!(!has("Device Age"), "{reference}: a reused device is new");
            assert_eq!(
                check["value"]["details"]["device"]["isNew"], false,
                "{reference}"
            );
        }
        velocity_seen += usize::from(has("Accounts Per Device"));
        new_seen += usize::from(has("Device Age"));
    }
    assert!(
        velocity_seen > 0 && new_seen > 0,
        "{velocity_seen} {new_seen}"
    );
}

#[tokio::test]
async fn iovation_refusals_carry_the_documented_titles() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let h = [("authorization", auth.as_str())];
    let mut got = Vec::new();
    for (reference, ruleset) in [
        ("R-1", "strict"),
        ("nodata-1", "default"),
        ("nosettings-1", "default"),
        ("notfound-1", "default"),
        ("removed-1", "default"),
    ] {
        got.push(
            s.post_json(&fraud(reference, ruleset), &h, &iovation_body("acc"))
                .await
                .exchange(SHOWN),
        );
    }
    for body in [
        json!({}),
        json!({"iovationRequestParams": {}}),
        json!({"iovationRequestParams": {"accountCode": "a", "transactionInsight": [1]}}),
        json!({"iovationRequestParams": "x"}),
    ] {
        got.push(
            s.post_json(&fraud("R-1", "default"), &h, &body)
                .await
                .exchange(SHOWN),
        );
    }
    insta::assert_json_snapshot!(got);
}

/// An array is not a JSON object, at the top or as `iovationRequestParams`, even one
/// holding an account code (serde's derive would read a struct from it): ASP.NET's
/// binding error in the validation envelope, never a check. And what the JSON reading
/// refuses inside `transactionInsight` is refused, however the rest is spelled.
#[tokio::test]
async fn an_iovation_body_with_an_array_for_an_object_gets_the_validation_400() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let top = "Cannot deserialize the current JSON array (e.g. [1,2,3]) into type 'IovationFraudCheckRequest' because the type requires a JSON object (e.g. {\"name\":\"value\"}) to deserialize correctly. Path '', line 1, position 1.";
    let params =
        "Unexpected character encountered while parsing value: [. Path 'iovationRequestParams'.";
    let deep = format!(
        r#"{{"iovationRequestParams":{{"accountCode":"acc","transactionInsight":{{"k":{}1{}}}}}}}"#,
        "[".repeat(200),
        "]".repeat(200)
    );
    let cases: Vec<(String, &str, &str)> = vec![
        (r#"[["acc"]]"#.into(), "", top),
        (r#"[{"accountCode":"acc"}]"#.into(), "", top),
        (r#"["c1",1,"s"]"#.into(), "", top),
        (r#"["639181234567","Q1;"]"#.into(), "", top),
        ("[]".into(), "", top),
        (
            r#"{"iovationRequestParams":["acc"]}"#.into(),
            "iovationRequestParams",
            params,
        ),
        (
            r#"{"iovationRequestParams":[]}"#.into(),
            "iovationRequestParams",
            params,
        ),
        (
            r#"{"iovationRequestParams":{"accountCode":"acc","transactionInsight":{"k":"\ud800"}}}"#
                .into(),
            "",
            "",
        ),
        (deep, "", ""),
    ];
    for (body, field, message) in &cases {
        let r = s
            .request("POST", &fraud("R-1", "default"), &h, body.clone())
            .await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        let b = r.json();
        assert_eq!(
            b["title"], "One or more validation errors occurred.",
            "{body}"
        );
        let got = b["errors"][field][0].as_str().unwrap_or_default();
        if message.is_empty() {
            assert!(
                got.starts_with("Unexpected character encountered while parsing value."),
                "{body}: {got}"
            );
        } else {
            assert_eq!(got, *message, "{body}");
        }
    }
}

#[tokio::test]
async fn a_subscription_without_rulesets_answers_missing_settings() {
    let s = TestServer::with_scenarios(&[(
        "credolab.toml",
        "vendor = \"credolab\"\n[iovation]\nrulesets = []\n",
    )])
    .await;
    let auth = bearer(&login(&s).await);
    let r = s
        .post_json(
            &fraud("R-1", "default"),
            &[("authorization", &auth)],
            &iovation_body("acc"),
        )
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["title"], "missing_settings");
}

#[tokio::test]
async fn rulesets_listed_in_the_scenario_file_are_accepted() {
    let s = TestServer::with_scenarios(&[(
        "credolab.toml",
        "vendor = \"credolab\"\n[iovation]\nrulesets = [\"Onboarding\", \"default\"]\n",
    )])
    .await;
    let auth = bearer(&login(&s).await);
    let h = [("authorization", auth.as_str())];
    let ok = s
        .post_json(&fraud("R-1", "onboarding"), &h, &iovation_body("acc"))
        .await;
    assert_eq!(ok.status, 200, "{}", ok.text());
    let bad = s
        .post_json(&fraud("R-1", "payout"), &h, &iovation_body("acc"))
        .await;
    assert_eq!(bad.json()["title"], "ruleset_id_invalid");
}

// ---- API-key surface ----

#[tokio::test]
async fn an_uploaded_dataset_exists_from_then_on_with_its_upload_date() {
    let s = TestServer::start().await;
    s.advance(3600).await;
    let body = json!({"referenceNumber": "up-1", "data": "H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTgUAHIHnrhIAAAA=", "realIp": "36.80.1.2"});
    let r = upload(&s, UPLOADER, &body).await;
    insta::assert_json_snapshot!("upload_accepted", r.exchange(SHOWN));
    s.advance(60).await;

    let auth = bearer(&login(&s).await);
    let d = get_with(&s, &insight("up-1"), &auth).await.json();
    assert_eq!(d["datasetInfo"]["uploadDate"], "2026-01-15T11:00:00.000000");
    assert_eq!(d["requestedDate"], "2026-01-15T11:01:00.000000");

    // A second upload of the same reference number makes it a repeated upload.
    assert_eq!(upload(&s, UPLOADER, &body).await.status, 200);
    let d = get_with(&s, &insight("android-up-2"), &auth).await.json();
    assert_eq!(d["datasetInfo"]["source"], 0);
    let again = get_with(&s, &insight("up-1"), &auth).await.json();
    assert_eq!(
        again["datasetInfo"]["uploadDate"],
        "2026-01-15T11:01:00.000000"
    );
    let fraud_check = s
        .post_json(
            &fraud("up-1", "default"),
            &[("authorization", &auth)],
            &iovation_body("acc"),
        )
        .await
        .json();
    assert_eq!(fraud_check["value"]["statedIp"], "36.80.1.2");

    let journal = s.journal("?path=/credolab/api/datasets/v1/upload").await;
    assert_eq!(journal.len(), 2);
    assert_eq!(journal[0]["entity"], "up-1");
    assert_eq!(journal[1]["note"], "dataset uploaded (upload #2)");
}

#[tokio::test]
async fn an_uploaded_dataset_is_never_not_found_but_can_be_pending_or_removed() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let up = |reference: &str| json!({"referenceNumber": reference, "data": "H4sI"});
    let insights_v1 = |reference: &str| format!("/credolab/api/insights/v1/{reference}");

    // Before the upload a `notfound-` dataset does not exist; after it, every read finds it.
    assert_eq!(
        get_with(&s, &insight("notfound-up"), &auth).await.status,
        404
    );
    assert_eq!(upload(&s, UPLOADER, &up("notfound-up")).await.status, 200);
    let d = get_with(&s, &insight("notfound-up"), &auth).await;
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(d.json()["datasetInfo"]["referenceNumber"], "notfound-up");
    assert_eq!(
        get_with(&s, &insights_v1("notfound-up"), REQUESTER)
            .await
            .status,
        200
    );
    let check = s
        .post_json(
            &fraud("notfound-up", "default"),
            &[("authorization", &auth)],
            &iovation_body("acc"),
        )
        .await;
    assert_eq!(check.status, 200);
    let journal = s
        .journal("?path=/credolab/v6.0/datasets/notfound-up/datasetinsight")
        .await;
    assert_eq!(
        journal.last().unwrap()["note"],
        "uploaded dataset: reference_number_invalid answered as ready"
    );

    // Uploaded, then still processing: two 404s, then ready.
    assert_eq!(upload(&s, UPLOADER, &up("pending-up")).await.status, 200);
    let statuses = [
        get_with(&s, &insight("pending-up"), &auth).await.status,
        get_with(&s, &insight("pending-up"), &auth).await.status,
        get_with(&s, &insight("pending-up"), &auth).await.status,
    ];
    assert_eq!(statuses, [404, 404, 200]);

    // Uploaded, then deleted: 410 (only a dataset that existed can be gone).
    assert_eq!(upload(&s, UPLOADER, &up("removed-up")).await.status, 200);
    let gone = get_with(&s, &insight("removed-up"), &auth).await;
    assert_eq!(gone.status, 410);
    assert_eq!(gone.json()["title"], "dataset_removed");
}

#[tokio::test]
async fn repeated_uploads_show_in_the_velocity_fragment() {
    let s = TestServer::start().await;
    let body = json!({"referenceNumber": "android-rep", "data": "H4sI"});
    for _ in 0..3 {
        assert_eq!(upload(&s, UPLOADER, &body).await.status, 200);
    }
    let auth = bearer(&login(&s).await);
    let d = get_with(&s, &insight("android-rep"), &auth).await.json();
    let v = &d["fragments"][0]["value"];
    assert_eq!(v["isRepeatableUpload"], "1");
    let count: u32 = v["associatedDatasetsCount"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(count >= 3, "{count}");
}

#[tokio::test]
async fn upload_refuses_the_wrong_key_and_invalid_bodies() {
    let s = TestServer::start().await;
    let good = json!({"referenceNumber": "u-1", "data": "H4sI"});
    let mut got = vec![
        upload(&s, REQUESTER, &good).await.exchange(SHOWN),
        upload(&s, "Bearer nope", &good).await.exchange(SHOWN),
    ];
    for body in [
        json!({}),
        json!({"referenceNumber": "x".repeat(101), "data": "not base64!"}),
        json!({"referenceNumber": ["a"], "data": "H4sI", "realIp": {}}),
    ] {
        got.push(upload(&s, UPLOADER, &body).await.exchange(SHOWN));
    }
    insta::assert_json_snapshot!(got);
}

#[tokio::test]
async fn insights_v1_needs_the_requester_key_and_filters_by_codes_or_tags() {
    let s = TestServer::start().await;
    let path = "/credolab/api/insights/v1/android-1";
    let all = get_with(&s, path, REQUESTER).await;
    insta::assert_json_snapshot!("insights_v1_all", all.exchange(SHOWN));

    let codes = |r: &Reply| -> Vec<String> {
        let b = r.json();
        b["scores"]
            .as_array()
            .unwrap()
            .iter()
            .chain(b["insights"].as_array().unwrap())
            .map(|i| i["code"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        codes(&all),
        [
            "SC01",
            "SC02",
            "velocity",
            "device_info",
            "permission",
            "device"
        ]
    );
    let only_score = get_with(&s, &format!("{path}?codes=sc01"), REQUESTER).await;
    assert_eq!(codes(&only_score), ["SC01"]);
    let device = get_with(&s, &format!("{path}?tags=device"), REQUESTER).await;
    assert_eq!(codes(&device), ["device_info", "permission", "device"]);
    let either = get_with(&s, &format!("{path}?codes=velocity&tags=score"), REQUESTER).await;
    assert_eq!(codes(&either), ["SC01", "SC02", "velocity"]);
    let both_codes = get_with(
        &s,
        &format!("{path}?codes=device_info&codes=SC01"),
        REQUESTER,
    )
    .await;
    assert_eq!(codes(&both_codes), ["SC01", "device_info"]);
    let nothing = get_with(&s, &format!("{path}?codes=nope"), REQUESTER).await;
    assert_eq!(codes(&nothing), Vec::<String>::new());
    // Empty values are no filter: a client that fills in the documented template.
    let empty = get_with(&s, &format!("{path}?codes=&tags="), REQUESTER).await;
    assert_eq!(
        codes(&empty),
        [
            "SC01",
            "SC02",
            "velocity",
            "device_info",
            "permission",
            "device"
        ]
    );
    let empty_and_one = get_with(&s, &format!("{path}?codes=&tags=score"), REQUESTER).await;
    assert_eq!(codes(&empty_and_one), ["SC01", "SC02"]);

    assert_eq!(get_with(&s, path, UPLOADER).await.status, 403);
    assert_eq!(s.get(path).await.status, 401);
    let v6 = bearer(&login(&s).await);
    assert_eq!(get_with(&s, path, &v6).await.status, 401);
    let gone = get_with(&s, "/credolab/api/insights/v1/removed-9", REQUESTER).await;
    assert_eq!(gone.status, 410);
    let unconfigured = get_with(&s, "/credolab/api/insights/v1/notconfigured-9", REQUESTER).await;
    assert_eq!(unconfigured.json()["title"], "insights_is_not_configured");
}

#[tokio::test]
async fn api_keys_come_from_the_scenario_file() {
    let s = TestServer::with_scenarios(&[(
        "credolab.toml",
        "vendor = \"credolab\"\n[auth]\nrequester_keys = [\"rk-2\"]\nuploader_keys = [\"uk-2\"]\n",
    )])
    .await;
    let path = "/credolab/api/insights/v1/R-1";
    assert_eq!(get_with(&s, path, "Bearer rk-2").await.status, 200);
    assert_eq!(get_with(&s, path, REQUESTER).await.status, 401);
    let up = upload(
        &s,
        "Bearer uk-2",
        &json!({"referenceNumber": "a", "data": "H4sI"}),
    )
    .await;
    assert_eq!(up.status, 200);
}

// ---- engine settings through the vendor ----

#[tokio::test]
async fn the_scenario_files_rate_limit_answers_429_problems_with_retry_after() {
    let s = TestServer::with_scenarios(&[(
        "limits.toml",
        "vendor = \"credolab\"\n[rate_limit]\nrequests = 2\nper_seconds = 60\n",
    )])
    .await;
    for _ in 0..2 {
        assert_eq!(s.get(&insight("R-1")).await.status, 401);
    }
    let r = s.get(&insight("R-1")).await;
    insta::assert_json_snapshot!("rate_limit_429", r.exchange(SHOWN));
    s.advance(60).await;
    assert_eq!(s.get(&insight("R-1")).await.status, 401);
}

#[tokio::test]
async fn an_oversized_body_gets_a_413_problem() {
    let s = TestServer::with_config(vendor_mock::Config {
        max_body_bytes: 16,
        ..config()
    })
    .await;
    let r = login_at(&s, LOGIN, "test@example.com", "test-password").await;
    assert_eq!(r.status, 413);
    assert_eq!(r.json()["title"], "Payload Too Large");
}

#[tokio::test]
async fn garbage_requests_get_credolab_errors_never_a_crash() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let h = [
        ("authorization", auth.as_str()),
        ("content-type", "application/json"),
    ];
    let cases: &[(&str, &str, &[u8])] = &[
        ("POST", LOGIN, b"\xff\xfe\x00"),
        ("POST", REFRESH, b"{\"refreshToken\": 12}"),
        ("POST", &fraud("R-1", "default"), b"null"),
        (
            "POST",
            &fraud("R-1", "default"),
            b"{\"iovationRequestParams\": {\"accountCode\": 7}}",
        ),
        ("GET", "/credolab/v6.0/datasets/%ff%fe/datasetinsight", b""),
        ("GET", "/credolab/v6.0/datasets/a%2Fb/datasetinsight", b""),
        ("DELETE", "/credolab/api/datasets/v1/upload", b""),
        ("GET", "/credolab/", b""),
    ];
    for (method, path, body) in cases {
        let r = s
            .request(method, path, &h, Bytes::copy_from_slice(body))
            .await;
        assert!(
            [200, 400, 404, 405].contains(&r.status),
            "{method} {path}: {}",
            r.status
        );
        assert!(r.header("x-vendor-mock-scenario").is_some());
    }
}

/// A client written from Credolab's documentation: log in, cache the token until
/// `.expires`, refresh on 401, fetch insights, handle 404 and 410.
#[tokio::test]
async fn a_client_written_from_the_documentation_works_end_to_end() {
    struct Client {
        token: Value,
    }
    let s = TestServer::start().await;
    let mut client = Client {
        token: login(&s).await,
    };
    let mut outcomes = Vec::new();
    for (step, reference) in ["cust-1", "cust-2", "notfound-3", "removed-4", "cust-5"]
        .into_iter()
        .enumerate()
    {
        // Half an hour passes between requests: the token expires along the way.
        if step > 0 {
            s.advance(30 * 60).await;
        }
        let mut r = get_with(&s, &insight(reference), &bearer(&client.token)).await;
        if r.status == 401 {
            let fresh = s
                .post_json(
                    REFRESH,
                    &[],
                    &json!({"refreshToken": client.token["refresh_token"]}),
                )
                .await;
            assert_eq!(fresh.status, 200, "{}", fresh.text());
            client.token = fresh.json();
            r = get_with(&s, &insight(reference), &bearer(&client.token)).await;
        }
        outcomes.push(match r.status {
            200 => format!("score {}", r.json()["scores"][0]["value"]),
            404 | 410 => r.json()["title"].as_str().unwrap().to_string(),
            other => panic!("unexpected {other}: {}", r.text()),
        });
    }
    assert_eq!(outcomes[2], "reference_number_invalid");
    assert_eq!(outcomes[3], "dataset_removed");
    assert!(outcomes[4].starts_with("score "));
    let refreshes = s
        .journal("?path=/credolab/v6.0/account/login/refreshToken")
        .await;
    assert_eq!(refreshes.len(), 2, "refreshed at +60 and +120 minutes");
}

#[tokio::test]
async fn mistakes_in_a_credolab_scenario_file_are_reported_with_their_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("credolab.toml"),
        "vendor = \"credolab\"\n[[users]]\nemail = \"a@b.c\"\npassword = \"p\"\nstate = \"banned\"\n[insights]\nscores = [\"SC01\", \"SC01\"]\n",
    )
    .unwrap();
    let diags = match vendor_mock::App::new(vendor_mock::Config {
        scenario_dirs: vec![dir.path().to_path_buf()],
        ..config()
    }) {
        Ok(_) => panic!("the file has mistakes"),
        Err(d) => d,
    };
    let lines: Vec<String> = diags
        .iter()
        .map(|d| format!("{}:{}: {}", d.line, d.col, d.message))
        .collect();
    assert_eq!(
        lines,
        [
            "5:9: unknown user state `banned`; expected one of: active, subscription_suspended, profile_inactive",
            "7:19: insights.scores: `SC01` is listed twice",
        ]
    );
}

#[tokio::test]
async fn a_users_own_scenarios_can_patch_credolab_answers_or_replace_them() {
    let s = TestServer::with_scenarios(&[(
        "mine.toml",
        r#"vendor = "credolab"

[[scenario]]
name = "high-score"
id_prefix = "vip-"
steps = [{ outcome = "ready_android", patch = { scores = [{ code = "SC01", value = 800, probability = 0.0002 }] } }]

[[scenario]]
name = "outage"
id_prefix = "outage-"
steps = [
  { status = 502, body = "<html>Bad Gateway</html>", times = 1 },
  { outcome = "internal_server_error" },
]
"#,
    )])
    .await;
    let auth = bearer(&login(&s).await);
    let vip = get_with(&s, &insight("vip-1"), &auth).await;
    assert_eq!(vip.header("x-vendor-mock-scenario"), Some("high-score"));
    let body = vip.json();
    assert_eq!(body["scores"][0]["value"], 800);
    assert_eq!(body["datasetInfo"]["source"], 0);
    let first = get_with(&s, &insight("outage-1"), &auth).await;
    assert_eq!(
        (first.status, first.text().as_str()),
        (502, "<html>Bad Gateway</html>")
    );
    let second = get_with(&s, &insight("outage-1"), &auth).await;
    assert_eq!(second.status, 500);
    assert_eq!(
        second.json()["title"],
        "An error occurred while processing your request."
    );
    // The shipped scenarios are still there.
    assert_eq!(get_with(&s, &insight("removed-1"), &auth).await.status, 410);
}

// ---- SDK-key login (credoAppLogin), as public clients call it ----

const SDK_LOGIN: &str = "/credolab/api/account/v1/credoAppLogin";

/// `{"authKey": key}` posted as the React Native sample does (`Accept` and
/// `Content-Type` JSON) to `path`.
async fn sdk_login_at(s: &TestServer, path: &str, key: &str) -> Reply {
    s.request(
        "POST",
        path,
        &[
            ("accept", "application/json"),
            ("content-type", "application/json"),
        ],
        json!({ "authKey": key }).to_string(),
    )
    .await
}

#[tokio::test]
async fn the_sdk_auth_key_logs_in_with_the_same_token_shape_as_the_user_login() {
    let s = TestServer::start().await;
    let r = sdk_login_at(&s, SDK_LOGIN, "test-auth-key").await;
    insta::assert_json_snapshot!("sdk_login", r.exchange(SHOWN));
    let token = r.json();
    let user = login(&s).await;
    let keys = |v: &Value| v.as_object().unwrap().keys().cloned().collect::<Vec<_>>();
    assert_eq!(keys(&token), keys(&user));
    assert_eq!(token["token_type"], "bearer");
    assert_eq!(token[".expires"], "2026-01-15T11:00:00.0000000Z");
    assert_ne!(token["access_token"], user["access_token"]);
    // Every spelling the clients use, ASP.NET routes matching any case, with the
    // content types they send: Flutter's Dart `http` adds `; charset=utf-8`.
    for path in [
        "/credolab/api/account/v1/credoAppLogin",
        "/credolab/api/account/v1/credoapplogin",
        "/credolab/v6.0/account/CredoAppLogin",
        "/credolab/v5.0/account/CredoAppLogin",
        "/credolab/V6.0/ACCOUNT/credoapplogin/",
    ] {
        for content_type in ["application/json", "application/json; charset=utf-8"] {
            let r = s
                .request(
                    "POST",
                    path,
                    &[("content-type", content_type)],
                    json!({"authKey": "test-auth-key"}).to_string(),
                )
                .await;
            assert_eq!(r.status, 200, "{path} {content_type}: {}", r.text());
            assert!(r.json()["access_token"].is_string(), "{path}");
        }
    }
    let get = s.get(SDK_LOGIN).await;
    assert_eq!((get.status, get.header("allow")), (405, Some("POST")));
}

#[tokio::test]
async fn a_wrong_or_missing_auth_key_gets_problem_json() {
    let s = TestServer::start().await;
    let wrong = sdk_login_at(&s, SDK_LOGIN, "343668be-0ed3-426b-b7c1-bccbc07c8cac").await;
    let missing = s.post_json(SDK_LOGIN, &[], &json!({})).await;
    let form = s
        .request(
            "POST",
            SDK_LOGIN,
            &[("content-type", "application/x-www-form-urlencoded")],
            "authKey=test-auth-key",
        )
        .await;
    insta::assert_json_snapshot!(
        "sdk_login_refusals",
        [
            wrong.exchange(SHOWN),
            missing.exchange(SHOWN),
            form.exchange(SHOWN)
        ]
    );
    assert_eq!(wrong.status, 400);
    assert_eq!(wrong.json()["title"], "auth_key_invalid");
    assert_eq!(
        missing.json()["errors"]["authKey"][0],
        "The AuthKey field is required."
    );
    assert_eq!(form.status, 415);
}

#[tokio::test]
async fn the_react_native_sample_logs_in_with_its_auth_key_and_uploads_with_the_token() {
    let s = TestServer::start().await;
    let login = sdk_login_at(
        &s,
        "/credolab/api/account/v1/credoapplogin",
        "test-auth-key",
    )
    .await;
    assert_eq!(login.status, 200);
    let token = login.json()["access_token"].as_str().unwrap().to_string();
    // fetch(`${url}/api/datasets/v1/upload`, {headers: {Accept, Content-Type, Authorization}, body: JSON.stringify({data, referenceNumber})})
    let r = s
        .request(
            "POST",
            "/credolab/api/datasets/v1/upload",
            &[
                ("accept", "application/json"),
                ("content-type", "application/json"),
                ("authorization", &format!("Bearer {token}")),
            ],
            json!({"data": "H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTgUAKQYuZxIAAAA=", "referenceNumber": "rn-sdk-1"})
                .to_string(),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    // The same token reads the dataset it uploaded (one app does).
    let d = get_with(&s, &insight("rn-sdk-1"), &format!("Bearer {token}")).await;
    assert_eq!(d.status, 200, "{}", d.text());
    let d = d.json();
    assert_eq!(d["datasetInfo"]["uploadDate"], "2026-01-15T10:00:00.000000");
    assert_eq!(d["requestor"], "credoapp");
}

#[tokio::test]
async fn the_load_test_suite_logs_in_verifies_and_uploads_with_the_sdk_token() {
    let s = TestServer::start().await;
    let token = sdk_login_at(&s, "/credolab/v6.0/account/CredoAppLogin", "test-auth-key")
        .await
        .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let auth = format!("Bearer {token}");
    let verify = |platform: &'static str| {
        format!("/credolab/api/datasets/v1/verify/{platform}/?referenceNumber=rn-load-7")
    };
    let free = get_with(&s, &verify("mobile"), &auth).await;
    insta::assert_json_snapshot!("verify_free", free.exchange(SHOWN));
    assert_eq!(free.json(), json!(true));
    // UploadDataModel: referenceNumber, isEncrypted, data, isFinal, realIp.
    let up = upload(
        &s,
        &auth,
        &json!({"referenceNumber": "rn-load-7", "isEncrypted": false, "data": "H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTgUAKQYuZxIAAAA=", "isFinal": true, "realIp": "0.0.0.0"}),
    )
    .await;
    assert_eq!(up.status, 200, "{}", up.text());
    for platform in ["mobile", "web"] {
        let taken = get_with(&s, &verify(platform), &auth).await;
        assert_eq!(
            (taken.status, taken.json()),
            (200, json!(false)),
            "{platform}"
        );
    }
    // The Uploader key verifies too; a Requester key is refused; no credential is a 401.
    assert_eq!(
        get_with(&s, &verify("web"), UPLOADER).await.json(),
        json!(false)
    );
    assert_eq!(get_with(&s, &verify("web"), REQUESTER).await.status, 403);
    assert_eq!(s.get(&verify("web")).await.status, 401);
    let bad = get_with(&s, "/credolab/api/datasets/v1/verify/web/", &auth).await;
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.json()["errors"]["referenceNumber"][0],
        "The referenceNumber field is required."
    );
}

#[tokio::test]
async fn sdk_tokens_expire_refresh_and_are_configurable() {
    let dir_file = "vendor = \"credolab\"\n[auth]\nauth_keys = [\"key-a\", \"key-b\"]\n";
    let s = TestServer::with_scenarios(&[("sdk.toml", dir_file)]).await;
    assert_eq!(
        sdk_login_at(&s, SDK_LOGIN, "test-auth-key").await.status,
        400
    );
    let t = sdk_login_at(&s, SDK_LOGIN, "key-b").await.json();
    let refreshed = s
        .post_json(REFRESH, &[], &json!({"refreshToken": t["refresh_token"]}))
        .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.text());
    let again = refreshed.json();
    assert_eq!(
        get_with(&s, &insight("R-sdk"), &bearer(&again))
            .await
            .json()["requestor"],
        "credoapp"
    );
    s.advance(3600).await;
    let late = get_with(&s, &insight("R-sdk"), &bearer(&t)).await;
    assert_eq!(late.status, 401);
    assert!(late.header("www-authenticate").unwrap().contains("expired"));
    let late_upload = upload(
        &s,
        &bearer(&t),
        &json!({"referenceNumber": "x", "data": "AAAA"}),
    )
    .await;
    assert_eq!(late_upload.status, 401);
}

// ---- older upload routes ----

const BLOB: &str = "H4sIAAAAAAAAA6tWKkktLlGyUlAqS8wpTgUAKQYuZxIAAAA=";

#[tokio::test]
async fn older_v6_upload_routes_take_a_bearer_token_and_their_platform_shows_in_insights() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let body = |rn: &str| json!({"referenceNumber": rn, "isEncrypted": false, "data": BLOB, "isFinal": true, "realIp": "0.0.0.0"});
    let verify = |rn: &str| {
        format!("/credolab/v6.0/datasets/upload/mobile/verifyreferencenumber?referenceNumber={rn}")
    };
    assert_eq!(
        get_with(&s, &verify("old-web-1"), &auth).await.json(),
        json!(true)
    );
    let web = s
        .post_json(
            "/credolab/v6.0/datasets/upload/web",
            &[("authorization", &auth)],
            &body("old-web-1"),
        )
        .await;
    assert_eq!((web.status, web.text()), (200, String::new()));
    assert_eq!(
        get_with(&s, &verify("old-web-1"), &auth).await.json(),
        json!(false)
    );
    let d = get_with(&s, &insight("old-web-1"), &auth).await.json();
    assert_eq!(d["datasetInfo"]["source"], 2, "uploaded by the web SDK");
    assert_eq!(d["datasetInfo"]["uploadDate"], "2026-01-15T10:00:00.000000");
    for n in 0..12 {
        let rn = format!("old-mobile-{n}");
        let r = s
            .post_json(
                "/credolab/v6.0/datasets/upload/mobile",
                &[("authorization", &auth)],
                &body(&rn),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
        let d = get_with(&s, &insight(&rn), &auth).await.json();
        let source = d["datasetInfo"]["source"].as_u64().unwrap();
        assert!(
            source == 0 || source == 1,
            "mobile is Android or iOS: {source}"
        );
    }
    // The SDK token works there too; an API key does not (v6.0 takes tokens).
    let sdk = format!(
        "Bearer {}",
        sdk_login_at(&s, SDK_LOGIN, "test-auth-key").await.json()["access_token"]
            .as_str()
            .unwrap()
    );
    let r = s
        .post_json(
            "/credolab/v6.0/datasets/upload/mobile",
            &[("authorization", &sdk)],
            &body("old-sdk-1"),
        )
        .await;
    assert_eq!(r.status, 200);
    let r = s
        .post_json(
            "/credolab/v6.0/datasets/upload/mobile",
            &[("authorization", UPLOADER)],
            &body("old-key-1"),
        )
        .await;
    assert_eq!(r.status, 401);
    let post_verify = s
        .post_json(&verify("x"), &[("authorization", &auth)], &json!({}))
        .await;
    assert_eq!(
        (post_verify.status, post_verify.header("allow")),
        (405, Some("GET"))
    );
}

#[tokio::test]
async fn the_v4_upload_takes_a_record_number_and_the_dataset_appears_in_insights() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    let path = "/credolab/v4.0/datasets/upload";
    let r = s
        .post_json(
            path,
            &[("authorization", &auth)],
            &json!({"recordNumber": "notfound-v4-1", "data": BLOB}),
        )
        .await;
    assert_eq!((r.status, r.text()), (200, String::new()));
    // Uploaded, a notfound- reference number exists (as for the other upload routes).
    let d = get_with(&s, &insight("notfound-v4-1"), &auth).await;
    assert_eq!(d.status, 200, "{}", d.text());
    assert_eq!(
        d.json()["datasetInfo"]["uploadDate"],
        "2026-01-15T10:00:00.000000"
    );
    let bad = s
        .post_json(
            path,
            &[("authorization", &auth)],
            &json!({"referenceNumber": "x", "data": "not base64!"}),
        )
        .await;
    insta::assert_json_snapshot!("v4_upload_refusal", bad.exchange(SHOWN));
    assert_eq!(
        s.post_json(path, &[], &json!({"recordNumber": "a", "data": BLOB}))
            .await
            .status,
        401
    );
}

// ---- several scorecards ----

#[tokio::test]
async fn a_production_client_reads_two_scorecards_and_a_scenario_can_ask_for_one() {
    let s = TestServer::start().await;
    // The PHP client: login, then datasetinsight.
    let auth = bearer(&login(&s).await);
    let d = get_with(&s, &insight("LN-2026-0001"), &auth).await.json();
    let (first, second) = (&d["scores"][0], &d["scores"][1]);
    assert!(first["value"].is_i64() && second["value"].is_i64());
    assert!((first["value"].as_i64().unwrap() - second["value"].as_i64().unwrap()).abs() <= 25);
    // Its client-specific fragment: `device`, read for `deviceId`, the dataset's device.
    let fragment = |d: &Value, code: &str| {
        d["fragments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["code"] == code)
            .map(|f| f["value"].clone())
    };
    let device = fragment(&d, "device").expect("the device fragment is on the subscription");
    let id = device["deviceId"].as_str().unwrap();
    assert_eq!(device, json!({ "deviceId": id }));
    if let Some(info) = fragment(&d, "device_info") {
        assert_eq!(info["deviceID"], id, "one device");
    }
    for platform in ["android-LN-2", "ios-LN-2", "web-LN-2"] {
        let d = get_with(&s, &insight(platform), &auth).await.json();
        let device = fragment(&d, "device").expect(platform);
        assert!(device["deviceId"].as_str().is_some_and(|i| !i.is_empty()));
        assert_eq!(
            d["fragments"].as_array().unwrap().last().unwrap()["code"],
            "device",
            "after the standard fragments: {platform}"
        );
    }
    let v1 = get_with(
        &s,
        "/credolab/api/insights/v1/LN-2026-0001?codes=device",
        REQUESTER,
    )
    .await;
    assert_eq!(
        v1.json()["insights"],
        json!([{"code": "device", "tags": ["device"], "value": {"deviceId": id}}])
    );
    let one = get_with(&s, &insight("onescore-LN-1"), &auth).await;
    assert_eq!(one.header("x-vendor-mock-scenario"), Some("onescore"));
    let scores = one.json()["scores"].as_array().unwrap().clone();
    assert_eq!(scores.len(), 1);
    assert_eq!(scores[0]["code"], "SC01");
    let v1 = get_with(&s, "/credolab/api/insights/v1/onescore-LN-1", REQUESTER).await;
    assert_eq!(v1.json()["scores"].as_array().unwrap().len(), 1);
    assert_eq!(v1.json()["scores"][0], scores[0]);
    // On a wrong password the PHP client goes on with an empty bearer: 401.
    let wrong = login_at(&s, LOGIN, "test@example.com", "nope").await;
    assert_eq!(wrong.status, 400);
    assert_eq!(
        get_with(&s, &insight("LN-2026-0001"), "Bearer ")
            .await
            .status,
        401
    );
}

#[tokio::test]
async fn a_setting_drops_the_client_specific_device_fragment() {
    let file = "vendor = \"credolab\"\n[insights]\ncustom_fragments = []\n";
    let s = TestServer::with_scenarios(&[("no-device.toml", file)]).await;
    let auth = bearer(&login(&s).await);
    let d = get_with(&s, &insight("android-LN-3"), &auth).await.json();
    let codes: Vec<&str> = d["fragments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["code"].as_str().unwrap())
        .collect();
    assert_eq!(codes, ["velocity", "device_info", "permission"]);
    assert_eq!(
        d["scores"].as_array().unwrap().len(),
        2,
        "scores keep their default"
    );
}

// ---- verify: is this reference number free? ----

fn verify_paths(reference: &str) -> [String; 2] {
    [
        format!("/credolab/v6.0/datasets/upload/mobile/verifyreferencenumber?referenceNumber={reference}"),
        format!("/credolab/api/datasets/v1/verify/mobile/?referenceNumber={reference}"),
    ]
}

/// What both verify routes answer for `reference`.
async fn verified(s: &TestServer, auth: &str, reference: &str) -> Value {
    let [v6, v1] = verify_paths(reference);
    let a = get_with(s, &v6, auth).await;
    let b = get_with(s, &v1, auth).await;
    assert_eq!((a.status, b.status), (200, 200), "{reference}");
    assert_eq!(a.json(), b.json(), "{reference}: both routes agree");
    a.json()
}

#[tokio::test]
async fn a_reference_number_a_read_answered_as_a_dataset_is_no_longer_free() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    assert_eq!(verified(&s, &auth, "seen-1").await, json!(true));
    let d = get_with(&s, &insight("seen-1"), &auth).await;
    assert_eq!(d.status, 200);
    assert!(d.json()["datasetInfo"]["uploadDate"].is_string());
    assert_eq!(verified(&s, &auth, "seen-1").await, json!(false));
    // The other reads, and problems about an existing dataset, say so too.
    let v1 = get_with(&s, "/credolab/api/insights/v1/seen-2", REQUESTER).await;
    assert_eq!(v1.status, 200);
    assert_eq!(verified(&s, &auth, "seen-2").await, json!(false));
    let fraud = s
        .post_json(
            &fraud("seen-3", "default"),
            &[("authorization", &auth)],
            &iovation_body("a"),
        )
        .await;
    assert_eq!(fraud.status, 200);
    assert_eq!(verified(&s, &auth, "seen-3").await, json!(false));
    for (reference, status) in [("removed-4", 410), ("notconfigured-4", 400)] {
        assert_eq!(
            get_with(&s, &insight(reference), &auth).await.status,
            status
        );
        assert_eq!(
            verified(&s, &auth, reference).await,
            json!(false),
            "{reference}"
        );
    }
    // "No such dataset" and failures say nothing of the kind: still free.
    for (reference, status) in [
        ("notfound-5", 404),
        ("flaky-5", 503),
        ("ratelimited-5", 429),
    ] {
        assert_eq!(
            get_with(&s, &insight(reference), &auth).await.status,
            status
        );
        assert_eq!(
            verified(&s, &auth, reference).await,
            json!(true),
            "{reference}"
        );
    }
    // A reset forgets what was answered.
    s.post_json("/__admin/reset", &[], &json!({})).await;
    let auth = bearer(&login(&s).await);
    assert_eq!(verified(&s, &auth, "seen-1").await, json!(true));
}

#[tokio::test]
async fn verify_looks_at_the_scenario_without_counting_as_a_read() {
    let s = TestServer::start().await;
    let auth = bearer(&login(&s).await);
    // A pending dataset does not exist yet: free, and verifying uses none of its steps.
    for _ in 0..3 {
        assert_eq!(verified(&s, &auth, "pending-9").await, json!(true));
    }
    assert_eq!(get_with(&s, &insight("pending-9"), &auth).await.status, 404);
    assert_eq!(get_with(&s, &insight("pending-9"), &auth).await.status, 404);
    assert_eq!(verified(&s, &auth, "pending-9").await, json!(true));
    assert_eq!(get_with(&s, &insight("pending-9"), &auth).await.status, 200);
    assert_eq!(verified(&s, &auth, "pending-9").await, json!(false));
    // The shipped taken- scenario: taken before anything was uploaded or read; its
    // reads are ready.
    let [v6, _] = verify_paths("taken-9");
    let taken = get_with(&s, &v6, &auth).await;
    assert_eq!(taken.json(), json!(false));
    assert_eq!(taken.header("x-vendor-mock-scenario"), Some("taken"));
    assert_eq!(get_with(&s, &insight("taken-9"), &auth).await.status, 200);
}

#[tokio::test]
async fn a_users_scenario_picks_the_verify_answer_step_by_step() {
    let file = r#"
vendor = "credolab"

[[scenario]]
name = "reused"
id_prefix = "reused-"
description = "free until read once, then taken"
steps = [
  { outcome = "reference_free", times = 1 },
  { outcome = "reference_taken" },
]

[[scenario]]
name = "always-free"
id_prefix = "alwaysfree-"
description = "free even after an upload"
steps = [{ outcome = "reference_free" }]
"#;
    let s = TestServer::with_scenarios(&[("verify.toml", file)]).await;
    let auth = bearer(&login(&s).await);
    assert_eq!(verified(&s, &auth, "reused-1").await, json!(true));
    assert_eq!(
        verified(&s, &auth, "reused-1").await,
        json!(true),
        "not counted"
    );
    assert_eq!(get_with(&s, &insight("reused-1"), &auth).await.status, 200);
    assert_eq!(verified(&s, &auth, "reused-1").await, json!(false));
    let up = upload(
        &s,
        UPLOADER,
        &json!({"referenceNumber": "alwaysfree-1", "data": BLOB}),
    )
    .await;
    assert_eq!(up.status, 200);
    assert_eq!(verified(&s, &auth, "alwaysfree-1").await, json!(true));
}

/// Issue 17: the OpenAPI document is usable as users use one. A client generated from
/// `openapi/credolab.yaml` by openapi-python-client (nothing hand-written about paths or
/// bodies) logs in, fetches an insight with the token, refreshes, and reads the documented
/// refusals as the document's typed problems.
#[tokio::test]
async fn a_client_generated_from_the_openapi_document_logs_in_and_fetches_an_insight() {
    if !crate::support::python_has(Some("openapi_python_client, httpx, attrs")) {
        return;
    }
    let s = TestServer::start().await;
    crate::support::run_client(
        "credolab_openapi_client.py",
        vec![format!("{}/credolab", s.base)],
    )
    .await;
}

/// Issue 17: `openapi/credolab.yaml` is a valid OpenAPI 3.1 document (openapi-spec-validator).
#[test]
fn the_openapi_document_validates_as_openapi_3_1() {
    if !crate::support::python_has(Some("openapi_spec_validator")) {
        return;
    }
    let out = std::process::Command::new(crate::support::python())
        .args(["-m", "openapi_spec_validator", "openapi/credolab.yaml"])
        .output()
        .expect("the Python interpreter runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("openapi/credolab.yaml: OK"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
