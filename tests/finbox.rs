//! FinBox DeviceConnect Insights over HTTP.

use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use vendor_mock::vendors::finbox::data::{ACCOUNT_TYPES, CATEGORIES, CHANNELS, PERMISSIONS, TAGS};
use vendor_mock::vendors::finbox::{salt, REQUEST_ID_LOOKUP_MAX};

use crate::support::{Reply, TestServer};

const KEY: (&str, &str) = ("x-api-key", "test-finbox-key");
const HASH: &str = "test-finbox-hash";
const PREDICTORS: &str = "/finbox/v2/risk/predictors";
const SHOWN: &[&str] = &["content-type", "x-vendor-mock-scenario"];

fn body(customer: &str, version: i64) -> Value {
    json!({"customer_id": customer, "version": version, "salt": salt(customer, HASH)})
}

async fn predictors(s: &TestServer, customer: &str) -> Reply {
    s.post_json(PREDICTORS, &[KEY], &body(customer, 1)).await
}

fn names(r: &Reply) -> Vec<String> {
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn a_default_customer_gets_complete_predictors_of_version_1() {
    let s = TestServer::start().await;
    let r = predictors(&s, "1234ABCD4567").await;
    insta::assert_json_snapshot!("finbox_complete_v1", r.exchange(SHOWN));
}

#[tokio::test]
async fn version_2_selects_a_different_predictor_set() {
    let s = TestServer::start().await;
    let v1 = predictors(&s, "c-1").await;
    let v2 = s.post_json(PREDICTORS, &[KEY], &body("c-1", 2)).await;
    assert_eq!(v2.status, 200);
    assert_ne!(names(&v1), names(&v2));
    assert!(names(&v2).contains(&"dc_risk_band".to_string()));
    insta::assert_json_snapshot!("finbox_complete_v2", v2.exchange(SHOWN));
}

#[tokio::test]
async fn predictor_values_repeat_per_customer_and_version_and_differ_between_customers() {
    let s = TestServer::start().await;
    let a1 = predictors(&s, "same").await.json()["data"].clone();
    let a2 = predictors(&s, "same").await.json()["data"].clone();
    let b = predictors(&s, "other").await.json()["data"].clone();
    assert_eq!(a1, a2);
    assert_ne!(a1, b);
}

#[tokio::test]
async fn staging_answers_exactly_like_production() {
    let (prod, staging) = (TestServer::start().await, TestServer::start().await);
    let a = predictors(&prod, "c-2").await;
    let b = staging
        .post_json("/finbox/staging/risk/predictors", &[KEY], &body("c-2", 1))
        .await;
    // The same answer, to another path: everything but the request line.
    let answer = |r: &Reply| {
        let mut e = r.exchange(SHOWN);
        e.as_object_mut().unwrap().shift_remove("request");
        e
    };
    assert_eq!(answer(&a), answer(&b));
}

#[tokio::test]
async fn a_missing_or_wrong_api_key_is_refused_with_the_documented_403() {
    let s = TestServer::start().await;
    let missing = s.post_json(PREDICTORS, &[], &body("c", 1)).await;
    let wrong = s
        .post_json(PREDICTORS, &[("x-api-key", "nope")], &body("c", 1))
        .await;
    assert_eq!(missing.exchange(SHOWN), wrong.exchange(SHOWN));
    insta::assert_json_snapshot!("finbox_wrong_key", wrong.exchange(SHOWN));
}

#[tokio::test]
async fn a_salt_computed_with_another_hash_is_refused() {
    let s = TestServer::start().await;
    let bad = json!({"customer_id": "c", "version": 1, "salt": salt("c", "another-hash")});
    let r = s.post_json(PREDICTORS, &[KEY], &bad).await;
    insta::assert_json_snapshot!("finbox_wrong_salt", r.exchange(SHOWN));
}

#[tokio::test]
async fn bad_bodies_get_400_naming_the_key_and_echoing_the_customer() {
    let s = TestServer::start().await;
    let ok_salt = salt("c-9", HASH);
    let cases = [
        json!({"version": 1, "salt": ok_salt}),
        json!({"customer_id": "c-9", "salt": ok_salt}),
        json!({"customer_id": "c-9", "version": 1}),
        json!({"customer_id": "c-9", "version": "1", "salt": ok_salt}),
        json!({"customer_id": 99, "version": 1, "salt": ok_salt}),
        json!({"customer_id": "c-9", "version": 0, "salt": ok_salt}),
        json!({"customer_id": "c-9", "version": 1.5, "salt": ok_salt}),
        json!({"customer_id": "c-9", "version": 1, "salt": ok_salt, "metadata": "personal_loan"}),
        json!({"customer_id": "c-9", "version": 1, "salt": ok_salt, "metadata": ["personal_loan"]}),
        json!([1, 2]),
    ];
    let mut got = Vec::new();
    for c in &cases {
        got.push(s.post_json(PREDICTORS, &[KEY], c).await.exchange(SHOWN));
    }
    for raw in ["", "{\"customer_id\": ", "customer_id=c-9"] {
        got.push(
            s.request("POST", PREDICTORS, &[KEY], raw.to_string())
                .await
                .exchange(SHOWN),
        );
    }
    assert!(got.iter().all(|e| e["status"] == 400));
    insta::assert_json_snapshot!("finbox_bad_bodies", got);
}

/// An array is not a JSON object, even one holding a valid call's values in the
/// documented order (serde's derive would read a struct from it).
#[tokio::test]
async fn an_array_holding_a_valid_calls_values_is_an_invalid_request_body() {
    let s = TestServer::start().await;
    let ok_salt = salt("c1", HASH);
    for path in [PREDICTORS, "/finbox/v2/device-ids"] {
        for body in [
            json!(["c1", 1, ok_salt]),
            json!([]),
            json!(["639181234567", "Q1;"]),
            json!([["acc"]]),
        ] {
            let r = s.post_json(path, &[KEY], &body).await;
            assert_eq!(r.status, 400, "{path} {body}");
            assert_eq!(r.json()["status"], "error", "{path} {body}");
            assert_eq!(r.json()["message"], "Invalid request body", "{path} {body}");
            assert_eq!(r.json()["customer_id"], Value::Null, "{path} {body}");
        }
        let spaced = format!(" \r\n\t[\"c1\", 1, \"{ok_salt}\"]");
        let r = s.request("POST", path, &[KEY], spaced).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.json()["message"], "Invalid request body", "{path}");
    }
}

#[tokio::test]
async fn a_customer_id_longer_than_its_documented_260_characters_is_refused_and_not_echoed() {
    let s = TestServer::start().await;
    for (len, echoed) in [(260, true), (261, false), (900_000, false)] {
        let id = "c".repeat(len);
        let body = json!({"customer_id": id, "version": 1, "salt": salt(&id, HASH)});
        let r = s.post_json(PREDICTORS, &[KEY], &body).await;
        if echoed {
            assert_eq!(r.status, 200, "{len}");
            assert_eq!(r.json()["customer_id"], id.as_str());
        } else {
            assert_eq!(r.status, 400, "{len}");
            assert_eq!(r.json()["message"], "Invalid Key customer_id");
            assert_eq!(r.json()["customer_id"], Value::Null, "{len}");
            assert!(r.body.len() < 400, "{len}: {} bytes", r.body.len());
        }
    }
}

#[tokio::test]
async fn unknown_paths_and_methods_get_finbox_style_404_and_405() {
    let s = TestServer::start().await;
    let a = s
        .post_json("/finbox/v3/risk/predictors", &[KEY], &body("c", 1))
        .await;
    let b = s
        .post_json("/finbox/v2/risk/other", &[KEY], &body("c", 1))
        .await;
    let c = s.get("/finbox/v2/risk/predictors").await;
    assert_eq!((a.status, b.status, c.status), (404, 404, 405));
    insta::assert_json_snapshot!(
        "finbox_404_405",
        [a.exchange(SHOWN), c.exchange(&["allow"])]
    );
}

#[tokio::test]
async fn a_pending_customer_is_in_progress_twice_then_complete() {
    let s = TestServer::start().await;
    let first = predictors(&s, "pending-1").await;
    insta::assert_json_snapshot!("finbox_in_progress", first.exchange(SHOWN));
    let second = predictors(&s, "pending-1").await;
    let third = predictors(&s, "pending-1").await;
    assert_eq!([first.status, second.status, third.status], [202, 202, 200]);
    assert_ne!(first.json()["request_id"], second.json()["request_id"]);
    assert_eq!(third.json()["status"], "complete");
}

#[tokio::test]
async fn a_callback_customer_is_in_progress_for_ten_seconds_of_mock_clock_then_complete() {
    let s = TestServer::start().await;
    assert_eq!(predictors(&s, "callback-1").await.status, 202);
    s.advance(9).await;
    assert_eq!(predictors(&s, "callback-1").await.status, 202);
    s.advance(1).await;
    let done = predictors(&s, "callback-1").await;
    assert_eq!(done.status, 200);
    assert_eq!(done.json()["status"], "complete");
    assert_eq!(done.header("x-vendor-mock-scenario"), Some("callback"));
}

#[tokio::test]
async fn notfound_and_nodata_customers_get_their_documented_200_answers() {
    let s = TestServer::start().await;
    let nf = predictors(&s, "notfound-1").await;
    let nd = predictors(&s, "nodata-1").await;
    insta::assert_json_snapshot!("finbox_not_found", nf.exchange(SHOWN));
    insta::assert_json_snapshot!("finbox_no_data", nd.exchange(SHOWN));
}

#[tokio::test]
async fn ratelimited_and_flaky_customers_fail_twice_with_the_documented_bodies_then_complete() {
    let s = TestServer::start().await;
    for (id, status) in [("ratelimited-1", 429), ("flaky-1", 500)] {
        let a = predictors(&s, id).await;
        let b = predictors(&s, id).await;
        let c = predictors(&s, id).await;
        assert_eq!(
            [a.status, b.status, c.status],
            [status, status, 200],
            "{id}"
        );
        assert_eq!(a.json(), b.json());
        insta::assert_json_snapshot!(format!("finbox_{id}"), a.exchange(SHOWN));
    }
}

#[tokio::test]
async fn a_slow_customer_is_answered_complete_after_three_seconds() {
    let s = TestServer::start().await;
    let started = std::time::Instant::now();
    let r = predictors(&s, "slow-1").await;
    assert!(started.elapsed() >= Duration::from_secs(3));
    assert_eq!(r.json()["status"], "complete");
}

#[tokio::test]
async fn dates_have_a_colon_before_the_milliseconds_and_request_ids_fit_32_characters() {
    let s = TestServer::start().await;
    let r = predictors(&s, "c-dates").await.json();
    for key in ["date_requested", "date_processed"] {
        let d = r[key].as_str().unwrap();
        assert_eq!(d.len(), 23, "{d}");
        assert!(d.starts_with("2026-01-15T"), "{d}");
        assert_eq!(&d[19..20], ":", "{d}");
    }
    assert!(r["request_id"].as_str().unwrap().len() <= 32);
}

#[tokio::test]
async fn metadata_is_accepted_and_recorded_in_the_journal() {
    let s = TestServer::start().await;
    let mut b = body("c-meta", 1);
    b["metadata"] = json!({"loan_type": "business_loan", "loan_amount": 30000});
    assert_eq!(s.post_json(PREDICTORS, &[KEY], &b).await.status, 200);
    let j = s.journal("?vendor=finbox").await;
    let note = j.last().unwrap()["note"].as_str().unwrap().to_string();
    assert_eq!(
        note,
        r#"metadata: {"loan_type":"business_loan","loan_amount":30000}"#
    );
}

#[tokio::test]
async fn any_metadata_object_is_accepted_whatever_its_keys_and_value_types() {
    let s = TestServer::start().await;
    let mut b = body("c-meta2", 1);
    b["metadata"] = json!({"loan_type": "x", "loan_amount": 3000.0, "tags": ["new", "web"]});
    let r = s.post_json(PREDICTORS, &[KEY], &b).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "complete");
    let j = s.journal("?vendor=finbox").await;
    assert_eq!(
        j.last().unwrap()["note"],
        r#"metadata: {"loan_type":"x","loan_amount":3000.0,"tags":["new","web"]}"#
    );
}

#[tokio::test]
async fn the_rate_limit_comes_from_the_scenario_file_and_answers_the_documented_429() {
    let s = TestServer::with_scenarios(&[(
        "limits.toml",
        "vendor = \"finbox\"\n[rate_limit]\nrequests = 2\nper_seconds = 60\n",
    )])
    .await;
    let got: Vec<u16> = [
        predictors(&s, "a").await.status,
        predictors(&s, "b").await.status,
        predictors(&s, "c").await.status,
    ]
    .to_vec();
    assert_eq!(got, [200, 200, 429]);
    s.advance(60).await;
    assert_eq!(predictors(&s, "d").await.status, 200);
}

#[tokio::test]
async fn allowed_ips_restrict_production_but_not_staging() {
    let s = TestServer::with_scenarios(&[(
        "ips.toml",
        "vendor = \"finbox\"\nallowed_ips = [\"10.0.0.0/8\"]\n",
    )])
    .await;
    let prod = predictors(&s, "c-ip").await;
    assert_eq!(prod.status, 403);
    assert_eq!(
        prod.json(),
        json!({"status": "error", "message": "IP address not whitelisted"})
    );
    let staging = s
        .post_json("/finbox/staging/risk/predictors", &[KEY], &body("c-ip", 1))
        .await;
    assert_eq!(staging.status, 200);
}

#[tokio::test]
async fn list_devices_then_transactions_and_accounts_of_a_device_use_the_documented_fields() {
    let s = TestServer::start().await;
    let devices = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("c-dev", 1))
        .await;
    insta::assert_json_snapshot!("finbox_device_ids", devices.exchange(SHOWN));
    let list = devices.json()["data"].as_array().unwrap().clone();
    for d in &list {
        for p in d["given_permissions"].as_array().unwrap() {
            assert!(PERMISSIONS.contains(&p.as_str().unwrap()));
        }
    }
    let device = list[0]["device_id"].as_str().unwrap();
    let hash_body = json!({"user_hash": device, "version": 1, "salt": salt(device, HASH)});
    let accounts = s.post_json("/finbox/v2/accounts", &[KEY], &hash_body).await;
    let txns = s
        .post_json("/finbox/staging/transactions", &[KEY], &hash_body)
        .await;
    insta::assert_json_snapshot!("finbox_accounts", accounts.exchange(SHOWN));
    insta::assert_json_snapshot!("finbox_transactions", txns.exchange(SHOWN));
    let accounts = accounts.json()["data"].as_array().unwrap().clone();
    let hashes: Vec<&Value> = accounts.iter().map(|a| &a["account_hash"]).collect();
    assert_eq!(
        accounts.iter().filter(|a| a["is_primary"] == true).count(),
        1
    );
    for a in &accounts {
        assert!(ACCOUNT_TYPES.contains(&a["type"].as_str().unwrap()));
    }
    for t in txns.json()["data"].as_array().unwrap() {
        assert!(hashes.contains(&&t["account_hash"]));
        assert!(TAGS.contains(&t["tag"].as_str().unwrap()));
        assert!(CHANNELS.contains(&t["channel"].as_str().unwrap()));
        if t["type"] == "debit" {
            assert!(CATEGORIES.contains(&t["category"].as_str().unwrap()));
        }
    }
}

#[tokio::test]
async fn transactions_without_a_user_hash_or_a_customer_id_get_missing_key_user_hash() {
    let s = TestServer::start().await;
    for path in ["/finbox/v2/transactions", "/finbox/staging/accounts"] {
        let r = s
            .post_json(path, &[KEY], &json!({"version": 1, "salt": "s"}))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["message"], "Missing Key user_hash", "{path}");
    }
}

#[tokio::test]
async fn a_400_on_the_user_hash_routes_carries_a_null_customer_id_like_their_answers() {
    let s = TestServer::start().await;
    for path in ["/finbox/v2/transactions", "/finbox/staging/accounts"] {
        let r = s
            .post_json(path, &[KEY], &json!({"version": 1, "salt": "s"}))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["customer_id"], Value::Null, "{path}");
        let b = json!({"user_hash": "d-1", "customer_id": "c-x", "version": "1", "salt": "s"});
        let r = s.post_json(path, &[KEY], &b).await;
        assert_eq!(r.json()["message"], "Invalid Key version");
        assert_eq!(r.json()["customer_id"], Value::Null, "{path}");
    }
}

#[tokio::test]
async fn an_http_webhook_url_is_required_and_a_bad_one_is_reported_with_its_location() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("hook.toml"),
        "vendor = \"finbox\"\nwebhook_url = \"https://example.com/hook\"\n",
    )
    .unwrap();
    let config = vendor_mock::Config {
        scenario_dirs: vec![dir.path().to_path_buf()],
        ..crate::support::config()
    };
    let diags = vendor_mock::App::new(config)
        .err()
        .expect("the file is refused");
    assert_eq!(diags.len(), 1);
    assert_eq!((diags[0].line, diags[0].col), (2, 15));
    assert!(diags[0]
        .message
        .contains("webhook_url must be a plain http:// URL"));
}

// ---- webhooks -------------------------------------------------------------------

/// A webhook receiver the test runs: collects every body; answers 500 to the first
/// `fail_first` deliveries and 200 after.
struct Receiver {
    url: String,
    bodies: mpsc::UnboundedReceiver<Value>,
}

impl Receiver {
    async fn start(fail_first: usize) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        let seen = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (tx, seen) = (tx.clone(), seen.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let (tx, seen) = (tx.clone(), seen.clone());
                        async move {
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let n = seen.fetch_add(1, Ordering::SeqCst);
                            let _ = tx.send(serde_json::from_slice::<Value>(&body).unwrap());
                            let status = if n < fail_first { 500 } else { 200 };
                            Ok::<_, Infallible>(
                                Response::builder()
                                    .status(status)
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            url: format!("http://{addr}/finbox-webhook"),
            bodies: rx,
        }
    }

    async fn next(&mut self) -> Value {
        tokio::time::timeout(Duration::from_secs(10), self.bodies.recv())
            .await
            .expect("a webhook arrives")
            .unwrap()
    }
}

async fn with_webhook(url: &str) -> TestServer {
    TestServer::with_scenarios(&[(
        "hook.toml",
        &format!("vendor = \"finbox\"\nwebhook_url = \"{url}\"\n"),
    )])
    .await
}

/// Wait until the journal holds `n` outbound entries (deliveries are journaled by
/// their own task after the receiver answered).
async fn outbound(s: &TestServer, n: usize) -> Vec<Value> {
    for _ in 0..1000 {
        let j: Vec<Value> = s
            .journal("?vendor=finbox")
            .await
            .into_iter()
            .filter(|e| e["direction"] == "outbound")
            .collect();
        if j.len() >= n {
            return j;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("expected {n} outbound journal entries");
}

fn fetch_path(request_id: &str) -> String {
    format!("{PREDICTORS}?source=webhook&request_id={request_id}")
}

#[tokio::test]
async fn a_webhook_posts_the_final_response_when_the_clock_passes_completion_then_source_webhook_returns_it_for_24_hours(
) {
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    let first = predictors(&s, "callback-w1").await;
    assert_eq!(first.status, 202);
    let request_id = first.json()["request_id"].as_str().unwrap().to_string();

    let early = s
        .post_json(&fetch_path(&request_id), &[KEY], &body("callback-w1", 1))
        .await;
    insta::assert_json_snapshot!("finbox_webhook_not_found", early.exchange(SHOWN));

    s.advance(10).await;
    let delivered = hook.next().await;
    assert_eq!(delivered["request_id"], json!(request_id));
    assert_eq!(delivered["status"], "complete");
    assert_eq!(delivered["date_requested"], "2026-01-15T10:00:00:000");
    assert_eq!(delivered["date_processed"], "2026-01-15T10:00:10:000");
    let journal = outbound(&s, 1).await;
    assert_eq!(journal[0]["status"], 200);
    assert_eq!(journal[0]["path"], json!(hook.url));

    let fetched = s
        .post_json(&fetch_path(&request_id), &[KEY], &body("callback-w1", 1))
        .await;
    assert_eq!(fetched.status, 200);
    assert_eq!(fetched.json(), delivered);

    s.advance(24 * 3600).await;
    let expired = s
        .post_json(&fetch_path(&request_id), &[KEY], &body("callback-w1", 1))
        .await;
    assert_eq!(expired.json()["status"], "webhook_not_found");
}

#[tokio::test]
async fn a_customer_that_completes_by_call_count_gets_its_webhooks_on_the_completing_call() {
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    let a = predictors(&s, "pending-w").await.json()["request_id"].clone();
    let b = predictors(&s, "pending-w").await.json()["request_id"].clone();
    assert_eq!(predictors(&s, "pending-w").await.status, 200);
    let mut got = vec![
        hook.next().await["request_id"].clone(),
        hook.next().await["request_id"].clone(),
    ];
    got.sort_by_key(|v| v.to_string());
    let mut want = vec![a, b];
    want.sort_by_key(|v| v.to_string());
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_customer_completing_on_a_sibling_endpoint_releases_its_waiting_predictor_webhooks() {
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    let a = predictors(&s, "pending-dev").await;
    let b = predictors(&s, "pending-dev").await;
    assert_eq!((a.status, b.status), (202, 202));
    let devices = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("pending-dev", 1))
        .await;
    assert_eq!(devices.status, 200);
    let mut got = [hook.next().await, hook.next().await];
    got.sort_by_key(|v| v["request_id"].to_string());
    let mut want = vec![
        a.json()["request_id"].clone(),
        b.json()["request_id"].clone(),
    ];
    want.sort_by_key(|v| v.to_string());
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(&g["request_id"], w);
        assert_eq!(g["status"], "complete");
        // The predictor request's own answer, not the device list.
        assert_eq!(g["customer_id"], "pending-dev");
        assert!(g["data"][0]["name"].is_string());
    }
}

#[tokio::test]
async fn a_webhook_fetch_without_a_request_id_is_a_400_naming_the_key() {
    let s = TestServer::start().await;
    let mut got = Vec::new();
    for path in [
        format!("{PREDICTORS}?source=webhook"),
        format!("{PREDICTORS}?source=webhook&request_id="),
    ] {
        let r = s.post_json(&path, &[KEY], &body("c-fetch", 1)).await;
        assert_eq!(r.status, 400);
        assert_eq!(r.json()["message"], "Missing Key request_id");
        assert_eq!(r.json()["customer_id"], "c-fetch");
        assert_eq!(r.json()["request_id"].as_str().unwrap().len(), 32);
        got.push(r.exchange(SHOWN));
    }
    insta::assert_json_snapshot!("finbox_webhook_fetch_without_request_id", got);
}

#[tokio::test]
async fn a_failed_delivery_is_retried_after_backoff_and_every_attempt_is_journaled() {
    let mut hook = Receiver::start(1).await;
    let s = with_webhook(&hook.url).await;
    predictors(&s, "callback-retry").await;
    s.advance(10).await;
    let first = hook.next().await;
    let j = outbound(&s, 1).await;
    assert_eq!(j[0]["status"], 500);
    assert!(j[0]["note"]
        .as_str()
        .unwrap()
        .contains("attempt 1 of 4: answered 500; retry due at 2026-01-15T10:00:20Z"));
    s.advance(10).await;
    assert_eq!(hook.next().await, first);
    let j = outbound(&s, 2).await;
    assert_eq!(j[1]["status"], 200);
    assert!(j[1]["note"]
        .as_str()
        .unwrap()
        .contains("attempt 2 of 4: answered 200"));
}

#[tokio::test]
async fn a_dead_webhook_receiver_never_delays_api_answers() {
    // Accepts connections and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream);
        }
    });
    let s = with_webhook(&url).await;
    predictors(&s, "callback-dead").await;
    let quick = Duration::from_secs(2);
    tokio::time::timeout(quick, s.advance(10))
        .await
        .expect("advance answers at once");
    let r = tokio::time::timeout(quick, predictors(&s, "callback-dead"))
        .await
        .expect("the API answers at once");
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn reset_cancels_pending_webhooks_and_forgets_stored_results() {
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    predictors(&s, "callback-r1").await;
    let r = s.post_json("/__admin/reset", &[], &json!({})).await;
    assert_eq!(r.status, 200);
    // The cancelled one never arrives; a later one does, and it is the only one.
    predictors(&s, "callback-r2").await;
    s.advance(10).await;
    assert_eq!(hook.next().await["customer_id"], "callback-r2");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hook.bodies.recv())
            .await
            .is_err(),
        "no other webhook"
    );
}

#[tokio::test]
async fn a_client_written_from_finboxs_documentation_passes_with_only_its_base_url_changed() {
    if !crate::support::python_has(None) {
        return;
    }
    // A free port for the client's webhook receiver, known before the server starts.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let s = with_webhook(&format!("http://127.0.0.1:{port}/finbox-webhook")).await;
    let (base, admin) = (format!("{}/finbox/v2/", s.base), s.base.clone());
    let args = vec![
        base,
        "--webhook-port".into(),
        port.to_string(),
        "--mock-clock".into(),
        admin,
    ];
    crate::support::run_client("finbox_client.py", args).await;
}

#[tokio::test]
async fn with_the_system_clock_a_timer_delivers_the_webhook_when_the_customer_completes() {
    let mut hook = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("timer.toml"),
        format!(
            "vendor = \"finbox\"\nwebhook_url = \"{}\"\n[[scenario]]\nname = \"quick\"\nid_prefix = \"quick-\"\nsteps = [{{ outcome = \"in_progress\", for_seconds = 1 }}, {{ outcome = \"complete\" }}]\n",
            hook.url
        ),
    )
    .unwrap();
    let s = TestServer::with_config(vendor_mock::Config {
        frozen_clock: None,
        scenario_dirs: vec![dir.path().to_path_buf()],
        ..crate::support::config()
    })
    .await;
    let r = predictors(&s, "quick-1").await;
    assert_eq!(r.status, 202);
    // Nobody advances the clock or calls again: the timer alone fires it.
    let delivered = hook.next().await;
    assert_eq!(delivered["request_id"], r.json()["request_id"]);
    assert_eq!(delivered["status"], "complete");
}

#[tokio::test]
async fn a_webhook_fetch_looks_up_unknown_request_ids_up_to_260_characters_and_refuses_longer_ones()
{
    let s = TestServer::start().await;
    assert_eq!(REQUEST_ID_LOOKUP_MAX, 260);
    // FinBox's own List Devices sample carries this 36-character UUID as its request_id
    // (wider than the documented STRING [32]): never issued here, so `webhook_not_found`.
    let uuid = "d573c4f9-6ad0-4009-ad8b-5fd44e9a17ae";
    let r = s
        .post_json(&fetch_path(uuid), &[KEY], &body("c-long", 1))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["status"], "webhook_not_found");
    assert_eq!(r.json()["request_id"], uuid);

    // Up to the cap (multi-byte characters count as one each) is looked up and echoed,
    // and the answer stays small.
    for id in ["b".repeat(260), "é".repeat(260)] {
        let r = s
            .post_json(&fetch_path(&id), &[KEY], &body("c-long", 1))
            .await;
        assert_eq!(r.status, 200, "{id}");
        assert_eq!(r.json()["status"], "webhook_not_found");
        assert_eq!(r.json()["request_id"], json!(id));
        assert!(r.body.len() < 1200, "{} bytes", r.body.len());
    }

    // One more is a 400 naming the key, with a fresh id instead of the given one.
    let long = "a".repeat(261);
    let r = s
        .post_json(&fetch_path(&long), &[KEY], &body("c-long", 1))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["message"], "Invalid Key request_id");
    assert_eq!(r.json()["customer_id"], "c-long");
    let fresh = r.json()["request_id"].as_str().unwrap().to_string();
    assert_eq!(fresh.len(), 32);
    assert!(!fresh.starts_with("aaaa"));
    insta::assert_json_snapshot!(
        "finbox_webhook_fetch_with_a_long_request_id",
        r.exchange(SHOWN)
    );

    // Far longer: the same 400, and the answer stays small.
    let huge = s
        .post_json(&fetch_path(&"z".repeat(4000)), &[KEY], &body("c-long", 1))
        .await;
    assert_eq!(huge.status, 400);
    assert_eq!(huge.json()["message"], "Invalid Key request_id");
    assert!(huge.body.len() < 300, "{} bytes", huge.body.len());
}

// ---- transactions/accounts (service) webhooks --------------------------------------

/// FinBox's published salt example: this customer id with this secret gives
/// `Ki4WO2bbzYOL1tEi4XA46Q8rpcC2yilTZMhOGXRsqOQ=` (docs.finbox.in, Salt Generation).
const EXAMPLE_CUSTOMER: &str = "82169C6312B50CA8233482169F9F288F812B5C02114A6A74E9A62";
const EXAMPLE_SECRET: &str = "5f8cd80c69a34b9785dc66298eabe95b";
const EXAMPLE_SALT: &str = "Ki4WO2bbzYOL1tEi4XA46Q8rpcC2yilTZMhOGXRsqOQ=";

/// The device ids `/device-ids` lists for `customer` (once it is complete).
async fn device_ids(s: &TestServer, customer: &str) -> Vec<String> {
    let r = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body(customer, 1))
        .await;
    assert_eq!(r.json()["status"], "complete");
    r.json()["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["device_id"].as_str().unwrap().to_string())
        .collect()
}

/// `n` webhook bodies, sorted by (device_id, service).
async fn bodies(hook: &mut Receiver, n: usize) -> Vec<Value> {
    let mut got = Vec::new();
    for _ in 0..n {
        got.push(hook.next().await);
    }
    got.sort_by_key(|b| (b["device_id"].to_string(), b["service"].to_string()));
    got
}

/// What the service webhooks of `customer`'s `devices` must be, sorted like [`bodies`].
fn service_bodies(customer: &str, devices: &[String], salt: &str) -> Vec<Value> {
    let mut want: Vec<Value> = devices
        .iter()
        .flat_map(|d| {
            ["accounts", "transactions"].map(|service| {
                json!({"service": service, "device_id": d, "customer_id": customer, "salt": salt})
            })
        })
        .collect();
    want.sort_by_key(|b| (b["device_id"].to_string(), b["service"].to_string()));
    want
}

#[tokio::test]
async fn a_customer_listed_in_progress_gets_transactions_and_accounts_webhooks_per_device_salted_with_the_webhook_secret(
) {
    let mut hook = Receiver::start(0).await;
    let s = TestServer::with_scenarios(&[(
        "hook.toml",
        &format!(
            "vendor = \"finbox\"\nwebhook_url = \"{}\"\n[auth]\napi_key = \"test-finbox-key\"\nserver_hash = \"{HASH}\"\nwebhook_secret = \"{EXAMPLE_SECRET}\"\n[[scenario]]\nname = \"syncing\"\nid_prefix = \"82169C\"\nsteps = [{{ outcome = \"in_progress\", for_seconds = 10 }}, {{ outcome = \"complete\" }}]\n",
            hook.url
        ),
    )])
    .await;
    let listed = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body(EXAMPLE_CUSTOMER, 1))
        .await;
    assert_eq!(listed.status, 202);

    s.advance(10).await;
    let devices = device_ids(&s, EXAMPLE_CUSTOMER).await;
    let got = bodies(&mut hook, 2 * devices.len()).await;
    // The payload's keys in the doc's order, and FinBox's own worked example as salt.
    for b in &got {
        let keys: Vec<&String> = b.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["service", "device_id", "customer_id", "salt"]);
        assert_eq!(b["salt"], EXAMPLE_SALT);
    }
    assert_eq!(
        got,
        service_bodies(EXAMPLE_CUSTOMER, &devices, EXAMPLE_SALT)
    );
    insta::assert_json_snapshot!("finbox_service_webhooks", got);

    let journal = outbound(&s, got.len()).await;
    assert!(journal.iter().all(|e| e["status"] == 200));
    let note = format!(
        "webhook for service transactions of device_id {}, attempt 1 of 4: answered 200",
        devices[0]
    );
    assert!(
        journal.iter().any(|e| e["note"] == json!(note)),
        "{journal:?}"
    );

    // The receiver then fetches what was updated, by the webhook's device_id.
    let device = got[0]["device_id"].as_str().unwrap();
    let fetch = json!({"user_hash": device, "version": 1, "salt": salt(device, HASH)});
    for path in ["/finbox/v2/transactions", "/finbox/v2/accounts"] {
        let r = s
            .post_json(&format!("{path}?source=webhook"), &[KEY], &fetch)
            .await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.json()["status"], "complete", "{path}");
    }
}

#[tokio::test]
async fn the_default_webhook_secret_salts_service_webhooks_as_finboxs_python_sample_does() {
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    // Listed twice while in progress: one update, so each webhook still comes once.
    for wait in [5, 5] {
        let r = s
            .post_json("/finbox/v2/device-ids", &[KEY], &body("callback-dev1", 1))
            .await;
        assert_eq!(r.status, 202);
        s.advance(wait).await;
    }
    let devices = device_ids(&s, "callback-dev1").await;
    let want = service_bodies(
        "callback-dev1",
        &devices,
        // FinBox's Python sample, `create_salt("callback-dev1", "test-finbox-webhook-secret")`,
        // run with CPython's hashlib.
        "el71Qm9+quA1BoM+AC1IHEn/qg5IVwUDaY4mi2E0pOE=",
    );
    assert_eq!(bodies(&mut hook, want.len()).await, want);
    // No duplicates trail them: the next webhook is a later customer's.
    let r = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("callback-dev9", 1))
        .await;
    assert_eq!(r.status, 202);
    s.advance(10).await;
    assert_eq!(hook.next().await["customer_id"], "callback-dev9");
}

#[tokio::test]
async fn a_customer_completing_by_call_count_gets_its_service_webhooks_once_on_the_completing_call()
{
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    for _ in 0..2 {
        let r = s
            .post_json("/finbox/v2/device-ids", &[KEY], &body("pending-dev2", 1))
            .await;
        assert_eq!(r.status, 202);
    }
    // A sibling endpoint's final answer completes the customer.
    assert_eq!(predictors(&s, "pending-dev2").await.status, 200);
    let devices = device_ids(&s, "pending-dev2").await;
    let want = service_bodies(
        "pending-dev2",
        &devices,
        // create_salt("pending-dev2", "test-finbox-webhook-secret"), CPython hashlib.
        "y8TJrevTB3AysqrAB6Ff9D2bU2CRzdv3l547O3BLC0Y=",
    );
    // Two requests waited, yet each device's two webhooks came once: the next webhook
    // is a later customer's.
    assert_eq!(bodies(&mut hook, want.len()).await, want);
    let r = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("callback-dev8", 1))
        .await;
    assert_eq!(r.status, 202);
    s.advance(10).await;
    assert_eq!(hook.next().await["customer_id"], "callback-dev8");
}

#[tokio::test]
async fn a_customer_that_ends_not_found_gets_its_insights_webhook_but_no_service_webhooks() {
    let mut hook = Receiver::start(0).await;
    let s = TestServer::with_scenarios(&[(
        "gone.toml",
        &format!(
            "vendor = \"finbox\"\nwebhook_url = \"{}\"\n[[scenario]]\nname = \"gone\"\nid_prefix = \"gone-\"\nsteps = [{{ outcome = \"in_progress\", for_seconds = 10 }}, {{ outcome = \"not_found\" }}]\n",
            hook.url
        ),
    )])
    .await;
    let listed = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("gone-1", 1))
        .await;
    assert_eq!(listed.status, 202);
    assert_eq!(predictors(&s, "gone-1").await.status, 202);
    s.advance(10).await;
    let insights = hook.next().await;
    assert_eq!(insights["status"], "not_found");
    assert_eq!(insights["customer_id"], "gone-1");
    // Then a later customer's service webhooks, and nothing for gone-1 in between.
    let r = s
        .post_json("/finbox/v2/device-ids", &[KEY], &body("callback-dev7", 1))
        .await;
    assert_eq!(r.status, 202);
    s.advance(10).await;
    assert_eq!(hook.next().await["customer_id"], "callback-dev7");
}

// ---- predictor versions (DC_PREDICTORS_VERSION) ----

/// What the lenders' production clients send: their account's `DC_PREDICTORS_VERSION`
/// (6), the applicant's PAN as `customer_id`, and loan metadata.
fn production_body(pan: &str, version: i64) -> Value {
    json!({
        "customer_id": pan,
        "version": version,
        "salt": salt(pan, HASH),
        "metadata": {"loan_type": "personal_loan", "loan_amount": 50000},
    })
}

#[tokio::test]
async fn a_production_client_sending_version_6_gets_the_version_2_catalogue_with_its_own_values() {
    let s = TestServer::start().await;
    let v6 = s
        .post_json(PREDICTORS, &[KEY], &production_body("ABCDE1234F", 6))
        .await;
    assert_eq!(v6.status, 200, "{}", v6.text());
    assert_eq!(v6.json()["status"], "complete");
    let v2 = s
        .post_json(PREDICTORS, &[KEY], &production_body("ABCDE1234F", 2))
        .await;
    assert_eq!(names(&v6), names(&v2));
    assert_ne!(
        v6.json()["data"],
        v2.json()["data"],
        "values are per version"
    );
    let again = s
        .post_json(
            "/finbox/staging/risk/predictors",
            &[KEY],
            &production_body("ABCDE1234F", 6),
        )
        .await;
    assert_eq!(again.json()["data"], v6.json()["data"]);
    // Any other integer from 1 is a version too.
    for version in [3, 17, 1_000_000] {
        let r = s
            .post_json(PREDICTORS, &[KEY], &production_body("ABCDE1234F", version))
            .await;
        assert_eq!(names(&r), names(&v2), "version {version}");
    }
}

#[tokio::test]
async fn a_pending_customer_on_version_6_polls_to_complete_and_its_webhook_carries_version_6_data()
{
    let mut hook = Receiver::start(0).await;
    let s = with_webhook(&hook.url).await;
    let first = s
        .post_json(PREDICTORS, &[KEY], &production_body("callback-PAN6", 6))
        .await;
    assert_eq!(first.status, 202);
    s.advance(10).await;
    let delivered = hook.next().await;
    let polled = s
        .post_json(PREDICTORS, &[KEY], &production_body("callback-PAN6", 6))
        .await;
    assert_eq!(polled.json()["status"], "complete");
    assert_eq!(delivered["data"], polled.json()["data"]);
}

#[tokio::test]
async fn a_version_that_is_not_an_integer_from_1_keeps_the_400() {
    let s = TestServer::start().await;
    let ok_salt = salt("c-v", HASH);
    for version in [
        json!(0),
        json!(-6),
        json!(6.5),
        json!("6"),
        json!(true),
        json!(1e30),
        json!(0.0),
        json!(-6.0),
        json!(9007199254740994.0),
    ] {
        let b = json!({"customer_id": "c-v", "version": version, "salt": ok_salt});
        let r = s.post_json(PREDICTORS, &[KEY], &b).await;
        assert_eq!(r.status, 400, "{version}");
        assert_eq!(r.json()["message"], "Invalid Key version", "{version}");
        assert_eq!(r.json()["customer_id"], "c-v");
    }
}

#[tokio::test]
async fn a_version_written_as_a_whole_float_as_phps_json_encode_does_is_that_version() {
    let s = TestServer::start().await;
    let pan = "ABCDE1234F";
    // PHP: json_encode(["version" => (float) getenv("DC_PREDICTORS_VERSION"), ...]).
    let raw = format!(
        r#"{{"customer_id":"{pan}","version":6.0,"salt":"{}","metadata":{{"loan_type":"personal_loan","loan_amount":50000}}}}"#,
        salt(pan, HASH)
    );
    let float = s
        .request(
            "POST",
            PREDICTORS,
            &[KEY, ("content-type", "application/json")],
            raw,
        )
        .await;
    assert_eq!(float.status, 200, "{}", float.text());
    let int = s
        .post_json(PREDICTORS, &[KEY], &production_body(pan, 6))
        .await;
    assert_eq!(float.json()["data"], int.json()["data"]);
    let restricted = TestServer::with_scenarios(&[(
        "v.toml",
        "vendor = \"finbox\"\n[versions]\naccepted = [1]\n",
    )])
    .await;
    let b = json!({"customer_id": pan, "version": 6.0, "salt": salt(pan, HASH)});
    let r = restricted.post_json(PREDICTORS, &[KEY], &b).await;
    assert_eq!(r.json()["message"], "Predictors version 6 not found");
}

const VERSIONS_FILE: &str = r#"
vendor = "finbox"

[versions]
accepted = [6, 7]

[versions.catalogues.6]
catalogue = 1

[versions.catalogues.7]
predictors = [
  { name = "lender_score", kind = "score", min = 300, max = 900, decimals = 0 },
  { name = "lender_band", kind = "band", of = "lender_score", bands = [[300, "LOW"], [600, "MID"], [750, "HIGH"]] },
  { name = "cnt_sms_90d", kind = "count", min = 0, max = 5000 },
]
"#;

#[tokio::test]
async fn a_scenario_file_restricts_the_versions_and_declares_a_catalogue_per_version() {
    let s = TestServer::with_scenarios(&[("finbox-versions.toml", VERSIONS_FILE)]).await;
    let v1 = TestServer::start()
        .await
        .post_json(PREDICTORS, &[KEY], &production_body("PQRSX5678K", 1))
        .await;
    let six = s
        .post_json(PREDICTORS, &[KEY], &production_body("PQRSX5678K", 6))
        .await;
    assert_eq!(six.status, 200, "{}", six.text());
    assert_eq!(
        names(&six),
        names(&v1),
        "version 6 answers with catalogue 1"
    );
    let seven = s
        .post_json(PREDICTORS, &[KEY], &production_body("PQRSX5678K", 7))
        .await;
    insta::assert_json_snapshot!("finbox_own_catalogue_v7", seven.exchange(SHOWN));
    let data = seven.json()["data"].clone();
    let score = data[0]["value"].as_i64().unwrap();
    let band = match score {
        s if s >= 750 => "HIGH",
        s if s >= 600 => "MID",
        _ => "LOW",
    };
    assert_eq!(data[1]["value"], band);
    for refused in [1, 2, 8] {
        let r = s
            .post_json(PREDICTORS, &[KEY], &production_body("PQRSX5678K", refused))
            .await;
        assert_eq!(r.status, 400);
        assert_eq!(
            r.json()["message"],
            format!("Predictors version {refused} not found")
        );
    }
}

/// A catalogue at the edges of what `validate` accepts: ranges ±1e15 wide, a `per`
/// with a tiny divisor, a ratio of a huge value to a tiny one, and predictors drawn from
/// those.
const EXTREME_FILE: &str = r#"
vendor = "finbox"

[versions.catalogues.7]
predictors = [
  { name = "wide", kind = "amount", min = -1e15, max = 1e15 },
  { name = "tiny", kind = "score", min = 0, max = 1e-12, decimals = 12 },
  { name = "huge", kind = "per", of = "wide", divisor = 1e-300 },
  { name = "of_huge", kind = "count", of = "huge" },
  { name = "amount_of_huge", kind = "amount", of = "huge" },
  { name = "between", kind = "between", low = "wide", high = "huge" },
  { name = "ratio", kind = "ratio", num = "wide", den = "tiny", decimals = 12 },
  { name = "days", kind = "days", min = -1e15, max = 1e15, of = "ratio" },
  { name = "deep", kind = "count", min = -1e15, max = 1e15 },
]
"#;

#[tokio::test]
async fn a_catalogue_at_the_edges_of_what_validate_accepts_answers_finite_numbers() {
    let s = TestServer::with_scenarios(&[("finbox-extreme.toml", EXTREME_FILE)]).await;
    for i in 0..40 {
        let c = format!("EDGE{i:04}X");
        let r = s
            .post_json(PREDICTORS, &[KEY], &production_body(&c, 7))
            .await;
        assert_eq!(r.status, 200, "{c}: {}", r.text());
        for p in r.json()["data"].as_array().unwrap() {
            let v = p["value"].as_f64();
            assert!(
                v.is_some_and(|v| v.is_finite() && v.abs() <= 1e15),
                "{c}: {p}"
            );
        }
    }
}

/// `vendor-mock validate` on a finbox.toml of `content`, which it must refuse (exit 1):
/// the folder holding the file (kept while the caller reads) and what it wrote to stderr.
fn validate_refuses(content: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("finbox.toml");
    std::fs::write(&path, content).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
        .arg("validate")
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    (dir, String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn a_range_too_wide_to_draw_from_is_refused_by_validate_at_its_predictor() {
    let (dir, err) = validate_refuses("vendor = \"finbox\"\n[versions.catalogues.7]\npredictors = [{ name = \"a\", kind = \"amount\", min = -1e308, max = 1e308 }]\n");
    let path = dir.path().join("finbox.toml");
    assert!(
        err.contains(&format!(
            "{}:3:15: versions.catalogues.7.predictors: a: min must be from -1e15 to 1e15",
            path.display()
        )),
        "{err}"
    );
}

#[test]
fn mistakes_in_versions_are_reported_with_file_line_and_column() {
    let (dir, err) =
        validate_refuses("vendor = \"finbox\"\n[versions]\naccepted = [0]\nfalback = 2\n");
    let path = dir.path().join("finbox.toml");
    let p = path.display();
    assert!(
        err.contains(&format!(
            "{p}:4:1: unknown key `falback` (did you mean `fallback`?)"
        )),
        "{err}"
    );
}

// ---- /transactions and /accounts as a production Go client calls them ----

const NOW_MS: i64 = 1_768_471_200_000;

/// The Go client's body: `json.Marshal` of its request struct, whose fields are all
/// strings but `version` and carry no `omitempty`, so every key is in every body, in
/// this order. On `/transactions` it fills `start_time` / `end_time` with the window it
/// also puts in the query and leaves `num_records` empty (its query says 1000); on
/// `/accounts` it sets `num_records` to "1" and leaves the window empty.
fn go_body(customer: &str, num_records: &str, start: &str, end: &str) -> String {
    format!(
        r#"{{"customer_id":"{customer}","version":6,"salt":"{}","num_records":"{num_records}","start_time":"{start}","end_time":"{end}"}}"#,
        salt(customer, HASH)
    )
}

async fn go_post(s: &TestServer, path: &str, body: String) -> Reply {
    s.request(
        "POST",
        path,
        &[
            ("X-api-key", "test-finbox-key"),
            ("Content-Type", "application/json"),
        ],
        body,
    )
    .await
}

/// The unfiltered records of the customer's first listed device, by `user_hash`.
async fn first_device_records(s: &TestServer, customer: &str, route: &str) -> Vec<Value> {
    let devices = device_ids(s, customer).await;
    let d = &devices[0];
    let r = s
        .post_json(
            &format!("/finbox/staging/{route}"),
            &[KEY],
            &json!({"user_hash": d, "version": 6, "salt": salt(d, HASH)}),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_go_clients_transactions_call_by_customer_id_gets_the_latest_devices_transactions_in_its_window(
) {
    let s = TestServer::start().await;
    let customer = "FGHIJ9012L";
    let all = first_device_records(&s, customer, "transactions").await;
    let (start, end) = (NOW_MS - 60 * 86_400_000, NOW_MS - 30 * 60_000);
    let path =
        format!("/finbox/staging/transactions?num_records=1000&start_time={start}&end_time={end}");
    let r = go_post(
        &s,
        &path,
        go_body(customer, "", &start.to_string(), &end.to_string()),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = r.json();
    assert_eq!(got["status"], "complete");
    assert_eq!(got["customer_id"], customer);
    let want: Vec<Value> = all
        .iter()
        .filter(|t| (start..=end).contains(&t["timeinmilis"].as_i64().unwrap()))
        .cloned()
        .collect();
    assert!(
        !want.is_empty() && want.len() < all.len(),
        "the window filters"
    );
    assert_eq!(got["data"], Value::Array(want));
    insta::assert_json_snapshot!("finbox_go_client_transactions", r.exchange(SHOWN));

    let few =
        format!("/finbox/staging/transactions?num_records=3&start_time={start}&end_time={end}");
    let r = go_post(
        &s,
        &few,
        go_body(customer, "", &start.to_string(), &end.to_string()),
    )
    .await;
    assert_eq!(
        r.json()["data"],
        Value::Array(got["data"].as_array().unwrap()[..3].to_vec())
    );
}

/// Transactions by customer with only `customer_id`, `version` and `salt` in the body,
/// so whatever narrows the answer came from the query.
async fn by_query(s: &TestServer, customer: &str, query: &str) -> Vec<Value> {
    let body = json!({"customer_id": customer, "version": 6, "salt": salt(customer, HASH)});
    let r = go_post(
        s,
        &format!("/finbox/staging/transactions{query}"),
        body.to_string(),
    )
    .await;
    assert_eq!(r.status, 200, "{query}: {}", r.text());
    r.json()["data"].as_array().unwrap().clone()
}

#[tokio::test]
async fn the_transactions_window_and_limit_are_read_from_the_query_alone() {
    let s = TestServer::start().await;
    let customer = "FGHIJ9012L";
    let all = first_device_records(&s, customer, "transactions").await;
    let ms = |t: &Value| t["timeinmilis"].as_i64().unwrap();
    assert!(all.len() >= 5, "enough transactions to cut");
    // A moment between two transactions, so each side of it holds some.
    let cut = (ms(&all[2]) + ms(&all[3])) / 2;
    let until = by_query(&s, customer, &format!("?end_time={cut}")).await;
    assert_eq!(until, all[3..].to_vec(), "end_time alone: up to the cut");
    let since = by_query(&s, customer, &format!("?start_time={cut}")).await;
    assert_eq!(since, all[..3].to_vec(), "start_time alone: from the cut");
    let exact = by_query(&s, customer, &format!("?end_time={}", ms(&all[3]))).await;
    assert_eq!(exact, all[3..].to_vec(), "both ends included");
    let two = by_query(&s, customer, "?num_records=2").await;
    assert_eq!(two, all[..2].to_vec(), "the newest two");
    let both = by_query(
        &s,
        customer,
        &format!("?num_records=1&start_time={}&end_time={cut}", ms(&all[4])),
    )
    .await;
    assert_eq!(both, all[3..4].to_vec());
    let none = by_query(&s, customer, "").await;
    assert_eq!(none, all);

    // The query wins over a body that says otherwise; an empty query value leaves the
    // body's.
    let body = json!({"customer_id": customer, "version": 6, "salt": salt(customer, HASH), "end_time": ms(&all[0]).to_string()}).to_string();
    let r = go_post(
        &s,
        &format!("/finbox/staging/transactions?end_time={cut}"),
        body.clone(),
    )
    .await;
    assert_eq!(r.json()["data"], Value::Array(all[3..].to_vec()));
    let body = json!({"customer_id": customer, "version": 6, "salt": salt(customer, HASH), "end_time": cut.to_string()}).to_string();
    let r = go_post(&s, "/finbox/staging/transactions?end_time=", body).await;
    assert_eq!(r.json()["data"], Value::Array(all[3..].to_vec()));
}

#[tokio::test]
async fn an_empty_user_hash_beside_a_customer_id_is_a_call_by_customer() {
    let s = TestServer::start().await;
    let customer = "FGHIJ9012L";
    let by_device = first_device_records(&s, customer, "accounts").await;
    let b = json!({"user_hash": "", "customer_id": customer, "version": 6, "salt": salt(customer, HASH)});
    let r = s.post_json("/finbox/v2/accounts", &[KEY], &b).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.json()["customer_id"], customer);
    assert_eq!(r.json()["data"], Value::Array(by_device));
    let alone = json!({"user_hash": "", "version": 6, "salt": salt("", HASH)});
    let r = s.post_json("/finbox/v2/transactions", &[KEY], &alone).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (400, json!("Missing Key user_hash"))
    );
}

#[tokio::test]
async fn the_go_clients_accounts_call_with_num_records_1_gets_the_most_recently_used_account() {
    let s = TestServer::start().await;
    let customer = "FGHIJ9012L";
    let all = first_device_records(&s, customer, "accounts").await;
    let r = go_post(
        &s,
        "/finbox/staging/accounts",
        go_body(customer, "1", "", ""),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text());
    let got = r.json()["data"].as_array().unwrap().clone();
    assert_eq!(got.len(), 1);
    let newest = all
        .iter()
        .map(|a| a["last_used_date"].as_str().unwrap())
        .max()
        .unwrap();
    assert_eq!(got[0]["last_used_date"], newest);
    assert!(all.contains(&got[0]));
    let every = go_post(&s, "/finbox/v2/accounts", go_body(customer, "", "", "")).await;
    assert_eq!(every.json()["data"], Value::Array(all));
}

#[tokio::test]
async fn a_customer_keyed_device_call_follows_the_customers_scenario() {
    let s = TestServer::start().await;
    let r = go_post(
        &s,
        "/finbox/v2/accounts",
        go_body("pending-AB12", "", "", ""),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["status"].clone()),
        (202, json!("in_progress"))
    );
    assert_eq!(r.json()["customer_id"], "pending-AB12");
    let r = go_post(
        &s,
        "/finbox/v2/accounts",
        go_body("notfound-AB12", "", "", ""),
    )
    .await;
    assert_eq!(r.json()["status"], "not_found");
    let wrong = go_body("c-salt", "", "", "").replace(&salt("c-salt", HASH), &salt("other", HASH));
    let r = go_post(&s, "/finbox/v2/transactions", wrong).await;
    assert_eq!(
        (r.status, r.json()["message"].clone()),
        (403, json!("Incorrect Salt"))
    );
}

#[tokio::test]
async fn bad_num_records_and_times_get_400_naming_the_key() {
    let s = TestServer::start().await;
    let c = "c-filter";
    let cases = [
        (
            "/finbox/v2/transactions?num_records=abc",
            go_body(c, "", "", ""),
            "Invalid Key num_records",
        ),
        (
            "/finbox/v2/transactions",
            go_body(c, "0", "", ""),
            "Invalid Key num_records",
        ),
        (
            "/finbox/v2/transactions?start_time=yesterday",
            go_body(c, "", "", ""),
            "Invalid Key start_time",
        ),
        (
            "/finbox/v2/transactions",
            go_body(c, "", "", "-5"),
            "Invalid Key end_time",
        ),
        (
            "/finbox/v2/accounts",
            json!({"customer_id": c, "version": 1, "salt": salt(c, HASH), "num_records": [1]})
                .to_string(),
            "Invalid Key num_records",
        ),
    ];
    for (path, body, want) in cases {
        let r = go_post(&s, path, body).await;
        assert_eq!(r.status, 400, "{path}");
        assert_eq!(r.json()["message"], want, "{path}");
        assert_eq!(r.json()["customer_id"], c, "{path}");
    }
    // A JSON integer works as well as a string; times are ignored on /accounts.
    let b = json!({"customer_id": c, "version": 1, "salt": salt(c, HASH), "num_records": 2, "start_time": "x"});
    let r = go_post(&s, "/finbox/v2/accounts", b.to_string()).await;
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["data"].as_array().unwrap().len() <= 2);
}

#[test]
fn the_openapi_document_is_valid_openapi_3_1() {
    crate::support::assert_openapi_document_validates("finbox");
}

/// A user copying an example from `openapi/finbox.yaml` gets what its summary promises:
/// FinBox's own sample request (salted with FinBox's hash) 403 `Incorrect Salt`, every other
/// example a salt that is right for the mock's default SERVER_HASH, so it reaches the
/// scenario its entity id names.
#[tokio::test]
async fn every_request_example_of_the_openapi_document_gets_the_answer_it_describes() {
    let Some(doc) = crate::support::openapi_document("finbox") else {
        return;
    };
    let examples = crate::support::openapi_request_examples(&doc);
    assert!(examples.len() >= 20, "{} examples", examples.len());
    let s = TestServer::start().await;
    for (path, name, body) in examples {
        let r = s.post_json(&format!("/finbox{path}"), &[KEY], &body).await;
        if name == "vendorDocument" {
            assert_eq!(r.status, 403, "{path} {name}: {}", r.text());
            assert_eq!(r.json()["message"], "Incorrect Salt", "{path} {name}");
            continue;
        }
        let by_device = path.ends_with("/transactions") || path.ends_with("/accounts");
        let entity = match body["user_hash"].as_str() {
            Some(h) if by_device && !h.is_empty() => h,
            _ => body["customer_id"]
                .as_str()
                .expect("examples name a customer"),
        };
        assert_eq!(body["salt"], salt(entity, HASH), "{path} {name}");
        assert!(
            [200, 202, 429, 500].contains(&r.status),
            "{path} {name}: {} {}",
            r.status,
            r.text()
        );
        assert_eq!(
            r.header("x-vendor-mock-scenario"),
            Some(crate::support::shipped_scenario_of(entity)),
            "{path} {name}"
        );
    }
}
