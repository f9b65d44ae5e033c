//! Test support: a real vendor-mock server on an ephemeral port (fixed seed, frozen
//! clock) and a small HTTP client for talking to it.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, Request};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vendor_mock::{App, Config};

/// The frozen instant every test server starts at.
pub const FROZEN: &str = "2026-01-15T10:00:00Z";
pub const SEED: u64 = 42;

/// A running server; dropped at the end of the test (shutdown is signalled on drop).
pub struct TestServer {
    pub addr: SocketAddr,
    pub base: String,
    pub app: App,
    shutdown: Option<oneshot::Sender<()>>,
    pub handle: Option<JoinHandle<std::io::Result<()>>>,
    /// Keeps a test's scenario directory alive as long as the server.
    _dir: Option<tempfile::TempDir>,
}

pub fn config() -> Config {
    Config {
        seed: SEED,
        frozen_clock: Some(
            chrono::DateTime::parse_from_rfc3339(FROZEN)
                .unwrap()
                .to_utc(),
        ),
        ..Config::default()
    }
}

impl TestServer {
    /// Seed 42, clock frozen at [`FROZEN`], shipped scenarios only.
    pub async fn start() -> Self {
        Self::with_config(config()).await
    }

    pub async fn with_config(config: Config) -> Self {
        Self::launch(config, None).await
    }

    /// Like [`TestServer::start`], with the clock frozen at `rfc3339` instead.
    pub async fn frozen_at(rfc3339: &str) -> Self {
        let at = chrono::DateTime::parse_from_rfc3339(rfc3339)
            .expect("a test's frozen instant is RFC 3339")
            .to_utc();
        Self::with_config(Config {
            frozen_clock: Some(at),
            ..config()
        })
        .await
    }

    /// With a scenario directory holding `files` (name, TOML text).
    pub async fn with_scenarios(files: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let config = Config {
            scenario_dirs: vec![PathBuf::from(dir.path())],
            ..config()
        };
        Self::launch(config, Some(dir)).await
    }

    async fn launch(config: Config, dir: Option<tempfile::TempDir>) -> Self {
        let app = App::new(config).unwrap_or_else(|d| panic!("scenarios do not compile: {d:?}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(vendor_mock::run(listener, app.clone(), async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            base: format!("http://{addr}"),
            app,
            shutdown: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    /// Signal shutdown and wait for `run` to return.
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.take().unwrap().send(());
        self.handle.take().unwrap().await.unwrap()
    }

    pub async fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Reply {
        send(&self.base, method, path, headers, body.into()).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.get_with(path, &[]).await
    }

    pub async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> Reply {
        self.request("GET", path, headers, Bytes::new()).await
    }

    pub async fn post_json(&self, path: &str, headers: &[(&str, &str)], body: &Value) -> Reply {
        let mut h = vec![("content-type", "application/json")];
        h.extend_from_slice(headers);
        self.request("POST", path, &h, serde_json::to_vec(body).unwrap())
            .await
    }

    /// Move the mock clock.
    pub async fn advance(&self, seconds: u64) {
        let r = self
            .post_json(
                "/__admin/clock/advance",
                &[],
                &json!({ "seconds": seconds }),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text());
    }

    /// The journal as JSON.
    pub async fn journal(&self, query: &str) -> Vec<Value> {
        let r = self.get(&format!("/__admin/requests{query}")).await;
        assert_eq!(r.status, 200, "{}", r.text());
        r.json().as_array().unwrap().clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// One HTTP exchange with any server (a fresh connection each time).
pub async fn send(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Bytes,
) -> Reply {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let uri: hyper::Uri = format!("{base}{path}").parse().expect("a valid URL");
    let request = format!(
        "{method} {}",
        uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut req = Request::builder()
        .method(Method::from_bytes(method.as_bytes()).unwrap())
        .uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body)).unwrap())
        .await
        .expect("the server answers");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply {
        request,
        status,
        headers,
        body,
    }
}

/// A received answer.
#[derive(Debug, Clone)]
pub struct Reply {
    /// What was asked: `POST /credeau/api/insights?x=1` (method, path and query as sent).
    pub request: String,
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The exchange as a user sees it: the request line, status, the named headers, and
    /// the body (JSON when it parses, text otherwise). For insta snapshots; the request
    /// line lets `openapi/check_snapshots.py` find the answer's operation in the vendor's
    /// OpenAPI document and check the body against its schema.
    pub fn exchange(&self, headers: &[&str]) -> Value {
        let hs: serde_json::Map<String, Value> = headers
            .iter()
            .filter_map(|h| {
                self.header(h)
                    .map(|v| (h.to_string(), Value::String(v.to_string())))
            })
            .collect();
        let body = serde_json::from_slice::<Value>(&self.body)
            .unwrap_or_else(|_| Value::String(self.text()));
        json!({ "request": self.request, "status": self.status, "headers": hs, "body": body })
    }
}

/// The Python interpreter the tests drive: `VENDOR_MOCK_PYTHON` (set by `.ci/run` to its
/// virtual environment, built from `.ci/requirements.txt`), else `python3` on the PATH.
pub fn python() -> String {
    std::env::var("VENDOR_MOCK_PYTHON").unwrap_or_else(|_| "python3".to_string())
}

/// Whether [`python`] can import `module` (`None`: just that it runs). Outside CI a
/// missing interpreter or module skips the calling test with a note; in CI it must be
/// there (`.ci/run` installs it), so the test fails instead of passing unseen.
pub fn python_has(module: Option<&str>) -> bool {
    let code = module.map_or_else(String::new, |m| format!("import {m}"));
    let ok = std::process::Command::new(python())
        .args(["-c", &code])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        let what = module.map_or(python(), |m| format!("{} with `{m}`", python()));
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs {what}: .ci/run installs it"
        );
        eprintln!("skipped: {what} is not installed");
    }
    ok
}

/// How long a documented client may run before it is killed and its test fails: far
/// above what any client needs (the slowest, the Feature Store SDK, takes well under a
/// minute), far below a client stuck polling for good.
pub const CLIENT_TIME_LIMIT: std::time::Duration = std::time::Duration::from_secs(180);

/// Run a documented client (`examples/clients/<script>`) with `args` against a running
/// test server and require it to report every case as behaving within
/// [`CLIENT_TIME_LIMIT`] (past it the child is killed and the test fails with what it
/// printed). The child runs on the blocking pool, so the test's runtime keeps serving it.
pub async fn run_client(script: &str, args: Vec<String>) {
    let mut argv = vec![format!("examples/clients/{script}")];
    argv.extend(args);
    let (status, stdout, stderr) =
        tokio::task::spawn_blocking(move || run_python(&argv, CLIENT_TIME_LIMIT))
            .await
            .expect("the client's task finishes");
    let Some(status) = status else {
        panic!(
            "{script} was still running after {CLIENT_TIME_LIMIT:?} and was killed\n{stdout}\n{stderr}"
        );
    };
    assert!(status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all documented cases behave"), "{stdout}");
}

/// Run [`python`] with `args` and return its status, stdout and stderr; the status is
/// `None` when it outlived `limit` and was killed. Both pipes are drained on their own
/// threads, so a chatty child cannot block.
pub fn run_python(
    args: &[String],
    limit: std::time::Duration,
) -> (Option<std::process::ExitStatus>, String, String) {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let mut child = Command::new(python())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Python interpreter runs");
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            let _ = pipe.read_to_end(&mut out);
            String::from_utf8_lossy(&out).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("piped")));
    let stderr = drain(Box::new(child.stderr.take().expect("piped")));
    let deadline = std::time::Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the child can be waited for") {
            break Some(status);
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let text = |h: std::thread::JoinHandle<String>| h.join().unwrap_or_default();
    (status, text(stdout), text(stderr))
}

/// `openapi/<vendor>.yaml` as JSON, read with Python's PyYAML (schemathesis brings it into
/// the venv); `None` outside CI when that Python lacks it.
pub fn openapi_document(vendor: &str) -> Option<Value> {
    if !python_has(Some("yaml")) {
        return None;
    }
    let path = format!("{}/openapi/{vendor}.yaml", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python())
        .args([
            "-c",
            "import json, sys, yaml; print(json.dumps(yaml.safe_load(open(sys.argv[1], encoding='utf-8'))))",
            &path,
        ])
        .output()
        .expect("the Python interpreter runs");
    assert!(
        out.status.success(),
        "{path} does not parse as YAML: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("PyYAML's document prints as JSON"))
}

/// Require `openapi-spec-validator` to pass on `openapi/<vendor>.yaml` (skipped outside CI
/// when the venv lacks it).
pub fn assert_openapi_document_validates(vendor: &str) {
    if !python_has(Some("openapi_spec_validator")) {
        return;
    }
    let path = format!("{}/openapi/{vendor}.yaml", env!("CARGO_MANIFEST_DIR"));
    let out = std::process::Command::new(python())
        .args(["-m", "openapi_spec_validator", &path])
        .output()
        .expect("the Python interpreter runs");
    assert!(
        out.status.success(),
        "{path} is not a valid OpenAPI document:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Check one exchange (as [`Reply::exchange`] records it, request line included) against
/// its operation in the vendor's OpenAPI document, with `openapi/check_snapshots.py
/// --exchange -`: for answers too large to snapshot whole. `None` outside CI when the venv
/// lacks jsonschema or PyYAML; else whether it matched, and what the check printed.
pub fn check_exchange(exchange: &Value) -> Option<(bool, String)> {
    use std::io::Write;
    use std::process::{Command, Stdio};
    if !python_has(Some("jsonschema")) || !python_has(Some("yaml")) {
        return None;
    }
    let script = format!("{}/openapi/check_snapshots.py", env!("CARGO_MANIFEST_DIR"));
    let mut child = Command::new(python())
        .args([script.as_str(), "--exchange", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the Python interpreter runs");
    let input = serde_json::to_vec(exchange).expect("a JSON value serializes");
    let mut stdin = child.stdin.take().expect("piped");
    // Written from a thread: the child may print before it has read everything.
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("the snapshot check runs");
    writer
        .join()
        .expect("the writer thread does not panic")
        .expect("the snapshot check reads the whole exchange");
    Some((
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    ))
}

/// Every JSON request-body example of an OpenAPI document's POST operations, as
/// (path, example name, value), with `$ref`s to `components/requestBodies` followed.
pub fn openapi_request_examples(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("the document has paths") {
        let mut body = &item["post"]["requestBody"];
        if let Some(r) = body["$ref"].as_str() {
            let name = r
                .strip_prefix("#/components/requestBodies/")
                .expect("request bodies refer to components/requestBodies");
            body = &doc["components"]["requestBodies"][name];
        }
        let examples = body["content"]["application/json"]["examples"].as_object();
        for (name, example) in examples.into_iter().flatten() {
            out.push((path.clone(), name.clone(), example["value"].clone()));
        }
    }
    out
}

/// The scenario the shipped files pick for an entity id: its prefix, or `default`.
pub fn shipped_scenario_of(id: &str) -> &'static str {
    const SHIPPED: &[&str] = &[
        "pending",
        "callback",
        "notfound",
        "nodata",
        "ratelimited",
        "flaky",
        "removed",
        "slow",
    ];
    SHIPPED
        .iter()
        .find(|s| {
            id.strip_prefix(**s)
                .is_some_and(|rest| rest.starts_with('-'))
        })
        .copied()
        .unwrap_or("default")
}
