//! `GET /__admin/coverage` and `vendor-mock coverage`: which outcomes, scenarios and
//! documented error statuses were answered, and which never were.

use std::process::Output;

use serde_json::{json, Value};

use crate::sandboxes::{credeau_body, credolab_login, CREDEAU};
use crate::support::TestServer;

async fn coverage(s: &TestServer, prefix: &str) -> Value {
    let r = s.get(&format!("{prefix}/__admin/coverage")).await;
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn vendor<'v>(report: &'v Value, name: &str) -> &'v Value {
    report["vendors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["vendor"] == name)
        .unwrap()
}

async fn exercise_credeau(s: &TestServer, prefix: &str) {
    let path = format!("{prefix}/credeau/api/async_insights");
    for user in ["u1", "pending-1", "flaky-1"] {
        s.post_json(&path, CREDEAU, &credeau_body(user)).await;
    }
    s.post_json(
        &path,
        &[("x-client-id", "test-client"), ("x-auth-token", "wrong")],
        &credeau_body("u1"),
    )
    .await;
}

#[tokio::test]
async fn coverage_lists_what_each_vendor_answered_and_what_it_never_did() {
    let s = TestServer::start().await;
    exercise_credeau(&s, "").await;
    let report = coverage(&s, "").await;
    insta::assert_json_snapshot!(vendor(&report, "credeau"), @r#"
    {
      "vendor": "credeau",
      "used": true,
      "outcomes": {
        "answered": [
          "completed",
          "in_progress",
          "bad_gateway"
        ],
        "never": [
          "user_not_found",
          "rate_limited",
          "gateway_timeout"
        ]
      },
      "scenarios": {
        "answered": [
          "flaky",
          "pending"
        ],
        "never": [
          "nodata",
          "notfound",
          "ratelimited",
          "slow"
        ]
      },
      "error_statuses": {
        "answered": [
          401,
          502
        ],
        "never": [
          403,
          422,
          429,
          504
        ]
      },
      "other_statuses": [
        200,
        202
      ],
      "covered": 7,
      "total": 18,
      "percent": 38.9
    }
    "#);
    // Totals count only the vendors the suite used.
    assert_eq!(
        (&report["covered"], &report["total"], &report["percent"]),
        (&json!(7), &json!(18), &json!(38.9))
    );
    assert_eq!(vendor(&report, "finbox")["used"], false);
}

#[tokio::test]
async fn a_sandboxs_coverage_is_its_own_and_also_counts_at_the_root_even_after_it_is_gone() {
    let s = TestServer::start().await;
    exercise_credeau(&s, "/~a").await;
    credolab_login(&s, "/~b").await;
    let a = coverage(&s, "/~a").await;
    assert_eq!(vendor(&a, "credeau")["covered"], 7);
    assert_eq!(vendor(&a, "credolab")["used"], false);
    let b = coverage(&s, "/~b").await;
    assert_eq!(vendor(&b, "credeau")["used"], false);
    assert_eq!(vendor(&b, "credolab")["used"], true);
    // Resets and dropped sandboxes keep what the run covered.
    s.post_json("/__admin/reset", &[], &json!({})).await;
    let root = coverage(&s, "").await;
    assert_eq!(vendor(&root, "credeau")["covered"], 7);
    assert_eq!(vendor(&root, "credolab")["used"], true);
    // DELETE forgets.
    let r = s.request("DELETE", "/__admin/coverage", &[], "").await;
    assert_eq!(r.status, 200);
    assert_eq!(coverage(&s, "").await["total"], 0);
}

#[tokio::test]
async fn answers_the_mock_gives_itself_do_not_count_as_the_vendors() {
    let s = TestServer::start().await;
    let mut h = CREDEAU.to_vec();
    h.push(("x-vendor-mock-scenario", "no-such-scenario"));
    let r = s
        .post_json("/credeau/api/insights", &h, &credeau_body("u1"))
        .await;
    assert_eq!(r.status, 400);
    assert_eq!(vendor(&coverage(&s, "").await, "credeau")["used"], false);
}

async fn run_coverage(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
            .arg("coverage")
            .args(&args)
            .output()
            .expect("vendor-mock runs")
    })
    .await
    .expect("the command's task finishes")
}

#[tokio::test]
async fn the_coverage_command_prints_a_table_and_exits_1_under_min() {
    let s = TestServer::start().await;
    exercise_credeau(&s, "/~t1").await;
    let out = run_coverage(vec!["--url".into(), s.base.clone()]).await;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    insta::assert_snapshot!(stdout, @r"
    vendor          outcomes  scenarios  error statuses          covered
    finbox                 -          -               -         not used
    credeau              3/6        2/6             2/6     7/18 (38.9%)
    finx                   -          -               -         not used
    credolab               -          -               -         not used
    finscore               -          -               -         not used
    featurestore           -          -               -         not used
    total                                                   7/18 (38.9%)

    never answered:
      credeau        outcomes: user_not_found, rate_limited, gateway_timeout
      credeau        scenarios: nodata, notfound, ratelimited, slow
      credeau        error statuses: 403, 422, 429, 504
    ");
    let out = run_coverage(vec![
        "--url".into(),
        format!("{}/~t1/", s.base),
        "--min".into(),
        "40".into(),
    ])
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.ends_with("coverage 38.9% is under the minimum of 40%\n"),
        "{stdout}"
    );
    let out = run_coverage(vec![
        "--url".into(),
        s.base.clone(),
        "--min".into(),
        "38.9".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(0));
    // VENDOR_MOCK_URL stands for --url.
    let url = format!("{}/~t1", s.base);
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
            .args(["coverage", "--min", "38.9"])
            .env("VENDOR_MOCK_URL", url)
            .output()
            .expect("vendor-mock runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("7/18 (38.9%)"), "{stdout}");
    // A sandbox nobody used covers nothing.
    let out = run_coverage(vec![
        "--url".into(),
        format!("{}/~t2", s.base),
        "--min".into(),
        "1".into(),
    ])
    .await;
    assert_eq!(out.status.code(), Some(1));
}

#[tokio::test]
async fn the_coverage_command_says_why_when_it_cannot_ask() {
    let s = TestServer::start().await;
    let port = s.addr.port();
    s.stop().await.unwrap();
    for (url, wanted) in [
        (
            format!("http://127.0.0.1:{port}"),
            "no vendor-mock answering at",
        ),
        ("https://example.com".to_string(), "expected an http:// URL"),
    ] {
        let out = run_coverage(vec!["--url".into(), url.clone()]).await;
        assert_eq!(out.status.code(), Some(1), "{url}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(wanted), "{url}: {stderr}");
    }
    let s = TestServer::start().await;
    let out = run_coverage(vec!["--url".into(), format!("{}/~bad%20name", s.base)]).await;
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        format!(
            "vendor-mock coverage: GET {}/~bad%20name/__admin/coverage: HTTP/1.0 400 Bad Request\n",
            s.base
        ),
        "the sandbox prefix once"
    );
}
