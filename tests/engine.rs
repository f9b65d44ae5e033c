//! The vendor-neutral engine over HTTP: scenario steps, state, determinism, limits,
//! listeners and shutdown. Credeau is the vehicle; the behaviours are the engine's.

use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use vendor_mock::{App, Config};

use crate::support::{self, send, TestServer};

const AUTH: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
];
const INSIGHTS: &str = "/credeau/api/insights";
const ASYNC: &str = "/credeau/api/async_insights";

fn body(user: &str) -> Value {
    json!({"user_id": user, "client_id": "test-client", "groupings": ["sms", "fraud", "extracted_sms"]})
}

const EXTRA: &str = r#"
vendor = "credeau"

[[scenario]]
name = "teapot"
id_prefix = "raw-"
description = "a raw answer once, then the vendor's"
steps = [
  { status = 418, body = { teapot = true }, headers = { "x-extra" = "1" } },
  { outcome = "completed", patch = { message = "patched" } },
]

[[scenario]]
name = "drop"
id_prefix = "drop-"
steps = [{ fault = "reset" }, { outcome = "user_not_found" }]

[[scenario]]
name = "timed"
id_prefix = "timed-"
steps = [{ outcome = "in_progress", for_seconds = 30 }, { outcome = "completed" }]

[[scenario]]
name = "patched"
id_prefix = "patched-"
steps = [{ outcome = "completed", patch = { all_sms_count_nlp = 0, extra_field = "x" } }]

[[scenario]]
name = "pending-long"
id_prefix = "pending-long-"
steps = [{ outcome = "in_progress", times = 5 }, { outcome = "completed" }]

[[scenario]]
name = "text"
id_prefix = "text-"
steps = [{ status = 503, body = "down for maintenance" }]
"#;

#[tokio::test]
async fn a_raw_step_answers_with_its_status_headers_and_body_then_the_next_step_applies() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let r = s.post_json(INSIGHTS, AUTH, &body("raw-1")).await;
    insta::assert_json_snapshot!(r.exchange(&["content-type", "x-extra", "x-vendor-mock-scenario"]), @r#"
    {
      "request": "POST /credeau/api/insights",
      "status": 418,
      "headers": {
        "content-type": "application/json",
        "x-extra": "1",
        "x-vendor-mock-scenario": "teapot"
      },
      "body": {
        "teapot": true
      }
    }
    "#);
    let r = s.post_json(INSIGHTS, AUTH, &body("raw-1")).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["message"], "patched");
}

#[tokio::test]
async fn a_raw_step_that_writes_its_own_date_header_keeps_it() {
    let s = TestServer::with_scenarios(&[(
        "dated.toml",
        r#"
vendor = "credeau"

[[scenario]]
name = "dated"
id_prefix = "dated-"
steps = [{ status = 503, body = "down", headers = { "date" = "Wed, 21 Oct 2015 07:28:00 GMT" } }]
"#,
    )])
    .await;
    let r = s.post_json(INSIGHTS, AUTH, &body("dated-1")).await;
    assert_eq!(r.status, 503);
    assert_eq!(r.header("date"), Some("Wed, 21 Oct 2015 07:28:00 GMT"));
    assert_eq!(r.headers.get_all("date").iter().count(), 1);
    // Other answers carry the mock clock's.
    let r = s.post_json(INSIGHTS, AUTH, &body("u-1")).await;
    assert_eq!(r.header("date"), Some("Thu, 15 Jan 2026 10:00:00 GMT"));
}

#[tokio::test]
async fn a_raw_text_body_is_sent_as_is() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let r = s.post_json(INSIGHTS, AUTH, &body("text-1")).await;
    assert_eq!(
        (r.status, r.text().as_str(), r.header("content-type")),
        (
            503,
            "down for maintenance",
            Some("text/plain; charset=utf-8")
        )
    );
}

#[tokio::test]
async fn a_reset_fault_closes_the_connection_without_an_answer() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let req = hyper::Request::post(format!("{}{INSIGHTS}", s.base))
        .header("x-client-id", "test-client")
        .header("x-auth-token", "test-token")
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(Bytes::from(
            body("drop-1").to_string(),
        )))
        .unwrap();
    assert!(
        client.request(req).await.is_err(),
        "the connection is closed with no answer"
    );
    let r = s.post_json(INSIGHTS, AUTH, &body("drop-1")).await;
    assert_eq!(r.json()["message"], "user not found");
    let j = s.journal("?limit=2").await;
    assert_eq!(
        j[0]["status"],
        Value::Null,
        "the dropped exchange is journaled without a status"
    );
}

#[tokio::test]
async fn a_for_seconds_step_holds_until_the_mock_clock_passes_it() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let status = || async { s.post_json(ASYNC, AUTH, &body("timed-1")).await.status };
    assert_eq!(status().await, 202);
    s.advance(29).await;
    assert_eq!(status().await, 202);
    s.advance(1).await;
    assert_eq!(status().await, 200);
}

#[tokio::test]
async fn a_patch_merges_into_the_rendered_body_keeping_its_field_order() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let r = s.post_json(INSIGHTS, AUTH, &body("patched-1")).await;
    let v = r.json();
    assert_eq!(v["all_sms_count_nlp"], 0);
    assert_eq!(v["extra_field"], "x");
    let keys: Vec<&String> = v.as_object().unwrap().keys().collect();
    assert_eq!(
        keys[3], "all_sms_count_nlp",
        "patched fields stay where the vendor puts them"
    );
}

#[tokio::test]
async fn the_longest_matching_prefix_wins() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let mut statuses = Vec::new();
    for _ in 0..6 {
        let r = s.post_json(ASYNC, AUTH, &body("pending-long-1")).await;
        assert_eq!(r.header("x-vendor-mock-scenario"), Some("pending-long"));
        statuses.push(r.status);
    }
    assert_eq!(statuses, [202, 202, 202, 202, 202, 200]);
}

#[tokio::test]
async fn state_is_kept_per_full_id_so_suffixed_ids_never_interfere() {
    let s = TestServer::start().await;
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-a")).await.status,
        202
    );
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-a")).await.status,
        202
    );
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-b")).await.status,
        202
    );
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-a")).await.status,
        200
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_for_one_id_each_advance_the_sequence_exactly_once() {
    let s = TestServer::with_scenarios(&[("extra.toml", EXTRA)]).await;
    let calls = (0..12).map(|_| {
        let base = s.base.clone();
        tokio::spawn(async move {
            let b = Bytes::from(body("pending-long-x").to_string());
            send(
                &base,
                "POST",
                ASYNC,
                &[("content-type", "application/json"), AUTH[0], AUTH[1]],
                b,
            )
            .await
            .status
        })
    });
    let mut statuses = Vec::new();
    for c in calls.collect::<Vec<_>>() {
        statuses.push(c.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 202).count(),
        5,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        7,
        "{statuses:?}"
    );
}

async fn sequence(config: Config) -> Vec<Bytes> {
    let s = TestServer::with_config(config).await;
    let mut out = Vec::new();
    for user in ["pending-1", "pending-1", "u1", "notfound-1", "pending-1"] {
        out.push(s.post_json(ASYNC, AUTH, &body(user)).await.body);
    }
    out.push(
        s.post_json(INSIGHTS, &[("x-client-id", "nope")], &body("u1"))
            .await
            .body,
    );
    out.push(
        s.post_json(
            "/credeau/api/fetch_extracted_data",
            AUTH,
            &json!({"user_id": "u1", "client_id": "test-client"}),
        )
        .await
        .body,
    );
    out
}

#[tokio::test]
async fn the_same_seed_and_requests_on_a_frozen_clock_give_the_same_bytes() {
    let a = sequence(support::config()).await;
    let b = sequence(support::config()).await;
    assert!(a == b, "two runs differ");
    let c = sequence(Config {
        seed: support::SEED + 1,
        ..support::config()
    })
    .await;
    assert_ne!(a[2], c[2], "another seed gives other data");
}

#[tokio::test]
async fn reset_forgets_entity_state_and_never_hands_out_an_id_twice() {
    let s = TestServer::start().await;
    let first = s.post_json(ASYNC, AUTH, &body("pending-r")).await;
    assert_eq!(
        s.post_json(ASYNC, AUTH, &body("pending-r")).await.status,
        202
    );
    assert_eq!(
        s.post_json("/__admin/reset", &[], &json!({})).await.status,
        200
    );
    let again = s.post_json(ASYNC, AUTH, &body("pending-r")).await;
    assert_eq!(again.status, 202, "the sequence starts over");
    assert_ne!(first.json()["request_id"], again.json()["request_id"]);
    assert!(
        s.journal("").await.len() == 1,
        "the journal was cleared before this call"
    );
}

#[tokio::test]
async fn a_body_over_max_body_bytes_gets_413_before_it_is_read() {
    let s = TestServer::with_config(Config {
        max_body_bytes: 64,
        ..support::config()
    })
    .await;
    let big = format!(
        r#"{{"user_id":"{}","client_id":"test-client","groupings":[]}}"#,
        "a".repeat(100)
    );
    let r = s
        .request(
            "POST",
            INSIGHTS,
            &[AUTH[0], AUTH[1], ("content-type", "application/json")],
            big.clone(),
        )
        .await;
    assert_eq!(r.status, 413);
    assert!(r.text().contains("413 Request Entity Too Large"));
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("default"));
    // A body far larger than the cap, declared up front, is refused without reading it.
    let huge = vec![b' '; 8 * 1024 * 1024];
    let r = s
        .request(
            "POST",
            INSIGHTS,
            &[("content-type", "application/json")],
            huge,
        )
        .await;
    assert_eq!(r.status, 413);
    // Small bodies still pass.
    let r = s
        .post_json(
            INSIGHTS,
            AUTH,
            &json!({"user_id": "u", "client_id": "test-client", "groupings": []}),
        )
        .await;
    assert_eq!(r.status, 200);
}

#[tokio::test]
async fn the_journal_keeps_only_the_last_journal_limit_exchanges() {
    let s = TestServer::with_config(Config {
        journal_limit: 3,
        ..support::config()
    })
    .await;
    for i in 0..5 {
        s.post_json(INSIGHTS, AUTH, &body(&format!("u{i}"))).await;
    }
    let j = s.journal("").await;
    let users: Vec<&str> = j.iter().map(|e| e["entity"].as_str().unwrap()).collect();
    assert_eq!(users, ["u2", "u3", "u4"]);
}

#[tokio::test]
async fn vendor_listen_serves_a_vendor_at_the_root_of_its_own_port() {
    let app = App::new(support::config()).unwrap();
    let main = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own_addr = own.local_addr().unwrap();
    let listeners = vec![
        vendor_mock::server::Listener {
            listener: main,
            vendor: None,
        },
        vendor_mock::server::Listener {
            listener: own,
            vendor: Some("credeau"),
        },
    ];
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(vendor_mock::run_all(listeners, app, async move {
        let _ = rx.await;
    }));
    let base = format!("http://{own_addr}");
    let r = send(
        &base,
        "POST",
        "/api/insights",
        &[("content-type", "application/json"), AUTH[0], AUTH[1]],
        Bytes::from(body("u1").to_string()),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["message"], "featurization completed");
    let r = send(&base, "GET", "/credeau/health", &[], Bytes::new()).await;
    assert_eq!(r.status, 403, "on its own port the vendor has no prefix");
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn shutdown_lets_an_in_flight_request_finish_then_run_returns() {
    let slow = r#"
vendor = "credeau"
[[scenario]]
name = "lagging"
id_prefix = "lag-"
steps = [{ outcome = "completed", delay_ms = 300 }]
"#;
    let s = TestServer::with_scenarios(&[("slow.toml", slow)]).await;
    let base = s.base.clone();
    let in_flight = tokio::spawn(async move {
        send(
            &base,
            "POST",
            INSIGHTS,
            &[("content-type", "application/json"), AUTH[0], AUTH[1]],
            Bytes::from(body("lag-1").to_string()),
        )
        .await
    });
    // Wait until the server has journaled the request (it is then sleeping on its delay).
    for _ in 0..200 {
        if !s.app.journal.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert!(!s.app.journal.is_empty(), "the slow request arrived");
    s.stop().await.unwrap();
    let r = in_flight.await.unwrap();
    assert_eq!(r.status, 200, "the in-flight request was answered");
}

#[tokio::test]
async fn an_unknown_prefix_gets_a_404_naming_the_vendors() {
    let s = TestServer::start().await;
    let r = s.get("/nobody/api").await;
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].as_str().unwrap().contains("/credeau"));
    assert_eq!(r.header("x-vendor-mock-scenario"), Some("default"));
}

#[tokio::test]
async fn a_rate_limit_window_refuses_past_its_quota_until_the_mock_clock_moves_on() {
    let limited = r#"
vendor = "credeau"
[rate_limit]
requests = 2
per_seconds = 60
"#;
    let s = TestServer::with_scenarios(&[("credeau.toml", limited)]).await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(s.post_json(INSIGHTS, AUTH, &body("u1")).await.status);
    }
    assert_eq!(statuses, [200, 200, 429]);
    s.advance(60).await;
    assert_eq!(s.post_json(INSIGHTS, AUTH, &body("u1")).await.status, 200);
}
