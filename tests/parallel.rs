//! The acceptance test of sandboxes: 16 tests running at once against one server, each
//! in its own sandbox, each advancing its own clock past token expiry and resetting at
//! will, all pass; and each gets byte for byte the answers it gets when it runs alone
//! (in the same life of the same sandbox name, on a server of its own), while other
//! sandboxes and the root are busy moving their clocks and resetting.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};

use crate::sandboxes::{credeau_body, CREDEAU, FINX_BASIC};
use crate::support::{Reply, TestServer, FROZEN};

/// Every answer one test got, in order: status, every header (sorted), body.
type Transcript = Vec<(u16, Vec<(String, Bytes)>, Bytes)>;

/// One test's session with the mock, inside its sandbox.
struct Session<'s> {
    s: &'s TestServer,
    prefix: String,
    transcript: Transcript,
}

impl Session<'_> {
    /// Keep an answer, with the server's own address (which links and the journal's
    /// `host` carry) written as `mock`: the only thing that differs between two servers.
    fn keep(&mut self, r: &Reply) {
        let addr = self.s.addr.to_string();
        let base = addr.as_bytes();
        let neutral = |b: &[u8]| -> Bytes {
            let mut out = Vec::with_capacity(b.len());
            let mut i = 0;
            while i < b.len() {
                if b[i..].starts_with(base) {
                    out.extend_from_slice(b"mock");
                    i += base.len();
                } else {
                    out.push(b[i]);
                    i += 1;
                }
            }
            Bytes::from(out)
        };
        // `content-length` follows the body, whose address may be longer on one server.
        let mut headers: Vec<(String, Bytes)> = r
            .headers
            .iter()
            .filter(|(k, _)| *k != "content-length")
            .map(|(k, v)| (k.to_string(), neutral(v.as_bytes())))
            .collect();
        headers.sort();
        self.transcript.push((r.status, headers, neutral(&r.body)));
    }

    /// A request inside the sandbox; `path` is the path the client would use at the root.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&Value>,
    ) -> Reply {
        let mut h = headers.to_vec();
        let bytes = match body {
            Some(b) => {
                h.push(("content-type", "application/json"));
                Bytes::from(b.to_string())
            }
            None => Bytes::new(),
        };
        let r = self
            .s
            .request(method, &format!("{}{path}", self.prefix), &h, bytes)
            .await;
        self.keep(&r);
        r
    }

    /// Follow a link the mock handed out.
    async fn follow(&mut self, url: &str, headers: &[(&str, &str)]) -> Reply {
        let path = url
            .strip_prefix(&self.s.base)
            .unwrap_or_else(|| panic!("{url} is not on the mock"));
        assert!(
            path.starts_with(&format!("{}/", self.prefix)),
            "{url} left the sandbox"
        );
        let r = self.s.get_with(path, headers).await;
        self.keep(&r);
        r
    }
}

fn field(r: &Reply, name: &str) -> String {
    assert!(r.status < 300, "{}", r.text());
    r.json()[name]
        .as_str()
        .unwrap_or_else(|| panic!("no {name}: {}", r.text()))
        .to_string()
}

/// What one test of a client's suite does, in sandbox `name`: tokens from two vendors (Credolab, finX),
/// a finX report, a pending job chosen by header; then an hour passes (both tokens
/// expire), the job completes, a flaky call fails; then a reset and a fresh start. Every
/// answer is checked and kept.
async fn one_test(s: &TestServer, name: &str, user: &str) -> Transcript {
    let mut t = Session {
        s,
        prefix: format!("/~{name}"),
        transcript: Vec::new(),
    };
    let creds = json!({"userEmail": "test@example.com", "password": "test-password"});
    let insight = format!("/credolab/v6.0/datasets/ref-{user}/datasetinsight");

    let r = t
        .call("POST", "/credolab/v6.0/account/login", &[], Some(&creds))
        .await;
    let credolab_token = format!("Bearer {}", field(&r, "access_token"));
    let credolab = [("authorization", credolab_token.as_str())];
    assert_eq!(t.call("GET", &insight, &credolab, None).await.status, 200);

    let flow = json!({"redirect_uri": "https://lender.example/cb", "user_id": user});
    let r = t
        .call(
            "POST",
            "/finx/onetime/risk-report",
            &[FINX_BASIC],
            Some(&flow),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.text());
    let report_id = field(&r, "id");
    let w = t.follow(&field(&r, "location"), &[]).await;
    assert_eq!(w.status, 302);
    let back = w.header("location").unwrap().to_string();
    let code = form_urlencoded::parse(back.split_once('?').unwrap().1.as_bytes())
        .find(|(k, _)| k == "code")
        .unwrap()
        .1
        .into_owned();
    let exchange = json!({"grant_type": "authorization_code", "code": code});
    let r = t
        .call("POST", "/finx/auth/token", &[FINX_BASIC], Some(&exchange))
        .await;
    let finx_token = format!("Bearer {}", field(&r, "access_token"));
    let finx = [("authorization", finx_token.as_str())];
    let report_path = format!("/finx/rest/risk-reports/{report_id}");
    let report = t.call("GET", &report_path, &finx, None).await;
    assert_eq!(report.status, 200, "{}", report.text());
    let href = report.json()["atm"]["href"].as_str().unwrap().to_string();
    assert_eq!(t.follow(&href, &finx).await.status, 200);

    let mut pending = CREDEAU.to_vec();
    pending.push(("x-vendor-mock-scenario", "pending"));
    let job = credeau_body(user);
    let r = t
        .call("POST", "/credeau/api/async_insights", &pending, Some(&job))
        .await;
    assert_eq!(r.status, 202);

    // An hour and a bit later, in this sandbox only.
    let r = t
        .call(
            "POST",
            "/__admin/clock/advance",
            &[],
            Some(&json!({"seconds": 3700})),
        )
        .await;
    assert_eq!(r.json()["now"], "2026-01-15T11:01:40Z");
    let r = t.call("GET", &insight, &credolab, None).await;
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert!(challenge.contains("The token expired"), "{challenge}");
    let r = t.call("GET", &report_path, &finx, None).await;
    assert_eq!(r.status, 401, "{}", r.text());
    assert_eq!(
        t.call("POST", "/credeau/api/async_insights", &pending, Some(&job))
            .await
            .status,
        202
    );
    assert_eq!(
        t.call("POST", "/credeau/api/async_insights", &pending, Some(&job))
            .await
            .status,
        200
    );
    let flaky = credeau_body(&format!("flaky-{user}"));
    assert_eq!(
        t.call("POST", "/credeau/api/async_insights", CREDEAU, Some(&flaky))
            .await
            .status,
        502
    );
    let r = t
        .call("GET", "/__admin/requests/count?status=401", &[], None)
        .await;
    assert_eq!(r.json(), json!({"count": 2}));

    // A reset: the clock is back, old tokens are gone, a new one works.
    assert_eq!(
        t.call("POST", "/__admin/reset", &[], None).await.status,
        200
    );
    let r = t.call("GET", "/__admin/clock", &[], None).await;
    assert_eq!(r.json()["now"], FROZEN);
    assert_eq!(t.call("GET", &insight, &credolab, None).await.status, 401);
    let r = t
        .call("POST", "/credolab/v6.0/account/login", &[], Some(&creds))
        .await;
    let fresh = format!("Bearer {}", field(&r, "access_token"));
    assert_ne!(fresh, credolab_token);
    let r = t
        .call("GET", &insight, &[("authorization", fresh.as_str())], None)
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        t.call("POST", "/credeau/api/async_insights", &pending, Some(&job))
            .await
            .status,
        202,
        "the job starts over"
    );
    t.call("GET", "/__admin/requests?limit=3", &[], None).await;
    t.transcript
}

/// Keep other sandboxes and the root busy until `done`: clocks jumping, pending jobs,
/// tokens, and resets of the noisy sandboxes (a root reset would drop every sandbox, the
/// tests' too: that is what it is for).
async fn noise(s: &TestServer, k: usize, done: &tokio::sync::watch::Receiver<bool>) {
    let mut round = 0u64;
    while !*done.borrow() {
        round += 1;
        for prefix in [format!("/~noise{k}"), String::new()] {
            s.post_json(
                &format!("{prefix}/__admin/clock/advance"),
                &[],
                &json!({"seconds": 1800}),
            )
            .await;
            s.post_json(
                &format!("{prefix}/credeau/api/async_insights"),
                CREDEAU,
                &credeau_body(&format!("pending-noise-{k}-{round}")),
            )
            .await;
            s.post_json(
                &format!("{prefix}/credolab/v6.0/account/login"),
                &[],
                &json!({"userEmail": "test@example.com", "password": "test-password"}),
            )
            .await;
            if round % 3 == 0 && !prefix.is_empty() {
                s.post_json(&format!("{prefix}/__admin/reset"), &[], &json!({}))
                    .await;
            }
        }
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sixteen_tests_at_once_each_in_its_own_sandbox_all_pass_and_get_the_bytes_they_get_alone() {
    const TESTS: usize = 16;
    let user = |i: usize| format!("u-par-{i}");

    // Alone: one after another on a quiet server.
    let quiet = TestServer::start().await;
    let mut alone = Vec::new();
    for i in 0..TESTS {
        alone.push(one_test(&quiet, &format!("p{i}"), &user(i)).await);
    }

    for round in 0..2 {
        // Each round on a server of its own (with the same settings), so each test's
        // sandbox is the first life of its name there, as it was on the quiet server: a
        // sandbox made again on one server (after a root reset) issues new ids.
        let s = Arc::new(TestServer::start().await);
        let (stop, done) = tokio::sync::watch::channel(false);
        let noisy: Vec<_> = (0..4)
            .map(|k| {
                let (s, done) = (s.clone(), done.clone());
                tokio::spawn(async move { noise(&s, k, &done).await })
            })
            .collect();
        // Each test on its own task: the runtime's four workers run them side by side.
        let tests: Vec<_> = (0..TESTS)
            .map(|i| {
                let (s, user) = (s.clone(), user(i));
                tokio::spawn(async move { one_test(&s, &format!("p{i}"), &user).await })
            })
            .collect();
        let mut together = Vec::new();
        for t in tests {
            let got = tokio::time::timeout(Duration::from_secs(120), t)
                .await
                .expect("each test finishes")
                .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
            together.push(got);
        }
        stop.send(true).unwrap();
        for n in noisy {
            n.await.unwrap();
        }
        for (i, t) in together.iter().enumerate() {
            assert!(
                *t == alone[i],
                "round {round}: test {i}'s answers differ from its answers alone"
            );
        }
    }
}

/// The worked example in `examples/clients/pytest/`: a lender's pytest suite run with
/// four xdist workers against one server it starts itself (`serve --listen
/// 127.0.0.1:0`, address read from stdout), a sandbox per test, clocks moved
/// independently, outcomes chosen by header and by assignment, and the coverage table
/// printed at the end.
#[tokio::test]
async fn the_pytest_xdist_example_suite_passes_with_four_workers_on_one_server() {
    if !crate::support::python_has(Some("xdist")) {
        return;
    }
    let out = tokio::task::spawn_blocking(|| {
        std::process::Command::new(crate::support::python())
            .args([
                "-m",
                "pytest",
                "-n",
                "4",
                "-p",
                "no:cacheprovider",
                "examples/clients/pytest",
            ])
            .env("VENDOR_MOCK_BIN", env!("CARGO_BIN_EXE_vendor-mock"))
            .env_remove("VENDOR_MOCK_URL")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .output()
            .expect("pytest runs")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("16 passed"), "{stdout}");
    assert!(stdout.contains("4 workers"), "{stdout}");
    assert!(stdout.contains("vendor-mock coverage"), "{stdout}");
    assert!(
        stdout.contains("credeau              3/6        2/6"),
        "{stdout}"
    );
}
