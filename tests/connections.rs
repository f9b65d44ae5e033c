//! Connections, shutdown and protocol errors, over raw TCP: no client can keep another
//! from being answered, shutdown answers what was sent and closes the rest at once, and
//! protocol errors are answered where hyper lets the server answer.
//!
//! Timing: these behaviours are about time (timeouts, "answered within 1 s", "exits
//! within 1 s"), so some waits are real. Each test asserts only what must happen, never
//! that something does not happen before a given moment, and waits with bounds several
//! times what the requirement allows (a passing run takes milliseconds where the bound
//! is seconds: [`PROMPT`] for "within 1 s", [`GENEROUS`] for "eventually"), so a busy
//! machine cannot fail them; where a request must still be in flight when something
//! else happens, its answer is delayed far beyond the test (60 s). The mechanism's own
//! timing logic is unit-tested in `src/server/connection.rs` on synthetic instants. The
//! connection limit is lowered (32 instead of 4096) so a few hundred connections
//! exercise the same eviction as `bench/connections.py` does with 5 000 against the
//! default limit.

use std::io::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use vendor_mock::server::{serve_with, ConnectionLimits, Listener};
use vendor_mock::App;

use crate::support::{config, send};

/// Far above what any of these tests takes when it passes (milliseconds), far below
/// "forever" (what the old accept loop and drain gave).
const GENEROUS: Duration = Duration::from_secs(10);

/// The bound for what the requirement says happens "within 1 s" (a fresh client is
/// answered, the server exits): three times that, for a loaded CI machine, and still
/// well under the 8-10 s the old server took.
const PROMPT: Duration = Duration::from_secs(3);

const HEALTH: &[u8] = b"GET /__admin/health HTTP/1.1\r\nhost: mock\r\n\r\n";

/// A scenario whose answers take `delay_ms`, so a request can be kept in flight.
fn lagging(delay_ms: u64) -> String {
    format!(
        r#"
vendor = "credeau"
[[scenario]]
name = "lagging"
id_prefix = "lag-"
steps = [{{ outcome = "completed", delay_ms = {delay_ms} }}]
"#
    )
}

/// The head of a Credeau insights request at `path` announcing a 1000-byte body, and
/// the first 10 bytes of that body: a body that is still arriving.
fn half_sent_body(path: &str) -> Vec<u8> {
    format!(
        "POST {path} HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\nx-client-id: test-client\r\nx-auth-token: test-token\r\ncontent-length: 1000\r\n\r\n{{\"user_id\""
    )
    .into_bytes()
}

/// A Credeau insights request for `user`, as raw bytes.
fn insights(user: &str) -> Vec<u8> {
    let body = format!(
        r#"{{"user_id":"{user}","client_id":"test-client","groupings":["sms","fraud","extracted_sms"]}}"#
    );
    format!(
        "POST /credeau/api/insights HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\nx-client-id: test-client\r\nx-auth-token: test-token\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

struct Server {
    addr: SocketAddr,
    app: App,
    stop: Option<oneshot::Sender<()>>,
    handle: Option<JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(limits: ConnectionLimits, scenarios: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in scenarios {
            std::fs::write(dir.path().join(name), text).unwrap();
        }
        let config = vendor_mock::Config {
            scenario_dirs: vec![dir.path().to_path_buf()],
            ..config()
        };
        let app = App::new(config).unwrap_or_else(|d| panic!("scenarios do not compile: {d:?}"));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let listeners = vec![Listener {
            listener,
            vendor: None,
        }];
        let handle = tokio::spawn(serve_with(listeners, app.clone(), limits, async move {
            let _ = rx.await;
        }));
        Self {
            addr,
            app,
            stop: Some(tx),
            handle: Some(handle),
            _dir: dir,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Begin shutdown without waiting for it.
    fn signal_stop(&mut self) {
        let _ = self.stop.take().expect("stopped once").send(());
    }

    /// Wait for `serve_with` to return, at most [`GENEROUS`]; how long it took.
    async fn stopped(&mut self) -> Duration {
        let started = Instant::now();
        tokio::time::timeout(GENEROUS, self.handle.take().expect("awaited once"))
            .await
            .expect("the server stops")
            .expect("the server task does not panic")
            .expect("the server returns Ok");
        started.elapsed()
    }

    /// Wait until the journal holds `n` exchanges (they are recorded before any delay).
    async fn journaled(&self, n: usize) {
        let deadline = Instant::now() + GENEROUS;
        while self.app.journal.len() < n {
            assert!(Instant::now() < deadline, "{n} requests never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Wait until `n` sandboxes exist. A request to `/~NAME/…` makes sandbox NAME when
    /// it is routed, just before its body is read: with [`half_sent_body`], the server
    /// then has its head and waits for the rest of the body.
    async fn routed(&self, n: usize) {
        let deadline = Instant::now() + GENEROUS;
        while self.app.sandboxes().expect("the root").len() < n {
            assert!(Instant::now() < deadline, "{n} request heads never arrived");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }
}

/// An answer read off a raw connection.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// Read one answer (with a `content-length`) from `s`; `None` if the server closed the
/// connection first.
async fn read_answer(s: &mut TcpStream) -> Option<Answer> {
    let read = async {
        let mut buf = Vec::new();
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8(buf[..head_end].to_vec()).expect("an ASCII head");
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, v)| v.parse().expect("a number"));
        let mut body = buf[head_end..].to_vec();
        while body.len() < length {
            let mut chunk = [0u8; 4096];
            match s.read(&mut chunk).await {
                Ok(0) | Err(_) => return None,
                Ok(n) => body.extend_from_slice(&chunk[..n]),
            }
        }
        Some(Answer {
            status,
            headers,
            body,
        })
    };
    tokio::time::timeout(GENEROUS, read)
        .await
        .expect("an answer or a close within the bound")
}

/// Whether the server closes `s` (end of stream or reset) within [`GENEROUS`], reading
/// nothing before.
async fn closed_by_server(s: &mut TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(GENEROUS, s.read(&mut buf)).await,
        Ok(Ok(0) | Err(_))
    )
}

/// Whether `s` is still open right now, with nothing to read.
fn still_open(s: &TcpStream) -> bool {
    let mut buf = [0u8; 64];
    matches!(s.try_read(&mut buf), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

/// Which of `conns` the server closes first (within [`GENEROUS`]), the others being
/// open at that moment.
async fn first_closed(conns: &[TcpStream]) -> usize {
    let deadline = Instant::now() + GENEROUS;
    loop {
        let closed: Vec<usize> = (0..conns.len())
            .filter(|&i| !still_open(&conns[i]))
            .collect();
        match closed[..] {
            [] => {}
            [i] => return i,
            _ => panic!("more than one was closed: {closed:?}"),
        }
        assert!(Instant::now() < deadline, "none was closed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// `GET /__admin/health` from a new client, which must be answered within [`PROMPT`].
async fn health_answers(base: &str) {
    let started = Instant::now();
    let r = tokio::time::timeout(
        GENEROUS,
        send(base, "GET", "/__admin/health", &[], Bytes::new()),
    )
    .await
    .expect("a fresh client is answered while the other connections wait");
    assert_eq!(r.status, 200);
    let took = started.elapsed();
    assert!(took < PROMPT, "answered after {took:?}");
}

/// Make sure this test process may open `n` more descriptors (client and server ends
/// of every connection live here), whatever the machine's default soft limit.
fn room_for(n: u64) {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let now = getrlimit(Resource::Nofile);
        if now.current.is_some_and(|soft| soft < n + 1024) {
            let _ = setrlimit(
                Resource::Nofile,
                Rlimit {
                    current: now.maximum,
                    maximum: now.maximum,
                },
            );
        }
    }
}

fn limits(max_connections: usize) -> ConnectionLimits {
    ConnectionLimits {
        max_connections,
        ..ConnectionLimits::default()
    }
}

#[tokio::test]
async fn a_fresh_client_is_answered_while_more_silent_connections_than_the_limit_are_open() {
    room_for(2 * 300);
    let s = Server::start(limits(32), &[]).await;
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(TcpStream::connect(s.addr).await.unwrap());
    }
    health_answers(&s.base()).await;
    // Each connection past the limit closed the one idle the longest: the oldest ones,
    // in order, while the newest are still open.
    // 300 + the fresh client = 32 open + 269 closed.
    let (oldest, newest) = silent.split_at_mut(269);
    for (i, c) in oldest.iter_mut().enumerate() {
        assert!(closed_by_server(c).await, "connection {i} was closed");
    }
    for (i, c) in newest.iter().enumerate() {
        assert!(still_open(c), "connection {} is open", oldest.len() + i);
    }
}

#[tokio::test]
async fn a_fresh_client_is_answered_while_connections_trickle_their_heads_and_the_header_timeout_closes_them(
) {
    room_for(2 * 40);
    // Fewer than the limit: nothing is evicted, only the timeout closes them.
    let s = Server::start(
        ConnectionLimits {
            max_connections: 64,
            header_read_timeout: Duration::from_millis(500),
            ..ConnectionLimits::default()
        },
        &[],
    )
    .await;
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for _ in 0..40 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(b"GET /__admin/health HTTP/1.1\r\nx-slow: ")
            .await
            .unwrap();
        let (r, w) = c.into_split();
        readers.push(r);
        writers.push(w);
    }
    // Keep every head growing, a byte at a time, until the server closes it.
    let trickle = tokio::spawn(async move {
        loop {
            for w in &mut writers {
                let _ = w.write_all(b"a").await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    });
    for _ in 0..3 {
        health_answers(&s.base()).await;
    }
    // With the idle timeout at its default (60 s), only the header timeout closes them.
    for (i, r) in readers.iter_mut().enumerate() {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(GENEROUS, r.read(&mut buf)).await;
        assert!(
            matches!(read, Ok(Ok(0) | Err(_))),
            "connection {i} closed without an answer: {read:?}"
        );
    }
    trickle.abort();
}

#[tokio::test]
async fn a_body_that_stops_or_trickles_is_closed_after_the_header_read_timeout() {
    let s = Server::start(
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(300),
            ..ConnectionLimits::default()
        },
        &[],
    )
    .await;
    let mut stopped = TcpStream::connect(s.addr).await.unwrap();
    stopped
        .write_all(&half_sent_body("/credeau/api/insights"))
        .await
        .unwrap();
    let mut trickled = TcpStream::connect(s.addr).await.unwrap();
    trickled
        .write_all(&half_sent_body("/credeau/api/insights"))
        .await
        .unwrap();
    let (mut reader, mut writer) = trickled.into_split();
    // A byte every 50 ms: 20 bytes a second, far under the rate that earns more time.
    let trickle = tokio::spawn(async move {
        while writer.write_all(b" ").await.is_ok() {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    assert!(closed_by_server(&mut stopped).await);
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(GENEROUS, reader.read(&mut buf)).await;
    assert!(
        matches!(read, Ok(Ok(0) | Err(_))),
        "closed without an answer: {read:?}"
    );
    trickle.abort();
    assert_eq!(
        s.app.journal.len(),
        0,
        "no vendor saw an incomplete request"
    );
}

#[tokio::test]
async fn a_fresh_client_is_answered_when_every_connection_has_a_body_still_arriving() {
    let s = Server::start(limits(8), &[]).await;
    let mut stalled = Vec::new();
    for i in 0..8 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&half_sent_body(&format!("/~s{i}/credeau/api/insights")))
            .await
            .unwrap();
        stalled.push(c);
        s.routed(i + 1).await;
    }
    health_answers(&s.base()).await;
    // One made room (the body arriving the longest, to within a sweep: the unit tests
    // pin the order); the others still wait for theirs.
    first_closed(&stalled).await;
}

#[tokio::test]
async fn idle_connections_are_closed_after_the_idle_timeout_used_or_not() {
    let s = Server::start(
        ConnectionLimits {
            idle_timeout: Duration::from_millis(300),
            ..ConnectionLimits::default()
        },
        &[],
    )
    .await;
    let mut never_used = TcpStream::connect(s.addr).await.unwrap();
    let mut used = TcpStream::connect(s.addr).await.unwrap();
    used.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut used).await.expect("answered").status, 200);
    assert!(closed_by_server(&mut never_used).await);
    assert!(closed_by_server(&mut used).await);
}

#[tokio::test]
async fn no_timeout_runs_while_a_request_is_being_answered() {
    let lag = lagging(1500);
    let s = Server::start(
        ConnectionLimits {
            header_read_timeout: Duration::from_millis(100),
            idle_timeout: Duration::from_millis(100),
            ..ConnectionLimits::default()
        },
        &[("lag.toml", &lag)],
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&insights("lag-1")).await.unwrap();
    // Both timeouts are long past when the answer comes.
    let a = read_answer(&mut c).await.expect("answered, not cut");
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["message"], "featurization completed");
    // And the timers start again once it is answered.
    assert!(closed_by_server(&mut c).await);
}

#[tokio::test]
async fn at_the_limit_a_new_client_takes_the_place_of_one_of_the_idle_connections() {
    let s = Server::start(limits(2), &[]).await;
    let mut idle = Vec::new();
    for _ in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(HEALTH).await.unwrap();
        assert_eq!(read_answer(&mut c).await.expect("answered").status, 200);
        idle.push(c);
    }
    health_answers(&s.base()).await;
    // One of them made room (the one idle the longest, to within a sweep: the unit
    // tests pin the order), the other stays.
    first_closed(&idle).await;
}

#[tokio::test]
async fn at_the_limit_with_every_connection_being_answered_a_new_one_gets_a_503_and_is_closed() {
    // Answers delayed far beyond the test: they are still in flight whenever the third
    // client comes, however slow the machine.
    let lag = lagging(60_000);
    let s = Server::start(limits(2), &[("lag.toml", &lag)]).await;
    let mut busy = Vec::new();
    for i in 0..2 {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(&insights(&format!("lag-{i}"))).await.unwrap();
        busy.push(c);
    }
    s.journaled(2).await;
    let mut refused = TcpStream::connect(s.addr).await.unwrap();
    let _ = refused.write_all(HEALTH).await;
    let a = read_answer(&mut refused).await.expect("answered");
    let seen = serde_json::json!({
        "status": a.status,
        "content-type": a.header("content-type"),
        "connection": a.header("connection"),
        "retry-after": a.header("retry-after"),
        "x-vendor-mock-scenario": a.header("x-vendor-mock-scenario"),
        "date": a.header("date"),
        "body": a.json(),
    });
    insta::assert_json_snapshot!(seen);
    assert!(closed_by_server(&mut refused).await);
    for c in &busy {
        assert!(still_open(c), "the requests being answered are kept");
    }
}

/// A request without a body is answered (journaled, its entity's state moved, its sandbox
/// made) as soon as its head is read, like a vendor's server that goes on with a request
/// whose client has gone: a client that sends one and closes at once, without reading the
/// answer, finds it in the journal. (Before, whether it was journaled depended on whether
/// the close arrived in the same read as the head.)
#[tokio::test]
async fn a_bodiless_request_whose_client_closes_at_once_is_still_journaled() {
    let s = Server::start(ConnectionLimits::default(), &[]).await;
    for path in [
        "/finx/rest/risk-reports/gone-1",
        "/~gone/finx/rest/risk-reports/gone-2",
    ] {
        let mut c = TcpStream::connect(s.addr).await.unwrap();
        c.write_all(format!("GET {path} HTTP/1.1\r\nhost: mock\r\n\r\n").as_bytes())
            .await
            .unwrap();
        c.shutdown().await.unwrap();
        drop(c);
    }
    s.journaled(1).await;
    s.routed(1).await;
    for (journal, path) in [
        ("/__admin/requests", "/finx/rest/risk-reports/gone-1"),
        ("/~gone/__admin/requests", "/finx/rest/risk-reports/gone-2"),
    ] {
        let entries = send(&s.base(), "GET", journal, &[], Bytes::new())
            .await
            .json();
        let paths: Vec<&str> = entries
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["path"].as_str().unwrap())
            .collect();
        assert_eq!(paths, [path], "{journal}");
    }
}

#[tokio::test]
async fn shutdown_closes_a_half_sent_head_or_body_at_once_and_returns() {
    let mut s = Server::start(ConnectionLimits::default(), &[]).await;
    let mut half = TcpStream::connect(s.addr).await.unwrap();
    half.write_all(b"GET /__admin/health HTTP/1.1\r\nhost: mo")
        .await
        .unwrap();
    let mut half_body = TcpStream::connect(s.addr).await.unwrap();
    half_body
        .write_all(&half_sent_body("/~b/credeau/api/insights"))
        .await
        .unwrap();
    s.routed(1).await;
    let mut silent = TcpStream::connect(s.addr).await.unwrap();
    let mut idle = TcpStream::connect(s.addr).await.unwrap();
    idle.write_all(HEALTH).await.unwrap();
    assert_eq!(read_answer(&mut idle).await.expect("answered").status, 200);
    s.signal_stop();
    // The old drain waited 8-10 s for a half-sent head or body; the requirement is 1 s.
    let took = s.stopped().await;
    assert!(took < PROMPT, "stopped after {took:?}");
    for c in [&mut half, &mut half_body, &mut silent, &mut idle] {
        assert!(closed_by_server(c).await);
    }
}

#[tokio::test]
async fn a_request_sent_on_a_keep_alive_connection_just_before_shutdown_is_answered_with_connection_close(
) {
    let mut s = Server::start(ConnectionLimits::default(), &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(HEALTH).await.unwrap();
    let first = read_answer(&mut c).await.expect("answered");
    assert_eq!(first.header("connection"), None, "kept alive");
    // Written and shutdown signalled without yielding: this test's runtime has one
    // thread, so the server cannot have read the request before shutdown began.
    let mut c = c.into_std().unwrap();
    c.write_all(&insights("u-1")).unwrap();
    s.signal_stop();
    let mut c = TcpStream::from_std(c).unwrap();
    let second = read_answer(&mut c).await.expect("answered");
    assert_eq!(second.status, 200);
    assert_eq!(second.json()["message"], "featurization completed");
    assert_eq!(second.header("connection"), Some("close"));
    assert!(closed_by_server(&mut c).await);
    s.stopped().await;
}

#[tokio::test]
async fn a_slow_request_in_flight_at_shutdown_gets_its_answer_with_connection_close() {
    // The shipped `slow-` scenario: its answer comes after 3 s, inside the drain time.
    let mut s = Server::start(ConnectionLimits::default(), &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&insights("slow-1")).await.unwrap();
    s.journaled(1).await;
    s.signal_stop();
    let a = read_answer(&mut c).await.expect("answered");
    assert_eq!(a.status, 200);
    assert_eq!(a.header("x-vendor-mock-scenario"), Some("slow"));
    assert_eq!(a.json()["message"], "featurization completed");
    assert_eq!(a.header("connection"), Some("close"));
    assert!(closed_by_server(&mut c).await);
    s.stopped().await;
}

#[tokio::test]
async fn shutdown_gives_up_on_a_request_after_the_drain_timeout() {
    let lag = lagging(60_000);
    let mut s = Server::start(
        ConnectionLimits {
            drain_timeout: Duration::from_millis(200),
            ..ConnectionLimits::default()
        },
        &[("lag.toml", &lag)],
    )
    .await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(&insights("lag-1")).await.unwrap();
    s.journaled(1).await;
    s.signal_stop();
    s.stopped().await;
    assert!(read_answer(&mut c).await.is_none(), "closed unanswered");
}

/// `vendor-mock serve` on port 0 with `RUST_LOG=info`: the process, its address (from
/// the "listening on" line it prints on stdout) and a thread collecting its stderr.
#[cfg(unix)]
async fn binary() -> (
    std::process::Child,
    SocketAddr,
    std::thread::JoinHandle<String>,
) {
    tokio::task::spawn_blocking(|| {
        use std::io::{BufRead, BufReader, Read};
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vendor-mock"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("vendor-mock starts");
        let mut stderr = child.stderr.take().expect("piped");
        let log = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped"))
            .read_line(&mut line)
            .expect("vendor-mock prints where it listens");
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("not a listening line: {line:?}"))
            .parse()
            .expect("an address");
        (child, addr, log)
    })
    .await
    .unwrap()
}

/// Send SIGTERM to `child` and wait for it: its exit code and how long it took.
#[cfg(unix)]
async fn terminate(child: std::process::Child) -> (Option<i32>, Duration) {
    use rustix::process::{kill_process, Pid, Signal};
    let started = Instant::now();
    kill_process(Pid::from_child(&child), Signal::TERM).expect("SIGTERM is sent");
    let mut child = child;
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .unwrap()
        .unwrap();
    (status.code(), started.elapsed())
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_exits_0_promptly_on_sigterm_with_a_half_sent_head_and_body_open() {
    let (child, addr, _log) = binary().await;
    health_answers(&format!("http://{addr}")).await;
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(b"POST /credeau/api/insights HTTP/1.1\r\nhost: mo")
        .await
        .unwrap();
    let mut half_body = TcpStream::connect(addr).await.unwrap();
    half_body
        .write_all(&half_sent_body("/~b/credeau/api/insights"))
        .await
        .unwrap();
    // Its head has been read once its sandbox exists (made as the request is routed,
    // just before its body is read): the server is then waiting for the rest.
    let deadline = Instant::now() + GENEROUS;
    loop {
        let r = send(
            &format!("http://{addr}"),
            "GET",
            "/__admin/sandboxes",
            &[],
            Bytes::new(),
        )
        .await;
        if r.json()["sandboxes"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
        {
            break;
        }
        assert!(Instant::now() < deadline, "the head never arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let (code, took) = terminate(child).await;
    assert_eq!(code, Some(0));
    // The requirement is 1 s (the old drain waited 8-10 s, Docker's whole grace period).
    assert!(took < PROMPT, "exited after {took:?}");
    assert!(closed_by_server(&mut half).await);
    assert!(closed_by_server(&mut half_body).await);
}

/// A harness that stops the server as soon as it has read where it listens gets the
/// clean exit, not death by the signal's default action (the handlers are installed
/// before the line is printed).
#[cfg(unix)]
#[tokio::test]
async fn the_binary_exits_0_on_sigterm_sent_as_soon_as_it_says_where_it_listens() {
    for _ in 0..5 {
        let (child, _addr, _log) = binary().await;
        let (code, _) = terminate(child).await;
        assert_eq!(code, Some(0));
    }
}

#[cfg(unix)]
#[tokio::test]
async fn the_binary_logs_the_400_for_a_broken_chunked_body() {
    let (child, addr, log) = binary().await;
    let mut c = TcpStream::connect(addr).await.unwrap();
    c.write_all(b"POST /credeau/api/insights HTTP/1.1\r\nhost: mock\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n")
        .await
        .unwrap();
    assert_eq!(read_answer(&mut c).await.expect("answered").status, 400);
    let (code, _) = terminate(child).await;
    assert_eq!(code, Some(0));
    let log = log.join().expect("stderr is read");
    assert!(
        log.lines()
            .any(|l| l
                .contains("POST /credeau/api/insights vendor=credeau scenario=default status=400")),
        "{log}"
    );
}

#[tokio::test]
async fn a_broken_chunked_body_gets_a_json_400_and_the_connection_is_closed() {
    let s = Server::start(ConnectionLimits::default(), &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"POST /credeau/api/insights HTTP/1.1\r\nhost: mock\r\ncontent-type: application/json\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n")
        .await
        .unwrap();
    let a = read_answer(&mut c).await.expect("answered");
    let seen = serde_json::json!({
        "status": a.status,
        "content-type": a.header("content-type"),
        "connection": a.header("connection"),
        "x-vendor-mock-scenario": a.header("x-vendor-mock-scenario"),
        "date": a.header("date"),
        "body": a.json(),
    });
    insta::assert_json_snapshot!(seen);
    assert!(closed_by_server(&mut c).await);
    assert_eq!(s.app.journal.len(), 0, "no vendor saw it");
}

#[tokio::test]
async fn a_request_head_over_the_cap_gets_431_and_one_under_it_is_served() {
    let s = Server::start(ConnectionLimits::default(), &[]).await;
    let head = |size: usize| {
        format!(
            "GET /__admin/health HTTP/1.1\r\nhost: mock\r\nx-padding: {}\r\n\r\n",
            "a".repeat(size)
        )
    };
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(head(30 * 1024).as_bytes()).await.unwrap();
    assert_eq!(read_answer(&mut c).await.expect("answered").status, 200);
    // hyper answers a head past the cap itself, with an empty body, and closes.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let _ = c.write_all(head(40 * 1024).as_bytes()).await;
    let a = read_answer(&mut c).await.expect("answered");
    assert_eq!(a.status, 431);
    assert!(a.body.is_empty());
    assert_eq!(
        a.header("date"),
        None,
        "no wall-clock date beside the mock clock's"
    );
    assert!(closed_by_server(&mut c).await);
}

#[tokio::test]
async fn the_head_cap_is_counted_before_the_head_is_complete_and_can_be_set() {
    let s = Server::start(
        ConnectionLimits {
            max_head_bytes: 8 * 1024,
            ..ConnectionLimits::default()
        },
        &[],
    )
    .await;
    // A head that never ends is refused once it passes the cap, not buffered on.
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    let _ = c
        .write_all(
            format!(
                "GET /__admin/health HTTP/1.1\r\nx-endless: {}",
                "a".repeat(12 * 1024)
            )
            .as_bytes(),
        )
        .await;
    let a = read_answer(&mut c).await.expect("answered");
    assert_eq!(a.status, 431);
}

#[tokio::test]
async fn a_request_line_that_is_not_http_gets_hypers_own_empty_400() {
    let s = Server::start(ConnectionLimits::default(), &[]).await;
    let mut c = TcpStream::connect(s.addr).await.unwrap();
    c.write_all(b"HELLO THERE\r\n\r\n").await.unwrap();
    let a = read_answer(&mut c).await.expect("answered");
    assert_eq!(a.status, 400);
    assert!(a.body.is_empty(), "hyper gives no way to add a body here");
    assert_eq!(
        a.header("date"),
        None,
        "no wall-clock date beside the mock clock's"
    );
    assert!(closed_by_server(&mut c).await);
}
