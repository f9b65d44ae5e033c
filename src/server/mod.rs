//! The HTTP side: accept loop, per-connection service, the request pipeline.
//!
//! Each connection is its own task, so a slow client only ever holds its own
//! connection. Shutdown is a future passed in: when it completes the listeners close,
//! open connections finish their in-flight request (up to [`DRAIN_TIMEOUT`]) and
//! [`serve`] returns.

mod pipeline;
mod request;
mod response;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

pub use request::{read_body, BodyError, MockRequest};
pub use response::{Body, MockResponse, OutBody};

use crate::app::App;

/// At most this many connections are served at once; further ones wait in the
/// kernel's accept queue. Far above what a test suite opens, low enough that a
/// runaway client cannot exhaust file descriptors.
pub const MAX_CONNECTIONS: usize = 4096;
/// Once more than half of [`MAX_CONNECTIONS`] are open, a new connection has this long
/// to send each request's headers; a silent one is closed.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long shutdown waits for in-flight requests.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// A bound listener; with `vendor`, it serves that vendor at its root.
pub struct Listener {
    pub listener: TcpListener,
    pub vendor: Option<&'static str>,
}

/// Serve until `shutdown` completes.
pub async fn serve(
    listeners: Vec<Listener>,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Shared with the accept tasks, which drop their handles when they stop.
    let graceful = Arc::new(GracefulShutdown::new());
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut accept_tasks = Vec::new();
    for Listener { listener, vendor } in listeners {
        let (app, permits, graceful, mut stop) = (
            app.clone(),
            permits.clone(),
            graceful.clone(),
            stop_rx.clone(),
        );
        accept_tasks.push(tokio::spawn(async move {
            loop {
                let permit = tokio::select! {
                    _ = stop.changed() => break,
                    p = permits.clone().acquire_owned() => p.expect("the semaphore is never closed"),
                };
                let (stream, peer) = tokio::select! {
                    _ = stop.changed() => break,
                    accepted = listener.accept() => match accepted {
                        Ok(a) => a,
                        Err(e) => {
                            // Typically EMFILE: back off instead of spinning.
                            tracing::warn!("accept failed: {e}");
                            tokio::time::sleep(Duration::from_millis(50)).await;
                            continue;
                        }
                    },
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| pipeline::handle(app.clone(), req, peer, vendor));
                let mut builder = http1::Builder::new();
                if permits.available_permits() < MAX_CONNECTIONS / 2 {
                    // Under connection pressure, new connections must send their headers in
                    // time, so slow clients can pin at most half the slots. Otherwise no
                    // timer: arming one per request costs a quarter of the throughput.
                    builder.timer(TokioTimer::new()).header_read_timeout(HEADER_READ_TIMEOUT);
                }
                let conn = builder.serve_connection(TokioIo::new(stream), service);
                let conn = graceful.watch(conn);
                tokio::spawn(async move {
                    // Errors here are the client's doing (reset, timeout, bad HTTP) or a
                    // `reset` fault; there is nobody to report them to.
                    let _ = conn.await;
                    drop(permit);
                });
            }
        }));
    }

    shutdown.await;
    let _ = stop_tx.send(true);
    for t in accept_tasks {
        let _ = t.await;
    }
    let graceful = Arc::try_unwrap(graceful)
        .unwrap_or_else(|_| unreachable!("every accept task has stopped and dropped its handle"));
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(DRAIN_TIMEOUT) => tracing::warn!("shutdown: connections still open after {DRAIN_TIMEOUT:?}, closing them"),
    }
    Ok(())
}
