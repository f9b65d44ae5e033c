//! The HTTP side: accept loop, per-connection service, the request pipeline.
//!
//! Each connection is its own task, so a slow client only ever holds its own
//! connection, and no client can keep another from being served:
//! - the accept loop never pauses: at [`ConnectionLimits::max_connections`] the
//!   connection idle the longest is closed to make room, else the one whose request
//!   body has been arriving the longest (see [`connection::Registry`]); only when every
//!   connection is being answered is the new one refused, with a 503;
//! - a connection with no request in flight is closed after
//!   [`ConnectionLimits::idle_timeout`], or [`ConnectionLimits::header_read_timeout`]
//!   once a request head has begun; a request body gets the header-read timeout too,
//!   plus a second per [`connection::MIN_BODY_RATE`] bytes received; nothing runs out
//!   while a request is being answered, and no timer is armed per request;
//! - a request head (request line and headers) is at most
//!   [`ConnectionLimits::max_head_bytes`]: hyper answers a larger one 431.
//!
//! Shutdown is a future passed in. When it completes the listeners close, every
//! connection that has no complete request (a half-sent head, or a body still arriving)
//! is closed at once, every request already read is answered with `Connection: close`,
//! and [`serve`] returns as soon as those answers are sent (after at most
//! [`ConnectionLimits::drain_timeout`] in all).
//!
//! What hyper answers itself, with an empty body and no way for us to add one: a
//! request line or header that is not HTTP/1.1 (400), a request head over the cap (a
//! long request target included) or with more than 100 headers (431). Those carry no
//! `Date` (hyper's would be the wall clock's; ours come from the mock clock). A body
//! whose chunked framing is broken reaches the pipeline and gets a short JSON 400
//! ([`MockResponse::protocol_error`]).

mod connection;
mod fd_limit;
mod io;
mod origin;
mod pipeline;
mod request;
mod response;
mod tracked;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub use origin::{origin, plausible_host, Origin};
pub use request::{bearer_token, read_body, BodyError, MockRequest};
pub use response::{Body, ContentType, MockResponse, OutBody, APPLICATION_JSON};

use crate::app::App;
use connection::Registry;
use tracked::Tracked;

/// Default [`ConnectionLimits::max_connections`]: far above what a test suite opens,
/// low enough that a runaway client cannot exhaust file descriptors.
pub const MAX_CONNECTIONS: usize = 4096;
/// Default [`ConnectionLimits::header_read_timeout`]: a request head is a few hundred
/// bytes that every real client sends in one write, and a vendor request's body a few
/// kilobytes sent right after it.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Default [`ConnectionLimits::idle_timeout`]: the idle timeout of AWS's load balancers,
/// in front of many of the vendors; client pools notice the close and reconnect.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Default [`ConnectionLimits::max_head_bytes`]: what nginx accepts by default
/// (4 buffers of 8 KiB), far above any vendor request.
pub const MAX_HEAD_BYTES: usize = 32 * 1024;
/// Default [`ConnectionLimits::drain_timeout`]: under Docker's 10 s stop grace period,
/// so `docker stop` sees exit 0 rather than killing the server. A `slow-` answer
/// (3 s) fits in it.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(8);

/// Connections the kernel queues for `accept`, capped by `net.core.somaxconn` (4096 on
/// current Linux). tokio listens with 1024, which a flood of connections can fill for a
/// moment; a client whose SYN then finds the queue full waits a 1 s retransmission.
pub const ACCEPT_BACKLOG: i32 = 4096;

/// How connections are bounded. [`serve`] uses the defaults; tests use smaller ones.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections open at once. At the limit the one idle the longest is closed to
    /// make room (else the one whose request body has been arriving the longest);
    /// lowered at start if the open-file limit cannot hold that many.
    pub max_connections: usize,
    /// A request head must be complete within this long of its first byte, and its body
    /// within this long of the head (plus a second per
    /// [`connection::MIN_BODY_RATE`] bytes received).
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this long without the
    /// first byte of a next one.
    pub idle_timeout: Duration,
    /// Request line plus headers, in bytes.
    pub max_head_bytes: usize,
    /// How long shutdown may take in all: requests being answered get all of it but the
    /// last eighth (at most a second), kept to close whatever is still open.
    pub drain_timeout: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            max_connections: MAX_CONNECTIONS,
            header_read_timeout: HEADER_READ_TIMEOUT,
            idle_timeout: IDLE_TIMEOUT,
            max_head_bytes: MAX_HEAD_BYTES,
            drain_timeout: DRAIN_TIMEOUT,
        }
    }
}

/// A bound listener; with `vendor`, it serves that vendor at its root.
pub struct Listener {
    pub listener: TcpListener,
    pub vendor: Option<&'static str>,
}

/// Serve until `shutdown` completes, with the default [`ConnectionLimits`].
pub async fn serve(
    listeners: Vec<Listener>,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    serve_with(listeners, app, ConnectionLimits::default(), shutdown).await
}

/// Serve until `shutdown` completes.
pub async fn serve_with(
    listeners: Vec<Listener>,
    app: App,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_connections = fd_limit::connections_allowed(limits.max_connections);
    let registry = Arc::new(Registry::new(
        max_connections,
        limits.header_read_timeout,
        limits.idle_timeout,
    ));
    connection::spawn_sweeper(&registry);
    let mut builder = http1::Builder::new();
    builder.max_header_size(limits.max_head_bytes);
    // Our answers carry the mock clock's `Date` (pipeline); hyper would add the wall
    // clock's to the ones it makes itself (400, 431), which a frozen clock contradicts.
    builder.auto_date_header(false);
    // Half-close stays off (hyper's default): a client's end of stream while its answer
    // is pending closes the connection. That is how a client that gives up on a delayed
    // answer is let go at once; with half-close on (which saves hyper a read per request
    // with a body) its connection would be held, unevictable, until the delay ends.
    let refusals = Arc::new(AtomicUsize::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_tasks = Vec::new();
    for Listener { listener, vendor } in listeners {
        if let (Some(v), Ok(addr)) = (vendor, listener.local_addr()) {
            app.note_vendor_port(v, addr.port());
        }
        // Listening again only changes the queue's length.
        if let Err(e) = socket2::SockRef::from(&listener).listen(ACCEPT_BACKLOG) {
            tracing::warn!("cannot lengthen the accept queue: {e}");
        }
        let (app, registry, builder, stop, refusals) = (
            app.clone(),
            registry.clone(),
            builder.clone(),
            stop_rx.clone(),
            refusals.clone(),
        );
        accept_tasks.push(tokio::spawn(accept_loop(
            listener, vendor, app, registry, builder, stop, refusals,
        )));
    }

    shutdown.await;
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    registry.begin_shutdown();
    let close_time = (limits.drain_timeout / 8).min(Duration::from_secs(1));
    let answer_time = limits.drain_timeout - close_time;
    if tokio::time::timeout(answer_time, registry.emptied())
        .await
        .is_err()
    {
        tracing::warn!(
            "shutdown: {} connections still busy after {answer_time:?}, closing them",
            registry.open(),
        );
        registry.stop_all();
        // Each closes as soon as its task runs; this bounds a runtime too busy to run them.
        let _ = tokio::time::timeout(close_time, registry.emptied()).await;
    }
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    vendor: Option<&'static str>,
    app: App,
    registry: Arc<Registry>,
    builder: http1::Builder,
    mut stop: watch::Receiver<bool>,
    refusals: Arc<AtomicUsize>,
) {
    // When a failure or refusal was last logged: under a flood, one line per second.
    let mut logged: Option<Instant> = None;
    let mut log_now = move || {
        let due = logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(1));
        if due {
            logged = Some(Instant::now());
        }
        due
    };
    loop {
        let (stream, peer) = tokio::select! {
            _ = stop.changed() => break,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    if log_now() {
                        tracing::warn!("accept failed: {e}");
                    }
                    if fd_limit::out_of_descriptors(&e) {
                        // Free one by closing a connection, and give its task a moment.
                        registry.evict();
                    } else if is_connection_error(&e) {
                        continue; // that client's trouble, not ours
                    }
                    // Anything else (out of memory, buffers) is not fixed by retrying at once.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let Some(reg) = registry.admit() else {
            if log_now() {
                tracing::warn!(
                    "refused a connection: every open connection has a request being answered"
                );
            }
            refuse(stream, &app, registry.max_connections(), &refusals);
            continue;
        };
        tokio::spawn(serve_connection(
            stream,
            peer,
            vendor,
            app.clone(),
            &builder,
            reg,
        ));
    }
}

fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    vendor: Option<&'static str>,
    app: App,
    builder: &http1::Builder,
    reg: connection::Registration,
) -> impl Future<Output = ()> + Send + 'static {
    let _ = stream.set_nodelay(true);
    let conn = reg.conn.clone();
    // The connection's own handle (see `pipeline::call`).
    let app = Arc::new(app);
    let service = service_fn(move |req| {
        conn.request_started();
        // The pipeline's own future, not wrapped: it counts its answer itself (see
        // `pipeline::counted`), so the answer is not moved once more per request.
        pipeline::call(&app, req, peer, vendor, &conn)
    });
    let io = TokioIo::new(io::Io::new(stream, reg.conn.clone()));
    connection::drive(builder.serve_connection(io, service), reg)
}

/// Serve one connection over any byte stream, with the default request-head cap and none
/// of the accept loop's bookkeeping (timeouts, eviction, shutdown): for driving the whole
/// pipeline in-process, as the property tests and fuzz targets do over an in-memory pipe
/// (`tokio::io::duplex`), thousands of requests a second and no sockets. `peer` is the
/// address the vendors see (rate limits and `allowed_ips` use it); with `vendor`, the
/// stream serves that vendor at its root, as a `--vendor-listen` port does.
pub async fn serve_stream<S>(
    stream: S,
    peer: SocketAddr,
    vendor: Option<&'static str>,
    app: App,
) -> hyper::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    // Nobody watches this connection's bookkeeping; the pipeline still marks it.
    let conn = Arc::new(Tracked::default());
    let app = Arc::new(app);
    let service = service_fn(move |req| pipeline::call(&app, req, peer, vendor, &conn));
    http1::Builder::new()
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service)
        .await
}

/// Whether an `accept` error is about the one connection being accepted (it went away
/// before we took it), not about the server.
fn is_connection_error(e: &std::io::Error) -> bool {
    use std::io::ErrorKind::{ConnectionAborted, ConnectionRefused, ConnectionReset};
    matches!(
        e.kind(),
        ConnectionAborted | ConnectionRefused | ConnectionReset
    )
}

/// Refused connections answered at once: beyond these, one is closed without an answer.
/// Each holds a descriptor for up to [`REFUSAL_LINGER`], out of [`fd_limit::RESERVED_FDS`].
const REFUSALS_AT_ONCE: usize = 64;
/// How long a refused connection is kept to send its 503 and read what the client sent.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

/// Answer a connection refused for want of room (every open one is being answered):
/// `503 {"error": ...}` with `Connection: close`, sent before anything is read. Then
/// what the client sends is read until it closes (at most [`REFUSAL_LINGER`]): closing
/// with its request unread would reset the connection, and a reset can discard the 503
/// before the client reads it.
fn refuse(stream: TcpStream, app: &App, max_connections: usize, refusals: &Arc<AtomicUsize>) {
    if refusals.fetch_add(1, Ordering::Relaxed) >= REFUSALS_AT_ONCE {
        refusals.fetch_sub(1, Ordering::Relaxed);
        return; // dropped: closed without an answer
    }
    let answer = refusal(max_connections, app.clock.now());
    let refusals = refusals.clone();
    tokio::spawn(async move {
        let mut stream = stream;
        let _ = tokio::time::timeout(REFUSAL_LINGER, async {
            stream.write_all(&answer).await?;
            stream.shutdown().await?;
            let mut buf = [0u8; 1024];
            while stream.read(&mut buf).await? > 0 {}
            Ok::<_, std::io::Error>(())
        })
        .await;
        refusals.fetch_sub(1, Ordering::Relaxed);
    });
}

/// The 503 of [`refuse`], with the mock clock's `Date`.
fn refusal(max_connections: usize, now: chrono::DateTime<chrono::Utc>) -> Vec<u8> {
    let body = serde_json::json!({
        "error": format!("vendor-mock is at its limit of {max_connections} connections and every one has a request being answered; try again")
    })
    .to_string();
    let date = pipeline::http_date(now);
    let mut out = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nconnection: close\r\nretry-after: 1\r\n{}: default\r\ncontent-length: {}\r\ndate: ",
        pipeline::SCENARIO_HEADER,
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(date.as_bytes());
    out.extend_from_slice(b"\r\n\r\n");
    out.extend_from_slice(body.as_bytes());
    out
}
