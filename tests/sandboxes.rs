//! Sandboxes (`/~NAME/…`): isolated instances of the mock on one server, for test suites
//! that run in parallel.

use std::convert::Infallible;
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
use vendor_mock::vendors::finbox::salt;
use vendor_mock::{App, Config};

use crate::support::{self, send, Reply, TestServer};

pub const CREDEAU: &[(&str, &str)] = &[
    ("x-client-id", "test-client"),
    ("x-auth-token", "test-token"),
];
/// finX `test-client:test-secret`.
pub const FINX_BASIC: (&str, &str) = ("authorization", "Basic dGVzdC1jbGllbnQ6dGVzdC1zZWNyZXQ=");

pub fn credeau_body(user: &str) -> Value {
    json!({"user_id": user, "client_id": "test-client", "groupings": ["sms"]})
}

/// Credolab login as the default user: a bearer token valid 60 minutes of mock clock.
pub async fn credolab_login(s: &TestServer, sandbox: &str) -> Reply {
    s.post_json(
        &format!("{sandbox}/credolab/v6.0/account/login"),
        &[],
        &json!({"userEmail": "test@example.com", "password": "test-password"}),
    )
    .await
}

/// Credolab's insights of a dataset, with a bearer token.
pub async fn credolab_insight(s: &TestServer, sandbox: &str, token: &str) -> Reply {
    let auth = format!("Bearer {token}");
    s.get_with(
        &format!("{sandbox}/credolab/v6.0/datasets/ref-1/datasetinsight"),
        &[("authorization", &auth)],
    )
    .await
}

fn access_token(r: &Reply) -> String {
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["access_token"].as_str().unwrap().to_string()
}

async fn clock(s: &TestServer, sandbox: &str) -> String {
    let r = s.get(&format!("{sandbox}/__admin/clock")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["now"].as_str().unwrap().to_string()
}

async fn advance(s: &TestServer, sandbox: &str, seconds: u64) {
    let r = s
        .post_json(
            &format!("{sandbox}/__admin/clock/advance"),
            &[],
            &json!({ "seconds": seconds }),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn reset(s: &TestServer, sandbox: &str) {
    let r = s
        .post_json(&format!("{sandbox}/__admin/reset"), &[], &json!({}))
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
}

async fn sandbox_names(s: &TestServer) -> Vec<String> {
    let r = s.get("/__admin/sandboxes").await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn advancing_one_sandboxs_clock_moves_neither_the_root_nor_another_sandbox() {
    let s = TestServer::start().await;
    advance(&s, "/~a", 3700).await;
    assert_eq!(clock(&s, "/~a").await, "2026-01-15T11:01:40Z");
    assert_eq!(clock(&s, "/~b").await, support::FROZEN);
    assert_eq!(clock(&s, "").await, support::FROZEN);
    advance(&s, "", 60).await;
    assert_eq!(clock(&s, "/~a").await, "2026-01-15T11:01:40Z");
    assert_eq!(clock(&s, "/~b").await, support::FROZEN);
}

#[tokio::test]
async fn a_token_expires_only_in_the_sandbox_whose_clock_passed_its_lifetime() {
    let s = TestServer::start().await;
    let a = access_token(&credolab_login(&s, "/~a").await);
    let b = access_token(&credolab_login(&s, "/~b").await);
    advance(&s, "/~a", 3700).await;
    let expired = credolab_insight(&s, "/~a", &a).await;
    assert_eq!(expired.status, 401);
    let challenge = expired.header("www-authenticate").unwrap();
    assert!(challenge.contains("The token expired"), "{challenge}");
    assert_eq!(credolab_insight(&s, "/~b", &b).await.status, 200);
}

#[tokio::test]
async fn tokens_state_and_journals_are_not_visible_across_sandboxes_or_from_the_root() {
    let s = TestServer::start().await;
    let a = access_token(&credolab_login(&s, "/~a").await);
    // Same requests, same token in another sandbox; but never seen by the root.
    assert_eq!(credolab_insight(&s, "", &a).await.status, 401);
    assert_eq!(credolab_insight(&s, "/~a", &a).await.status, 200);
    // Entity progress: two pending answers in `a` leave `b` at its first.
    for _ in 0..2 {
        let r = s
            .post_json(
                "/~a/credeau/api/async_insights",
                CREDEAU,
                &credeau_body("pending-1"),
            )
            .await;
        assert_eq!(r.status, 202);
    }
    let r = s
        .post_json(
            "/~b/credeau/api/async_insights",
            CREDEAU,
            &credeau_body("pending-1"),
        )
        .await;
    assert_eq!(r.status, 202, "b starts its own sequence");
    let r = s
        .post_json(
            "/~a/credeau/api/async_insights",
            CREDEAU,
            &credeau_body("pending-1"),
        )
        .await;
    assert_eq!(r.status, 200, "a went on with its own");
    // Each journal holds its own exchanges, with the paths as the sandbox sees them.
    let a_paths: Vec<String> = s
        .journal("")
        .await
        .iter()
        .map(|e| e["path"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        a_paths,
        ["/credolab/v6.0/datasets/ref-1/datasetinsight"],
        "the root saw only its own"
    );
    let r = s.get("/~a/__admin/requests?vendor=credeau").await;
    let entries = r.json();
    let entries = entries.as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries
        .iter()
        .all(|e| e["path"] == "/credeau/api/async_insights"));
    assert_eq!(
        s.get("/~b/__admin/requests/count").await.json(),
        json!({"count": 1})
    );
}

#[tokio::test]
async fn a_reset_in_a_sandbox_forgets_its_own_state_and_nothing_else() {
    let s = TestServer::start().await;
    let a = access_token(&credolab_login(&s, "/~a").await);
    let b = access_token(&credolab_login(&s, "/~b").await);
    advance(&s, "/~a", 100).await;
    advance(&s, "/~b", 100).await;
    reset(&s, "/~a").await;
    assert_eq!(clock(&s, "/~a").await, support::FROZEN);
    assert_eq!(clock(&s, "/~b").await, "2026-01-15T10:01:40Z");
    assert_eq!(
        credolab_insight(&s, "/~a", &a).await.status,
        401,
        "forgotten"
    );
    assert_eq!(credolab_insight(&s, "/~b", &b).await.status, 200, "kept");
    let fresh = access_token(&credolab_login(&s, "/~a").await);
    assert_ne!(fresh, a, "ids issued after a reset are new ones");
    assert_eq!(
        sandbox_names(&s).await,
        ["a", "b"],
        "the sandbox itself stays"
    );
}

#[tokio::test]
async fn a_root_reset_drops_every_sandbox_and_delete_drops_one() {
    let s = TestServer::start().await;
    for name in ["t1", "t2", "t3"] {
        credolab_login(&s, &format!("/~{name}")).await;
    }
    assert_eq!(sandbox_names(&s).await, ["t1", "t2", "t3"]);
    let r = s.request("DELETE", "/__admin/sandboxes/t2", &[], "").await;
    assert_eq!(r.json(), json!({"status": "ok", "dropped": true}));
    let r = s.request("DELETE", "/__admin/sandboxes/t2", &[], "").await;
    assert_eq!(r.json(), json!({"status": "ok", "dropped": false}));
    assert_eq!(sandbox_names(&s).await, ["t1", "t3"]);
    reset(&s, "").await;
    assert!(sandbox_names(&s).await.is_empty());
    // Used again, a dropped sandbox comes back new.
    assert_eq!(
        s.get("/~t1/__admin/requests/count").await.json()["count"],
        0
    );
    assert_eq!(sandbox_names(&s).await, ["t1"]);
}

#[tokio::test]
async fn the_sandbox_list_shows_each_sandboxs_clock_and_size() {
    let s = TestServer::start().await;
    advance(&s, "/~late", 30).await;
    s.post_json("/~busy/credeau/api/insights", CREDEAU, &credeau_body("u1"))
        .await;
    let mut v = s.get("/__admin/sandboxes").await.json();
    insta::assert_json_snapshot!(v, @r#"
    {
      "sandboxes": [
        {
          "name": "busy",
          "life": 0,
          "now": "2026-01-15T10:00:00Z",
          "requests": 1,
          "entities": 1
        },
        {
          "name": "late",
          "life": 0,
          "now": "2026-01-15T10:00:30Z",
          "requests": 0,
          "entities": 0
        }
      ],
      "max": 1024
    }
    "#);
    v = s.get("/~late/__admin/sandboxes").await.json();
    assert!(
        v["error"]
            .as_str()
            .unwrap()
            .contains("only at the server's root"),
        "{v}"
    );
    let r = s
        .request("DELETE", "/~late/__admin/sandboxes/busy", &[], "")
        .await;
    assert_eq!(r.status, 404);
    assert_eq!(sandbox_names(&s).await, ["busy", "late"]);
}

#[tokio::test]
async fn bad_sandbox_names_get_a_400_naming_the_rule() {
    let s = TestServer::start().await;
    let long = format!("/~{}/finbox/v2/risk/predictors", "x".repeat(65));
    for path in [
        "/~/finbox/v2/risk/predictors",
        "/~a%20b/__admin/clock",
        "/~a:b/credeau/health",
        "/~%C3%A9/__admin/health",
        long.as_str(),
    ] {
        let r = s.get(path).await;
        assert_eq!(r.status, 400, "{path}");
        let e = r.json()["error"].as_str().unwrap().to_string();
        assert!(
            e.starts_with("a sandbox name is 1-64 characters of A-Z, a-z, 0-9, '_', '.' and '-'"),
            "{path}: {e}"
        );
    }
    let r = s
        .request("DELETE", "/__admin/sandboxes/a%20b", &[], "")
        .await;
    assert_eq!(r.status, 400);
    assert!(sandbox_names(&s).await.is_empty(), "none was made");
    // Anything after a valid name that is not a vendor is the usual 404.
    let r = s.get("/~ok/nowhere").await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn past_max_sandboxes_the_least_recently_used_is_dropped() {
    let s = TestServer::with_config(Config {
        max_sandboxes: 2,
        ..support::config()
    })
    .await;
    advance(&s, "/~a", 10).await;
    advance(&s, "/~b", 20).await;
    clock(&s, "/~a").await; // `b` is now the least recently used
    advance(&s, "/~c", 30).await;
    assert_eq!(sandbox_names(&s).await, ["a", "c"]);
    assert_eq!(clock(&s, "/~a").await, "2026-01-15T10:00:10Z");
    assert_eq!(clock(&s, "/~b").await, support::FROZEN, "b came back new");
    assert_eq!(sandbox_names(&s).await, ["a", "b"], "and pushed c out");
}

#[tokio::test]
async fn every_answer_carries_a_date_header_read_from_its_own_mock_clock() {
    let s = TestServer::start().await;
    advance(&s, "/~a", 86_400 + 61).await;
    let root = s.get("/credeau/health").await;
    let a = s.get("/~a/credeau/health").await;
    assert_eq!(root.header("date"), Some("Thu, 15 Jan 2026 10:00:00 GMT"));
    assert_eq!(a.header("date"), Some("Fri, 16 Jan 2026 10:01:01 GMT"));
    for path in ["/~a/__admin/clock", "/~a/nowhere", "/~a/__admin/nope"] {
        assert_eq!(
            s.get(path).await.header("date"),
            Some("Fri, 16 Jan 2026 10:01:01 GMT"),
            "{path}"
        );
    }
    assert_eq!(
        s.get("/~%20/x").await.header("date"),
        Some("Thu, 15 Jan 2026 10:00:00 GMT"),
        "a bad name is answered by the root"
    );
}

/// Start a finX flow in `sandbox`, pass the widget and exchange the code: the report's
/// URL path and a bearer header.
pub async fn finx_connect(s: &TestServer, sandbox: &str, user: &str) -> (Value, String) {
    let r = s
        .post_json(
            &format!("{sandbox}/finx/onetime/risk-report"),
            &[FINX_BASIC],
            &json!({"redirect_uri": "https://lender.example/cb", "user_id": user}),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let started = r.json();
    let widget = started["location"].as_str().unwrap().to_string();
    let w = s.get(widget.strip_prefix(&s.base).unwrap()).await;
    assert_eq!(w.status, 302, "{}", w.text());
    let redirect = w.header("location").unwrap().to_string();
    let q = redirect.split_once('?').unwrap().1;
    let code = form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let t = s
        .post_json(
            &format!("{sandbox}/finx/auth/token"),
            &[FINX_BASIC],
            &json!({"grant_type": "authorization_code", "code": code}),
        )
        .await;
    (started, format!("Bearer {}", access_token(&t)))
}

#[tokio::test]
async fn finx_links_keep_the_sandbox_segment_so_a_client_following_them_stays_inside() {
    let s = TestServer::start().await;
    let (started, auth) = finx_connect(&s, "/~t42", "u-links").await;
    let id = started["id"].as_str().unwrap();
    let location = started["location"].as_str().unwrap();
    assert!(
        location.starts_with(&format!("{}/~t42/finx/widget/{id}?token=", s.base)),
        "{location}"
    );
    let report = s
        .get_with(
            &format!("/~t42/finx/rest/risk-reports/{id}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(report.status, 200, "{}", report.text());
    let href = report.json()["atm"]["href"].as_str().unwrap().to_string();
    assert!(
        href.starts_with(&format!("{}/~t42/finx/rest/transactions?", s.base)),
        "{href}"
    );
    let followed = s
        .get_with(
            href.strip_prefix(&s.base).unwrap(),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(followed.status, 200, "{}", followed.text());
    // The same report id and token mean nothing at the root.
    let root = s
        .get_with(
            &format!("/finx/rest/risk-reports/{id}"),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(root.status, 401);
}

#[tokio::test]
async fn a_vendor_listen_port_takes_the_sandbox_segment_at_its_root() {
    let app = App::new(support::config()).unwrap();
    let main = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let own = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (main_addr, own_addr) = (main.local_addr().unwrap(), own.local_addr().unwrap());
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
    let own = format!("http://{own_addr}");
    let main = format!("http://{main_addr}");
    let job = |base: &str, path: &str| {
        let (base, path) = (base.to_string(), path.to_string());
        async move {
            let mut h = vec![("content-type", "application/json")];
            h.extend_from_slice(CREDEAU);
            let body = Bytes::from(credeau_body("pending-port").to_string());
            send(&base, "POST", &path, &h, body).await.status
        }
    };
    // One pending sequence in sandbox `p`, whichever port the calls come through.
    assert_eq!(job(&own, "/~p/api/async_insights").await, 202);
    assert_eq!(job(&main, "/~p/credeau/api/async_insights").await, 202);
    assert_eq!(job(&own, "/~p/api/async_insights").await, 200);
    // The root's own sequence had not started.
    assert_eq!(job(&own, "/api/async_insights").await, 202);
    tx.send(()).unwrap();
    server.await.unwrap().unwrap();
}

/// A webhook receiver: every body it gets, in order, with the request's
/// `x-vendor-mock-sandbox` header.
async fn receiver() -> (String, mpsc::UnboundedReceiver<(Option<String>, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let svc = service_fn(move |req: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let sandbox = req
                            .headers()
                            .get("x-vendor-mock-sandbox")
                            .map(|v| v.to_str().unwrap().to_string());
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let _ = tx.send((sandbox, serde_json::from_slice::<Value>(&body).unwrap()));
                        Ok::<_, Infallible>(Response::new(Full::new(Bytes::new())))
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .await;
            });
        }
    });
    (format!("http://{addr}/hook"), rx)
}

/// FinBox predictors for `customer` in `sandbox`.
async fn finbox_predictors(s: &TestServer, sandbox: &str, customer: &str) -> Reply {
    let body =
        json!({"customer_id": customer, "version": 1, "salt": salt(customer, "test-finbox-hash")});
    s.post_json(
        &format!("{sandbox}/finbox/v2/risk/predictors"),
        &[("x-api-key", "test-finbox-key")],
        &body,
    )
    .await
}

#[tokio::test]
async fn finbox_webhooks_fire_when_their_own_sandboxs_clock_passes_completion() {
    let (url, mut hooks) = receiver().await;
    let s = TestServer::with_scenarios(&[(
        "hook.toml",
        &format!("vendor = \"finbox\"\nwebhook_url = \"{url}\"\n"),
    )])
    .await;
    let predictors = |sandbox: &str, customer: &str| {
        let path = format!("{sandbox}/finbox/v2/risk/predictors");
        let body = json!({"customer_id": customer, "version": 1, "salt": salt(customer, "test-finbox-hash")});
        let s = &s;
        async move {
            s.post_json(&path, &[("x-api-key", "test-finbox-key")], &body)
                .await
        }
    };
    assert_eq!(predictors("/~a", "callback-a").await.status, 202);
    assert_eq!(predictors("/~b", "callback-b").await.status, 202);
    // The root's clock and b's clock moving fire nothing of a's.
    advance(&s, "", 3600).await;
    advance(&s, "/~b", 10).await;
    let got = tokio::time::timeout(Duration::from_secs(10), hooks.recv())
        .await
        .expect("b's webhook arrives")
        .unwrap()
        .1;
    assert_eq!(got["customer_id"], "callback-b");
    assert_eq!(got["date_processed"], "2026-01-15T10:00:10:000");
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hooks.recv())
            .await
            .is_err(),
        "a's is not due in a"
    );
    advance(&s, "/~a", 10).await;
    let got = tokio::time::timeout(Duration::from_secs(10), hooks.recv())
        .await
        .expect("a's webhook arrives")
        .unwrap()
        .1;
    assert_eq!(got["customer_id"], "callback-a");
    // Each delivery is journaled in its own sandbox.
    for (sandbox, customer) in [("/~a", "callback-a"), ("/~b", "callback-b")] {
        let mut n = 0;
        for _ in 0..500 {
            n = s
                .get(&format!(
                    "{sandbox}/__admin/requests/count?direction=outbound&entity={customer}"
                ))
                .await
                .json()["count"]
                .as_u64()
                .unwrap();
            if n == 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(n, 1, "{sandbox}");
    }
    assert_eq!(
        s.get("/__admin/requests/count?direction=outbound")
            .await
            .json()["count"],
        0
    );
}

#[tokio::test]
async fn a_webhook_from_a_sandbox_names_it_and_one_from_the_root_does_not() {
    let (url, mut hooks) = receiver().await;
    let s = TestServer::with_scenarios(&[(
        "hook.toml",
        &format!("vendor = \"finbox\"\nwebhook_url = \"{url}\"\n"),
    )])
    .await;
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(10), hooks.recv())
            .await
            .expect("a webhook arrives")
            .unwrap()
    };
    assert_eq!(finbox_predictors(&s, "", "callback-root").await.status, 202);
    advance(&s, "", 10).await;
    let (sandbox, body) = next().await;
    assert_eq!(
        (sandbox, &body["customer_id"]),
        (None, &json!("callback-root"))
    );
    assert_eq!(
        finbox_predictors(&s, "/~t-7", "callback-t").await.status,
        202
    );
    advance(&s, "/~t-7", 10).await;
    let (sandbox, body) = next().await;
    assert_eq!(
        (sandbox.as_deref(), &body["customer_id"]),
        (Some("t-7"), &json!("callback-t"))
    );
    // The sandbox's journal shows the header on the outbound entry.
    let mut entry = Value::Null;
    for _ in 0..500 {
        let j = s
            .get("/~t-7/__admin/requests?direction=outbound")
            .await
            .json();
        if let Some(e) = j.as_array().unwrap().first() {
            entry = e.clone();
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(entry["headers"]["x-vendor-mock-sandbox"], "t-7", "{entry}");
}

/// The sandbox `name`, held weakly.
fn weakly(s: &TestServer, name: &str) -> vendor_mock::app::WeakApp {
    s.app.sandbox(name).unwrap().downgrade()
}

#[tokio::test]
async fn a_dropped_sandbox_with_a_webhook_due_in_a_year_is_freed_at_once() {
    // The system clock: a webhook due in a year waits on a timer task.
    let (url, _hooks) = receiver().await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("year.toml"),
        format!(
            r#"vendor = "finbox"
webhook_url = "{url}"

[[scenario]]
name = "year"
id_prefix = "year-"
description = "in progress for a year"
steps = [{{ outcome = "in_progress", for_seconds = 31536000 }}, {{ outcome = "complete" }}]
"#
        ),
    )
    .unwrap();
    let s = TestServer::with_config(Config {
        frozen_clock: None,
        scenario_dirs: vec![dir.path().to_path_buf()],
        ..support::config()
    })
    .await;
    for name in ["gone", "kept"] {
        let r = finbox_predictors(&s, &format!("/~{name}"), "year-1").await;
        assert_eq!(r.status, 202, "{}", r.text());
    }
    let (gone, kept) = (weakly(&s, "gone"), weakly(&s, "kept"));
    assert!(gone.upgrade().is_some(), "live while in the table");
    let r = s
        .request("DELETE", "/__admin/sandboxes/gone", &[], "")
        .await;
    assert_eq!(r.json()["dropped"], true);
    assert!(
        gone.upgrade().is_none(),
        "freed though its webhook is pending"
    );
    assert!(kept.upgrade().is_some());
    reset(&s, "").await;
    assert!(kept.upgrade().is_none(), "freed by the root's reset too");
}

#[tokio::test]
async fn dropping_a_sandbox_cancels_its_pending_webhooks() {
    let (url, mut hooks) = receiver().await;
    let s = TestServer::with_scenarios(&[(
        "hook.toml",
        &format!("vendor = \"finbox\"\nwebhook_url = \"{url}\"\n"),
    )])
    .await;
    let customer = "callback-gone";
    let body =
        json!({"customer_id": customer, "version": 1, "salt": salt(customer, "test-finbox-hash")});
    let r = s
        .post_json(
            "/~gone/finbox/v2/risk/predictors",
            &[("x-api-key", "test-finbox-key")],
            &body,
        )
        .await;
    assert_eq!(r.status, 202);
    let r = s
        .request("DELETE", "/__admin/sandboxes/gone", &[], "")
        .await;
    assert_eq!(r.json()["dropped"], true);
    // A new sandbox of the same name starts empty: advancing it delivers nothing.
    advance(&s, "/~gone", 10).await;
    assert!(
        tokio::time::timeout(Duration::from_millis(300), hooks.recv())
            .await
            .is_err(),
        "nothing delivered"
    );
}

/// A Credolab token, a Credolab insight and a Credeau answer for the same references.
async fn same_requests(s: &TestServer, prefix: &str) -> (String, Reply, Value) {
    let token = access_token(&credolab_login(s, prefix).await);
    let insight = credolab_insight(s, prefix, &token).await;
    assert_eq!(insight.status, 200, "{}", insight.text());
    let r = s
        .post_json(
            &format!("{prefix}/credeau/api/insights"),
            CREDEAU,
            &credeau_body("u-same"),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text());
    (token, insight, r.json())
}

#[tokio::test]
async fn a_sandbox_generates_the_roots_data_but_issues_ids_of_its_own() {
    let s = TestServer::start().await;
    let (root_token, root_insight, root_credeau) = same_requests(&s, "").await;
    let (token, insight, credeau) = same_requests(&s, "/~same").await;
    assert_ne!(
        token, root_token,
        "the sandbox's first token is not the root's"
    );
    // The same person's data is the same everywhere.
    assert_eq!(insight.body, root_insight.body);
    let without_id = |mut v: Value| {
        let id = v.as_object_mut().unwrap().remove("request_id").unwrap();
        (v, id)
    };
    let (data, id) = without_id(credeau);
    let (root_data, root_id) = without_id(root_credeau);
    assert_eq!(data, root_data);
    assert_ne!(id, root_id, "request ids are issued ids");
}

#[tokio::test]
async fn ids_handed_out_before_a_reset_or_a_drop_never_come_back_in_the_same_name() {
    let s = TestServer::start().await;
    let mut seen = std::collections::HashSet::new();
    let mut fresh = |token: String| assert!(seen.insert(token.clone()), "{token} came back");
    fresh(access_token(&credolab_login(&s, "").await));
    fresh(access_token(&credolab_login(&s, "/~t1").await));
    // The sandbox's own reset.
    reset(&s, "/~t1").await;
    fresh(access_token(&credolab_login(&s, "/~t1").await));
    // Dropped and made again.
    s.request("DELETE", "/__admin/sandboxes/t1", &[], "").await;
    fresh(access_token(&credolab_login(&s, "/~t1").await));
    // Dropped with every other sandbox by a root reset, which also moves the root on.
    // (Eviction past --max-sandboxes: the next test.)
    reset(&s, "").await;
    fresh(access_token(&credolab_login(&s, "/~t1").await));
    fresh(access_token(&credolab_login(&s, "").await));
    let lives: Vec<u64> = s.get("/__admin/sandboxes").await.json()["sandboxes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["life"].as_u64().unwrap())
        .collect();
    assert_eq!(lives, [2], "t1's third life");
}

#[tokio::test]
async fn an_evicted_sandbox_made_again_issues_new_ids() {
    let s = TestServer::with_config(Config {
        max_sandboxes: 1,
        ..support::config()
    })
    .await;
    let first = access_token(&credolab_login(&s, "/~a").await);
    credolab_login(&s, "/~b").await; // evicts a
    let again = access_token(&credolab_login(&s, "/~a").await);
    assert_ne!(first, again);
}

#[tokio::test]
async fn the_same_life_of_a_name_answers_byte_for_byte_alike_whatever_other_sandboxes_did() {
    // Two servers: on the second, other sandboxes come and go before and between.
    let quiet = TestServer::start().await;
    let busy = TestServer::start().await;
    for name in ["other", "x-1", "t"] {
        credolab_login(&busy, &format!("/~{name}")).await;
    }
    busy.request("DELETE", "/__admin/sandboxes/other", &[], "")
        .await;
    let mut transcripts = Vec::new();
    for s in [&quiet, &busy] {
        let mut t = Vec::new();
        for life in 0..2 {
            let (token, insight, credeau) = same_requests(s, "/~x").await;
            t.push((life, token, insight.body, insight.headers, credeau));
            s.request("DELETE", "/__admin/sandboxes/x", &[], "").await;
            credolab_login(s, "/~noise").await;
        }
        transcripts.push(t);
    }
    assert!(
        transcripts[0] == transcripts[1],
        "the same lives of x answered differently"
    );
    assert_ne!(
        transcripts[0][0].1, transcripts[0][1].1,
        "but two lives differ"
    );
}

#[tokio::test]
async fn a_busy_neighbour_never_shortens_a_sandboxs_journal() {
    let s = TestServer::with_config(Config {
        journal_limit: 3,
        ..support::config()
    })
    .await;
    for path in ["/~quiet/credeau/health", "/~quiet/credeau/health"] {
        s.get(path).await;
    }
    for _ in 0..50 {
        s.get("/~busy/credeau/health").await;
        s.get("/credeau/health").await;
    }
    let count = |sandbox: &str| {
        let s = &s;
        let path = format!("{sandbox}/__admin/requests/count");
        async move { s.get(&path).await.json()["count"].as_u64().unwrap() }
    };
    assert_eq!(
        count("/~quiet").await,
        2,
        "all of its own, however busy the others"
    );
    assert_eq!(count("/~busy").await, 3, "its own limit");
    assert_eq!(count("").await, 3);
    s.get("/~new/credeau/health").await;
    assert_eq!(count("/~new").await, 1);
    s.get("/~quiet/credeau/health").await;
    s.get("/~quiet/credeau/health").await;
    assert_eq!(count("/~quiet").await, 3, "and no more than its limit");
}

#[tokio::test]
async fn a_client_that_escapes_the_tilde_reaches_the_same_sandbox() {
    let s = TestServer::start().await;
    advance(&s, "/~t42", 60).await;
    for prefix in ["/%7Et42", "/%7et42"] {
        assert_eq!(clock(&s, prefix).await, "2026-01-15T10:01:00Z", "{prefix}");
        let r = s.get(&format!("{prefix}/credeau/health")).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(sandbox_names(&s).await, ["t42"]);
    let j = s.get("/~t42/__admin/requests").await.json();
    assert_eq!(
        j[0]["path"], "/credeau/health",
        "the path inside the sandbox"
    );
    assert_eq!(s.get("/%7E/credeau/health").await.status, 400);
}
