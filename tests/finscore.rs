//! FinScore telco scores over HTTP.

use serde_json::{json, Value};

use crate::support::TestServer;

const HEADERS: &[&str] = &["content-type", "x-vendor-mock-scenario", "www-authenticate"];

/// A fresh access token from the default token endpoint.
pub async fn token(s: &TestServer) -> String {
    let r = s
        .post_json(
            "/finscore/oauth/token",
            &[],
            &json!({"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// POST a score request with a bearer token.
pub async fn score(s: &TestServer, token: &str, body: &Value) -> crate::support::Reply {
    let auth = format!("Bearer {token}");
    s.post_json("/finscore/api/v1/score", &[("authorization", &auth)], body)
        .await
}

#[tokio::test]
async fn the_token_endpoint_issues_a_bearer_token_for_3600_seconds() {
    let s = TestServer::start().await;
    let r = s
        .post_json(
            "/finscore/oauth/token",
            &[],
            &json!({"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "test-secret"}),
        )
        .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn a_score_request_for_every_product_answers_every_section() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobileNumber": "639181234567", "productIds": "10;20;21;30;31;40", "guarantorNumber": "639191234567"}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn the_same_number_gets_the_same_scores_and_a_new_transaction_id_each_call() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = json!({"mobileNumber": "639201234567", "productIds": "10;40"});
    let a = score(&s, &t, &body).await.json();
    let b = score(&s, &t, &body).await.json();
    assert_eq!(a["scores"], b["scores"]);
    assert_eq!(a["customer_profile"], b["customer_profile"]);
    assert_ne!(a["transactionid"], b["transactionid"]);
    let tx = a["transactionid"].as_str().unwrap();
    assert_eq!(tx.len(), 32);
    assert!(tx.bytes().all(|c| c.is_ascii_hexdigit()));
    let rid = a["requestid"].as_str().unwrap();
    assert!(
        rid.len() == 9 && rid.bytes().all(|c| c.is_ascii_digit()),
        "{rid}"
    );
}

#[tokio::test]
async fn only_the_requested_sections_are_answered() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = score(
        &s,
        &t,
        &json!({"mobileNumber": "639181234567", "productIds": "20;"}),
    )
    .await
    .json();
    let keys: Vec<&str> = body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "code",
            "requestid",
            "transactionid",
            "result",
            "address_check"
        ]
    );
    let flags = body["address_check"]["20"].as_str().unwrap();
    assert!(flags.len() == 3 && flags.bytes().all(|b| b == b'0' || b == b'1'));
}

#[tokio::test]
async fn scores_lie_in_their_range_and_bands_and_subscription_agree() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let mut seen = std::collections::BTreeSet::new();
    for i in 0..40 {
        let n = format!("6399981{i:05}");
        let b = score(&s, &t, &json!({"mobileNumber": n, "productIds": "10;40"}))
            .await
            .json();
        assert_eq!(b["code"], "0000");
        let score = b["scores"]["10"][0][1].as_i64().unwrap();
        let band = b["scores"]["10"][1][1].as_i64().unwrap();
        assert_eq!(b["scores"]["10"][0][0], "score");
        assert_eq!(b["scores"]["10"][1][0], "band");
        let sub = b["customer_profile"][1][1].as_str().unwrap().to_string();
        match sub.as_str() {
            "Smart Prepaid" => {
                assert!((300..=600).contains(&score), "{score}");
                assert_eq!(band, ((score - 300) / 30 + 1).min(10), "{score}");
            }
            "Smart Postpaid" => {
                assert!((700..=999).contains(&score), "{score}");
                assert_eq!(band, 21 + (score - 700) / 100, "{score}");
            }
            other => panic!("unexpected subscription {other}"),
        }
        seen.insert(sub);
    }
    assert_eq!(seen.len(), 2, "both prepaid and postpaid numbers occur");
}

#[tokio::test]
async fn the_social_circle_check_is_all_zero_without_a_guarantor() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let b = score(
        &s,
        &t,
        &json!({"mobileNumber": "639181234567", "productIds": "30;31"}),
    )
    .await
    .json();
    assert_eq!(
        b["msisdn_check"],
        json!({"30": "(000000000,000000000,00000,00000,00000)", "31": "(000000000,000000000,00000,00000,00000)"})
    );
}

#[tokio::test]
async fn a_request_id_sent_by_the_caller_is_echoed() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let b = score(
        &s,
        &t,
        &json!({"mobileNumber": "639181234567", "productIds": "10", "requestId": "loan-42"}),
    )
    .await
    .json();
    assert_eq!(b["requestid"], "loan-42");
}

#[tokio::test]
async fn a_token_expires_after_3600_seconds_on_the_mock_clock() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = json!({"mobileNumber": "639181234567", "productIds": "10"});
    s.advance(3599).await;
    assert_eq!(score(&s, &t, &body).await.status, 200);
    s.advance(1).await;
    let r = score(&s, &t, &body).await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
    assert_eq!(
        r.json()["message"],
        "Token Expired. The token has exceeded its lifetime of 3600 seconds."
    );
    let fresh = token(&s).await;
    assert_eq!(score(&s, &fresh, &body).await.status, 200);
}

#[tokio::test]
async fn a_missing_or_unknown_token_gets_401() {
    let s = TestServer::start().await;
    let body = json!({"mobileNumber": "639181234567", "productIds": "10"});
    let missing = s.post_json("/finscore/api/v1/score", &[], &body).await;
    insta::assert_json_snapshot!(missing.exchange(HEADERS));
    let unknown = score(&s, "not-a-token", &body).await;
    assert_eq!(unknown.status, 401);
    let basic = s
        .post_json(
            "/finscore/api/v1/score",
            &[("authorization", "Basic dGVzdA==")],
            &body,
        )
        .await;
    assert_eq!(basic.status, 401);
}

#[tokio::test]
async fn tokens_are_forgotten_by_admin_reset_and_never_reissued() {
    let s = TestServer::start().await;
    let before = token(&s).await;
    let r = s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(r.status, 200);
    let body = json!({"mobileNumber": "639181234567", "productIds": "10"});
    assert_eq!(score(&s, &before, &body).await.status, 401);
    let after = token(&s).await;
    assert_ne!(before, after);
}

#[tokio::test]
async fn wrong_client_credentials_and_grant_types_get_oauth_errors() {
    let s = TestServer::start().await;
    let wrong = s
        .post_json(
            "/finscore/oauth/token",
            &[],
            &json!({"grant_type": "client_credentials", "client_id": "test-client", "client_secret": "nope"}),
        )
        .await;
    insta::assert_json_snapshot!("wrong_secret", wrong.exchange(HEADERS));
    let grant = s
        .post_json(
            "/finscore/oauth/token",
            &[],
            &json!({"grant_type": "password", "client_id": "test-client", "client_secret": "test-secret"}),
        )
        .await;
    insta::assert_json_snapshot!("wrong_grant", grant.exchange(HEADERS));
    let missing = s.post_json("/finscore/oauth/token", &[], &json!({})).await;
    assert_eq!(missing.status, 400);
    assert_eq!(missing.json()["error"], "invalid_request");
    let garbage = s
        .request(
            "POST",
            "/finscore/oauth/token",
            &[("content-type", "application/json")],
            "{not json",
        )
        .await;
    assert_eq!(garbage.status, 400);
}

#[tokio::test]
async fn the_token_endpoint_also_takes_a_form_body_and_basic_client_auth() {
    let s = TestServer::start().await;
    let form = s
        .request(
            "POST",
            "/finscore/oauth/token",
            &[("content-type", "application/x-www-form-urlencoded")],
            "grant_type=client_credentials&client_id=test-client&client_secret=test-secret",
        )
        .await;
    assert_eq!(form.status, 200, "{}", form.text());
    // base64("test-client:test-secret")
    let basic = s
        .post_json(
            "/finscore/oauth/token",
            &[("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=")],
            &json!({"grant_type": "client_credentials"}),
        )
        .await;
    assert_eq!(basic.status, 200, "{}", basic.text());
}

#[tokio::test]
async fn numbers_starting_6399900_have_no_score_available() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobileNumber": "639990012345", "productIds": "10;40"}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn numbers_starting_6399911_get_a_general_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobileNumber": "639991112345", "productIds": "10"}),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("error"));
    let b = r.json();
    assert_eq!(
        (b["code"].as_str(), b["result"].as_str()),
        (Some("1111"), Some("error"))
    );
    assert!(b.get("scores").is_none());
}

#[tokio::test]
async fn a_smart_product_with_a_globe_number_gets_the_documented_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobileNumber": "639171234567", "productIds": "10;20;30;40"}),
    )
    .await;
    insta::assert_json_snapshot!(r.exchange(HEADERS));
}

#[tokio::test]
async fn an_unknown_product_id_gets_a_general_error() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let b = score(
        &s,
        &t,
        &json!({"mobileNumber": "639181234567", "productIds": "10;99"}),
    )
    .await
    .json();
    assert_eq!(b["code"], "1111");
    assert!(b["message"].as_str().unwrap().contains("99"), "{b}");
}

#[tokio::test]
async fn malformed_requests_get_a_clear_400_and_never_a_panic() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let r = score(
        &s,
        &t,
        &json!({"mobileNumber": "09171234567", "productIds": "10"}),
    )
    .await;
    insta::assert_json_snapshot!("malformed_number", r.exchange(HEADERS));
    let cases = [
        json!({"productIds": "10"}),
        json!({"mobileNumber": 639181234567u64, "productIds": "10"}),
        json!({"mobileNumber": "639181234567"}),
        json!({"mobileNumber": "639181234567", "productIds": ";;"}),
        json!({"mobileNumber": "639181234567", "productIds": ["10"]}),
        json!({"mobileNumber": "639181234567", "productIds": "30", "guarantorNumber": "12"}),
        json!([1, 2]),
        json!("639181234567"),
    ];
    for body in cases {
        let r = score(&s, &t, &body).await;
        assert_eq!(r.status, 400, "{body}: {}", r.text());
        assert_eq!(r.json()["code"], "1111", "{body}");
    }
    let auth = format!("Bearer {t}");
    for raw in ["", "{", "\u{0}\u{1}", "null"] {
        let r = s
            .request(
                "POST",
                "/finscore/api/v1/score",
                &[
                    ("authorization", &auth),
                    ("content-type", "application/json"),
                ],
                raw,
            )
            .await;
        assert_eq!(r.status, 400, "{raw:?}");
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_are_refused() {
    let s = TestServer::start().await;
    assert_eq!(s.get("/finscore/api/v1/nothing").await.status, 404);
    let r = s.get("/finscore/api/v1/score").await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
}

#[tokio::test]
async fn a_ratelimited_number_gets_two_429s_then_its_score() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = json!({"mobileNumber": "639992212345", "productIds": "10"});
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(score(&s, &t, &body).await.status);
    }
    assert_eq!(got, [429, 429, 200]);
}

#[tokio::test]
async fn a_flaky_number_gets_two_503s_then_its_score() {
    let s = TestServer::start().await;
    let t = token(&s).await;
    let body = json!({"mobileNumber": "639993312345", "productIds": "10"});
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(score(&s, &t, &body).await.status);
    }
    assert_eq!(got, [503, 503, 200]);
}

#[tokio::test]
async fn paths_field_names_and_networks_come_from_the_scenario_file() {
    let s = TestServer::with_scenarios(&[(
        "finscore.toml",
        r#"
vendor = "finscore"

[auth]
client_id = "me"
client_secret = "pw"
token_lifetime_seconds = 60

[api]
token_path = "/auth/token"
score_path = "/telco/score"
mobile_number_field = "cellphoneNumber"
product_ids_field = "products"

[products]
911 = "score"
10 = "score"

[[network]]
name = "Globe"
prefixes = ["0917"]
product_ids = ["911"]

[[network]]
name = "SMART"
prefixes = ["0918"]
product_ids = ["10"]
"#,
    )])
    .await;
    let r = s
        .post_json(
            "/finscore/auth/token",
            &[],
            &json!({"grant_type": "client_credentials", "client_id": "me", "client_secret": "pw"}),
        )
        .await;
    assert_eq!(r.json()["expires_in"], 60);
    let auth = format!("Bearer {}", r.json()["access_token"].as_str().unwrap());
    let b = s
        .post_json(
            "/finscore/telco/score",
            &[("authorization", &auth)],
            &json!({"cellphoneNumber": "639171234567", "products": "911"}),
        )
        .await
        .json();
    assert_eq!(b["code"], "0000", "{b}");
    assert!(b["scores"]["911"].is_array());
    assert_eq!(
        s.post_json("/finscore/api/v1/score", &[], &json!({}))
            .await
            .status,
        404
    );
    s.advance(60).await;
    let expired = s
        .post_json(
            "/finscore/telco/score",
            &[("authorization", &auth)],
            &json!({"cellphoneNumber": "639171234567", "products": "911"}),
        )
        .await;
    assert_eq!(
        expired.json()["message"],
        "Token Expired. The token has exceeded its lifetime of 60 seconds."
    );
}
